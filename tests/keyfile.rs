//! NetworkManager keyfiles for `target = "el9"` (and el8) hosts, read back by NetworkManager's own
//! keyfile code: `nmcli --offline` (NetworkManager 1.42, Debian's `network-manager`) parses each
//! profile and writes it again, with no daemon. It accepts bad values silently (an unknown bond
//! mode becomes balance-rr, a VLAN id over 4094 is dropped, a `controller=` key is ignored), so
//! the test never trusts its exit status: every key hostnet wrote must come back with the same
//! value, and NetworkManager may add only the defaults listed here.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{Fleet, stderr};

/// `(group, key)` to value, comments and blank lines left out.
fn keys_of(text: &str) -> BTreeMap<(String, String), String> {
    let mut group = String::new();
    let mut keys = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            group = name.to_string();
            continue;
        }
        let (key, value) = line.split_once('=').expect("key=value");
        keys.insert((group.clone(), key.to_string()), value.to_string());
    }
    keys
}

/// What NetworkManager writes for a profile: `nmcli --offline` reads it from stdin and writes it
/// again after a change that changes nothing.
fn read_back_by_network_manager(keyfile: &str, id: &str) -> String {
    let mut child = Command::new("nmcli")
        .args(["--offline", "connection", "modify", "connection.id", id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nmcli (Debian's network-manager; make test-deps installs it)");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(keyfile.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    String::from_utf8(output.stdout).unwrap()
}

/// NetworkManager writes an address and its gateway as one value.
fn as_network_manager_spells_it(
    mut keys: BTreeMap<(String, String), String>,
) -> BTreeMap<(String, String), String> {
    let gateway_key = ("ipv4".to_string(), "gateway".to_string());
    if let Some(gateway) = keys.remove(&gateway_key) {
        let address = keys
            .get_mut(&("ipv4".to_string(), "address1".to_string()))
            .expect("a gateway comes with an address");
        address.push(',');
        address.push_str(&gateway);
    }
    keys
}

/// Renders `hosts` of `fleet` and checks every keyfile through NetworkManager; returns how many.
fn check_keyfiles(fleet: &Fleet, hosts: &[&str]) -> usize {
    let out = tempfile::tempdir().unwrap();
    let mut args = vec!["render"];
    args.extend(hosts);
    args.extend(["--out", out.path().to_str().unwrap()]);
    let rendered = fleet.run(&args);
    assert!(rendered.status.success(), "{}", stderr(&rendered));
    let mut checked = 0;
    for host in hosts {
        let root = if hosts.len() > 1 {
            out.path().join(host)
        } else {
            out.path().to_path_buf()
        };
        let dir = root.join("etc/NetworkManager/system-connections");
        assert!(
            !root.join("etc/sysconfig/network-scripts").exists(),
            "{host}: an el9 host has no ifcfg files"
        );
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let mode =
                std::os::unix::fs::PermissionsExt::mode(&path.metadata().unwrap().permissions());
            assert_eq!(
                mode & 0o777,
                0o600,
                "{}: NetworkManager ignores others",
                path.display()
            );
            check_one(&path, host);
            checked += 1;
        }
    }
    checked
}

fn check_one(path: &Path, host: &str) {
    let ours = std::fs::read_to_string(path).unwrap();
    let id = path.file_stem().unwrap().to_str().unwrap();
    let theirs = keys_of(&read_back_by_network_manager(&ours, id));
    let ours = as_network_manager_spells_it(keys_of(&ours));
    for (key, value) in &ours {
        assert_eq!(
            theirs.get(key),
            Some(value),
            "{host} {id}: {key:?} as NetworkManager reads it\n{theirs:#?}"
        );
    }
    // What NetworkManager adds of its own: defaults, never a setting hostnet meant otherwise.
    let defaults = [(("vlan", "flags"), "1")];
    for (key, value) in &theirs {
        if ours.contains_key(key) {
            continue;
        }
        assert!(
            defaults
                .iter()
                .any(|((g, k), v)| (*g, *k) == (key.0.as_str(), key.1.as_str()) && v == value),
            "{host} {id}: NetworkManager added {key:?} = {value:?}"
        );
    }
}

/// Every example host, as el9, and a host whose stack uses what the examples do not: an
/// active-backup bond with a primary port and ARP monitoring, jumbo MTUs, the management address on
/// the untagged bond, a bridge not named docker0.
#[test]
fn every_keyfile_reads_back_through_network_manager_as_written() {
    let fleet = Fleet::example();
    let site = std::fs::read_to_string(fleet.hosts().join("site.toml")).unwrap();
    fleet.write(
        "site.toml",
        &site.replacen(
            "[defaults.bond]",
            "[defaults]\ntarget = \"el9\"\n\n[defaults.bond]",
            1,
        ),
    );
    let site = std::fs::read_to_string(fleet.hosts().join("site.toml")).unwrap();
    fleet.write(
        "site.toml",
        &site
            .replace(
                "description = \"host management\"",
                "description = \"host management\"\nmtu = 9000",
            )
            .replacen("[defaults.bond]\n", "[defaults.bond]\nmtu = 9000\n", 1),
    );
    fleet.write(
        "odd.toml",
        "target = \"el8\"\n\
         [bond]\nmode = \"active-backup\"\nmiimon = 0\nmtu = 9000\n\
         [bond.options]\nprimary = \"enp2s0f1\"\narp_interval = 200\narp_ip_target = \"10.20.51.1,10.20.51.2\"\nfail_over_mac = \"active\"\n\
         [management]\ntagged = false\naddress = \"10.20.51.90\"\n\
         [containers]\nslice = \"172.20.56.208/28\"\nbridge = \"br-ct\"\n",
    );
    let checked = check_keyfiles(
        &fleet,
        &["dockerhost-01", "dockerhost-02", "dockerhost-03", "odd"],
    );
    // Two ports, the bond, two VLANs and the bridge a host; odd's management is on the bond.
    assert_eq!(checked, 3 * 6 + 5);
}

/// Moving a host to el9 is a planned change: `plan` shows its ifcfg files going and its keyfiles
/// coming, `build` gives it the next version, and the other hosts' packages stay byte for byte
/// the ones built before. The el9 package depends on NetworkManager, not network-scripts, and
/// carries its keyfiles root-only.
#[test]
fn moving_a_host_to_el9_is_a_planned_change_and_leaves_the_others_alone() {
    common::require_tool("rpm");
    let fleet = Fleet::example();
    let out = fleet.dir.path().join("out");
    let built = common::build(&fleet, None, &out, "1700000000");
    assert!(built.status.success(), "{}", stderr(&built));
    let before: BTreeMap<String, Vec<u8>> = packages(&out.join("repo/Packages"));

    let text = std::fs::read_to_string(fleet.hosts().join("dockerhost-01.toml")).unwrap();
    fleet.write("dockerhost-01.toml", &format!("target = \"el9\"\n{text}"));
    let check = fleet.run(&["check"]);
    assert!(check.status.success(), "{}", stderr(&check));
    let show = common::stdout(&fleet.run(&["show", "dockerhost-01"]));
    assert!(show.contains("target = \"el9\""), "{show}");

    let plan = fleet.run(&["plan", "--out", out.to_str().unwrap()]);
    let shown = common::stdout(&plan);
    assert_eq!(plan.status.code(), Some(2), "{shown}{}", stderr(&plan));
    for expected in [
        "hostnet-dockerhost-01",
        "--- /etc/sysconfig/network-scripts/ifcfg-bond0.51 (hostnet-dockerhost-01-1-1.noarch.rpm)",
        "+++ /etc/sysconfig/network-scripts/ifcfg-bond0.51 (planned)",
        "+++ /etc/NetworkManager/system-connections/bond0.51.nmconnection (planned)",
        "IPADDR: \"10.20.51.21\" -> (unset)",
        "ipv4.address1: (unset) -> \"10.20.51.21/24\"",
        "takes effect after: nmcli connection reload",
    ] {
        assert!(shown.contains(expected), "plan names {expected}:\n{shown}");
    }
    assert!(
        shown.contains("hostnet-dockerhost-02: unchanged (1-1)"),
        "{shown}"
    );

    let rebuilt = common::build(&fleet, None, &out, "1700000000");
    assert!(rebuilt.status.success(), "{}", stderr(&rebuilt));
    let after = packages(&out.join("repo/Packages"));
    for (name, bytes) in &before {
        if !name.starts_with("hostnet-dockerhost-01-") {
            assert_eq!(after.get(name), Some(bytes), "{name} is unchanged");
        }
    }
    let el9 = common::package_path(&out, "dockerhost-01", 2);
    let query = |args: &[&str]| {
        let output = Command::new("rpm").args(args).arg(&el9).output().unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        common::stdout(&output)
    };
    let requires = query(&["-qp", "--requires"]);
    assert!(requires.contains("NetworkManager"), "{requires}");
    assert!(!requires.contains("initscripts"), "{requires}");
    assert!(!requires.contains("bridge-utils"), "{requires}");
    let listing = query(&["-qp", "--qf", "[%{FILEMODES:perms} %{FILENAMES}\\n]"]);
    assert!(
        listing.contains("-rw------- /etc/NetworkManager/system-connections/bond0.nmconnection"),
        "{listing}"
    );
    assert!(!listing.contains("network-scripts"), "{listing}");
}

/// Each package file of a repository's `Packages/`, by name.
fn packages(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (
                entry.file_name().to_string_lossy().into_owned(),
                std::fs::read(entry.path()).unwrap(),
            )
        })
        .collect()
}
