use super::*;

fn known(version: u64, digest: &str) -> KnownPackage {
    KnownPackage {
        version,
        described: Described::File {
            name: "hostnet-a".into(),
            file_name: format!("hostnet-a-{version}-1.noarch.rpm"),
            digest: Some(digest.into()),
        },
        local: Local::Absent,
        repository: None,
        vouched: false,
        added: 0,
    }
}

fn file_name(version: u64) -> String {
    format!("hostnet-a-{version}-1.noarch.rpm")
}

#[test]
fn plans_keep_reuse_and_retire() {
    let mut packages = KnownPackages::default();
    for (version, digest) in [(1, "a"), (2, "b"), (4, "d"), (3, "c")] {
        packages.add(known(version, digest));
    }
    packages.settle();
    let unchanged = packages.plan("hostnet-a", "d", 3, file_name).unwrap();
    assert_eq!(unchanged.current, Current::Keep(&known(4, "d")));
    assert_eq!(unchanged.retained, [&known(3, "c"), &known(2, "b")]);
    assert_eq!(unchanged.retired, [&known(1, "a")]);

    let changed = packages.plan("hostnet-a", "e", 2, file_name).unwrap();
    assert_eq!(changed.current, Current::Build(5));
    assert_eq!(changed.retained, [&known(4, "d")]);
    assert_eq!(changed.retired.len(), 3);

    // Back to an old configuration: still a new version, never an old number.
    let reverted = packages.plan("hostnet-a", "a", 1, file_name).unwrap();
    assert_eq!(reverted.current, Current::Build(5));
    assert!(reverted.retained.is_empty());

    let new = packages
        .plan("hostnet-b", "x", 3, |v| {
            format!("hostnet-b-{v}-1.noarch.rpm")
        })
        .unwrap();
    assert_eq!(new.current, Current::Build(1));
}

#[test]
fn a_file_name_taken_by_a_listed_package_names_where_it_was_found() {
    // A package whose file is named as version 2 while its header says version 1: building
    // version 2 would collide with it.
    let mut packages = KnownPackages::default();
    packages.add(KnownPackage {
        described: Described::File {
            name: "hostnet-a".into(),
            file_name: file_name(2),
            digest: Some("old".into()),
        },
        local: Local::At(PathBuf::from("/srv/repo/Packages").join(file_name(2))),
        ..known(1, "old")
    });
    packages.settle();
    let Err(VersionError::Collision { new, existing }) =
        packages.plan("hostnet-a", "new", 3, file_name)
    else {
        panic!("a collision");
    };
    assert_eq!(new, file_name(2));
    assert_eq!(existing, format!("/srv/repo/Packages/{}", file_name(2)));
}

#[test]
fn the_first_source_read_wins_a_version_and_a_later_one_may_add_its_local_copy() {
    let local = |version| Local::At(PathBuf::from("/out/repo/Packages").join(file_name(version)));
    let mut packages = KnownPackages::default();
    // Published (read first, no file at hand), then the build's own output.
    packages.add(known(2, "two"));
    packages.add(known(1, "one"));
    packages.add(KnownPackage {
        local: local(2),
        ..known(2, "two")
    });
    packages.add(KnownPackage {
        local: local(1),
        ..known(1, "one, built otherwise")
    });
    packages.add(known(3, "three"));
    packages.settle();
    let versions = packages.versions_of("hostnet-a");
    assert_eq!(
        versions,
        [
            known(3, "three"),
            KnownPackage {
                local: local(2),
                ..known(2, "two")
            },
            known(1, "one"),
        ]
    );
    assert!(packages.versions_of("hostnet-b").is_empty());
    assert!(packages.odd_file_names.is_empty());
}

#[test]
fn a_taken_file_name_is_refused() {
    let mut packages = KnownPackages::default();
    packages
        .odd_file_names
        .insert("hostnet-a-1-1.noarch.rpm".into(), Some("elsewhere".into()));
    assert!(matches!(
        packages.plan("hostnet-a", "x", 3, file_name),
        Err(VersionError::Collision { .. })
    ));
}
