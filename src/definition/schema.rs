//! The host-definition language: what a site file, a group file and a host file may contain.
//!
//! Every table denies unknown keys, so a typo is an error rather than a silently ignored setting.
//! Values are kept loosely typed here (a string where an address is expected) so that `validate` can
//! report every bad value in one run instead of stopping at the first; structure (tables, arrays, key
//! names) is checked by serde at parse time.
//!
//! A host file (`hosts/rack-a/dockerhost-02.toml`; the file name is the host name):
//!
//! ```toml
//! boot-mac = "52:54:00:aa:01:02"
//!
//! [bond]
//! slaves = ["enp2s0f0", "enp2s0f1"]
//! mode = "active-backup"
//!
//! [management]
//! vlan = "mgmt"
//! address = "10.20.51.22"
//!
//! [containers]
//! vlan = 136
//! slice = "172.20.56.32/28"
//!
//! [docker]
//! users = ["apps"]
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use super::located::{Layer, Located, layered};

pub type Field<T> = Option<Located<T>>;

/// The settings any level may give: the site's `[defaults]`, a group file, or a host file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HostLayer {
    /// Fully qualified name; defaults to `<host>.<site.domain>`. Host files only.
    pub fqdn: Field<String>,
    /// MAC address of the NIC the machine PXE-boots from. Host files only.
    pub boot_mac: Field<String>,
    #[serde(default)]
    pub bond: BondLayer,
    #[serde(default)]
    pub management: ManagementLayer,
    #[serde(default)]
    pub containers: ContainersLayer,
    #[serde(default)]
    pub docker: DockerLayer,
    /// Extra kernel parameters for `/etc/sysctl.d/90-hostnet.conf`, merged key by key.
    #[serde(default)]
    pub sysctl: BTreeMap<String, Located<ScalarValue>>,
}
layered!(HostLayer {
    fqdn,
    boot_mac,
    bond,
    management,
    containers,
    docker,
    sysctl
});

/// `[bond]`: the NICs bonded together and how.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BondLayer {
    /// Bond device name, default `bond0`.
    pub name: Field<String>,
    /// The NICs enslaved to the bond.
    pub slaves: Field<Vec<String>>,
    /// Bonding mode by name (`balance-rr`, `active-backup`, `802.3ad`...) or number (0-6). Default 0.
    pub mode: Field<ScalarValue>,
    /// MII link monitoring interval in milliseconds, default 100.
    pub miimon: Field<i64>,
    /// MTU of the bond (and so of its VLANs), default: the kernel's (1500).
    pub mtu: Field<i64>,
    /// Further bonding options (`lacp_rate`, `xmit_hash_policy`, `primary`...), merged key by key.
    #[serde(default)]
    pub options: BTreeMap<String, Located<ScalarValue>>,
}
layered!(BondLayer {
    name,
    slaves,
    mode,
    miimon,
    mtu,
    options
});

/// `[management]`: the host's own address.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ManagementLayer {
    /// VLAN from the site catalog, by name or id.
    pub vlan: Field<VlanRef>,
    /// `true` (default): a VLAN interface on the bond (`bond0.51`); `false`: the address sits on the
    /// bond itself (the switch port's native VLAN).
    pub tagged: Field<bool>,
    /// The host's IPv4 address.
    pub address: Field<String>,
    /// Prefix length, default the VLAN's.
    pub prefix: Field<i64>,
    /// Default route, default the VLAN's gateway.
    pub gateway: Field<String>,
    /// Name servers, default the VLAN's.
    pub dns: Field<Vec<String>>,
}
layered!(ManagementLayer {
    vlan,
    tagged,
    address,
    prefix,
    gateway,
    dns
});

/// `[containers]`: the VLAN bridged into Docker's bridge and this host's slice of it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ContainersLayer {
    /// VLAN from the site catalog, by name or id.
    pub vlan: Field<VlanRef>,
    /// Bridge name, default `docker0`.
    pub bridge: Field<String>,
    /// The host's slice of the VLAN for container addresses (dockerd `--fixed-cidr`), e.g. a /28.
    pub slice: Field<String>,
    /// The bridge's own address (dockerd `--bip`); default: the first usable address of the slice.
    /// The prefix is always the VLAN's.
    pub bridge_address: Field<String>,
    /// Containers' default gateway (dockerd `--default-gateway`), default the VLAN's gateway.
    pub gateway: Field<String>,
}
layered!(ContainersLayer {
    vlan,
    bridge,
    slice,
    bridge_address,
    gateway
});

/// `[docker]`: the daemon's flags and the docker group.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DockerLayer {
    /// Package the host package requires (e.g. `docker-ce`); none by default.
    pub package: Field<String>,
    /// Path of the daemon, default `/usr/bin/dockerd`.
    pub dockerd: Field<String>,
    /// Arguments before hostnet's flags, default docker-ce's: `-H fd://
    /// --containerd=/run/containerd/containerd.sock`.
    pub base_args: Field<Vec<String>>,
    pub storage_driver: Field<String>,
    pub log_driver: Field<String>,
    pub registry_mirrors: Field<Vec<String>>,
    pub insecure_registries: Field<Vec<String>>,
    pub ip_forward: Field<bool>,
    pub iptables: Field<bool>,
    /// Further dockerd flags, each `--name` or `--name=value`.
    pub extra_flags: Field<Vec<String>>,
    /// Group that may use the docker socket, default `docker`.
    pub group: Field<String>,
    /// System user created in that group, default `docker`.
    pub user: Field<String>,
    /// Existing users added to the group.
    pub users: Field<Vec<String>>,
}
layered!(DockerLayer {
    package,
    dockerd,
    base_args,
    storage_driver,
    log_driver,
    registry_mirrors,
    insecure_registries,
    ip_forward,
    iptables,
    extra_flags,
    group,
    user,
    users
});

/// A VLAN named by catalog name or by id.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum VlanRef {
    Id(i64),
    Name(String),
}

/// A setting that may be written as a number or a string (bond mode, sysctl values, bond options).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ScalarValue {
    Integer(i64),
    Text(String),
}

impl std::fmt::Display for ScalarValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScalarValue::Integer(n) => write!(f, "{n}"),
            ScalarValue::Text(s) => f.write_str(s),
        }
    }
}

/// `hosts/site.toml`.
///
/// ```toml
/// [site]
/// name = "example"
/// domain = "example.com"
///
/// [vlans.mgmt]
/// id = 51
/// subnet = "10.20.51.0/24"
/// gateway = "10.20.51.1"
/// dns = ["10.20.0.53"]
///
/// [vlans.containers]
/// id = 136
/// subnet = "172.20.56.0/22"
/// gateway = "172.20.56.1"
///
/// [defaults.management]
/// vlan = "mgmt"
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SiteFile {
    #[serde(default)]
    pub site: SiteSection,
    #[serde(default)]
    pub package: PackageSection,
    /// The VLAN catalog, keyed by VLAN name.
    #[serde(default)]
    pub vlans: BTreeMap<String, Located<VlanEntry>>,
    /// Defaults every host inherits.
    #[serde(default)]
    pub defaults: HostLayer,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SiteSection {
    /// Short name of the site, used in package descriptions.
    pub name: Field<String>,
    /// DNS domain; a host's FQDN defaults to `<host>.<domain>`.
    pub domain: Field<String>,
}
layered!(SiteSection { name, domain });

/// `[package]`: metadata written into every host package.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PackageSection {
    pub vendor: Field<String>,
    pub url: Field<String>,
    pub license: Field<String>,
    pub packager: Field<String>,
}
layered!(PackageSection {
    vendor,
    url,
    license,
    packager
});

/// One `[vlans.NAME]` entry of the catalog.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct VlanEntry {
    pub id: Located<i64>,
    pub subnet: Located<String>,
    /// The VLAN's router.
    pub gateway: Located<String>,
    #[serde(default)]
    pub dns: Option<Located<Vec<String>>>,
    pub mtu: Option<Located<i64>>,
    pub description: Option<Located<String>>,
}

impl VlanEntry {
    pub fn set_file(&mut self, file: crate::source::FileId) {
        self.id.at.file = file;
        self.subnet.at.file = file;
        self.gateway.at.file = file;
        self.dns.set_file(file);
        self.mtu.set_file(file);
        self.description.set_file(file);
    }
}
