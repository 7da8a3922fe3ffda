//! The command line: help for every subcommand, and the man page and completions generated from the
//! same definition.

mod common;

use common::{hostnet, repo_root, stdout};

#[test]
fn every_subcommand_has_help() {
    let root = repo_root();
    let top = stdout(&hostnet(&root, &["--help"]));
    for subcommand in [
        "check",
        "show",
        "render",
        "build",
        "keygen",
        "completions",
        "man",
    ] {
        assert!(
            top.contains(&format!("  {subcommand}")),
            "{subcommand} missing from --help:\n{top}"
        );
        let help = hostnet(&root, &[subcommand, "--help"]);
        assert!(help.status.success());
        assert!(stdout(&help).contains("Usage: hostnet"), "{subcommand}");
    }
    assert!(top.contains("Exit status: 0 on success, 1 when the definitions are invalid"));
}

#[test]
fn man_page_and_completions_come_from_the_cli_definition() {
    let root = repo_root();
    let man = stdout(&hostnet(&root, &["man"]));
    assert!(
        man.starts_with(".ie") || man.contains(".TH hostnet"),
        "{}",
        &man[..man.len().min(200)]
    );
    for subcommand in ["check", "render", "build", "keygen"] {
        assert!(
            man.contains(subcommand),
            "{subcommand} missing from the man page"
        );
    }
    // Every page hostnet.1 refers to is written beside it.
    let pages = tempfile::tempdir().unwrap();
    let dir = pages.path().join("man1");
    let output = hostnet(&root, &["man", "--out-dir", dir.to_str().unwrap()]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let top = std::fs::read_to_string(dir.join("hostnet.1")).unwrap();
    let mut referred = 0;
    for reference in top.split("hostnet\\-").skip(1) {
        let name: String = reference
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        assert!(
            dir.join(format!("hostnet-{name}.1")).is_file(),
            "hostnet.1 refers to hostnet-{name}(1), which was not written"
        );
        referred += 1;
    }
    assert!(referred >= 8, "{top}");
    for shell in ["bash", "zsh", "fish"] {
        let completion = hostnet(&root, &["completions", shell]);
        assert!(completion.status.success());
        let text = stdout(&completion);
        assert!(
            text.contains("keygen") && text.contains("passphrase-file"),
            "{shell}"
        );
    }
    let bash = stdout(&hostnet(&root, &["completions", "bash"]));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hostnet.bash");
    std::fs::write(&file, bash).unwrap();
    assert!(
        std::process::Command::new("bash")
            .arg("-n")
            .arg(&file)
            .status()
            .unwrap()
            .success()
    );
}

#[test]
fn a_missing_argument_says_every_way_to_give_it() {
    let fleet = common::Fleet::example();
    let build = fleet.run(&["build", "--out", "dist"]);
    assert_eq!(build.status.code(), Some(64));
    let message = common::stderr(&build);
    for way in [
        "--key FILE",
        "HOSTNET_SIGNING_KEY",
        "hostnet keygen",
        "--unsigned",
    ] {
        assert!(message.contains(way), "{way:?} in {message}");
    }
    assert!(!fleet.dir.path().join("dist").exists());

    let render = fleet.run(&["render", "--out", "r"]);
    assert_eq!(render.status.code(), Some(64));
    assert!(
        common::stderr(&render).contains("--all"),
        "{}",
        common::stderr(&render)
    );
}

#[test]
fn a_public_key_given_as_the_signing_key_is_named_as_such() {
    let fleet = common::Fleet::example();
    let (_, public) = common::hostnet_key(fleet.dir.path(), "k");
    // Public keys are world-readable, rightly: that is not what is wrong with it.
    common::run_ok("chmod", &["0644", public.to_str().unwrap()]);
    let output = fleet.run(&["build", "--key", public.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let message = common::stderr(&output);
    assert!(message.contains("this is a public key"), "{message}");
    assert!(!message.contains("readable by every user"), "{message}");
}

#[test]
fn man_and_completions_stop_quietly_when_the_reader_does() {
    for command in ["man", "completions bash"] {
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "'{}' {command} | head -c 10 >/dev/null",
                env!("CARGO_BIN_EXE_hostnet")
            ))
            .output()
            .unwrap();
        assert!(output.status.success(), "{command}");
        assert_eq!(common::stderr(&output), "", "{command}");
    }
}

#[test]
fn show_shows_a_sound_host_while_another_has_errors() {
    let fleet = common::Fleet::example();
    // A new host that takes dockerhost-02's address: both are named by the error.
    fleet.write(
        "broken.toml",
        "[management]\naddress = \"10.20.51.22\"\n[containers]\nslice = \"172.20.56.96/28\"\n",
    );
    let sound = fleet.run(&["show", "dockerhost-01"]);
    assert!(sound.status.success(), "{}", common::stderr(&sound));
    assert!(stdout(&sound).contains("address = \"10.20.51.21\""));
    assert!(
        common::stderr(&sound).contains("1 error(s) in other definitions"),
        "{}",
        common::stderr(&sound)
    );
    for host in ["broken", "dockerhost-02"] {
        let output = fleet.run(&["show", host]);
        assert_eq!(output.status.code(), Some(1), "{host}");
        assert!(
            common::stderr(&output).contains(&format!("host {host} has errors")),
            "{}",
            common::stderr(&output)
        );
    }
}

/// A host whose file does not parse is not among the definitions; `show` says why, with the parse
/// error, rather than only that no such host exists.
#[test]
fn show_of_a_host_whose_file_does_not_parse_shows_why() {
    let fleet = common::Fleet::example();
    fleet.write("broken.toml", "[management]\naddress = \n");
    let output = fleet.run(&["show", "broken"]);
    let err = common::stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains("hosts/broken.toml:2:"), "{err}");
    assert!(
        err.contains("no host named \"broken\"; defined hosts: dockerhost-01, dockerhost-02, dockerhost-03, dockerhost-04, dockerhost-05; a host whose file, group file or site.toml does not parse (above) is not listed"),
        "{err}"
    );

    fleet.write("site.toml", "this is = = broken\n");
    let output = fleet.run(&["show", "dockerhost-01"]);
    let err = common::stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains("hosts/site.toml:1:"), "{err}");
    assert!(
        err.contains("no host named \"dockerhost-01\"; no host is defined; a host whose file"),
        "{err}"
    );
}

#[test]
fn hosts_goes_before_or_after_the_subcommand_and_only_where_it_means_something() {
    let fleet = common::Fleet::example();
    let tree = fleet.hosts();
    let elsewhere = tempfile::tempdir().unwrap();
    for args in [
        vec!["--hosts", tree.to_str().unwrap(), "check"],
        vec!["check", "--hosts", tree.to_str().unwrap()],
    ] {
        let output = hostnet(elsewhere.path(), &args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            common::stderr(&output)
        );
        assert!(stdout(&output).contains("5 hosts checked, no errors"));
    }
    for subcommand in ["keygen", "publish", "completions", "man"] {
        let help = stdout(&hostnet(elsewhere.path(), &[subcommand, "--help"]));
        assert!(!help.contains("--hosts"), "{subcommand}:\n{help}");
    }
}

#[test]
fn timings_are_reported_only_when_asked_for() {
    let fleet = common::Fleet::example();
    let build = |timings: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_hostnet"));
        command
            .args(["build", "--unsigned", "--out", "dist"])
            .current_dir(fleet.dir.path())
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .env_remove("HOSTNET_HOSTS")
            .env_remove("HOSTNET_TIMINGS");
        if timings {
            command.env("HOSTNET_TIMINGS", "1");
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{}", common::stderr(&output));
        common::stderr(&output)
    };
    assert!(!build(false).contains("timing"));
    let timed = build(true);
    let phases: Vec<(f64, &str)> = timed
        .lines()
        .filter_map(|line| line.strip_prefix("hostnet: timing: "))
        .map(|line| {
            let (seconds, phase) = line.split_once(" s ").expect("`<seconds> s <phase>`");
            (seconds.parse().expect("seconds"), phase)
        })
        .collect();
    let names: Vec<&str> = phases.iter().map(|(_, phase)| *phase).collect();
    assert_eq!(
        names,
        [
            "definition files read",
            "definitions parsed and checked",
            "live generation read",
            "packages built before and render memo read",
            "hosts rendered and packaged",
            "package entries gathered",
            "repository metadata made",
            "output committed and repository index saved",
            "render memo saved",
            "summary written",
        ],
        "{timed}"
    );
    assert!(
        phases.windows(2).all(|pair| pair[0].0 <= pair[1].0),
        "{timed}"
    );
}

/// Every environment variable hostnet reads (a `"HOSTNET_..."` literal in its source) has a row in
/// the reference's environment table, and every row names one it reads: the table cannot drift.
#[test]
fn the_reference_lists_every_environment_variable() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut read = std::collections::BTreeSet::new();
    for entry in walkdir::WalkDir::new(root.join("src")) {
        let entry = entry.unwrap();
        if entry.path().extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap();
        for (at, _) in text.match_indices("\"HOSTNET_") {
            let name: String = text[at + 1..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect();
            read.insert(name);
        }
    }
    // The host package's %pre reads this one (a template, not Rust).
    read.insert("HOSTNET_IGNORE_IDENTITY".into());
    read.insert("HOSTNET_IGNORE_DOCKER_CONFIG".into());
    let reference = std::fs::read_to_string(root.join("docs/reference.md")).unwrap();
    let table = &reference[reference.find("### Environment").expect("the table")..];
    let documented: std::collections::BTreeSet<String> = table
        .lines()
        .skip(3)
        .take_while(|line| line.starts_with('|'))
        .flat_map(|line| {
            let first = line.trim_matches('|').split(" | ").next().unwrap_or("");
            first
                .split(", ")
                .map(|name| name.trim().trim_matches('`').to_string())
                .collect::<Vec<_>>()
        })
        .filter(|name| name.starts_with("HOSTNET_"))
        .collect();
    assert_eq!(read, documented);
    let pre = std::fs::read_to_string(root.join("specs/pre.sh.j2")).unwrap();
    assert!(pre.contains("HOSTNET_IGNORE_IDENTITY"));
    assert!(pre.contains("HOSTNET_IGNORE_DOCKER_CONFIG"));
}

/// bash completion, run by bash itself as `complete -F` runs it: host names after `show`,
/// `render` and `spec`, from `--hosts` on the line, else $HOSTNET_HOSTS, else `hosts`; never
/// after an option that takes a path; a file name that is not a host name is never offered (so
/// never expanded).
#[test]
fn bash_completes_host_names() {
    let fleet = common::Fleet::example();
    fleet.write("rack-b/$(touch pwned).toml", "");
    fleet.write(".hidden/ghost.toml", "");
    let script = stdout(&hostnet(fleet.dir.path(), &["completions", "bash"]));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hostnet.bash");
    std::fs::write(&file, script).unwrap();
    let complete = |words: &[&str], env_hosts: Option<&str>| -> Vec<String> {
        let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        let program = format!(
            "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\nCOMP_LINE='{}'\nCOMP_POINT=${{#COMP_LINE}}\n_hostnet_with_host_names hostnet '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
            file.display(),
            quoted.join(" "),
            words.len() - 1,
            words.join(" "),
            words[words.len() - 1],
            words[words.len() - 2],
        );
        let mut command = std::process::Command::new("bash");
        command
            .arg("-c")
            .arg(program)
            .current_dir(fleet.dir.path())
            .env_remove("HOSTNET_HOSTS");
        if let Some(hosts) = env_hosts {
            command.env("HOSTNET_HOSTS", hosts);
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{}", common::stderr(&output));
        let mut names: Vec<String> = stdout(&output)
            .lines()
            // clap's own completion offers the options alongside.
            .filter(|l| !l.is_empty() && !l.starts_with('-'))
            .map(String::from)
            .collect();
        names.sort();
        names.dedup();
        names
    };
    let hosts = [
        "dockerhost-01",
        "dockerhost-02",
        "dockerhost-03",
        "dockerhost-04",
        "dockerhost-05",
    ];
    assert_eq!(complete(&["hostnet", "show", ""], None), hosts);
    assert_eq!(
        complete(&["hostnet", "render", "dockerhost-0"], None),
        hosts
    );
    assert_eq!(
        complete(&["hostnet", "spec", "dockerhost-02"], None),
        ["dockerhost-02"]
    );
    // Another tree, by --hosts (before the subcommand) or the environment.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("site.toml"), "").unwrap();
    std::fs::write(other.path().join("web7.toml"), "").unwrap();
    let other_path = other.path().to_str().unwrap();
    assert_eq!(
        complete(&["hostnet", "--hosts", other_path, "show", ""], None),
        ["web7"]
    );
    assert_eq!(
        complete(&["hostnet", "show", ""], Some(other_path)),
        ["web7"]
    );
    // Not after an option that takes a path, not for other subcommands.
    assert!(
        !complete(&["hostnet", "render", "--out", ""], None).contains(&"dockerhost-01".to_string())
    );
    assert!(!complete(&["hostnet", "build", ""], None).contains(&"dockerhost-01".to_string()));
    assert!(!fleet.dir.path().join("pwned").exists());
}

/// No source file over 600 lines: a module that grows past that is split by what it does, so that
/// a maintainer can hold each in their head.
#[test]
fn no_source_file_is_over_600_lines() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let long: Vec<String> = walkdir::WalkDir::new(&root)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.path().extension().is_some_and(|x| x == "rs"))
        .filter_map(|e| {
            let lines = std::fs::read_to_string(e.path()).unwrap().lines().count();
            (lines > 600).then(|| format!("{} ({lines} lines)", e.path().display()))
        })
        .collect();
    assert!(long.is_empty(), "split these by what they do: {long:?}");
}
