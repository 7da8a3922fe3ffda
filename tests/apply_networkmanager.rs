//! `hostnet-apply` on an el9 host, in the qemu guest of `common::guest` with Debian's real
//! NetworkManager 1.42 and a real D-Bus system bus: NetworkManager's own checkpoint
//! (CheckpointCreate with a rollback timeout, CheckpointRollback, CheckpointDestroy, called with
//! busctl as on EL9), real bond, VLAN and bridge devices made by NetworkManager from hostnet's
//! keyfiles, and the same probes as on el7 against the switch of `common::guest::SWITCH`.
//!
//! Stand-ins, and the facts they model:
//! - run.sh starts dbus-daemon and NetworkManager as systemd would (`NetworkManager --no-daemon`,
//!   keyfile plugin, no automatic DHCP profiles as EL9's `no-auto-default` servers set).
//! - The guest runs no udev: /sys is made read-only before NetworkManager starts, so that it takes
//!   every device as initialized, as it does in a container (with udev, it waits for udev to
//!   initialize each device first).
//! - The bond's NICs are veth pairs. NetworkManager leaves veth devices unmanaged by default (a
//!   udev rule on Debian and EL9); a `[device]` section marks them managed, as every real NIC is.
//! - `install_version` is what `dnf install` does to the files: %pre's snapshot, then the package's
//!   files replace the previous version's, keyfiles root-only (mode 0600).
//! - sysctl is procps' (`common::guest::SYSCTL`); no dockerd runs, so hostnet-verify checks the
//!   network part of the expected state.

mod common;

use common::guest::{
    SWITCH, SYSCTL, assert_state, guest, render_version_with, section, switch_fleet,
};
use common::{repo_root, run_ok};

/// What systemd would do before NetworkManager starts, as run.sh's `start_network_manager`: its
/// configuration (keyfiles only, no automatic DHCP profiles, the veth NICs managed), /sys read-only
/// (no udev), and the system bus.
const NETWORK_MANAGER: &str = r#"
cat > /etc/NetworkManager/NetworkManager.conf <<'CONF'
[main]
plugins=keyfile
no-auto-default=*

[device-veth-nics]
match-device=driver:veth
managed=1
CONF
start_network_manager() {
    mount -o remount,ro /sys
    mkdir -p /run/dbus
    dbus-daemon --system --fork --nopidfile
}
"#;

const SCENARIOS: &str = r#"
exec 2>&1
mkdir -p /usr/sbin /var/log /var/lib /usr/share /etc/sysconfig/network-scripts /run/dbus
cp /test/hostnet-apply /usr/sbin/hostnet-apply
cp /test/sysctl /usr/sbin/sysctl
chmod 0755 /usr/sbin/hostnet-apply /usr/sbin/sysctl
. /test/switch.sh
profile_dir=/etc/NetworkManager/system-connections
. /test/helpers.sh
. /test/network-manager.sh


install_version() {
    /usr/sbin/hostnet-apply --snapshot > /dev/null
    rm -f /etc/NetworkManager/system-connections/*
    cp -a "/test/$1/etc/." /etc/
    cp -a "/test/$1/usr/." /usr/
    chmod 0600 /etc/NetworkManager/system-connections/*
}
checkpoints() {
    busctl get-property org.freedesktop.NetworkManager /org/freedesktop/NetworkManager org.freedesktop.NetworkManager Checkpoints
}

# Version 1 was installed at kickstart time: NetworkManager brings it up from the keyfiles alone.
cp -a /test/v1/etc/. /etc/
cp -a /test/v1/usr/. /usr/
chmod 0600 /etc/NetworkManager/system-connections/*
start_network_manager
NetworkManager --no-daemon > /var/log/NetworkManager.log 2>&1 &
nm=$!
wait_for 90 has_address bond0.51 10.20.51.21
wait_for 60 has_default_route 10.20.51.1
wait_for 30 has_address docker0 172.20.56.17
# systemd-sysctl at boot, and udev's run of it for each new device.
/usr/sbin/sysctl -q -e -p /etc/sysctl.d/90-hostnet.conf
run v1-running show

# Management moved to VLAN 52, whose gateway does not answer: the probe fails, NetworkManager's
# checkpoint comes back at once, the VLAN the change made goes with it, and the files are v1's.
install_version v2-bad-gateway
run bad-apply /usr/sbin/hostnet-apply --rollback-after 120
run after-bad show
run after-bad-files same_files v1
run after-bad-checkpoints checkpoints

# Management moved to VLAN 53, whose gateway answers: applied, then confirmed.
install_version v3-good
run good-apply /usr/sbin/hostnet-apply --rollback-after 120
run good-confirm /usr/sbin/hostnet-apply --confirm
run after-good show
run after-good-files same_files v3-good
run after-good-checkpoints checkpoints

# A new address, and hostnet-apply killed mid-way with its timer: NetworkManager rolls the running
# network back by itself at its checkpoint's timeout; --status says so; --rollback puts the files
# back.
install_version v4-killed
/usr/sbin/hostnet-apply --rollback-after 5 > /tmp/killed.out 2>&1 &
apply_pid=$!
# Mid-way: the new address is up, the probes are running.
wait_for 60 has_address bond0.53 10.20.53.44
timer=$(sed -n 's/^timer\tprocess //p' /var/lib/hostnet/apply/checkpoint/info | tail -n 1)
kill -9 "$apply_pid"
[ -n "$timer" ] && kill -9 -- "-$timer"
run killed-log cat /tmp/killed.out
wait_for 90 has_address bond0.53 10.20.53.42
wait_for 30 eval '! has_address bond0.53 10.20.53.44'
run killed-rolled-back show
run killed-status /usr/sbin/hostnet-apply --status
run killed-confirm /usr/sbin/hostnet-apply --confirm
run killed-rollback /usr/sbin/hostnet-apply --rollback
run after-killed show
run after-killed-files same_files v3-good

# NetworkManager stopped and started again: it takes the running devices over as they are, and
# docker0 keeps its address throughout (dockerd would otherwise lose its bridge's gateway).
kill "$nm"; wait "$nm"
run nm-stopped ip -4 -o addr show dev docker0
NetworkManager --no-daemon > /var/log/NetworkManager-2.log 2>&1 &
wait_for 30 busctl get-property org.freedesktop.NetworkManager /org/freedesktop/NetworkManager org.freedesktop.NetworkManager State > /dev/null
sleep 5
run nm-restarted show
run log cat /var/log/hostnet-apply.log
"#;

#[test]
fn hostnet_apply_under_network_manager_rolls_back_through_its_checkpoint() {
    let cache = guest();
    let fleet = switch_fleet("probe-timeout = 10\n");
    let host = fleet.hosts().join("dockerhost-01.toml");
    let text = std::fs::read_to_string(&host).unwrap();
    std::fs::write(&host, format!("target = \"el9\"\n{text}")).unwrap();

    let payload = fleet.dir.path().join("payload");
    let version = |name: &str, management: &str| {
        render_version_with(&fleet, &payload, name, management, "");
    };
    version("v1", "address = \"10.20.51.21\"");
    version(
        "v2-bad-gateway",
        "vlan = \"mgmt52\"\naddress = \"10.20.52.41\"",
    );
    version("v3-good", "vlan = \"mgmt53\"\naddress = \"10.20.53.42\"");
    version("v4-killed", "vlan = \"mgmt53\"\naddress = \"10.20.53.44\"");
    let settings =
        std::fs::read_to_string(payload.join("v1/usr/share/hostnet/apply-settings")).unwrap();
    assert!(
        settings.contains("network\tNetworkManager\nprofile\tbond0\nprofile\tenp2s0f0\n"),
        "{settings}"
    );
    let repodata = payload.join("www/hostnet/repodata");
    std::fs::create_dir_all(&repodata).unwrap();
    std::fs::write(repodata.join("repomd.xml"), "<repomd/>\n").unwrap();
    for tool in ["hostnet-apply", "hostnet-verify"] {
        std::fs::copy(repo_root().join("tools").join(tool), payload.join(tool)).unwrap();
    }
    std::fs::write(payload.join("sysctl"), SYSCTL).unwrap();
    std::fs::write(payload.join("switch.sh"), SWITCH).unwrap();
    std::fs::write(payload.join("helpers.sh"), common::guest::HELPERS).unwrap();
    std::fs::write(payload.join("network-manager.sh"), NETWORK_MANAGER).unwrap();
    std::fs::write(payload.join("run.sh"), SCENARIOS).unwrap();
    run_ok("chmod", &["-R", "a+rX", payload.to_str().unwrap()]);
    let console = common::guest::boot_for(&cache, &payload, 480);

    let v1_links = "bond0 bond0.136 bond0.51 docker0 enp2s0f0 enp2s0f1";
    let v3_links = "bond0 bond0.136 bond0.53 docker0 enp2s0f0 enp2s0f1";
    let docker0 = "address: docker0 172.20.56.17/24";
    let v1 = [
        "address: bond0.51 10.20.51.21/24",
        "route: default via 10.20.51.1 dev bond0.51",
        docker0,
    ];
    let v3 = [
        "address: bond0.53 10.20.53.42/24",
        "route: default via 10.20.53.1 dev bond0.53",
        docker0,
    ];
    assert_state(&console, "v1-running", v1_links, &v1);

    let (report, status) = section(&console, "bad-apply");
    assert_eq!(status, 1, "{report}");
    for expected in [
        "NetworkManager: checkpoint /org/freedesktop/NetworkManager/Checkpoint/",
        "probe FAILED: gateway 10.20.52.1 does not answer on bond0.52",
        "NetworkManager: rolling back its checkpoint",
        "rolled back: the checkpointed files are in place",
    ] {
        assert!(report.contains(expected), "{expected}:\n{report}");
    }
    assert_state(&console, "after-bad", v1_links, &v1);
    assert_eq!(section(&console, "after-bad-files"), ("", 0));
    assert_eq!(section(&console, "after-bad-checkpoints").0, "ao 0");

    let (report, status) = section(&console, "good-apply");
    assert_eq!(status, 0, "{report}");
    assert!(
        report.contains("probe passed: gateway 10.20.53.1 answers on bond0.53"),
        "{report}"
    );
    assert_eq!(section(&console, "good-confirm").1, 0);
    assert_state(&console, "after-good", v3_links, &v3);
    assert_eq!(section(&console, "after-good-files"), ("", 0));
    assert_eq!(section(&console, "after-good-checkpoints").0, "ao 0");

    // Killed: NetworkManager alone put v3's address back; the files (and the expected state) are
    // v4's until --rollback, and hostnet-verify says so.
    let (state, _) = section(&console, "killed-rolled-back");
    for expected in v3.iter().chain([
        &"bond0.53: address: expected 10.20.53.44/24, found 10.20.53.42/24",
        &"verify: 1 hostnet-verify: 20 checks, 1 drift(s)",
    ]) {
        assert!(state.contains(expected), "{expected}:\n{state}");
    }
    let (status_report, _) = section(&console, "killed-status");
    assert!(
        status_report.contains("NetworkManager has rolled the running network back by itself"),
        "{status_report}"
    );
    let (confirm, status) = section(&console, "killed-confirm");
    assert_eq!(
        status, 2,
        "nothing to confirm once NetworkManager rolled back:\n{confirm}"
    );
    let (rollback, status) = section(&console, "killed-rollback");
    assert_eq!(status, 0, "{rollback}");
    assert!(
        rollback.contains("its checkpoint is gone: it rolled the running network back by itself"),
        "{rollback}"
    );
    assert_state(&console, "after-killed", v3_links, &v3);
    assert_eq!(section(&console, "after-killed-files"), ("", 0));
    let (stopped, _) = section(&console, "nm-stopped");
    assert!(stopped.contains("172.20.56.17/24"), "{stopped}");
    assert_state(&console, "nm-restarted", v3_links, &v3);
}

/// Each host in turn: its NICs (veth pairs into the switch's bridge, jumbo where its bond is), its
/// keyfiles alone, NetworkManager started fresh; then hostnet-verify against its expected state.
const EVERY_HOST: &str = r#"
exec 2>&1
mkdir -p /usr/sbin /var/log /run/dbus
cp /test/sysctl /usr/sbin/sysctl
chmod 0755 /usr/sbin/sysctl
ip netns add switch
ip -n switch link add name sw0 type bridge
ip -n switch link add link sw0 name sw0.51 type vlan id 51
ip -n switch addr add 10.20.51.1/24 dev sw0.51
for device in lo sw0 sw0.51; do ip -n switch link set dev "$device" up; done
. /test/helpers.sh
. /test/network-manager.sh
start_network_manager
expected() { sed -n "s/^$1\t$2\t$3\t//p" "/test/$host/usr/share/hostnet/expected-state"; }
for host in $(cat /test/hosts); do
    rm -f /etc/NetworkManager/system-connections/*
    cp "/test/$host/etc/NetworkManager/system-connections/"* /etc/NetworkManager/system-connections/
    chmod 0600 /etc/NetworkManager/system-connections/*
    mtu=$(expected link "$(expected bond bond0 slaves | cut -d' ' -f1)" mtu)
    for nic in $(expected bond bond0 slaves); do
        ip link add "$nic" type veth peer name "p-$nic" netns switch
        ip -n switch link set "p-$nic" mtu "${mtu:-1500}" master sw0 up
    done
    NetworkManager --no-daemon > "/var/log/NetworkManager-$host.log" 2>&1 &
    nm=$!
    wait_for 90 has_default_route 10.20.51.1
    echo "BEGIN $host"
    # systemd-sysctl at boot, and udev's run of it for each new device.
    /usr/sbin/sysctl -q -e -p "/test/$host/etc/sysctl.d/90-hostnet.conf"
    grep -v '^dockerd' "/test/$host/usr/share/hostnet/expected-state" > /tmp/network-state
    /bin/bash /test/hostnet-verify --state /tmp/network-state
    echo "END $host status=$?"
    kill "$nm"; wait "$nm"
    for device in $(ls /sys/class/net); do
        case $device in lo|bonding_masters) ;; *) ip link delete "$device" 2> /dev/null ;; esac
    done
done
"#;

/// Every example host, rendered for el9 (dockerhost-05 for el8: the same keyfiles), comes up from
/// its keyfiles alone under NetworkManager: bond mode and options, ports, VLAN ids and parents,
/// the bridge and its port, addresses, the default route and MTUs, as hostnet-verify checks them.
#[test]
fn every_example_host_comes_up_from_its_keyfiles_alone() {
    let cache = guest();
    let fleet = common::Fleet::example();
    let hosts = [
        "dockerhost-01",
        "rack-a/dockerhost-02",
        "rack-a/dockerhost-03",
        "rack-b/dockerhost-04",
        "rack-b/dockerhost-05",
    ];
    for path in &hosts[..3] {
        let file = fleet.hosts().join(format!("{path}.toml"));
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, format!("target = \"el9\"\n{text}")).unwrap();
    }
    let payload = fleet.dir.path().join("payload");
    let mut names = Vec::new();
    for path in hosts {
        let name = path.rsplit('/').next().unwrap();
        let output = fleet.run(&[
            "render",
            name,
            "--out",
            payload.join(name).to_str().unwrap(),
        ]);
        assert!(output.status.success(), "{}", common::stderr(&output));
        names.push(name);
    }
    std::fs::write(payload.join("hosts"), names.join(" ")).unwrap();
    std::fs::copy(
        repo_root().join("tools/hostnet-verify"),
        payload.join("hostnet-verify"),
    )
    .unwrap();
    std::fs::write(payload.join("sysctl"), SYSCTL).unwrap();
    std::fs::write(payload.join("run.sh"), EVERY_HOST).unwrap();
    std::fs::write(payload.join("helpers.sh"), common::guest::HELPERS).unwrap();
    std::fs::write(payload.join("network-manager.sh"), NETWORK_MANAGER).unwrap();
    run_ok("chmod", &["-R", "a+rX", payload.to_str().unwrap()]);
    let console = common::guest::boot_for(&cache, &payload, 480);
    for name in names {
        let (report, status) = section(&console, name);
        assert_eq!(status, 0, "{name}:\n{report}");
        assert!(report.contains(" checks, no drift"), "{name}:\n{report}");
    }
}
