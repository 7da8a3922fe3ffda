//! A throwaway Debian root (debootstrap minbase with Debian's rpm, `/bin/sh` as bash, as on EL)
//! for real installs with rpm: scriptlets run, signatures are enforced, and dependencies resolve
//! against a stub for the target's base packages.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{require_tool, run_ok, stderr, stdout};

/// A debootstrapped root, made once per machine and copied for each scenario. It carries Debian's
/// rpm so that a kickstart's %post can run inside it as anaconda runs it in the installed system.
pub fn pristine_root() -> PathBuf {
    // The tests of this file run in parallel threads; one of them makes the root, the others wait.
    static ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ROOT.get_or_init(make_pristine_root).clone()
}

fn make_pristine_root() -> PathBuf {
    let cache = super::repo_root().join("target/test-roots/bookworm-minbase-rpm");
    if cache.join("etc/debian_version").exists() {
        return cache;
    }
    require_tool("debootstrap");
    let mirror = std::env::var("HOSTNET_TEST_DEBIAN_MIRROR")
        .unwrap_or_else(|_| "http://deb.debian.org/debian".into());
    let staging = cache.with_extension("partial");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(staging.parent().unwrap()).unwrap();
    run_ok(
        "debootstrap",
        &[
            "--variant=minbase",
            "--include=rpm",
            "bookworm",
            staging.to_str().unwrap(),
            &mirror,
        ],
    );
    // EL7's /bin/sh is bash; scriptlets run with it.
    run_ok(
        "ln",
        &["-sf", "bash", staging.join("bin/sh").to_str().unwrap()],
    );
    std::fs::rename(&staging, &cache).unwrap();
    cache
}

pub struct Root {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl Root {
    pub fn new(hostname: &str) -> Root {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root");
        run_ok(
            "cp",
            &[
                "-a",
                pristine_root().to_str().unwrap(),
                path.to_str().unwrap(),
            ],
        );
        std::fs::write(path.join("etc/hostname"), format!("{hostname}\n")).unwrap();
        let root = Root { _dir: dir, path };
        root.rpm_ok(&["--initdb"]);
        root
    }

    /// [`Root::new`] with the target's base system ([`base_stub`], written into `dir`)
    /// installed, as every host has it.
    pub fn with_base(hostname: &str, dir: &Path) -> Root {
        let root = Root::new(hostname);
        root.rpm_ok(&["-i", "--nosignature", base_stub(dir).to_str().unwrap()]);
        root
    }

    pub fn rpm(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new("rpm")
            .arg("--root")
            .arg(&self.path)
            // Refuse anything whose signature is missing or not from an imported key.
            .args(["--define", "_pkgverify_level signature"])
            .args(args)
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }

    pub fn rpm_ok(&self, args: &[&str]) -> Output {
        let output = self.rpm(args, &[]);
        assert!(
            output.status.success(),
            "rpm {args:?}:\n{}{}",
            stdout(&output),
            stderr(&output)
        );
        output
    }

    pub fn chroot(&self, command: &str) -> Output {
        run_ok(
            "chroot",
            &[self.path.to_str().unwrap(), "/bin/sh", "-c", command],
        )
    }

    pub fn file(&self, path: &str) -> PathBuf {
        self.path.join(path.trim_start_matches('/'))
    }

    pub fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.file(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    pub fn installed(&self, name: &str) -> Option<String> {
        let output = Command::new("rpm")
            .arg("--root")
            .arg(&self.path)
            .args(["-q", "--qf", "%{EVR}", name])
            .output()
            .unwrap();
        output.status.success().then(|| stdout(&output))
    }
}

/// The `hostnet-tools` package of a build, which every host package requires.
pub fn tools_path(out: &Path) -> PathBuf {
    out.join("repo/Packages/hostnet-tools-1-1.noarch.rpm")
}

/// Stands in for EL7's and EL9's base systems in the rpm database of a Debian root, so that our
/// packages' requirements resolve for real.
pub fn base_stub(dir: &Path) -> PathBuf {
    let mut builder = rpm::PackageBuilder::new(
        "base-stub",
        "1",
        "MIT",
        "noarch",
        "EL7 and EL9 base capabilities for tests",
    );
    for capability in [
        "initscripts",
        "NetworkManager",
        "bridge-utils",
        "systemd",
        "shadow-utils",
        "docker-ce",
        "bash",
        "iproute",
        "coreutils",
        "util-linux",
        "/bin/sh",
    ] {
        builder.provides(rpm::Dependency::any(capability));
    }
    let package = builder
        .using_config(rpm::BuildConfig::v4().compression(rpm::CompressionType::Gzip))
        .build()
        .unwrap();
    let path = dir.join("base-stub.rpm");
    package.write_file(&path).unwrap();
    path
}

pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

pub fn assert_root() {
    let uid = stdout(&run_ok("id", &["-u"]));
    assert_eq!(
        uid.trim(),
        "0",
        "install tests chroot into a Debian root and must run as root (make test does)"
    );
}

/// dnf on `root` with the hostnet repository at `repo_url` (gpgcheck=1 against `key_url`, plus
/// `options` such as `repo_gpgcheck=1`) and unchecked base capabilities from `base_repo`.
pub fn dnf_with(
    root: &Root,
    cache: &Path,
    repo_url: &str,
    key_url: &str,
    base_repo: &Path,
    options: &[&str],
) -> Command {
    let mut command = Command::new("dnf");
    command.args([
        "-y",
        &format!("--installroot={}", root.path.display()),
        "--setopt=reposdir=/dev/null",
        &format!("--setopt=cachedir={}", cache.display()),
        "--releasever=7",
        "--setopt=install_weak_deps=0",
        &format!("--repofrompath=hostnet,{repo_url}"),
        &format!("--repofrompath=base,file://{}", base_repo.display()),
        "--setopt=hostnet.gpgcheck=1",
        &format!("--setopt=hostnet.gpgkey={key_url}"),
        "--setopt=base.gpgcheck=0",
    ]);
    for option in options {
        command.arg(format!("--setopt=hostnet.{option}"));
    }
    command
}

/// Runs `dnf` (args appended) on `root`, which must succeed.
pub fn dnf_ok(mut dnf: Command, args: &[&str]) {
    let output = dnf.args(args).output().unwrap();
    assert!(
        output.status.success(),
        "dnf {args:?}: {}{}",
        stdout(&output),
        stderr(&output)
    );
}

/// `dnf install` of version 1 of `hostnet-<host>`, `upgrade` to version 2 (which sets
/// `net.core.somaxconn`), `downgrade` back to 1: `dnf` gives the command for each step.
pub fn install_upgrade_downgrade(root: &Root, host: &str, dnf: impl Fn() -> Command) {
    let package = format!("hostnet-{host}");
    let sysctl = || root.read("etc/sysctl.d/90-hostnet.conf");
    dnf_ok(dnf(), &["install", &format!("{package}-1-1")]);
    assert_eq!(root.installed(&package).as_deref(), Some("1-1"));
    dnf_ok(dnf(), &["upgrade", &package]);
    assert_eq!(root.installed(&package).as_deref(), Some("2-1"));
    assert!(sysctl().contains("net.core.somaxconn = 4096"));
    dnf_ok(dnf(), &["downgrade", &package]);
    assert_eq!(root.installed(&package).as_deref(), Some("1-1"));
    assert!(!sysctl().contains("somaxconn"));
}
