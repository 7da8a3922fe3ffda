use super::*;

fn digest(text: &str) -> Sha256 {
    Sha256::of(text.as_bytes())
}

fn live_manifest(out: &Path) -> String {
    fs::read_to_string(out.join(STATE_DIR).join(CURRENT).join(MANIFEST)).unwrap()
}

#[test]
fn of_a_path_kept_and_written_the_last_record_counts() {
    let out = tempfile::tempdir().unwrap();
    let write = |generation: &Generation, path: &str, text: &str| {
        generation
            .write(Path::new(path), text.as_bytes(), 0o644)
            .unwrap();
    };
    let keep = |generation: &Generation, path: &str, text: &str| {
        generation.keep_live(Path::new(path), &digest(text));
    };
    let first = Generation::new(out.path(), &["repo"], "unsigned").unwrap();
    for (path, text) in [("repo/a", "a1"), ("repo/b", "b1"), ("repo/c", "c1")] {
        write(&first, path, text);
    }
    assert_eq!(first.commit().unwrap(), Committed::Switched);

    let second = Generation::new(out.path(), &["repo"], "unsigned").unwrap();
    write(&second, "repo/d", "d1");
    keep(&second, "repo/a", "a1");
    write(&second, "repo/a", "a2");
    write(&second, "repo/b", "b2");
    keep(&second, "repo/b", "b1");
    // The live content, written again: kept as it is.
    write(&second, "repo/c", "c1");
    assert_eq!(second.commit().unwrap(), Committed::Switched);
    let expected: Vec<String> = [("a", "a2"), ("b", "b1"), ("c", "c1"), ("d", "d1")]
        .iter()
        .map(|(name, text)| {
            let path = out.path().join("repo").join(name);
            assert_eq!(fs::read_to_string(path).unwrap(), *text, "repo/{name}");
            format!("{}  repo/{name}", digest(text))
        })
        .collect();
    let manifest = live_manifest(out.path());
    let lines: Vec<&str> = manifest.lines().collect();
    assert!(lines[0].ends_with("  repo/.hostnet-output"), "{manifest}");
    assert_eq!(lines[1..], expected, "{manifest}");

    // The same files again, kept or written alike: nothing changes.
    let third = Generation::new(out.path(), &["repo"], "unsigned").unwrap();
    write(&third, "repo/b", "b1");
    keep(&third, "repo/a", "a2");
    keep(&third, "repo/d", "d1");
    write(&third, "repo/c", "c1");
    assert_eq!(third.commit().unwrap(), Committed::Unchanged);

    // One file fewer is a change.
    let fourth = Generation::new(out.path(), &["repo"], "unsigned").unwrap();
    keep(&fourth, "repo/a", "a2");
    keep(&fourth, "repo/b", "b1");
    keep(&fourth, "repo/c", "c1");
    assert_eq!(fourth.commit().unwrap(), Committed::Switched);
    assert!(!out.path().join("repo/d").exists());
    assert_eq!(live_manifest(out.path()).lines().count(), 4);
}

#[test]
fn a_file_written_twice_is_its_last_content_in_the_files_and_the_manifest() {
    let out = tempfile::tempdir().unwrap();
    let generation = Generation::new(out.path(), &["repo"], "unsigned").unwrap();
    for (path, text) in [("repo/b", "b"), ("repo/a", "first"), ("repo/a", "last")] {
        generation
            .write(Path::new(path), text.as_bytes(), 0o644)
            .unwrap();
    }
    assert_eq!(generation.commit().unwrap(), Committed::Switched);
    assert_eq!(
        fs::read_to_string(out.path().join("repo/a")).unwrap(),
        "last"
    );
    let manifest = live_manifest(out.path());
    let lines: Vec<&str> = manifest.lines().collect();
    assert_eq!(lines.len(), 3, "{manifest}");
    assert!(lines[0].ends_with("  repo/.hostnet-output"), "{manifest}");
    assert_eq!(lines[1], format!("{}  repo/a", digest("last")));
    assert_eq!(lines[2], format!("{}  repo/b", digest("b")));
    // Read back as the next build's live files; a manifest naming a path outside, or not a
    // sha256, is not one hostnet wrote.
    let manifest_path = out.path().join(STATE_DIR).join(CURRENT).join(MANIFEST);
    let live = read_manifest(&manifest_path).unwrap();
    assert_eq!(live.get("repo/a"), Some(&digest("last")));
    let foreign = out.path().join("foreign");
    fs::write(&foreign, format!("{}  ../etc/passwd\n", digest("x"))).unwrap();
    assert_eq!(read_manifest(&foreign), None);
    fs::write(&foreign, "0123  repo/a\n").unwrap();
    assert_eq!(read_manifest(&foreign), None);
}
