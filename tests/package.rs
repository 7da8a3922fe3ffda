//! Host packages checked with the real rpm tools: signatures with `rpmkeys`, metadata with
//! `rpm -qp`, lint with `rpmlint`, and the EL7 properties (format, compressor, rpmlib set, signature
//! header) that a crate upgrade could silently break.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::{Fleet, build, hostnet_key, package_path, require_tool, run_ok, stderr, stdout};

const EPOCH: &str = "1700000000";

struct Built {
    _dir: tempfile::TempDir,
    fleet: Fleet,
    out: std::path::PathBuf,
    secret: std::path::PathBuf,
    public: std::path::PathBuf,
}

fn signed_build() -> Built {
    let dir = tempfile::tempdir().unwrap();
    let (secret, public) = hostnet_key(dir.path(), "hostnet-test");
    let fleet = Fleet::example();
    let out = dir.path().join("dist");
    let output = build(&fleet, Some(&secret), &out, EPOCH);
    assert!(output.status.success(), "{}", stderr(&output));
    Built {
        _dir: dir,
        fleet,
        out,
        secret,
        public,
    }
}

fn rpm_query(package: &Path, format: &str) -> String {
    stdout(&run_ok(
        "rpm",
        &[
            "-qp",
            "--nosignature",
            "--qf",
            format,
            package.to_str().unwrap(),
        ],
    ))
}

fn rpm_list(package: &Path, option: &str) -> Vec<String> {
    stdout(&run_ok(
        "rpm",
        &["-qp", "--nosignature", option, package.to_str().unwrap()],
    ))
    .lines()
    .map(String::from)
    .collect()
}

/// The signature header's tags, in order.
fn signature_tags(package: &rpm::Package) -> Vec<u32> {
    let entries = package.metadata.signature.get_all_entries().unwrap();
    entries.into_iter().map(|(tag, _)| tag).collect()
}

/// `rpmkeys -Kv` against a private database holding only `public_key`.
fn verify_with(public_key: &Path, package: &Path) -> (bool, String) {
    let db = tempfile::tempdir().unwrap();
    let dbpath = db.path().to_str().unwrap();
    run_ok(
        "rpmkeys",
        &["--dbpath", dbpath, "--import", public_key.to_str().unwrap()],
    );
    let output = Command::new("rpmkeys")
        .args(["--dbpath", dbpath, "-Kv", package.to_str().unwrap()])
        .output()
        .unwrap();
    (
        output.status.success(),
        format!("{}{}", stdout(&output), stderr(&output)),
    )
}

#[test]
fn signatures_verify_with_rpmkeys_and_fail_with_another_key_or_a_tampered_payload() {
    require_tool("rpmkeys");
    let built = signed_build();
    let package = package_path(&built.out, "dockerhost-01", 1);
    let (ok, report) = verify_with(&built.public, &package);
    assert!(ok, "{report}");
    for line in [
        "Header V4 RSA/SHA256 Signature, key ID",
        "Header SHA1 digest: OK",
        "Header SHA256 digest: OK",
        "MD5 digest: OK",
    ] {
        assert!(report.contains(line), "{line:?} missing:\n{report}");
    }
    // The legacy header+payload signature, which is all rpm 4.11 checks the payload with.
    let header_and_payload = report
        .lines()
        .find(|l| l.trim_start().starts_with("V4 RSA/SHA256 Signature"))
        .unwrap_or_else(|| panic!("no header+payload signature:\n{report}"));
    assert!(header_and_payload.ends_with(": OK"), "{report}");
    // The public key shipped in the repo is the one that verifies.
    let shipped = built.out.join("repo/RPM-GPG-KEY-hostnet");
    assert!(verify_with(&shipped, &package).0);

    let other = tempfile::tempdir().unwrap();
    let (_, other_public) = hostnet_key(other.path(), "someone-else");
    let (ok, report) = verify_with(&other_public, &package);
    assert!(!ok && report.contains("NOKEY"), "{report}");

    let mut bytes = std::fs::read(&package).unwrap();
    let last = bytes.len() - 100;
    bytes[last] ^= 0xff;
    let tampered = other.path().join("tampered.rpm");
    std::fs::write(&tampered, bytes).unwrap();
    let (ok, report) = verify_with(&built.public, &tampered);
    assert!(!ok, "a tampered payload verified:\n{report}");
    assert!(report.contains("BAD"), "{report}");
}

#[test]
fn metadata_files_and_scriptlets_are_what_el7_needs() {
    require_tool("rpm");
    let built = signed_build();
    let package = package_path(&built.out, "dockerhost-01", 1);
    assert_eq!(
        rpm_query(
            &package,
            "%{NAME} %{VERSION} %{RELEASE} %{ARCH} %{PAYLOADCOMPRESSOR} %{PAYLOADFORMAT}"
        ),
        "hostnet-dockerhost-01 1 1 noarch gzip cpio"
    );
    let summary = rpm_query(&package, "%{SUMMARY}");
    assert!(
        summary.contains("dockerhost-01.example.com")
            && summary.contains(env!("CARGO_PKG_VERSION")),
        "{summary}"
    );
    assert_eq!(
        rpm_query(&package, "%{VENDOR}|%{URL}|%{LICENSE}|%{PACKAGER}"),
        "Example Operations|https://git.example.com/ops/hostnet|Proprietary|Example Operations <ops@example.com>"
    );

    let requires = rpm_list(&package, "--requires");
    for needed in [
        "initscripts",
        "bridge-utils",
        "systemd",
        "shadow-utils",
        "docker-ce",
    ] {
        assert!(
            requires.iter().any(|r| r == needed),
            "{needed} missing from {requires:?}"
        );
    }
    let rpmlib: Vec<&String> = requires
        .iter()
        .filter(|r| r.starts_with("rpmlib("))
        .collect();
    // Exactly what rpm 4.11.3 provides (no PayloadIsZstd, LargeFiles, RichDependencies...).
    assert_eq!(
        rpmlib,
        [
            "rpmlib(CompressedFileNames) <= 3.0.4-1",
            "rpmlib(FileDigests) <= 4.6.0-1",
            "rpmlib(PayloadFilesHavePrefix) <= 4.0-1"
        ]
    );
    let pre_requires = stdout(&run_ok(
        "rpm",
        &[
            "-qp",
            "--nosignature",
            "--qf",
            "[%{REQUIRENAME} %{REQUIREFLAGS:deptype}\n]",
            package.to_str().unwrap(),
        ],
    ));
    assert!(
        pre_requires.lines().any(|l| l == "shadow-utils pre"),
        "{pre_requires}"
    );
    assert!(
        rpm_list(&package, "--requires").contains(&"hostnet-tools".to_string()),
        "every host package pulls in hostnet-verify"
    );
    let identity = hostnet::package::host_identity("dockerhost-01");
    assert!(identity.chars().all(|c| c.is_ascii_digit()), "{identity}");
    assert!(rpm_list(&package, "--provides").contains(&format!("hostnet-host = {identity}")));
    assert_eq!(
        rpm_list(&package, "--conflicts"),
        [
            format!("hostnet-host < {identity}"),
            format!("hostnet-host > {identity}")
        ]
    );

    let files = stdout(&run_ok(
        "rpm",
        &[
            "-qp",
            "--nosignature",
            "--qf",
            "[%{FILEMODES:perms} %{FILEFLAGS:fflags} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]",
            package.to_str().unwrap(),
        ],
    ));
    let expected = "\
-rw-r--r-- c root:root /etc/modules-load.d/bonding.conf
-rw-r--r-- c root:root /etc/sysconfig/network-scripts/ifcfg-bond0
-rw-r--r-- c root:root /etc/sysconfig/network-scripts/ifcfg-bond0.136
-rw-r--r-- c root:root /etc/sysconfig/network-scripts/ifcfg-bond0.51
-rw-r--r-- c root:root /etc/sysconfig/network-scripts/ifcfg-docker0
-rw-r--r-- c root:root /etc/sysconfig/network-scripts/ifcfg-enp2s0f0
-rw-r--r-- c root:root /etc/sysconfig/network-scripts/ifcfg-enp2s0f1
-rw-r--r-- c root:root /etc/sysctl.d/90-hostnet.conf
drwxr-xr-x  root:root /etc/systemd/system/docker.service.d
-rw-r--r-- c root:root /etc/systemd/system/docker.service.d/hostnet.conf
drwxr-xr-x  root:root /usr/share/hostnet
-rw-r--r--  root:root /usr/share/hostnet/apply-settings
-rw-r--r--  root:root /usr/share/hostnet/expected-state
";
    assert_eq!(
        files, expected,
        "plain %config (flag c, not n) on every file under /etc; the directories are owned"
    );

    // The scriptlets in the package are the rendered ones.
    let render_dir = tempfile::tempdir().unwrap();
    let rendered = render_dir.path().join("r");
    let output = built.fleet.run(&[
        "render",
        "dockerhost-01",
        "--out",
        rendered.to_str().unwrap(),
    ]);
    assert!(output.status.success());
    let read =
        |name: &str| std::fs::read_to_string(rendered.join("scriptlets").join(name)).unwrap();
    assert_eq!(
        rpm_query(&package, "%{PREIN}").trim_end(),
        read("pre.sh").trim_end()
    );
    assert_eq!(
        rpm_query(&package, "%{POSTIN}").trim_end(),
        read("post.sh").trim_end()
    );
    assert_eq!(
        rpm_query(&package, "%{POSTUN}").trim_end(),
        read("postun.sh").trim_end()
    );
    assert_eq!(
        rpm_query(&package, "%{PREINPROG} %{POSTINPROG} %{POSTUNPROG}"),
        "/bin/sh /bin/sh /bin/sh"
    );

    // The files carry the rendered content. rpm2cpio itself must succeed: it exits 1, having
    // written the whole archive, when the signature header lacks PAYLOADSIZE (tag 1007).
    let temp = tempfile::tempdir().unwrap();
    let cpio = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; rpm2cpio {} | (cd {} && cpio -idm --quiet)",
            package.display(),
            temp.path().display()
        ))
        .output()
        .unwrap();
    assert!(cpio.status.success(), "{}", stderr(&cpio));
    let listing = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; rpm2cpio {} | cpio -t --quiet",
            package.display()
        ))
        .output()
        .unwrap();
    assert!(listing.status.success(), "{}", stderr(&listing));
    assert!(stdout(&listing).contains("./etc/sysconfig/network-scripts/ifcfg-bond0"));
    assert_eq!(
        std::fs::read_to_string(
            temp.path()
                .join("etc/sysconfig/network-scripts/ifcfg-bond0")
        )
        .unwrap(),
        std::fs::read_to_string(rendered.join("etc/sysconfig/network-scripts/ifcfg-bond0"))
            .unwrap()
    );
}

#[test]
fn el7_structure_signature_header_and_limits() {
    let built = signed_build();
    let package = rpm::Package::open(package_path(&built.out, "dockerhost-01", 1)).unwrap();
    let bytes = std::fs::read(package_path(&built.out, "dockerhost-01", 1)).unwrap();
    // Lead: magic, format 3.0 (what rpm 4 writes in the lead for v4 packages), binary package.
    assert_eq!(&bytes[..4], &[0xed, 0xab, 0xee, 0xdb]);
    assert_eq!((bytes[4], bytes[5]), (3, 0));
    assert_eq!(&package.payload[..2], &[0x1f, 0x8b], "gzip payload");

    let tags = signature_tags(&package);
    // region, RSA, SHA1, SHA256, SIZE, PGP, MD5, PAYLOADSIZE, RESERVEDSPACE: what EL7's rpmbuild
    // and rpmsign write, no rpm-6 tags.
    assert_eq!(tags, [62, 268, 269, 273, 1000, 1002, 1004, 1007, 1008]);
    let data: usize = package
        .metadata
        .signature
        .get_all_entries()
        .unwrap()
        .iter()
        .map(|(_, d)| match d {
            rpm::IndexData::Bin(b) => b.len(),
            rpm::IndexData::StringTag(s) => s.len() + 1,
            rpm::IndexData::Int32(v) => v.len() * 4,
            _ => 16,
        })
        .sum();
    assert!(
        tags.len() <= 32 && data <= 8192,
        "{} tags, {data} bytes",
        tags.len()
    );
    let header = &package.metadata.header;
    assert!(
        !header.entry_is_present(rpm::IndexTag::RPMTAG_LONGSIZE as u32),
        "LargeFiles headers need rpm 4.12"
    );
    assert_eq!(
        header
            .get_entry_data_as_string(rpm::IndexTag::RPMTAG_PAYLOADCOMPRESSOR)
            .unwrap(),
        "gzip"
    );
    assert_eq!(package.metadata.get_build_time().unwrap(), 1_700_000_000);
    for file in package.metadata.get_file_entries().unwrap() {
        assert_eq!(
            file.modified_at(),
            rpm::Timestamp(1_700_000_000),
            "{}",
            file.path().display()
        );
    }
}

#[test]
fn rpmlint_is_clean_apart_from_documented_waivers() {
    require_tool("rpmlint");
    let built = signed_build();
    let config = common::repo_root().join("tests/rpmlint.toml");
    let packages: Vec<String> = std::fs::read_dir(built.out.join("repo/Packages"))
        .unwrap()
        .map(|e| e.unwrap().path().to_string_lossy().into_owned())
        .collect();
    let mut args = vec!["-c", config.to_str().unwrap()];
    args.extend(packages.iter().map(String::as_str));
    let output = Command::new("rpmlint").args(&args).output().unwrap();
    let report = stdout(&output);
    assert!(output.status.success(), "{report}{}", stderr(&output));
    assert!(
        report.contains("6 packages and 0 specfiles checked; 0 errors, 0 warnings"),
        "{report}"
    );
}

#[test]
fn same_inputs_and_source_date_give_identical_bytes() {
    let built = signed_build();
    let again = tempfile::tempdir().unwrap();
    let out = again.path().join("dist");
    let output = build(&built.fleet, Some(&built.secret), &out, EPOCH);
    assert!(output.status.success(), "{}", stderr(&output));
    for host in ["dockerhost-01", "dockerhost-02", "dockerhost-03"] {
        assert_eq!(
            std::fs::read(package_path(&built.out, host, 1)).unwrap(),
            std::fs::read(package_path(&out, host, 1)).unwrap(),
            "{host}: signatures included, two builds must be byte-identical"
        );
    }
    assert_eq!(
        std::fs::read(built.out.join("repo/SHA256SUMS")).unwrap(),
        std::fs::read(out.join("repo/SHA256SUMS")).unwrap()
    );
    let listing = |dir: &Path| {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.join("repo/repodata"))
            .unwrap()
            .map(|e| e.unwrap())
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    };
    assert_eq!(
        listing(&built.out),
        listing(&out),
        "repodata is reproducible too"
    );
    // primary, filelists, other, repomd.xml and its detached signature.
    assert_eq!(listing(&out).len(), 5);
    // Another epoch is another build.
    let other = again.path().join("other");
    assert!(
        build(&built.fleet, Some(&built.secret), &other, "1700000001")
            .status
            .success()
    );
    assert_ne!(
        std::fs::read(package_path(&built.out, "dockerhost-01", 1)).unwrap(),
        std::fs::read(package_path(&other, "dockerhost-01", 1)).unwrap()
    );
}

#[test]
fn unchanged_hosts_keep_their_package_and_changed_ones_get_a_higher_version() {
    let built = signed_build();
    let before_01 = std::fs::read(package_path(&built.out, "dockerhost-01", 1)).unwrap();
    let before_02 = std::fs::read(package_path(&built.out, "dockerhost-02", 1)).unwrap();
    built.fleet.append(
        "rack-a/dockerhost-02.toml",
        "[sysctl]\n\"net.core.somaxconn\" = 1024\n",
    );
    // A later build time must not matter for an unchanged host.
    let output = build(&built.fleet, Some(&built.secret), &built.out, "1800000000");
    assert!(output.status.success(), "{}", stderr(&output));
    let report = stdout(&output);
    assert!(
        report.contains("unchanged  hostnet-dockerhost-01-1-1.noarch.rpm"),
        "{report}"
    );
    assert!(
        report.contains("built  hostnet-dockerhost-02-2-1.noarch.rpm"),
        "{report}"
    );
    assert_eq!(
        std::fs::read(package_path(&built.out, "dockerhost-01", 1)).unwrap(),
        before_01
    );
    assert!(
        report.contains("unchanged  hostnet-tools-1-1.noarch.rpm")
            && !report.contains("  retired  "),
        "hostnet-tools is the fleet's own package, never retired: {report}"
    );
    assert!(
        report.contains("kept  hostnet-dockerhost-02-1-1.noarch.rpm"),
        "the previous version stays listed for yum downgrade: {report}"
    );
    assert!(package_path(&built.out, "dockerhost-02", 1).exists());
    let new_02 = package_path(&built.out, "dockerhost-02", 2);
    assert_ne!(std::fs::read(&new_02).unwrap(), before_02);
    // rpm agrees that the new one is newer.
    let compare = run_ok(
        "rpm",
        &[
            "-qp",
            "--nosignature",
            "--qf",
            "%{EVR}",
            new_02.to_str().unwrap(),
        ],
    );
    assert_eq!(stdout(&compare), "2-1");
    let vercmp = Command::new("rpmdev-vercmp").arg("1-1").arg("2-1").output();
    if let Ok(vercmp) = vercmp {
        assert!(stdout(&vercmp).contains('<'), "{}", stdout(&vercmp));
    }

    // Built elsewhere against the published packages (--previous), the result is the same.
    let elsewhere = tempfile::tempdir().unwrap();
    let fresh = elsewhere.path().join("dist");
    let previous = built.out.join("repo/Packages");
    let output = Command::new(env!("CARGO_BIN_EXE_hostnet"))
        .args([
            "build",
            "--out",
            fresh.to_str().unwrap(),
            "--key",
            built.secret.to_str().unwrap(),
            "--previous",
            previous.to_str().unwrap(),
        ])
        .current_dir(built.fleet.dir.path())
        .env("SOURCE_DATE_EPOCH", "1800000000")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        std::fs::read(package_path(&fresh, "dockerhost-02", 2)).unwrap(),
        std::fs::read(&new_02).unwrap()
    );
}

/// Every file of a build's output (its parts, through their symlinks): relative path -> (bytes,
/// inode).
fn output_files(out: &Path) -> std::collections::BTreeMap<String, (Vec<u8>, u64)> {
    use std::os::unix::fs::MetadataExt;
    let mut files = std::collections::BTreeMap::new();
    for part in ["repo", "kickstart", "pxe"] {
        for entry in walkdir::WalkDir::new(out.join(part)).follow_root_links(true) {
            let entry = entry.unwrap();
            if entry.file_type().is_file() {
                let relative = entry.path().strip_prefix(out).unwrap();
                files.insert(
                    relative.display().to_string(),
                    (
                        std::fs::read(entry.path()).unwrap(),
                        entry.metadata().unwrap().ino(),
                    ),
                );
            }
        }
    }
    files
}

fn live_generation(out: &Path) -> std::path::PathBuf {
    out.join(".hostnet")
        .join(std::fs::read_link(out.join(".hostnet/current")).unwrap())
}

/// The parts of the live generation that are symlinks to the generation holding them (always a
/// real directory: never a chain), by name.
fn shared_parts(out: &Path) -> Vec<String> {
    let live = live_generation(out);
    let mut shared = Vec::new();
    for part in ["repo", "kickstart", "pxe"] {
        let Ok(target) = std::fs::read_link(live.join(part)) else {
            continue;
        };
        let holder = live
            .parent()
            .unwrap()
            .join(target.strip_prefix("..").unwrap());
        assert!(
            holder.is_dir() && !holder.is_symlink(),
            "{part} -> {}",
            target.display()
        );
        shared.push(part.to_string());
    }
    shared
}

/// Stale generations are removed, but for the parts the live one shares with them: every
/// generation directory but the live one holds only parts the live one links to.
fn assert_only_live_and_shared_generations(out: &Path) {
    let builds = out.join(".hostnet/builds");
    let live = live_generation(out);
    for generation in std::fs::read_dir(&builds).unwrap() {
        let generation = generation.unwrap().path();
        if generation == live {
            continue;
        }
        for part in std::fs::read_dir(&generation).unwrap() {
            let part = part.unwrap().file_name();
            let shared = std::fs::read_link(live.join(&part)).ok();
            let holder = Path::new("..").join(generation.file_name().unwrap());
            assert_eq!(
                shared,
                Some(holder.join(&part)),
                "{} is neither live nor shared by the live generation",
                generation.join(&part).display()
            );
        }
    }
}

/// The live repository's primary metadata, uncompressed by zcat.
fn live_primary(out: &Path) -> String {
    let primary = std::fs::read_dir(out.join("repo/repodata"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-primary.xml.gz"))
        .unwrap();
    stdout(&Command::new("zcat").arg(primary).output().unwrap())
}

/// The build's index of its repository (which rebuilds read instead of the metadata) lists
/// exactly what parsing the live metadata gives.
fn assert_index_is_of_the_live_metadata(out: &Path) {
    let repo = hostnet::repository::Location::Directory(out.join("repo"));
    let parsed = hostnet::repository::read(&repo).unwrap();
    let index = out.join(".hostnet/repository-index");
    let indexed = hostnet::repository::index::load(&index, &parsed.repomd)
        .expect("an index of the live metadata");
    assert_eq!(indexed.len(), parsed.packages.len());
    assert!(indexed == parsed.packages, "the index lists other packages");
}

/// A rebuild writes only what changed: with nothing changed it leaves the live output as it is;
/// with one host changed, the other hosts' files are the very same files (hard links, not
/// copies). And what it lists is what a build that re-reads every package computes.
#[test]
fn rebuilds_write_only_what_changed_and_agree_with_a_build_that_rereads_everything() {
    let fleet = Fleet::with_extra_hosts(12);
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = hostnet_key(dir.path(), "incremental");
    let out = dir.path().join("out");
    let first = build(&fleet, Some(&key), &out, EPOCH);
    assert!(first.status.success(), "{}", stderr(&first));
    let live = live_generation(&out);
    let before = output_files(&out);
    assert_index_is_of_the_live_metadata(&out);
    let first_index = std::fs::read(out.join(".hostnet/repository-index")).unwrap();

    // The live generation's manifest is one sha256sum reads.
    let check = Command::new("sha256sum")
        .args(["--check", "--quiet", "manifest.sha256"])
        .current_dir(&live)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", stdout(&check));

    let again = build(&fleet, Some(&key), &out, EPOCH);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stdout(&again).contains("nothing changed"),
        "{}",
        stdout(&again)
    );
    assert_eq!(live_generation(&out), live, "the live generation stays");
    assert_eq!(output_files(&out), before, "no file is rewritten");

    fleet.append(
        "host-00003.toml",
        "[sysctl]\n\"net.core.somaxconn\" = 1024\n",
    );
    let changed = build(&fleet, Some(&key), &out, EPOCH);
    assert!(changed.status.success(), "{}", stderr(&changed));
    assert!(!stdout(&changed).contains("nothing changed"));
    assert_ne!(live_generation(&out), live);
    let after = output_files(&out);
    for unchanged in [
        "repo/Packages/hostnet-host-00004-1-1.noarch.rpm",
        "repo/Packages/hostnet-host-00003-1-1.noarch.rpm",
        "repo/Packages/hostnet-tools-1-1.noarch.rpm",
        "kickstart/host-00004.ks",
    ] {
        assert_eq!(
            after[unchanged], before[unchanged],
            "{unchanged} is the same file"
        );
    }
    assert!(after.contains_key("repo/Packages/hostnet-host-00003-2-1.noarch.rpm"));
    assert_index_is_of_the_live_metadata(&out);
    // Only the package changed: the kickstarts and PXE entries are the previous generation's
    // directories, shared rather than linked file by file.
    assert_eq!(shared_parts(&out), ["kickstart", "pxe"]);
    assert_only_live_and_shared_generations(&out);
    // An index of other metadata (here the first build's) is not used, and is replaced.
    std::fs::write(out.join(".hostnet/repository-index"), &first_index).unwrap();
    let stale = build(&fleet, Some(&key), &out, EPOCH);
    assert!(stale.status.success(), "{}", stderr(&stale));
    assert!(
        stdout(&stale).contains("nothing changed"),
        "{}",
        stdout(&stale)
    );
    assert_eq!(output_files(&out), after);
    assert_index_is_of_the_live_metadata(&out);
    let primary = |files: &std::collections::BTreeMap<String, (Vec<u8>, u64)>| {
        files
            .keys()
            .find(|k| k.ends_with("-primary.xml.gz"))
            .cloned()
            .unwrap()
    };
    assert_ne!(primary(&after), primary(&before));
    let filelists = before
        .keys()
        .find(|k| k.ends_with("-filelists.xml.gz"))
        .unwrap();
    assert!(
        !after.contains_key(filelists),
        "filelists lists the new package too"
    );

    // Without a manifest a build trusts nothing it finds: it reads every package again and
    // computes every entry from the files; the result is byte for byte the incremental one.
    std::fs::remove_file(live_generation(&out).join("manifest.sha256")).unwrap();
    let reread = build(&fleet, Some(&key), &out, EPOCH);
    assert!(reread.status.success(), "{}", stderr(&reread));
    let reread_files = output_files(&out);
    assert_eq!(
        reread_files.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (path, (bytes, _)) in &reread_files {
        assert!(
            bytes == &after[path].0,
            "{path} differs from the incremental build's"
        );
    }

    // Hosts are not rendered again when their inputs are unchanged; templates and site settings
    // are inputs too. A kickstart template override changes every kickstart and no package...
    let overrides = fleet.dir.path().join("overrides/kickstart");
    std::fs::create_dir_all(&overrides).unwrap();
    let post = std::fs::read_to_string(common::repo_root().join("kickstart/post.ks.j2")).unwrap();
    std::fs::write(
        overrides.join("post.ks.j2"),
        format!("{post}# site addition\n"),
    )
    .unwrap();
    let with_templates = |fleet: &Fleet| {
        Command::new(env!("CARGO_BIN_EXE_hostnet"))
            .args(["build", "--out", out.to_str().unwrap(), "--key"])
            .arg(&key)
            .args(["--templates", "overrides"])
            .current_dir(fleet.dir.path())
            .env("SOURCE_DATE_EPOCH", EPOCH)
            .output()
            .unwrap()
    };
    let templated = with_templates(&fleet);
    assert!(templated.status.success(), "{}", stderr(&templated));
    assert!(
        !stdout(&templated).contains("built  "),
        "{}",
        stdout(&templated)
    );
    let templated_files = output_files(&out);
    for (path, (bytes, _)) in &templated_files {
        if path.ends_with(".ks") {
            assert!(bytes.ends_with(b"# site addition\n"), "{path}");
        }
    }
    assert_eq!(shared_parts(&out), ["repo", "pxe"]);
    assert_only_live_and_shared_generations(&out);
    // ... and a site setting every host inherits changes every host's package.
    let site = std::fs::read_to_string(fleet.hosts().join("site.toml")).unwrap();
    fleet.write(
        "site.toml",
        &format!("{site}\n[defaults.sysctl]\n\"vm.swappiness\" = 10\n"),
    );
    let resited = with_templates(&fleet);
    assert!(resited.status.success(), "{}", stderr(&resited));
    let report = stdout(&resited);
    assert!(
        report.contains("built  hostnet-host-00004-2-1.noarch.rpm")
            && report.contains("built  hostnet-dockerhost-01-2-1.noarch.rpm"),
        "{report}"
    );
    assert_index_is_of_the_live_metadata(&out);

    // The memo is a cache: one that cannot be read costs time, never a wrong output.
    std::fs::write(out.join(".hostnet/render-memo"), "not a memo\n\u{0}").unwrap();
    let unmemoised = with_templates(&fleet);
    assert!(unmemoised.status.success(), "{}", stderr(&unmemoised));
    assert!(stdout(&unmemoised).contains("nothing changed"));
    // So is the repository index: damaged (cut short), it is read past and written again.
    let index = out.join(".hostnet/repository-index");
    let whole = std::fs::read(&index).unwrap();
    std::fs::write(&index, &whole[..whole.len() / 2]).unwrap();
    let unindexed = with_templates(&fleet);
    assert!(unindexed.status.success(), "{}", stderr(&unindexed));
    assert!(stdout(&unindexed).contains("nothing changed"));
    assert_eq!(std::fs::read(&index).unwrap(), whole);

    // A live file removed by hand is named, with the way out; nothing is half-written.
    let live = live_generation(&out);
    std::fs::remove_file(live.join("kickstart/host-00004.ks")).unwrap();
    fleet.append(
        "host-00005.toml",
        "[sysctl]\n\"net.core.somaxconn\" = 2048\n",
    );
    let broken = with_templates(&fleet);
    assert_eq!(broken.status.code(), Some(1));
    let message = stderr(&broken);
    assert!(
        message
            .contains("kickstart/host-00004.ks: listed in the live build's manifest but missing")
            && message.contains("manifest.sha256"),
        "{message}"
    );
    assert_eq!(live_generation(&out), live, "the live output stays");
    std::fs::remove_file(live.join("manifest.sha256")).unwrap();
    let repaired = with_templates(&fleet);
    assert!(repaired.status.success(), "{}", stderr(&repaired));
    assert!(out.join("kickstart/host-00004.ks").is_file());
    assert_index_is_of_the_live_metadata(&out);

    // The index's entries missing beside a valid listing: a rebuild that writes the metadata
    // again reads them from the metadata itself, and writes the index whole.
    let entries = out.join(".hostnet/repository-index.entries");
    std::fs::remove_file(&entries).unwrap();
    fleet.append(
        "host-00007.toml",
        "[sysctl]\n\"net.core.somaxconn\" = 512\n",
    );
    let reentried = with_templates(&fleet);
    assert!(reentried.status.success(), "{}", stderr(&reentried));
    assert!(
        stdout(&reentried).contains("built  hostnet-host-00007-3-1.noarch.rpm"),
        "{}",
        stdout(&reentried)
    );
    assert_index_is_of_the_live_metadata(&out);
    assert!(live_primary(&out).contains("hostnet-host-00007-3-1.noarch.rpm"));

    // The entries file damaged in place, its size unchanged (a host's name altered in the entries
    // of a package that stays): it is not the file the listing names, so the metadata is read
    // instead, and nothing of the damage reaches the new metadata.
    let mut damaged = std::fs::read(&entries).unwrap();
    let at = damaged
        .windows(10)
        .position(|w| w == b"host-00004")
        .expect("host-00004's entries");
    damaged[at..at + 10].copy_from_slice(b"host-0000X");
    std::fs::write(&entries, &damaged).unwrap();
    fleet.append(
        "host-00009.toml",
        "[sysctl]\n\"net.core.somaxconn\" = 256\n",
    );
    let undamaged = with_templates(&fleet);
    assert!(undamaged.status.success(), "{}", stderr(&undamaged));
    assert!(
        stdout(&undamaged).contains("built  hostnet-host-00009-"),
        "{}",
        stdout(&undamaged)
    );
    let primary = live_primary(&out);
    assert!(
        primary.contains("hostnet-host-00004-1-1.noarch.rpm") && !primary.contains("host-0000X")
    );
    assert_index_is_of_the_live_metadata(&out);

    // The same packages under another SOURCE_DATE_EPOCH: the documents are kept, repomd.xml
    // changes, and the index is written again for it.
    let documents_before: Vec<String> = output_files(&out)
        .into_keys()
        .filter(|k| k.ends_with(".xml.gz"))
        .collect();
    let redated = Command::new(env!("CARGO_BIN_EXE_hostnet"))
        .args(["build", "--out", out.to_str().unwrap(), "--key"])
        .arg(&key)
        .args(["--templates", "overrides"])
        .current_dir(fleet.dir.path())
        .env("SOURCE_DATE_EPOCH", "1700000999")
        .output()
        .unwrap();
    assert!(redated.status.success(), "{}", stderr(&redated));
    let documents_after: Vec<String> = output_files(&out)
        .into_keys()
        .filter(|k| k.ends_with(".xml.gz"))
        .collect();
    assert_eq!(documents_after, documents_before);
    assert_index_is_of_the_live_metadata(&out);
}

/// The live metadata documents are kept only for the very same listing: a rebuild listing as
/// many packages, but another one in place of one of them (a host renamed), writes them again.
#[test]
fn as_many_packages_but_not_the_same_get_new_metadata() {
    let fleet = Fleet::example();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let first = build(&fleet, None, &out, EPOCH);
    assert!(first.status.success(), "{}", stderr(&first));
    let listed = live_primary;
    let count = |text: &str| text.matches("<package type=\"rpm\">").count();
    let before = listed(&out);
    let hosts = fleet.hosts().join("rack-a");
    std::fs::rename(
        hosts.join("dockerhost-03.toml"),
        hosts.join("dockerhost-33.toml"),
    )
    .unwrap();
    let renamed = build(&fleet, None, &out, EPOCH);
    assert!(renamed.status.success(), "{}", stderr(&renamed));
    let after = listed(&out);
    assert_eq!(count(&after), count(&before), "{}", stdout(&renamed));
    assert!(after.contains("hostnet-dockerhost-33-1-1.noarch.rpm"));
    assert!(!after.contains("hostnet-dockerhost-03-"));
    assert_index_is_of_the_live_metadata(&out);
}

/// A signed build never lists a package signed otherwise: after an unsigned build, or with a new
/// key, the current packages are made again at their version and signed, older versions that
/// cannot be made again are retired, and rpmkeys verifies everything listed with the new key.
#[test]
fn a_signed_build_lists_only_packages_signed_with_its_key() {
    let fleet = Fleet::example();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let unsigned = build(&fleet, None, &out, EPOCH);
    assert!(unsigned.status.success(), "{}", stderr(&unsigned));
    fleet.append(
        "rack-a/dockerhost-02.toml",
        "[sysctl]\n\"net.core.somaxconn\" = 1024\n",
    );
    let unsigned_again = build(&fleet, None, &out, EPOCH);
    assert!(unsigned_again.status.success());

    let listed = |out: &Path| -> Vec<std::path::PathBuf> {
        let mut packages: Vec<_> = std::fs::read_dir(out.join("repo/Packages"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "rpm"))
            .collect();
        packages.sort();
        packages
    };
    for (name, secret, public) in [
        ("first", hostnet_key(dir.path(), "first")),
        ("second", hostnet_key(dir.path(), "second")),
    ]
    .map(|(name, (secret, public))| (name, secret, public))
    {
        // Another key than the output's is refused: hosts trust the key they were installed with.
        let refused = build(&fleet, Some(&secret), &out, EPOCH);
        assert_eq!(refused.status.code(), Some(1), "{name}");
        let expected = format!(
            "{}: its packages are signed {}",
            out.display(),
            if name == "first" {
                "by no key (unsigned)"
            } else {
                "with key "
            }
        );
        assert!(
            stderr(&refused).contains(&expected),
            "{name}: {}",
            stderr(&refused)
        );
        assert!(stderr(&refused).contains("pass --new-key"));
        let signed = common::build_with(&fleet, Some(&secret), &out, EPOCH, &["--new-key"]);
        assert!(signed.status.success(), "{}", stderr(&signed));
        let report = stdout(&signed);
        assert!(
            report.contains("built  hostnet-dockerhost-01-1-1.noarch.rpm")
                && report.contains("built  hostnet-dockerhost-02-2-1.noarch.rpm")
                && report.contains("built  hostnet-tools-1-1.noarch.rpm"),
            "{name}: the current versions are signed again: {report}"
        );
        if name == "first" {
            assert!(
                report.contains("retired  hostnet-dockerhost-02-1-1.noarch.rpm: signed with another key or unsigned"),
                "{report}"
            );
        }
        let packages = listed(&out);
        assert_eq!(packages.len(), 6, "{packages:?}");
        for package in &packages {
            let (ok, text) = verify_with(&public, package);
            assert!(ok, "{name}: {}: {text}", package.display());
        }
        // With nothing changed, the next build with the same key keeps them all.
        let again = build(&fleet, Some(&secret), &out, EPOCH);
        assert!(
            stdout(&again).contains("nothing changed"),
            "{}",
            stdout(&again)
        );
    }
}

#[test]
fn keygen_makes_an_el7_key_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, public) = hostnet_key(dir.path(), "ops");
    assert_eq!(
        std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let public_text = std::fs::read_to_string(&public).unwrap();
    assert!(public_text.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
    // gpg sees an RSA primary key that signs and certifies, and no subkey.
    require_tool("gpg");
    let home = tempfile::tempdir().unwrap();
    let listing = stdout(&run_ok(
        "gpg",
        &[
            "--homedir",
            home.path().to_str().unwrap(),
            "--with-colons",
            "--show-keys",
            public.to_str().unwrap(),
        ],
    ));
    let primary = listing.lines().find(|l| l.starts_with("pub:")).unwrap();
    let fields: Vec<&str> = primary.split(':').collect();
    assert_eq!((fields[2], fields[3]), ("2048", "1"), "RSA-2048: {primary}");
    assert!(
        fields[11].contains('s') && fields[11].contains('c'),
        "{primary}"
    );
    assert!(!listing.lines().any(|l| l.starts_with("sub:")), "{listing}");

    let again = common::hostnet(
        dir.path(),
        &[
            "keygen",
            "--uid",
            "x",
            "--secret-key",
            secret.to_str().unwrap(),
            "--public-key",
            dir.path().join("new").to_str().unwrap(),
        ],
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("already exists; hostnet keygen never overwrites a key"),
        "{}",
        stderr(&again)
    );
    assert!(!dir.path().join("new").exists());
}

#[test]
fn keygen_default_is_rsa_4096_with_a_passphrase_that_build_needs() {
    let dir = tempfile::tempdir().unwrap();
    let passphrase_file = dir.path().join("passphrase");
    std::fs::write(&passphrase_file, "correct horse\n").unwrap();
    let secret = dir.path().join("k.asc");
    let public = dir.path().join("k.pub");
    let output = common::hostnet(
        dir.path(),
        &[
            "keygen",
            "--uid",
            "Ops <ops@example.com>",
            "--secret-key",
            "k.asc",
            "--public-key",
            "k.pub",
            "--passphrase-file",
            "passphrase",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("created RSA-4096 key"));
    let fleet = Fleet::example();
    let out = dir.path().join("dist");
    // Without the passphrase: a clear refusal.
    let output = build(&fleet, Some(&secret), &out, EPOCH);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("cannot sign with the key")
            && stderr(&output).contains("HOSTNET_KEY_PASSPHRASE"),
        "{}",
        stderr(&output)
    );
    assert!(!out.exists(), "nothing is written when the key cannot sign");
    // With it, from the environment (never the command line).
    let output = Command::new(env!("CARGO_BIN_EXE_hostnet"))
        .args([
            "build",
            "--out",
            out.to_str().unwrap(),
            "--key",
            secret.to_str().unwrap(),
        ])
        .current_dir(fleet.dir.path())
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env("HOSTNET_KEY_PASSPHRASE", "correct horse")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(verify_with(&public, &package_path(&out, "dockerhost-01", 1)).0);
}

/// A scratch gpg home for keys hostnet did not make.
struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    fn new() -> Gpg {
        require_tool("gpg");
        Gpg {
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut all = vec![
            "--homedir",
            self.home.path().to_str().unwrap(),
            "--batch",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ];
        all.extend(args);
        run_ok("gpg", &all)
    }

    /// Exports the secret key of `uid` to a 0600 file.
    fn export(&self, uid: &str, path: &Path) {
        let armored = self.run(&["--armor", "--export-secret-keys", uid]).stdout;
        std::fs::write(path, armored).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

fn build_error(key: &Path) -> String {
    let fleet = Fleet::example();
    let out = key.parent().unwrap().join("dist");
    let output = build(&fleet, Some(key), &out, EPOCH);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(!out.exists());
    stderr(&output)
}

#[test]
fn a_gpg_rsa4096_signing_key_works() {
    let gpg = Gpg::new();
    gpg.run(&[
        "--quick-gen-key",
        "GPG Ops <gpg@example.com>",
        "rsa4096",
        "sign",
        "never",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("gpg.asc");
    gpg.export("gpg@example.com", &key);
    let public = dir.path().join("gpg.pub");
    std::fs::write(
        &public,
        gpg.run(&["--armor", "--export", "gpg@example.com"]).stdout,
    )
    .unwrap();
    let fleet = Fleet::example();
    let out = dir.path().join("dist");
    let output = build(&fleet, Some(&key), &out, EPOCH);
    assert!(output.status.success(), "{}", stderr(&output));
    let (ok, report) = verify_with(&public, &package_path(&out, "dockerhost-01", 1));
    assert!(ok, "{report}");
}

#[test]
fn eddsa_and_ecdsa_keys_are_refused() {
    let gpg = Gpg::new();
    gpg.run(&[
        "--quick-gen-key",
        "Ed <ed@example.com>",
        "ed25519",
        "sign",
        "never",
    ]);
    gpg.run(&[
        "--quick-gen-key",
        "Ec <ec@example.com>",
        "nistp256",
        "sign",
        "never",
    ]);
    let dir = tempfile::tempdir().unwrap();
    for (uid, name) in [("ed@example.com", "EdDSA"), ("ec@example.com", "ECDSA")] {
        let key = dir.path().join(format!("{name}.asc"));
        gpg.export(uid, &key);
        let error = build_error(&key);
        assert!(
            error.contains(&format!(
                "the key is {name}; EL7's rpm 4.11 verifies only RSA signatures"
            )),
            "{error}"
        );
    }
}

#[test]
fn an_rsa_key_too_small_to_trust_is_refused() {
    let gpg = Gpg::new();
    gpg.run(&[
        "--quick-gen-key",
        "Small <small@example.com>",
        "rsa1024",
        "sign",
        "never",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("small.asc");
    gpg.export("small@example.com", &key);
    let error = build_error(&key);
    assert!(
        error.contains("the RSA key has 1024 bits; use 2048 to 8192"),
        "{error}"
    );
}

#[test]
fn a_key_that_signs_only_with_a_subkey_is_refused() {
    let gpg = Gpg::new();
    gpg.run(&[
        "--quick-gen-key",
        "Sub <sub@example.com>",
        "rsa2048",
        "cert",
        "never",
    ]);
    let listing = stdout(&gpg.run(&["--with-colons", "--list-keys", "sub@example.com"]));
    let fingerprint = listing
        .lines()
        .find(|l| l.starts_with("fpr:"))
        .unwrap()
        .split(':')
        .nth(9)
        .unwrap()
        .to_string();
    gpg.run(&["--quick-add-key", &fingerprint, "rsa2048", "sign", "never"]);
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("sub.asc");
    gpg.export("sub@example.com", &key);
    let error = build_error(&key);
    assert!(
        error.contains(
            "the primary key cannot sign (only a subkey can); rpm 4.11 cannot use signing subkeys"
        ),
        "{error}"
    );
}

#[test]
fn a_secret_key_others_can_read_or_replace_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, _) = hostnet_key(dir.path(), "open");
    for (mode, exposure) in [
        (0o644, "readable by every user (mode 0644)"),
        (0o604, "readable by every user (mode 0604)"),
        (0o602, "writable by every user (mode 0602)"),
        (0o620, "writable by its group (mode 0620)"),
        (0o660, "writable by its group (mode 0660)"),
    ] {
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(mode)).unwrap();
        let error = build_error(&secret);
        assert!(
            error.contains(&format!(
                "the secret key file is {exposure}; run `chmod 600"
            )),
            "{mode:o}: {error}"
        );
    }
    // Group-readable is a deliberate choice some CI runners make; it is not refused.
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o640)).unwrap();
    let fleet = Fleet::example();
    let output = build(&fleet, Some(&secret), &dir.path().join("out"), EPOCH);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn unsigned_builds_need_the_flag_and_say_so() {
    let fleet = Fleet::example();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dist");
    let output = Command::new(env!("CARGO_BIN_EXE_hostnet"))
        .args(["build", "--out", out.to_str().unwrap()])
        .current_dir(fleet.dir.path())
        .env_remove("HOSTNET_SIGNING_KEY")
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(64),
        "no key and no --unsigned is a usage error"
    );
    assert!(
        stderr(&output).contains("--key FILE") && stderr(&output).contains("--unsigned"),
        "{}",
        stderr(&output)
    );
    let output = build(&fleet, None, &out, EPOCH);
    assert!(output.status.success());
    assert!(
        stderr(&output).contains("WARNING: building UNSIGNED packages"),
        "{}",
        stderr(&output)
    );
    let package = rpm::Package::open(package_path(&out, "dockerhost-01", 1)).unwrap();
    let tags = signature_tags(&package);
    assert_eq!(tags, [62, 269, 273, 1000, 1004, 1007, 1008]);
    let report = stdout(&run_ok(
        "rpmkeys",
        &[
            "-Kv",
            package_path(&out, "dockerhost-01", 1).to_str().unwrap(),
        ],
    ));
    assert!(
        report.contains("MD5 digest: OK") && !report.contains("Signature"),
        "{report}"
    );
}

#[test]
fn build_owns_only_its_parts_of_the_output_directory() {
    let fleet = Fleet::example();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(out.join("render")).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let output = build(&fleet, None, &out, EPOCH);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).unwrap(),
        "mine"
    );
    assert!(
        out.join("render").is_dir()
            && out.join("repo/repodata/repomd.xml").exists()
            && out.join("kickstart").is_dir()
    );
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(leftovers, ["out"], "no staging directory is left behind");

    // A repo/ hostnet did not write is never replaced.
    let foreign = dir.path().join("foreign");
    std::fs::create_dir_all(foreign.join("repo")).unwrap();
    std::fs::write(foreign.join("repo/index.html"), "someone else's").unwrap();
    let output = build(&fleet, None, &foreign, EPOCH);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output)
            .contains("foreign/repo: exists, is not empty and was not written by hostnet"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        std::fs::read_to_string(foreign.join("repo/index.html")).unwrap(),
        "someone else's"
    );
}

#[test]
fn the_key_may_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, public) = hostnet_key(dir.path(), "from-env");
    let fleet = Fleet::example();
    let out = dir.path().join("dist");
    let output = Command::new(env!("CARGO_BIN_EXE_hostnet"))
        .args(["build", "--out", out.to_str().unwrap()])
        .current_dir(fleet.dir.path())
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env("HOSTNET_SIGNING_KEY", &secret)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(verify_with(&public, &package_path(&out, "dockerhost-01", 1)).0);
}

#[test]
fn scriptlet_overrides_reach_render_and_the_package_alike() {
    let fleet = Fleet::example();
    let overrides = fleet.dir.path().join("overrides/specs");
    std::fs::create_dir_all(&overrides).unwrap();
    std::fs::write(
        overrides.join("postun.sh.j2"),
        "# site postun for {{ host }}\nsystemctl daemon-reload\nexit 0\n",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dist");
    let output = Command::new(env!("CARGO_BIN_EXE_hostnet"))
        .args([
            "build",
            "--unsigned",
            "--out",
            out.to_str().unwrap(),
            "--templates",
            "overrides",
        ])
        .current_dir(fleet.dir.path())
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let package = package_path(&out, "dockerhost-01", 1);
    assert!(rpm_query(&package, "%{POSTUN}").starts_with("# site postun for dockerhost-01\n"));
    let rendered = dir.path().join("render");
    let output = fleet.run(&[
        "render",
        "dockerhost-01",
        "--templates",
        "overrides",
        "--out",
        rendered.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        std::fs::read_to_string(rendered.join("scriptlets/postun.sh"))
            .unwrap()
            .trim_end(),
        rpm_query(&package, "%{POSTUN}").trim_end()
    );
}

/// Our repodata says what createrepo_c says of the same packages (it cannot be used instead: version
/// 1.x writes zstd by default and the tool would be one more build dependency of every pipeline).
#[test]
fn primary_metadata_agrees_with_createrepo_c() {
    require_tool("createrepo_c");
    let built = signed_build();
    let reference = tempfile::tempdir().unwrap();
    run_ok(
        "cp",
        &[
            "-r",
            built.out.join("repo/Packages").to_str().unwrap(),
            reference.path().to_str().unwrap(),
        ],
    );
    run_ok(
        "createrepo_c",
        &[
            "-q",
            "--general-compress-type=gz",
            reference.path().to_str().unwrap(),
        ],
    );
    let primary = |repodata: &Path| {
        let file = std::fs::read_dir(repodata)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with("-primary.xml.gz"))
            .unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(std::fs::File::open(file).unwrap()),
            &mut text,
        )
        .unwrap();
        // What yum and dnf resolve and download by, package by package; createrepo_c records no
        // archive size for packages without the ARCHIVESIZE tag.
        let mut packages: Vec<Vec<String>> = text
            .split("<package type=\"rpm\">")
            .skip(1)
            .map(|block| {
                block
                    .lines()
                    .map(str::trim)
                    .filter(|l| {
                        [
                            "<name>",
                            "<version ",
                            "<checksum ",
                            "<location ",
                            "<rpm:header-range",
                            "<rpm:entry",
                            "<file",
                            "<rpm:provides",
                            "<rpm:requires",
                            "<rpm:conflicts",
                        ]
                        .iter()
                        .any(|p| l.starts_with(p))
                    })
                    .map(String::from)
                    .chain(
                        block
                            .lines()
                            .map(str::trim)
                            .filter(|l| l.starts_with("<size "))
                            .map(|l| l.split(" archive=").next().unwrap().to_string()),
                    )
                    .collect()
            })
            .collect();
        packages.sort();
        packages
    };
    let ours = primary(&built.out.join("repo/repodata"));
    let theirs = primary(&reference.path().join("repodata"));
    assert_eq!(ours.len(), 6, "five hosts and hostnet-tools");
    assert_eq!(ours, theirs);
}

/// Every package `repo/repodata` lists exists in `repo/Packages`, and `kickstart/` holds one file per
/// package: the three parts come from one build.
fn assert_output_whole(out: &Path, hosts: usize) {
    let repomd = std::fs::read_to_string(out.join("repo/repodata/repomd.xml"))
        .unwrap_or_else(|e| panic!("repo/repodata/repomd.xml: {e}"));
    let primary_href = repomd
        .split("<location href=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap())
        .find(|href| href.contains("primary"))
        .expect("primary in repomd.xml");
    let primary = std::fs::read(out.join("repo").join(primary_href)).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&primary[..]), &mut text)
        .unwrap();
    let locations: Vec<&str> = text
        .split("<location href=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap())
        .collect();
    assert!(locations.len() >= hosts, "{} < {hosts}", locations.len());
    for location in locations {
        assert!(out.join("repo").join(location).is_file(), "{location}");
    }
    assert_eq!(
        std::fs::read_dir(out.join("kickstart")).unwrap().count(),
        hosts + 1
    );
}

/// `kill -9` of `build` at any moment, its final switch included, leaves the previous output or
/// the new one whole; the next build completes, removes what the killed ones left, and numbers on
/// from what was live.
#[test]
fn killing_build_at_any_moment_leaves_a_whole_output() {
    let extra = 150;
    let hosts = extra + 5;
    let fleet = Fleet::with_extra_hosts(extra);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let first = build(&fleet, None, &out, EPOCH);
    assert!(first.status.success(), "{}", stderr(&first));
    let started = std::time::Instant::now();
    let second = build(&fleet, None, &out, EPOCH);
    assert!(second.status.success());
    let build_time = started.elapsed().as_micros() as u64;

    let original = std::fs::read_to_string(fleet.hosts().join("rack-a/host-00000.toml")).unwrap();
    // A fixed pseudo-random sequence of kill points spread over a whole build; bounded count.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..30 {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let delay = (seed >> 33) % (build_time + build_time / 4 + 1);
        fleet.write(
            "rack-a/host-00000.toml",
            &format!(
                "{original}[docker]\nextra-flags = [\"--max-concurrent-downloads={}\"]\n",
                round + 1
            ),
        );
        common::kill_after(
            Command::new(env!("CARGO_BIN_EXE_hostnet"))
                .args(["build", "--unsigned", "--out", out.to_str().unwrap()])
                .current_dir(fleet.dir.path())
                .env("SOURCE_DATE_EPOCH", EPOCH),
            std::time::Duration::from_micros(delay),
        );
        assert_output_whole(&out, hosts);
    }
    let last = build(&fleet, None, &out, EPOCH);
    assert!(last.status.success(), "{}", stderr(&last));
    assert_output_whole(&out, hosts);
    assert_only_live_and_shared_generations(&out);
    let entries: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        entries
            .iter()
            .all(|e| [".hostnet", "repo", "kickstart", "pxe"].contains(&e.as_str())),
        "{entries:?}"
    );
    // Nor is anything left in the state directory of the builds killed while writing its caches.
    let mut state: Vec<String> = std::fs::read_dir(out.join(".hostnet"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    state.sort();
    assert_eq!(
        state,
        [
            "builds",
            "current",
            "lock",
            "render-memo",
            "repository-index",
            "repository-index.entries"
        ],
    );
    let packages: Vec<String> = std::fs::read_dir(out.join("repo/Packages"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(packages.contains(&"hostnet-host-00001-1-1.noarch.rpm".to_string()));
    let changed: Vec<&String> = packages
        .iter()
        .filter(|p| p.starts_with("hostnet-host-00000-"))
        .collect();
    assert!(
        (2..=3).contains(&changed.len()),
        "a changed host and at most keep-versions (3) versions: {changed:?}"
    );
}

/// A build never writes a name-version-release that a known directory already holds with other
/// content, and a `--previous` that is not there is an error, not an empty history.
#[test]
fn a_build_never_reuses_a_published_name_version_release() {
    let fleet = Fleet::example();
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    let output = build(&fleet, None, &first, EPOCH);
    assert!(output.status.success(), "{}", stderr(&output));

    // A file under dockerhost-01's next name that is something else (here dockerhost-02's package).
    let previous = dir.path().join("published");
    std::fs::create_dir_all(&previous).unwrap();
    std::fs::copy(
        package_path(&first, "dockerhost-02", 1),
        previous.join("hostnet-dockerhost-01-1-1.noarch.rpm"),
    )
    .unwrap();
    let out = dir.path().join("second");
    let run = |previous: &Path| {
        Command::new(env!("CARGO_BIN_EXE_hostnet"))
            .args(["build", "--unsigned", "--out"])
            .arg(&out)
            .arg("--previous")
            .arg(previous)
            .current_dir(fleet.dir.path())
            .env("SOURCE_DATE_EPOCH", EPOCH)
            .output()
            .unwrap()
    };
    let refused = run(&previous);
    assert_eq!(refused.status.code(), Some(1));
    let message = stderr(&refused);
    assert!(
        message.contains("refusing to build hostnet-dockerhost-01-1-1.noarch.rpm: ")
            && message.contains("published/hostnet-dockerhost-01-1-1.noarch.rpm already has that name, version and release with other content"),
        "{message}"
    );
    assert!(!out.join("repo").exists(), "nothing is written");

    let missing = run(&dir.path().join("no-such-dir"));
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("no-such-dir: --previous does not exist"),
        "{}",
        stderr(&missing)
    );

    // Numbering continues from the highest version either place holds.
    std::fs::remove_file(previous.join("hostnet-dockerhost-01-1-1.noarch.rpm")).unwrap();
    std::fs::copy(
        package_path(&first, "dockerhost-01", 1),
        previous.join("hostnet-dockerhost-01-1-1.noarch.rpm"),
    )
    .unwrap();
    let host = fleet.hosts().join("dockerhost-01.toml");
    let text = std::fs::read_to_string(&host).unwrap();
    std::fs::write(
        &host,
        format!("{text}\n[sysctl]\n\"net.core.somaxconn\" = 1024\n"),
    )
    .unwrap();
    let output = run(&previous);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(package_path(&out, "dockerhost-01", 2).exists());
    std::fs::write(
        &host,
        format!("{text}\n[sysctl]\n\"net.core.somaxconn\" = 2048\n"),
    )
    .unwrap();
    let output = run(&previous);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(package_path(&out, "dockerhost-01", 3).exists());
}

/// One host package per machine, in the shape rpm 4.11 accepts on reinstall: librpm's own matching
/// says a package's provides never meet its own conflicts (what rpm before 4.16 checks on
/// `--replacepkgs`), while any two hosts' packages conflict both ways.
#[test]
fn host_packages_conflict_with_each_other_but_never_with_themselves() {
    require_tool("/usr/bin/python3");
    let fleet = Fleet::with_extra_hosts(20);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = build(&fleet, None, &out, EPOCH);
    assert!(output.status.success(), "{}", stderr(&output));
    let script = common::repo_root().join("tests/scripts/capability_overlaps.py");
    // Names rpm's version comparison would confuse if they were the versions themselves.
    let hosts = [
        "dockerhost-01",
        "dockerhost-02",
        "host-00001",
        "host-00010",
        "host-00019",
    ];
    for a in hosts {
        for b in hosts.iter().filter(|b| **b != a) {
            let report = stdout(&run_ok(
                "/usr/bin/python3",
                &[
                    script.to_str().unwrap(),
                    package_path(&out, a, 1).to_str().unwrap(),
                    package_path(&out, b, 1).to_str().unwrap(),
                ],
            ));
            assert_eq!(report, "False True True\n", "{a} and {b}");
        }
    }
}

/// The MPI of an RSA signature packet: (bit count, byte length), read from its end.
fn signature_mpi(packet: &[u8]) -> (usize, usize) {
    (1..=512)
        .find_map(|length| {
            let at = packet.len().checked_sub(length + 2)?;
            let bits = u16::from_be_bytes([packet[at], packet[at + 1]]) as usize;
            (bits.div_ceil(8) == length && packet[at + 2] != 0).then_some((bits, length))
        })
        .unwrap()
}

#[test]
fn the_package_signer_writes_the_pgp_crates_packets_byte_for_byte() {
    use rpm::signature::Signing as _;
    let dir = tempfile::tempdir().unwrap();
    let (secret, _) = common::hostnet_key(dir.path(), "same");
    let key = hostnet::package::signing::SigningKey::load(&secret, None).unwrap();
    let reference_signer = key.reference_signer().unwrap();
    let compare = |data: &[u8], time: u32| {
        let time = rpm::Timestamp(time);
        let fast = key.package_signer.sign(data, time).unwrap();
        let reference = reference_signer.sign(data, time).unwrap();
        assert_eq!(fast, reference, "{} bytes at {}", data.len(), time.0);
        fast
    };
    for i in 0..24u32 {
        let data = format!("package {i} ").repeat(1 + 997 * i as usize);
        compare(data.as_bytes(), 1_700_000_000 + i * 3600);
    }
    // About 1 signature in 256 starts with a zero byte, which an MPI drops (and its bit count
    // with it): find one with the fast signer, then compare it.
    let short = (0..20_000u32)
        .find(|i| {
            let packet = key
                .package_signer
                .sign(format!("{i}").as_bytes(), rpm::Timestamp(1_700_000_000))
                .unwrap();
            signature_mpi(&packet).1 < 256
        })
        .expect("a signature with a leading zero byte within 20000 tries");
    let packet = compare(format!("{short}").as_bytes(), 1_700_000_000);
    let (bits, length) = signature_mpi(&packet);
    assert!(
        length < 256 && bits <= 255 * 8,
        "{bits} bits in {length} bytes"
    );
}
