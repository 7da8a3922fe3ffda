//! One host: resolve its merged settings against the catalog and defaults, and check every value.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

mod rollout;

use super::bonding;
use super::catalog::{self, Catalog, usable_address};
use super::{dockerd_flags, values};
use crate::definition::HostDefinition;
use crate::definition::located::Located;
use crate::definition::schema::{Field, ScalarValue};
use crate::diagnostic::{Diagnostics, Severity};
use crate::model::{
    Bond, BondMode, ClosedSet, Containers, DEFAULT_BRIDGE, Docker, Host, LogDriver, MacAddress,
    Management, StorageDriver, Vlan,
};
use crate::source::Location;

pub const DEFAULT_DOCKERD: &str = "/usr/bin/dockerd";
pub const DEFAULT_BASE_ARGS: [&str; 3] = [
    "-H",
    "fd://",
    "--containerd=/run/containerd/containerd.sock",
];

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

/// Docker storage drivers dockerd knows; `overlay` is accepted with a warning.
/// dockerd flags hostnet writes itself (long names, as [`dockerd_flags::parse`] gives them), and
/// the setting to use instead.
const GENERATED_FLAGS: &[(&str, &str)] = &[
    ("bip", "containers.bridge-address"),
    ("bridge", "containers.bridge"),
    ("fixed-cidr", "containers.slice"),
    ("default-gateway", "containers.gateway"),
    ("registry-mirror", "docker.registry-mirrors"),
    ("insecure-registry", "docker.insecure-registries"),
    ("storage-driver", "docker.storage-driver"),
    ("log-driver", "docker.log-driver"),
    ("ip-forward", "docker.ip-forward"),
    ("iptables", "docker.iptables"),
];

pub struct HostChecker<'a> {
    def: &'a HostDefinition,
    catalog: &'a Catalog,
    diagnostics: &'a mut Diagnostics,
    file: Location,
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
            diagnostics,
            file: Location::file_start(def.file),
        }
    }

    fn error(&mut self, at: &Location, message: String) {
        self.report(Severity::Error, at, message);
    }

    fn warning(&mut self, at: &Location, message: String) {
        self.report(Severity::Warning, at, message);
    }

    /// A problem reported in a site or group file concerns this host: say which.
    fn report(&mut self, severity: Severity, at: &Location, message: String) {
        let host = (at.file != self.def.file).then_some(self.def.name.as_str());
        self.diagnostics.push_inherited(severity, at, message, host);
    }

    fn missing(&mut self, key: &str, what: &str) {
        let at = self.file.clone();
        self.error(&at, format!("{key}: missing; {what}"));
    }

    /// A string field checked by `check`, or the default.
    fn text(
        &mut self,
        field: &Field<String>,
        key: &str,
        default: &str,
        check: fn(&str) -> Result<(), String>,
    ) -> Option<String> {
        match field {
            Some(v) => match check(&v.value) {
                Ok(()) => Some(v.value.clone()),
                Err(e) => {
                    self.error(&v.at, format!("{key}: {e}"));
                    None
                }
            },
            None => Some(default.to_string()),
        }
    }

    /// A closed-set field parsed into its type, or the default.
    fn choice<T: std::str::FromStr + Copy + ClosedSet>(
        &mut self,
        field: &Field<String>,
        key: &str,
        default: T,
        what: &str,
    ) -> Option<T> {
        let Some(value) = field else {
            return Some(default);
        };
        match value.value.parse::<T>() {
            Ok(parsed) => Some(parsed),
            Err(_) => {
                self.error(
                    &value.at,
                    format!(
                        "{key}: {:?} is not {what}; use one of {}",
                        value.value,
                        T::choices()
                    ),
                );
                None
            }
        }
    }

    fn list(
        &mut self,
        field: &Field<Vec<String>>,
        key: &str,
        check: fn(&str) -> Result<(), String>,
    ) -> Option<Vec<String>> {
        let Some(list) = field else {
            return Some(Vec::new());
        };
        let mut ok = true;
        for (i, item) in list.value.iter().enumerate() {
            if let Err(e) = check(item) {
                self.error(&list.at, format!("{key}[{i}]: {e}"));
                ok = false;
            } else if list.value[..i].contains(item) {
                self.error(&list.at, format!("{key}[{i}]: {item:?} is listed twice"));
                ok = false;
            }
        }
        ok.then(|| list.value.clone())
    }

    fn vlan(
        &mut self,
        field: &Field<crate::definition::schema::VlanRef>,
        key: &str,
    ) -> Option<Vlan> {
        let Some(reference) = field else {
            self.missing(
                key,
                "name a VLAN from the site catalog by name or id, e.g. vlan = \"mgmt\"",
            );
            return None;
        };
        match self.catalog.lookup(&reference.value) {
            Ok(vlan) => Some(vlan.clone()),
            Err(e) => {
                self.error(&reference.at, format!("{key}: {e}"));
                None
            }
        }
    }

    pub fn check(mut self) -> (Option<Host>, HostFacts) {
        let def = self.def;
        let merged = &def.merged;
        let file = self.file.clone();
        let name_ok = match values::host_label(&def.name) {
            Ok(()) => true,
            Err(e) => {
                self.error(
                    &file,
                    format!("host name (the file name) {e}; rename the file"),
                );
                false
            }
        };

        let fqdn = match &merged.fqdn {
            Some(fqdn) => self.text(&Some(fqdn.clone()), "fqdn", "", values::domain_name),
            None => Some(match &self.catalog.site.domain {
                Some(domain) => format!("{}.{domain}", def.name),
                None => def.name.clone(),
            }),
        };
        let boot_mac = match &merged.boot_mac {
            Some(mac) => match MacAddress::parse(&mac.value) {
                Some(parsed) if parsed.0[0] & 1 == 1 => {
                    self.error(&mac.at, format!("boot-mac: {parsed} is a multicast address; a NIC's MAC has the lowest bit of the first byte clear"));
                    None
                }
                Some(parsed) if parsed.0 == [0; 6] => {
                    self.error(
                        &mac.at,
                        "boot-mac: 00:00:00:00:00:00 is not a NIC's address".into(),
                    );
                    None
                }
                Some(parsed) => Some(Some(parsed)),
                None => {
                    self.error(&mac.at, format!("boot-mac: {:?} is not a MAC address; write six hex pairs, e.g. 52:54:00:12:34:56", mac.value));
                    None
                }
            },
            None => Some(None),
        };

        let bond_name = self.text(
            &merged.bond.name,
            "bond.name",
            "bond0",
            values::interface_name,
        );
        let bond = bond_name.as_ref().and_then(|name| self.bond(name));
        let slaves = bond.as_ref().map_or(&[][..], |b| b.slaves.as_slice());
        let management = self.management(bond_name.as_deref());
        let containers = self.containers(bond_name.as_deref(), slaves);
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

    fn bond(&mut self, name: &str) -> Option<Bond> {
        let layer = &self.def.merged.bond;
        let name = Some(name.to_string());
        let mode = match &layer.mode {
            Some(mode) => match bonding::parse_mode(&mode.value) {
                Ok(mode) => Some(mode),
                Err(e) => {
                    self.error(&mode.at, format!("bond.mode: {e}"));
                    None
                }
            },
            None => Some(BondMode::BalanceRr),
        };
        let slaves = match &layer.slaves {
            Some(slaves) => {
                let checked = self.list(&layer.slaves, "bond.slaves", values::interface_name);
                if slaves.value.is_empty() {
                    self.error(&slaves.at, "bond.slaves: is empty; list the NICs to bond, e.g. [\"enp2s0f0\", \"enp2s0f1\"]".into());
                    None
                } else {
                    if slaves.value.len() == 1 {
                        self.warning(&slaves.at, "bond.slaves: a bond with one slave has no redundancy; list a second NIC".into());
                    }
                    if let Some(name) = &name
                        && slaves.value.contains(name)
                    {
                        self.error(
                            &slaves.at,
                            format!(
                                "bond.slaves: {name:?} is the bond itself; list the physical NICs"
                            ),
                        );
                    }
                    checked
                }
            }
            None => {
                self.missing(
                    "bond.slaves",
                    "list the NICs to bond, e.g. slaves = [\"enp2s0f0\", \"enp2s0f1\"]",
                );
                None
            }
        };
        let miimon = match &layer.miimon {
            Some(m) if !(0..=i64::from(i32::MAX)).contains(&m.value) => {
                self.error(&m.at, format!("bond.miimon: {} is not valid; use milliseconds from 0 (off) up, 100 is usual", m.value));
                None
            }
            Some(m) => Some(m.value as u32),
            None => Some(100),
        };
        let mtu = match &layer.mtu {
            Some(m) => catalog::check_mtu(m, "bond.mtu", self.diagnostics).map(Some),
            None => Some(None),
        };
        // The MTU is not needed to check the options; a bad one must not hide their problems.
        let (name, mode, slaves, miimon) = (name?, mode?, slaves?, miimon?);

        let mut options = Vec::new();
        let mut ok = true;
        for (key, value) in &layer.options {
            let text = value.value.to_string();
            match bonding::check_option(key, &text, mode, &slaves) {
                Ok(v) => options.push((key.clone(), v)),
                Err(e) => {
                    self.error(&value.at, format!("bond.options.{key}: {e}"));
                    ok = false;
                }
            }
        }
        let option = |k: &str| {
            options
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.parse::<i64>().unwrap_or(0))
        };
        let arp_interval = option("arp_interval").unwrap_or(0);
        let at = layer
            .miimon
            .as_ref()
            .map_or(self.file.clone(), |m| m.at.clone());
        let miimon_ms = i64::from(miimon);
        if arp_interval > 0 && miimon > 0 {
            self.error(&at, format!("bond.miimon: {miimon} and bond.options.arp_interval exclude each other; set miimon = 0 to use ARP monitoring"));
            ok = false;
        }
        if arp_interval > 0 && option("arp_ip_target").is_none() {
            let at = layer
                .options
                .get("arp_interval")
                .map_or(self.file.clone(), |v| v.at.clone());
            self.error(&at, "bond.options.arp_interval: ARP monitoring needs targets; set bond.options.arp_ip_target".into());
            ok = false;
        }
        if arp_interval == 0 && miimon == 0 {
            self.warning(&at, "bond.miimon: 0 with no ARP monitoring means a failed link is never detected; 100 is usual".into());
        }
        for delay in ["updelay", "downdelay"] {
            if let Some(value) = option(delay) {
                let at = layer
                    .options
                    .get(delay)
                    .map_or(self.file.clone(), |v| v.at.clone());
                if value > 0 && miimon == 0 {
                    self.error(
                        &at,
                        format!(
                            "bond.options.{delay}: works only with MII monitoring; set bond.miimon"
                        ),
                    );
                    ok = false;
                } else if miimon > 0 && value % miimon_ms != 0 {
                    self.error(&at, format!("bond.options.{delay}: {value} is not a multiple of miimon ({miimon}); the kernel would round it down to {}", value / miimon_ms * miimon_ms));
                    ok = false;
                }
            }
        }
        let mtu = mtu?;
        ok.then_some(Bond {
            name,
            slaves,
            mode,
            miimon,
            options,
            mtu,
        })
    }

    fn management(&mut self, bond_name: Option<&str>) -> Option<Management> {
        let layer = &self.def.merged.management;
        let vlan = self.vlan(&layer.vlan, "management.vlan")?;
        let tagged = layer.tagged.as_ref().is_none_or(|t| t.value);
        let interface = if tagged {
            self.vlan_interface(bond_name, &vlan, "management.vlan", &layer.vlan)
        } else {
            bond_name.map(String::from)
        };
        // Checked first, so that a bad address below does not hide a bad name server.
        let dns = match &layer.dns {
            Some(list) => catalog::parse_ipv4_list(list, "management.dns", self.diagnostics),
            None => Some(vlan.dns.clone()),
        };
        let dns = dns.filter(|dns| {
            if dns.len() <= 3 {
                return true;
            }
            let at = layer
                .dns
                .as_ref()
                .map_or(self.file.clone(), |d| d.at.clone());
            self.error(
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
                self.error(
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
            self.missing(
                "management.address",
                &format!(
                    "give the host's IPv4 address in VLAN {} ({})",
                    vlan.name, vlan.subnet
                ),
            );
            return None;
        };
        let address = catalog::parse_ipv4(address_field, "management.address", self.diagnostics)?;
        let host_address = Ipv4Net::new(address, prefix).ok()?;
        let local_net = host_address.trunc();
        let gateway = match &layer.gateway {
            Some(g) => {
                let gateway = catalog::parse_ipv4(g, "management.gateway", self.diagnostics)?;
                if let Err(e) = usable_address(gateway, local_net) {
                    self.error(&g.at, format!("management.gateway: {e}"));
                    return None;
                }
                gateway
            }
            None => vlan.gateway,
        };
        let mut ok = true;
        if let Err(e) = usable_address(address, vlan.subnet) {
            self.error(
                &address_field.at,
                format!(
                    "management.address: in VLAN {} ({}): {e}",
                    vlan.id, vlan.name
                ),
            );
            ok = false;
        } else if address == gateway {
            self.error(&address_field.at, format!("management.address: {address} is the VLAN's gateway; give the host its own address"));
            ok = false;
        } else if !local_net.contains(&gateway) {
            self.error(&address_field.at, format!("management.address: gateway {gateway} is outside {local_net}; widen management.prefix or set management.gateway"));
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
    fn vlan_interface(
        &mut self,
        bond_name: Option<&str>,
        vlan: &Vlan,
        key: &str,
        field: &Field<crate::definition::schema::VlanRef>,
    ) -> Option<String> {
        let name = format!("{}.{}", bond_name?, vlan.id);
        if name.len() > values::MAX_INTERFACE_NAME {
            let bond_at = self.def.merged.bond.name.as_ref().map(|n| &n.at);
            let vlan_at = field.as_ref().map(|f| &f.at);
            let (at, blamed) = self.closest(&[(bond_at, "bond.name"), (vlan_at, key)]);
            self.error(&at, format!("{blamed}: the VLAN interface {name:?} ({key} gives VLAN {}) is {} bytes; Linux allows {}; shorten bond.name", vlan.id, name.len(), values::MAX_INTERFACE_NAME));
            return None;
        }
        Some(name)
    }

    fn containers(&mut self, bond_name: Option<&str>, slaves: &[String]) -> Option<Containers> {
        let layer = &self.def.merged.containers;
        let vlan = self.vlan(&layer.vlan, "containers.vlan")?;
        let interface = self.vlan_interface(bond_name, &vlan, "containers.vlan", &layer.vlan);
        let bridge = self.text(
            &layer.bridge,
            "containers.bridge",
            DEFAULT_BRIDGE,
            values::interface_name,
        )?;
        if Some(bridge.as_str()) == bond_name || slaves.contains(&bridge) {
            let bond = &self.def.merged.bond;
            let other = if Some(bridge.as_str()) == bond_name {
                (bond.name.as_ref().map(|n| &n.at), "bond.name")
            } else {
                (bond.slaves.as_ref().map(|n| &n.at), "bond.slaves")
            };
            let (at, blamed) = self.closest(&[
                (layer.bridge.as_ref().map(|b| &b.at), "containers.bridge"),
                other,
            ]);
            self.error(&at, format!("{blamed}: {bridge:?} is both the container bridge and the bond or one of its slaves; give the bridge its own name"));
            return None;
        }
        let Some(slice_field) = &layer.slice else {
            self.missing("containers.slice", &format!("give this host's slice of VLAN {} ({}), e.g. a /28, for dockerd's --fixed-cidr", vlan.name, vlan.subnet));
            return None;
        };
        let slice = self.slice(slice_field, &vlan)?;
        let bridge_address = match &layer.bridge_address {
            Some(field) => self.bridge_address(field, &vlan)?,
            None => Ipv4Net::new(slice.hosts().next()?, vlan.subnet.prefix_len()).ok()?,
        };
        let gateway = match &layer.gateway {
            Some(g) => {
                let gateway = catalog::parse_ipv4(g, "containers.gateway", self.diagnostics)?;
                if let Err(e) = usable_address(gateway, vlan.subnet) {
                    self.error(&g.at, format!("containers.gateway: dockerd needs the default gateway inside the bridge's subnet: {e}"));
                    return None;
                }
                if slice.contains(&gateway) || gateway == bridge_address.addr() {
                    self.error(&g.at, format!("containers.gateway: {gateway} is inside this host's container addresses; use the VLAN's router"));
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
            self.error(&at, format!("containers.bridge-address: {} is the containers' gateway; pick another address", bridge_address.addr()));
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
            self.error(&field.at, format!("{key}: {:?} is not an IPv4 network; write address/prefix, e.g. 172.20.56.16/28", field.value));
            return None;
        };
        if slice != slice.trunc() {
            self.error(
                &field.at,
                format!(
                    "{key}: {slice} has host bits set; did you mean {}?",
                    slice.trunc()
                ),
            );
            return None;
        }
        if !vlan.subnet.contains(&slice) {
            self.error(
                &field.at,
                format!(
                    "{key}: {slice} is not inside VLAN {} ({}) subnet {}; pick a slice of {}",
                    vlan.id, vlan.name, vlan.subnet, vlan.subnet
                ),
            );
            return None;
        }
        if slice.prefix_len() > 30 {
            self.error(&field.at, format!("{key}: {slice} leaves no room for containers; use /30 or larger (a /28 holds 14)"));
            return None;
        }
        if slice.contains(&vlan.gateway) {
            self.error(&field.at, format!("{key}: {slice} contains the VLAN's gateway {}; pick a slice that leaves the gateway out", vlan.gateway));
            return None;
        }
        if slice.contains(&vlan.subnet.network()) || slice.contains(&vlan.subnet.broadcast()) {
            self.error(&field.at, format!("{key}: {slice} contains the network or broadcast address of {}; pick a slice inside it", vlan.subnet));
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
            self.error(
                &field.at,
                format!("{key}: {text:?} is not an IPv4 address; e.g. 172.20.56.17"),
            );
            return None;
        };
        if let Some(prefix) = prefix
            && prefix.parse::<u8>().ok() != Some(vlan.subnet.prefix_len())
        {
            self.error(&field.at, format!("{key}: the bridge shares VLAN {}'s subnet, so its prefix is /{}; write {addr} or {addr}/{}", vlan.id, vlan.subnet.prefix_len(), vlan.subnet.prefix_len()));
            return None;
        }
        if let Err(e) = usable_address(addr, vlan.subnet) {
            self.error(
                &field.at,
                format!("{key}: in VLAN {} ({}): {e}", vlan.id, vlan.name),
            );
            return None;
        }
        if addr == vlan.gateway {
            self.error(
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
            None => (self.file.clone(), candidates.first().map_or("", |c| c.1)),
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
                .map_or(self.file.clone(), |v| v.at.clone());
            self.error(&at, format!("containers.vlan: VLAN {} is also the management VLAN; containers need a VLAN of their own", containers.vlan.id));
        }
        if containers.bridge == management.interface {
            let at = self
                .def
                .merged
                .containers
                .bridge
                .as_ref()
                .map_or(self.file.clone(), |v| v.at.clone());
            self.error(
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
                self.error(&at, format!("{blamed}: VLAN {} ({}) has MTU {mtu}, more than the bond's {bond_mtu}; a VLAN cannot be larger than its bond (raise bond.mtu or lower the VLAN's)", vlan.id, vlan.name));
            }
        }
    }

    fn docker(&mut self) -> Option<Docker> {
        let layer = &self.def.merged.docker;
        let package = match &layer.package {
            Some(_) => self
                .text(&layer.package, "docker.package", "", values::package_name)
                .map(Some),
            None => Some(None),
        };
        let dockerd = self.text(
            &layer.dockerd,
            "docker.dockerd",
            DEFAULT_DOCKERD,
            values::absolute_path,
        );
        let base_args = match &layer.base_args {
            Some(_) => self
                .list(&layer.base_args, "docker.base-args", values::command_word)
                .and_then(|args| {
                    self.check_dockerd_flags(args, "docker.base-args", &layer.base_args)
                }),
            None => Some(DEFAULT_BASE_ARGS.iter().map(|s| s.to_string()).collect()),
        };
        let storage_driver = self.choice(
            &layer.storage_driver,
            "docker.storage-driver",
            StorageDriver::Overlay2,
            "a storage driver dockerd knows",
        );
        if let (Some(StorageDriver::Overlay), Some(field)) = (storage_driver, &layer.storage_driver)
        {
            self.warning(&field.at, "docker.storage-driver: \"overlay\" was deprecated in Docker 18.09 and removed in 24; use \"overlay2\" (XFS needs ftype=1)".into());
        }
        let log_driver = self.choice(
            &layer.log_driver,
            "docker.log-driver",
            LogDriver::Journald,
            "a log driver dockerd knows",
        );
        let registry_mirrors = self.list(
            &layer.registry_mirrors,
            "docker.registry-mirrors",
            values::registry_url,
        );
        let insecure_registries = self.list(
            &layer.insecure_registries,
            "docker.insecure-registries",
            insecure_registry,
        );
        let extra_flags = self.list(
            &layer.extra_flags,
            "docker.extra-flags",
            values::command_word,
        );
        let extra_flags = extra_flags.and_then(|flags| {
            self.check_dockerd_flags(flags, "docker.extra-flags", &layer.extra_flags)
        });
        let group = self.text(&layer.group, "docker.group", "docker", values::posix_name);
        let user = self.text(&layer.user, "docker.user", "docker", values::posix_name);
        let users = self.list(&layer.users, "docker.users", values::posix_name);
        Some(Docker {
            package: package?,
            dockerd: dockerd?,
            base_args: base_args?,
            storage_driver: storage_driver?,
            log_driver: log_driver?,
            registry_mirrors: registry_mirrors?,
            insecure_registries: insecure_registries?,
            ip_forward: layer.ip_forward.as_ref().is_some_and(|v| v.value),
            iptables: layer.iptables.as_ref().is_some_and(|v| v.value),
            extra_flags: extra_flags?,
            group: group?,
            user: user?,
            users: users?,
        })
    }

    /// `docker.base-args` and `docker.extra-flags` as dockerd reads them: a flag hostnet writes
    /// itself may appear in neither, in any spelling.
    fn check_dockerd_flags(
        &mut self,
        flags: Vec<String>,
        key: &str,
        field: &Field<Vec<String>>,
    ) -> Option<Vec<String>> {
        let at = field.as_ref().map_or(self.file.clone(), |f| f.at.clone());
        let parsed = match dockerd_flags::parse(&flags) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.error(&at, format!("{key}[{}]: {}", e.index, e.message));
                return None;
            }
        };
        let mut ok = true;
        for flag in parsed {
            if let Some((_, setting)) = GENERATED_FLAGS.iter().find(|(f, _)| *f == flag.name) {
                self.error(&at, format!("{key}[{}]: {:?} sets --{}, which hostnet writes itself; set {setting} instead", flag.index, flags[flag.index], flag.name));
                ok = false;
            }
        }
        ok.then_some(flags)
    }

    fn sysctl(
        &mut self,
        bond: Option<&Bond>,
        management: Option<&Management>,
        containers: Option<&Containers>,
    ) -> Option<Vec<(String, String)>> {
        let mut managed = vec!["net.ipv4.ip_forward".to_string()];
        let interfaces =
            crate::model::path_interfaces(bond.map(|b| b.name.as_str()), management, containers);
        // `forwarding` per interface is ip_forward's other half: `all.forwarding = 0` is
        // `ip_forward = 0`, and 0 on one interface of the path stops containers' traffic there.
        for interface in interfaces {
            for setting in ["rp_filter", "forwarding"] {
                managed.push(format!(
                    "net.ipv4.conf.{}.{setting}",
                    interface.replace('.', "/")
                ));
            }
        }
        let mut out = Vec::new();
        let mut ok = true;
        for (key, value) in &self.def.merged.sysctl {
            let text = value.value.to_string();
            let canonical = match canonical_sysctl_key(key) {
                Ok(canonical) => canonical,
                Err(e) => {
                    self.error(&value.at, format!("sysctl: key {e}"));
                    ok = false;
                    continue;
                }
            };
            if managed.contains(&canonical) {
                let spelling = if &canonical == key {
                    String::new()
                } else {
                    format!(" (written {key:?})")
                };
                self.error(&value.at, format!("sysctl: {canonical}{spelling} is set by hostnet itself: reverse-path filtering must stay off on the container path and forwarding on; remove it"));
                ok = false;
            } else if let Some((first, _)) = out
                .iter()
                .find(|(k, _): &&(String, String)| *k == canonical)
            {
                let first = first.clone();
                self.error(&value.at, format!("sysctl: {key:?} names the same key as another entry ({first}); keep one of them"));
                ok = false;
            } else if let Err(e) = sysctl_value(&text) {
                self.error(&value.at, format!("sysctl.{key:?}: {e}"));
                ok = false;
            } else if matches!(value.value, ScalarValue::Text(_)) && text.trim().is_empty() {
                self.error(&value.at, format!("sysctl.{key:?}: is empty"));
                ok = false;
            } else {
                out.push((canonical, text));
            }
        }
        ok.then_some(out)
    }
}

fn insecure_registry(text: &str) -> Result<(), String> {
    if let Ok(net) = text.parse::<Ipv4Net>() {
        return if net == net.trunc() {
            Ok(())
        } else {
            Err(format!(
                "{text:?} has host bits set; did you mean {}?",
                net.trunc()
            ))
        };
    }
    values::host_port(text).map_err(|e| format!("{e} (or a CIDR such as 10.0.0.0/8)"))
}

/// A sysctl name in the one form hostnet compares and writes: dot-separated, with a dot inside a
/// component (an interface name such as `bond0.51`) written as `/`. sysctl and systemd-sysctl read
/// a name whose first separator is `/` as a path instead (`net/ipv4/conf/bond0.51/rp_filter`), so
/// both spellings name the same key and must compare equal.
fn canonical_sysctl_key(key: &str) -> Result<String, String> {
    let path_form = key
        .find(['.', '/'])
        .is_some_and(|i| key[i..].starts_with('/'));
    let components: Vec<String> = if path_form {
        key.split('/').map(String::from).collect()
    } else {
        key.split('.').map(|c| c.replace('/', ".")).collect()
    };
    let valid = components.len() >= 2
        && components.iter().all(|part| {
            !part.is_empty()
                && !part.starts_with('.')
                && !part.ends_with('.')
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        });
    if !valid {
        return Err(format!(
            "{key:?} is not a sysctl name; write dotted names such as net.core.somaxconn"
        ));
    }
    if !path_form {
        let parts: Vec<&str> = key.split('.').collect();
        if parts.len() > 5 && parts[0] == "net" && ["conf", "neigh"].contains(&parts[2]) {
            let interface = parts[3..parts.len() - 1].join(".");
            return Err(format!(
                "{key:?} splits the interface name {interface:?} at its dot, so it would match nothing; write it with a slash: {}.{}.{}",
                parts[..3].join("."),
                interface.replace('.', "/"),
                parts[parts.len() - 1]
            ));
        }
    }
    Ok(components
        .iter()
        .map(|c| c.replace('.', "/"))
        .collect::<Vec<_>>()
        .join("."))
}

fn sysctl_value(value: &str) -> Result<(), String> {
    if let Some(c) = value
        .chars()
        .find(|c| c.is_control() || "\"'`$\\#;".contains(*c))
    {
        return Err(format!(
            "{value:?} contains {}; sysctl values here are numbers or plain words",
            values::describe_char(c)
        ));
    }
    Ok(())
}
