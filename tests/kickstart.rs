//! Kickstarts and PXE entries: golden text for the seed's host, `ksvalidator -v RHEL7` (the real
//! parser anaconda uses) on every example host and on hosts that exercise each option, the refusal of
//! plain-text passwords, and template overrides.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Fleet, build, repo_root, require_tool, stderr, stdout};

const EPOCH: &str = "1700000000";

fn build_unsigned(fleet: &Fleet) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dist");
    let output = build(fleet, None, &out, EPOCH);
    assert!(output.status.success(), "{}", stderr(&output));
    (dir, out)
}

/// ksvalidator's whole output for a valid kickstart: the banner and nothing else (no warning),
/// for the syntax its `#version=` line names (RHEL7, RHEL8 or RHEL9, by the host's target).
fn ksvalidate(path: &Path) {
    require_tool("ksvalidator");
    let text = std::fs::read_to_string(path).unwrap();
    let version = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("#version="))
        .unwrap_or_else(|| panic!("{} starts with #version=", path.display()));
    let output = Command::new("ksvalidator")
        .args(["-v", version])
        .arg(path)
        .output()
        .unwrap();
    let report = format!("{}{}", stdout(&output), stderr(&output));
    assert!(output.status.success(), "{}:\n{report}", path.display());
    let expected = format!("\nChecking kickstart file {}\n\n", path.display());
    assert_eq!(
        report,
        expected,
        "ksvalidator said more than the banner for {}",
        path.display()
    );
}

#[test]
fn dockerhost_01_kickstart_matches_the_golden_file() {
    let fleet = Fleet::example();
    let (_dir, out) = build_unsigned(&fleet);
    let text = std::fs::read_to_string(out.join("kickstart/dockerhost-01.ks")).unwrap();
    let golden = repo_root().join("tests/golden/kickstart/dockerhost-01.ks");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(&golden, &text).unwrap();
    }
    assert_eq!(
        text,
        std::fs::read_to_string(&golden).unwrap(),
        "UPDATE_GOLDEN=1 regenerates after a deliberate change"
    );
    // The seed's values, read from the text.
    let network = text
        .lines()
        .find(|l| l.starts_with("network --device="))
        .unwrap();
    assert_eq!(
        network,
        "network --device=bond0 --bondslaves=enp2s0f0,enp2s0f1 --bondopts=mode=balance-rr,miimon=100 --vlanid=51 --bootproto=static --ip=10.20.51.21 --netmask=255.255.255.0 --gateway=10.20.51.1 --nameserver=10.20.0.53,10.20.0.54 --activate --onboot=yes"
    );
    assert!(text.contains("\nnetwork --hostname=dockerhost-01.example.com\n"));
    assert!(text.contains("if ! yum -y install hostnet-dockerhost-01; then"));
    assert!(text.contains("%post --erroronfail"));
    assert!(text.contains(
        "    repo_gpgcheck=1 \\\n    gpgkey=http://repo.example.com/hostnet/RPM-GPG-KEY-hostnet \\\n    > /etc/yum.repos.d/hostnet.repo\n"
    ));
}

#[test]
fn every_example_kickstart_passes_ksvalidator() {
    let fleet = Fleet::example();
    let (_dir, out) = build_unsigned(&fleet);
    for (host, version) in [
        ("dockerhost-01", "RHEL7"),
        ("dockerhost-02", "RHEL7"),
        ("dockerhost-03", "RHEL7"),
        ("dockerhost-04", "RHEL9"),
        ("dockerhost-05", "RHEL8"),
    ] {
        let path = out.join(format!("kickstart/{host}.ks"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(&format!("#version={version}\n")), "{host}");
        ksvalidate(&path);
    }
}

/// Hosts and site settings that exercise each option, each validated by ksvalidator.
#[test]
fn kickstarts_exercising_each_option_pass_ksvalidator() {
    let fleet = Fleet::example();
    // Untagged management on an active-backup bond with ARP monitoring (bondopts need ';').
    fleet.write(
        "untagged.toml",
        "[bond]\nslaves = [\"eno1\", \"eno2\"]\nmode = \"active-backup\"\nmiimon = 0\n[bond.options]\narp_interval = 200\narp_ip_target = \"10.20.51.1,10.20.51.2\"\nprimary = \"eno1\"\n[management]\ntagged = false\naddress = \"10.20.51.60\"\n[containers]\nslice = \"172.20.56.96/28\"\n",
    );
    // An explicit FQDN, own gateway and DNS, another bridge name.
    fleet.write(
        "custom.toml",
        "fqdn = \"custom.other.example.org\"\nboot-mac = \"52:54:00:aa:bb:cc\"\n[management]\naddress = \"10.20.51.61\"\ngateway = \"10.20.51.254\"\ndns = [\"10.20.0.99\"]\n[containers]\nbridge = \"br136\"\nslice = \"172.20.56.112/28\"\n",
    );
    let site = std::fs::read_to_string(fleet.hosts().join("site.toml")).unwrap();
    // The other branch of every site option.
    let variant = site
        .replace("disks = [\"sda\"]\n", "packages = [\"vim-enhanced\", \"@base\"]\nselinux = \"permissive\"\nfirewall = false\nreboot = false\nautopart = \"thinp\"\nlang = \"de_DE.UTF-8\"\nkeyboard = \"de-nodeadkeys\"\nservices-enabled = [\"network\", \"sshd\", \"chronyd\"]\nservices-disabled = []\n")
        .replace("ssh-keys = [", "# ssh-keys = [")
        .replace("[kickstart.repos.docker-ce]\nurl = \"http://repo.example.com/docker-ce/7/x86_64/stable\"\ngpgkey = \"http://repo.example.com/docker-ce/gpg\"\n", "");
    for (label, site_text) in [
        ("default options", site.clone()),
        ("other options", variant),
    ] {
        fleet.write("site.toml", &site_text);
        let (_dir, out) = build_unsigned(&fleet);
        for entry in std::fs::read_dir(out.join("kickstart")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "ks") {
                continue;
            }
            ksvalidate(&path);
            let text = std::fs::read_to_string(&path).unwrap();
            if path.ends_with("untagged.ks") {
                assert!(text.contains("--bondopts=mode=active-backup;miimon=0;arp_interval=200;arp_ip_target=10.20.51.1,10.20.51.2;primary=eno1 --bootproto=static"), "{label}: {text}");
                assert!(!text.contains("--vlanid"), "{label}");
            }
            if path.ends_with("custom.ks") {
                assert!(
                    text.contains("--gateway=10.20.51.254 --nameserver=10.20.0.99")
                        && text.contains("network --hostname=custom.other.example.org"),
                    "{label}"
                );
            }
            if label == "other options" {
                assert!(
                    text.contains("selinux --permissive")
                        && text.contains("firewall --disabled")
                        && text.contains("\npoweroff\n"),
                    "{text}"
                );
                assert!(
                    text.contains("\nvim-enhanced\n@base\n%end")
                        && !text.contains("authorized_keys")
                        && !text.contains("--disabled="),
                    "{text}"
                );
            }
        }
    }
}

#[test]
fn plain_text_passwords_are_errors() {
    let fleet = Fleet::example();
    let site = std::fs::read_to_string(fleet.hosts().join("site.toml")).unwrap();
    let hash_line = site
        .lines()
        .find(|l| l.starts_with("root-password-hash"))
        .unwrap()
        .to_string();
    let line_number = site
        .lines()
        .position(|l| l.starts_with("root-password-hash"))
        .unwrap()
        + 1;

    fleet.write(
        "site.toml",
        &site.replace(&hash_line, "root-password = \"hunter2\""),
    );
    let output = fleet.run(&["check"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains(&format!("hosts/site.toml:{line_number}:17: error: kickstart.root-password: plain-text passwords are refused")),
        "{err}"
    );
    assert!(
        !err.contains(": warning:") && err.contains("1 error(s), 0 warning(s)"),
        "an error, not a warning: {err}"
    );

    fleet.write(
        "site.toml",
        &site.replace(&hash_line, "root-password-hash = \"hunter2\""),
    );
    let output = fleet.run(&["check"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains(&format!("hosts/site.toml:{line_number}:22: error: kickstart.root-password-hash: is not a SHA-512 or SHA-256 crypt(3) hash")),
        "{}",
        stderr(&output)
    );
    // And nothing is built from such definitions.
    let dir = tempfile::tempdir().unwrap();
    let output = build(&fleet, None, &dir.path().join("dist"), EPOCH);
    assert_eq!(output.status.code(), Some(1));
    assert!(!dir.path().join("dist").exists());
}

#[test]
fn hostile_kickstart_settings_are_rejected() {
    let fleet = Fleet::example();
    let site = std::fs::read_to_string(fleet.hosts().join("site.toml")).unwrap();
    for (from, to, message) in [
        (
            "timezone = \"Etc/UTC\"",
            "timezone = \"UTC\\n%post\\nreboot\"",
            "kickstart.timezone: \"UTC\\n%post\\nreboot\" is not a time zone",
        ),
        (
            "repo-url = \"http://repo.example.com/hostnet\"",
            "repo-url = \"http://repo.example.com/$(reboot)\"",
            "kickstart.repo-url: \"http://repo.example.com/$(reboot)\" contains '$'",
        ),
        (
            "ops@example.com\"]",
            "ops@example.com'; reboot; '\"]",
            "kickstart.ssh-keys[0]: the key's comment contains '\\''",
        ),
        (
            "kernel = \"centos7/vmlinuz\"",
            "kernel = \"centos7/vmlinuz initrd=evil\"",
            "pxe.kernel: \"centos7/vmlinuz initrd=evil\" is not a path",
        ),
        (
            "kernel-args = [\"console=tty0\"",
            "kernel-args = [\"console=tty0 inst.ks=http://evil\"",
            "pxe.kernel-args[0]: \"console=tty0 inst.ks=http://evil\" contains a space",
        ),
        (
            "disks = [\"sda\"]",
            "disks = [\"sda\"]\nselinux = \"strict\"",
            "kickstart.selinux: \"strict\" is not an SELinux mode; use one of enforcing, permissive, disabled",
        ),
        (
            "disks = [\"sda\"]",
            "disks = [\"sda\", \"sda\"]",
            "kickstart.disks[1]: \"sda\" is listed twice",
        ),
        (
            "disks = [\"sda\"]",
            "disks = [\"sda\"]\nautopart = \"--type=plain\"",
            "kickstart.autopart: \"--type=plain\" starts with '-', so the installer would read it as an option",
        ),
    ] {
        assert!(site.contains(from), "{from}");
        fleet.write("site.toml", &site.replace(from, to));
        let output = fleet.run(&["check"]);
        assert_eq!(output.status.code(), Some(1), "{to}");
        assert!(
            stderr(&output).contains(message),
            "{to}: {}",
            stderr(&output)
        );
    }
}

/// Every URL setting, each with every class of hostile text: shell substitution in the host part
/// (where `file://` URLs went unchecked), in the path, GRUB's `$` and `;`, line breaks that would end
/// a `%post` command, a heredoc or a kickstart line, quotes, comments, credentials and schemes the
/// setting's consumer cannot fetch.
#[test]
fn every_url_setting_refuses_every_class_of_hostile_url() {
    let fleet = Fleet::example();
    let site = std::fs::read_to_string(fleet.hosts().join("site.toml")).unwrap();
    let settings = [
        (
            "kickstart.install-url",
            "install-url = \"http://mirror.example.com/centos/7/os/x86_64\"",
        ),
        (
            "kickstart.repo-url",
            "repo-url = \"http://repo.example.com/hostnet\"",
        ),
        (
            "kickstart.repos.docker-ce.url",
            "url = \"http://repo.example.com/docker-ce/7/x86_64/stable\"",
        ),
        (
            "kickstart.repos.docker-ce.gpgkey",
            "gpgkey = \"http://repo.example.com/docker-ce/gpg\"",
        ),
        (
            "pxe.kickstart-url",
            "kickstart-url = \"http://ks.example.com/hostnet/kickstart\"",
        ),
    ];
    let hostile = [
        "file://$(touch /pwned)/repo",
        "http://$(touch /pwned)/repo",
        "http://repo.example.com/`touch /pwned`",
        "http://repo.example.com/a;touch /pwned",
        "file://$root;touch/ks",
        "http://repo.example.com/${root}",
        "http://repo.example.com/a|b",
        "http://repo.example.com/a&b",
        "http://repo.example.com/a'b",
        "http://repo.example.com/a\\\"b",
        "http://repo.example.com/a b",
        "http://repo.example.com/a\\nHOSTNET_REPO\\ntouch /pwned",
        "http://repo.example.com/a\\r\\n%post",
        "http://repo.example.com/a\\u0000b",
        "http://repo.example.com/#comment",
        "http://repo.example.com/?x=1",
        "http://repo.example.com/%24%28id%29",
        "http://user:secret@repo.example.com/",
        "http://repo.example.com:0/",
        "http://repo_example.com/",
        "http://[::1/",
        "javascript://repo.example.com/",
        "repo.example.com/hostnet",
        "-http://repo.example.com/",
    ];
    for (setting, line) in settings {
        assert!(site.contains(line), "{line}");
        let key = line.split(" = ").next().unwrap();
        for url in hostile {
            fleet.write(
                "site.toml",
                &site.replace(line, &format!("{key} = \"{url}\"")),
            );
            let output = fleet.run(&["check"]);
            let report = stderr(&output);
            assert_eq!(
                output.status.code(),
                Some(1),
                "{setting} = {url:?}: {report}"
            );
            assert!(
                report.contains(&format!("error: {setting}: ")),
                "{setting} = {url:?} not refused by name: {report}"
            );
        }
    }
    // The installer fetches trees and kickstarts over the network only; yum also reads file:///.
    for (line, replacement) in [
        (settings[0].1, "install-url = \"file:///srv/centos\""),
        (settings[4].1, "kickstart-url = \"file:///srv/ks\""),
    ] {
        fleet.write("site.toml", &site.replace(line, replacement));
        let output = fleet.run(&["check"]);
        assert_eq!(output.status.code(), Some(1), "{replacement}");
        assert!(
            stderr(&output).contains("has the scheme \"file\""),
            "{}",
            stderr(&output)
        );
    }
}

/// Installer arguments hostnet writes itself cannot be added a second time, and no kickstart value
/// may start with `-` (anaconda would read it as an option).
#[test]
fn kernel_arguments_hostnet_writes_and_option_like_values_are_refused() {
    let fleet = Fleet::example();
    let site = std::fs::read_to_string(fleet.hosts().join("site.toml")).unwrap();
    let args_line = "kernel-args = [\"console=tty0\", \"console=ttyS0,115200\"]";
    assert!(site.contains(args_line));
    for (argument, setting) in [
        ("inst.ks=http://evil.example.com/x.ks", "pxe.kickstart-url"),
        ("ks=http://evil.example.com/x.ks", "pxe.kickstart-url"),
        (
            "inst.repo=http://evil.example.com/",
            "kickstart.install-url",
        ),
        ("ip=dhcp", "pxe.installer-vlan"),
        ("bond=bond0:eth0", "pxe.installer-vlan"),
        ("vlan=bond0.51:bond0", "pxe.installer-vlan"),
        ("nameserver=10.0.0.1", "dns"),
        ("BOOTIF=01-aa-bb-cc-dd-ee-ff", "pxelinux appends it itself"),
        ("initrd=evil.img", "pxe.initrd"),
    ] {
        fleet.write(
            "site.toml",
            &site.replace(
                args_line,
                &format!("kernel-args = [\"console=tty0\", \"{argument}\"]"),
            ),
        );
        let output = fleet.run(&["check"]);
        let report = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{argument}: {report}");
        assert!(
            report.contains("error: pxe.kernel-args[1]: ") && report.contains(setting),
            "{argument}: {report}"
        );
    }
    for (from, to, setting) in [
        (
            "timezone = \"Etc/UTC\"",
            "lang = \"--addsupport\"",
            "kickstart.lang",
        ),
        (
            "timezone = \"Etc/UTC\"",
            "timezone = \"--utc\"",
            "kickstart.timezone",
        ),
        (
            "timezone = \"Etc/UTC\"",
            "keyboard = \"-x\"",
            "kickstart.keyboard",
        ),
        (
            "disks = [\"sda\"]",
            "disks = [\"--all\"]",
            "kickstart.disks[0]",
        ),
        (
            "timezone = \"Etc/UTC\"",
            "services-enabled = [\"-x\"]",
            "kickstart.services-enabled[0]",
        ),
    ] {
        fleet.write("site.toml", &site.replace(from, to));
        let output = fleet.run(&["check"]);
        let report = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{to}: {report}");
        assert!(
            report.contains(&format!("error: {setting}: ")) && report.contains("starts with '-'"),
            "{to}: {report}"
        );
    }
}

/// URLs that are valid but unusual reach the kickstart and the boot entries as they were written,
/// and ksvalidator reads the kickstart without a warning.
#[test]
fn unusual_but_valid_urls_pass_ksvalidator() {
    let fleet = Fleet::example();
    let site = std::fs::read_to_string(fleet.hosts().join("site.toml")).unwrap();
    let site = site
        .replace(
            "install-url = \"http://mirror.example.com/centos/7/os/x86_64\"",
            "install-url = \"https://[fd00::10]:8443/centos/7/os/x86_64\"",
        )
        .replace(
            "repo-url = \"http://repo.example.com/hostnet\"",
            "repo-url = \"http://10.0.0.5:8080/a+b,c=d~e@f:g/hostnet/\"",
        )
        .replace(
            "kickstart-url = \"http://ks.example.com/hostnet/kickstart\"",
            "kickstart-url = \"ftp://Ks.Example.COM/ks\"",
        );
    fleet.write("site.toml", &site);
    let (_dir, out) = build_unsigned(&fleet);
    let kickstart = out.join("kickstart/dockerhost-01.ks");
    ksvalidate(&kickstart);
    let text = std::fs::read_to_string(&kickstart).unwrap();
    assert!(
        text.contains("url --url=https://[fd00::10]:8443/centos/7/os/x86_64\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "rpm --import 'http://10.0.0.5:8080/a+b,c=d~e@f:g/hostnet/RPM-GPG-KEY-hostnet'\n"
        ),
        "{text}"
    );
}

#[test]
fn templates_can_be_overridden_and_their_errors_name_file_and_line() {
    let fleet = Fleet::example();
    let overrides = fleet.dir.path().join("overrides/kickstart");
    std::fs::create_dir_all(&overrides).unwrap();
    std::fs::write(
        overrides.join("packages.ks.j2"),
        "%packages\n@core\nbridge-utils\nchrony\n%end\n",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dist");
    let run = |extra: &[&str]| {
        let mut args = vec!["build", "--unsigned", "--out", out.to_str().unwrap()];
        args.extend(extra);
        Command::new(env!("CARGO_BIN_EXE_hostnet"))
            .args(&args)
            .current_dir(fleet.dir.path())
            .env("SOURCE_DATE_EPOCH", EPOCH)
            .output()
            .unwrap()
    };
    let output = run(&["--templates", "overrides"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = std::fs::read_to_string(out.join("kickstart/dockerhost-01.ks")).unwrap();
    assert!(
        text.contains("%packages\n@core\nbridge-utils\nchrony\n%end"),
        "{text}"
    );
    ksvalidate(&out.join("kickstart/dockerhost-01.ks"));

    // The same from the site file.
    let site = std::fs::read_to_string(fleet.hosts().join("site.toml")).unwrap();
    fleet.write(
        "site.toml",
        &site.replace(
            "[kickstart]\n",
            "[kickstart]\ntemplate-dir = \"../overrides\"\n",
        ),
    );
    let output = run(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        std::fs::read_to_string(out.join("kickstart/dockerhost-01.ks"))
            .unwrap()
            .contains("chrony")
    );

    // A broken override: the error names the file and the line; the previous output stays.
    std::fs::write(
        overrides.join("network.ks.j2"),
        "# line 1\nnetwork --device={{ net.bond }\n",
    )
    .unwrap();
    let output = run(&["--templates", "overrides"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.lines()
            .any(|l| l.starts_with("overrides/kickstart/network.ks.j2:2:30: error: syntax error")),
        "{err}"
    );
    assert!(
        std::fs::read_to_string(out.join("kickstart/dockerhost-01.ks"))
            .unwrap()
            .contains("chrony")
    );
    // An undefined variable is an error too, not an empty string.
    std::fs::write(
        overrides.join("network.ks.j2"),
        "network --device={{ net.no_such_thing }}\n",
    )
    .unwrap();
    let output = run(&["--templates", "overrides"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).lines().any(|l| l == "overrides/kickstart/network.ks.j2:1:21: error: undefined value: `net.no_such_thing` is undefined"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn pxe_entries_for_hosts_with_a_boot_mac() {
    let fleet = Fleet::example();
    fleet.write(
        "nomac.toml",
        "[management]\naddress = \"10.20.51.70\"\n[containers]\nslice = \"172.20.56.176/28\"\n",
    );
    let (_dir, out) = build_unsigned(&fleet);
    let pxelinux =
        std::fs::read_to_string(out.join("pxe/pxelinux.cfg/01-52-54-00-20-51-21")).unwrap();
    assert!(
        pxelinux.contains("  KERNEL centos7/vmlinuz\n"),
        "{pxelinux}"
    );
    assert!(pxelinux.contains("  APPEND initrd=centos7/initrd.img inst.ks=http://ks.example.com/hostnet/kickstart/dockerhost-01.ks inst.repo=http://mirror.example.com/centos/7/os/x86_64 ip=dhcp console=tty0 console=ttyS0,115200\n"), "{pxelinux}");
    let grub = std::fs::read_to_string(out.join("pxe/grub.cfg-01-52-54-00-20-51-21")).unwrap();
    assert!(grub.contains("  linuxefi centos7/vmlinuz inst.ks=http://ks.example.com/hostnet/kickstart/dockerhost-01.ks "), "{grub}");
    assert!(grub.contains("  initrdefi centos7/initrd.img\n"), "{grub}");
    let entries: Vec<String> = std::fs::read_dir(out.join("pxe/pxelinux.cfg"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        entries.len(),
        5,
        "no entry for the host without a boot-mac: {entries:?}"
    );
    assert!(out.join("kickstart/nomac.ks").exists());

    // Over the tagged VLAN: dracut's bond=, vlan= and ip= for the management network.
    let site = std::fs::read_to_string(fleet.hosts().join("site.toml")).unwrap();
    fleet.write(
        "site.toml",
        &site.replace("[pxe]\n", "[pxe]\ninstaller-vlan = true\n"),
    );
    // MACs are normalised: upper case and dashes in, the canonical form out.
    fleet.append("rack-a/dockerhost-02.toml", "");
    let host = std::fs::read_to_string(fleet.hosts().join("rack-a/dockerhost-02.toml")).unwrap();
    fleet.write(
        "rack-a/dockerhost-02.toml",
        &host.replace("52:54:00:20:51:22", "52-54-00-20-51-AB"),
    );
    let (_dir, out) = build_unsigned(&fleet);
    let pxelinux =
        std::fs::read_to_string(out.join("pxe/pxelinux.cfg/01-52-54-00-20-51-21")).unwrap();
    assert!(
        pxelinux.contains("bond=bond0:enp2s0f0,enp2s0f1:mode=balance-rr,miimon=100 vlan=bond0.51:bond0 ip=10.20.51.21::10.20.51.1:255.255.255.0:dockerhost-01.example.com:bond0.51:none nameserver=10.20.0.53 nameserver=10.20.0.54"),
        "{pxelinux}"
    );
    assert!(out.join("pxe/pxelinux.cfg/01-52-54-00-20-51-ab").exists());
    assert!(out.join("pxe/grub.cfg-01-52-54-00-20-51-ab").exists());
}

#[test]
fn without_a_kickstart_table_there_are_no_kickstarts_and_pxe_needs_one() {
    let fleet = Fleet::example();
    let site = std::fs::read_to_string(fleet.hosts().join("site.toml")).unwrap();
    let cut = site.find("\n# Unattended installs").unwrap();
    fleet.write("site.toml", &site[..cut]);
    let (_dir, out) = build_unsigned(&fleet);
    assert!(!out.join("kickstart").exists() && !out.join("pxe").exists());
    fleet.write("site.toml", &format!("{}\n[pxe]\nkickstart-url = \"http://ks.example.com\"\nkernel = \"k\"\ninitrd = \"i\"\n", &site[..cut]));
    let output = fleet.run(&["check"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output)
            .contains("pxe: boot entries point at kickstarts; add a [kickstart] table too"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn bond_options_dracut_cannot_take_are_refused_when_the_installer_uses_the_vlan() {
    let (fleet, site) = Fleet::with_a_bond_option_the_installer_cannot_take();
    let output = fleet.run(&["check"]);
    assert_eq!(output.status.code(), Some(1));
    let line = site.lines().position(|l| l == "[pxe]").unwrap() + 2;
    assert!(
        stderr(&output).contains(&format!(
            "hosts/site.toml:{line}:18: error: pxe.installer-vlan: host arp's bond option arp_ip_target=10.20.51.1,10.20.51.2 cannot be given to dracut"
        )),
        "{}",
        stderr(&output)
    );
    // Without a boot MAC the host gets no PXE entry, so nothing to refuse.
    let host = std::fs::read_to_string(fleet.hosts().join("arp.toml")).unwrap();
    fleet.write(
        "arp.toml",
        &host.replace("boot-mac = \"52:54:00:aa:00:01\"\n", ""),
    );
    assert_eq!(
        fleet.run(&["check"]).status.code(),
        Some(0),
        "{}",
        stderr(&fleet.run(&["check"]))
    );
}

#[test]
fn check_renders_the_site_templates_too() {
    let fleet = Fleet::example();
    let overrides = fleet.hosts().join("ks-templates/kickstart");
    std::fs::create_dir_all(&overrides).unwrap();
    std::fs::write(
        overrides.join("post.ks.j2"),
        "%post\necho {{ host.no_such_field }}\n%end\n",
    )
    .unwrap();
    let site = std::fs::read_to_string(fleet.hosts().join("site.toml")).unwrap();
    fleet.write(
        "site.toml",
        &site.replace(
            "[kickstart]\n",
            "[kickstart]\ntemplate-dir = \"ks-templates\"\n",
        ),
    );
    let output = fleet.run(&["check"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("ks-templates/kickstart/post.ks.j2:2:"),
        "{}",
        stderr(&output)
    );
}

/// GRUB's own parser reads every entry hostnet writes, unusual valid URLs included; and a value
/// that validation would refuse never reaches a boot entry even when it gets past validation.
#[test]
fn boot_entries_parse_in_grub_and_never_carry_what_boot_loaders_expand() {
    require_tool("grub-script-check");
    let fleet = Fleet::example();
    let site = std::fs::read_to_string(fleet.hosts().join("site.toml")).unwrap();
    fleet.write(
        "site.toml",
        &site
            .replace(
                "kickstart-url = \"http://ks.example.com/hostnet/kickstart\"",
                "kickstart-url = \"http://[fd00::5]:8080/ks+x,y=z~w@v\"",
            )
            .replace("[pxe]\n", "[pxe]\ninstaller-vlan = true\n"),
    );
    let (_dir, out) = build_unsigned(&fleet);
    let mut checked = 0;
    for entry in std::fs::read_dir(out.join("pxe")).unwrap() {
        let path = entry.unwrap().path();
        if !path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("grub.cfg-")
        {
            continue;
        }
        let output = Command::new("grub-script-check")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}: {}{}",
            path.display(),
            stdout(&output),
            stderr(&output)
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(" inst.ks=http://[fd00::5]:8080/ks+x,y=z~w@v/"),
            "{text}"
        );
        checked += 1;
    }
    assert_eq!(checked, 5);

    let (_, diagnostics, fleet) = hostnet::load_fleet(&common::example_fleet());
    let fleet = fleet.unwrap_or_else(|| panic!("{diagnostics:?}"));
    let host = fleet.host("dockerhost-01").unwrap();
    let kickstart = fleet.site.kickstart.clone().unwrap();
    for hostile in [
        "file://$root;reboot/ks",
        "http://x/${prefix}",
        "http://x/a b",
        "http://x/a\"b",
        "http://x/a'b",
        "http://x/a{b}",
        "http://x/a|b",
        "http://x/a\nb",
        "http://x/#b",
    ] {
        let mut pxe = fleet.site.pxe.clone().unwrap();
        pxe.kickstart_url = hostile.into();
        let error = hostnet::kickstart::pxe::grub_entry(&pxe, &kickstart, host)
            .expect_err(hostile)
            .to_string();
        assert!(error.contains("refusing to write"), "{error}");
        assert!(hostnet::kickstart::pxe::pxelinux_entry(&pxe, &kickstart, host).is_err());
        let mut pxe = fleet.site.pxe.clone().unwrap();
        pxe.kernel_args.push(hostile.replace("http://x/", "x="));
        assert!(
            hostnet::kickstart::pxe::grub_entry(&pxe, &kickstart, host).is_err(),
            "{hostile}"
        );
    }
}

/// Each target installs from its own tree and boots its own installer: a site whose el7 and el9
/// hosts would share one is refused, naming the table to add; and services that mean nothing on
/// el8/el9 are reported where they are set, and left out of those hosts' kickstarts.
#[test]
fn targets_get_their_own_installer_and_services_that_mean_nothing_are_reported() {
    let fleet = Fleet::example();
    let site = std::fs::read_to_string(fleet.hosts().join("site.toml")).unwrap();
    let start = site.find("[kickstart.targets.el9]").unwrap();
    let end = site.find("# PXE: per-MAC entries").unwrap();
    fleet.write("site.toml", &format!("{}{}", &site[..start], &site[end..]));
    let check = fleet.run(&["check"]);
    assert_eq!(check.status.code(), Some(1), "{}", stdout(&check));
    assert!(
        stderr(&check).contains("error: kickstart: el7 and el9 hosts would install from the same tree (http://mirror.example.com/centos/7/os/x86_64); give each target its own, e.g. [kickstart.targets.el9] install-url = \"...\""),
        "{}",
        stderr(&check)
    );
    let without_pxe = site.replace(
        "[pxe.targets.el9]\nkernel = \"rocky9/vmlinuz\"\ninitrd = \"rocky9/initrd.img\"\n",
        "",
    );
    fleet.write("site.toml", &without_pxe);
    let check = fleet.run(&["check"]);
    assert!(
        stderr(&check).contains(
            "error: pxe: el7 and el9 hosts would boot the same installer (centos7/vmlinuz)"
        ),
        "{}",
        stderr(&check)
    );

    fleet.write(
        "site.toml",
        &site.replace(
            "disks = [\"sda\"]\n",
            "disks = [\"sda\"]\nservices-enabled = [\"network\", \"sshd\"]\nservices-disabled = [\"NetworkManager\", \"postfix\"]\n",
        ),
    );
    let check = fleet.run(&["check"]);
    assert!(check.status.success(), "{}", stderr(&check));
    for expected in [
        "warning: kickstart.services-enabled: \"network\" means nothing for el8 hosts: there is no network.service",
        "warning: kickstart.services-disabled: \"NetworkManager\" means nothing for el8 hosts: NetworkManager owns their network",
    ] {
        assert!(
            stderr(&check).contains(expected),
            "{expected}:\n{}",
            stderr(&check)
        );
    }
    let (_dir, out) = build_unsigned(&fleet);
    let el7 = std::fs::read_to_string(out.join("kickstart/dockerhost-01.ks")).unwrap();
    assert!(
        el7.contains("\nservices --enabled=network,sshd --disabled=NetworkManager,postfix\n"),
        "{el7}"
    );
    let el9 = std::fs::read_to_string(out.join("kickstart/dockerhost-04.ks")).unwrap();
    assert!(
        el9.contains("\nservices --enabled=NetworkManager,sshd --disabled=postfix\n"),
        "{el9}"
    );
    for host in ["dockerhost-01", "dockerhost-04", "dockerhost-05"] {
        ksvalidate(&out.join(format!("kickstart/{host}.ks")));
    }
}

/// `repo-key-url`: where the signing key is, when the repository server does not serve
/// `RPM-GPG-KEY-hostnet` beside it (Pulp serves the key its signing service signs with as
/// `repodata/repomd.xml.key`); checked as every URL is.
#[test]
fn the_signing_key_url_goes_into_the_post_and_the_repo_file() {
    let fleet = Fleet::example();
    let site = std::fs::read_to_string(fleet.hosts().join("site.toml")).unwrap();
    let repo_url = "repo-url = \"http://repo.example.com/hostnet\"";
    let with_key =
        |url: &str| site.replace(repo_url, &format!("{repo_url}\nrepo-key-url = \"{url}\""));
    let key = "https://pulp.example.com/pulp/content/hostnet/repodata/repomd.xml.key";
    fleet.write("site.toml", &with_key(key));
    let (_dir, out) = build_unsigned(&fleet);
    let kickstart = std::fs::read_to_string(out.join("kickstart/dockerhost-04.ks")).unwrap();
    assert!(
        kickstart.contains(&format!("\nrpm --import {key}\n")),
        "{kickstart}"
    );
    assert!(
        kickstart.contains(&format!("    gpgkey={key} \\\n")),
        "{kickstart}"
    );
    let repo_file = std::fs::read_to_string(out.join("repo/hostnet.repo")).unwrap();
    assert!(
        repo_file.contains(&format!("\ngpgkey={key}\n")),
        "{repo_file}"
    );
    ksvalidate(&out.join("kickstart/dockerhost-04.ks"));
    for hostile in [
        "http://repo.example.com/`touch /pwned`",
        "file://$(touch /pwned)/key",
        "http://repo.example.com/a b",
        "-http://repo.example.com/key",
    ] {
        fleet.write("site.toml", &with_key(hostile));
        let output = fleet.run(&["check"]);
        assert_eq!(output.status.code(), Some(1), "{hostile}");
        assert!(
            stderr(&output).contains("error: kickstart.repo-key-url: "),
            "{hostile}: {}",
            stderr(&output)
        );
    }
}
