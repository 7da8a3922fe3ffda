//! `ifcfg-*` files for network-scripts (and NetworkManager's ifcfg-rh reader), following the stack
//! CentOS 7 brought up in `tests/fixtures/el7-seed-host`: slaves, bond, management VLAN with the
//! address, container VLAN bridged into the bridge.

use super::{NETWORK_SCRIPTS, RenderedFile, header};
use crate::model::{Host, InterfaceName};
use crate::shell::{UnquotableValue, ifcfg_value};

/// NM_CONTROLLED is the same on every file of the stack (mixed settings keep a VLAN on a bond down on
/// EL7); network.service owns the stack.
const NM_CONTROLLED: &str = "no";

struct Ifcfg {
    device: String,
    keys: Vec<(&'static str, String)>,
}

impl Ifcfg {
    fn new(device: &str) -> Self {
        Ifcfg {
            device: device.to_string(),
            keys: vec![("DEVICE", device.to_string())],
        }
    }

    fn set(mut self, key: &'static str, value: impl ToString) -> Self {
        self.keys.push((key, value.to_string()));
        self
    }

    fn set_if(self, key: &'static str, value: Option<impl ToString>) -> Self {
        match value {
            Some(value) => self.set(key, value),
            None => self,
        }
    }

    fn render(self, host: &Host) -> Result<RenderedFile, UnquotableValue> {
        let mut content = header(host, "#");
        for (key, value) in self
            .keys
            .iter()
            .chain(&[("NM_CONTROLLED", NM_CONTROLLED.to_string())])
        {
            content.push_str(key);
            content.push('=');
            content.push_str(&ifcfg_value(value)?);
            content.push('\n');
        }
        Ok(RenderedFile {
            path: format!("{NETWORK_SCRIPTS}/ifcfg-{}", self.device),
            mode: 0o644,
            content,
        })
    }
}

/// The interfaces a host's files configure, in the order network-scripts brings them up.
pub fn managed_devices(host: &Host) -> Vec<InterfaceName> {
    let mut devices = host.bond.slaves.clone();
    devices.push(host.bond.name.clone());
    if host.management.tagged {
        devices.push(host.management.interface.clone());
    }
    devices.push(host.containers.interface.clone());
    devices.push(host.containers.bridge.clone());
    devices
}

pub fn render(host: &Host) -> Result<Vec<RenderedFile>, UnquotableValue> {
    let bond = &host.bond;
    let management = &host.management;
    let containers = &host.containers;
    let mut files = Vec::new();

    for slave in &bond.slaves {
        files.push(
            Ifcfg::new(slave)
                .set("TYPE", "Ethernet")
                .set("BOOTPROTO", "none")
                .set("ONBOOT", "yes")
                .set("MASTER", &bond.name)
                .set("SLAVE", "yes")
                .render(host)?,
        );
    }

    let bonding_opts = bond.option_words(crate::model::ModeSpelling::Number);
    let bond_file = Ifcfg::new(&bond.name)
        .set("TYPE", "Bond")
        .set("BONDING_MASTER", "yes")
        .set("BONDING_OPTS", bonding_opts.join(" "))
        .set("BOOTPROTO", "none")
        .set("ONBOOT", "yes")
        .set_if("MTU", bond.mtu);
    let bond_file = if management.tagged {
        bond_file
    } else {
        with_address(bond_file, host)
    };
    files.push(bond_file.render(host)?);

    if management.tagged {
        let vlan = vlan_file(
            &management.interface,
            host,
            management.vlan.id,
            management.vlan.mtu,
        );
        files.push(with_address(vlan, host).render(host)?);
    }

    files.push(
        vlan_file(
            &containers.interface,
            host,
            containers.vlan.id,
            containers.vlan.mtu,
        )
        .set("BRIDGE", &containers.bridge)
        .render(host)?,
    );

    // The bridge carries its address in its own file, docker0 too: EL7's network stop flushes a
    // bridge (and deletes it with its last port), network start makes it again, and dockerd gives
    // docker0 its --bip address only when dockerd starts. From the file, every network restart
    // (an apply, a rollback, a plain `systemctl restart network`) puts the address back; dockerd
    // takes a docker0 that already has its --bip address as it is.
    let bridge_address = containers.bridge_address;
    files.push(
        Ifcfg::new(&containers.bridge)
            .set("TYPE", "Bridge")
            .set("BOOTPROTO", "none")
            .set("ONBOOT", "yes")
            .set("IPADDR", bridge_address.addr())
            .set("PREFIX", bridge_address.prefix_len())
            .set("STP", "off")
            .set("DELAY", "0")
            .render(host)?,
    );
    Ok(files)
}

fn vlan_file(device: &str, host: &Host, id: u16, mtu: Option<u16>) -> Ifcfg {
    Ifcfg::new(device)
        .set("VLAN", "yes")
        .set("PHYSDEV", &host.bond.name)
        .set("VLAN_ID", id)
        .set("BOOTPROTO", "none")
        .set("ONBOOT", "yes")
        .set_if("MTU", mtu)
}

fn with_address(file: Ifcfg, host: &Host) -> Ifcfg {
    let management = &host.management;
    let mut file = file
        .set("IPADDR", management.address.addr())
        .set("PREFIX", management.address.prefix_len())
        .set("GATEWAY", management.gateway)
        .set("DEFROUTE", "yes");
    for (i, server) in management.dns.iter().enumerate() {
        let key = ["DNS1", "DNS2", "DNS3"][i];
        file = file.set(key, server);
    }
    file
}
