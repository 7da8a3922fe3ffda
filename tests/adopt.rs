//! Adding hosts and seeing the fleet: `hostnet new` writes a definition with the next free
//! management address and container slice, which `check` accepts; `hostnet list` shows every host
//! with its group, target, addresses and current version.

mod common;

use common::{Fleet, build, stderr, stdout};

#[test]
fn new_takes_the_next_free_address_and_slice_and_the_fleet_still_checks() {
    let fleet = Fleet::example();
    let output = fleet.run(&["new", "web01"]);
    assert!(output.status.success(), "{}", stderr(&output));
    // .1 is the gateway; .21-.23 are the example hosts. The first /28 of the container VLAN holds
    // its gateway, the next three are the example hosts'.
    let text = std::fs::read_to_string(fleet.hosts().join("web01.toml")).unwrap();
    assert!(text.contains("address = \"10.20.51.2\""), "{text}");
    assert!(text.contains("slice = \"172.20.56.64/28\""), "{text}");
    assert!(
        !text.lines().any(|l| l.starts_with("boot-mac")),
        "no MAC until one is given: {text}"
    );
    let output = fleet.run(&["new", "web02", "--group", "rack-a"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = std::fs::read_to_string(fleet.hosts().join("rack-a/web02.toml")).unwrap();
    assert!(text.contains("address = \"10.20.51.3\""), "{text}");
    assert!(text.contains("slice = \"172.20.56.80/28\""), "{text}");
    let check = fleet.run(&["check"]);
    assert!(check.status.success(), "{}", stderr(&check));
    assert!(stdout(&check).contains("7 hosts checked"));

    // Refused, writing nothing: a name taken, a bad name, a folder outside the tree or missing.
    for (args, says) in [
        (vec!["new", "web01"], "host web01 is already defined"),
        (vec!["new", "Bad_Name"], "host name \"Bad_Name\""),
        (
            vec!["new", "web03", "--group", "../elsewhere"],
            "give a folder of the definitions tree",
        ),
        (vec!["new", "web03", "--group", "rack-z"], "no such folder"),
    ] {
        let output = fleet.run(&args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&output).contains(says),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    assert!(!fleet.hosts().join("web03.toml").exists());
    assert!(!fleet.dir.path().join("elsewhere").exists());
}

#[test]
fn new_refuses_a_full_vlan_and_a_broken_fleet() {
    let fleet = Fleet::example();
    let site = std::fs::read_to_string(fleet.hosts().join("site.toml")).unwrap();
    // A /25 container VLAN holds eight /28 slices: the first holds the gateway and the network
    // address, the last the broadcast address, three are the el7 example hosts': three are free.
    // (Rack B's hosts have slices beyond the /25.)
    std::fs::remove_dir_all(fleet.hosts().join("rack-b")).unwrap();
    fleet.write(
        "site.toml",
        &site.replace("subnet = \"172.20.56.0/24\"", "subnet = \"172.20.56.0/25\""),
    );
    for name in ["web01", "web02", "web03"] {
        let output = fleet.run(&["new", name]);
        assert!(output.status.success(), "{name}: {}", stderr(&output));
    }
    let output = fleet.run(&["new", "web04"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output)
            .contains("VLAN containers (136) has no free /28 slice left in 172.20.56.0/25"),
        "{}",
        stderr(&output)
    );
    assert!(!fleet.hosts().join("web04.toml").exists());
    assert!(fleet.run(&["check"]).status.success());
    for name in ["web01", "web02", "web03"] {
        std::fs::remove_file(fleet.hosts().join(format!("{name}.toml"))).unwrap();
    }
    fleet.write("site.toml", &site);
    fleet.write("broken.toml", "[management]\naddress = \"nope\"\n");
    let output = fleet.run(&["new", "web01"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("fix them first"),
        "{}",
        stderr(&output)
    );
    assert!(!fleet.hosts().join("web01.toml").exists());
}

#[test]
fn list_shows_every_host_with_its_group_addresses_and_version() {
    let fleet = Fleet::example();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let before = fleet.run(&["list", "--out", out.to_str().unwrap()]);
    assert!(before.status.success(), "{}", stderr(&before));
    assert_eq!(
        stdout(&before),
        "host           group   target  address      slice             version\n\
         dockerhost-01  -       el7     10.20.51.21  172.20.56.16/28   -\n\
         dockerhost-02  rack-a  el7     10.20.51.22  172.20.56.32/28   -\n\
         dockerhost-03  rack-a  el7     10.20.51.23  172.20.56.48/28   -\n\
         dockerhost-04  rack-b  el9     10.20.51.24  172.20.56.128/28  -\n\
         dockerhost-05  rack-b  el8     10.20.51.25  172.20.56.144/28  -\n"
    );
    assert!(build(&fleet, None, &out, "1700000000").status.success());
    let json = fleet.run(&["list", "--out", out.to_str().unwrap(), "--format", "json"]);
    assert!(json.status.success(), "{}", stderr(&json));
    let value: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    let hosts = value.as_array().unwrap();
    assert_eq!(hosts.len(), 5);
    assert_eq!(hosts[3]["target"], "el9");
    assert_eq!(hosts[1]["host"], "dockerhost-02");
    assert_eq!(hosts[1]["group"], "rack-a");
    assert_eq!(hosts[1]["version"], "1-1");
    assert_eq!(hosts[1]["slice"], "172.20.56.32/28");
}
