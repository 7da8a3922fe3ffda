//! The checked model of a fleet: every value parsed, resolved against the VLAN catalog and defaults,
//! and validated. Every output hostnet writes is a pure function of these types.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::source::FileId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fleet {
    pub site: Site,
    pub hosts: Vec<Host>,
}

impl Fleet {
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Site {
    pub name: String,
    pub domain: Option<String>,
    pub vlans: Vec<Vlan>,
    pub package: PackageMetadata,
    pub kickstart: Option<KickstartSettings>,
    pub pxe: Option<PxeSettings>,
}

/// `[kickstart]`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KickstartSettings {
    pub install_url: String,
    pub repo_url: String,
    pub lang: String,
    pub keyboard: String,
    pub timezone: String,
    pub root_password_hash: String,
    pub ssh_keys: Vec<String>,
    pub disks: Vec<String>,
    pub autopart: Autopart,
    pub packages: Vec<String>,
    pub repos: Vec<ExtraRepo>,
    pub services_enabled: Vec<String>,
    pub services_disabled: Vec<String>,
    pub selinux: SelinuxMode,
    pub firewall: bool,
    pub reboot: bool,
    /// Resolved against the hosts tree.
    pub template_dir: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraRepo {
    pub name: String,
    pub url: String,
    pub gpgkey: Option<String>,
}

/// `[pxe]`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PxeSettings {
    pub kickstart_url: String,
    pub kernel: String,
    pub initrd: String,
    pub kernel_args: Vec<String>,
    pub installer_vlan: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PackageMetadata {
    pub vendor: Option<String>,
    pub url: Option<String>,
    pub license: String,
    pub packager: Option<String>,
    /// Versions of each host listed in the repository, the current one included.
    pub keep_versions: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Vlan {
    pub id: u16,
    pub name: String,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    pub dns: Vec<Ipv4Addr>,
    pub mtu: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Host {
    /// Short host name: the definition file's name, and the package's `hostnet-<name>`.
    pub name: String,
    pub fqdn: String,
    pub boot_mac: Option<MacAddress>,
    pub bond: Bond,
    pub management: Management,
    pub containers: Containers,
    pub docker: Docker,
    pub rollout: Rollout,
    /// Extra sysctl settings, in key order.
    pub sysctl: Vec<(String, String)>,
    pub source: FileId,
}

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

/// What messages about a closed-set setting list.
pub trait ClosedSet: Sized + Copy + 'static {
    /// Every value, in the order the consumer numbers them where it does.
    fn all() -> &'static [Self];
    /// Every spelling, comma-separated.
    fn choices() -> String;
    fn spelling(self) -> &'static str;

    /// A value by its spelling or, as the kernel also takes, by its position in [`Self::all`]
    /// (`lacp_rate=1` is `fast`).
    fn from_kernel(text: &str) -> Option<Self> {
        let by_name = Self::all().iter().copied().find(|v| v.spelling() == text);
        let by_number = || {
            text.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| text.parse::<usize>().ok())
                .flatten()
                .and_then(|n| Self::all().get(n).copied())
        };
        by_name.or_else(by_number)
    }

    /// Every spelling with its number: `slow (0), fast (1)`.
    fn numbered_choices() -> String {
        Self::all()
            .iter()
            .enumerate()
            .map(|(number, value)| format!("{} ({number})", value.spelling()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A setting with a closed set of values, each with the one spelling the consumer takes: parsed
/// from the definition once, written by `Display` (and serialised so for templates).
macro_rules! closed_set {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

        }

        impl ClosedSet for $name {
            fn all() -> &'static [Self] {
                Self::ALL
            }

            fn choices() -> String {
                Self::ALL.iter().map(|v| v.name()).collect::<Vec<_>>().join(", ")
            }

            fn spelling(self) -> &'static str {
                self.name()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, String> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.name() == text)
                    .ok_or_else(|| format!("{text:?} is not one of {}", Self::choices()))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.name())
            }
        }
    };
}

closed_set!(
    /// dockerd `--storage-driver`.
    StorageDriver {
        Overlay2 => "overlay2",
        Overlay => "overlay",
        Devicemapper => "devicemapper",
        Btrfs => "btrfs",
        Zfs => "zfs",
        Vfs => "vfs",
        FuseOverlayfs => "fuse-overlayfs",
    }
);

closed_set!(
    /// dockerd `--log-driver`.
    LogDriver {
        Journald => "journald",
        JsonFile => "json-file",
        Local => "local",
        Syslog => "syslog",
        None => "none",
        Gelf => "gelf",
        Fluentd => "fluentd",
        Awslogs => "awslogs",
        Splunk => "splunk",
        Gcplogs => "gcplogs",
        Logentries => "logentries",
    }
);

closed_set!(
    /// The kickstart's `selinux` command.
    SelinuxMode {
        Enforcing => "enforcing",
        Permissive => "permissive",
        Disabled => "disabled",
    }
);

closed_set!(
    /// The kickstart's `autopart --type`.
    Autopart {
        Lvm => "lvm",
        Plain => "plain",
        Thinp => "thinp",
    }
);

// The bonding options with a closed set of values, each listed in the kernel's order (its
// numbers), from Documentation/networking/bonding.txt of EL7's 3.10 kernel.

closed_set!(
    /// `xmit_hash_policy`: layer2 is 0, layer3+4 is 1, layer2+3 is 2.
    XmitHashPolicy {
        Layer2 => "layer2",
        Layer34 => "layer3+4",
        Layer23 => "layer2+3",
        Encap23 => "encap2+3",
        Encap34 => "encap3+4",
    }
);

closed_set!(
    /// `lacp_rate`: how often the partner sends LACPDUs.
    LacpRate {
        Slow => "slow",
        Fast => "fast",
    }
);

closed_set!(
    /// `ad_select`: how 802.3ad chooses the active aggregator.
    AdSelect {
        Stable => "stable",
        Bandwidth => "bandwidth",
        Count => "count",
    }
);

closed_set!(
    /// `arp_validate`: which ARP probes and replies are validated.
    ArpValidate {
        None => "none",
        Active => "active",
        Backup => "backup",
        All => "all",
        Filter => "filter",
        FilterActive => "filter_active",
        FilterBackup => "filter_backup",
    }
);

closed_set!(
    /// `arp_all_targets`: whether any or all ARP targets must answer.
    ArpAllTargets {
        Any => "any",
        All => "all",
    }
);

closed_set!(
    /// `fail_over_mac`: the MAC addresses of an active-backup bond on failover.
    FailOverMac {
        None => "none",
        Active => "active",
        Follow => "follow",
    }
);

closed_set!(
    /// `primary_reselect`: when the primary slave becomes active again.
    PrimaryReselect {
        Always => "always",
        Better => "better",
        Failure => "failure",
    }
);

/// The value of one further bonding option, as checked against the kernel's rules.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BondOptionValue {
    XmitHashPolicy(XmitHashPolicy),
    LacpRate(LacpRate),
    AdSelect(AdSelect),
    ArpValidate(ArpValidate),
    ArpAllTargets(ArpAllTargets),
    FailOverMac(FailOverMac),
    PrimaryReselect(PrimaryReselect),
    /// A whole number within the option's range.
    Number(i64),
    /// `arp_ip_target`: one to sixteen addresses.
    Addresses(Vec<std::net::Ipv4Addr>),
    /// `primary`: one of the bond's slaves.
    Slave(InterfaceName),
}

impl BondOptionValue {
    pub fn number(&self) -> Option<i64> {
        match self {
            BondOptionValue::Number(n) => Some(*n),
            _ => None,
        }
    }
}

/// As the kernel reads it: closed sets by name, addresses comma-separated.
impl std::fmt::Display for BondOptionValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BondOptionValue::XmitHashPolicy(v) => v.fmt(f),
            BondOptionValue::LacpRate(v) => v.fmt(f),
            BondOptionValue::AdSelect(v) => v.fmt(f),
            BondOptionValue::ArpValidate(v) => v.fmt(f),
            BondOptionValue::ArpAllTargets(v) => v.fmt(f),
            BondOptionValue::FailOverMac(v) => v.fmt(f),
            BondOptionValue::PrimaryReselect(v) => v.fmt(f),
            BondOptionValue::Number(n) => n.fmt(f),
            BondOptionValue::Addresses(addresses) => {
                let texts: Vec<String> = addresses.iter().map(|a| a.to_string()).collect();
                f.write_str(&texts.join(","))
            }
            BondOptionValue::Slave(slave) => f.write_str(slave),
        }
    }
}

/// One `[bond.options]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BondOption {
    pub name: &'static str,
    pub value: BondOptionValue,
}

/// How a bond's mode is spelled in its option string: ifcfg's `BONDING_OPTS` keeps the seed's
/// number (`mode=0`); anaconda and dracut take the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeSpelling {
    Number,
    Name,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bond {
    pub name: InterfaceName,
    pub slaves: Vec<InterfaceName>,
    pub mode: BondMode,
    /// MII link monitoring interval, ms; 0 is off (ARP monitoring then).
    pub miimon: u32,
    /// The further options, in the order they are written.
    pub options: Vec<BondOption>,
    pub mtu: Option<u16>,
}

impl Bond {
    /// The value of the further option `name`, if set.
    pub fn option(&self, name: &str) -> Option<&BondOptionValue> {
        self.options
            .iter()
            .find(|option| option.name == name)
            .map(|option| &option.value)
    }

    /// `mode=…`, `miimon=…`, then every option as `name=value`, in order: the one encoding ifcfg, the
    /// kickstart and the PXE entries join, each with its own separator.
    pub fn option_words(&self, mode: ModeSpelling) -> Vec<String> {
        let mode = match mode {
            ModeSpelling::Number => self.mode.number().to_string(),
            ModeSpelling::Name => self.mode.name().to_string(),
        };
        [format!("mode={mode}"), format!("miimon={}", self.miimon)]
            .into_iter()
            .chain(
                self.options
                    .iter()
                    .map(|o| format!("{}={}", o.name, o.value)),
            )
            .collect()
    }
}

/// The interfaces whose `rp_filter` (and `forwarding`) hostnet manages: `all`, `default` and every
/// interface on the containers' path. Validation calls it with what checked so far; rendering
/// with the whole host.
pub fn path_interfaces(
    bond: Option<&str>,
    management: Option<&Management>,
    containers: Option<&Containers>,
) -> Vec<String> {
    let mut interfaces = vec!["all".to_string(), "default".to_string()];
    interfaces.extend(bond.map(String::from));
    interfaces.extend(
        management
            .filter(|m| m.tagged)
            .map(|m| m.interface.to_string()),
    );
    if let Some(containers) = containers {
        interfaces.push(containers.interface.to_string());
        interfaces.push(containers.bridge.to_string());
    }
    interfaces
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Management {
    pub vlan: Vlan,
    /// The interface holding the address: `bond0.51`, or the bond itself when untagged.
    pub interface: InterfaceName,
    pub tagged: bool,
    /// The host's address with the management network's prefix.
    pub address: Ipv4Net,
    pub gateway: Ipv4Addr,
    pub dns: Vec<Ipv4Addr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Containers {
    pub vlan: Vlan,
    /// The VLAN interface enslaved to the bridge, e.g. `bond0.136`.
    pub interface: InterfaceName,
    pub bridge: InterfaceName,
    /// dockerd `--fixed-cidr`.
    pub slice: Ipv4Net,
    /// The bridge's address with the VLAN's prefix (dockerd `--bip`, or the bridge's IPADDR when the
    /// bridge is not `docker0`).
    pub bridge_address: Ipv4Net,
    /// dockerd `--default-gateway`.
    pub gateway: Ipv4Addr,
}

impl Containers {
    /// dockerd is told `docker0`'s address with `--bip` (its default bridge, which it would
    /// otherwise address itself); any other bridge is handed to it with `-b`, which is incompatible
    /// with `--bip`. Either way the bridge's ifcfg carries the address.
    pub fn bridge_is_dockers_default(&self) -> bool {
        self.bridge == DEFAULT_BRIDGE
    }
}

pub const DEFAULT_BRIDGE: &str = "docker0";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Docker {
    pub package: Option<String>,
    pub dockerd: String,
    pub base_args: Vec<String>,
    pub storage_driver: StorageDriver,
    pub log_driver: LogDriver,
    pub registry_mirrors: Vec<String>,
    pub insecure_registries: Vec<String>,
    pub ip_forward: bool,
    pub iptables: bool,
    pub extra_flags: Vec<String>,
    pub group: String,
    pub user: String,
    pub users: Vec<String>,
}

/// `[rollout]`, checked: what `hostnet-apply` waits for and probes on the host.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rollout {
    pub rollback_after: u32,
    pub probe_timeout: u32,
    /// Probe the management gateway from the management interface.
    pub probe_gateway: bool,
    /// Probe each DNS server of the management network.
    pub probe_dns: bool,
    /// The hostnet repository's `repomd.xml`, when the "repository" probe is on.
    pub probe_repository: Option<String>,
    /// `probe-urls`: further URLs that must answer.
    pub probe_urls: Vec<String>,
}

/// Linux bonding modes. The number is what the kernel and the seed's `mode=0` use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BondMode {
    BalanceRr,
    ActiveBackup,
    BalanceXor,
    Broadcast,
    Ieee8023ad,
    BalanceTlb,
    BalanceAlb,
}

impl BondMode {
    pub const ALL: [BondMode; 7] = [
        BondMode::BalanceRr,
        BondMode::ActiveBackup,
        BondMode::BalanceXor,
        BondMode::Broadcast,
        BondMode::Ieee8023ad,
        BondMode::BalanceTlb,
        BondMode::BalanceAlb,
    ];

    pub fn number(self) -> u8 {
        self as u8
    }

    pub fn name(self) -> &'static str {
        match self {
            BondMode::BalanceRr => "balance-rr",
            BondMode::ActiveBackup => "active-backup",
            BondMode::BalanceXor => "balance-xor",
            BondMode::Broadcast => "broadcast",
            BondMode::Ieee8023ad => "802.3ad",
            BondMode::BalanceTlb => "balance-tlb",
            BondMode::BalanceAlb => "balance-alb",
        }
    }

    pub fn from_number(n: i64) -> Option<BondMode> {
        usize::try_from(n)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
    }

    pub fn from_name(name: &str) -> Option<BondMode> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }
}

impl std::fmt::Display for BondMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
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
