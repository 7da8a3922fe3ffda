//! The names and addresses of network devices: checked once, when made.

/// Longest Linux interface name (IFNAMSIZ - 1).
pub const MAX_INTERFACE_NAME: usize = 15;

/// Names the kernel refuses for a new device, and why.
const RESERVED_INTERFACE_NAMES: &[(&str, &str)] = &[
    (
        "all",
        "net.ipv4.conf.all holds the settings for every interface, so the kernel cannot register a device of that name",
    ),
    (
        "default",
        "net.ipv4.conf.default holds the settings new interfaces start with, so the kernel cannot register a device of that name",
    ),
    ("lo", "it is the loopback device every host already has"),
    (
        "bonding_masters",
        "/sys/class/net/bonding_masters is the bonding driver's control file",
    ),
];

/// A network interface hostnet names or creates. Linux's rules (at most 15 bytes, not a name the
/// kernel reserves) and hostnet's narrower alphabet (letters, digits, `-`, `_`, never first `-`;
/// a VLAN device adds `.<id>`), so that the name is safe in ifcfg file names, values bash sources
/// and sysctl keys. Made only by [`InterfaceName::new`] and [`InterfaceName::vlan`], which check
/// the rules in this one place.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InterfaceName(String);

impl InterfaceName {
    pub fn new(name: &str) -> Result<InterfaceName, String> {
        if name.is_empty() {
            return Err("is empty; give an interface name such as bond0 or enp2s0f0".into());
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        {
            return Err(format!(
                "{name:?} contains {}; interface names here use only letters, digits, '-' and '_'",
                crate::terminal::describe_char(c)
            ));
        }
        if name.starts_with('-') {
            return Err(format!(
                "{name:?} starts with '-'; start with a letter or digit"
            ));
        }
        if let Some((_, why)) = RESERVED_INTERFACE_NAMES.iter().find(|(n, _)| *n == name) {
            return Err(format!(
                "{name:?} cannot name a device here: {why}; choose another name"
            ));
        }
        if name.len() > MAX_INTERFACE_NAME {
            return Err(format!(
                "{name:?} is {} bytes; Linux interface names are at most {MAX_INTERFACE_NAME}",
                name.len()
            ));
        }
        Ok(InterfaceName(name.to_string()))
    }

    /// The VLAN device `<lower>.<id>`; `None` when that is longer than Linux allows.
    pub fn vlan(lower: &InterfaceName, id: u16) -> Option<InterfaceName> {
        let name = format!("{lower}.{id}");
        (name.len() <= MAX_INTERFACE_NAME).then_some(InterfaceName(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for InterfaceName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for InterfaceName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for InterfaceName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// As the string it is, quoted: messages say `"bond0"`.
impl std::fmt::Debug for InterfaceName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl PartialEq<str> for InterfaceName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for InterfaceName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl serde::Serialize for InterfaceName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddress(pub [u8; 6]);

impl MacAddress {
    /// Accepts `aa:bb:cc:dd:ee:ff` and `aa-bb-cc-dd-ee-ff`, any case.
    pub fn parse(text: &str) -> Option<MacAddress> {
        let parts: Vec<&str> = text.split([':', '-']).collect();
        if parts.len() != 6 {
            return None;
        }
        let mut bytes = [0u8; 6];
        for (byte, part) in bytes.iter_mut().zip(&parts) {
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            *byte = u8::from_str_radix(part, 16).ok()?;
        }
        Some(MacAddress(bytes))
    }

    /// Lower-case with the given separator: `aa:bb:...` or, for PXE file names, `aa-bb-...`.
    pub fn joined(&self, separator: &str) -> String {
        self.0
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(separator)
    }
}

impl std::fmt::Display for MacAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.joined(":"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_follow_linuxs_rules_in_one_place() {
        let bond = InterfaceName::new("bond-uplink1").unwrap();
        assert_eq!(InterfaceName::vlan(&bond, 51).unwrap(), "bond-uplink1.51");
        assert!(InterfaceName::vlan(&bond, 136).is_none(), "16 bytes");
        for refused in [
            "all",
            "default",
            "lo",
            "bonding_masters",
            "a/b",
            ".",
            "..",
            "bond0.51",
        ] {
            assert!(InterfaceName::new(refused).is_err(), "{refused:?}");
        }
        assert_eq!(format!("{:?}", bond), "\"bond-uplink1\"");
    }
}
