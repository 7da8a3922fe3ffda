//! One host: resolve its merged settings against the catalog and defaults, and check every value.
//! Each table has its own file under `host/` (as nmstate has one per interface kind); this one
//! holds the checker's helpers, the order tables are checked in, and the checks across tables.

mod bond;
mod containers;
mod docker;
mod management;
mod rollout;
mod sysctl;

use super::catalog::Catalog;
use super::fields::{Fields, Missing};
use super::values;
use crate::definition::HostDefinition;
use crate::definition::schema::Field;
use crate::diagnostic::Diagnostics;
use crate::model::{Bond, Containers, Host, InterfaceName, MacAddress, Management, Vlan};
use crate::settings::{self, HOST};
use crate::source::Location;

/// What fleet rules compare, gathered even from a host that has errors elsewhere, so that one run
/// reports a duplicate address alongside the host's own problems.
#[derive(Debug, Clone)]
pub struct HostFacts {
    pub name: String,
    pub source: crate::source::FileId,
    pub fqdn: Option<String>,
    pub boot_mac: Option<MacAddress>,
    pub management: Option<Management>,
    pub containers: Option<Containers>,
    pub locations: HostLocations,
}

/// Where the values that fleet rules compare were written, for their messages.
#[derive(Debug, Clone)]
pub struct HostLocations {
    pub file: Location,
    pub fqdn: Location,
    pub address: Location,
    pub slice: Location,
    pub bridge_address: Location,
    pub boot_mac: Location,
}

pub struct HostChecker<'a> {
    def: &'a HostDefinition,
    catalog: &'a Catalog,
    /// Reports against the host's file, where problems of the host as a whole are reported.
    fields: Fields<'a>,
}

impl<'a> HostChecker<'a> {
    pub fn new(
        def: &'a HostDefinition,
        catalog: &'a Catalog,
        diagnostics: &'a mut Diagnostics,
    ) -> Self {
        HostChecker {
            def,
            catalog,
            fields: Fields::for_host(diagnostics, def.file, &def.name),
        }
    }

    fn vlan(
        &mut self,
        field: &Field<crate::definition::schema::VlanRef>,
        key: &str,
    ) -> Option<Vlan> {
        let Some(reference) = field else {
            self.fields.missing(
                key,
                "name a VLAN from the site catalog by name or id, e.g. vlan = \"mgmt\"",
            );
            return None;
        };
        match self.catalog.lookup(&reference.value) {
            Ok(vlan) => Some(vlan.clone()),
            Err(e) => {
                self.fields.error(&reference.at, format!("{key}: {e}"));
                None
            }
        }
    }

    pub fn check(mut self) -> (Option<Host>, HostFacts) {
        let def = self.def;
        let merged = &def.merged;
        let file = self.fields.table();
        let name_ok = match values::host_label(&def.name) {
            Ok(()) => true,
            Err(e) => {
                self.fields.error(
                    &file,
                    format!("host name (the file name) {e}; rename the file"),
                );
                false
            }
        };

        let fqdn = match &merged.fqdn {
            Some(fqdn) => self.fields.text(
                &Some(fqdn.clone()),
                "fqdn",
                Missing::Default(""),
                values::domain_name,
            ),
            None => Some(match &self.catalog.site.domain {
                Some(domain) => format!("{}.{domain}", def.name),
                None => def.name.clone(),
            }),
        };
        let target: Option<crate::model::Target> = self.fields.choice(
            &merged.target,
            "target",
            settings::default_of(HOST, "target"),
            "a target hostnet writes for",
        );
        let boot_mac = match &merged.boot_mac {
            Some(mac) => match MacAddress::parse(&mac.value) {
                Some(parsed) if parsed.0[0] & 1 == 1 => {
                    self.fields.error(&mac.at, format!("boot-mac: {parsed} is a multicast address; a NIC's MAC has the lowest bit of the first byte clear"));
                    None
                }
                Some(parsed) if parsed.0 == [0; 6] => {
                    self.fields.error(
                        &mac.at,
                        "boot-mac: 00:00:00:00:00:00 is not a NIC's address".into(),
                    );
                    None
                }
                Some(parsed) => Some(Some(parsed)),
                None => {
                    self.fields.error(&mac.at, format!("boot-mac: {:?} is not a MAC address; write six hex pairs, e.g. 52:54:00:12:34:56", mac.value));
                    None
                }
            },
            None => Some(None),
        };

        let bond_name = self.fields.parsed(
            &merged.bond.name,
            "bond.name",
            Missing::Default(settings::default_text(HOST, "bond.name")),
            InterfaceName::new,
        );
        let bond = bond_name.as_ref().and_then(|name| self.bond(name));
        let slaves = bond.as_ref().map_or(&[][..], |b| b.slaves.as_slice());
        let management = self.management(bond_name.as_ref());
        let containers = self.containers(bond_name.as_ref(), slaves);
        if let (Some(m), Some(c)) = (&management, &containers) {
            self.check_distinct(m, c);
        }
        if let (Some(b), Some(m), Some(c)) = (&bond, &management, &containers) {
            self.check_mtus(b, m, c);
        }
        let docker = self.docker();
        let rollout = self.rollout();
        let sysctl = self.sysctl(bond.as_ref(), management.as_ref(), containers.as_ref());

        let locations = HostLocations {
            file: file.clone(),
            fqdn: merged.fqdn.as_ref().map_or(file.clone(), |f| f.at.clone()),
            address: merged
                .management
                .address
                .as_ref()
                .map_or(file.clone(), |f| f.at.clone()),
            slice: merged
                .containers
                .slice
                .as_ref()
                .map_or(file.clone(), |f| f.at.clone()),
            bridge_address: merged
                .containers
                .bridge_address
                .as_ref()
                .or(merged.containers.slice.as_ref())
                .map_or(file.clone(), |f| f.at.clone()),
            boot_mac: merged
                .boot_mac
                .as_ref()
                .map_or(file.clone(), |f| f.at.clone()),
        };
        let facts = HostFacts {
            name: def.name.clone(),
            source: def.file,
            fqdn: fqdn.clone(),
            boot_mac: boot_mac.flatten(),
            management: management.clone(),
            containers: containers.clone(),
            locations,
        };
        let host = || {
            Some(Host {
                name: name_ok.then(|| def.name.clone())?,
                fqdn: fqdn?,
                boot_mac: boot_mac?,
                target: target?,
                bond: bond?,
                management: management?,
                containers: containers?,
                docker: docker?,
                rollout: rollout?,
                sysctl: sysctl?,
                source: def.file,
            })
        };
        (host(), facts)
    }

    /// Of the values that together make a problem, the one set closest to the host (host file,
    /// then group files inward, then site.toml): an inherited value is usually fine until a more
    /// specific file changes something next to it. Ties go to the first.
    fn closest<'k>(&self, candidates: &[(Option<&Location>, &'k str)]) -> (Location, &'k str) {
        let rank = |at: &Location| self.def.chain.iter().position(|f| *f == at.file);
        let mut best: Option<(Location, &'k str, Option<usize>)> = None;
        for (at, key) in candidates {
            let Some(at) = at else { continue };
            let r = rank(at);
            if best.as_ref().is_none_or(|(_, _, b)| r > *b) {
                best = Some(((*at).clone(), key, r));
            }
        }
        match best {
            Some((at, key, _)) => (at, key),
            None => (self.fields.table(), candidates.first().map_or("", |c| c.1)),
        }
    }

    fn check_distinct(&mut self, management: &Management, containers: &Containers) {
        if management.vlan.id == containers.vlan.id {
            let at = self
                .def
                .merged
                .containers
                .vlan
                .as_ref()
                .map_or(self.fields.table(), |v| v.at.clone());
            self.fields.error(&at, format!("containers.vlan: VLAN {} is also the management VLAN; containers need a VLAN of their own", containers.vlan.id));
        }
        if containers.bridge == management.interface {
            let at = self
                .def
                .merged
                .containers
                .bridge
                .as_ref()
                .map_or(self.fields.table(), |v| v.at.clone());
            self.fields.error(
                &at,
                format!(
                    "containers.bridge: {:?} is the management interface",
                    containers.bridge
                ),
            );
        }
    }

    fn check_mtus(&mut self, bond: &Bond, management: &Management, containers: &Containers) {
        let bond_mtu = bond.mtu.unwrap_or(1500);
        for vlan in [&management.vlan, &containers.vlan] {
            if let Some(mtu) = vlan.mtu
                && mtu > bond_mtu
                && (management.tagged || vlan.id != management.vlan.id)
            {
                let index = self
                    .catalog
                    .site
                    .vlans
                    .iter()
                    .position(|v| v.id == vlan.id)
                    .unwrap_or(0);
                let vlan_at = self.catalog.vlan_locations.get(index).cloned();
                let bond_at = self.def.merged.bond.mtu.as_ref().map(|m| m.at.clone());
                let vlan_key = format!("vlans.{}.mtu", vlan.name);
                let (at, blamed) = self.closest(&[
                    (bond_at.as_ref(), "bond.mtu"),
                    (vlan_at.as_ref(), vlan_key.as_str()),
                ]);
                let blamed = blamed.to_string();
                self.fields.error(&at, format!("{blamed}: VLAN {} ({}) has MTU {mtu}, more than the bond's {bond_mtu}; a VLAN cannot be larger than its bond (raise bond.mtu or lower the VLAN's)", vlan.id, vlan.name));
            }
        }
    }
}
