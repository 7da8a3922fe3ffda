//! `[management]`: the management VLAN, the host's address on it, its gateway and DNS.

use ipnet::Ipv4Net;

use super::HostChecker;
use crate::definition::schema::Field;
use crate::model::{InterfaceName, MAX_INTERFACE_NAME, Management, Vlan};
use crate::validate::catalog::{self, usable_address};

impl HostChecker<'_> {
    pub(super) fn management(&mut self, bond_name: Option<&InterfaceName>) -> Option<Management> {
        let layer = &self.def.merged.management;
        let vlan = self.vlan(&layer.vlan, "management.vlan")?;
        let tagged = layer.tagged.as_ref().is_none_or(|t| t.value);
        let interface = if tagged {
            self.vlan_interface(bond_name, &vlan, "management.vlan", &layer.vlan)
        } else {
            bond_name.cloned()
        };
        // Checked first, so that a bad address below does not hide a bad name server.
        let dns = match &layer.dns {
            Some(list) => catalog::parse_ipv4_list(list, "management.dns", self.fields.diagnostics),
            None => Some(vlan.dns.clone()),
        };
        let dns = dns.filter(|dns| {
            if dns.len() <= 3 {
                return true;
            }
            let at = layer
                .dns
                .as_ref()
                .map_or(self.fields.table(), |d| d.at.clone());
            self.fields.error(
                &at,
                format!(
                    "management.dns: {} servers listed; resolv.conf uses at most 3",
                    dns.len()
                ),
            );
            false
        });
        let prefix = match &layer.prefix {
            Some(p) if (vlan.subnet.prefix_len() as i64..=30).contains(&p.value) => p.value as u8,
            Some(p) => {
                self.fields.error(
                    &p.at,
                    format!(
                        "management.prefix: /{} does not fit VLAN {} ({}); use /{} to /30",
                        p.value,
                        vlan.id,
                        vlan.subnet,
                        vlan.subnet.prefix_len()
                    ),
                );
                return None;
            }
            None => vlan.subnet.prefix_len(),
        };
        let Some(address_field) = &layer.address else {
            self.fields.missing(
                "management.address",
                &format!(
                    "give the host's IPv4 address in VLAN {} ({})",
                    vlan.name, vlan.subnet
                ),
            );
            return None;
        };
        let address =
            catalog::parse_ipv4(address_field, "management.address", self.fields.diagnostics)?;
        let host_address = Ipv4Net::new(address, prefix).ok()?;
        let local_net = host_address.trunc();
        let gateway = match &layer.gateway {
            Some(g) => {
                let gateway =
                    catalog::parse_ipv4(g, "management.gateway", self.fields.diagnostics)?;
                if let Err(e) = usable_address(gateway, local_net) {
                    self.fields.error(&g.at, format!("management.gateway: {e}"));
                    return None;
                }
                gateway
            }
            None => vlan.gateway,
        };
        let mut ok = true;
        if let Err(e) = usable_address(address, vlan.subnet) {
            self.fields.error(
                &address_field.at,
                format!(
                    "management.address: in VLAN {} ({}): {e}",
                    vlan.id, vlan.name
                ),
            );
            ok = false;
        } else if address == gateway {
            self.fields.error(&address_field.at, format!("management.address: {address} is the VLAN's gateway; give the host its own address"));
            ok = false;
        } else if !local_net.contains(&gateway) {
            self.fields.error(&address_field.at, format!("management.address: gateway {gateway} is outside {local_net}; widen management.prefix or set management.gateway"));
            ok = false;
        }
        let dns = dns?;
        ok.then_some(Management {
            vlan,
            interface: interface?,
            tagged,
            address: host_address,
            gateway,
            dns,
        })
    }

    /// `bond0.51`, checked against the 15-byte limit.
    pub(super) fn vlan_interface(
        &mut self,
        bond_name: Option<&InterfaceName>,
        vlan: &Vlan,
        key: &str,
        field: &Field<crate::definition::schema::VlanRef>,
    ) -> Option<InterfaceName> {
        let bond_name = bond_name?;
        let name = InterfaceName::vlan(bond_name, vlan.id);
        if name.is_none() {
            let name = format!("{bond_name}.{}", vlan.id);
            let bond_at = self.def.merged.bond.name.as_ref().map(|n| &n.at);
            let vlan_at = field.as_ref().map(|f| &f.at);
            let (at, blamed) = self.closest(&[(bond_at, "bond.name"), (vlan_at, key)]);
            self.fields.error(&at, format!("{blamed}: the VLAN interface {name:?} ({key} gives VLAN {}) is {} bytes; Linux allows {MAX_INTERFACE_NAME}; shorten bond.name", vlan.id, name.len()));
        }
        name
    }
}
