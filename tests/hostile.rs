//! Repositories hostnet reads but does not own, made hostile: a server that stalls, one that
//! streams without end or announces a body too large, metadata that is a compression bomb, that is
//! not signed by the build's key, or that names packages with terminal control sequences. Each
//! must end in a clear error (naming the server or file, the limit and how to raise it) or in text
//! safe to print, never in a hang, a flood of memory or a painted terminal.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::hostile::{
    HostileServer, Reply, gzip, primary_listing, serve_directory, write_repository,
};
use common::{Fleet, hostnet_key, stderr, stdout};

/// Runs hostnet in `fleet` with `env`, killed by coreutils' `timeout` if it has not ended after
/// five minutes (a bound on a hang, far above what any command here needs: not a measurement).
fn run_bounded(fleet: &Fleet, args: &[&str], env: &[(&str, &str)]) -> Output {
    let bound = Duration::from_secs(300);
    let mut command = Command::new("timeout");
    command
        .args(["--signal=KILL", &bound.as_secs().to_string()])
        .arg(env!("CARGO_BIN_EXE_hostnet"))
        .args(args)
        .current_dir(fleet.dir.path())
        .env_remove("HOSTNET_HOSTS")
        .env("NETRC", "/nonexistent")
        .env("SOURCE_DATE_EPOCH", "1700000000");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    assert_ne!(
        output.status.code(),
        Some(137),
        "hostnet {args:?} still running after {bound:?}"
    );
    output
}

/// `plan --previous previous` with `env`, which must fail: its error output.
fn plan_fails(fleet: &Fleet, previous: &str, env: &[(&str, &str)]) -> String {
    let output = run_bounded(fleet, &["plan", "--previous", previous], env);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    err
}

#[test]
fn a_stalled_server_fails_within_the_time_set_and_is_named() {
    let server = HostileServer::start(|_| Reply::Stall);
    let fleet = Fleet::example();
    let out = fleet.dir.path().join("out");
    let output = run_bounded(
        &fleet,
        &[
            "plan",
            "--out",
            out.to_str().unwrap(),
            "--previous",
            &server.url(),
        ],
        &[("HOSTNET_HTTP_TIMEOUT", "3")],
    );
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("gave up on the server {}", server.address())),
        "{err}"
    );
    assert!(
        err.contains("HOSTNET_HTTP_TIMEOUT=<seconds> allows more than 3 s"),
        "{err}"
    );
    assert!(
        err.contains(&format!("GET {}/repodata/repomd.xml", server.url())),
        "{err}"
    );

    let output = run_bounded(
        &fleet,
        &["plan", "--previous", &server.url()],
        &[("HOSTNET_HTTP_TIMEOUT", "soon")],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains(
            "hostnet: error: HOSTNET_HTTP_TIMEOUT=\"soon\" is not a time; give whole seconds"
        ),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_answer_past_its_size_limit_is_refused_while_it_streams_naming_the_url_and_the_limit() {
    let fleet = Fleet::example();
    // Announced: refused before a byte of the body is read.
    let announced = HostileServer::start(|_| Reply::Answer {
        status: 200,
        headers: vec![("Content-Length".into(), (10u64 << 30).to_string())],
        body: b"<repomd".to_vec(),
    });
    // Never announced: a chunked body without end, refused once past the limit.
    let endless = HostileServer::start(|_| Reply::Endless);
    for server in [&announced, &endless] {
        let err = plan_fails(&fleet, &server.url(), &[]);
        assert!(
            err.contains(&format!(
                "GET {}/repodata/repomd.xml: larger than 4 MiB, the limit for repomd.xml",
                server.url()
            )),
            "{err}"
        );
        assert!(
            err.contains("raise it with HOSTNET_MAX_REPOMD_MIB=<MiB>"),
            "{err}"
        );
        assert!(!err.contains("lists no metadata"), "{err}");
    }

    // The same limit holds for a repository in a directory, where a file may be anything.
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    std::fs::create_dir_all(repo.join("repodata")).unwrap();
    std::fs::write(repo.join("repodata/repomd.xml"), vec![b' '; 2 << 20]).unwrap();
    let err = plan_fails(
        &fleet,
        repo.to_str().unwrap(),
        &[("HOSTNET_MAX_REPOMD_MIB", "1")],
    );
    assert!(
        err.contains("repodata/repomd.xml: larger than 1 MiB, the limit for repomd.xml"),
        "{err}"
    );
}

#[test]
fn a_compression_bomb_stops_at_the_unpacked_limit() {
    let fleet = Fleet::example();
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    // 64 MiB of spaces, some 64 KB compressed: inflated only to the limit set.
    let bomb = gzip(&vec![b' '; 64 << 20]);
    let href = write_repository(&repo, b"", Some(bomb));
    let err = plan_fails(
        &fleet,
        repo.to_str().unwrap(),
        &[("HOSTNET_MAX_UNPACKED_METADATA_MIB", "8")],
    );
    assert!(
        err.contains(&format!(
            "{href}: larger than 8 MiB, the limit for a metadata file once decompressed; if it is genuine, raise it with HOSTNET_MAX_UNPACKED_METADATA_MIB=<MiB>"
        )),
        "{err}"
    );
}

/// With a signing key (`build --key`), `repomd.xml`'s signature is checked before anything else of
/// the repository is read: the server sees requests for `repomd.xml` and its signature only, and
/// the bomb it names is never fetched.
#[test]
fn the_signature_is_checked_before_any_metadata_is_read() {
    let fleet = Fleet::example();
    let work = tempfile::tempdir().unwrap();
    let (key, _) = hostnet_key(work.path(), "wire");
    let repo = work.path().join("served");
    write_repository(&repo, b"", Some(gzip(&vec![b' '; 8 << 20])));
    std::fs::write(
        repo.join("repodata/repomd.xml.asc"),
        "-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n",
    )
    .unwrap();
    let server = HostileServer::start(serve_directory(&repo));
    let out = work.path().join("out");
    let output = run_bounded(
        &fleet,
        &[
            "build",
            "--key",
            key.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--previous",
            &server.url(),
        ],
        &[],
    );
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains("repodata/repomd.xml is not signed by the build's key"),
        "{err}"
    );
    assert_eq!(
        server.requested(),
        ["GET /repodata/repomd.xml", "GET /repodata/repomd.xml.asc"],
        "nothing but repomd.xml and its signature may be read before the signature checks"
    );
}

fn assert_no_control_sequences(what: &str, text: &[u8]) {
    for forbidden in [0x1b_u8, 0x07, b'\r'] {
        assert!(
            !text.contains(&forbidden),
            "{what} holds the raw byte {forbidden:#x}:\n{}",
            String::from_utf8_lossy(text)
        );
    }
    let text = String::from_utf8_lossy(text);
    for forbidden in ['\u{9b}', '\u{202e}'] {
        assert!(!text.contains(forbidden), "{what} holds {forbidden:?}");
    }
}

/// A package name in a hostile `primary.xml`, with character references to ESC, BEL, a carriage
/// return, a C1 CSI and a right-to-left override: shown escaped by `plan` (text and JSON) and
/// `build`, over HTTP and from a directory; JSON still carries the name itself.
#[test]
fn control_characters_from_metadata_never_reach_the_terminal() {
    let fleet = Fleet::example();
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("hostile");
    let name = "hostnet-evil&#27;]0;owned&#7;&#13;&#x9b;2J&#x202e;";
    write_repository(&repo, primary_listing(name, 1).as_bytes(), None);
    let server = HostileServer::start(serve_directory(&repo));
    let shown_name = "hostnet-evil\\u{1b}]0;owned\\u{7}\\u{d}\\u{9b}2J\\u{202e}";
    for previous in [repo.to_str().unwrap().to_string(), server.url()] {
        let out = work.path().join("out");
        let plan = run_bounded(
            &fleet,
            &[
                "plan",
                "--out",
                out.to_str().unwrap(),
                "--previous",
                &previous,
            ],
            &[],
        );
        assert_eq!(plan.status.code(), Some(2), "{}", stderr(&plan));
        assert_no_control_sequences("plan's output", &plan.stdout);
        assert_no_control_sequences("plan's errors", &plan.stderr);
        assert!(stdout(&plan).contains(shown_name), "{}", stdout(&plan));

        let json = run_bounded(
            &fleet,
            &[
                "plan",
                "--out",
                out.to_str().unwrap(),
                "--previous",
                &previous,
                "--format",
                "json",
            ],
            &[],
        );
        assert_no_control_sequences("plan's JSON", &json.stdout);
        let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        let names: Vec<&str> = value["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|h| h["package"].as_str())
            .collect();
        assert!(
            names.contains(&"hostnet-evil\u{1b}]0;owned\u{7}\r\u{9b}2J\u{202e}"),
            "JSON keeps the value: {names:?}"
        );

        let build = run_bounded(
            &fleet,
            &[
                "build",
                "--unsigned",
                "--out",
                out.to_str().unwrap(),
                "--previous",
                &previous,
            ],
            &[],
        );
        assert_no_control_sequences("build's output", &build.stdout);
        assert_no_control_sequences("build's errors", &build.stderr);
        std::fs::remove_dir_all(&out).ok();
    }
}

/// A repository file that is not a regular file (a device, a FIFO) is refused, not read forever.
#[test]
fn a_repository_file_that_is_a_device_is_refused() {
    let fleet = Fleet::example();
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let href = write_repository(&repo, b"", None);
    std::fs::remove_file(repo.join(&href)).unwrap();
    std::os::unix::fs::symlink("/dev/zero", repo.join(&href)).unwrap();
    let err = plan_fails(&fleet, repo.to_str().unwrap(), &[]);
    assert!(
        err.contains(&format!("{href}: cannot read: not a regular file")),
        "{err}"
    );
}
