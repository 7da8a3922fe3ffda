//! `[containers]`: the container VLAN, its bridge and the slice of addresses docker hands out.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::HostChecker;
use crate::definition::located::Located;
use crate::model::{Containers, InterfaceName, Vlan};
use crate::settings::{self, HOST};
use crate::validate::catalog::{self, usable_address};
use crate::validate::fields::Missing;

impl HostChecker<'_> {
    pub(super) fn containers(
        &mut self,
        bond_name: Option<&InterfaceName>,
        slaves: &[InterfaceName],
    ) -> Option<Containers> {
        let layer = &self.def.merged.containers;
        let vlan = self.vlan(&layer.vlan, "containers.vlan")?;
        let interface = self.vlan_interface(bond_name, &vlan, "containers.vlan", &layer.vlan);
        let bridge = self.fields.parsed(
            &layer.bridge,
            "containers.bridge",
            Missing::Default(settings::default_text(HOST, "containers.bridge")),
            InterfaceName::new,
        )?;
        if Some(&bridge) == bond_name || slaves.contains(&bridge) {
            let bond = &self.def.merged.bond;
            let other = if Some(&bridge) == bond_name {
                (bond.name.as_ref().map(|n| &n.at), "bond.name")
            } else {
                (bond.slaves.as_ref().map(|n| &n.at), "bond.slaves")
            };
            let (at, blamed) = self.closest(&[
                (layer.bridge.as_ref().map(|b| &b.at), "containers.bridge"),
                other,
            ]);
            self.fields.error(&at, format!("{blamed}: {bridge:?} is both the container bridge and the bond or one of its slaves; give the bridge its own name"));
            return None;
        }
        let Some(slice_field) = &layer.slice else {
            self.fields.missing("containers.slice", &format!("give this host's slice of VLAN {} ({}), e.g. a /28, for dockerd's --fixed-cidr", vlan.name, vlan.subnet));
            return None;
        };
        let slice = self.slice(slice_field, &vlan)?;
        let bridge_address = match &layer.bridge_address {
            Some(field) => self.bridge_address(field, &vlan)?,
            None => Ipv4Net::new(slice.hosts().next()?, vlan.subnet.prefix_len()).ok()?,
        };
        let gateway = match &layer.gateway {
            Some(g) => {
                let gateway =
                    catalog::parse_ipv4(g, "containers.gateway", self.fields.diagnostics)?;
                if let Err(e) = usable_address(gateway, vlan.subnet) {
                    self.fields.error(&g.at, format!("containers.gateway: dockerd needs the default gateway inside the bridge's subnet: {e}"));
                    return None;
                }
                if slice.contains(&gateway) || gateway == bridge_address.addr() {
                    self.fields.error(&g.at, format!("containers.gateway: {gateway} is inside this host's container addresses; use the VLAN's router"));
                    return None;
                }
                gateway
            }
            None => vlan.gateway,
        };
        if bridge_address.addr() == gateway {
            let at = layer
                .bridge_address
                .as_ref()
                .unwrap_or(slice_field)
                .at
                .clone();
            self.fields.error(&at, format!("containers.bridge-address: {} is the containers' gateway; pick another address", bridge_address.addr()));
            return None;
        }
        Some(Containers {
            vlan,
            interface: interface?,
            bridge,
            slice,
            bridge_address,
            gateway,
        })
    }

    fn slice(&mut self, field: &Located<String>, vlan: &Vlan) -> Option<Ipv4Net> {
        let key = "containers.slice";
        let Ok(slice) = field.value.parse::<Ipv4Net>() else {
            self.fields.error(&field.at, format!("{key}: {:?} is not an IPv4 network; write address/prefix, e.g. 172.20.56.16/28", field.value));
            return None;
        };
        if slice != slice.trunc() {
            self.fields.error(
                &field.at,
                format!(
                    "{key}: {slice} has host bits set; did you mean {}?",
                    slice.trunc()
                ),
            );
            return None;
        }
        if !vlan.subnet.contains(&slice) {
            self.fields.error(
                &field.at,
                format!(
                    "{key}: {slice} is not inside VLAN {} ({}) subnet {}; pick a slice of {}",
                    vlan.id, vlan.name, vlan.subnet, vlan.subnet
                ),
            );
            return None;
        }
        if slice.prefix_len() > 30 {
            self.fields.error(&field.at, format!("{key}: {slice} leaves no room for containers; use /30 or larger (a /28 holds 14)"));
            return None;
        }
        if slice.contains(&vlan.gateway) {
            self.fields.error(&field.at, format!("{key}: {slice} contains the VLAN's gateway {}; pick a slice that leaves the gateway out", vlan.gateway));
            return None;
        }
        if slice.contains(&vlan.subnet.network()) || slice.contains(&vlan.subnet.broadcast()) {
            self.fields.error(&field.at, format!("{key}: {slice} contains the network or broadcast address of {}; pick a slice inside it", vlan.subnet));
            return None;
        }
        Some(slice)
    }

    fn bridge_address(&mut self, field: &Located<String>, vlan: &Vlan) -> Option<Ipv4Net> {
        let key = "containers.bridge-address";
        let text = &field.value;
        let (addr_text, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text.as_str(), None),
        };
        let Ok(addr) = addr_text.parse::<Ipv4Addr>() else {
            self.fields.error(
                &field.at,
                format!("{key}: {text:?} is not an IPv4 address; e.g. 172.20.56.17"),
            );
            return None;
        };
        if let Some(prefix) = prefix
            && prefix.parse::<u8>().ok() != Some(vlan.subnet.prefix_len())
        {
            self.fields.error(&field.at, format!("{key}: the bridge shares VLAN {}'s subnet, so its prefix is /{}; write {addr} or {addr}/{}", vlan.id, vlan.subnet.prefix_len(), vlan.subnet.prefix_len()));
            return None;
        }
        if let Err(e) = usable_address(addr, vlan.subnet) {
            self.fields.error(
                &field.at,
                format!("{key}: in VLAN {} ({}): {e}", vlan.id, vlan.name),
            );
            return None;
        }
        if addr == vlan.gateway {
            self.fields.error(
                &field.at,
                format!(
                    "{key}: {addr} is VLAN {}'s gateway; pick another address",
                    vlan.id
                ),
            );
            return None;
        }
        Ipv4Net::new(addr, vlan.subnet.prefix_len()).ok()
    }
}
