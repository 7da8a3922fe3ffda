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
setup() {
    for device in docker0 bond0.51 bond0.136 bond0 enp2s0f0 enp2s0f1; do
        ip link del "$device" 2>/dev/null
    done
    pkill_dockerd
    ip link add enp2s0f0 type dummy
    ip link add enp2s0f1 type dummy
    ip link add bond0 type bond mode "$MODE" miimon 100
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
    /bin/bash /test/hostnet-verify --state /test/expected-state
    echo "END $name status=$?"
    if [ "$name" = baseline ]; then
        echo "BEGIN json"
        /bin/bash /test/hostnet-verify --state /test/expected-state --format json
        echo "END json status=$?"
    fi
    MODE=balance-rr SLAVES="enp2s0f0 enp2s0f1" MGMT_ID=51 ADDRESS=10.20.51.21/24 RP=0 DOCKER_EXTRA=
}
scenario baseline true
scenario slave 'SLAVES=enp2s0f0'
scenario mode 'MODE=active-backup'
scenario vlan 'MGMT_ID=52'
scenario address 'ADDRESS=10.20.51.99/24'
scenario rp_filter 'RP=1'
scenario dockerd 'DOCKER_EXTRA=--debug'
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
