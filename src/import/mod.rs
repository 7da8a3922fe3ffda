//! `hostnet import`: a hand-made host's network configuration (its ifcfg files, sysctl files,
//! docker unit and drop-ins, hostname) turned into a host definition. Everything found goes into
//! the settings (the caller leaves out what the host inherits anyway); what a definition cannot
//! say is kept as a note with its file and line, never dropped; the original write-up's mistakes
//! are named. Nothing here runs or sources what it reads.

pub mod collect;
mod docker;
mod ifcfg;
mod system;

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use toml::{Table, Value};

pub use collect::{COLLECT_COMMAND, Collected, collect};
use ifcfg::Ifcfg;

use crate::model::Vlan;

/// Something of the host's configuration the definition does not say, or a mistake named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Relative to `/`, and the line (0 for the file as a whole).
    pub file: String,
    pub line: usize,
    pub text: String,
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            0 => write!(f, "/{}: {}", self.file, self.text),
            line => write!(f, "/{}:{line}: {}", self.file, self.text),
        }
    }
}

/// One host, imported.
#[derive(Debug, Default)]
pub struct Imported {
    /// From `/etc/hostname`.
    pub name: Option<String>,
    pub settings: Table,
    /// Kept as comments in the definition.
    pub notes: Vec<Note>,
    /// What keeps a definition from being written (no bond found, a VLAN not in the catalog...).
    pub errors: Vec<Note>,
}

impl Imported {
    /// The container slice the user gives, where no dockerd command line gave one.
    pub fn give_slice(&mut self, slice: &str) {
        let found = matches!(
            self.settings.get("containers"),
            Some(Value::Table(containers)) if containers.contains_key("slice")
        );
        if !found {
            self.set("containers", "slice", Value::String(slice.to_string()));
        }
    }

    pub(crate) fn note(&mut self, file: &str, line: usize, text: impl Into<String>) {
        self.notes.push(Note {
            file: file.to_string(),
            line,
            text: text.into(),
        });
    }

    fn error(&mut self, file: &str, line: usize, text: impl Into<String>) {
        self.errors.push(Note {
            file: file.to_string(),
            line,
            text: text.into(),
        });
    }

    pub(crate) fn set(&mut self, table: &str, key: &str, value: Value) {
        self.table(&[table]).insert(key.to_string(), value);
    }

    pub(crate) fn push(&mut self, table: &str, key: &str, value: Value) {
        let list = self
            .table(&[table])
            .entry(key)
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = list {
            list.push(value);
        }
    }

    /// The settings' table at `path` (`["bond", "options"]`), made where it is not yet.
    fn table(&mut self, path: &[&str]) -> &mut Table {
        let mut table = &mut self.settings;
        for name in path {
            let entry = table
                .entry(*name)
                .or_insert_with(|| Value::Table(Table::new()));
            if !entry.is_table() {
                *entry = Value::Table(Table::new());
            }
            table = entry.as_table_mut().expect("made a table just above");
        }
        table
    }
}

const NETWORK_SCRIPTS: &str = "etc/sysconfig/network-scripts";

/// Imports the host `collected` holds, against the site's VLAN catalog `vlans`.
pub fn import(collected: &Collected, vlans: &[Vlan]) -> Imported {
    let mut imported = Imported::default();
    if let Some(hostname) = collected.files.get("etc/hostname") {
        let hostname = hostname.lines().next().unwrap_or("").trim();
        if let Some((name, _)) = hostname.split_once('.') {
            imported.name = Some(name.to_string());
            imported
                .settings
                .insert("fqdn".into(), Value::String(hostname.into()));
        } else if !hostname.is_empty() {
            imported.name = Some(hostname.to_string());
        }
    }
    let stack = network(collected, vlans, &mut imported);
    docker::docker(collected, &mut imported, stack.as_ref());
    system::sysctl(collected, &mut imported);
    system::modules(collected, &mut imported);
    if collected
        .files
        .keys()
        .any(|path| path.starts_with("etc/NetworkManager/"))
    {
        imported.note(
            "etc/NetworkManager",
            0,
            "NetworkManager keyfiles are not read yet: import reads network-scripts' ifcfg files (el7)",
        );
    }
    imported
}

/// What the network part found, for the docker part: the container VLAN and the bridge.
pub(crate) struct Stack {
    pub(crate) containers_vlan: Vlan,
    pub(crate) bridge: String,
}

fn network(collected: &Collected, vlans: &[Vlan], imported: &mut Imported) -> Option<Stack> {
    let mut files = Vec::new();
    for (path, text) in collected.under(NETWORK_SCRIPTS) {
        let name = path.rsplit('/').next().unwrap_or(path);
        if name.starts_with("route-") || name.starts_with("rule-") {
            imported.note(path, 0, "routes and rules of their own cannot be said in a definition: left as they are (hostnet writes none)");
            continue;
        }
        let Some(device) = name.strip_prefix("ifcfg-") else {
            continue;
        };
        let ignored = [".rpmnew", ".rpmorig", ".rpmsave", "~", ".bak", ".orig"];
        if device == "lo" || ignored.iter().any(|suffix| device.ends_with(suffix)) {
            continue;
        }
        let file = Ifcfg::parse(path, device, text, imported);
        // An alias (bond0.51:1) is noted when parsed; it is no device of the stack.
        if !file.device.contains(':') {
            files.push(file);
        }
    }
    let bonds: Vec<&Ifcfg> = files
        .iter()
        .filter(|f| f.get("TYPE") == Some("Bond") || f.get("BONDING_MASTER") == Some("yes"))
        .collect();
    let [bond] = bonds[..] else {
        imported.error(
            NETWORK_SCRIPTS,
            0,
            format!(
                "found {} bonds (ifcfg files with TYPE=Bond or BONDING_MASTER=yes); a hostnet host has one",
                bonds.len()
            ),
        );
        return None;
    };
    let mut described = vec![bond.device.clone()];
    imported.set("bond", "name", Value::String(bond.device.clone()));
    let mut slaves: Vec<&Ifcfg> = files
        .iter()
        .filter(|f| f.get("MASTER") == Some(bond.device.as_str()))
        .collect();
    slaves.sort_by(|a, b| a.device.cmp(&b.device));
    for slave in &slaves {
        imported.push("bond", "slaves", Value::String(slave.device.clone()));
        described.push(slave.device.clone());
        if slave.get("SLAVE") != Some("yes") {
            imported.note(&slave.file, 0, "MASTER= without SLAVE=yes: network-scripts does not enslave it; hostnet writes both");
        }
    }
    bond_options(bond, imported);
    if let Some(mtu) = bond.number("MTU") {
        imported.set("bond", "mtu", Value::Integer(mtu));
    }

    let vlan_id = |f: &Ifcfg| -> Option<u16> {
        f.get("VLAN_ID")
            .or_else(|| f.device.rsplit_once('.').map(|(_, id)| id))
            .and_then(|id| id.parse().ok())
    };
    let is_vlan = |f: &&Ifcfg| f.get("VLAN") == Some("yes") || f.device.contains('.');
    // The management address: on a VLAN of the bond, or on the bond itself.
    let addressed: Vec<&Ifcfg> = files
        .iter()
        .filter(|f| f.get("IPADDR").is_some())
        .filter(|f| f.device == bond.device || is_vlan(f))
        .filter(|f| f.get("BRIDGE").is_none())
        .collect();
    let container_vlans: Vec<&Ifcfg> = files
        .iter()
        .filter(is_vlan)
        .filter(|f| f.get("BRIDGE").is_some())
        .collect();
    let [management] = addressed[..] else {
        imported.error(
            NETWORK_SCRIPTS,
            0,
            format!(
                "found {} addressed interfaces on the bond (IPADDR on the bond or a VLAN of it); a hostnet host has its management address on one",
                addressed.len()
            ),
        );
        return None;
    };
    described.push(management.device.clone());
    let address = management.address(imported)?;
    let tagged = management.device != bond.device;
    let management_vlan = if tagged {
        let id = vlan_id(management)?;
        vlans
            .iter()
            .find(|v| v.id == id && v.subnet.contains(&address.addr()))
    } else {
        vlans.iter().find(|v| v.subnet.contains(&address.addr()))
    };
    let Some(management_vlan) = management_vlan else {
        let id = if tagged { vlan_id(management) } else { None };
        imported.error(&management.file, 0, format!(
            "the management address {address} is in no VLAN of the site's catalog{}; add [vlans.NAME] with id = {}, subnet = \"{}\" and its gateway to site.toml",
            id.map(|id| format!(" with id {id}")).unwrap_or_default(),
            id.map_or("<the switch port's native VLAN>".to_string(), |id| id.to_string()),
            address.trunc()
        ));
        return None;
    };
    imported.set(
        "management",
        "vlan",
        Value::String(management_vlan.name.clone()),
    );
    imported.set("management", "tagged", Value::Boolean(tagged));
    imported.set(
        "management",
        "address",
        Value::String(address.addr().to_string()),
    );
    imported.set(
        "management",
        "prefix",
        Value::Integer(address.prefix_len().into()),
    );
    if let Some(gateway) = management.get("GATEWAY") {
        imported.set("management", "gateway", Value::String(gateway.to_string()));
    }
    // No DNS lines is a value too: the name servers resolv.conf was left with (network-scripts
    // keep it as it is), else none, whatever the VLAN has.
    imported.set("management", "dns", Value::Array(Vec::new()));
    let in_ifcfg: Vec<&str> = ["DNS1", "DNS2", "DNS3"]
        .iter()
        .filter_map(|key| management.get(key))
        .collect();
    let servers = if in_ifcfg.is_empty() {
        let resolv = collected.files.get("etc/resolv.conf");
        let servers: Vec<&str> = resolv
            .iter()
            .flat_map(|text| text.lines())
            .filter_map(|line| line.trim().strip_prefix("nameserver"))
            .map(str::trim)
            .filter(|server| server.parse::<Ipv4Addr>().is_ok())
            .take(3)
            .collect();
        if !servers.is_empty() {
            imported.note("etc/resolv.conf", 0, "name servers from resolv.conf (the ifcfg files name none): hostnet writes them as DNS1.. of the management interface");
        }
        servers
    } else {
        in_ifcfg
    };
    for server in servers {
        imported.push("management", "dns", Value::String(server.to_string()));
    }
    if management.get("GATEWAY").is_none() {
        imported.note(&management.file, 0, "no GATEWAY: hostnet gives the management interface the VLAN's gateway as default route");
    }

    let [containers] = container_vlans[..] else {
        imported.error(NETWORK_SCRIPTS, 0, format!(
            "found {} VLANs of the bond in a bridge (BRIDGE=); a hostnet host bridges one container VLAN",
            container_vlans.len()
        ));
        return None;
    };
    described.push(containers.device.clone());
    let id = vlan_id(containers)?;
    let Some(containers_vlan) = vlans.iter().find(|v| v.id == id) else {
        imported.error(&containers.file, 0, format!(
            "VLAN {id} is not in the site's catalog; add [vlans.NAME] with id = {id}, its subnet and gateway to site.toml"
        ));
        return None;
    };
    imported.set(
        "containers",
        "vlan",
        Value::String(containers_vlan.name.clone()),
    );
    let bridge = containers.get("BRIDGE").unwrap_or_default().to_string();
    imported.set("containers", "bridge", Value::String(bridge.clone()));
    described.push(bridge.clone());
    match files.iter().find(|f| f.device == bridge) {
        None => imported.note(NETWORK_SCRIPTS, 0, format!("no ifcfg file for the bridge {bridge}: network-scripts would not create it; hostnet writes one")),
        Some(file) => {
            if file.get("TYPE") == Some("bridge") {
                imported.note(&file.file, file.line_of("TYPE"), "TYPE=bridge (lower case), as the original write-up has it: network-scripts compare case-sensitively and leave the bridge down; hostnet writes TYPE=Bridge");
            }
            if file.get("IPADDR").is_some()
                && let Some(address) = file.address(imported)
            {
                imported.set("containers", "bridge-address", Value::String(address.addr().to_string()));
            }
        }
    }
    for file in &files {
        if !described.contains(&file.device) {
            imported.note(&file.file, 0, format!(
                "configures {}, which the definition does not describe: left as it is (the package moves it aside only if it claims one of the stack's devices)",
                file.device
            ));
        }
    }
    Some(Stack {
        containers_vlan: containers_vlan.clone(),
        bridge,
    })
}

/// `BONDING_OPTS`: the mode and miimon into their settings, every other option as it is written.
fn bond_options(bond: &Ifcfg, imported: &mut Imported) {
    let Some(options) = bond.get("BONDING_OPTS") else {
        return;
    };
    for word in options.split_whitespace() {
        let Some((key, value)) = word.split_once('=') else {
            imported.note(
                &bond.file,
                bond.line_of("BONDING_OPTS"),
                format!("{word:?} in BONDING_OPTS is not name=value: left out"),
            );
            continue;
        };
        let typed = match value.parse::<i64>() {
            Ok(number) if value.bytes().all(|b| b.is_ascii_digit()) => Value::Integer(number),
            _ => Value::String(value.to_string()),
        };
        match key {
            // By name, as people write it (ifcfg keeps the number).
            "mode" => {
                let named = value
                    .parse::<i64>()
                    .ok()
                    .and_then(crate::model::BondMode::from_number)
                    .map_or(typed, |mode| Value::String(mode.name().to_string()));
                imported.set("bond", "mode", named);
            }
            "miimon" => imported.set("bond", "miimon", typed),
            _ => {
                imported
                    .table(&["bond", "options"])
                    .insert(key.to_string(), typed);
            }
        }
    }
}

/// The network an address with a prefix is in, and its host part as written.
fn address_with_prefix(address: &str, prefix: u8) -> Option<Ipv4Net> {
    Ipv4Net::new(address.parse::<Ipv4Addr>().ok()?, prefix).ok()
}
