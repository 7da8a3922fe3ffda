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

use common::guest::{assert_state, boot, guest, render_version_with, section};
use common::{Fleet, repo_root, run_ok};

/// `systemctl restart network` as CentOS 7's network.service does it (initscripts 9.49), with
/// iproute2 and sysfs. The facts it models, from docs/el7.md:
/// - stop runs `sysctl -w net.ipv4.ip_forward=0`, then takes down only the devices that have an
///   ifcfg file at that moment, in the reverse of start's order: a bridge port leaves its bridge, a
///   VLAN is deleted, a bridge loses its addresses and is deleted once its last port is gone, a
///   bond is deleted (its slaves released), a NIC loses its addresses and goes down. A device with
///   no ifcfg file keeps its addresses and routes.
/// - start applies sysctl.d, brings the files up in network-scripts' order (bonds, their slaves,
///   VLANs, bridges, bridge ports, addresses, the default route) and applies sysctl.d again; a
///   bridge gets the address its file gives, and no other.
/// - each file is sourced in a subshell, as network-scripts source them.
const NETWORK_RESTART: &str = r#"#!/bin/bash
scripts=/etc/sysconfig/network-scripts
each() {
    local file
    for file in "$scripts"/ifcfg-*; do
        (
            unset DEVICE TYPE BONDING_OPTS MASTER VLAN PHYSDEV VLAN_ID BRIDGE IPADDR PREFIX GATEWAY ONBOOT MTU
            . "$file"
            # Stop takes down what has a file, whatever its ONBOOT says.
            [ "${ONBOOT:-yes}" = yes ] || [ "${1#down_}" != "$1" ] || exit 0
            "$1"
        ) || return 1
    done
}
exists() { [ -e "/sys/class/net/$DEVICE" ]; }
down_port() { [ -z "${BRIDGE:-}" ] || ! exists || ip link set "$DEVICE" nomaster; }
down_vlan() { [ "${VLAN:-}" != yes ] || ! exists || ip link del "$DEVICE"; }
down_bridge() {
    [ "${TYPE:-}" = Bridge ] && exists || return 0
    ip addr flush dev "$DEVICE"
    [ -n "$(ls "/sys/class/net/$DEVICE/brif" 2>/dev/null)" ] || ip link del "$DEVICE"
}
down_bond() { [ "${TYPE:-}" = Bond ] && exists || return 0; echo "-$DEVICE" > /sys/class/net/bonding_masters; }
down_nic() {
    [ "${TYPE:-}" = Ethernet ] && exists || return 0
    ip addr flush dev "$DEVICE"; ip link set "$DEVICE" down
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
apply_sysctl() {
    local file
    for file in /etc/sysctl.d/*.conf; do [ -f "$file" ] && sysctl -q -p "$file" > /dev/null 2>&1; done
    return 0
}
[ ! -e /tmp/slow-restart ] || sleep 4
echo 0 > /proc/sys/net/ipv4/ip_forward
for step in down_port down_vlan down_bridge down_bond down_nic; do
    each "$step" || echo "network stop: $step failed" >&2
done
apply_sysctl
for step in bond slave vlan bridge port up route; do
    each "$step" || { echo "network restart: $step failed" >&2; exit 1; }
done
apply_sysctl
# As network.service does when one spare interface fails while the rest came up.
[ ! -e /tmp/one-interface-fails ] || exit 1
"#;

/// The guest's job: the switch, version 1 installed and running, then one scenario per change.
const SCENARIOS: &str = r#"
exec 2>&1
mkdir -p /etc/sysconfig/network-scripts /usr/sbin /var/log /var/lib /usr/share
cp /test/hostnet-apply /usr/sbin/hostnet-apply
cp /test/sysctl /usr/sbin/sysctl
chmod 0755 /usr/sbin/hostnet-apply /usr/sbin/sysctl /test/network-restart

. /test/switch.sh

# What `yum install` does to the files: %pre's snapshot, then the package's files replace the
# previous version's (a file the new version lacks goes away).
install_version() {
    /usr/sbin/hostnet-apply --snapshot > /dev/null
    rm -f /etc/sysconfig/network-scripts/ifcfg-* /etc/sysconfig/network-scripts/route-*
    cp -a "/test/$1/etc/." /etc/
    cp -a "/test/$1/usr/." /usr/
}
profile_dir=/etc/sysconfig/network-scripts
. /test/helpers.sh

# Version 1 was installed at kickstart time and runs.
cp -a /test/v1/etc/. /etc/
cp -a /test/v1/usr/. /usr/
/test/network-restart
run v1-running show

# Management moved to a new VLAN whose gateway does not answer (and a new file): the probe fails,
# the checkpoint comes back at once, and the VLAN the change created goes with it.
install_version v2-bad-gateway
echo 'ADDRESS0=10.20.99.0' > /etc/sysconfig/network-scripts/route-bond0.51
run bad-apply /usr/sbin/hostnet-apply --network-command /test/network-restart
run bad-files same_files v1
# A plain restart of the network, as an operator may run it: docker0 keeps its address.
/test/network-restart
run restarted show
run bad-state show
run bad-status /usr/sbin/hostnet-apply --status
# The key the failed version added has its value from before.
run bad-sysctl cat /proc/sys/net/ipv4/tcp_keepalive_time

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
# network restart reported one interface failing. The VLAN only the previous files described is
# named; here it goes anyway, with the bond the network stop deletes under it.
rm -f /etc/sysconfig/network-scripts/ifcfg-* /etc/sysconfig/network-scripts/route-*
cp -a /test/v4-unconfirmed/etc/. /etc/
cp -a /test/v4-unconfirmed/usr/. /usr/
touch /tmp/one-interface-fails
run auto-apply /usr/sbin/hostnet-apply --network-command /test/network-restart --auto-confirm
run auto-status /usr/sbin/hostnet-apply --status
run auto-state show
rm -f /tmp/one-interface-fails

# The operator's session drops (SIGHUP to the whole process group) in the middle of the network
# restart: the apply goes on, probes and confirms.
install_version v3-good
touch /tmp/slow-restart
setsid /usr/sbin/hostnet-apply --network-command /test/network-restart --auto-confirm > /tmp/hup.out 2>&1 &
hup_pid=$!
sleep 2
kill -HUP -- "-$hup_pid" 2>/dev/null || kill -HUP "$hup_pid"
wait "$hup_pid"
hup_status=$?
echo "BEGIN hup-apply"; cat /tmp/hup.out; echo "END hup-apply status=$hup_status"
rm -f /tmp/slow-restart
run hup-state show

# A checkpoint without its manifest cannot say which files it holds: the rollback refuses and
# deletes nothing.
install_version v4-unconfirmed
run damaged-apply /usr/sbin/hostnet-apply --network-command /test/network-restart --rollback-after 300
rm /var/lib/hostnet/apply/checkpoint/manifest
run damaged-rollback /usr/sbin/hostnet-apply --rollback
run damaged-files same_files v4-unconfirmed
run damaged-confirm /usr/sbin/hostnet-apply --confirm

# A full /var/lib/hostnet: the apply refuses before anything changes.
install_version v3-good
mkdir -p /tmp/full && mount -t tmpfs -o size=16k tmpfs /var/lib/hostnet/apply
dd if=/dev/zero of=/var/lib/hostnet/apply/filler bs=1k count=64 2>/dev/null
run full-apply /usr/sbin/hostnet-apply --network-command /test/network-restart
run full-state show
umount /var/lib/hostnet/apply

# Two applies at once: the second waits for the lock, finds the first one's change pending and is
# refused. Then a package installed while that change is pending: once the change is confirmed, the
# new package's failed apply goes back to it, not to its own files.
install_version v3-good
touch /tmp/slow-restart
/usr/sbin/hostnet-apply --network-command /test/network-restart --rollback-after 300 > /tmp/first.out 2>&1 &
first_pid=$!
sleep 1
run second-apply /usr/sbin/hostnet-apply --network-command /test/network-restart
wait "$first_pid"
first_status=$?
echo "BEGIN first-apply"; cat /tmp/first.out; echo "END first-apply status=$first_status"
rm -f /tmp/slow-restart
install_version v2-bad-gateway
run pending-confirm /usr/sbin/hostnet-apply --confirm
run after-pending-apply /usr/sbin/hostnet-apply --network-command /test/network-restart
run after-pending-state show

# A reboot while a change is pending: the timer dies with the boot, and at the next boot (a boot id
# of its own, the one fact of a reboot the script reads) hostnet-apply-boot.service's
# `hostnet-apply --boot` puts the checkpoint's files back before the network starts.
install_version v1
run reboot-apply /usr/sbin/hostnet-apply --network-command /test/network-restart --rollback-after 600
pkill -f -- --timer-wait
for device in $(ls /sys/class/net); do
    case $device in lo|enp2s0f0|enp2s0f1|bonding_masters) ;; *) ip link del "$device" 2>/dev/null ;; esac
done
echo "a-later-boot" > /tmp/later-boot-id
run reboot-boot env HOSTNET_BOOT_ID_FILE=/tmp/later-boot-id /usr/sbin/hostnet-apply --boot
/test/network-restart
run reboot-state show
run reboot-status /usr/sbin/hostnet-apply --status
run log cat /var/log/hostnet-apply.log
cat /tmp/timeline
"#;

/// The example's dockerhost-01 rendered with `management` in place of its `[management]` address.
fn render_version(fleet: &Fleet, payload: &Path, name: &str, management: &str) {
    render_version_with(fleet, payload, name, management, "");
}

#[test]
fn hostnet_apply_rolls_back_a_failed_probe_keeps_a_confirmed_change_and_times_out_the_rest() {
    let cache = guest();
    let fleet = common::guest::switch_fleet("probe-timeout = 3\n");

    let payload = fleet.dir.path().join("payload");
    render_version(&fleet, &payload, "v1", "address = \"10.20.51.21\"");
    // A new VLAN and a new bridge, both to go with the rollback.
    render_version_with(
        &fleet,
        &payload,
        "v2-bad-gateway",
        "vlan = \"mgmt52\"\naddress = \"10.20.52.41\"\n[sysctl]\n\"net.ipv4.tcp_keepalive_time\" = 600",
        "bridge = \"br-apps\"",
    );
    render_version(
        &fleet,
        &payload,
        "v3-good",
        "vlan = \"mgmt53\"\naddress = \"10.20.53.42\"\n[docker]\nextra-flags = [\"--debug\"]",
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
    for tool in ["hostnet-apply", "hostnet-verify"] {
        std::fs::copy(repo_root().join("tools").join(tool), payload.join(tool)).unwrap();
    }
    std::fs::write(payload.join("network-restart"), NETWORK_RESTART).unwrap();
    std::fs::write(payload.join("sysctl"), common::guest::SYSCTL).unwrap();
    std::fs::write(payload.join("switch.sh"), common::guest::SWITCH).unwrap();
    std::fs::write(payload.join("helpers.sh"), common::guest::HELPERS).unwrap();
    std::fs::write(payload.join("run.sh"), SCENARIOS).unwrap();
    run_ok("chmod", &["-R", "a+rX", payload.to_str().unwrap()]);
    let console = boot(&cache, &payload);
    let log = section(&console, "log").0;

    let v1_links = "bond0 bond0.136 bond0.51 docker0 enp2s0f0 enp2s0f1";
    let v3_links = "bond0 bond0.136 bond0.53 docker0 enp2s0f0 enp2s0f1";
    let docker0 = "address: docker0 172.20.56.17/24";
    assert_state(
        &console,
        "v1-running",
        v1_links,
        &[
            "address: bond0.51 10.20.51.21/24",
            "route: default via 10.20.51.1 dev bond0.51",
            docker0,
        ],
    );

    // Management moved to VLAN 52, whose gateway does not answer: exit 1, the previous files (the
    // new route file gone), devices, addresses and routes back, and no trace of VLAN 52.
    let (report, status) = section(&console, "bad-apply");
    assert_eq!(status, 1, "{report}");
    assert!(
        report.contains("probe FAILED: gateway 10.20.52.1 does not answer on bond0.52"),
        "{report}"
    );
    assert!(report.contains("checkpoint: the configuration saved before the package install"));
    for device in ["bond0.52", "br-apps"] {
        assert!(
            report.contains(&format!(
                "deleting {device}, which the configuration put in effect does not describe"
            )),
            "{report}"
        );
    }
    let (files, status) = section(&console, "bad-files");
    assert_eq!(status, 0, "{files}");
    let state = assert_state(
        &console,
        "bad-state",
        v1_links,
        &[
            "address: bond0.51 10.20.51.21/24",
            "route: default via 10.20.51.1 dev bond0.51",
            docker0,
        ],
    );
    assert!(!state.contains("10.20.52."), "{state}");
    let (status_report, _) = section(&console, "bad-status");
    assert!(
        status_report.contains("the last change was rolled-back"),
        "{status_report}"
    );
    // A plain network restart leaves docker0 its address.
    assert_state(&console, "restarted", v1_links, &[docker0]);

    // The confirmed change to VLAN 53: every probe passed, it outlived its 15 s window, and the
    // VLAN it no longer uses is gone.
    let (report, status) = section(&console, "good-apply");
    assert_eq!(status, 0, "{report}");
    for probe in [
        "probe passed: gateway 10.20.53.1 answers on bond0.53",
        "probe passed: DNS server 10.20.0.53 answers",
        "probe passed: DNS server 10.20.0.54 answers",
        "probe passed: http://10.20.0.80/hostnet/repodata/repomd.xml answers",
        "deleting bond0.51, which the configuration put in effect does not describe",
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
    let state = assert_state(
        &console,
        "good-state",
        v3_links,
        &[
            "address: bond0.53 10.20.53.42/24",
            "route: default via 10.20.53.1 dev bond0.53",
            docker0,
        ],
    );
    assert!(!state.contains("10.20.51."), "{state}");

    // Nobody confirms: a second apply is refused meanwhile, and the timer restores version 3,
    // the file %post moved aside included.
    let (report, status) = section(&console, "late-apply");
    assert_eq!(status, 0, "{report}");
    let (refusal, status) = section(&console, "late-again");
    assert_eq!(status, 2, "{refusal}");
    assert!(refusal.contains("is pending"), "{refusal}");
    let pending = section(&console, "late-pending").0;
    assert!(
        pending.contains("address: bond0.51 10.20.51.43/24"),
        "{pending}"
    );
    let (status_report, _) = section(&console, "late-status");
    assert!(
        status_report.contains("the last change was rolled-back"),
        "{status_report}\n{log}"
    );
    let state = assert_state(
        &console,
        "late-state",
        v3_links,
        &["address: bond0.53 10.20.53.42/24", docker0],
    );
    assert!(!state.contains("10.20.51."), "{state}");
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
        report.contains("warning: no ifcfg file describes bond0.53; left as they are"),
        "{report}"
    );
    assert_state(
        &console,
        "auto-state",
        v1_links,
        &["address: bond0.51 10.20.51.43/24", docker0],
    );
    // The wrong gateway, the timer, and the package installed while a change was pending.
    assert_eq!(
        log.matches("rolled back: the checkpointed files are in place")
            .count(),
        3,
        "{log}"
    );

    // The rollback put back the sysctl value of the key the failed version added.
    assert_eq!(section(&console, "bad-sysctl").0, "7200");

    // SIGHUP in the middle of the network restart: the apply went on to its confirmation.
    let (report, status) = section(&console, "hup-apply");
    assert_eq!(status, 0, "{report}");
    assert!(report.contains("confirmed: the change stays"), "{report}");
    assert_state(
        &console,
        "hup-state",
        v3_links,
        &["address: bond0.53 10.20.53.42/24", docker0],
    );

    // A damaged checkpoint: the rollback refuses and deletes nothing.
    let (report, status) = section(&console, "damaged-rollback");
    assert_eq!(status, 1, "{report}");
    assert!(report.contains("rollback refused"), "{report}");
    let (files, status) = section(&console, "damaged-files");
    assert_eq!(status, 0, "{files}");
    assert_eq!(section(&console, "damaged-confirm").1, 0);

    // A full state directory: refused before anything changed. The devices are those that ran
    // (the installed files, not in effect, are what hostnet-verify compares with).
    let (report, status) = section(&console, "full-apply");
    assert_eq!(status, 2, "{report}");
    assert!(report.contains("nothing was changed"), "{report}");
    let (state, _) = section(&console, "full-state");
    let full_state = state.to_string();
    for line in [
        &format!("links: {v1_links} "),
        "address: bond0.51 10.20.51.43/24",
        docker0,
    ] {
        assert!(full_state.contains(line), "no {line:?} in:\n{full_state}");
    }

    // Two at once: the second waited and was refused; the first went on.
    let (report, status) = section(&console, "second-apply");
    assert_eq!(status, 2, "{report}");
    assert!(report.contains("is pending"), "{report}");
    assert_eq!(section(&console, "first-apply").1, 0);
    // Installed while pending, then confirmed: the failed apply of the new package goes back to
    // the confirmed change.
    assert_eq!(section(&console, "pending-confirm").1, 0);
    assert_eq!(section(&console, "after-pending-apply").1, 1);
    assert_state(
        &console,
        "after-pending-state",
        v3_links,
        &["address: bond0.53 10.20.53.42/24", docker0],
    );

    // A reboot while pending: rolled back at boot to the configuration from before the change.
    assert_eq!(section(&console, "reboot-apply").1, 0);
    let (report, status) = section(&console, "reboot-boot");
    assert_eq!(status, 0, "{report}");
    assert!(
        report.contains("boot: rolling back the change left unconfirmed by a reboot"),
        "{report}"
    );
    assert_state(
        &console,
        "reboot-state",
        v3_links,
        &["address: bond0.53 10.20.53.42/24", docker0],
    );
    assert!(
        section(&console, "reboot-status")
            .0
            .contains("the last change was rolled-back")
    );
}
