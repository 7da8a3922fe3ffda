//! Real installs with rpm into a throwaway Debian root (debootstrap minbase, `/bin/sh` as bash):
//! scriptlets run, signatures are enforced, dependencies are resolved against a stub that stands in
//! for EL7's base packages (no `--nodeps`), and install, upgrade, conflict, identity guard and erase
//! behave as the package promises.

mod common;

use std::path::Path;
use std::process::Command;

use common::root::{
    Root, assert_root, base_stub, dnf_with, install_upgrade_downgrade, mode, tools_path,
};
use common::{Fleet, build, hostnet_key, package_path, require_tool, run_ok, stderr, stdout};

const EPOCH: &str = "1700000000";

#[test]
fn install_upgrade_conflict_identity_and_erase_in_a_debian_root() {
    assert_root();
    require_tool("rpm");
    let work = tempfile::tempdir().unwrap();
    let (secret, _) = hostnet_key(work.path(), "install-test");
    let fleet = Fleet::example();
    let out = work.path().join("dist");
    let output = build(&fleet, Some(&secret), &out, EPOCH);
    assert!(output.status.success(), "{}", stderr(&output));
    let v1 = package_path(&out, "dockerhost-01", 1);
    let other_host = package_path(&out, "dockerhost-02", 1);

    let root = Root::with_base("dockerhost-01", work.path());
    root.chroot("useradd -m apps");
    // An ifcfg file of the operator's for one of our NICs, one for an unrelated device, and one in the
    // way of ours (unowned, as anaconda leaves them).
    let scripts = root.file("etc/sysconfig/network-scripts");
    std::fs::create_dir_all(&scripts).unwrap();
    std::fs::write(
        scripts.join("ifcfg-old-nic"),
        "DEVICE=\"enp2s0f0\"\nBOOTPROTO=dhcp\nONBOOT=yes\n",
    )
    .unwrap();
    std::fs::write(scripts.join("ifcfg-lo"), "DEVICE=lo\nIPADDR=127.0.0.1\n").unwrap();
    // A VLAN of ours the operator made by hand: moved aside, and given back on erase (its name
    // ends in .52, as a second copy's did in older versions).
    std::fs::write(
        scripts.join("ifcfg-bond0.52"),
        "DEVICE=bond0.52\nVLAN=yes\nPHYSDEV=bond0\nONBOOT=no\n",
    )
    .unwrap();
    std::fs::write(
        scripts.join("ifcfg-bond0"),
        "DEVICE=bond0\nTYPE=Bond\nUUID=abc\n",
    )
    .unwrap();

    // Signature enforcement: without the key imported, even our package is refused.
    let refused = root.rpm(&["-i", v1.to_str().unwrap()], &[]);
    assert!(
        !refused.status.success(),
        "installed without the signing key imported"
    );
    assert!(root.installed("hostnet-dockerhost-01").is_none());
    root.rpm_ok(&[
        "--import",
        out.join("repo/RPM-GPG-KEY-hostnet").to_str().unwrap(),
    ]);

    // Install: the tools every host package requires, then the host's package.
    root.rpm_ok(&["-ivh", tools_path(&out).to_str().unwrap()]);
    assert_eq!(mode(&root.file("usr/sbin/hostnet-verify")), 0o755);
    let installed = root.rpm_ok(&["-ivh", v1.to_str().unwrap()]);
    let log = format!("{}{}", stdout(&installed), stderr(&installed));
    assert_eq!(
        root.installed("hostnet-dockerhost-01").as_deref(),
        Some("1-1")
    );
    assert!(
        log.contains("moved these ifcfg files") && log.contains("ifcfg-old-nic"),
        "install log:\n{log}"
    );
    assert!(
        log.contains("hostnet-apply [--restart-docker], then hostnet-apply --confirm"),
        "{log}"
    );
    let group = root.read("etc/group");
    let docker_line = group
        .lines()
        .find(|l| l.starts_with("docker:"))
        .unwrap_or_else(|| panic!("{group}"));
    assert!(
        docker_line.ends_with(":apps"),
        "apps joins the docker group: {docker_line}"
    );
    assert!(
        root.read("etc/passwd")
            .lines()
            .any(|l| l.starts_with("docker:") && l.ends_with(":/var/lib/docker:/sbin/nologin"))
    );
    for file in [
        "etc/sysconfig/network-scripts/ifcfg-bond0.51",
        "etc/sysctl.d/90-hostnet.conf",
        "etc/systemd/system/docker.service.d/hostnet.conf",
        "etc/modules-load.d/bonding.conf",
    ] {
        assert_eq!(mode(&root.file(file)), 0o644, "{file}");
    }
    assert_eq!(
        mode(&root.file("etc/systemd/system/docker.service.d")),
        0o755
    );
    assert!(
        root.read("etc/sysconfig/network-scripts/ifcfg-docker0")
            .contains("TYPE=Bridge")
    );
    assert!(!scripts.join("ifcfg-old-nic").exists());
    assert!(
        root.file("var/lib/hostnet/moved-aside/ifcfg-old-nic")
            .exists()
    );
    assert_eq!(
        std::fs::read_to_string(scripts.join("ifcfg-lo")).unwrap(),
        "DEVICE=lo\nIPADDR=127.0.0.1\n",
        "unrelated files stay"
    );
    assert!(
        scripts.join("ifcfg-bond0.rpmorig").exists(),
        "rpm keeps the unowned file it replaced as .rpmorig"
    );
    let verify = root.rpm(&["-V", "hostnet-dockerhost-01"], &[]);
    assert!(
        verify.status.success() && stdout(&verify).is_empty(),
        "rpm -V: {}{}",
        stdout(&verify),
        stderr(&verify)
    );

    // Installing it again over itself changes nothing and the scriptlets stay quiet about users.
    let reinstall = root.rpm_ok(&["-Uvh", "--replacepkgs", v1.to_str().unwrap()]);
    assert!(
        !stderr(&reinstall).contains("could not add")
            && !stderr(&reinstall).contains("could not create"),
        "{}",
        stderr(&reinstall)
    );

    // One hostnet host package per machine: another host's package conflicts even when forced past
    // the identity guard.
    let conflict = root.rpm(
        &["-i", other_host.to_str().unwrap()],
        &[("HOSTNET_IGNORE_IDENTITY", "1")],
    );
    assert!(!conflict.status.success());
    assert!(
        stderr(&conflict).contains("conflicts with"),
        "{}",
        stderr(&conflict)
    );

    // Upgrade to a changed configuration.
    fleet.append(
        "dockerhost-01.toml",
        "\n[sysctl]\n\"net.core.somaxconn\" = 4096\n",
    );
    let output = build(&fleet, Some(&secret), &out, "1700003600");
    assert!(output.status.success(), "{}", stderr(&output));
    let v2 = package_path(&out, "dockerhost-01", 2);
    root.rpm_ok(&["-Uvh", v2.to_str().unwrap()]);
    assert_eq!(
        root.installed("hostnet-dockerhost-01").as_deref(),
        Some("2-1")
    );
    // %pre left hostnet-apply the configuration from before the first install, and kept it through
    // the reinstall and the upgrade: nothing was applied meanwhile, so that is what still runs.
    let snapshot = root.file("var/lib/hostnet/apply/pre-install");
    let manifest = std::fs::read_to_string(snapshot.join("manifest")).unwrap();
    assert!(
        manifest
            .lines()
            .any(|l| l == "/etc/sysconfig/network-scripts/ifcfg-old-nic"),
        "{manifest}"
    );
    assert!(!manifest.contains("ifcfg-bond0.51"), "{manifest}");
    assert!(
        snapshot
            .join("files/etc/sysconfig/network-scripts/ifcfg-old-nic")
            .exists()
    );
    assert!(
        root.read("etc/sysctl.d/90-hostnet.conf")
            .contains("net.core.somaxconn = 4096")
    );
    let verify = root.rpm(&["-V", "hostnet-dockerhost-01"], &[]);
    assert!(
        verify.status.success() && stdout(&verify).is_empty(),
        "rpm -V after upgrade: {}",
        stdout(&verify)
    );
    assert!(
        root.read("etc/group")
            .lines()
            .any(|l| l.starts_with("docker:"))
    );

    // Erase: our files go, the group stays, the operator's file comes back.
    root.rpm_ok(&["-e", "hostnet-dockerhost-01"]);
    assert!(root.installed("hostnet-dockerhost-01").is_none());
    for file in [
        "etc/sysconfig/network-scripts/ifcfg-bond0.51",
        "etc/sysctl.d/90-hostnet.conf",
        "etc/systemd/system/docker.service.d/hostnet.conf",
    ] {
        assert!(!root.file(file).exists(), "{file} left after erase");
    }
    assert!(!root.file("etc/systemd/system/docker.service.d").exists());
    assert!(
        root.read("etc/group")
            .lines()
            .any(|l| l.starts_with("docker:")),
        "the group outlives the package"
    );
    assert!(
        scripts.join("ifcfg-old-nic").exists(),
        "moved-aside file restored on erase"
    );
    assert_eq!(
        root.read("etc/sysconfig/network-scripts/ifcfg-bond0.52"),
        "DEVICE=bond0.52\nVLAN=yes\nPHYSDEV=bond0\nONBOOT=no\n",
        "a moved-aside VLAN file restored on erase"
    );
    assert!(
        !root.file("var/lib/hostnet/moved-aside").exists(),
        "the emptied moved-aside folder is removed"
    );
    assert!(
        !root.file("var/lib/hostnet/apply/pre-install").exists(),
        "%pre's snapshot goes with the package"
    );

    // The identity guard: dockerhost-02's package on dockerhost-01 is refused before anything changes.
    let refused = root.rpm(&["-i", other_host.to_str().unwrap()], &[]);
    assert!(!refused.status.success());
    let message = stderr(&refused);
    assert!(
        message.contains(
            "refusing to install hostnet-dockerhost-02: it was built for dockerhost-02.example.com"
        ),
        "{message}"
    );
    assert!(message.contains("HOSTNET_IGNORE_IDENTITY=1"), "{message}");
    assert!(root.installed("hostnet-dockerhost-02").is_none());
    assert!(
        !root
            .file("etc/sysconfig/network-scripts/ifcfg-bond0.51")
            .exists()
    );
    assert!(
        scripts.join("ifcfg-old-nic").exists(),
        "nothing was moved by a refused install"
    );
    // ... unless the operator says so.
    let forced = root.rpm(
        &["-i", other_host.to_str().unwrap()],
        &[("HOSTNET_IGNORE_IDENTITY", "1")],
    );
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert!(stderr(&forced).contains("installing anyway because HOSTNET_IGNORE_IDENTITY=1"));

    // Erasing the host package, then the tools, leaves no hostnet state.
    root.rpm_ok(&["-e", "hostnet-dockerhost-02"]);
    root.rpm_ok(&["-e", "hostnet-tools"]);
    assert!(
        !root.file("var/lib/hostnet").exists(),
        "left after erase: {:?}",
        walkdir::WalkDir::new(root.file("var/lib/hostnet"))
            .into_iter()
            .flatten()
            .map(|e| e.path().display().to_string())
            .collect::<Vec<_>>()
    );
}

/// Docker configuration a hand-configured host already has: a drop-in that sets `ExecStart`
/// (it sorts after hostnet's and would replace its flags without a word) and `daemon.json` keys
/// hostnet passes as flags (dockerd would refuse to start) make `%pre` refuse the install, naming
/// each file and the fix, before anything changes; unless the operator says so.
#[test]
fn docker_configuration_that_would_win_over_hostnets_is_refused_before_install() {
    assert_root();
    require_tool("rpm");
    let work = tempfile::tempdir().unwrap();
    let fleet = Fleet::example();
    let out = work.path().join("dist");
    let output = build(&fleet, None, &out, EPOCH);
    assert!(output.status.success(), "{}", stderr(&output));
    let package = package_path(&out, "dockerhost-01", 1);
    let root = Root::with_base("dockerhost-01", work.path());
    root.rpm_ok(&["-i", "--nosignature", tools_path(&out).to_str().unwrap()]);
    let dropins = root.file("etc/systemd/system/docker.service.d");
    std::fs::create_dir_all(&dropins).unwrap();
    std::fs::write(
        dropins.join("override.conf"),
        "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd -H fd://\n",
    )
    .unwrap();
    std::fs::write(
        dropins.join("limits.conf"),
        "[Service]\nLimitNOFILE=1048576\n",
    )
    .unwrap();
    std::fs::create_dir_all(root.file("etc/docker")).unwrap();
    std::fs::write(
        root.file("etc/docker/daemon.json"),
        "{\"bip\": \"172.17.0.1/16\", \"debug\": true}\n",
    )
    .unwrap();
    let refused = root.rpm(&["-i", "--nosignature", package.to_str().unwrap()], &[]);
    assert!(!refused.status.success());
    let message = stderr(&refused);
    for named in [
        "refusing to install hostnet-dockerhost-01",
        "/etc/systemd/system/docker.service.d/override.conf (sets ExecStart",
        "/etc/docker/daemon.json (sets options hostnet passes as dockerd flags",
        "HOSTNET_IGNORE_DOCKER_CONFIG=1",
    ] {
        assert!(message.contains(named), "{named}: {message}");
    }
    assert!(
        !message.contains("limits.conf"),
        "a drop-in without ExecStart is fine: {message}"
    );
    assert!(root.installed("hostnet-dockerhost-01").is_none());
    assert!(!dropins.join("hostnet.conf").exists());
    // Fixed, it installs; and an upgrade does not take hostnet's own drop-in for a conflict.
    std::fs::remove_file(dropins.join("override.conf")).unwrap();
    std::fs::write(root.file("etc/docker/daemon.json"), "{\"debug\": true}\n").unwrap();
    root.rpm_ok(&["-i", "--nosignature", package.to_str().unwrap()]);
    root.rpm_ok(&[
        "-U",
        "--replacepkgs",
        "--nosignature",
        package.to_str().unwrap(),
    ]);
    // Or forced, with a warning.
    std::fs::write(
        dropins.join("override.conf"),
        "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd\n",
    )
    .unwrap();
    let forced = root.rpm(
        &[
            "-U",
            "--replacepkgs",
            "--nosignature",
            package.to_str().unwrap(),
        ],
        &[("HOSTNET_IGNORE_DOCKER_CONFIG", "1")],
    );
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert!(stderr(&forced).contains("installing anyway because HOSTNET_IGNORE_DOCKER_CONFIG=1"));
}

#[test]
fn an_unsigned_package_is_refused_where_signatures_are_enforced() {
    assert_root();
    require_tool("rpm");
    let work = tempfile::tempdir().unwrap();
    let fleet = Fleet::example();
    let out = work.path().join("dist");
    assert!(build(&fleet, None, &out, EPOCH).status.success());
    let root = Root::new("dockerhost-01");
    root.rpm_ok(&[
        "-i",
        "--nosignature",
        base_stub(work.path()).to_str().unwrap(),
        tools_path(&out).to_str().unwrap(),
    ]);
    let refused = root.rpm(
        &[
            "-i",
            package_path(&out, "dockerhost-01", 1).to_str().unwrap(),
        ],
        &[],
    );
    assert!(!refused.status.success(), "{}", stdout(&refused));
    assert!(root.installed("hostnet-dockerhost-01").is_none());
}

/// dnf on `root` with the hostnet repo at `repo` (trusting the key published in `key_repo`, with
/// gpgcheck=1) and unchecked base capabilities from `base_repo`.
fn dnf_command(
    root: &Root,
    cache: &Path,
    repo: &Path,
    key_repo: &Path,
    base_repo: &Path,
) -> Command {
    dnf_with(
        root,
        cache,
        &format!("file://{}", repo.display()),
        &format!("file://{}", key_repo.join("RPM-GPG-KEY-hostnet").display()),
        base_repo,
        &[],
    )
}

/// `yum install hostnet-<host>` as a machine would do it, with dnf: the generated repo with
/// gpgcheck=1 and the published key, the base capabilities from a second repo made by createrepo_c.
#[test]
fn dnf_installs_from_the_generated_repo_with_gpgcheck() {
    assert_root();
    require_tool("dnf");
    require_tool("createrepo_c");
    let work = tempfile::tempdir().unwrap();
    let (secret, _) = hostnet_key(work.path(), "dnf-test");
    let fleet = Fleet::example();
    let out = work.path().join("dist");
    let output = build(&fleet, Some(&secret), &out, EPOCH);
    assert!(output.status.success(), "{}", stderr(&output));
    let base_repo = work.path().join("base");
    std::fs::create_dir(&base_repo).unwrap();
    base_stub(&base_repo);
    run_ok("createrepo_c", &["-q", base_repo.to_str().unwrap()]);

    let root = Root::new("dockerhost-01");
    let repo = out.join("repo");
    let dnf = |args: &[&str]| {
        dnf_command(&root, &work.path().join("cache"), &repo, &repo, &base_repo)
            .args(args)
            .output()
            .unwrap()
    };
    let query = dnf(&[
        "repoquery",
        "--repo=hostnet",
        "--qf",
        "%{name}-%{version}-%{release}",
        "hostnet-*",
    ]);
    assert_eq!(
        stdout(&query)
            .lines()
            .filter(|l| l.starts_with("hostnet-"))
            .collect::<Vec<_>>(),
        [
            "hostnet-dockerhost-01-1-1",
            "hostnet-dockerhost-02-1-1",
            "hostnet-dockerhost-03-1-1",
            "hostnet-dockerhost-04-1-1",
            "hostnet-dockerhost-05-1-1",
            "hostnet-tools-1-1"
        ],
        "{}",
        stderr(&query)
    );
    let installed = dnf(&["install", "hostnet-dockerhost-01"]);
    assert!(
        installed.status.success(),
        "{}{}",
        stdout(&installed),
        stderr(&installed)
    );
    assert_eq!(
        root.installed("hostnet-dockerhost-01").as_deref(),
        Some("1-1")
    );
    assert!(
        root.read("etc/sysconfig/network-scripts/ifcfg-bond0.136")
            .contains("BRIDGE=docker0")
    );

    // A repo whose package does not match the key fails dnf's gpgcheck.
    let (other_secret, _) = hostnet_key(work.path(), "not-the-published-key");
    let resigned = work.path().join("resigned");
    assert!(
        build(&fleet, Some(&other_secret), &resigned, EPOCH)
            .status
            .success()
    );
    std::fs::copy(
        repo.join("RPM-GPG-KEY-hostnet"),
        resigned.join("repo/RPM-GPG-KEY-hostnet"),
    )
    .unwrap();
    let root = Root::new("dockerhost-01");
    let mut command = dnf_command(
        &root,
        &work.path().join("cache2"),
        &resigned.join("repo"),
        &repo,
        &base_repo,
    );
    command.args(["install", "hostnet-dockerhost-01"]);
    let refused = command.output().unwrap();
    assert!(
        !refused.status.success(),
        "dnf installed a package signed by another key"
    );
    assert!(root.installed("hostnet-dockerhost-01").is_none());
}

/// The kickstart's `%post`, run in a root as anaconda runs it in the installed system, leaves exactly
/// the files a `yum install` on an existing machine leaves.
#[test]
fn kickstart_post_gives_the_same_files_as_yum_install() {
    assert_root();
    require_tool("rpm");
    let work = tempfile::tempdir().unwrap();
    let (secret, _) = hostnet_key(work.path(), "kickstart-test");
    let fleet = Fleet::example();
    // The repo as the installed system sees it; the docker-ce repo's key would need the network.
    let site = std::fs::read_to_string(fleet.hosts().join("site.toml")).unwrap();
    let site = site.replace("repo-url = \"http://repo.example.com/hostnet\"", "repo-url = \"file:///srv/hostnet\"").replace(
        "[kickstart.repos.docker-ce]\nurl = \"http://repo.example.com/docker-ce/7/x86_64/stable\"\ngpgkey = \"http://repo.example.com/docker-ce/gpg\"\n",
        "",
    );
    fleet.write("site.toml", &site);
    let out = work.path().join("dist");
    let output = build(&fleet, Some(&secret), &out, EPOCH);
    assert!(output.status.success(), "{}", stderr(&output));
    let kickstart = std::fs::read_to_string(out.join("kickstart/dockerhost-01.ks")).unwrap();
    let post = post_section(&kickstart);

    // Installed by kickstart: anaconda's files for the install network are in place, as it leaves them.
    let installed = Root::new("dockerhost-01");
    let stub = base_stub(work.path());
    installed.rpm_ok(&["-i", "--nosignature", stub.to_str().unwrap()]);
    run_ok(
        "cp",
        &[
            "-aL",
            out.join("repo").to_str().unwrap(),
            installed.file("srv/hostnet").to_str().unwrap(),
        ],
    );
    let scripts = installed.file("etc/sysconfig/network-scripts");
    std::fs::create_dir_all(&scripts).unwrap();
    for (name, text) in [
        (
            "ifcfg-bond0",
            "DEVICE=bond0\nNAME=bond0\nTYPE=Bond\nBONDING_MASTER=yes\nUUID=6f1c3a38-0000-4000-8000-000000000001\n",
        ),
        (
            "ifcfg-bond0_slave_1",
            "TYPE=Ethernet\nNAME=\"bond0 slave 1\"\nHWADDR=52:54:00:20:51:21\nMASTER=6f1c3a38-0000-4000-8000-000000000001\nSLAVE=yes\n",
        ),
        (
            "ifcfg-bond0_slave_2",
            "TYPE=Ethernet\nNAME=\"bond0 slave 2\"\nHWADDR=52:54:00:20:51:99\nMASTER=6f1c3a38-0000-4000-8000-000000000001\nSLAVE=yes\n",
        ),
        (
            "ifcfg-bond0.51",
            "DEVICE=bond0.51\nVLAN=yes\nIPADDR=10.20.51.21\nPREFIX=24\n",
        ),
        ("ifcfg-lo", "DEVICE=lo\nIPADDR=127.0.0.1\n"),
    ] {
        std::fs::write(scripts.join(name), text).unwrap();
    }
    // yum itself is tested against the generated repo in dnf_installs_from_the_generated_repo_with_gpgcheck;
    // here a stand-in installs from the configured file:// repo with signatures enforced.
    // What @core brings on EL7 and a Debian root lacks.
    std::fs::create_dir_all(installed.file("etc/yum.repos.d")).unwrap();
    let yum = installed.file("usr/local/bin/yum");
    std::fs::write(
        &yum,
        "#!/bin/sh\nset -e\n[ \"$1\" = -y ] && shift\n[ \"$1\" = install ] && shift\ngrep -q '^gpgcheck=1' /etc/yum.repos.d/hostnet.repo\nfor name; do rpm -i --define '_pkgverify_level signature' /srv/hostnet/Packages/hostnet-tools-[0-9]*.noarch.rpm /srv/hostnet/Packages/\"$name\"-[0-9]*.noarch.rpm; done\n",
    )
    .unwrap();
    run_ok("chmod", &["0755", yum.to_str().unwrap()]);
    std::fs::write(installed.file("root/ks-post.sh"), &post).unwrap();
    let ran = Command::new("chroot")
        .arg(&installed.path)
        .args(["/bin/bash", "/root/ks-post.sh"])
        .output()
        .unwrap();
    let log = format!("{}{}", stdout(&ran), stderr(&ran));
    assert!(ran.status.success(), "%post failed:\n{log}");
    assert!(
        log.contains("removing anaconda's ifcfg-bond0_slave_1"),
        "{log}"
    );
    assert_eq!(
        installed.installed("hostnet-dockerhost-01").as_deref(),
        Some("1-1")
    );
    assert!(
        installed
            .read("etc/yum.repos.d/hostnet.repo")
            .contains("gpgcheck=1\ngpgkey=file:///srv/hostnet/RPM-GPG-KEY-hostnet")
    );
    assert_eq!(
        installed.read("etc/yum.repos.d/hostnet.repo"),
        std::fs::read_to_string(out.join("repo/hostnet.repo")).unwrap(),
        "the .repo file a build publishes is the one the kickstart writes"
    );
    assert!(
        installed.installed("gpg-pubkey").is_some(),
        "the signing key is imported"
    );
    assert!(
        installed
            .read("root/.ssh/authorized_keys")
            .starts_with("ssh-ed25519 ")
    );

    // Installed by yum on an existing machine.
    let existing = Root::new("dockerhost-01");
    existing.rpm_ok(&["-i", "--nosignature", stub.to_str().unwrap()]);
    existing.rpm_ok(&[
        "--import",
        out.join("repo/RPM-GPG-KEY-hostnet").to_str().unwrap(),
    ]);
    existing.rpm_ok(&[
        "-i",
        tools_path(&out).to_str().unwrap(),
        package_path(&out, "dockerhost-01", 1).to_str().unwrap(),
    ]);

    let network_files = |root: &Root| -> Vec<(String, String)> {
        let mut files: Vec<(String, String)> =
            std::fs::read_dir(root.file("etc/sysconfig/network-scripts"))
                .unwrap()
                .map(|e| e.unwrap())
                .filter(|e| e.file_name() != "ifcfg-lo")
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        std::fs::read_to_string(e.path()).unwrap(),
                    )
                })
                .collect();
        files.sort();
        files
    };
    assert_eq!(
        network_files(&installed),
        network_files(&existing),
        "network-scripts after %post and after yum install"
    );
    let package_files = stdout(&run_ok(
        "rpm",
        &[
            "-qlp",
            "--nosignature",
            package_path(&out, "dockerhost-01", 1).to_str().unwrap(),
        ],
    ));
    for file in package_files.lines() {
        let (a, b) = (installed.file(file), existing.file(file));
        if a.is_dir() {
            assert!(b.is_dir(), "{file}");
        } else {
            assert_eq!(
                std::fs::read(&a).unwrap(),
                std::fs::read(&b).unwrap(),
                "{file}"
            );
            assert_eq!(mode(&a), mode(&b), "{file}");
        }
    }
    let verify = installed.rpm(&["-V", "hostnet-dockerhost-01"], &[]);
    assert!(
        verify.status.success() && stdout(&verify).is_empty(),
        "rpm -V: {}",
        stdout(&verify)
    );
}

/// The `%post` section of a kickstart.
fn post_section(kickstart: &str) -> String {
    kickstart
        .split("\n%post")
        .nth(1)
        .and_then(|rest| rest.split_once('\n'))
        .map(|(_, body)| body.split("\n%end").next().unwrap().to_string())
        .expect("a %post section")
}

/// Runs a `%post` in a fresh root with `rpm`, `yum` and `restorecon` replaced by
/// stubs that record their arguments, one NUL-terminated word each, a line per call. Returns the
/// root (to read what `%post` wrote) and the recorded calls.
fn run_post_with_stubs(post: &str) -> (Root, Vec<Vec<String>>) {
    let root = Root::new("dockerhost-01");
    let stubs = root.file("hostnet-stubs");
    std::fs::create_dir_all(&stubs).unwrap();
    for command in ["rpm", "yum", "restorecon"] {
        let stub = stubs.join(command);
        std::fs::write(
            &stub,
            format!(
                "#!/bin/bash\nprintf '%s\\0' {command} \"$@\" >> /hostnet-calls\nprintf '\\n' >> /hostnet-calls\n"
            ),
        )
        .unwrap();
        run_ok("chmod", &["0755", stub.to_str().unwrap()]);
    }
    std::fs::create_dir_all(root.file("etc/yum.repos.d")).unwrap();
    std::fs::write(root.file("root/ks-post.sh"), post).unwrap();
    let ran = Command::new("chroot")
        .arg(&root.path)
        .args(["/bin/bash", "/root/ks-post.sh"])
        .env_clear()
        .env("PATH", "/hostnet-stubs:/usr/sbin:/usr/bin:/sbin:/bin")
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "%post failed:\n{}{}",
        stdout(&ran),
        stderr(&ran)
    );
    let calls = std::fs::read_to_string(root.file("hostnet-calls")).unwrap_or_default();
    let calls = calls
        .lines()
        .map(|line| {
            line.split_terminator('\0')
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect();
    (root, calls)
}

/// The second wall: values that validation would refuse, rendered by the templates anyway, reach
/// bash in `%post` as data. Each is one argument of the command that should receive it, and none
/// of the command substitutions, separators or quotes in them runs anything.
#[test]
fn kickstart_post_passes_every_value_to_its_command_as_one_word() {
    assert_root();
    let (_, diagnostics, fleet) = hostnet::load_fleet(&common::example_fleet());
    let fleet = fleet.unwrap_or_else(|| panic!("{diagnostics:?}"));
    let host = fleet.host("dockerhost-01").unwrap();
    let mut settings = fleet.site.kickstart.clone().unwrap();
    let hostile_repo = "file://$(touch /pwned-1)/a;touch /pwned-2;'\"`touch /pwned-3`\\";
    let hostile_key = "http://x/$(touch /pwned-4)' && touch /pwned-5 #";
    let hostile_url = "http://x/${IFS}|touch /pwned-6&";
    settings.repo_url = hostile_repo.into();
    settings.repo_key_url = format!("{hostile_repo}/RPM-GPG-KEY-hostnet");
    settings.repos[0].url = hostile_url.into();
    settings.repos[0].gpgkey = Some(hostile_key.into());
    settings.ssh_keys = vec!["ssh-ed25519 AAAA $(touch /pwned-7)".into()];
    let templates = hostnet::templates::Templates::new(None).unwrap();
    let kickstart = hostnet::kickstart::render(&templates, &settings, host).unwrap();

    let (root, calls) = run_post_with_stubs(&post_section(&kickstart));
    for n in 1..=7 {
        assert!(!root.file(&format!("pwned-{n}")).exists(), "pwned-{n}");
        assert!(!Path::new(&format!("/pwned-{n}")).exists(), "pwned-{n}");
    }
    let imports: Vec<&Vec<String>> = calls
        .iter()
        .filter(|c| c.first().map(String::as_str) == Some("rpm"))
        .collect();
    assert_eq!(
        imports,
        [
            &vec![
                "rpm".to_string(),
                "--import".into(),
                format!("{hostile_repo}/RPM-GPG-KEY-hostnet")
            ],
            &vec!["rpm".to_string(), "--import".into(), hostile_key.into()],
        ],
        "{calls:?}"
    );
    assert_eq!(
        root.read("etc/yum.repos.d/hostnet.repo"),
        format!(
            "[hostnet]\nname=hostnet host configuration packages\nbaseurl={hostile_repo}\nenabled=1\ngpgcheck=1\nrepo_gpgcheck=1\ngpgkey={hostile_repo}/RPM-GPG-KEY-hostnet\n"
        )
    );
    assert!(
        root.read("etc/yum.repos.d/docker-ce.repo")
            .contains(&format!("\nbaseurl={hostile_url}\n"))
    );
    assert_eq!(
        root.read("root/.ssh/authorized_keys"),
        "ssh-ed25519 AAAA $(touch /pwned-7)\n"
    );
    assert!(calls.contains(&vec![
        "yum".to_string(),
        "-y".into(),
        "install".into(),
        "hostnet-dockerhost-01".into()
    ]));

    // A line break cannot be quoted into a line-based file: the templates refuse to write it.
    for (field, value) in [
        ("repo-url", "http://x/\nHOSTNET_REPO\ntouch /pwned"),
        ("install-url", "http://x/\r\n%post\ntouch /pwned"),
    ] {
        let mut settings = fleet.site.kickstart.clone().unwrap();
        match field {
            "repo-url" => settings.repo_url = value.into(),
            _ => settings.install_url = value.into(),
        }
        let error = hostnet::kickstart::render(&templates, &settings, host)
            .expect_err(field)
            .to_string();
        assert!(
            error.contains("control character") || error.contains("a newline"),
            "{error}"
        );
    }
}

/// Valid URLs with every character the grammar allows reach `%post`'s commands exactly as written.
#[test]
fn kickstart_post_passes_valid_urls_unchanged() {
    assert_root();
    let fleet = Fleet::example();
    let site = std::fs::read_to_string(fleet.hosts().join("site.toml")).unwrap();
    let repo_url = "http://10.0.0.5:8080/a+b,c=d~e@f:g/hostnet";
    let key_url = "https://[fd00::10]:8443/keys/RPM-GPG-KEY-docker~ce";
    fleet.write(
        "site.toml",
        &site
            .replace(
                "repo-url = \"http://repo.example.com/hostnet\"",
                &format!("repo-url = \"{repo_url}\""),
            )
            .replace(
                "gpgkey = \"http://repo.example.com/docker-ce/gpg\"",
                &format!("gpgkey = \"{key_url}\""),
            ),
    );
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("dist");
    let output = build(&fleet, None, &out, EPOCH);
    assert!(output.status.success(), "{}", stderr(&output));
    let kickstart = std::fs::read_to_string(out.join("kickstart/dockerhost-01.ks")).unwrap();
    let (root, calls) = run_post_with_stubs(&post_section(&kickstart));
    assert!(
        calls.contains(&vec![
            "rpm".to_string(),
            "--import".into(),
            format!("{repo_url}/RPM-GPG-KEY-hostnet")
        ]),
        "{calls:?}"
    );
    assert!(
        calls.contains(&vec!["rpm".to_string(), "--import".into(), key_url.into()]),
        "{calls:?}"
    );
    assert!(
        root.read("etc/yum.repos.d/docker-ce.repo")
            .contains(&format!("\ngpgkey={key_url}\n"))
    );
}

/// dnf on `root` with the hostnet repository served by nginx at `url`, with gpgcheck=1 and
/// repo_gpgcheck=1 (the metadata's signature checked against the published key), as the
/// kickstart's `.repo` file sets it up.
fn dnf_over_http(root: &Root, cache: &Path, url: &str, base_repo: &Path) -> Command {
    dnf_with(
        root,
        cache,
        url,
        &format!("{url}/RPM-GPG-KEY-hostnet"),
        base_repo,
        &["repo_gpgcheck=1", "metadata_expire=0"],
    )
}

/// The published repository as hosts use it: over HTTP from nginx, packages and metadata both
/// checked. dnf installs, upgrades to the next version and downgrades to the retained one, and
/// refuses metadata that was changed or signed by another key.
/// Against a WebDAV server and a PUT-only one (Nexus-like: no MKCOL, no MOVE).
#[test]
fn dnf_over_http_checks_signed_metadata_and_rolls_back_with_downgrade() {
    assert_root();
    require_tool("dnf");
    require_tool("createrepo_c");
    require_tool("gpg");
    dnf_over_http_against(&common::Nginx::start(false));
    dnf_over_http_against(&common::Nginx::start_put_only(false));
}

fn dnf_over_http_against(nginx: &common::Nginx) {
    let url = nginx.url("repo");
    let work = tempfile::tempdir().unwrap();
    let (secret, _) = hostnet_key(work.path(), "http-test");
    let fleet = Fleet::example();
    let publish = |repo: &Path, target: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_hostnet"))
            .args(["publish", target, "--repo"])
            .arg(repo)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
    };
    let first = work.path().join("first");
    assert!(build(&fleet, Some(&secret), &first, EPOCH).status.success());
    publish(&first.join("repo"), &url);
    // An el7 host and an el9 host, each given a second version.
    let hosts = [("dockerhost-01", ""), ("dockerhost-04", "rack-b/")];
    for (host, group) in hosts {
        fleet.append(
            &format!("{group}{host}.toml"),
            "\n[sysctl]\n\"net.core.somaxconn\" = 4096\n",
        );
    }
    let second = work.path().join("second");
    let output = Command::new(env!("CARGO_BIN_EXE_hostnet"))
        .args(["build", "--key"])
        .arg(&secret)
        .arg("--out")
        .arg(&second)
        .args(["--previous", &url])
        .current_dir(fleet.dir.path())
        .env("SOURCE_DATE_EPOCH", "1700003600")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    publish(&second.join("repo"), &url);

    let base_repo = work.path().join("base");
    std::fs::create_dir(&base_repo).unwrap();
    base_stub(&base_repo);
    run_ok("createrepo_c", &["-q", base_repo.to_str().unwrap()]);
    for (host, _) in hosts {
        let root = Root::new(host);
        install_upgrade_downgrade(&root, host, || {
            dnf_over_http(&root, &work.path().join("cache"), &url, &base_repo)
        });
        // The el9 host's profiles are NetworkManager keyfiles, root-only.
        let keyfile = root.file("etc/NetworkManager/system-connections/bond0.51.nmconnection");
        assert_eq!(host == "dockerhost-04", keyfile.exists(), "{host}");
        if keyfile.exists() {
            assert_eq!(mode(&keyfile), 0o600);
        }
    }

    // Metadata changed after signing, and metadata signed by another key: both refused.
    let (other, _) = hostnet_key(work.path(), "someone-else");
    let gnupg = work.path().join("gnupg");
    std::fs::create_dir(&gnupg).unwrap();
    run_ok("chmod", &["0700", gnupg.to_str().unwrap()]);
    let gpg = |args: &[&str]| {
        let output = Command::new("gpg")
            .arg("--homedir")
            .arg(&gnupg)
            .args([
                "--batch",
                "--yes",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "gpg {args:?}: {}", stderr(&output));
    };
    gpg(&["--import", other.to_str().unwrap()]);
    let repodata = nginx.root().join("repo/repodata");
    let genuine = std::fs::read(repodata.join("repomd.xml")).unwrap();
    for (case, tamper) in [("changed", true), ("signed by another key", false)] {
        let clone = nginx.root().join(format!("tampered-{}", tamper as u8));
        run_ok(
            "cp",
            &[
                "-a",
                nginx.root().join("repo").to_str().unwrap(),
                clone.to_str().unwrap(),
            ],
        );
        let repomd = clone.join("repodata/repomd.xml");
        if tamper {
            let text = String::from_utf8(genuine.clone()).unwrap();
            std::fs::write(&repomd, text.replace("<revision>", "<revision>9")).unwrap();
        } else {
            gpg(&[
                "--armor",
                "--detach-sign",
                "-o",
                clone.join("repodata/repomd.xml.asc").to_str().unwrap(),
                repomd.to_str().unwrap(),
            ]);
        }
        let root = Root::new("dockerhost-01");
        let url = nginx.url(&format!("tampered-{}", tamper as u8));
        let refused = dnf_over_http(
            &root,
            &work.path().join(format!("cache-{case}")),
            &url,
            &base_repo,
        )
        .args(["install", "hostnet-dockerhost-01"])
        .output()
        .unwrap();
        assert!(
            !refused.status.success(),
            "dnf accepted metadata {case}: {}",
            stdout(&refused)
        );
        assert!(root.installed("hostnet-dockerhost-01").is_none(), "{case}");
    }
}
