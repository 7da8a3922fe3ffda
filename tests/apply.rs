//! `hostnet-apply` (tools/) against real kernel state, in the qemu guest of `common::guest`: the
//! checkpoint, probe, rollback, confirm and timer logic run as shipped, with bash, on real bond,
//! VLAN and bridge devices. Only the network restart is a stand-in: network-scripts cannot be had
//! here, so `--network-command` points at a helper that brings the ifcfg files up with iproute2.
//!
//! The "switch" is a network namespace in the guest joined to the bond's two NICs by veth pairs:
//! it holds the management gateway, both DNS servers (socat echoing UDP/53) and the repository
//! (busybox httpd). Nothing leaves the guest, which has no NIC.

mod common;

use std::path::Path;

use common::guest::{boot, guest, section};
use common::{Fleet, copy_tree, repo_root, run_ok, stderr};

/// Brings the ifcfg files up with iproute2 in the order network-scripts does (bonds, their
/// slaves, VLANs, bridges, bridge ports, addresses, the default route), after tearing down every
/// device but the NICs. Each file is sourced in a subshell, as network-scripts sources it.
const NETWORK_RESTART: &str = r#"#!/bin/bash
scripts=/etc/sysconfig/network-scripts
for device in $(ls /sys/class/net); do
    case $device in lo|enp2s0f0|enp2s0f1) ;; *) ip link del "$device" 2>/dev/null ;; esac
done
each() {
    local file
    for file in "$scripts"/ifcfg-*; do
        (
            unset DEVICE TYPE BONDING_OPTS MASTER VLAN PHYSDEV VLAN_ID BRIDGE IPADDR PREFIX GATEWAY ONBOOT MTU
            . "$file"
            [ "${ONBOOT:-yes}" = yes ] || exit 0
            "$1"
        ) || exit 1
    done
}
bond() {
    [ "${TYPE:-}" = Bond ] || return 0
    ip link add "$DEVICE" type bond || return 1
    for option in $BONDING_OPTS; do
        echo "${option#*=}" > "/sys/class/net/$DEVICE/bonding/${option%%=*}" || return 1
    done
}
slave() { [ -z "${MASTER:-}" ] || { ip link set "$DEVICE" down && ip link set "$DEVICE" master "$MASTER"; }; }
vlan() { [ "${VLAN:-}" != yes ] || ip link add link "$PHYSDEV" name "$DEVICE" type vlan id "$VLAN_ID"; }
bridge() { [ "${TYPE:-}" != Bridge ] || ip link add "$DEVICE" type bridge; }
port() { [ -z "${BRIDGE:-}" ] || ip link set "$DEVICE" master "$BRIDGE"; }
up() {
    ip link set "$DEVICE" up || return 1
    [ -z "${IPADDR:-}" ] || ip addr add "$IPADDR/$PREFIX" dev "$DEVICE"
}
route() { [ -z "${GATEWAY:-}" ] || ip route replace default via "$GATEWAY" dev "$DEVICE"; }
for step in bond slave vlan bridge port up route; do
    each "$step" || { echo "network restart: $step failed" >&2; exit 1; }
done
# As network.service does when one spare interface fails while the rest came up.
[ ! -e /tmp/one-interface-fails ] || exit 1
"#;

/// The guest's job: the switch, version 1 installed and running, then one scenario per change.
const SCENARIOS: &str = r#"
exec 2>&1
mkdir -p /etc/sysconfig/network-scripts /usr/sbin /var/log /var/lib /usr/share
cp /test/hostnet-apply /usr/sbin/hostnet-apply
chmod 0755 /usr/sbin/hostnet-apply /test/network-restart

ip netns add switch
ip link add enp2s0f0 type veth peer name port0 netns switch
ip link add enp2s0f1 type veth peer name port1 netns switch
ip -n switch link add name sw0 type bridge
ip -n switch link set dev port0 master sw0
ip -n switch link set dev port1 master sw0
ip -n switch link add link sw0 name sw0.51 type vlan id 51
ip -n switch addr add 10.20.51.1/24 dev sw0.51
for address in 10.20.0.53 10.20.0.54 10.20.0.80; do ip -n switch addr add "$address/32" dev lo; done
for device in lo port0 port1 sw0 sw0.51; do ip -n switch link set dev "$device" up; done
# Each server answers from its own address, as a DNS server bound to it does.
for address in 10.20.0.53 10.20.0.54; do
    nsenter --net=/run/netns/switch socat "UDP4-RECVFROM:53,bind=$address,fork" EXEC:cat &
done
nsenter --net=/run/netns/switch httpd -p 10.20.0.80:80 -h /test/www

# What `yum install` does to the files: %pre's snapshot, then the package's files replace the
# previous version's (a file the new version lacks goes away).
install_version() {
    /usr/sbin/hostnet-apply --snapshot > /dev/null
    rm -f /etc/sysconfig/network-scripts/ifcfg-* /etc/sysconfig/network-scripts/route-*
    cp -a "/test/$1/etc/." /etc/
    cp -a "/test/$1/usr/." /usr/
}
same_files() {
    local file status=0
    for file in $(cd "/test/$1" && find etc -type f); do
        cmp -s "/test/$1/$file" "/$file" || { echo "differs from $1: /$file"; status=1; }
    done
    for file in /etc/sysconfig/network-scripts/*; do
        [ -f "/test/$1$file" ] || { echo "not in $1: $file"; status=1; }
    done
    return $status
}
show() {
    echo "address: $(ip -4 -o addr show dev bond0.51 | while read -r n d f a rest; do echo "$a"; done)"
    echo "route: $(ip -4 route show default)"
}
run() {
    local name=$1; shift
    echo "$(date +%T) $name" >> /tmp/timeline
    echo "BEGIN $name"
    "$@"
    echo "END $name status=$?"
}

# Version 1 was installed at kickstart time and runs.
cp -a /test/v1/etc/. /etc/
cp -a /test/v1/usr/. /usr/
/test/network-restart
run v1-running show

# A wrong gateway (and a new file): the probe fails, the checkpoint comes back at once.
install_version v2-bad-gateway
echo 'ADDRESS0=10.20.99.0' > /etc/sysconfig/network-scripts/route-bond0.51
run bad-apply /usr/sbin/hostnet-apply --network-command /test/network-restart
run bad-files same_files v1
run bad-state show
run bad-status /usr/sbin/hostnet-apply --status

# A good change, confirmed: it stays after the rollback window has passed.
install_version v3-good
run good-apply /usr/sbin/hostnet-apply --network-command /test/network-restart --rollback-after 15
run good-status /usr/sbin/hostnet-apply --status
run good-confirm /usr/sbin/hostnet-apply --confirm
sleep 12
run good-files same_files v3-good
run good-state show

# A good change nobody confirms (its %post moved a legacy file aside): the timer restores it.
printf 'DEVICE=legacy0\nONBOOT=no\n' > /etc/sysconfig/network-scripts/ifcfg-legacy0
install_version v4-unconfirmed
mkdir -p /var/lib/hostnet/moved-aside
mv /etc/sysconfig/network-scripts/ifcfg-legacy0 /var/lib/hostnet/moved-aside/
# The window leaves the refused second apply time to run on a loaded machine (an emulated guest
# beside a compiler took more than 5 s); the loop waits out the rest of it.
run late-apply /usr/sbin/hostnet-apply --network-command /test/network-restart --rollback-after 20
run late-again /usr/sbin/hostnet-apply --network-command /test/network-restart
run late-pending show
for attempt in $(seq 1 60); do
    /usr/sbin/hostnet-apply --status | grep -q "was rolled-back" && break
    sleep 1
done
run late-status /usr/sbin/hostnet-apply --status
run late-state show
mv /etc/sysconfig/network-scripts/ifcfg-legacy0 /tmp/ifcfg-legacy0 && echo "legacy0 is back"
run aside ls -A /var/lib/hostnet/moved-aside
run late-files same_files v3-good
# Files changed without %pre's snapshot (a package from before hostnet-tools): the checkpoint is
# the files as they are, and --auto-confirm keeps the change once the probes pass, even though the
# network restart reported one interface failing.
cp -a /test/v4-unconfirmed/etc/. /etc/
cp -a /test/v4-unconfirmed/usr/. /usr/
touch /tmp/one-interface-fails
run auto-apply /usr/sbin/hostnet-apply --network-command /test/network-restart --auto-confirm
run auto-status /usr/sbin/hostnet-apply --status
run auto-state show
run log cat /var/log/hostnet-apply.log
cat /tmp/timeline
"#;

/// The example's dockerhost-01 rendered with `management` in place of its `[management]` address.
fn render_version(fleet: &Fleet, payload: &Path, name: &str, management: &str) {
    let host_file = fleet.hosts().join("dockerhost-01.toml");
    let original = std::fs::read_to_string(&host_file).unwrap();
    let address = "address = \"10.20.51.21\"";
    assert!(original.contains(address));
    std::fs::write(&host_file, original.replace(address, management)).unwrap();
    let rendered = fleet.dir.path().join(format!("rendered-{name}"));
    let output = fleet.run(&[
        "render",
        "dockerhost-01",
        "--out",
        rendered.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{name}: {}", stderr(&output));
    std::fs::write(&host_file, original).unwrap();
    for tree in ["etc", "usr"] {
        copy_tree(&rendered.join(tree), &payload.join(name).join(tree));
    }
}

#[test]
fn hostnet_apply_rolls_back_a_failed_probe_keeps_a_confirmed_change_and_times_out_the_rest() {
    let cache = guest();
    let fleet = Fleet::example();
    let site = fleet.hosts().join("site.toml");
    let text = std::fs::read_to_string(&site).unwrap();
    let text = text.replace(
        "http://repo.example.com/hostnet\"",
        "http://10.20.0.80/hostnet\"",
    );
    std::fs::write(
        &site,
        format!("{text}\n[defaults.rollout]\nprobe-timeout = 3\n"),
    )
    .unwrap();

    let payload = fleet.dir.path().join("payload");
    render_version(&fleet, &payload, "v1", "address = \"10.20.51.21\"");
    render_version(
        &fleet,
        &payload,
        "v2-bad-gateway",
        "address = \"10.20.51.41\"\ngateway = \"10.20.51.254\"",
    );
    render_version(
        &fleet,
        &payload,
        "v3-good",
        "address = \"10.20.51.42\"\n[docker]\nextra-flags = [\"--debug\"]",
    );
    render_version(
        &fleet,
        &payload,
        "v4-unconfirmed",
        "address = \"10.20.51.43\"",
    );
    let settings =
        std::fs::read_to_string(payload.join("v1/usr/share/hostnet/apply-settings")).unwrap();
    for line in [
        "probe-timeout\t3",
        "probe-gateway\tbond0.51\t10.20.51.1",
        "probe-dns\t10.20.0.53",
        "probe-dns\t10.20.0.54",
        "probe-url\thttp://10.20.0.80/hostnet/repodata/repomd.xml",
    ] {
        assert!(
            settings.lines().any(|l| l == line),
            "{line:?} in:\n{settings}"
        );
    }
    let repodata = payload.join("www/hostnet/repodata");
    std::fs::create_dir_all(&repodata).unwrap();
    std::fs::write(repodata.join("repomd.xml"), "<repomd/>\n").unwrap();
    std::fs::copy(
        repo_root().join("tools/hostnet-apply"),
        payload.join("hostnet-apply"),
    )
    .unwrap();
    std::fs::write(payload.join("network-restart"), NETWORK_RESTART).unwrap();
    std::fs::write(payload.join("run.sh"), SCENARIOS).unwrap();
    run_ok("chmod", &["-R", "a+rX", payload.to_str().unwrap()]);
    let console = boot(&cache, &payload);
    let log = section(&console, "log").0;

    let (running, _) = section(&console, "v1-running");
    assert!(running.contains("address: 10.20.51.21/24"), "{running}");
    assert!(
        running.contains("default via 10.20.51.1 dev bond0.51"),
        "{running}"
    );

    // The wrong gateway: exit 1, the previous files (the new route file gone) and addresses back.
    let (report, status) = section(&console, "bad-apply");
    assert_eq!(status, 1, "{report}");
    assert!(
        report.contains("probe FAILED: gateway 10.20.51.254 does not answer on bond0.51"),
        "{report}"
    );
    assert!(report.contains("checkpoint: the configuration saved before the package install"));
    let (files, status) = section(&console, "bad-files");
    assert_eq!(status, 0, "{files}");
    let (state, _) = section(&console, "bad-state");
    assert!(state.contains("address: 10.20.51.21/24"), "{state}");
    assert!(
        state.contains("default via 10.20.51.1 dev bond0.51"),
        "{state}"
    );
    let (status_report, _) = section(&console, "bad-status");
    assert!(
        status_report.contains("the last change was rolled-back"),
        "{status_report}"
    );

    // The confirmed change: every probe passed, and it outlived its 15 s window.
    let (report, status) = section(&console, "good-apply");
    assert_eq!(status, 0, "{report}");
    for probe in [
        "probe passed: gateway 10.20.51.1 answers on bond0.51",
        "probe passed: DNS server 10.20.0.53 answers",
        "probe passed: DNS server 10.20.0.54 answers",
        "probe passed: http://10.20.0.80/hostnet/repodata/repomd.xml answers",
    ] {
        assert!(report.contains(probe), "{probe:?} in:\n{report}");
    }
    assert!(
        report.contains("docker's drop-in changed; it takes effect when docker restarts"),
        "{report}"
    );
    assert!(section(&console, "good-status").0.contains("pending"));
    assert_eq!(section(&console, "good-confirm").1, 0);
    let (files, status) = section(&console, "good-files");
    assert_eq!(status, 0, "{files}");
    let (state, _) = section(&console, "good-state");
    assert!(state.contains("address: 10.20.51.42/24"), "{state}");

    // Nobody confirms: a second apply is refused meanwhile, and the timer restores version 3,
    // the file %post moved aside included.
    let (report, status) = section(&console, "late-apply");
    assert_eq!(status, 0, "{report}");
    let (refusal, status) = section(&console, "late-again");
    assert_eq!(status, 2, "{refusal}");
    assert!(refusal.contains("is pending"), "{refusal}");
    assert!(
        section(&console, "late-pending")
            .0
            .contains("address: 10.20.51.43/24")
    );
    let (status_report, _) = section(&console, "late-status");
    assert!(
        status_report.contains("the last change was rolled-back"),
        "{status_report}\n{log}"
    );
    let (state, _) = section(&console, "late-state");
    assert!(state.contains("address: 10.20.51.42/24"), "{state}");
    assert!(console.contains("legacy0 is back"), "{console}");
    assert_eq!(section(&console, "aside"), ("", 0));
    let (files, status) = section(&console, "late-files");
    assert_eq!(status, 0, "{files}");
    assert!(
        log.contains("rolling back (not confirmed within the time allowed)"),
        "{log}"
    );
    assert!(!log.contains("with errors"), "{log}");

    let (report, status) = section(&console, "auto-apply");
    assert_eq!(status, 0, "{report}");
    assert!(
        report.contains("checkpoint: the files as they are now")
            && report.contains("the network restart reported a failure; the probes decide")
            && report.contains("confirmed: the change stays"),
        "{report}"
    );
    assert!(
        section(&console, "auto-status")
            .0
            .contains("the last change was confirmed")
    );
    assert!(
        section(&console, "auto-state")
            .0
            .contains("address: 10.20.51.43/24")
    );
    assert_eq!(
        log.matches("rolled back: the checkpointed files are in place")
            .count(),
        2,
        "{log}"
    );
}
