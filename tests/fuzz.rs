//! Fuzz targets on stable Rust (proptest): generated and mutated inputs for every reader of
//! outside data and every renderer whose output another program parses. Readers must never panic,
//! hang or take more than their limits; renderers must never write a file that its consumer reads
//! differently from the checked definition.
//!
//! `make test` runs a bounded number of cases (HOSTNET_FUZZ_CASES, default 64 each, within a
//! minute in all); `make fuzz` runs many more. A failing case is shrunk and kept by proptest in
//! `tests/fuzz.proptest-regressions`, which is committed: it runs first every time after.
//!
//! The consumers: ifcfg files are sourced by the real bash (network-scripts source them as root);
//! sysctl.d lines are read as systemd-sysctl and procps read them (`key = value`, both sides
//! trimmed, `#` and `;` lines comments); the dockerd drop-in's `ExecStart=` as systemd splits it
//! (whitespace-separated words, where quotes, `\`, `$` and `%` would be interpreted); pxelinux and
//! GRUB entries as their loaders split kernel arguments (on spaces; GRUB also interprets quotes,
//! `$`, `\` and `;`).

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

use common::Fleet;

fn cases(default: u32) -> Config {
    let cases = std::env::var("HOSTNET_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default);
    Config {
        cases,
        // Relative to the package root, where cargo runs tests.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/fuzz.proptest-regressions",
        ))),
        max_shrink_iters: 2000,
        ..Config::default()
    }
}

/// Text built from pieces of the format being fuzzed and arbitrary strings.
fn pieces_of(tokens: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(tokens).prop_map(String::from),
            1 => any::<String>(),
            1 => "[ -~]{0,12}",
        ],
        0..max,
    )
    .prop_map(|parts| parts.concat())
}

const XML_PIECES: &[&str] = &[
    "<?xml version=\"1.0\"?>",
    "<metadata packages=\"1\">",
    "</metadata>",
    "<repomd>",
    "</repomd>",
    "<data type=\"primary\">",
    "<data type=\"filelists\">",
    "</data>",
    "<checksum type=\"sha256\">",
    "</checksum>",
    "<open-checksum>",
    "<location href=\"repodata/x-primary.xml.gz\"/>",
    "<location href=\"Packages/hostnet-a-1-1.noarch.rpm\"/>",
    "<location href=\"../../etc/passwd\"/>",
    "<size package=\"12\"/>",
    "<size>",
    "</size>",
    "<package type=\"rpm\">",
    "<package pkgid=\"aa\">",
    "</package>",
    "<name>",
    "</name>",
    "hostnet-a",
    "<version epoch=\"0\" ver=\"1\" rel=\"1\"/>",
    "<description>",
    "</description>",
    "hostnet-content-digest: ",
    "&amp;",
    "&#27;",
    "&#x0;",
    "&#xFFFFFFFF;",
    "&bogus;",
    "<!DOCTYPE x [<!ENTITY a \"aaaa\">]>",
    "&a;",
    "<![CDATA[",
    "]]>",
    "<!--",
    "-->",
    "\u{0}",
    "\u{feff}",
];

proptest! {
    #![proptest_config(cases(64))]

    /// Primary, filelists and other documents, and repomd.xml, read as a repository in a
    /// directory: an error or a listing, never a panic.
    #[test]
    fn repository_metadata_readers_never_panic(
        repomd in pieces_of(XML_PIECES, 24),
        primary in pieces_of(XML_PIECES, 40),
    ) {
        let _ = hostnet::repository::ListedPackage::of_entries(hostnet::repodata::PackageEntries {
            primary: primary.clone(),
            ..Default::default()
        });
        let dir = tempfile::tempdir().unwrap();
        common::hostile::write_repository(dir.path(), primary.as_bytes(), None);
        let location = hostnet::repository::Location::Directory(dir.path().to_path_buf());
        let _ = hostnet::repository::read(&location);
        std::fs::write(dir.path().join("repodata/repomd.xml"), repomd).unwrap();
        let _ = hostnet::repository::read(&location);
    }

    /// The OpenPGP packet parser (who signed a package) and detached-signature checking take any
    /// bytes, armored or not; a changed bit of a real signature packet or of the signed data
    /// never verifies.
    #[test]
    fn openpgp_parsers_never_panic_and_tampering_never_verifies(
        packet in prop::collection::vec(any::<u8>(), 0..300),
        armor in pieces_of(&["-----BEGIN PGP SIGNATURE-----\n", "\n", "-----END PGP SIGNATURE-----\n", "wsCMBAABCAB", "=abcd\n", "Version: x\n"], 12),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let _ = hostnet::package::signer::signature_issuer(&packet);
        let sample = signed_sample();
        let _ = sample.key.verifies(b"data", &packet);
        let _ = sample.key.verifies(b"data", armor.as_bytes());
        let mut tampered = sample.packet.clone();
        let at = flip.index(tampered.len());
        tampered[at] ^= 1 << bit;
        let _ = hostnet::package::signer::signature_issuer(&tampered);
        prop_assert!(!sample.key.verifies(b"data", armored(&tampered).as_bytes()));
        prop_assert!(!sample.key.verifies(b"datA", armored(&sample.packet).as_bytes()));
    }

    /// The build's own index of its repository and its render memo, damaged anywhere: read as
    /// missing (the metadata is parsed again, every host rendered again), never a panic.
    #[test]
    fn index_and_memo_readers_take_any_damage(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let sample = built_sample();
        for (original, read) in [
            (&sample.index, Reader::Index),
            (&sample.memo, Reader::Memo),
        ] {
            let mut bytes = original.clone();
            for (at, byte, kind) in &edits {
                if bytes.is_empty() {
                    break;
                }
                let at = at.index(bytes.len());
                match kind {
                    0 => bytes[at] = *byte,
                    1 => bytes.truncate(at),
                    _ => bytes.insert(at, *byte),
                }
            }
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("damaged");
            std::fs::write(&path, &bytes).unwrap();
            match read {
                Reader::Index => {
                    let _ = hostnet::repository::index::load(&path, &sample.repomd);
                }
                Reader::Memo => {
                    let memo = hostnet::memo::RenderMemo::load(&path, &sample.templates, &sample.fleet.site);
                    for host in &sample.fleet.hosts {
                        if let Some(inputs) = memo.inputs_of(&hostnet::memo::host_digest(host)) {
                            let _ = memo.get(&inputs);
                        }
                    }
                }
            }
        }
    }

    /// Any host file, mutated from a valid one: the loader and checker report, never panic.
    #[test]
    fn definitions_loader_and_checker_never_panic(text in host_text()) {
        let fleet = Fleet::example();
        fleet.write("fuzzed.toml", &text);
        let _ = hostnet::load_fleet(&fleet.hosts());
    }

    /// A host whose values come from a hostile alphabet: whatever `check` accepts renders into
    /// files that bash, sysctl, systemd and the boot loaders read as the definition says.
    #[test]
    fn what_check_accepts_is_read_by_each_consumer_as_defined(host in hostile_host()) {
        let Some((_, checked)) = accepted(&host) else {
            return Ok(());
        };
        let host = checked.host("fuzzed").expect("the fuzzed host is in the fleet");
        let templates = hostnet::templates::Templates::new(None).unwrap();
        let rendered = hostnet::render::render_host(&templates, host).unwrap();
        for file in &rendered.files {
            if file.path.contains("/network-scripts/ifcfg-") {
                assert_bash_reads_as_written(&file.content)?;
            } else if file.path.starts_with("/etc/sysctl.d/") {
                assert_sysctl_reads_as_written(&file.content, &host.sysctl)?;
            } else if file.path.ends_with("docker.service.d/hostnet.conf") {
                assert_systemd_reads_exec_start(&file.content, host)?;
            }
        }
        assert_grub_reads_the_entry(&checked.site, host)?;
    }
}

proptest! {
    // pykickstart starts in some 0.3 s: fewer cases, each a real parse.
    #![proptest_config(cases(12))]

    /// The kickstart of a host `check` accepts, as pykickstart (anaconda's parser) reads it: its
    /// `network` lines carry the bond, slaves, options, VLAN, address and name as defined.
    #[test]
    fn kickstarts_of_what_check_accepts_are_read_by_pykickstart_as_defined(host in hostile_host()) {
        let Some((fleet, checked)) = accepted(&host) else {
            return Ok(());
        };
        let host = checked.host("fuzzed").expect("the fuzzed host is in the fleet");
        let templates = hostnet::templates::Templates::new(None).unwrap();
        let settings = checked.site.kickstart.as_ref().expect("the example has [kickstart]");
        let kickstart = hostnet::kickstart::render(&templates, settings, host).unwrap();
        let path = fleet.dir.path().join("fuzzed.ks");
        std::fs::write(&path, &kickstart).unwrap();
        let output = Command::new("python3")
            .arg(common::repo_root().join("tests/scripts/kickstart_network.py"))
            .arg("RHEL7")
            .arg(&path)
            .output()
            .unwrap();
        prop_assert!(output.status.success(), "{}\n{kickstart}", String::from_utf8_lossy(&output.stderr));
        let read: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let device = &read[0];
        let text = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_string();
        prop_assert_eq!(text(&device["device"]), host.bond.name.as_str());
        prop_assert_eq!(text(&device["bondslaves"]), host.bond.slaves.join(","));
        prop_assert_eq!(text(&device["bondopts"]), hostnet::kickstart::bondopts(host));
        prop_assert_eq!(text(&device["ip"]), host.management.address.addr().to_string());
        prop_assert_eq!(text(&read[1]["hostname"]), host.fqdn.as_str());
    }
}

/// The example fleet with `host` as `fuzzed.toml`, and its checked model if `check` accepts it.
fn accepted(host: &str) -> Option<(Fleet, hostnet::model::Fleet)> {
    let fleet = Fleet::example();
    fleet.write("fuzzed.toml", host);
    let (_, diagnostics, checked) = hostnet::load_fleet(&fleet.hosts());
    let checked = checked.filter(|_| !diagnostics.has_errors())?;
    Some((fleet, checked))
}

/// The host's GRUB entry passes `grub-script-check` (GRUB's own parser), and its `linuxefi` line
/// holds only words GRUB takes as they are: the kernel, then the arguments as hostnet made them.
fn assert_grub_reads_the_entry(
    site: &hostnet::model::Site,
    host: &hostnet::model::Host,
) -> Result<(), TestCaseError> {
    let (Some(pxe), Some(kickstart)) = (&site.pxe, &site.kickstart) else {
        return Ok(());
    };
    let entry = hostnet::kickstart::pxe::grub_entry(pxe, kickstart, host).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grub.cfg");
    std::fs::write(&path, &entry).unwrap();
    let output = Command::new("grub-script-check")
        .arg(&path)
        .output()
        .unwrap();
    prop_assert!(
        output.status.success(),
        "{}\n{entry}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = entry
        .lines()
        .find_map(|l| l.trim().strip_prefix("linuxefi "))
        .ok_or_else(|| TestCaseError::fail("no linuxefi line"))?;
    prop_assert!(
        !line
            .chars()
            .any(|c| "'\"\\$;{}|&<>#".contains(c) || c.is_control()),
        "GRUB would interpret {line:?}"
    );
    let mut expected = vec![pxe.kernel.clone()];
    expected.extend(hostnet::kickstart::pxe::kernel_arguments(
        pxe, kickstart, host,
    ));
    let words: Vec<&str> = line.split_whitespace().collect();
    prop_assert_eq!(
        words,
        expected.iter().map(String::as_str).collect::<Vec<_>>()
    );
    Ok(())
}

/// What bash makes of each assignment of an ifcfg file, compared with what the file means: every
/// line a comment or `KEY=value`, the value bare or double-quoted with `\` escapes, and sourcing
/// it runs nothing.
fn assert_bash_reads_as_written(content: &str) -> Result<(), TestCaseError> {
    let mut expected = BTreeMap::new();
    for line in content.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (key, raw) = line
            .split_once('=')
            .ok_or_else(|| TestCaseError::fail(format!("not an assignment: {line:?}")))?;
        prop_assert!(
            key.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
            "key {key:?}"
        );
        expected.insert(key.to_string(), unquote(raw)?);
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ifcfg");
    std::fs::write(&file, content).unwrap();
    let keys: Vec<&str> = expected.keys().map(String::as_str).collect();
    let script = format!(
        "set -e; . {}; for k in {}; do printf '%s=%s\\0' \"$k\" \"${{!k}}\"; done",
        file.display(),
        keys.join(" ")
    );
    let output = Command::new("/bin/bash")
        .args(["--norc", "--noprofile", "-c", &script])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    prop_assert!(
        output.status.success(),
        "bash: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    prop_assert!(
        output.stderr.is_empty(),
        "bash said {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read: BTreeMap<String, String> = String::from_utf8(output.stdout)
        .unwrap()
        .split('\0')
        .filter(|s| !s.is_empty())
        .filter_map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    prop_assert_eq!(&read, &expected, "{}", content);
    prop_assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "sourcing made files"
    );
    Ok(())
}

/// The value a `KEY=value` line means: bare, or double-quoted with `\\`, `\"`, `\$` and `` \` ``.
fn unquote(raw: &str) -> Result<String, TestCaseError> {
    let Some(inner) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
        prop_assert!(
            raw.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.,:/+@=%-".contains(c)),
            "bare value with a special character: {raw:?}"
        );
        return Ok(raw.to_string());
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(
                chars
                    .next()
                    .ok_or_else(|| TestCaseError::fail("trailing \\"))?,
            ),
            '"' | '$' | '`' => {
                return Err(TestCaseError::fail(format!("unescaped {c} in {raw:?}")));
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// sysctl.d as systemd-sysctl and procps read it: the user's keys with their values, trimmed.
fn assert_sysctl_reads_as_written(
    content: &str,
    defined: &[(String, String)],
) -> Result<(), TestCaseError> {
    let mut read = BTreeMap::new();
    for line in content.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| TestCaseError::fail(format!("not key = value: {line:?}")))?;
        read.insert(key.trim().to_string(), value.trim().to_string());
    }
    for (key, value) in defined {
        prop_assert_eq!(
            read.get(key),
            Some(&value.trim().to_string()),
            "{}",
            content
        );
    }
    Ok(())
}

/// The drop-in's last `ExecStart=` split as systemd splits it: plain words only (no quote,
/// backslash, `$`, `%` or `;` that systemd would interpret), equal to the program and its flags.
fn assert_systemd_reads_exec_start(
    content: &str,
    host: &hostnet::model::Host,
) -> Result<(), TestCaseError> {
    let line = content
        .lines()
        .rfind(|l| l.starts_with("ExecStart="))
        .ok_or_else(|| TestCaseError::fail("no ExecStart"))?;
    let command = &line["ExecStart=".len()..];
    prop_assert!(
        !command
            .chars()
            .any(|c| "\"'\\$%;".contains(c) || c.is_control()),
        "systemd would interpret {command:?}"
    );
    let words: Vec<&str> = command.split_whitespace().collect();
    let mut expected = vec![host.docker.dockerd.as_str()];
    expected.extend(host.docker.base_args.iter().map(String::as_str));
    let flags = hostnet::render::docker::dockerd_flags(host);
    expected.extend(flags.iter().map(String::as_str));
    prop_assert_eq!(words, expected);
    Ok(())
}

/// The characters an attacker or a typo brings: shell, quoting, glob, systemd and boot-loader
/// specials, control characters and whitespace.
const HOSTILE: &str = "[a-z0-9 ._\\-:/=,;'\"$`\\\\*?\\[\\]#%{}()|&<>!~^@+\t\n\u{1b}]{0,10}";

fn hostile_or(valid: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        10 => prop::sample::select(valid).prop_map(String::from),
        1 => HOSTILE,
    ]
}

/// A host file, as TOML, whose strings come from a hostile alphabet or valid samples.
fn hostile_host() -> impl Strategy<Value = String> {
    (
        hostile_or(&["fuzzed.example.com", "fuzzed"]),
        hostile_or(&["bond0", "bond1", "team0"]),
        hostile_or(&["eth0", "enp2s0f0", "ens1"]),
        hostile_or(&["docker0", "br-apps", "cbr0"]),
        hostile_or(&["--label=zone-a", "--debug", "--mtu=9000", "--dns=10.0.0.1"]),
        hostile_or(&["net.core.somaxconn", "kernel.pid_max", "vm.swappiness"]),
        hostile_or(&["1024", "32768 60999", "0", "yes"]),
        hostile_or(&["apps", "ci-runner", "deploy"]),
        hostile_or(&["1", "layer3+4", "fast"]),
    )
        .prop_map(
            |(fqdn, bond, slave, bridge, flag, key, value, user, option)| {
                let mut table = toml::Table::new();
                table.insert("fqdn".into(), fqdn.into());
                let mut bond_table = toml::Table::new();
                bond_table.insert("name".into(), bond.into());
                bond_table.insert(
                    "slaves".into(),
                    toml::Value::Array(vec![slave.into(), "enp9s0".into()]),
                );
                bond_table.insert("mode".into(), "802.3ad".into());
                let mut options = toml::Table::new();
                options.insert("xmit_hash_policy".into(), option.into());
                bond_table.insert("options".into(), options.into());
                table.insert("bond".into(), bond_table.into());
                let mut management = toml::Table::new();
                management.insert("address".into(), "10.20.51.99".into());
                table.insert("management".into(), management.into());
                let mut containers = toml::Table::new();
                containers.insert("slice".into(), "172.20.56.224/28".into());
                containers.insert("bridge".into(), bridge.into());
                table.insert("containers".into(), containers.into());
                let mut docker = toml::Table::new();
                docker.insert("extra-flags".into(), toml::Value::Array(vec![flag.into()]));
                docker.insert("users".into(), toml::Value::Array(vec![user.into()]));
                table.insert("docker".into(), docker.into());
                let mut sysctl = toml::Table::new();
                sysctl.insert(key, value.into());
                table.insert("sysctl".into(), sysctl.into());
                toml::to_string(&table).unwrap()
            },
        )
}

/// A valid host file with random lines replaced, inserted or cut.
fn host_text() -> impl Strategy<Value = String> {
    const LINES: &[&str] = &[
        "boot-mac = \"52:54:00:20:51:99\"",
        "[management]",
        "address = \"10.20.51.99\"",
        "[containers]",
        "slice = \"172.20.56.224/28\"",
        "[bond]",
        "mode = 4",
        "[bond.options]",
        "lacp_rate = \"fast\"",
        "arp_ip_target = [\"10.0.0.1\"]",
        "[docker]",
        "extra-flags = [\"--debug\"]",
        "[sysctl]",
        "\"kernel.x\" = 1",
        "[[x]]",
        "a = { b = [1, \"c\", 2.5, true] }",
        "[rollout]",
        "rollback-after = \"1m\"",
        "= \"",
        "\"\"\"",
        "'''",
    ];
    prop::collection::vec(
        prop_oneof![
            5 => prop::sample::select(LINES).prop_map(String::from),
            1 => "[ -~]{0,30}",
            1 => any::<String>(),
        ],
        0..16,
    )
    .prop_map(|lines| lines.join("\n"))
}

enum Reader {
    Index,
    Memo,
}

struct BuiltSample {
    index: Vec<u8>,
    repomd: Vec<u8>,
    memo: Vec<u8>,
    templates: hostnet::templates::Templates,
    fleet: hostnet::model::Fleet,
}

/// An unsigned build of the example fleet, made once: its index, repomd.xml and render memo.
fn built_sample() -> &'static BuiltSample {
    static SAMPLE: std::sync::OnceLock<BuiltSample> = std::sync::OnceLock::new();
    SAMPLE.get_or_init(|| {
        let fleet = Fleet::example();
        let out = fleet.dir.path().join("out");
        let output = common::build(&fleet, None, &out, "1700000000");
        assert!(output.status.success(), "{}", common::stderr(&output));
        let (_, _, checked) = hostnet::load_fleet(&fleet.hosts());
        BuiltSample {
            index: std::fs::read(hostnet::build::repository_index_path(&out)).unwrap(),
            repomd: std::fs::read(out.join("repo/repodata/repomd.xml")).unwrap(),
            memo: std::fs::read(
                out.join(hostnet::output::STATE_DIR)
                    .join(hostnet::build::RENDER_MEMO),
            )
            .unwrap(),
            templates: hostnet::templates::Templates::new(None).unwrap(),
            fleet: checked.unwrap(),
        }
    })
}

struct SignedSample {
    key: hostnet::package::signing::SigningKey,
    /// The detached signature of `data`, dearmored.
    packet: Vec<u8>,
}

/// A throwaway key and its detached signature of `data`, made once.
fn signed_sample() -> &'static SignedSample {
    static SAMPLE: std::sync::OnceLock<SignedSample> = std::sync::OnceLock::new();
    SAMPLE.get_or_init(|| {
        use base64::Engine as _;
        let dir = tempfile::tempdir().unwrap();
        let (secret, _) = common::hostnet_key(dir.path(), "fuzz");
        let key = hostnet::package::signing::SigningKey::load(&secret, None).unwrap();
        let signature = key.detached_signature(b"data", 1_700_000_000).unwrap();
        let body: String = signature
            .lines()
            .skip_while(|l| !l.is_empty())
            .skip(1)
            .take_while(|l| !l.starts_with('=') && !l.starts_with("-----"))
            .collect();
        let packet = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap();
        assert!(key.verifies(b"data", armored(&packet).as_bytes()));
        SignedSample { key, packet }
    })
}

/// `packet` armored as a detached signature (without the optional checksum line).
fn armored(packet: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(packet);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PGP SIGNATURE-----\n\n{}\n-----END PGP SIGNATURE-----\n",
        lines.join("\n")
    )
}
