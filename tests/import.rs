//! `hostnet import`: a hand-made host's files into a definition. The round trip is the test:
//! hostnet's own rendered files, imported, give back a definition that renders the same files; the
//! original write-up's host (`fixtures/el7-seed-host`) imports to dockerhost-01's settings; hostile
//! files get a clear error and nothing is written.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{Fleet, repo_root, stderr, stdout};

/// Every file under `root`, by relative path, leaving out the package scriptlets (they carry the
/// boot MAC, which no file of a host's network configuration holds).
fn files_under(root: &Path) -> BTreeMap<String, String> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let relative = e.path().strip_prefix(root).unwrap().display().to_string();
            (relative, std::fs::read_to_string(e.path()).unwrap())
        })
        .filter(|(relative, _)| !relative.starts_with("scriptlets/"))
        .collect()
}

/// `hostnet import ARGS` must fail saying `says`, and write no `hosts/<absent>.toml`.
fn refused(fleet: &Fleet, args: &[&str], says: &str, absent: &str) {
    let mut command = vec!["import"];
    command.extend(args);
    let output = fleet.run(&command);
    assert_eq!(output.status.code(), Some(1), "{args:?}");
    assert!(
        stderr(&output).contains(says),
        "{says}: {}",
        stderr(&output)
    );
    assert!(
        !fleet.hosts().join(format!("{absent}.toml")).exists(),
        "{says}"
    );
}

fn render(fleet: &Fleet, host: &str, out: &Path) -> BTreeMap<String, String> {
    let output = fleet.run(&["render", host, "--out", out.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    files_under(out)
}

/// The example hosts and hosts that use what they do not: bond options, an MTU, the management
/// address on the untagged bond, another bridge with its own address, extra dockerd flags,
/// registries, other drivers, extra sysctl settings.
#[test]
fn hostnets_own_files_import_to_a_definition_that_renders_them_again() {
    let fleet = Fleet::example();
    let variants = [
        (
            "bonded",
            "[bond]\nmode = \"802.3ad\"\nmtu = 9000\n[bond.options]\nlacp_rate = \"fast\"\nxmit_hash_policy = \"layer3+4\"\n[management]\naddress = \"10.20.51.40\"\n[containers]\nslice = \"172.20.56.176/28\"\n",
        ),
        (
            "untagged",
            "[management]\ntagged = false\naddress = \"10.20.51.41\"\n[containers]\nslice = \"172.20.56.192/28\"\nbridge = \"br-ct\"\nbridge-address = \"172.20.56.198\"\n",
        ),
        (
            "dockered",
            "[management]\naddress = \"10.20.51.42\"\ndns = [\"10.20.0.99\"]\n[containers]\nslice = \"172.20.56.160/28\"\n[docker]\nstorage-driver = \"devicemapper\"\nlog-driver = \"json-file\"\nregistry-mirrors = [\"https://mirror.example.com\"]\ninsecure-registries = []\nip-forward = true\nextra-flags = [\"--live-restore\", \"--max-concurrent-downloads=6\"]\n[sysctl]\n\"net.core.somaxconn\" = 4096\n\"net.ipv4.conf.bond0/51.log_martians\" = 1\n",
        ),
    ];
    for (name, text) in variants {
        fleet.write(&format!("{name}.toml"), text);
    }
    let check = fleet.run(&["check"]);
    assert!(check.status.success(), "{}", stderr(&check));
    let hosts = [
        ("dockerhost-01", ""),
        ("dockerhost-02", "rack-a"),
        ("dockerhost-03", "rack-a"),
        ("bonded", ""),
        ("untagged", ""),
        ("dockered", ""),
    ];
    let work = tempfile::tempdir().unwrap();
    for (host, group) in hosts {
        let before = work.path().join(format!("{host}-before"));
        let rendered = render(&fleet, host, &before);
        let definition = fleet.hosts().join(group).join(format!("{host}.toml"));
        let original = std::fs::read_to_string(&definition).unwrap();
        std::fs::remove_file(&definition).unwrap();
        let mut args = vec!["import", before.to_str().unwrap(), "--name", host];
        if !group.is_empty() {
            args.extend(["--group", group]);
        }
        let imported = fleet.run(&args);
        assert!(imported.status.success(), "{host}: {}", stderr(&imported));
        // Installing its package would change none of the host's files.
        assert!(
            stdout(&imported).contains(&format!(
                "what installing hostnet-{host} would change on the host:\nhostnet-{host}: unchanged\n"
            )),
            "{host}: {}",
            stdout(&imported)
        );
        let after = work.path().join(format!("{host}-after"));
        assert_eq!(
            render(&fleet, host, &after),
            rendered,
            "{host}: the imported definition renders other files\n{}",
            std::fs::read_to_string(&definition).unwrap()
        );
        // Minimal: nothing the host inherits anyway.
        let text = std::fs::read_to_string(&definition).unwrap();
        assert!(!text.contains("[bond]\nname"), "{host}: {text}");
        assert!(!text.contains("vlan = "), "{host}: {text}");
        // Put the original back (with its boot MAC) for the next host's fleet rules.
        std::fs::write(&definition, original).unwrap();
    }
}

/// The host CentOS 7 brought up from the original write-up's files, with the docker unit the
/// write-up describes (Docker 1.x's `docker daemon`, overlay): dockerhost-01's settings, the
/// write-up's mistakes named.
#[test]
fn the_write_ups_host_imports_to_dockerhost_01s_settings() {
    let fleet = Fleet::example();
    let collected = tempfile::tempdir().unwrap();
    common::copy_tree(
        &repo_root().join("tests/fixtures/el7-seed-host"),
        collected.path(),
    );
    std::fs::remove_file(collected.path().join("README.md")).unwrap();
    let scripts = collected.path().join("etc/sysconfig/network-scripts");
    let bridge = std::fs::read_to_string(scripts.join("ifcfg-docker0")).unwrap();
    std::fs::write(
        scripts.join("ifcfg-docker0"),
        bridge.replace("TYPE=Bridge", "TYPE=bridge"),
    )
    .unwrap();
    std::fs::create_dir_all(collected.path().join("etc/systemd/system")).unwrap();
    std::fs::write(
        collected.path().join("etc/systemd/system/docker.service"),
        "[Service]\nExecStart=/usr/bin/docker daemon -H fd:// --containerd=/run/containerd/containerd.sock --fixed-cidr=172.20.56.16/28 --default-gateway=172.20.56.1 --registry-mirror=http://registry.example.com:5000 --insecure-registry=docker.example.com:5000 --storage-driver=overlay --ip-forward=false --iptables=false --log-driver=journald\n",
    )
    .unwrap();
    std::fs::write(
        collected.path().join("etc/hostname"),
        "dockerhost-01.example.com\n",
    )
    .unwrap();
    std::fs::write(
        collected.path().join("etc/resolv.conf"),
        "search example.com\nnameserver 10.20.0.53\nnameserver 10.20.0.54\n",
    )
    .unwrap();
    let original = fleet.hosts().join("dockerhost-01.toml");
    std::fs::remove_file(&original).unwrap();

    let output = fleet.run(&["import", collected.path().to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report = stdout(&output);
    // What the first install changes: the bridge gets its address, its TYPE spelled right.
    assert!(
        report.contains("what installing hostnet-dockerhost-01 would change on the host:\nhostnet-dockerhost-01: changed"),
        "{report}"
    );
    assert!(
        report.contains("  docker0:\n    IPADDR: (unset) -> \"172.20.56.17\""),
        "{report}"
    );
    assert!(report.contains("-TYPE=bridge\n+TYPE=Bridge"), "{report}");
    for named in [
        "ifcfg-docker0:2: TYPE=bridge (lower case)",
        "docker.service:2: `docker daemon` is Docker 1.x's command",
        "docker.service:2: --storage-driver=overlay",
    ] {
        assert!(report.contains(named), "{named}\n{report}");
    }
    let text = std::fs::read_to_string(&original).unwrap();
    assert!(
        text.contains("# /etc/sysconfig/network-scripts/ifcfg-docker0:2: TYPE=bridge"),
        "{text}"
    );
    // dockerhost-01's own settings, and the overlay the write-up ran; no boot MAC (no file has it).
    let (_, diagnostics, fleet_model) = hostnet::load_fleet(&fleet.hosts());
    let fleet_model = fleet_model.unwrap_or_else(|| panic!("{diagnostics:?}"));
    let imported = fleet_model.host("dockerhost-01").unwrap();
    let (_, _, example) = hostnet::load_fleet(&common::example_fleet());
    let example = example.unwrap();
    let expected = example.host("dockerhost-01").unwrap();
    assert_eq!(imported.management, expected.management);
    assert_eq!(imported.containers, expected.containers);
    assert_eq!(imported.bond, expected.bond);
    assert_eq!(imported.fqdn, expected.fqdn);
    assert_eq!(imported.sysctl, expected.sysctl);
    assert_eq!(
        imported.docker.storage_driver,
        hostnet::model::StorageDriver::Overlay
    );
    assert_eq!(imported.boot_mac, None);
    let docker_without_driver = |d: &hostnet::model::Docker| {
        let mut d = d.clone();
        d.storage_driver = hostnet::model::StorageDriver::Overlay2;
        d
    };
    assert_eq!(
        docker_without_driver(&imported.docker),
        docker_without_driver(&expected.docker)
    );
}

/// What a definition cannot say is kept as a comment, never dropped; a VLAN not in the catalog
/// says what to add; a tarball imports like a directory.
#[test]
fn what_cannot_be_said_is_kept_and_an_unknown_vlan_says_what_to_add() {
    let fleet = Fleet::example();
    let source = tempfile::tempdir().unwrap();
    let rendered = source.path().join("tree");
    assert!(
        fleet
            .run(&[
                "render",
                "dockerhost-03",
                "--out",
                rendered.to_str().unwrap()
            ])
            .status
            .success()
    );
    let scripts = rendered.join("etc/sysconfig/network-scripts");
    std::fs::write(
        scripts.join("route-bond0.51"),
        "10.99.0.0/16 via 10.20.51.254\n",
    )
    .unwrap();
    std::fs::write(
        scripts.join("ifcfg-bond0.51:1"),
        "DEVICE=bond0.51:1\nIPADDR=10.20.51.99\nPREFIX=24\n",
    )
    .unwrap();
    std::fs::write(
        scripts.join("ifcfg-eth9"),
        "DEVICE=eth9\nBOOTPROTO=dhcp\nONBOOT=\"$(reboot)\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(rendered.join("etc/sysctl.d")).unwrap();
    std::fs::write(
        rendered.join("etc/sysctl.d/50-extra.conf"),
        "vm.swappiness = 10\n",
    )
    .unwrap();
    std::fs::create_dir_all(rendered.join("etc/modules-load.d")).unwrap();
    std::fs::write(
        rendered.join("etc/modules-load.d/extra.conf"),
        "br_netfilter\n",
    )
    .unwrap();
    std::fs::remove_file(fleet.hosts().join("rack-a/dockerhost-03.toml")).unwrap();
    let tarball = source.path().join("host.tar.gz");
    common::run_ok(
        "tar",
        &[
            "-C",
            rendered.to_str().unwrap(),
            "-czf",
            tarball.to_str().unwrap(),
            "etc",
        ],
    );
    let output = fleet.run(&[
        "import",
        tarball.to_str().unwrap(),
        "--name",
        "dockerhost-03",
        "--group",
        "rack-a",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = std::fs::read_to_string(fleet.hosts().join("rack-a/dockerhost-03.toml")).unwrap();
    for kept in [
        "# /etc/sysconfig/network-scripts/route-bond0.51: routes and rules of their own",
        "# /etc/sysconfig/network-scripts/ifcfg-bond0.51:1: bond0.51:1 is an alias address",
        "# /etc/sysconfig/network-scripts/ifcfg-eth9:3: \"ONBOOT=\\\"$(reboot)\\\"\": the shell would expand or run part of it",
        "# /etc/sysconfig/network-scripts/ifcfg-eth9: configures eth9",
        "# /etc/sysctl.d/50-extra.conf:1: vm.swappiness = 10: now also in hostnet's sysctl file",
        "# /etc/modules-load.d/extra.conf:1: loads br_netfilter",
    ] {
        assert!(text.contains(kept), "{kept}\n{text}");
    }
    assert!(text.contains("\"vm.swappiness\" = \"10\""), "{text}");
    assert!(fleet.run(&["check"]).status.success());

    // A VLAN the catalog lacks: the entry to add, and nothing written.
    let site = std::fs::read_to_string(fleet.hosts().join("site.toml")).unwrap();
    fleet.write("site.toml", &site.replace("id = 51", "id = 52"));
    std::fs::remove_file(fleet.hosts().join("rack-a/dockerhost-03.toml")).unwrap();
    refused(
        &fleet,
        &[tarball.to_str().unwrap(), "--name", "dockerhost-03"],
        "the management address 10.20.51.23/24 is in no VLAN of the site's catalog with id 51; add [vlans.NAME] with id = 51, subnet = \"10.20.51.0/24\"",
        "dockerhost-03",
    );
}

/// Hostile sources: a value that would run code, a huge file, binary data, a link out of the
/// tree, a tarball member leaving it: each a clear error, nothing written.
#[test]
fn hostile_sources_get_a_clear_error_and_nothing_is_written() {
    let fleet = Fleet::example();
    let work = tempfile::tempdir().unwrap();
    let base = work.path().join("base");
    assert!(
        fleet
            .run(&["render", "dockerhost-03", "--out", base.to_str().unwrap()])
            .status
            .success()
    );
    std::fs::remove_file(fleet.hosts().join("rack-a/dockerhost-03.toml")).unwrap();
    let scripts = "etc/sysconfig/network-scripts";
    let variant = |name: &str, change: &dyn Fn(&Path)| {
        let dir = work.path().join(name);
        common::copy_tree(&base, &dir);
        change(&dir);
        dir
    };
    let cases: Vec<(std::path::PathBuf, &str)> = vec![
        (
            variant("injected", &|d| {
                let file = d.join(scripts).join("ifcfg-bond0.51");
                let text = std::fs::read_to_string(&file).unwrap();
                std::fs::write(
                    &file,
                    text.replace(
                        "IPADDR=10.20.51.23",
                        "IPADDR=\"10.20.51.23$(touch /tmp/pwned)\"",
                    ),
                )
                .unwrap();
            }),
            "the shell would expand or run part of it",
        ),
        (
            variant("huge", &|d| {
                std::fs::write(
                    d.join(scripts).join("ifcfg-huge"),
                    "#".repeat(2 * 1024 * 1024),
                )
                .unwrap();
            }),
            "larger than 1024 KiB",
        ),
        (
            variant("binary", &|d| {
                std::fs::write(d.join(scripts).join("ifcfg-bin"), [0u8, 1, 2, 0xff]).unwrap();
            }),
            "binary data",
        ),
        (
            variant("linked", &|d| {
                std::os::unix::fs::symlink("/etc/shadow", d.join(scripts).join("ifcfg-shadow"))
                    .unwrap();
            }),
            "a symbolic link",
        ),
    ];
    for (source, says) in &cases {
        let source = source.to_str().unwrap();
        refused(
            &fleet,
            &[source, "--name", "dockerhost-03"],
            says,
            "dockerhost-03",
        );
    }
    assert!(!Path::new("/tmp/pwned").exists());
    // A tarball whose member leaves the tree.
    let tarball = work.path().join("escape.tar");
    {
        let file = std::fs::File::create(&tarball).unwrap();
        let mut builder = tar::Builder::new(file);
        let mut header = tar::Header::new_gnu();
        let text = b"DEVICE=x\n";
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        let name = b"etc/sysconfig/network-scripts/../../../../tmp/ifcfg-x";
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_cksum();
        builder.append(&header, &text[..]).unwrap();
        builder.finish().unwrap();
    }
    refused(
        &fleet,
        &[tarball.to_str().unwrap(), "--name", "dockerhost-03"],
        "leaves the tree; refused",
        "dockerhost-03",
    );
}

/// The write-up's files alone (no docker unit, no resolv.conf): the slice is missing, said with
/// how to give it, and nothing written; given with --slice, the host imports, with no DNS servers
/// (none of its files names one).
#[test]
fn a_slice_no_file_gives_is_asked_for_and_taken_from_the_command_line() {
    let fleet = Fleet::example();
    let source = tempfile::tempdir().unwrap();
    common::copy_tree(
        &repo_root().join("tests/fixtures/el7-seed-host/etc"),
        &source.path().join("etc"),
    );
    std::fs::remove_file(fleet.hosts().join("dockerhost-01.toml")).unwrap();
    let source = source.path().to_str().unwrap();
    let output = fleet.run(&["import", source, "--name", "dockerhost-01"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("containers.slice: missing"),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("give it with --slice"),
        "{}",
        stderr(&output)
    );
    assert!(!fleet.hosts().join("dockerhost-01.toml").exists());
    let output = fleet.run(&[
        "import",
        source,
        "--name",
        "dockerhost-01",
        "--slice",
        "172.20.56.16/28",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = std::fs::read_to_string(fleet.hosts().join("dockerhost-01.toml")).unwrap();
    assert!(
        text.contains("slice = \"172.20.56.16/28\"") && text.contains("dns = []"),
        "{text}"
    );
    assert!(fleet.run(&["check"]).status.success());
}

/// Several hosts at once (a folder each, named by its etc/hostname): all written, and the settings
/// they share proposed for their group file, never their own addresses.
#[test]
fn several_hosts_import_at_once_with_their_shared_settings_proposed() {
    let fleet = Fleet::example();
    let work = tempfile::tempdir().unwrap();
    let mut sources = Vec::new();
    for (name, address, slice) in [
        ("web1", "10.20.51.60", "172.20.56.192/28"),
        ("web2", "10.20.51.61", "172.20.56.208/28"),
    ] {
        fleet.write(
            &format!("{name}.toml"),
            &format!("[bond]\nmode = \"active-backup\"\n[management]\naddress = \"{address}\"\n[containers]\nslice = \"{slice}\"\n[docker]\nlog-driver = \"json-file\"\n"),
        );
        let tree = work.path().join(name);
        assert!(
            fleet
                .run(&["render", name, "--out", tree.to_str().unwrap()])
                .status
                .success()
        );
        std::fs::write(tree.join("etc/hostname"), format!("{name}.example.com\n")).unwrap();
        std::fs::remove_file(fleet.hosts().join(format!("{name}.toml"))).unwrap();
        sources.push(tree);
    }
    let mut args = vec!["import"];
    args.extend(sources.iter().map(|s| s.to_str().unwrap()));
    let output = fleet.run(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    let report = stdout(&output);
    let proposal = &report[report
        .find("the 2 hosts share these settings")
        .expect("a proposal")..];
    assert!(
        proposal.contains("[bond]\nmode = \"active-backup\""),
        "{proposal}"
    );
    assert!(
        proposal.contains("[docker]\nlog-driver = \"json-file\""),
        "{proposal}"
    );
    assert!(
        !proposal.contains("address") && !proposal.contains("slice"),
        "{proposal}"
    );
    for name in ["web1", "web2"] {
        assert!(fleet.hosts().join(format!("{name}.toml")).exists());
    }
    assert!(fleet.run(&["check"]).status.success());
}

/// Many generated hosts, each a different mix of what a definition can say (bond mode, miimon and
/// options, MTUs, a tagged or untagged management address, DNS servers, the bridge and its
/// address, docker's drivers, registries and extra flags, extra sysctl settings): each, rendered
/// and imported, renders the same files again.
#[test]
fn generated_hosts_import_to_definitions_that_render_them_again() {
    let fleet = Fleet::example();
    // Room for their slices: the container VLAN widened to a /23.
    let site = std::fs::read_to_string(fleet.hosts().join("site.toml")).unwrap();
    fleet.write(
        "site.toml",
        &site.replace("subnet = \"172.20.56.0/24\"", "subnet = \"172.20.56.0/23\""),
    );
    let modes = [
        ("balance-rr", ""),
        ("active-backup", "primary = \"enp2s0f1\"\n"),
        (
            "802.3ad",
            "lacp_rate = \"fast\"\nxmit_hash_policy = \"layer3+4\"\n",
        ),
        ("balance-xor", "xmit_hash_policy = \"layer2+3\"\n"),
        ("balance-alb", ""),
    ];
    let drivers = [
        ("overlay2", "journald"),
        ("devicemapper", "json-file"),
        ("btrfs", "local"),
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n) as usize
    };
    let work = tempfile::tempdir().unwrap();
    for i in 0..12 {
        let (mode, options) = modes[next(modes.len() as u64)];
        let (storage, log) = drivers[next(drivers.len() as u64)];
        let name = format!("gen-{i:02}");
        let tagged = next(4) != 0;
        let mut text = format!(
            "[bond]\nmode = \"{mode}\"\nmiimon = {}\n",
            [100, 200, 50][next(3)]
        );
        if next(2) == 0 {
            text.push_str("mtu = 9000\n");
        }
        if !options.is_empty() {
            text.push_str(&format!("[bond.options]\n{options}"));
        }
        text.push_str(&format!(
            "[management]\ntagged = {tagged}\naddress = \"10.20.51.{}\"\n",
            100 + i
        ));
        match next(3) {
            0 => text.push_str("dns = []\n"),
            1 => text.push_str("dns = [\"10.20.0.99\"]\n"),
            _ => {}
        }
        text.push_str(&format!(
            "[containers]\nslice = \"172.20.57.{}/28\"\n",
            i * 16
        ));
        if next(3) == 0 {
            text.push_str(&format!(
                "bridge = \"br{i}\"\nbridge-address = \"172.20.57.{}\"\n",
                i * 16 + 5
            ));
        }
        text.push_str(&format!(
            "[docker]\nstorage-driver = \"{storage}\"\nlog-driver = \"{log}\"\n"
        ));
        if next(2) == 0 {
            text.push_str("registry-mirrors = []\ninsecure-registries = [\"10.0.0.0/8\", \"reg.example.com:5000\"]\n");
        }
        if next(2) == 0 {
            text.push_str("extra-flags = [\"--live-restore\", \"--userland-proxy=false\"]\n");
        }
        if next(2) == 0 {
            text.push_str(
                "[sysctl]\n\"net.core.somaxconn\" = 1024\n\"vm.max_map_count\" = 262144\n",
            );
        }
        fleet.write(&format!("{name}.toml"), &text);
        let check = fleet.run(&["check"]);
        assert!(
            check.status.success(),
            "{name}:\n{text}\n{}",
            stderr(&check)
        );
        let before = work.path().join(format!("{name}-before"));
        let rendered = render(&fleet, &name, &before);
        std::fs::remove_file(fleet.hosts().join(format!("{name}.toml"))).unwrap();
        let imported = fleet.run(&["import", before.to_str().unwrap(), "--name", &name]);
        assert!(
            imported.status.success(),
            "{name}:\n{text}\n{}",
            stderr(&imported)
        );
        let after = work.path().join(format!("{name}-after"));
        assert_eq!(
            render(&fleet, &name, &after),
            rendered,
            "{name}: from\n{text}\nimported as\n{}",
            std::fs::read_to_string(fleet.hosts().join(format!("{name}.toml"))).unwrap()
        );
    }
}
