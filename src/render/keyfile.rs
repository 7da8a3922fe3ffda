//! NetworkManager keyfiles for `el8` and `el9` hosts: the same stack as el7's ifcfg files (ports,
//! bond, management VLAN with the address, container VLAN bridged into the bridge), one profile a
//! device in `/etc/NetworkManager/system-connections/<device>.nmconnection`, root-owned, mode 0600
//! (NetworkManager ignores a keyfile others can read).
//!
//! Spelled as NetworkManager 1.42 writes them: a port says `master=` and `slave-type=`, which
//! 1.42 reads; it silently ignores the newer `controller=`/`port-type=` (the port would become a
//! standalone DHCP profile and the bond would have no ports).

use std::fmt::Write as _;

use super::{RenderedFile, header, ifcfg::managed_devices};
use crate::model::{Host, InterfaceName, ModeSpelling};
use crate::shell::UnquotableValue;

pub const SYSTEM_CONNECTIONS: &str = "/etc/NetworkManager/system-connections";

/// One keyfile: its groups in order, each with its keys in order.
struct Keyfile {
    device: String,
    groups: Vec<(&'static str, Vec<(String, String)>)>,
}

impl Keyfile {
    /// A profile for `device` of NetworkManager type `kind`, with a UUID of its own that the same
    /// host and device always get (so builds stay reproducible).
    fn new(host: &Host, device: &str, kind: &str) -> Keyfile {
        Keyfile {
            device: device.to_string(),
            groups: vec![(
                "connection",
                vec![
                    ("id".into(), device.to_string()),
                    ("uuid".into(), profile_uuid(&host.name, device)),
                    ("type".into(), kind.to_string()),
                    ("interface-name".into(), device.to_string()),
                ],
            )],
        }
    }

    fn set(mut self, group: &'static str, key: &str, value: impl ToString) -> Keyfile {
        let (key, value) = (key.to_string(), value.to_string());
        match self.groups.iter_mut().find(|(name, _)| *name == group) {
            Some((_, keys)) => keys.push((key, value)),
            None => self.groups.push((group, vec![(key, value)])),
        }
        self
    }

    fn set_if(self, group: &'static str, key: &'static str, value: Option<impl ToString>) -> Self {
        match value {
            Some(value) => self.set(group, key, value),
            None => self,
        }
    }

    /// A port of `controller` (`bond` or `bridge`): no IP configuration of its own.
    fn port_of(self, controller: &InterfaceName, kind: &'static str) -> Keyfile {
        self.set("connection", "master", controller)
            .set("connection", "slave-type", kind)
    }

    /// No address: a device that only carries others (the bond under tagged VLANs).
    fn without_address(self) -> Keyfile {
        self.set("ipv4", "method", "disabled")
            .set("ipv6", "method", "disabled")
    }

    fn render(self, host: &Host) -> Result<RenderedFile, UnquotableValue> {
        let mut content = header(host, "#");
        for (group, keys) in &self.groups {
            let _ = writeln!(content, "\n[{group}]");
            for (key, value) in keys {
                let _ = writeln!(content, "{key}={}", keyfile_value(value)?);
            }
        }
        Ok(RenderedFile {
            path: format!("{SYSTEM_CONNECTIONS}/{}.nmconnection", self.device),
            mode: 0o600,
            content,
        })
    }
}

/// A value as a GLib key file holds it. Every value hostnet writes here is an interface name, an
/// address, a number or a word it checked; anything a key file would read otherwise (a control
/// character, a backslash escape, a leading or trailing space) is refused rather than escaped.
fn keyfile_value(value: &str) -> Result<String, UnquotableValue> {
    let refused = value.chars().any(|c| c.is_control() || c == '\\')
        || value.starts_with(' ')
        || value.ends_with(' ');
    if refused {
        return Err(UnquotableValue {
            value: value.to_string(),
        });
    }
    Ok(value.to_string())
}

/// A random-looking (version 4) UUID made from the host and device names: NetworkManager needs one
/// a profile, and the same inputs must give the same package.
fn profile_uuid(host: &str, device: &str) -> String {
    let digest = crate::digest::Sha256::of_parts(["hostnet profile", host, device]).to_string();
    let mut hex: Vec<char> = digest.chars().take(32).collect();
    hex[12] = '4';
    hex[16] = ['8', '9', 'a', 'b'][hex[16].to_digit(16).unwrap_or(0) as usize % 4];
    let hex: String = hex.into_iter().collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The devices' profiles, in the order [`managed_devices`] lists them.
pub fn render(host: &Host) -> Result<Vec<RenderedFile>, UnquotableValue> {
    let bond = &host.bond;
    let management = &host.management;
    let containers = &host.containers;
    let mut files = Vec::new();

    for port in &bond.slaves {
        let file = Keyfile::new(host, port, "ethernet")
            .port_of(&bond.name, "bond")
            .set_if("ethernet", "mtu", bond.mtu);
        files.push(file.render(host)?);
    }

    let mut bond_file = Keyfile::new(host, &bond.name, "bond");
    for word in bond.option_words(ModeSpelling::Name) {
        let (key, value) = word.split_once('=').unwrap_or((&word, ""));
        bond_file = bond_file.set("bond", key, value);
    }
    let bond_file = bond_file.set_if("ethernet", "mtu", bond.mtu);
    let bond_file = if management.tagged {
        bond_file.without_address()
    } else {
        with_address(bond_file, host)
    };
    files.push(bond_file.render(host)?);

    if management.tagged {
        let vlan = vlan_file(host, &management.interface, management.vlan.id).set_if(
            "ethernet",
            "mtu",
            management.vlan.mtu,
        );
        files.push(with_address(vlan, host).render(host)?);
    }

    files.push(
        vlan_file(host, &containers.interface, containers.vlan.id)
            .set_if("ethernet", "mtu", containers.vlan.mtu)
            .port_of(&containers.bridge, "bridge")
            .render(host)?,
    );

    // The bridge carries its address in its profile (docker0 too): NetworkManager brings it up
    // with the address before dockerd starts, and re-attaches to it across its own restarts;
    // dockerd takes a docker0 that already has its --bip address as it is.
    let bridge_address = containers.bridge_address;
    files.push(
        Keyfile::new(host, &containers.bridge, "bridge")
            .set("bridge", "stp", "false")
            .set("ipv4", "method", "manual")
            .set("ipv4", "address1", bridge_address)
            .set("ipv4", "never-default", "true")
            .set("ipv6", "method", "disabled")
            .render(host)?,
    );
    debug_assert_eq!(files.len(), managed_devices(host).len());
    Ok(files)
}

fn vlan_file(host: &Host, device: &InterfaceName, id: u16) -> Keyfile {
    Keyfile::new(host, device, "vlan")
        .set("vlan", "id", id)
        .set("vlan", "parent", &host.bond.name)
}

fn with_address(file: Keyfile, host: &Host) -> Keyfile {
    let management = &host.management;
    let mut file = file
        .set("ipv4", "method", "manual")
        .set("ipv4", "address1", management.address)
        .set("ipv4", "gateway", management.gateway);
    if !management.dns.is_empty() {
        let servers: String = management.dns.iter().map(|s| format!("{s};")).collect();
        file = file.set("ipv4", "dns", servers);
    }
    file.set("ipv6", "method", "disabled")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_uuids_are_version_4_and_differ_by_host_and_device() {
        let uuid = profile_uuid("web01", "bond0");
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
        assert!("89ab".contains(&uuid[19..20]), "{uuid}");
        assert_eq!(uuid, profile_uuid("web01", "bond0"));
        assert_ne!(uuid, profile_uuid("web02", "bond0"));
        assert_ne!(uuid, profile_uuid("web01", "bond0.51"));
    }

    #[test]
    fn a_value_a_key_file_would_read_otherwise_is_refused() {
        assert!(keyfile_value("bond0").is_ok());
        assert!(keyfile_value("10.0.0.1;10.0.0.2;").is_ok());
        for bad in ["a\nb", "a\\nb", " lead", "trail "] {
            assert!(keyfile_value(bad).is_err(), "{bad:?}");
        }
    }
}
