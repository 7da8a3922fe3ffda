//! `hostnet plan`: golden reports for new, changed, unchanged and retired hosts, the JSON form,
//! and the exit codes a pipeline gates on (0 nothing changes, 2 changes, 1 errors).

mod common;

use common::{Fleet, build, repo_root, stderr, stdout};

const EPOCH: &str = "1700000000";

fn golden(name: &str, text: &str) {
    let path = repo_root().join("tests/golden/plan").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
    }
    assert_eq!(
        text,
        std::fs::read_to_string(&path).unwrap_or_default(),
        "{name}: UPDATE_GOLDEN=1 regenerates after a deliberate change"
    );
}

#[test]
fn plan_reports_each_host_and_gates_with_its_exit_status() {
    let fleet = Fleet::example();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out_arg = out.to_str().unwrap();

    // Nothing published yet: every host is new.
    let first = fleet.run(&["plan", "--out", out_arg]);
    assert_eq!(first.status.code(), Some(2), "{}", stderr(&first));
    assert!(
        stdout(&first).ends_with("plan: 6 new, 0 changed, 0 unchanged, 0 retired\n"),
        "five hosts and hostnet-tools: {}",
        stdout(&first)
    );

    let output = build(&fleet, None, &out, EPOCH);
    assert!(output.status.success(), "{}", stderr(&output));
    let same = fleet.run(&["plan", "--out", out_arg]);
    assert_eq!(same.status.code(), Some(0), "{}", stdout(&same));
    golden("unchanged.txt", &stdout(&same));

    // A changed bond mode, dockerd flag and sysctl value; a new host; a removed host.
    let site = std::fs::read_to_string(fleet.hosts().join("site.toml")).unwrap();
    fleet.write(
        "site.toml",
        &site.replace("mode = \"balance-rr\"", "mode = \"active-backup\""),
    );
    fleet.append(
        "dockerhost-01.toml",
        "\n[sysctl]\n\"net.core.somaxconn\" = 4096\n[docker]\nextra-flags = [\"--live-restore\"]\n",
    );
    fleet.write(
        "dockerhost-09.toml",
        "[management]\naddress = \"10.20.51.29\"\n[containers]\nslice = \"172.20.56.112/28\"\n",
    );
    std::fs::remove_file(fleet.hosts().join("rack-a/dockerhost-03.toml")).unwrap();
    let changed = fleet.run(&["plan", "--out", out_arg]);
    assert_eq!(changed.status.code(), Some(2), "{}", stderr(&changed));
    let report = stdout(&changed);
    golden("changes.txt", &report);
    assert!(
        report.contains("hostnet-dockerhost-01: changed (1-1 -> 2-1)"),
        "{report}"
    );
    assert!(report.contains("    BONDING_OPTS: \"mode=0 miimon=100\" -> \"mode=1 miimon=100\""));
    assert!(
        report.contains("    --live-restore: (unset) -> \"on\""),
        "{report}"
    );
    assert!(
        report.contains("    net.core.somaxconn: (unset) -> \"4096\""),
        "{report}"
    );
    assert!(
        report.contains("hostnet-dockerhost-03: retired (1-1)"),
        "{report}"
    );
    assert!(
        report.contains("hostnet-dockerhost-09: new (1-1)"),
        "{report}"
    );
    assert!(report.contains("systemctl daemon-reload && systemctl restart docker"));

    let json = fleet.run(&["plan", "--out", out_arg, "--format", "json"]);
    assert_eq!(json.status.code(), Some(2));
    golden("changes.json", &stdout(&json));
    let value: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    let states: Vec<(&str, &str)> = value["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["package"].as_str().unwrap(), h["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            ("hostnet-dockerhost-01", "changed"),
            ("hostnet-dockerhost-02", "unchanged"),
            ("hostnet-dockerhost-03", "retired"),
            ("hostnet-dockerhost-04", "changed"),
            ("hostnet-dockerhost-05", "changed"),
            ("hostnet-dockerhost-09", "new"),
            ("hostnet-tools", "unchanged"),
        ]
    );

    // The summary: a line a package that changes, the same totals, the same exit status.
    let summary = fleet.run(&["plan", "--out", out_arg, "--format", "summary"]);
    assert_eq!(summary.status.code(), Some(2));
    let summary = stdout(&summary);
    golden("changes-summary.txt", &summary);
    let lines: Vec<&str> = summary.lines().collect();
    assert_eq!(lines.len(), 6, "{summary}");
    assert!(
        lines[0].starts_with("hostnet-dockerhost-01: changed (1-1 -> 2-1); files: ")
            && lines[0].contains("/etc/sysconfig/network-scripts/ifcfg-bond0")
            && lines[0].contains("; settings of: bond0, sysctl, dockerd")
            && !lines[0].contains("docker.service.d,"),
        "{summary}"
    );
    assert_eq!(lines[1], "hostnet-dockerhost-03: retired (1-1)");
    // Rack B's el9 and el8 hosts inherit the site's bond mode too: their keyfiles change.
    assert!(
        lines[2].starts_with("hostnet-dockerhost-04: changed (1-1 -> 2-1); files: /etc/NetworkManager/system-connections/bond0.nmconnection")
            && lines[2].contains("; settings of: bond0"),
        "{summary}"
    );
    assert!(
        lines[4].starts_with("hostnet-dockerhost-09: new (1-1); "),
        "{summary}"
    );
    assert_eq!(
        lines[5], "plan: 1 new, 3 changed, 2 unchanged, 1 retired",
        "the totals the full report ends with: {report}"
    );
    assert!(report.ends_with(&format!("{}\n", lines[5])));

    // Errors: invalid definitions, and a --previous that is not there.
    let missing = fleet.run(&["plan", "--out", out_arg, "--previous", "/nonexistent/repo"]);
    assert_eq!(missing.status.code(), Some(1), "{}", stderr(&missing));
    fleet.write("broken.toml", "[management]\naddress = \"nope\"\n");
    let invalid = fleet.run(&["plan", "--out", out_arg]);
    assert_eq!(invalid.status.code(), Some(1));
}

/// `check` and `plan` go over the hosts on every core; of several hosts whose rendering fails,
/// each reports the first in definition order (path order), as one pass would, not whichever
/// thread met its error first. The two failing hosts sit at the end of the first half and the start
/// of the second half of the fleet, where two threads split it: the second is met first.
#[test]
fn of_several_failing_hosts_check_and_plan_report_the_first_in_definition_order() {
    let fleet = Fleet::with_extra_hosts(200);
    let builtin = std::fs::read_to_string(repo_root().join("specs/pre.sh.j2")).unwrap();
    // host-00199.toml is the last file of hosts/ itself; rack-a/dockerhost-02.toml the first of
    // rack-a/, which sorts after it.
    fleet.write(
        "overrides/specs/pre.sh.j2",
        &format!(
            "{{% if host == \"host-00199\" %}}\n{{{{ first_failure }}}}\n{{% elif host == \"dockerhost-02\" %}}\n\n\n{{{{ second_failure }}}}\n{{% endif %}}\n{builtin}"
        ),
    );
    let site = std::fs::read_to_string(fleet.hosts().join("site.toml")).unwrap();
    fleet.write(
        "site.toml",
        &site.replace(
            "[kickstart]\n",
            "[kickstart]\ntemplate-dir = \"overrides\"\n",
        ),
    );
    for _ in 0..3 {
        for args in [&["check"][..], &["plan", "--out", "out"][..]] {
            let output = fleet.run(args);
            let report = stderr(&output);
            assert_eq!(output.status.code(), Some(1), "{args:?}: {report}");
            assert!(
                report.contains("overrides/specs/pre.sh.j2:2:")
                    && !report.contains("overrides/specs/pre.sh.j2:6:"),
                "{args:?}: {report}"
            );
        }
    }
}

/// `plan` and `build` take one decision on what is retired: every package of the repository the
/// fleet no longer defines, whatever its name (the repository is hostnet's own).
#[test]
fn plan_retires_what_build_retires() {
    let fleet = Fleet::example();
    let dir = tempfile::tempdir().unwrap();
    let previous = dir.path().join("published");
    common::hostile::write_repository(
        &previous,
        common::hostile::primary_listing("someone-else", 1).as_bytes(),
        None,
    );
    let previous = previous.to_str().unwrap();
    let out = dir.path().join("out");
    let plan = fleet.run(&[
        "plan",
        "--out",
        out.to_str().unwrap(),
        "--previous",
        previous,
        "--format",
        "json",
    ]);
    assert_eq!(plan.status.code(), Some(2), "{}", stderr(&plan));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&plan)).unwrap();
    let retired: Vec<&str> = plan["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["state"] == "retired")
        .map(|h| h["package"].as_str().unwrap())
        .collect();
    assert_eq!(retired, ["someone-else"]);

    let output = fleet.run(&[
        "build",
        "--unsigned",
        "--out",
        out.to_str().unwrap(),
        "--previous",
        previous,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let retired_lines: Vec<String> = stdout(&output)
        .lines()
        .filter(|l| l.trim_start().starts_with("retired "))
        .map(String::from)
        .collect();
    assert_eq!(retired_lines.len(), 1, "{retired_lines:?}");
    assert!(
        retired_lines[0].contains("someone-else is not a host package of this fleet"),
        "{retired_lines:?}"
    );
}
