//! `hostnet check` against broken definitions: one case per validation rule, each asserting the
//! reported position (file:line:col) and the message. Adding a case is adding a row.

mod common;

use common::{Fleet, stderr, stdout};

/// A valid extra host; cases replace parts of it.
macro_rules! new_host {
    () => {
        "[management]\naddress = \"10.20.51.40\"\n[containers]\nslice = \"172.20.56.64/28\"\n"
    };
}
const NEW_HOST: &str = new_host!();

struct Case {
    name: &'static str,
    /// (file relative to hosts/, content, append instead of replace)
    files: &'static [(&'static str, &'static str, bool)],
    /// Expected `path:line:col: error: ` prefix ...
    position: &'static str,
    /// ... and a piece of the message.
    message: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "rollback window out of range",
        files: &[(
            "t.toml",
            concat!("[rollout]\nrollback-after = 5\n", new_host!()),
            false,
        )],
        position: "hosts/t.toml:2:18: error: ",
        message: "rollout.rollback-after: 5 is not from 10 to 3600 seconds",
    },
    Case {
        name: "unknown probe",
        files: &[(
            "t.toml",
            concat!("[rollout]\nprobes = [\"gateway\", \"ping\"]\n", new_host!()),
            false,
        )],
        position: "hosts/t.toml:2:10: error: ",
        message: "rollout.probes[1]: \"ping\" is not a probe; the probes are \"gateway\", \"dns\" and \"repository\"",
    },
    Case {
        name: "probe listed twice",
        files: &[(
            "t.toml",
            concat!("[rollout]\nprobes = [\"dns\", \"dns\"]\n", new_host!()),
            false,
        )],
        position: "hosts/t.toml:2:10: error: ",
        message: "rollout.probes[1]: \"dns\" is listed twice",
    },
    Case {
        name: "probes that outlast the rollback window",
        files: &[(
            "rack-a/group.toml",
            "\n[rollout]\nrollback-after = 60\nprobe-timeout = 30\n",
            true,
        )],
        position: "hosts/rack-a/group.toml:15:17: error: ",
        message: "rollout: 3 probes of up to 30 s each can outlast rollback-after (60 s)",
    },
    Case {
        name: "probe URL with shell syntax",
        files: &[(
            "t.toml",
            concat!(
                "[rollout]\nprobe-urls = [\"http://r.example.com/$(reboot)\"]\n",
                new_host!()
            ),
            false,
        )],
        position: "hosts/t.toml:2:14: error: ",
        message: "rollout.probe-urls[0]: \"http://r.example.com/$(reboot)\" contains '$'",
    },
    Case {
        name: "probe URL scheme",
        files: &[(
            "t.toml",
            concat!(
                "[rollout]\nprobe-urls = [\"ftp://r.example.com/x\"]\n",
                new_host!()
            ),
            false,
        )],
        position: "hosts/t.toml:2:14: error: ",
        message: "rollout.probe-urls[0]:",
    },
    Case {
        name: "unknown key",
        files: &[("t.toml", "[managment]\naddress = \"10.20.51.40\"\n", false)],
        position: "hosts/t.toml:1:2: error: ",
        message: "unknown setting `managment`; did you mean `management`? allowed here: `fqdn`, `boot-mac`",
    },
    Case {
        name: "unknown key in a nested table",
        files: &[("t.toml", "[bond]\nslave = [\"eth0\"]\n", false)],
        position: "hosts/t.toml:2:1: error: ",
        message: "unknown setting `slave`",
    },
    Case {
        name: "wrong type",
        files: &[("t.toml", "[bond]\nmiimon = \"often\"\n", false)],
        position: "hosts/t.toml:2:10: error: ",
        message: "bond.miimon: found the string \"often\", expected a whole number (without quotes)",
    },
    Case {
        name: "VLAN id out of range",
        files: &[(
            "site.toml",
            "\n[vlans.storage]\nid = 4095\nsubnet = \"10.30.0.0/24\"\ngateway = \"10.30.0.1\"\n",
            true,
        )],
        position: "hosts/site.toml:94:6: error: ",
        message: "vlans.storage.id: 4095 is not a VLAN id; use 1 to 4094",
    },
    Case {
        name: "duplicate VLAN id in the catalog",
        files: &[(
            "site.toml",
            "\n[vlans.storage]\nid = 51\nsubnet = \"10.30.0.0/24\"\ngateway = \"10.30.0.1\"\n",
            true,
        )],
        position: "hosts/site.toml:93:1: error: ",
        message: "VLAN id 51 is already used by vlans.mgmt",
    },
    Case {
        name: "VLAN gateway outside its subnet",
        files: &[(
            "site.toml",
            "\n[vlans.storage]\nid = 60\nsubnet = \"10.30.0.0/24\"\ngateway = \"10.31.0.1\"\n",
            true,
        )],
        position: "hosts/site.toml:96:11: error: ",
        message: "vlans.storage.gateway: 10.31.0.1 is outside the subnet 10.30.0.0/24; use an address from 10.30.0.1 to 10.30.0.254",
    },
    Case {
        name: "VLAN not in the catalog",
        files: &[(
            "t.toml",
            "[management]\nvlan = 52\naddress = \"10.20.51.40\"\n[containers]\nslice = \"172.20.56.64/28\"\n",
            false,
        )],
        position: "hosts/t.toml:2:8: error: ",
        message: "management.vlan: VLAN id 52 is not in the site's catalog; known VLANs: containers (136), mgmt (51)",
    },
    Case {
        name: "management and container VLANs are the same",
        files: &[(
            "t.toml",
            "[management]\naddress = \"10.20.51.40\"\n[containers]\nvlan = \"mgmt\"\nslice = \"10.20.51.64/28\"\n",
            false,
        )],
        position: "hosts/t.toml:4:8: error: ",
        message: "containers.vlan: VLAN 51 is also the management VLAN",
    },
    Case {
        name: "VLAN interface name longer than 15 bytes",
        files: &[(
            "t.toml",
            "[bond]\nname = \"bond-long-name\"\n[management]\naddress = \"10.20.51.40\"\n[containers]\nslice = \"172.20.56.64/28\"\n",
            false,
        )],
        position: "hosts/t.toml:2:8: error: ",
        message: "bond.name: the VLAN interface \"bond-long-name.51\" (management.vlan gives VLAN 51) is 17 bytes; Linux allows 15; shorten bond.name",
    },
    Case {
        name: "VLAN interface name too long, bond named in a group",
        files: &[(
            "rack-a/group.toml",
            "[bond]\nname = \"bond-long-name\"\n",
            false,
        )],
        position: "hosts/rack-a/group.toml:",
        message: "bond.name: the VLAN interface \"bond-long-name.51\" (management.vlan gives VLAN 51) is 17 bytes; Linux allows 15; shorten bond.name (inherited by hosts dockerhost-02, dockerhost-03)",
    },
    Case {
        name: "interface name with a shell metacharacter",
        files: &[(
            "t.toml",
            "[bond]\nslaves = [\"eth0\", \"eth1;reboot\"]\n[management]\naddress = \"10.20.51.40\"\n[containers]\nslice = \"172.20.56.64/28\"\n",
            false,
        )],
        position: "hosts/t.toml:2:10: error: ",
        message: "bond.slaves[1]: \"eth1;reboot\" contains ';'",
    },
    Case {
        name: "slave listed twice",
        files: &[(
            "t.toml",
            "[bond]\nslaves = [\"eth0\", \"eth0\"]\n[management]\naddress = \"10.20.51.40\"\n[containers]\nslice = \"172.20.56.64/28\"\n",
            false,
        )],
        position: "hosts/t.toml:2:10: error: ",
        message: "bond.slaves[1]: \"eth0\" is listed twice",
    },
    Case {
        name: "slave named like the bond",
        files: &[(
            "t.toml",
            "[bond]\nslaves = [\"eth0\", \"bond0\"]\n[management]\naddress = \"10.20.51.40\"\n[containers]\nslice = \"172.20.56.64/28\"\n",
            false,
        )],
        position: "hosts/t.toml:2:10: error: ",
        message: "bond.slaves: \"bond0\" is the bond itself",
    },
    Case {
        name: "bridge named like a slave",
        files: &[(
            "t.toml",
            "[management]\naddress = \"10.20.51.40\"\n[containers]\nbridge = \"enp2s0f1\"\nslice = \"172.20.56.64/28\"\n",
            false,
        )],
        position: "hosts/t.toml:4:10: error: ",
        message: "containers.bridge: \"enp2s0f1\" is both the container bridge and the bond or one of its slaves",
    },
    Case {
        name: "unknown bonding mode",
        files: &[(
            "t.toml",
            "[bond]\nmode = 7\n[management]\naddress = \"10.20.51.40\"\n[containers]\nslice = \"172.20.56.64/28\"\n",
            false,
        )],
        position: "hosts/t.toml:2:8: error: ",
        message: "bond.mode: 7 is not a bonding mode; use one of balance-rr (0)",
    },
    Case {
        name: "bonding option for another mode",
        files: &[(
            "t.toml",
            "[bond.options]\nlacp_rate = \"fast\"\n[management]\naddress = \"10.20.51.40\"\n[containers]\nslice = \"172.20.56.64/28\"\n",
            false,
        )],
        position: "hosts/t.toml:2:13: error: ",
        message: "bond.options.lacp_rate: lacp_rate has no effect in mode balance-rr; it applies to 802.3ad",
    },
    Case {
        name: "bonding option with a bad value",
        files: &[(
            "t.toml",
            "[bond]\nmode = 4\n[bond.options]\nxmit_hash_policy = \"layer9\"\n[management]\naddress = \"10.20.51.40\"\n[containers]\nslice = \"172.20.56.64/28\"\n",
            false,
        )],
        position: "hosts/t.toml:4:20: error: ",
        message: "xmit_hash_policy = \"layer9\" is not valid; use one of layer2 (0), layer3+4 (1), layer2+3 (2), encap2+3 (3), encap3+4 (4), by name or by the kernel's number",
    },
    Case {
        name: "updelay not a multiple of miimon",
        files: &[(
            "t.toml",
            "[bond.options]\nupdelay = 150\n[management]\naddress = \"10.20.51.40\"\n[containers]\nslice = \"172.20.56.64/28\"\n",
            false,
        )],
        position: "hosts/t.toml:2:11: error: ",
        message: "bond.options.updelay: 150 is not a multiple of miimon (100)",
    },
    Case {
        name: "management address outside the VLAN",
        files: &[(
            "t.toml",
            "[management]\naddress = \"10.20.52.40\"\n[containers]\nslice = \"172.20.56.64/28\"\n",
            false,
        )],
        position: "hosts/t.toml:2:11: error: ",
        message: "management.address: in VLAN 51 (mgmt): 10.20.52.40 is outside the subnet 10.20.51.0/24; use an address from 10.20.51.1 to 10.20.51.254",
    },
    Case {
        name: "management address is the network address",
        files: &[(
            "t.toml",
            "[management]\naddress = \"10.20.51.0\"\n[containers]\nslice = \"172.20.56.64/28\"\n",
            false,
        )],
        position: "hosts/t.toml:2:11: error: ",
        message: "10.20.51.0 is the network address of 10.20.51.0/24",
    },
    Case {
        name: "management address is the broadcast address",
        files: &[(
            "t.toml",
            "[management]\naddress = \"10.20.51.255\"\n[containers]\nslice = \"172.20.56.64/28\"\n",
            false,
        )],
        position: "hosts/t.toml:2:11: error: ",
        message: "10.20.51.255 is the broadcast address of 10.20.51.0/24",
    },
    Case {
        name: "management address is the gateway",
        files: &[(
            "t.toml",
            "[management]\naddress = \"10.20.51.1\"\n[containers]\nslice = \"172.20.56.64/28\"\n",
            false,
        )],
        position: "hosts/t.toml:2:11: error: ",
        message: "management.address: 10.20.51.1 is the VLAN's gateway",
    },
    Case {
        name: "management address that is not an address",
        files: &[(
            "t.toml",
            "[management]\naddress = \"10.20.51.400\"\n[containers]\nslice = \"172.20.56.64/28\"\n",
            false,
        )],
        position: "hosts/t.toml:2:11: error: ",
        message: "management.address: \"10.20.51.400\" is not an IPv4 address",
    },
    Case {
        name: "missing management address",
        files: &[(
            "t.toml",
            "[containers]\nslice = \"172.20.56.64/28\"\n",
            false,
        )],
        position: "hosts/t.toml:1:1: error: ",
        message: "management.address: missing; give the host's IPv4 address in VLAN mgmt (10.20.51.0/24)",
    },
    Case {
        name: "slice outside the container VLAN",
        files: &[(
            "t.toml",
            "[management]\naddress = \"10.20.51.40\"\n[containers]\nslice = \"172.20.57.64/28\"\n",
            false,
        )],
        position: "hosts/t.toml:4:9: error: ",
        message: "containers.slice: 172.20.57.64/28 is not inside VLAN 136 (containers) subnet 172.20.56.0/24",
    },
    Case {
        name: "slice containing the gateway",
        files: &[(
            "t.toml",
            "[management]\naddress = \"10.20.51.40\"\n[containers]\nslice = \"172.20.56.0/28\"\n",
            false,
        )],
        position: "hosts/t.toml:4:9: error: ",
        message: "containers.slice: 172.20.56.0/28 contains the VLAN's gateway 172.20.56.1",
    },
    Case {
        name: "slice with host bits",
        files: &[(
            "t.toml",
            "[management]\naddress = \"10.20.51.40\"\n[containers]\nslice = \"172.20.56.70/28\"\n",
            false,
        )],
        position: "hosts/t.toml:4:9: error: ",
        message: "containers.slice: 172.20.56.70/28 has host bits set; did you mean 172.20.56.64/28?",
    },
    Case {
        name: "bridge address outside the VLAN",
        files: &[(
            "t.toml",
            "[management]\naddress = \"10.20.51.40\"\n[containers]\nslice = \"172.20.56.64/28\"\nbridge-address = \"172.20.99.1\"\n",
            false,
        )],
        position: "hosts/t.toml:5:18: error: ",
        message: "containers.bridge-address: in VLAN 136 (containers): 172.20.99.1 is outside the subnet 172.20.56.0/24",
    },
    Case {
        name: "bridge address with another prefix",
        files: &[(
            "t.toml",
            "[management]\naddress = \"10.20.51.40\"\n[containers]\nslice = \"172.20.56.64/28\"\nbridge-address = \"172.20.56.65/28\"\n",
            false,
        )],
        position: "hosts/t.toml:5:18: error: ",
        message: "its prefix is /24; write 172.20.56.65 or 172.20.56.65/24",
    },
    Case {
        name: "duplicate host name across folders",
        files: &[("rack-b/dockerhost-01.toml", NEW_HOST, false)],
        position: "hosts/rack-b/dockerhost-01.toml:1:1: error: ",
        message: "host name: dockerhost-01 is also the name of hosts/dockerhost-01.toml:1:1; a host is named by its file name, whatever its folder, so rename one of the files",
    },
    Case {
        name: "duplicate management address",
        files: &[(
            "t.toml",
            "[management]\naddress = \"10.20.51.21\"\n[containers]\nslice = \"172.20.56.64/28\"\n",
            false,
        )],
        position: "hosts/t.toml:2:11: error: ",
        message: "management address 10.20.51.21/32 of host t overlaps management address 10.20.51.21/32 of host dockerhost-01 (hosts/dockerhost-01.toml:6:11)",
    },
    Case {
        name: "duplicate boot MAC",
        files: &[(
            "t.toml",
            "boot-mac = \"52-54-00-20-51-21\"\n[management]\naddress = \"10.20.51.40\"\n[containers]\nslice = \"172.20.56.64/28\"\n",
            false,
        )],
        position: "hosts/t.toml:1:12: error: ",
        message: "boot-mac: 52:54:00:20:51:21 of host t is also used by host dockerhost-01 (hosts/dockerhost-01.toml:3:12)",
    },
    Case {
        name: "overlapping container slices",
        files: &[(
            "t.toml",
            "[management]\naddress = \"10.20.51.40\"\n[containers]\nslice = \"172.20.56.16/29\"\n",
            false,
        )],
        position: "hosts/t.toml:4:9: error: ",
        message: "containers.slice: container slice 172.20.56.16/29 of host t overlaps container slice 172.20.56.16/28 of host dockerhost-01",
    },
    Case {
        name: "bridge address inside another host's slice",
        files: &[(
            "t.toml",
            "[management]\naddress = \"10.20.51.40\"\n[containers]\nslice = \"172.20.56.64/28\"\nbridge-address = \"172.20.56.20\"\n",
            false,
        )],
        position: "hosts/t.toml:5:18: error: ",
        message: "bridge address 172.20.56.20/32 of host t overlaps container slice 172.20.56.16/28 of host dockerhost-01",
    },
    Case {
        name: "registry mirror without a scheme",
        files: &[(
            "t.toml",
            "[management]\naddress = \"10.20.51.40\"\n[containers]\nslice = \"172.20.56.64/28\"\n[docker]\nregistry-mirrors = [\"mirror.example.com\"]\n",
            false,
        )],
        position: "hosts/t.toml:6:20: error: ",
        message: "docker.registry-mirrors[0]: \"mirror.example.com\" is not a URL",
    },
    Case {
        name: "insecure registry with a bad port",
        files: &[(
            "t.toml",
            "[management]\naddress = \"10.20.51.40\"\n[containers]\nslice = \"172.20.56.64/28\"\n[docker]\ninsecure-registries = [\"docker.example.com:99999\"]\n",
            false,
        )],
        position: "hosts/t.toml:6:23: error: ",
        message: "has port \"99999\"; a port is a number from 1 to 65535",
    },
    Case {
        name: "user name that is not a POSIX name",
        files: &[(
            "t.toml",
            "[management]\naddress = \"10.20.51.40\"\n[containers]\nslice = \"172.20.56.64/28\"\n[docker]\nusers = [\"Apps\"]\n",
            false,
        )],
        position: "hosts/t.toml:6:9: error: ",
        message: "docker.users[0]: \"Apps\" is not a valid user or group name",
    },
    Case {
        name: "group name that is not a POSIX name",
        files: &[(
            "t.toml",
            "[management]\naddress = \"10.20.51.40\"\n[containers]\nslice = \"172.20.56.64/28\"\n[docker]\ngroup = \"dock er\"\n",
            false,
        )],
        position: "hosts/t.toml:6:9: error: ",
        message: "docker.group: \"dock er\" is not a valid user or group name",
    },
    Case {
        name: "group setting in the site inherited by a host",
        files: &[(
            "site.toml",
            "\n[defaults.sysctl]\n\"net.ipv4.conf.bond0.51.rp_filter\" = 1\n",
            true,
        )],
        position: "hosts/site.toml:94:38: error: ",
        message: "write it with a slash: net.ipv4.conf.bond0/51.rp_filter (inherited by hosts dockerhost-01, dockerhost-02, dockerhost-03, dockerhost-04, dockerhost-05)",
    },
    Case {
        name: "sysctl key hostnet manages",
        files: &[(
            "t.toml",
            "[management]\naddress = \"10.20.51.40\"\n[containers]\nslice = \"172.20.56.64/28\"\n[sysctl]\n\"net.ipv4.conf.all.rp_filter\" = 1\n",
            false,
        )],
        position: "hosts/t.toml:6:33: error: ",
        message: "sysctl: net.ipv4.conf.all.rp_filter is set by hostnet itself",
    },
    Case {
        name: "dockerd flag hostnet writes itself",
        files: &[(
            "t.toml",
            "[management]\naddress = \"10.20.51.40\"\n[containers]\nslice = \"172.20.56.64/28\"\n[docker]\nextra-flags = [\"-b\", \"br0\"]\n",
            false,
        )],
        position: "hosts/t.toml:6:15: error: ",
        message: "docker.extra-flags[0]: \"-b\" sets --bridge, which hostnet writes itself; set containers.bridge instead",
    },
    Case {
        name: "dockerd short flag with its value attached",
        files: &[(
            "t.toml",
            concat!(
                new_host!(),
                "[docker]\nextra-flags = [\"--live-restore\", \"-bdocker1\"]\n"
            ),
            false,
        )],
        position: "hosts/t.toml:6:15: error: ",
        message: "docker.extra-flags[1]: \"-bdocker1\" sets --bridge, which hostnet writes itself; set containers.bridge instead",
    },
    Case {
        name: "dockerd short flag cluster",
        files: &[(
            "t.toml",
            concat!(new_host!(), "[docker]\nextra-flags = [\"-Dsvfs\"]\n"),
            false,
        )],
        position: "hosts/t.toml:6:15: error: ",
        message: "docker.extra-flags[0]: \"-Dsvfs\" sets --storage-driver, which hostnet writes itself; set docker.storage-driver instead",
    },
    Case {
        name: "dockerd long flag with its value in the next entry",
        files: &[(
            "t.toml",
            concat!(
                new_host!(),
                "[docker]\nextra-flags = [\"--fixed-cidr\", \"10.0.0.0/8\"]\n"
            ),
            false,
        )],
        position: "hosts/t.toml:6:15: error: ",
        message: "docker.extra-flags[0]: \"--fixed-cidr\" sets --fixed-cidr, which hostnet writes itself; set containers.slice instead",
    },
    Case {
        name: "dockerd short flag it does not have",
        files: &[(
            "t.toml",
            concat!(new_host!(), "[docker]\nextra-flags = [\"-q\"]\n"),
            false,
        )],
        position: "hosts/t.toml:6:15: error: ",
        message: "docker.extra-flags[0]: \"-q\": dockerd has no flag -q; write the long form",
    },
    Case {
        name: "dockerd flag hostnet writes itself, in base-args",
        files: &[(
            "t.toml",
            concat!(
                new_host!(),
                "[docker]\nbase-args = [\"-H\", \"fd://\", \"-bdocker1\"]\n"
            ),
            false,
        )],
        position: "hosts/t.toml:6:13: error: ",
        message: "docker.base-args[2]: \"-bdocker1\" sets --bridge, which hostnet writes itself; set containers.bridge instead",
    },
    Case {
        name: "forwarding turned off on an interface of the path",
        files: &[(
            "t.toml",
            concat!(
                new_host!(),
                "[sysctl]\n\"net.ipv4.conf.docker0.forwarding\" = 0\n"
            ),
            false,
        )],
        position: "hosts/t.toml:6:",
        message: "sysctl: net.ipv4.conf.docker0.forwarding is set by hostnet itself",
    },
    Case {
        name: "forwarding turned off everywhere, as a path",
        files: &[(
            "t.toml",
            concat!(
                new_host!(),
                "[sysctl]\n\"net/ipv4/conf/all/forwarding\" = 0\n"
            ),
            false,
        )],
        position: "hosts/t.toml:6:",
        message: "sysctl: net.ipv4.conf.all.forwarding (written \"net/ipv4/conf/all/forwarding\") is set by hostnet itself",
    },
    Case {
        name: "managed sysctl key written as a path",
        files: &[(
            "t.toml",
            concat!(
                new_host!(),
                "[sysctl]\n\"net/ipv4/conf/bond0.51/rp_filter\" = 1\n"
            ),
            false,
        )],
        position: "hosts/t.toml:6:",
        message: "sysctl: net.ipv4.conf.bond0/51.rp_filter (written \"net/ipv4/conf/bond0.51/rp_filter\") is set by hostnet itself",
    },
    Case {
        name: "managed forwarding key written as a path",
        files: &[(
            "t.toml",
            concat!(new_host!(), "[sysctl]\n\"net/ipv4/ip_forward\" = 0\n"),
            false,
        )],
        position: "hosts/t.toml:6:",
        message: "sysctl: net.ipv4.ip_forward (written \"net/ipv4/ip_forward\") is set by hostnet itself",
    },
    Case {
        name: "one sysctl key in two spellings",
        files: &[(
            "t.toml",
            concat!(
                new_host!(),
                "[sysctl]\n\"net.core.somaxconn\" = 1024\n\"net/core/somaxconn\" = 4096\n"
            ),
            false,
        )],
        position: "hosts/t.toml:",
        message: "names the same key as another entry (net.core.somaxconn)",
    },
    Case {
        name: "bridge named after a sysctl tree entry",
        files: &[("t.toml", concat!(new_host!(), "bridge = \"all\"\n"), false)],
        position: "hosts/t.toml:5:10: error: ",
        message: "containers.bridge: \"all\" cannot name a device here: net.ipv4.conf.all holds the settings for every interface",
    },
    Case {
        name: "slave named lo",
        files: &[(
            "t.toml",
            concat!(new_host!(), "[bond]\nslaves = [\"lo\", \"eth1\"]\n"),
            false,
        )],
        position: "hosts/t.toml:6:",
        message: "\"lo\" cannot name a device here: it is the loopback device",
    },
    Case {
        name: "fqdn in a group file",
        files: &[(
            "rack-a/group.toml",
            "fqdn = \"x.example.com\"\n[bond]\nmode = 4\n",
            false,
        )],
        position: "hosts/rack-a/group.toml:1:8: error: ",
        message: "fqdn: names one machine, so it belongs in a host file, not in a group file",
    },
    Case {
        name: "host file name that is not a host name",
        files: &[("Bad_Host.toml", NEW_HOST, false)],
        position: "hosts/Bad_Host.toml:1:1: error: ",
        message: "host name (the file name) \"Bad_Host\" contains 'B'",
    },
];

/// Hostile values in every field that reaches a shell-sourced file, a scriptlet or a unit:
/// (whole host file, expected message).
const HOSTILE: &[(&str, &str)] = &[
    (
        concat!("fqdn = \"x$(reboot).example.com\"\n", new_host!()),
        "fqdn: in \"x$(reboot).example.com\"",
    ),
    (
        concat!("[bond]\nname = \"bond`id`\"\n", new_host!()),
        "bond.name: \"bond`id`\" contains '`'",
    ),
    (
        concat!(
            "[bond]\nslaves = [\"eth0\", \"eth1\\\"; reboot; \\\"\"]\n",
            new_host!()
        ),
        "bond.slaves[1]: \"eth1\\\"; reboot; \\\"\" contains '\"'",
    ),
    (
        concat!(
            "[bond]\nmode = 1\n[bond.options]\nprimary = \"eth0\\nreboot\"\n",
            new_host!()
        ),
        "bond.options.primary: primary = \"eth0\\nreboot\" is not one of the bond's slaves",
    ),
    (
        "[management]\naddress = \"10.20.51.40\"\n[containers]\nslice = \"172.20.56.64/28\"\nbridge = \"br$(id)\"\n",
        "containers.bridge: \"br$(id)\" contains '$'",
    ),
    (
        concat!("[docker]\nusers = [\"apps\\nreboot\"]\n", new_host!()),
        "docker.users[0]: \"apps\\nreboot\" is not a valid user or group name",
    ),
    (
        concat!("[docker]\nuser = \"root'; reboot; '\"\n", new_host!()),
        "docker.user: \"root'; reboot; '\" is not a valid user or group name",
    ),
    (
        concat!(
            "[docker]\ndockerd = \"/usr/bin/dockerd $(reboot)\"\n",
            new_host!()
        ),
        "docker.dockerd: \"/usr/bin/dockerd $(reboot)\" contains a space",
    ),
    (
        concat!(
            "[docker]\nextra-flags = [\"--label=a\\u0000b\"]\n",
            new_host!()
        ),
        "docker.extra-flags[0]: \"--label=a\\0b\" contains a NUL byte",
    ),
    (
        concat!("[docker]\nextra-flags = [\"--label=$HOME\"]\n", new_host!()),
        "contains '$'",
    ),
    (
        concat!("[docker]\npackage = \"docker-ce; reboot\"\n", new_host!()),
        "docker.package: \"docker-ce; reboot\" is not a package name",
    ),
    (
        concat!(
            "[sysctl]\n\"kernel.x\" = \"1\\nkernel.y = 2\"\n",
            new_host!()
        ),
        "contains a newline",
    ),
    // hostnet-verify compares sysctl values word by word: a pattern must never reach it.
    (
        concat!("[sysctl]\n\"kernel.x\" = \"Xg*\"\n", new_host!()),
        "sysctl.\"kernel.x\": \"Xg*\" contains '*'",
    ),
    (
        concat!("[sysctl]\n\"kernel.x\" = \"/*/*/*\"\n", new_host!()),
        "contains '*'",
    ),
    (
        concat!("[sysctl]\n\"kernel.x\" = \"a[bc]\"\n", new_host!()),
        "contains '['",
    ),
    (
        concat!("[sysctl]\n\"kernel.x\" = \"a?\"\n", new_host!()),
        "contains '?'",
    ),
];

fn run_case(files: &[(&str, &str, bool)]) -> (std::process::Output, Fleet) {
    let fleet = Fleet::example();
    for (file, content, append) in files {
        if *append {
            fleet.append(file, content);
        } else {
            fleet.write(file, content);
        }
    }
    (fleet.run(&["check"]), fleet)
}

#[test]
fn the_example_fleet_is_valid() {
    let output = Fleet::example().run(&["check"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("5 hosts checked, no errors"),
        "{}",
        stdout(&output)
    );
    assert_eq!(stderr(&output), "");
}

#[test]
fn each_rule_reports_its_position_and_message() {
    let mut failures = Vec::new();
    for case in CASES {
        let (output, _fleet) = run_case(case.files);
        let err = stderr(&output);
        let expected_line = err
            .lines()
            .find(|l| l.starts_with(case.position) && l.contains(case.message));
        if output.status.code() != Some(1) || expected_line.is_none() || err.contains("hostnet bug")
        {
            failures.push(format!(
                "case {:?}: status {:?}, expected a line starting {:?} containing {:?}; got:\n{err}",
                case.name,
                output.status.code(),
                case.position,
                case.message
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn hostile_values_are_rejected() {
    let mut failures = Vec::new();
    for (content, message) in HOSTILE {
        let fleet = Fleet::example();
        fleet.write("t.toml", content);
        let output = fleet.run(&["check"]);
        let err = stderr(&output);
        if output.status.code() != Some(1) || !err.contains(message) {
            failures.push(format!(
                "{content:?}: expected {message:?}; got status {:?}:\n{err}",
                output.status.code()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn all_problems_are_reported_in_one_run() {
    let fleet = Fleet::example();
    fleet.write(
        "t.toml",
        "[bond]\nmode = \"lacp\"\n[management]\naddress = \"10.20.51.21\"\n[containers]\nslice = \"172.20.56.24/28\"\n[docker]\nusers = [\"Bad\"]\n",
    );
    fleet.write("u.toml", "[management]\naddress = \"10.20.51.300\"\n");
    let output = fleet.run(&["check"]);
    let err = stderr(&output);
    for expected in [
        "hosts/t.toml:2:8: error: bond.mode",
        "hosts/t.toml:4:11: error: management.address: management address 10.20.51.21/32 of host t overlaps",
        "hosts/t.toml:6:9: error: containers.slice: 172.20.56.24/28 has host bits set",
        "hosts/t.toml:8:9: error: docker.users[0]",
        "hosts/u.toml:2:11: error: management.address",
        "hosts/u.toml:1:1: error: containers.slice: missing",
        "6 error(s), 0 warning(s)",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    assert_eq!(output.status.code(), Some(1));
}

/// A host file copied into another folder clashes by name; the fqdn it derives from that name is
/// the same clash, reported once. Two hosts of different names that set the same fqdn still clash.
#[test]
fn a_host_named_twice_is_one_error_and_a_shared_fqdn_another() {
    let (output, _fleet) = run_case(&[("rack-b/dockerhost-01.toml", NEW_HOST, false)]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "error: host name: dockerhost-01 is also the name of hosts/dockerhost-01.toml:1:1"
        ),
        "{err}"
    );
    assert!(
        !err.contains("fqdn"),
        "the fqdn only echoes the name clash:\n{err}"
    );
    assert!(err.contains("1 error(s), 0 warning(s)"), "{err}");

    let (output, _fleet) = run_case(&[(
        "t.toml",
        concat!("fqdn = \"dockerhost-01.example.com\"\n", new_host!()),
        false,
    )]);
    let err = stderr(&output);
    assert!(
        err.contains("hosts/t.toml:1:8: error: fqdn: dockerhost-01.example.com of host t is also used by host dockerhost-01"),
        "{err}"
    );
}

#[test]
fn diagnostics_underline_the_value() {
    let (output, _fleet) = run_case(&[(
        "t.toml",
        "[management]\naddress = \"10.20.52.40\"\n[containers]\nslice = \"172.20.56.64/28\"\n",
        false,
    )]);
    let err = stderr(&output);
    assert!(
        err.contains("2 | address = \"10.20.52.40\"\n  |           ^^^^^^^^^^^^^\n"),
        "{err}"
    );
}

#[test]
fn warnings_do_not_fail_unless_denied() {
    let fleet = Fleet::example();
    fleet.append(
        "dockerhost-01.toml",
        "[docker]\nstorage-driver = \"overlay\"\n",
    );
    let output = fleet.run(&["check"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains(
        "hosts/dockerhost-01.toml:11:18: warning: docker.storage-driver: \"overlay\" was deprecated"
    ));
    let output = fleet.run(&["check", "--deny-warnings"]);
    assert_eq!(output.status.code(), Some(1));
}

/// 64 (sysexits' EX_USAGE), apart from plan's 2 ("something would change"): a pipeline gating on
/// plan never takes a mistyped flag for a change. --help and --version succeed.
#[test]
fn usage_errors_exit_64() {
    let output = Fleet::example().run(&["check", "--bogus"]);
    assert_eq!(output.status.code(), Some(64));
    let output = Fleet::example().run(&["plan", "--bogus"]);
    assert_eq!(output.status.code(), Some(64));
    let output = Fleet::example().run(&["render"]);
    assert_eq!(output.status.code(), Some(64));
    for flag in ["--help", "--version"] {
        let output = Fleet::example().run(&[flag]);
        assert_eq!(output.status.code(), Some(0), "{flag}");
        assert!(!output.stdout.is_empty(), "{flag}");
    }
}

#[test]
fn a_missing_site_file_is_reported() {
    let fleet = Fleet::example();
    std::fs::remove_file(fleet.hosts().join("site.toml")).unwrap();
    let output = fleet.run(&["check"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("hosts/site.toml:1:1: error: cannot read: "),
        "{}",
        stderr(&output)
    );
}

#[test]
fn one_bad_value_does_not_hide_the_next_in_the_same_table() {
    let fleet = Fleet::example();
    fleet.write(
        "t.toml",
        "[management]\naddress = \"10.20.99.1\"\ndns = [\"1.2.3.4\", \"x\"]\n[bond]\nmtu = 20000\n[bond.options]\nlacp_rate = \"fast\"\n[containers]\nslice = \"172.20.56.64/28\"\n",
    );
    let err = stderr(&fleet.run(&["check"]));
    for expected in [
        "hosts/t.toml:2:11: error: management.address",
        "hosts/t.toml:3:7: error: management.dns: \"x\" is not an IPv4 address",
        "hosts/t.toml:5:7: error: bond.mtu: 20000 is not a usable MTU",
        "hosts/t.toml:7:13: error: bond.options.lacp_rate: lacp_rate has no effect in mode balance-rr",
        "4 error(s), 0 warning(s)",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
}

/// Editors' lock, auto-save and backup files are never read, and a dangling symlink among them
/// (emacs' lock file) is not an error.
#[test]
fn editor_files_in_the_hosts_tree_are_ignored() {
    let fleet = Fleet::example();
    let hosts = fleet.hosts();
    std::os::unix::fs::symlink(
        "ops@workstation.4242:1700000000",
        hosts.join(".#dockerhost-01.toml"),
    )
    .unwrap();
    std::os::unix::fs::symlink("gone", hosts.join("rack-a/.#group.toml")).unwrap();
    for name in [
        "#dockerhost-01.toml#",
        "dockerhost-01.toml~",
        ".dockerhost-01.toml.swp",
    ] {
        std::fs::write(hosts.join(name), "this is not TOML [").unwrap();
    }
    std::fs::create_dir_all(hosts.join(".git")).unwrap();
    std::fs::write(hosts.join(".git/x.toml"), "not = [toml").unwrap();
    let output = fleet.run(&["check"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("5 hosts checked"),
        "{}",
        stdout(&output)
    );
}

/// A diagnostic stays readable whatever the value: a huge value is cut around the caret, control
/// characters and terminal escapes are shown escaped, and so is a path holding a newline.
#[test]
fn diagnostics_are_bounded_and_escaped() {
    let fleet = Fleet::example();
    let huge = "A".repeat(10_000_000);
    fleet.write(
        "t.toml",
        &format!("[management]\naddress = \"{huge}\"\n[containers]\nslice = \"172.20.56.64/28\"\n"),
    );
    let output = fleet.run(&["check"]);
    assert_eq!(output.status.code(), Some(1));
    let report = stderr(&output);
    assert!(report.len() < 4_000, "{} bytes", report.len());
    assert!(
        report.contains("hosts/t.toml:2:11: error: management.address: "),
        "{report}"
    );
    assert!(report.contains("characters left out"), "{report}");

    fleet.write(
        "t.toml",
        "[management]\naddress = \"10.20.51.40\\u001b[2J\\u0000\"\n[containers]\nslice = \"172.20.56.64/28\"\n",
    );
    let report = stderr(&fleet.run(&["check"]));
    assert!(report.contains("\"10.20.51.40\\u{1b}[2J\\0\""), "{report}");
    // Raw control characters in the file itself: the source line is shown escaped.
    fleet.write(
        "t.toml",
        "[management]\naddress = \"10.20.51.40\" # \u{1b}[2J\u{7}\0\n",
    );
    let report = stderr(&fleet.run(&["check"]));
    assert!(
        !report.contains('\u{1b}') && !report.contains('\0') && !report.contains('\u{7}'),
        "{report:?}"
    );
    assert!(report.contains("\\u{1b}[2J\\u{7}"), "{report}");
    std::fs::remove_file(fleet.hosts().join("t.toml")).unwrap();

    std::fs::create_dir_all(fleet.hosts().join("odd\ndir")).unwrap();
    fleet.write("odd\ndir/t.toml", "[management]\naddress = 1\n");
    let report = stderr(&fleet.run(&["check"]));
    assert!(
        report.contains("hosts/odd\\ndir/t.toml:2:11: error: "),
        "{report}"
    );
    assert!(report.lines().all(|l| !l.starts_with("dir/")), "{report}");
}

/// What `check` reports for the fleet under `hosts`, rendered as the CLI prints it.
fn check_report(hosts: &std::path::Path) -> String {
    let (definitions, diagnostics, _) = hostnet::load_fleet(hosts);
    diagnostics.render(&definitions.sources)
}

/// The rules checked after every host (fleet-wide, installer) report beside a broken file in one
/// run; without a site, each host file's own problems are still found.
#[test]
fn one_run_reports_fleet_installer_and_file_problems() {
    let (fleet, _) = Fleet::with_a_bond_option_the_installer_cannot_take();
    fleet.write(
        "twin.toml",
        "[management]\naddress = \"10.20.51.80\"\n[containers]\nslice = \"172.20.56.160/28\"\n",
    );
    fleet.write("broken.toml", "[management\n");
    let check = check_report(&fleet.hosts());
    for expected in ["cannot be given to dracut", "10.20.51.80", "broken.toml"] {
        assert!(check.contains(expected), "{expected}: {check}");
    }
    std::fs::remove_file(fleet.hosts().join("site.toml")).unwrap();
    let check = check_report(&fleet.hosts());
    assert!(check.contains("broken.toml"), "{check}");
}

/// Unknown keys and wrong types come out of serde one at a time; `check` sets each aside and reads
/// the file again, so a file with six mistakes (in several tables) takes one run. A required
/// setting set aside is not reported again as missing.
#[test]
fn every_unknown_key_and_wrong_type_of_a_file_is_reported_in_one_run() {
    let fleet = Fleet::example();
    fleet.write(
        "six.toml",
        "colour = \"blue\"\n\
         [bond]\n\
         miimon = \"100\"\n\
         slavez = [\"a\"]\n\
         [management]\n\
         address = 10\n\
         adress = \"10.20.51.99\"\n\
         [containers]\n\
         slice = \"172.20.56.240/28\"\n\
         bridge = 5\n",
    );
    let output = fleet.run(&["check"]);
    assert_eq!(output.status.code(), Some(1));
    let report = stderr(&output);
    for expected in [
        "six.toml:1:1: error: unknown setting `colour`",
        "six.toml:3:10: error: bond.miimon: found the string \"100\"",
        "six.toml:4:1: error: unknown setting `slavez`; did you mean `slaves`?",
        "six.toml:6:11: error: management.address: found the number 10",
        "six.toml:7:1: error: unknown setting `adress`; did you mean `address`?",
        "six.toml:10:10: error: containers.bridge: found the number 5",
    ] {
        assert!(report.contains(expected), "{expected}\n{report}");
    }
    assert!(!report.contains("missing"), "{report}");
    assert!(report.contains("6 error(s)"), "{report}");

    // A syntax error stops its file, and only its file.
    fleet.write("broken.toml", "[bond\nmiimon = 1\n");
    let report = stderr(&fleet.run(&["check"]));
    assert!(report.contains("broken.toml:1:"), "{report}");
    assert!(report.contains("7 error(s)"), "{report}");
}

/// The README's first host and the site it shows check as they are, alone and added to the
/// example fleet (the README says the site is `hosts/site.toml` shortened).
#[test]
fn the_readme_first_host_checks() {
    let readme = include_str!("../README.md");
    let block_after = |marker: &str| -> String {
        let start = readme.find(marker).unwrap_or_else(|| panic!("{marker}"));
        let block = &readme[start..];
        let block = &block[block.find("```toml\n").expect("a toml block") + 8..];
        block[..block.find("```").expect("the block ends")].to_string()
    };
    let host = block_after("## A first host");
    assert!(host.starts_with("# hosts/web01.toml\n"), "{host}");
    let site = block_after("and the site it inherits from");

    let alone = tempfile::tempdir().unwrap();
    std::fs::create_dir(alone.path().join("hosts")).unwrap();
    std::fs::write(alone.path().join("hosts/site.toml"), &site).unwrap();
    std::fs::write(alone.path().join("hosts/web01.toml"), &host).unwrap();
    let output = common::hostnet(alone.path(), &["check"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("1 hosts checked"),
        "{}",
        stdout(&output)
    );

    let fleet = Fleet::example();
    fleet.write("web01.toml", &host);
    let output = fleet.run(&["check"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let shown = stdout(&fleet.run(&["show", "web01"]));
    assert!(shown.contains("address = \"10.20.51.30\""), "{shown}");
}

/// `check --format json`: one document on stdout, every problem with its place, the hosts a
/// fleet rule concerns; nothing on stderr; the same exit status as the text report.
#[test]
fn check_reports_as_json_for_machines() {
    let fleet = Fleet::example();
    let clean = fleet.run(&["check", "--format", "json"]);
    assert_eq!(clean.status.code(), Some(0), "{}", stderr(&clean));
    let value: serde_json::Value = serde_json::from_str(&stdout(&clean)).unwrap();
    assert_eq!(value["ok"], true);
    assert_eq!(value["hosts-checked"], 5);
    assert_eq!(value["diagnostics"], serde_json::json!([]));

    // A shared address (a fleet rule about two hosts) and a type error.
    fleet.write(
        "twin.toml",
        "[management]\naddress = \"10.20.51.21\"\n[containers]\nslice = \"172.20.56.160/28\"\n",
    );
    fleet.write("typo.toml", "[bond]\nmiimon = \"100\"\n");
    let broken = fleet.run(&["check", "--format", "json"]);
    assert_eq!(broken.status.code(), Some(1));
    assert_eq!(
        stderr(&broken),
        "",
        "the problems go to stdout, in the document"
    );
    let value: serde_json::Value = serde_json::from_str(&stdout(&broken)).unwrap();
    assert_eq!(value["ok"], false);
    assert_eq!(value["errors"], 2);
    let diagnostics = value["diagnostics"].as_array().unwrap();
    let shared = diagnostics
        .iter()
        .find(|d| {
            d["message"]
                .as_str()
                .unwrap()
                .starts_with("management.address")
        })
        .unwrap_or_else(|| panic!("{value}"));
    assert_eq!(shared["severity"], "error");
    assert!(shared["path"].as_str().unwrap().ends_with("twin.toml"));
    assert_eq!(
        (shared["line"].as_u64(), shared["column"].as_u64()),
        (Some(2), Some(11))
    );
    let mut about: Vec<&str> = shared["about-hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    about.sort();
    assert_eq!(about, ["dockerhost-01", "twin"]);
    assert!(
        diagnostics
            .iter()
            .any(|d| d["path"].as_str().unwrap().ends_with("typo.toml") && d["line"] == 2)
    );
}

/// `show --format json`: each setting's value (typed as TOML has it) and where it came from; a
/// host whose own definition is fine is shown while a fleet rule names another pair of hosts.
#[test]
fn show_reports_as_json_and_a_fleet_rule_hides_only_the_hosts_it_names() {
    let fleet = Fleet::example();
    let shown = fleet.run(&["show", "dockerhost-01", "--format", "json"]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let value: serde_json::Value = serde_json::from_str(&stdout(&shown)).unwrap();
    assert_eq!(value["host"], "dockerhost-01");
    assert_eq!(
        value["settings"]["management"]["address"]["value"],
        "10.20.51.21"
    );
    assert!(
        value["settings"]["management"]["address"]["from"]
            .as_str()
            .unwrap()
            .ends_with("dockerhost-01.toml:6")
    );
    assert_eq!(value["settings"]["bond"]["miimon"]["value"], 100);
    assert_eq!(
        value["settings"]["bond"]["slaves"]["value"],
        serde_json::json!(["enp2s0f0", "enp2s0f1"])
    );
    assert!(value["inherited"].as_array().unwrap().len() >= 2);

    // dockerhost-02 and a new twin share an address: both are refused, dockerhost-01 is not.
    fleet.write(
        "twin.toml",
        "[management]\naddress = \"10.20.51.22\"\n[containers]\nslice = \"172.20.56.160/28\"\n",
    );
    for (host, ok) in [
        ("dockerhost-01", true),
        ("dockerhost-02", false),
        ("twin", false),
    ] {
        let output = fleet.run(&["show", host]);
        assert_eq!(output.status.success(), ok, "{host}: {}", stderr(&output));
    }
}
