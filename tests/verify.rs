//! `hostnet-verify` (tools/) against real kernel state: a qemu guest on Debian's own kernel (this
//! machine's kernel has no bond or VLAN devices), with no network backend, builds the stack a host
//! definition describes with iproute2, runs the shipped script with bash, and then changes one
//! thing at a time (a slave, the mode, a VLAN id, an address, an rp_filter value, dockerd's
//! arguments) so that each drift must be named.

mod common;

use common::guest::{boot, guest, section};
use common::{Fleet, repo_root, run_ok, stderr};

/// The stack of the example's dockerhost-01, built with iproute2 as network-scripts would from
/// its ifcfg files; each variable changes one thing.
const SCENARIOS: &str = r#"
MODE=balance-rr SLAVES="enp2s0f0 enp2s0f1" MGMT_ID=51 ADDRESS=10.20.51.21/24 RP=0 DOCKER_EXTRA=
BOND_EXTRA= STATE=/test/expected-state
setup() {
    for device in docker0 bond0.51 bond0.136 bond0 enp2s0f0 enp2s0f1; do
        ip link del "$device" 2>/dev/null
    done
    pkill_dockerd
    ip link add enp2s0f0 type dummy
    ip link add enp2s0f1 type dummy
    ip link add bond0 type bond mode "$MODE" miimon 100 $BOND_EXTRA
    for slave in $SLAVES; do ip link set "$slave" master bond0; done
    ip link add link bond0 name bond0.51 type vlan id "$MGMT_ID"
    ip link add link bond0 name bond0.136 type vlan id 136
    ip link add docker0 type bridge
    ip link set bond0.136 master docker0
    for device in enp2s0f0 enp2s0f1 bond0 bond0.51 bond0.136 docker0; do ip link set "$device" up; done
    ip addr add "$ADDRESS" dev bond0.51
    ip addr add 172.20.56.17/24 dev docker0
    ip route add default via 10.20.51.1 dev bond0.51
    echo 1 > /proc/sys/net/ipv4/ip_forward
    for conf in all default bond0 bond0.51 bond0.136 docker0; do
        echo 0 > "/proc/sys/net/ipv4/conf/$conf/rp_filter"
    done
    echo "$RP" > /proc/sys/net/ipv4/conf/bond0.51/rp_filter
    args=$(while IFS=$'\t' read -r kind object property value; do
        [ "$kind" = dockerd ] && echo "$value"
    done < /test/expected-state)
    /test/dockerd $args $DOCKER_EXTRA &
    DOCKERD=$!
}
pkill_dockerd() {
    [ -n "${DOCKERD:-}" ] && kill "$DOCKERD" 2>/dev/null
    DOCKERD=
}
scenario() {
    local name=$1; shift
    eval "$*"
    setup > /dev/null 2>&1
    sleep 1
    echo "BEGIN $name"
    /bin/bash /test/hostnet-verify --state "$STATE"
    echo "END $name status=$?"
    if [ "$name" = baseline ]; then
        echo "BEGIN json"
        /bin/bash /test/hostnet-verify --state /test/expected-state --format json
        echo "END json status=$?"
    fi
    MODE=balance-rr SLAVES="enp2s0f0 enp2s0f1" MGMT_ID=51 ADDRESS=10.20.51.21/24 RP=0 DOCKER_EXTRA=
    BOND_EXTRA= STATE=/test/expected-state
}
scenario baseline true
scenario slave 'SLAVES=enp2s0f0'
scenario mode 'MODE=active-backup'
scenario vlan 'MGMT_ID=52'
scenario address 'ADDRESS=10.20.51.99/24'
scenario rp_filter 'RP=1'
scenario dockerd 'DOCKER_EXTRA=--debug'
# A list option: one target expected, two set; the last word alone must not pass for the list.
{ cat /test/expected-state; printf 'bond\tbond0\tarp_ip_target\t10.0.0.2\n'; } > /tmp/arp-state
scenario arp_list 'BOND_EXTRA="arp_ip_target 10.0.0.1,10.0.0.2" STATE=/tmp/arp-state'
pkill_dockerd
"#;

#[test]
fn hostnet_verify_names_every_drift_from_the_expected_state() {
    let cache = guest();
    let fleet = Fleet::example();
    let rendered = fleet.dir.path().join("rendered");
    let output = fleet.run(&[
        "render",
        "dockerhost-01",
        "--out",
        rendered.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let payload = fleet.dir.path().join("payload");
    std::fs::create_dir_all(&payload).unwrap();
    std::fs::copy(
        rendered.join("usr/share/hostnet/expected-state"),
        payload.join("expected-state"),
    )
    .unwrap();
    std::fs::copy(
        repo_root().join("tools/hostnet-verify"),
        payload.join("hostnet-verify"),
    )
    .unwrap();
    // A stand-in with dockerd's name: its /proc/<pid>/cmdline is what verify reads.
    let dockerd = payload.join("dockerd");
    std::fs::write(&dockerd, "#!/bin/bash\nwhile :; do sleep 1; done\n").unwrap();
    run_ok("chmod", &["0755", dockerd.to_str().unwrap()]);
    std::fs::write(payload.join("run.sh"), SCENARIOS).unwrap();
    let console = boot(&cache, &payload);

    let (baseline, status) = section(&console, "baseline");
    assert_eq!(status, 0, "{baseline}");
    assert!(baseline.ends_with("checks, no drift"), "{baseline}");
    let (json, status) = section(&console, "json");
    assert_eq!(status, 0);
    let value: serde_json::Value =
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(value["drift"], serde_json::json!([]));
    assert!(value["checked"].as_u64().unwrap() > 20);

    for (scenario, drifts) in [
        (
            "slave",
            &[
                "bond0: slaves: expected enp2s0f0 enp2s0f1, found enp2s0f0",
                "enp2s0f1: master: expected bond0, found none",
            ][..],
        ),
        (
            "mode",
            &["bond0: mode: expected balance-rr, found active-backup"],
        ),
        ("vlan", &["bond0.51: vlan id: expected 51, found 52"]),
        (
            "address",
            &["bond0.51: address: expected 10.20.51.21/24, found 10.20.51.99/24"],
        ),
        (
            "rp_filter",
            &["net.ipv4.conf.bond0.51.rp_filter: sysctl: expected 0, found 1"],
        ),
        ("dockerd", &["dockerd: arguments: expected -H fd:// "]),
        (
            "arp_list",
            &["bond0: arp_ip_target: expected 10.0.0.2, found 10.0.0.1 10.0.0.2"],
        ),
    ] {
        let (report, status) = section(&console, scenario);
        assert_eq!(status, 1, "{scenario}: {report}");
        for drift in drifts {
            assert!(
                report.lines().any(|l| l.starts_with(drift)),
                "{scenario}: no line starting {drift:?} in:\n{report}"
            );
        }
        let drift_lines = report
            .lines()
            .filter(|l| !l.starts_with("hostnet-verify:"))
            .count();
        assert_eq!(
            drift_lines,
            drifts.len(),
            "{scenario}: only what was changed drifts:\n{report}"
        );
    }
}

/// The checks that need no devices, on this machine's own /proc: expected values are text, never
/// patterns (a file named `Linux` in the working directory must not make `L*` match); a
/// multi-value sysctl compares in order; an empty field stays in its place; a check of an unknown
/// kind is skipped, not fatal; and a control character never reaches the terminal raw.
#[test]
fn hostnet_verify_compares_text_never_patterns_and_reads_every_field_in_place() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Linux"), "").unwrap();
    let ostype = std::fs::read_to_string("/proc/sys/kernel/ostype").unwrap();
    assert_eq!(ostype.trim(), "Linux", "this test assumes a Linux /proc");
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
    let range: Vec<&str> = range.split_whitespace().collect();
    let run = |state: &str| {
        let path = dir.path().join("state");
        std::fs::write(&path, state).unwrap();
        let output = std::process::Command::new("bash")
            .arg(repo_root().join("tools/hostnet-verify"))
            .arg("--state")
            .arg(&path)
            .current_dir(dir.path())
            .output()
            .unwrap();
        (
            output.status.code(),
            common::stdout(&output),
            stderr(&output),
        )
    };

    for pattern in ["L*", "Linu?", "[L]inux", "/*/*/*"] {
        let (status, out, _) = run(&format!("sysctl\tkernel/ostype\tvalue\t{pattern}\n"));
        assert_eq!(status, Some(1), "{pattern} must not match: {out}");
        assert!(
            out.contains(&format!(
                "kernel.ostype: sysctl: expected {pattern}, found Linux"
            )),
            "{out}"
        );
    }

    let in_order = format!(
        "sysctl\tnet/ipv4/ip_local_port_range\tvalue\t{} {}\n",
        range[0], range[1]
    );
    let (status, out, _) = run(&in_order);
    assert_eq!(status, Some(0), "{out}");
    let reversed = format!(
        "sysctl\tnet/ipv4/ip_local_port_range\tvalue\t{} {}\n",
        range[1], range[0]
    );
    let (status, out, _) = run(&reversed);
    assert_eq!(status, Some(1), "a range compares in order: {out}");

    // An empty property: the value must stay the fourth field.
    let (status, out, _) = run("sysctl\tkernel/ostype\t\tLinux\n");
    assert_eq!(status, Some(0), "{out}");
    let (status, out, err) = run("sysctl\tkernel/ostype\tvalue\n");
    assert_eq!(status, Some(2), "a line of three fields is damage: {out}");
    assert!(
        err.contains("state:1: not four tab-separated fields"),
        "{err}"
    );

    let (status, out, err) = run("firewall\tx\ty\tz\nsysctl\tkernel/ostype\tvalue\tLinux\n");
    assert_eq!(status, Some(0), "{out}{err}");
    assert!(out.contains("1 checks, no drift, 1 skipped"), "{out}");
    assert!(err.contains("skipped the check 'firewall'"), "{err}");

    // A stand-in with dockerd's name: its /proc/<pid>/cmdline is what verify reads.
    let dockerd = dir.path().join("dockerd");
    std::fs::write(&dockerd, "#!/bin/bash\nwhile :; do sleep 1; done\n").unwrap();
    common::run_ok("chmod", &["0755", dockerd.to_str().unwrap()]);
    let mut running = std::process::Command::new(&dockerd)
        .args(["-H", "fd://", "--label=fuzz-*"])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (status, out, _) = run("dockerd\t/usr/bin/dockerd\targs\t-H fd:// --label=fuzz-*\n");
    let (other_status, other, _) = run("dockerd\t/usr/bin/dockerd\targs\t-H fd:// --debug\n");
    running.kill().unwrap();
    running.wait().unwrap();
    assert_eq!(status, Some(0), "{out}");
    assert_eq!(other_status, Some(1), "{other}");
    assert!(
        other.contains(
            "dockerd: arguments: expected -H fd:// --debug, found -H fd:// --label=fuzz-*"
        ),
        "{other}"
    );

    let (status, out, _) = run("sysctl\tkernel/ostype\tvalue\t\x1b]0;owned\x07\n");
    assert_eq!(status, Some(1));
    assert!(!out.contains('\x1b') && !out.contains('\x07'), "{out:?}");
    assert!(
        out.contains("expected \\x1b]0;owned\\x07, found Linux"),
        "{out}"
    );
}
