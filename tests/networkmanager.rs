//! An el9 host's package installed for real with rpm into a throwaway Debian root: its keyfiles
//! land root-only, every other profile of its devices (keyfiles, and ifcfg files NetworkManager's
//! ifcfg-rh plugin reads) is moved aside, including ports that name the old bond only by its
//! UUID as anaconda writes them, unrelated profiles stay, and erase gives them back.

mod common;

use common::root::{Root, assert_root, mode, tools_path};
use common::{Fleet, build, hostnet_key, package_path, require_tool, stderr, stdout};

const CONNECTIONS: &str = "etc/NetworkManager/system-connections";
const ASIDE: &str = "var/lib/hostnet/moved-aside";

/// The example fleet with dockerhost-01 on el9.
fn fleet_with_an_el9_host() -> Fleet {
    let fleet = Fleet::example();
    let text = std::fs::read_to_string(fleet.hosts().join("dockerhost-01.toml")).unwrap();
    fleet.write("dockerhost-01.toml", &format!("target = \"el9\"\n{text}"));
    fleet
}

/// Profiles a hand-configured EL9 host has: an anaconda-style bond named by UUID from its port,
/// an old profile of one of our NICs, an EL8-style ifcfg file of our VLAN, and an unrelated NIC.
fn existing_profiles(root: &Root) -> Vec<(&'static str, &'static str)> {
    let profiles = vec![
        (
            "etc/NetworkManager/system-connections/Bond connection 1.nmconnection",
            "[connection]\nid=Bond connection 1\nuuid=11111111-2222-4333-8444-555555555555\ntype=bond\ninterface-name=bond0\n\n[bond]\nmode=active-backup\n",
        ),
        (
            "etc/NetworkManager/system-connections/bond0_slave_2.nmconnection",
            "[connection]\nid=bond0_slave_2\nuuid=66666666-2222-4333-8444-555555555555\ntype=ethernet\nmaster=11111111-2222-4333-8444-555555555555\nslave-type=bond\n\n[ethernet]\nmac-address=52:54:00:AA:BB:CC\n",
        ),
        (
            "etc/NetworkManager/system-connections/Wired connection 1.nmconnection",
            "[connection]\nid=Wired connection 1\nuuid=77777777-2222-4333-8444-555555555555\ntype=ethernet\ninterface-name=enp2s0f0\n\n[ipv4]\nmethod=auto\n",
        ),
        (
            "etc/sysconfig/network-scripts/ifcfg-bond0.51",
            "DEVICE=bond0.51\nVLAN=yes\nPHYSDEV=bond0\nONBOOT=yes\n",
        ),
        (
            "etc/NetworkManager/system-connections/eth5.nmconnection",
            "[connection]\nid=eth5\nuuid=88888888-2222-4333-8444-555555555555\ntype=ethernet\ninterface-name=eth5\n",
        ),
    ];
    for (path, content) in &profiles {
        let file = root.file(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, content).unwrap();
        std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
    }
    profiles
}

#[test]
fn el9_package_moves_other_profiles_of_its_devices_aside_and_erase_gives_them_back() {
    assert_root();
    require_tool("rpm");
    let work = tempfile::tempdir().unwrap();
    let (secret, _) = hostnet_key(work.path(), "el9-install-test");
    let fleet = fleet_with_an_el9_host();
    let out = work.path().join("dist");
    let built = build(&fleet, Some(&secret), &out, "1700000000");
    assert!(built.status.success(), "{}", stderr(&built));

    let root = Root::with_base("dockerhost-01", work.path());
    root.chroot("useradd -m apps");
    let profiles = existing_profiles(&root);
    root.rpm_ok(&[
        "--import",
        out.join("repo/RPM-GPG-KEY-hostnet").to_str().unwrap(),
    ]);
    root.rpm_ok(&["-i", tools_path(&out).to_str().unwrap()]);
    let installed = root.rpm_ok(&[
        "-i",
        package_path(&out, "dockerhost-01", 1).to_str().unwrap(),
    ]);
    let log = format!("{}{}", stdout(&installed), stderr(&installed));
    assert!(log.contains("moved these profiles"), "{log}");

    for device in [
        "bond0",
        "bond0.51",
        "bond0.136",
        "docker0",
        "enp2s0f0",
        "enp2s0f1",
    ] {
        let keyfile = root.file(&format!("{CONNECTIONS}/{device}.nmconnection"));
        assert_eq!(mode(&keyfile), 0o600, "{}", keyfile.display());
    }
    // The four profiles of our devices are aside, byte for byte; the unrelated one stays.
    for (path, content) in &profiles[..4] {
        let name = path.rsplit('/').next().unwrap();
        assert!(!root.file(path).exists(), "{path} was moved aside");
        assert_eq!(&root.read(&format!("{ASIDE}/{name}")), content, "{name}");
    }
    assert_eq!(&root.read(profiles[4].0), profiles[4].1);
    let verified = root.rpm(&["-V", "hostnet-dockerhost-01"], &[]);
    assert!(verified.status.success(), "{}", stdout(&verified));

    root.rpm_ok(&["-e", "hostnet-dockerhost-01"]);
    for (path, content) in &profiles {
        assert_eq!(&root.read(path), content, "{path} is back");
        assert_eq!(mode(&root.file(path)), 0o600, "{path}");
    }
    assert!(
        !root
            .file(&format!("{CONNECTIONS}/bond0.nmconnection"))
            .exists()
    );
    assert!(!root.file(ASIDE).exists());
}
