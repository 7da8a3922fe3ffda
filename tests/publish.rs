//! Publishing from a stateless pipeline, against a real nginx (Debian's, with its dav module) on a
//! loopback port: numbering from the published repository over HTTP, WebDAV uploads with
//! credentials, the order that keeps readers consistent while publishes run, and publishes killed
//! at random points.

mod common;

use std::path::Path;
use std::process::Command;

use common::{
    Fleet, NGINX_PASSWORD, NGINX_USER, Nginx, RepoServer, build, hostnet_key, stderr, stdout,
};

const EPOCH: &str = "1700000000";

fn publish(repo: &Path, target: &str, extra: &[&str], credentials: bool) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hostnet"));
    command
        .arg("publish")
        .arg(target)
        .arg("--repo")
        .arg(repo)
        .args(extra)
        .env_remove("HOSTNET_REPO_USER")
        .env_remove("HOSTNET_REPO_PASSWORD")
        .env("NETRC", "/nonexistent");
    if credentials {
        command
            .env("HOSTNET_REPO_USER", NGINX_USER)
            .env("HOSTNET_REPO_PASSWORD", NGINX_PASSWORD);
    }
    command.output().unwrap()
}

/// `hostnet build --out OUT --previous PREVIOUS`, signed with `key` or unsigned.
fn build_previous(
    fleet: &Fleet,
    key: Option<&Path>,
    out: &Path,
    previous: &str,
    epoch: &str,
) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hostnet"));
    command.arg("build");
    match key {
        Some(key) => command.arg("--key").arg(key),
        None => command.arg("--unsigned"),
    };
    command
        .arg("--out")
        .arg(out)
        .args(["--previous", previous])
        .current_dir(fleet.dir.path())
        .env("SOURCE_DATE_EPOCH", epoch)
        .output()
        .unwrap()
}

fn build_from(fleet: &Fleet, key: &Path, out: &Path, previous: &str, epoch: &str) -> String {
    let output = build_previous(fleet, Some(key), out, previous, epoch);
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
}

/// Every file the published metadata names is there with its checksum, and every package it
/// lists is there with its sha256.
fn assert_consistent(location: &hostnet::repository::Location) -> usize {
    consistent_unless_switching(location, false).expect("a repository")
}

/// As [`assert_consistent`]; with `gap`, a moment with no `repomd.xml` at all (a server that
/// deletes a file before it moves another onto its name, as RFC 4918 has MOVE do) is `None`, not
/// a failure: a client retries it. Metadata naming a missing file fails either way.
fn consistent_unless_switching(
    location: &hostnet::repository::Location,
    gap: bool,
) -> Option<usize> {
    let index = match hostnet::repository::read(location) {
        Err(hostnet::repository::RepositoryError::NotARepository(_)) if gap => return None,
        read => read.unwrap_or_else(|e| panic!("{e}")),
    };
    for package in &index.packages {
        let bytes = location
            .fetch(&package.location, hostnet::http::PACKAGE_LIMIT)
            .unwrap()
            .unwrap_or_else(|| panic!("{} is listed but missing", package.location));
        assert_eq!(
            hostnet::digest::sha256_hex(&bytes),
            package.pkgid,
            "{}",
            package.location
        );
    }
    Some(index.packages.len())
}

fn listed(location: &hostnet::repository::Location) -> Vec<String> {
    let mut names: Vec<String> = hostnet::repository::read(location)
        .unwrap()
        .packages
        .iter()
        .map(|p| p.file_name().to_string())
        .collect();
    names.sort();
    names
}

/// The kinds of server a publish meets: WebDAV (nginx's dav module with MKCOL and MOVE), and
/// PUT-only (nginx taking only PUT and DELETE, creating parents and answering 405 to MKCOL, MOVE,
/// PROPFIND and LOCK, as a Nexus raw repository does); with what `publish` says of each (it
/// detects which it is). Every publish test runs against both.
/// Starts a server, with basic auth on uploads when asked (where the server checks it).
type StartServer = fn(bool) -> Box<dyn RepoServer>;

/// wsgidav is a second, independent WebDAV server (it wants MKCOL for missing parents).
const SERVERS: [(StartServer, &str); 3] = [
    (
        |auth| Box::new(Nginx::start(auth)),
        "WebDAV: each file PUT under a temporary name and MOVEd into place",
    ),
    (
        |auth| Box::new(Nginx::start_put_only(auth)),
        "plain PUT (the server takes no MKCOL or MOVE): each file PUT under its final name, repomd.xml and its signature last; this server does not honour If-None-Match",
    ),
    (
        |_| Box::new(common::WsgiDav::start()),
        "WebDAV: each file PUT under a temporary name and MOVEd into place",
    ),
];

/// The pipeline on a fresh runner: nothing local but the definitions and the key. Numbering comes
/// from the published repository over HTTP; unchanged hosts are neither rebuilt nor uploaded.
#[test]
fn a_fresh_runner_numbers_from_the_published_repository_and_uploads_only_what_changed() {
    for (start, says) in SERVERS {
        fresh_runner_against(start(true), says);
    }
}

fn fresh_runner_against(nginx: Box<dyn RepoServer>, says: &str) {
    let work = tempfile::tempdir().unwrap();
    let (key, _) = hostnet_key(work.path(), "publish-test");
    let fleet = Fleet::example();
    let target = nginx.url("repo");

    // An empty repository is not a history.
    let output = build_previous(&fleet, None, &work.path().join("x"), &target, EPOCH);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("not a yum repository (no repodata/repomd.xml)"),
        "{}",
        stderr(&output)
    );

    let first = work.path().join("runner-1");
    let output = build(&fleet, Some(&key), &first, EPOCH);
    assert!(output.status.success(), "{}", stderr(&output));

    // Without credentials the server refuses, and the message says where they come from.
    if nginx.checks_credentials() {
        let refused = publish(&first.join("repo"), &target, &[], false);
        assert_eq!(refused.status.code(), Some(1));
        assert!(
            stderr(&refused).contains("HOSTNET_REPO_USER"),
            "{}",
            stderr(&refused)
        );
    }
    let output = publish(&first.join("repo"), &target, &[], true);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("uploaded"), "{}", stdout(&output));
    assert!(stderr(&output).contains(says), "{}", stderr(&output));
    let url = hostnet::repository::Location::Url(target.clone());
    assert_eq!(assert_consistent(&url), 6, "five hosts and hostnet-tools");
    assert!(nginx.root().join("repo/repodata/repomd.xml.asc").is_file());
    // The ready .repo file is published with the key and checksums, as built.
    for file in ["hostnet.repo", "RPM-GPG-KEY-hostnet", "SHA256SUMS"] {
        assert_eq!(
            std::fs::read(nginx.root().join("repo").join(file)).unwrap(),
            std::fs::read(first.join("repo").join(file)).unwrap(),
            "{file}"
        );
    }

    // Metadata the build's key did not sign is never carried into metadata it signs: another
    // key, and a repomd.xml changed after signing, are both refused.
    let (other_key, _) = hostnet_key(work.path(), "someone-else");
    let foreign = build_previous(
        &fleet,
        Some(&other_key),
        &work.path().join("foreign"),
        &target,
        EPOCH,
    );
    assert_eq!(foreign.status.code(), Some(1));
    assert!(
        stderr(&foreign).contains("repodata/repomd.xml is not signed by the build's key"),
        "{}",
        stderr(&foreign)
    );
    let repomd = nginx.root().join("repo/repodata/repomd.xml");
    let genuine = std::fs::read_to_string(&repomd).unwrap();
    std::fs::write(&repomd, genuine.replace("<revision>", "<revision>1")).unwrap();
    let tampered = build_previous(
        &fleet,
        Some(&key),
        &work.path().join("tampered"),
        &target,
        EPOCH,
    );
    assert_eq!(tampered.status.code(), Some(1), "{}", stderr(&tampered));
    std::fs::write(&repomd, genuine).unwrap();

    // A second runner, a changed host, nothing local.
    fleet.append(
        "dockerhost-01.toml",
        "\n[sysctl]\n\"net.core.somaxconn\" = 1024\n",
    );
    let second = work.path().join("runner-2");
    let report = build_from(&fleet, &key, &second, &target, "1700000100");
    assert!(
        report.contains("built  hostnet-dockerhost-01-2-1.noarch.rpm"),
        "{report}"
    );
    assert!(
        report.contains(
            "unchanged  hostnet-dockerhost-02-1-1.noarch.rpm  (stays where it is published)"
        ),
        "{report}"
    );
    assert!(
        report
            .contains("kept  hostnet-dockerhost-01-1-1.noarch.rpm  (stays where it is published)"),
        "{report}"
    );
    let local: Vec<String> = std::fs::read_dir(second.join("repo/Packages"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(local, ["hostnet-dockerhost-01-2-1.noarch.rpm"]);
    // Its metadata lists packages it does not hold: publishing it anywhere else is refused.
    let elsewhere = work.path().join("elsewhere");
    let refused = publish(
        &second.join("repo"),
        elsewhere.to_str().unwrap(),
        &[],
        false,
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("-1-1.noarch.rpm, which is neither in")
            && stderr(&refused).contains("build again with --previous"),
        "{}",
        stderr(&refused)
    );
    assert!(!elsewhere.join("repodata/repomd.xml").exists());
    // This time the credentials come from a netrc file.
    let netrc = work.path().join("netrc");
    std::fs::write(
        &netrc,
        format!("machine elsewhere.example.com login x password y\nmachine 127.0.0.1\n  login {NGINX_USER}\n  password {NGINX_PASSWORD}\n"),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_hostnet"))
        .args(["publish", &target, "--repo"])
        .arg(second.join("repo"))
        .env_remove("HOSTNET_REPO_USER")
        .env_remove("HOSTNET_REPO_PASSWORD")
        .env("NETRC", &netrc)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let summary = stdout(&output);
    assert!(summary.contains("6 already there"), "{summary}");
    assert_eq!(
        listed(&url),
        [
            "hostnet-dockerhost-01-1-1.noarch.rpm",
            "hostnet-dockerhost-01-2-1.noarch.rpm",
            "hostnet-dockerhost-02-1-1.noarch.rpm",
            "hostnet-dockerhost-03-1-1.noarch.rpm",
            "hostnet-dockerhost-04-1-1.noarch.rpm",
            "hostnet-dockerhost-05-1-1.noarch.rpm",
            "hostnet-tools-1-1.noarch.rpm"
        ]
    );
    assert_consistent(&url);

    // A runner that did not read what is published numbers from 1 again: publish refuses rather
    // than replace a published version.
    let stale = work.path().join("stale");
    let output = build(&fleet, Some(&key), &stale, "1700000200");
    assert!(output.status.success());
    let refused = publish(&stale.join("repo"), &target, &[], true);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused)
            .contains("hostnet-dockerhost-01-1-1.noarch.rpm is published with other content"),
        "{}",
        stderr(&refused)
    );
    assert_consistent(&url);

    // Retention: with keep-versions = 1 the old version is retired, said, and deleted after the
    // grace period.
    let site = std::fs::read_to_string(fleet.hosts().join("site.toml")).unwrap();
    fleet.write(
        "site.toml",
        &site.replace("[package]\n", "[package]\nkeep-versions = 0\n"),
    );
    let refused = fleet.run(&["check"]);
    assert!(
        stderr(&refused).contains("package.keep-versions: 0 is not from 1 to 100"),
        "{}",
        stderr(&refused)
    );
    fleet.write(
        "site.toml",
        &site.replace("[package]\n", "[package]\nkeep-versions = 1\n"),
    );
    std::fs::remove_file(fleet.hosts().join("rack-a/dockerhost-03.toml")).unwrap();
    let third = work.path().join("runner-3");
    let report = build_from(&fleet, &key, &third, &target, "1700000300");
    assert!(
        report.contains(
            "retired  hostnet-dockerhost-01-1-1.noarch.rpm: older than the 1 versions kept"
        ),
        "{report}"
    );
    assert!(
        report.contains(
            "retired  hostnet-dockerhost-03-1-1.noarch.rpm: dockerhost-03 is no longer defined"
        ),
        "{report}"
    );
    let output = publish(&third.join("repo"), &target, &["--grace", "0"], true);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        listed(&url),
        [
            "hostnet-dockerhost-01-2-1.noarch.rpm",
            "hostnet-dockerhost-02-1-1.noarch.rpm",
            "hostnet-dockerhost-04-1-1.noarch.rpm",
            "hostnet-dockerhost-05-1-1.noarch.rpm",
            "hostnet-tools-1-1.noarch.rpm"
        ]
    );
    assert!(
        !nginx
            .root()
            .join("repo/Packages/hostnet-dockerhost-03-1-1.noarch.rpm")
            .exists()
    );
    assert!(stdout(&output).contains("deleted  Packages/hostnet-dockerhost-01-1-1.noarch.rpm"));
    assert_consistent(&url);
}

/// While publishes run one after another, a client reading the repository in a loop never sees
/// metadata that names a missing file or a checksum that does not match.
#[test]
fn readers_never_see_an_inconsistent_repository_while_publishes_run() {
    for (start, _) in SERVERS {
        readers_against(start(false));
    }
}

fn readers_against(nginx: Box<dyn RepoServer>) {
    let gap = !nginx.replaces_in_one_step();
    let work = tempfile::tempdir().unwrap();
    let (key, _) = hostnet_key(work.path(), "readers");
    let fleet = Fleet::with_extra_hosts(20);
    let target = nginx.url("repo");
    // Two alternating states of the fleet: the second changes one host (its version 2 beside 1).
    let mut outs: Vec<std::path::PathBuf> = Vec::new();
    for (n, value) in [(0, 1024), (1, 2048)] {
        fleet.write(
            "host-00001.toml",
            &format!(
                "boot-mac = \"52:54:00:01:00:01\"\n[management]\naddress = \"10.20.100.3\"\n[containers]\nslice = \"172.20.128.16/28\"\n[sysctl]\n\"net.core.somaxconn\" = {value}\n"
            ),
        );
        let out = work.path().join(format!("state-{n}"));
        match outs.last() {
            None => {
                let output = build(&fleet, Some(&key), &out, EPOCH);
                assert!(output.status.success(), "{}", stderr(&output));
            }
            Some(previous) => {
                let previous = previous.join("repo");
                build_from(&fleet, &key, &out, previous.to_str().unwrap(), EPOCH);
            }
        }
        outs.push(out);
    }
    let output = publish(&outs[0].join("repo"), &target, &[], false);
    assert!(output.status.success(), "{}", stderr(&output));

    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let done = done.clone();
        let url = hostnet::repository::Location::Url(target.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            // Bounded: at most 2,000 reads, or until the publisher is done.
            while !done.load(std::sync::atomic::Ordering::SeqCst) && reads < 2_000 {
                consistent_unless_switching(&url, gap);
                reads += 1;
            }
            reads
        })
    };
    for round in 0..8 {
        let output = publish(&outs[round % 2].join("repo"), &target, &[], false);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let reads = reader
        .join()
        .expect("the reader saw a consistent repository every time");
    assert!(reads > 0);
}

/// `kill -9` of publish at pseudo-random points, then a run to the end: the repository is whole,
/// with no duplicate and no temporary file left where clients look.
#[test]
fn a_publish_killed_at_any_point_completes_when_run_again() {
    let webdav = Nginx::start(false);
    let put_only = Nginx::start_put_only(false);
    let work = tempfile::tempdir().unwrap();
    let (key, _) = hostnet_key(work.path(), "killed");
    let fleet = Fleet::with_extra_hosts(40);
    let out = work.path().join("out");
    let output = build(&fleet, Some(&key), &out, EPOCH);
    assert!(output.status.success(), "{}", stderr(&output));
    let directory = work.path().join("published");
    let started = std::time::Instant::now();
    let full = publish(&out.join("repo"), directory.to_str().unwrap(), &[], false);
    assert!(full.status.success(), "{}", stderr(&full));
    let full_time = started.elapsed().as_micros() as u64;
    std::fs::remove_dir_all(&directory).unwrap();

    for (target, location) in [
        (
            directory.to_str().unwrap().to_string(),
            hostnet::repository::Location::Directory(directory.clone()),
        ),
        (
            webdav.url("repo"),
            hostnet::repository::Location::Url(webdav.url("repo")),
        ),
        (
            put_only.url("repo"),
            hostnet::repository::Location::Url(put_only.url("repo")),
        ),
    ] {
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..12 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let delay = seed % (full_time * 3 + 1);
            common::kill_after(
                Command::new(env!("CARGO_BIN_EXE_hostnet"))
                    .arg("publish")
                    .arg(&target)
                    .arg("--repo")
                    .arg(out.join("repo")),
                std::time::Duration::from_micros(delay),
            );
            // Whatever a reader sees meanwhile is consistent (or not there yet).
            if location
                .fetch("repodata/repomd.xml", hostnet::http::REPOMD_LIMIT)
                .unwrap()
                .is_some()
            {
                assert_consistent(&location);
            }
        }
        let output = publish(&out.join("repo"), &target, &[], false);
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(assert_consistent(&location), 46);
    }
    let leftovers: Vec<String> = walk(&directory)
        .into_iter()
        .filter(|p| p.contains(".hostnet-upload") || p.contains(".hostnet-lock"))
        .collect();
    assert!(
        leftovers.iter().all(|p| p.ends_with(".hostnet-upload")),
        "{leftovers:?}"
    );
    assert_eq!(
        std::fs::read_dir(directory.join("Packages"))
            .unwrap()
            .filter(|e| {
                !e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".hostnet-upload")
            })
            .count(),
        46
    );
}

fn walk(dir: &Path) -> Vec<String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap().path().display().to_string())
        .collect()
}

/// Two publishers never write one repository at once; a lock left by a publisher that died is
/// broken, one held by a live publisher is not.
#[test]
fn the_lock_keeps_publishers_apart_and_outlives_no_dead_owner() {
    let work = tempfile::tempdir().unwrap();
    let (key, _) = hostnet_key(work.path(), "lock");
    let fleet = Fleet::example();
    let out = work.path().join("out");
    assert!(build(&fleet, Some(&key), &out, EPOCH).status.success());
    let target = work.path().join("published");
    let lock = target.join(".hostnet-lock");
    std::fs::create_dir_all(&lock).unwrap();
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let owner = |pid: u32, since: u64| {
        format!(
            "{{\"host\":\"{}\",\"pid\":{pid},\"since\":{since}}}",
            hostname.trim()
        )
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // A live publisher: this test process.
    std::fs::write(lock.join("owner"), owner(std::process::id(), now)).unwrap();
    let refused = publish(&out.join("repo"), target.to_str().unwrap(), &[], false);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains(&format!("another publish (pid {} on", std::process::id())),
        "{}",
        stderr(&refused)
    );
    assert!(!target.join("repodata").exists(), "nothing was written");
    // The same lock, older than --lock-timeout: taken to be abandoned.
    let stale = publish(
        &out.join("repo"),
        target.to_str().unwrap(),
        &["--lock-timeout", "0"],
        false,
    );
    assert!(stale.status.success(), "{}", stderr(&stale));
    assert!(
        stderr(&stale).contains("breaking the lock"),
        "{}",
        stderr(&stale)
    );
    // A lock just made, its owner not yet written: another publisher is in that very moment, so
    // the lock is not broken while its owner may still come (here it comes after 2 s).
    std::fs::create_dir_all(&lock).unwrap();
    let writer = {
        let (lock, owner) = (lock.clone(), owner(std::process::id(), now));
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(2));
            std::fs::write(lock.join("owner"), owner).unwrap();
        })
    };
    let waited = publish(&out.join("repo"), target.to_str().unwrap(), &[], false);
    writer.join().unwrap();
    assert_eq!(waited.status.code(), Some(1), "{}", stderr(&waited));
    assert!(
        stderr(&waited).contains("another publish (pid"),
        "{}",
        stderr(&waited)
    );
    assert!(
        lock.join("owner").exists(),
        "the other publisher's lock is kept"
    );
    std::fs::remove_dir_all(&lock).unwrap();

    // A publisher that died on this machine: its pid is gone.
    std::fs::create_dir_all(&lock).unwrap();
    std::fs::write(lock.join("owner"), owner(u32::MAX - 1, now)).unwrap();
    let output = publish(&out.join("repo"), target.to_str().unwrap(), &[], false);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!lock.exists(), "the lock is released");
    assert!(
        stdout(&output).contains("0 files uploaded"),
        "{}",
        stdout(&output)
    );
}

/// The journal and the published metadata live where others may write: the files they name are
/// deleted only inside the repository's own Packages/ and repodata/.
#[test]
fn publish_never_deletes_outside_the_repository() {
    let work = tempfile::tempdir().unwrap();
    let (key, _) = hostnet_key(work.path(), "outside");
    let fleet = Fleet::example();
    let out = work.path().join("out");
    assert!(build(&fleet, Some(&key), &out, EPOCH).status.success());
    let target = work.path().join("site/repo");
    let output = publish(&out.join("repo"), target.to_str().unwrap(), &[], false);
    assert!(output.status.success(), "{}", stderr(&output));
    let precious = work.path().join("site/precious");
    std::fs::write(&precious, "keep me").unwrap();
    std::fs::write(target.join("RPM-GPG-KEY-other"), "keep me too").unwrap();
    std::fs::write(
        target.join(".hostnet-publish.json"),
        r#"{"superseded": {"../precious": 1, "Packages/../../precious": 1, "RPM-GPG-KEY-other": 1, "/etc/hostname": 1, "Packages/%2e%2e/x": 1}}"#,
    )
    .unwrap();
    let output = publish(
        &out.join("repo"),
        target.to_str().unwrap(),
        &["--grace", "0"],
        false,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(precious.exists());
    assert!(target.join("RPM-GPG-KEY-other").exists());
    assert!(Path::new("/etc/hostname").exists());
}

/// A directory target whose managed entries are symbolic links (`Packages -> elsewhere`,
/// `repodata -> /`...) is refused, naming the link, and nothing is written where it points. A
/// temporary left by an interrupted publish is swept, and one planted as a link is removed, never
/// written through.
#[test]
fn publish_follows_no_link_inside_the_target_and_sweeps_its_temporaries() {
    let work = tempfile::tempdir().unwrap();
    let (key, _) = hostnet_key(work.path(), "links");
    let fleet = Fleet::example();
    let out = work.path().join("out");
    assert!(build(&fleet, Some(&key), &out, EPOCH).status.success());
    let repo = out.join("repo");
    let elsewhere = work.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();

    for entry in [
        "Packages",
        "repodata",
        ".hostnet-lock",
        ".hostnet-publish.json",
    ] {
        let target = work
            .path()
            .join(format!("target-{}", entry.trim_start_matches('.')));
        std::fs::create_dir_all(&target).unwrap();
        std::os::unix::fs::symlink(&elsewhere, target.join(entry)).unwrap();
        let output = publish(&repo, target.to_str().unwrap(), &[], false);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{entry}: {err}");
        assert!(
            err.contains(&format!(
                "{}: is a symbolic link (to {}); publish writes only inside",
                target.join(entry).display(),
                elsewhere.display()
            )),
            "{entry}: {err}"
        );
        assert_eq!(
            std::fs::read_dir(&elsewhere).unwrap().count(),
            0,
            "{entry}: written through the link"
        );
    }

    // A link deeper down: repodata/repomd.xml -> a file outside.
    let target = work.path().join("target-file");
    let output = publish(&repo, target.to_str().unwrap(), &[], false);
    assert!(output.status.success(), "{}", stderr(&output));
    let victim = work.path().join("victim");
    std::fs::write(&victim, "untouched").unwrap();
    std::fs::remove_file(target.join("repodata/repomd.xml")).unwrap();
    std::os::unix::fs::symlink(&victim, target.join("repodata/repomd.xml")).unwrap();
    let output = publish(&repo, target.to_str().unwrap(), &[], false);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("repomd.xml: is a symbolic link"));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");

    // Temporaries of a killed publish, one of them a planted link.
    std::fs::remove_file(target.join("repodata/repomd.xml")).unwrap();
    let leftovers = [
        "SHA256SUMS.hostnet-upload",
        "Packages/hostnet-dockerhost-01-1-1.noarch.rpm.hostnet-upload",
        "repodata/repomd.xml.hostnet-upload",
    ];
    for leftover in &leftovers[..2] {
        std::fs::write(target.join(leftover), "half").unwrap();
    }
    std::os::unix::fs::symlink(&victim, target.join(leftovers[2])).unwrap();
    let output = publish(&repo, target.to_str().unwrap(), &[], false);
    assert!(output.status.success(), "{}", stderr(&output));
    for leftover in leftovers {
        assert!(
            std::fs::symlink_metadata(target.join(leftover)).is_err(),
            "{leftover} was left"
        );
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
    assert!(
        stdout(&output).contains("3 interrupted uploads removed"),
        "{}",
        stdout(&output)
    );
    assert_consistent(&hostnet::repository::Location::Directory(target));
}

/// Over WebDAV (nginx's dav module): a stale lock collection is broken by a MOVE to the breaker's
/// own name, then deleted, and the publish goes on; a live one is kept.
#[test]
fn a_stale_lock_is_broken_over_webdav_and_a_live_one_kept() {
    let nginx = Nginx::start(false);
    let work = tempfile::tempdir().unwrap();
    let (key, _) = hostnet_key(work.path(), "webdav-lock");
    let fleet = Fleet::example();
    let out = work.path().join("out");
    assert!(build(&fleet, Some(&key), &out, EPOCH).status.success());
    let target = nginx.url("repo");
    let lock = nginx.root().join("repo/.hostnet-lock");
    std::fs::create_dir_all(&lock).unwrap();
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let owner = |pid: u32| {
        format!(
            "{{\"host\":\"{}\",\"pid\":{pid},\"since\":{},\"token\":\"t{pid}\"}}",
            hostname.trim(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
        )
    };
    // A live publisher: this test process.
    std::fs::write(lock.join("owner"), owner(std::process::id())).unwrap();
    let refused = publish(&out.join("repo"), &target, &[], false);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(lock.join("owner").exists());
    // A publisher that died here.
    std::fs::write(lock.join("owner"), owner(u32::MAX - 1)).unwrap();
    let output = publish(&out.join("repo"), &target, &[], false);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("breaking the lock"),
        "{}",
        stderr(&output)
    );
    let left: Vec<String> = std::fs::read_dir(nginx.root().join("repo"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".hostnet-lock"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert_consistent(&hostnet::repository::Location::Url(target));
}
