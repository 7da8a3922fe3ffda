//! `hostnet publish --server pulp` against a real Pulp 3 (pulpcore and pulp-rpm from PyPI, in the
//! virtualenv `make test-deps` makes in target/test-pulp/venv) on loopback, with its own
//! PostgreSQL (Debian's): `tests/pulp/pulp-server.sh` starts it in about 20 s. Its metadata signing
//! service signs with the build's key, as a Pulp administrator sets it up (docs/operations.md). dnf
//! then installs, upgrades and downgrades from Pulp's content app with gpgcheck=1 and
//! repo_gpgcheck=1, and `build --previous` numbers on from what Pulp serves.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::root::{Root, assert_root, base_stub, dnf_with, install_upgrade_downgrade};
use common::{Fleet, build, hostnet_key, repo_root, require_tool, run_ok, stderr, stdout};

const ADMIN: &str = "admin";
const PASSWORD: &str = "hostnet-test";

/// A running Pulp; stopped (its whole process group) when dropped.
struct Pulp {
    dir: tempfile::TempDir,
    group: i32,
    api: String,
    content: String,
}

impl Pulp {
    fn venv() -> PathBuf {
        repo_root().join("target/test-pulp/venv")
    }

    fn start() -> Pulp {
        let venv = Pulp::venv();
        assert!(
            venv.join("bin/pulpcore-api").exists(),
            "no Pulp in {} (make test-deps installs it)",
            venv.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("setsid")
            .arg(repo_root().join("tests/pulp/pulp-server.sh"))
            .arg(&venv)
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let group = child.id() as i32;
        let output = child.wait_with_output().unwrap();
        let mut pulp = Pulp {
            dir,
            group,
            api: String::new(),
            content: String::new(),
        };
        assert!(output.status.success(), "{}", stderr(&output));
        for word in stdout(&output).split_whitespace() {
            if let Some(url) = word.strip_prefix("api=") {
                pulp.api = url.to_string();
            } else if let Some(url) = word.strip_prefix("content=") {
                pulp.content = url.to_string();
            }
        }
        pulp
    }

    /// A metadata signing service `name` that signs with `secret_key`, added as Pulp's
    /// administrator adds one, with the script docs/operations.md gives.
    fn add_signing_service(&self, name: &str, secret_key: &Path) {
        let home = self.dir.path().join("gnupg");
        std::fs::create_dir(&home).unwrap();
        run_ok("chmod", &["0700", home.to_str().unwrap()]);
        let gpg = |args: &[&str]| {
            let output = Command::new("gpg")
                .arg("--homedir")
                .arg(&home)
                .arg("--batch")
                .args(args)
                .output()
                .unwrap();
            assert!(output.status.success(), "gpg {args:?}: {}", stderr(&output));
            stdout(&output)
        };
        gpg(&["--import", secret_key.to_str().unwrap()]);
        let listing = gpg(&["--with-colons", "--list-secret-keys"]);
        let fingerprint = listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .and_then(|l| l.split(':').nth(8))
            .unwrap()
            .to_string();
        let script = self.dir.path().join("sign.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nset -eu\ngpg --homedir {} --batch --yes --quiet --pinentry-mode loopback --passphrase '' --local-user \"$PULP_SIGNING_KEY_FINGERPRINT\" --armor --detach-sign --output \"$1.asc\" \"$1\"\nprintf '{{\"file\": \"%s\", \"signature\": \"%s\"}}\\n' \"$1\" \"$1.asc\"\n",
                home.display()
            ),
        )
        .unwrap();
        run_ok("chmod", &["0755", script.to_str().unwrap()]);
        let output = Command::new(Pulp::venv().join("bin/pulpcore-manager"))
            .args(["add-signing-service", name])
            .arg(&script)
            .arg(&fingerprint)
            .args([
                "--class",
                "core:AsciiArmoredDetachedSigningService",
                "--home",
            ])
            .arg(&home)
            .env("PULP_SETTINGS", self.dir.path().join("settings.py"))
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
    }

    /// The URL publish takes: Pulp's address and the base path.
    fn target(&self) -> String {
        format!("{}/hostnet", self.api)
    }

    /// Where the content app serves the distribution.
    fn served(&self) -> String {
        format!("{}/pulp/content/hostnet", self.content)
    }
}

impl Drop for Pulp {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.group)])
            .status();
        // PostgreSQL runs as its own user in that group; give it a moment to stop.
        std::thread::sleep(std::time::Duration::from_millis(500));
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.group)])
            .status();
    }
}

fn publish(pulp: &Pulp, repo: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hostnet"))
        .args(["publish", &pulp.target(), "--server", "pulp", "--repo"])
        .arg(repo)
        .args(extra)
        .env("HOSTNET_REPO_USER", ADMIN)
        .env("HOSTNET_REPO_PASSWORD", PASSWORD)
        .output()
        .unwrap()
}

#[test]
fn publish_to_pulp_then_dnf_installs_upgrades_and_downgrades_from_it() {
    assert_root();
    for tool in ["runuser", "gpg", "dnf", "createrepo_c", "setsid"] {
        require_tool(tool);
    }
    let pulp = Pulp::start();
    let work = tempfile::tempdir().unwrap();
    let (secret, _) = hostnet_key(work.path(), "pulp-test");
    pulp.add_signing_service("hostnet-test", &secret);
    let fleet = Fleet::example();
    let first = work.path().join("first");
    assert!(
        build(&fleet, Some(&secret), &first, "1700000000")
            .status
            .success()
    );

    // Without a signing service Pulp's metadata would be unsigned: refused before any upload.
    let refused = publish(&pulp, &first.join("repo"), &[]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("give --signing-service"),
        "{}",
        stderr(&refused)
    );
    let signed = ["--signing-service", "hostnet-test"];
    let output = publish(&pulp, &first.join("repo"), &signed);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("6 files uploaded"),
        "{}",
        stdout(&output)
    );
    assert!(
        stderr(&output).contains("the distribution switches to in one update"),
        "publish states what Pulp guarantees: {}",
        stderr(&output)
    );
    // Again: nothing to upload, nothing changes.
    let again = publish(&pulp, &first.join("repo"), &signed);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stdout(&again).contains("0 files uploaded (0 bytes), 6 already there, 0 deleted"),
        "{}",
        stdout(&again)
    );

    // A fresh runner numbers on from what Pulp serves (its metadata signed with the build's key);
    // a retired host leaves the repository.
    for (host, group) in [("dockerhost-01", ""), ("dockerhost-04", "rack-b/")] {
        fleet.append(
            &format!("{group}{host}.toml"),
            "\n[sysctl]\n\"net.core.somaxconn\" = 4096\n",
        );
    }
    std::fs::remove_file(fleet.hosts().join("rack-a/dockerhost-03.toml")).unwrap();
    let second = work.path().join("second");
    let output = Command::new(env!("CARGO_BIN_EXE_hostnet"))
        .args(["build", "--key"])
        .arg(&secret)
        .arg("--out")
        .arg(&second)
        .args(["--previous", &pulp.served()])
        .current_dir(fleet.dir.path())
        .env("SOURCE_DATE_EPOCH", "1700003600")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let output = publish(&pulp, &second.join("repo"), &signed);
    assert!(output.status.success(), "{}", stderr(&output));
    let report = stdout(&output);
    assert!(report.contains("2 files uploaded"), "{report}");
    assert!(report.contains("1 deleted"), "{report}");
    assert!(
        report.contains("deleted  Packages/hostnet-dockerhost-03-1-1.noarch.rpm")
            || report.contains("deleted  hostnet-dockerhost-03-1-1.noarch.rpm"),
        "{report}"
    );

    // dnf, from Pulp's content app: signed packages and signed metadata.
    let base_repo = work.path().join("base");
    std::fs::create_dir(&base_repo).unwrap();
    base_stub(&base_repo);
    run_ok("createrepo_c", &["-q", base_repo.to_str().unwrap()]);
    let served = pulp.served();
    let root = Root::new("dockerhost-04");
    install_upgrade_downgrade(&root, "dockerhost-04", || {
        dnf_with(
            &root,
            &work.path().join("cache"),
            &served,
            &format!("{served}/repodata/repomd.xml.key"),
            &base_repo,
            &["repo_gpgcheck=1", "metadata_expire=0"],
        )
    });
}
