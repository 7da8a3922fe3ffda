//! `hostnet render`: golden text for the seed's host, checked again by its real consumer (bash sources
//! every ifcfg file) and against the stack CentOS 7 brought up (`fixtures/el7-seed-host`).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{Fleet, repo_root, stderr};

fn render(fleet: &Fleet, host: &str) -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("tree");
    let output = fleet.run(&["render", host, "--out", target.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    out
}

fn files_under(root: &Path) -> BTreeMap<String, String> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let relative = e
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (relative, std::fs::read_to_string(e.path()).unwrap())
        })
        .collect()
}

/// The variables a clean bash has after sourcing `file`, as network-scripts does.
fn sourced_by_bash(file: &Path) -> BTreeMap<String, String> {
    let script = r#"
        before=$(compgen -v)
        . "$1" || exit 3
        for name in $(compgen -v); do
            case "$name" in before|name|BASH_*|FUNCNAME|PIPESTATUS|_) continue ;; esac
            if ! printf '%s\n' "$before" | grep -qx "$name"; then
                printf '%s\0%s\0' "$name" "${!name}"
            fi
        done
    "#;
    let output = Command::new("env")
        .args(["-i", "bash", "--norc", "--noprofile", "-c", script, "bash"])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "bash could not source {}: {}",
        file.display(),
        stderr(&output)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let parts: Vec<&str> = text.split('\0').collect();
    parts
        .chunks(2)
        .filter(|c| c.len() == 2)
        .map(|c| (c[0].to_string(), c[1].to_string()))
        .collect()
}

/// `KEY=value` lines as a reader that does not run code would see them (quotes stripped).
fn assignments(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (key, value) = l.split_once('=').unwrap();
            (key.to_string(), value.trim_matches('"').to_string())
        })
        .collect()
}

#[test]
fn dockerhost_01_matches_the_golden_files() {
    let fleet = Fleet::example();
    let out = render(&fleet, "dockerhost-01");
    let rendered = files_under(&out.path().join("tree"));
    let golden_dir = repo_root().join("tests/golden/dockerhost-01");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let _ = std::fs::remove_dir_all(&golden_dir);
        for (path, text) in &rendered {
            let target = golden_dir.join(path);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::write(target, text).unwrap();
        }
    }
    let golden = files_under(&golden_dir);
    assert_eq!(
        rendered.keys().collect::<Vec<_>>(),
        golden.keys().collect::<Vec<_>>(),
        "file set differs from tests/golden (UPDATE_GOLDEN=1 regenerates after a deliberate change)"
    );
    for (path, text) in &rendered {
        assert_eq!(
            text, &golden[path],
            "{path} differs from tests/golden/dockerhost-01/{path}"
        );
    }
}

#[test]
fn dockerhost_01_carries_the_seed_values() {
    let fleet = Fleet::example();
    let out = render(&fleet, "dockerhost-01");
    let root = out.path().join("tree");
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    let scripts = "etc/sysconfig/network-scripts";
    for slave in ["enp2s0f0", "enp2s0f1"] {
        let vars = sourced_by_bash(&root.join(format!("{scripts}/ifcfg-{slave}")));
        assert_eq!(vars["MASTER"], "bond0");
        assert_eq!(vars["SLAVE"], "yes");
    }
    let bond = sourced_by_bash(&root.join(format!("{scripts}/ifcfg-bond0")));
    assert_eq!(bond["BONDING_OPTS"], "mode=0 miimon=100");
    let containers = sourced_by_bash(&root.join(format!("{scripts}/ifcfg-bond0.136")));
    assert_eq!(containers["BRIDGE"], "docker0");
    assert_eq!(containers["VLAN_ID"], "136");
    let bridge = sourced_by_bash(&root.join(format!("{scripts}/ifcfg-docker0")));
    assert_eq!(
        bridge["TYPE"], "Bridge",
        "EL7 network-scripts compare TYPE case-sensitively"
    );
    // The address dockerd is given with --bip, in the file too: network-scripts put it back after
    // every network restart, which flushes the bridge.
    assert_eq!(
        (bridge["IPADDR"].as_str(), bridge["PREFIX"].as_str()),
        ("172.20.56.17", "24")
    );
    let management = sourced_by_bash(&root.join(format!("{scripts}/ifcfg-bond0.51")));
    assert_eq!(management["VLAN_ID"], "51");

    let dropin = read("etc/systemd/system/docker.service.d/hostnet.conf");
    let exec: Vec<&str> = dropin
        .lines()
        .filter(|l| l.starts_with("ExecStart="))
        .collect();
    assert_eq!(
        exec[0], "ExecStart=",
        "the drop-in must reset docker-ce's ExecStart first"
    );
    for flag in [
        "--bip=172.20.56.17/24",
        "--fixed-cidr=172.20.56.16/28",
        "--default-gateway=172.20.56.1",
        "--registry-mirror=http://registry.example.com:5000",
        "--insecure-registry=docker.example.com:5000",
        "--storage-driver=overlay2",
        "--ip-forward=false",
        "--iptables=false",
        "--log-driver=journald",
    ] {
        assert!(
            exec[1].split(' ').any(|w| w == flag),
            "{flag} missing from {}",
            exec[1]
        );
    }
    assert_eq!(
        read("etc/modules-load.d/bonding.conf").lines().last(),
        Some("bonding")
    );
    let pre = read("scriptlets/pre.sh");
    assert!(pre.contains("groupadd -r docker"));
    assert!(pre.contains("for hostnet_user in apps ; do"));
}

/// Every key CentOS 7 brought up in the reference VM has the same value in ours; the only extra keys
/// are documented additions.
#[test]
fn dockerhost_01_reproduces_the_el7_reference_stack() {
    let fleet = Fleet::example();
    let out = render(&fleet, "dockerhost-01");
    let ours_root = out.path().join("tree");
    let reference_root = repo_root().join("tests/fixtures/el7-seed-host");
    let allowed_extra = ["DNS1", "DNS2", "DEFROUTE"];
    for (path, reference_text) in files_under(&reference_root) {
        if path.ends_with("README.md") {
            continue;
        }
        let ours_text = std::fs::read_to_string(ours_root.join(&path))
            .unwrap_or_else(|_| panic!("we do not write {path}"));
        if path.contains("sysctl") {
            let settings = |t: &str| {
                t.lines()
                    .filter(|l| !l.starts_with('#'))
                    .map(String::from)
                    .collect::<Vec<_>>()
            };
            assert_eq!(settings(&ours_text), settings(&reference_text), "{path}");
            continue;
        }
        let ours = assignments(&ours_text);
        let reference = assignments(&reference_text);
        for (key, value) in &reference {
            assert_eq!(ours.get(key), Some(value), "{path}: {key}");
        }
        // docker0's address, also in its file: a network restart would leave it without one.
        let bridge_extra: &[&str] = if path.ends_with("ifcfg-docker0") {
            &["IPADDR", "PREFIX"]
        } else {
            &[]
        };
        for key in ours.keys().filter(|k| !reference.contains_key(*k)) {
            assert!(
                allowed_extra.contains(&key.as_str()) || bridge_extra.contains(&key.as_str()),
                "{path}: unexpected extra key {key}"
            );
        }
    }
    let ours_ifcfg: Vec<String> = files_under(&ours_root)
        .into_keys()
        .filter(|p| p.contains("ifcfg-"))
        .collect();
    let reference_ifcfg: Vec<String> = files_under(&reference_root)
        .into_keys()
        .filter(|p| p.contains("ifcfg-"))
        .collect();
    assert_eq!(ours_ifcfg, reference_ifcfg);
}

/// bash is the real consumer: every file parses, and sourcing it sets exactly the keys we wrote
/// with exactly the values we meant, for every host of the example fleet.
#[test]
fn every_ifcfg_file_sources_to_exactly_its_assignments() {
    let fleet = Fleet::example();
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("all");
    let output = fleet.run(&["render", "--all", "--out", target.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let mut checked = 0;
    for (path, text) in files_under(&target) {
        if !path.contains("/ifcfg-") {
            continue;
        }
        let file = target.join(&path);
        let syntax = Command::new("bash").arg("-n").arg(&file).status().unwrap();
        assert!(syntax.success(), "bash -n {path}");
        assert_eq!(sourced_by_bash(&file), assignments(&text), "{path}");
        checked += 1;
    }
    assert_eq!(checked, 6 + 6 + 6);
}

/// The quoting function against bash with values no validation would let through.
#[test]
fn ifcfg_quoting_round_trips_through_bash() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = [
        "plain",
        "two words",
        "a\"b",
        "$(touch pwned)",
        "`touch pwned`",
        "back\\slash",
        "it's",
        "${HOME}",
        "a;b|c&d",
        "",
    ];
    let mut text = String::new();
    for (i, value) in hostile.iter().enumerate() {
        text.push_str(&format!(
            "V{i}={}\n",
            hostnet::shell::ifcfg_value(value).unwrap()
        ));
    }
    let file = dir.path().join("ifcfg-test");
    std::fs::write(&file, text).unwrap();
    let vars = sourced_by_bash(&file);
    for (i, value) in hostile.iter().enumerate() {
        assert_eq!(vars.get(&format!("V{i}")).map(String::as_str), Some(*value));
    }
    assert!(!Path::new("pwned").exists() && !dir.path().join("pwned").exists());
}

#[test]
fn inheritance_site_then_group_then_host() {
    let fleet = Fleet::example();
    // miimon: site 100 -> group 200 -> host 300; log driver: site only; mtu: group only.
    let site = std::fs::read_to_string(fleet.hosts().join("site.toml")).unwrap();
    let site = site
        .replace("miimon = 100", "miimon = 100\nmtu = 1500")
        .replace(
            "users = [\"apps\"]",
            "users = [\"apps\"]\nlog-driver = \"json-file\"",
        );
    fleet.write("site.toml", &site);
    fleet.write("rack-a/group.toml", "[bond]\nmode = \"active-backup\"\nmiimon = 200\nmtu = 9000\n[docker]\nusers = [\"deploy\"]\n");
    fleet.append("rack-a/dockerhost-02.toml", "[bond]\nmiimon = 300\n");
    let out = render(&fleet, "dockerhost-02");
    let root = out.path().join("tree");
    let bond = sourced_by_bash(&root.join("etc/sysconfig/network-scripts/ifcfg-bond0"));
    assert_eq!(
        bond["BONDING_OPTS"], "mode=1 miimon=300",
        "host overrides group overrides site"
    );
    assert_eq!(bond["MTU"], "9000", "group overrides site");
    let dropin =
        std::fs::read_to_string(root.join("etc/systemd/system/docker.service.d/hostnet.conf"))
            .unwrap();
    assert!(
        dropin.contains("--log-driver=json-file"),
        "site value inherited through the group"
    );
    let pre = std::fs::read_to_string(root.join("scriptlets/pre.sh")).unwrap();
    assert!(
        pre.contains("for hostnet_user in deploy ; do"),
        "lists are replaced, not appended"
    );

    // A host outside the group keeps the site's values.
    let out = render(&fleet, "dockerhost-01");
    let bond = sourced_by_bash(
        &out.path()
            .join("tree/etc/sysconfig/network-scripts/ifcfg-bond0"),
    );
    assert_eq!(bond["BONDING_OPTS"], "mode=0 miimon=100");
    assert_eq!(bond["MTU"], "1500");

    // `show` says where each value came from.
    let shown = common::stdout(&fleet.run(&["show", "dockerhost-02"]));
    assert!(
        shown.contains("miimon = 300") && shown.contains("# hosts/rack-a/dockerhost-02.toml:9"),
        "{shown}"
    );
    assert!(
        shown.contains("mtu = 9000") && shown.contains("# hosts/rack-a/group.toml:4"),
        "{shown}"
    );
    assert!(shown.contains("log-driver = \"json-file\""), "{shown}");
}

/// The kernel takes a closed-set bonding option by its number too; hostnet takes either and writes
/// the name, in ifcfg and in the state hostnet-verify compares with sysfs.
#[test]
fn bond_options_given_by_the_kernels_number_are_written_by_name() {
    let fleet = Fleet::example();
    fleet.append(
        "rack-a/dockerhost-02.toml",
        "[bond]\nmode = \"802.3ad\"\n[bond.options]\nlacp_rate = 1\nxmit_hash_policy = \"2\"\nad_select = \"count\"\n",
    );
    let out = render(&fleet, "dockerhost-02");
    let root = out.path().join("tree");
    let bond = sourced_by_bash(&root.join("etc/sysconfig/network-scripts/ifcfg-bond0"));
    assert_eq!(
        bond["BONDING_OPTS"],
        "mode=4 miimon=100 ad_select=count lacp_rate=fast xmit_hash_policy=layer2+3"
    );
    let expected = std::fs::read_to_string(root.join("usr/share/hostnet/expected-state")).unwrap();
    assert!(
        expected.contains("bond\tbond0\tlacp_rate\tfast\n")
            && expected.contains("bond\tbond0\txmit_hash_policy\tlayer2+3\n"),
        "{expected}"
    );

    let wrong = Fleet::example();
    wrong.append(
        "rack-a/dockerhost-02.toml",
        "[bond]\nmode = \"802.3ad\"\n[bond.options]\nxmit_hash_policy = 5\n",
    );
    let checked = wrong.run(&["check"]);
    assert!(!checked.status.success());
    let errors = common::stderr(&checked);
    assert!(
        errors.contains("bond.options.xmit_hash_policy: xmit_hash_policy = \"5\" is not valid; use one of layer2 (0), layer3+4 (1), layer2+3 (2), encap2+3 (3), encap3+4 (4)"),
        "{errors}"
    );
}

#[test]
fn a_bridge_other_than_docker0_carries_the_address_and_dockerd_gets_bridge() {
    let fleet = Fleet::example();
    fleet.append("dockerhost-01.toml", "bridge = \"br136\"\n");
    let out = render(&fleet, "dockerhost-01");
    let root = out.path().join("tree");
    let bridge = sourced_by_bash(&root.join("etc/sysconfig/network-scripts/ifcfg-br136"));
    assert_eq!(
        (bridge["IPADDR"].as_str(), bridge["PREFIX"].as_str()),
        ("172.20.56.17", "24")
    );
    let dropin =
        std::fs::read_to_string(root.join("etc/systemd/system/docker.service.d/hostnet.conf"))
            .unwrap();
    assert!(
        dropin.contains("--bridge=br136") && !dropin.contains("--bip"),
        "{dropin}"
    );
    let sysctl = std::fs::read_to_string(root.join("etc/sysctl.d/90-hostnet.conf")).unwrap();
    assert!(sysctl.contains("net.ipv4.conf.br136.rp_filter = 0"));
}

#[test]
fn untagged_management_puts_the_address_on_the_bond() {
    let fleet = Fleet::example();
    fleet.write(
        "dockerhost-01.toml",
        "[management]\ntagged = false\naddress = \"10.20.51.21\"\n[containers]\nslice = \"172.20.56.16/28\"\n",
    );
    let out = render(&fleet, "dockerhost-01");
    let root = out.path().join("tree");
    let bond = sourced_by_bash(&root.join("etc/sysconfig/network-scripts/ifcfg-bond0"));
    assert_eq!(bond["IPADDR"], "10.20.51.21");
    assert!(
        !root
            .join("etc/sysconfig/network-scripts/ifcfg-bond0.51")
            .exists()
    );
    let sysctl = std::fs::read_to_string(root.join("etc/sysctl.d/90-hostnet.conf")).unwrap();
    assert!(!sysctl.contains("bond0/51"));
}

#[test]
fn render_refuses_a_foreign_directory_and_writes_nothing_on_error() {
    let fleet = Fleet::example();
    let foreign = fleet.dir.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("precious"), "keep me").unwrap();
    let output = fleet.run(&["render", "dockerhost-01", "--out", "foreign"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("was not written by hostnet; refusing to replace it"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        std::fs::read_to_string(foreign.join("precious")).unwrap(),
        "keep me"
    );

    // A render over a previous one replaces it whole; a failing one leaves it as it was.
    let output = fleet.run(&["render", "dockerhost-01", "--out", "out"]);
    assert!(output.status.success());
    let before = files_under(&fleet.dir.path().join("out"));
    fleet.append("dockerhost-01.toml", "bridge-address = \"10.0.0.1\"\n");
    let output = fleet.run(&["render", "dockerhost-01", "--out", "out"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(files_under(&fleet.dir.path().join("out")), before);
    let leftovers: Vec<_> = std::fs::read_dir(fleet.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("staging"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn unknown_host_names_the_known_ones() {
    let fleet = Fleet::example();
    let output = fleet.run(&["render", "nosuch", "--out", "x"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains(
        "no host named \"nosuch\"; defined hosts: dockerhost-01, dockerhost-02, dockerhost-03"
    ));
}

#[test]
fn nested_group_folders_apply_outer_to_inner() {
    let fleet = Fleet::example();
    // `a-row` sorts before `group.toml`, so file order alone would apply the inner group first.
    fleet.write("rack-a/a-row/group.toml", "[bond]\nmiimon = 300\n");
    fleet.write(
        "rack-a/a-row/deep.toml",
        "[management]\naddress = \"10.20.51.90\"\n[containers]\nslice = \"172.20.56.160/28\"\n",
    );
    let out = render(&fleet, "deep");
    let bond = sourced_by_bash(
        &out.path()
            .join("tree/etc/sysconfig/network-scripts/ifcfg-bond0"),
    );
    assert_eq!(
        bond["BONDING_OPTS"], "mode=4 miimon=300 lacp_rate=fast xmit_hash_policy=layer3+4",
        "mode from rack-a, miimon from rack-a/a-row overriding rack-a's 100"
    );
    let shown = common::stdout(&fleet.run(&["show", "deep"]));
    assert!(
        shown.contains("hosts/site.toml -> hosts/rack-a/group.toml -> hosts/rack-a/a-row/group.toml -> hosts/rack-a/a-row/deep.toml"),
        "{shown}"
    );
}

/// network-scripts leaves a slave whose MASTER names no bond silently down (docs/el7.md): every
/// reference between the files of a host must name a device those files define.
#[test]
fn every_master_physdev_and_bridge_names_a_rendered_device() {
    let fleet = Fleet::example();
    fleet.write(
        "other.toml",
        "[bond]\nname = \"bond7\"\nslaves = [\"eno1\", \"eno2\", \"eno3\"]\n[management]\ntagged = false\naddress = \"10.20.51.91\"\n[containers]\nbridge = \"br-c\"\nslice = \"172.20.56.176/28\"\n",
    );
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("all");
    let output = fleet.run(&["render", "--all", "--out", target.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    for host in ["dockerhost-01", "dockerhost-02", "dockerhost-03", "other"] {
        let scripts = target.join(host).join("etc/sysconfig/network-scripts");
        let files: Vec<BTreeMap<String, String>> = std::fs::read_dir(&scripts)
            .unwrap()
            .map(|e| sourced_by_bash(&e.unwrap().path()))
            .collect();
        let devices: Vec<&String> = files.iter().map(|f| &f["DEVICE"]).collect();
        for file in &files {
            for key in ["MASTER", "PHYSDEV", "BRIDGE"] {
                if let Some(target) = file.get(key) {
                    assert!(
                        devices.contains(&target),
                        "{host}: {}'s {key}={target} names no rendered device",
                        file["DEVICE"]
                    );
                }
            }
            if file.get("TYPE").map(String::as_str) == Some("Bond") {
                assert!(
                    files
                        .iter()
                        .any(|f| f.get("MASTER") == Some(&file["DEVICE"])),
                    "{host}: bond without slaves"
                );
            }
        }
        assert_eq!(
            files
                .iter()
                .filter(|f| f.contains_key("IPADDR")
                    && f.get("TYPE").map(String::as_str) != Some("Bridge"))
                .count(),
            1,
            "{host}: one interface holds the management address"
        );
    }
}
