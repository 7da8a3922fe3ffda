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
    /// `el7`, `el8` or `el9`: how the host's network is configured.
    pub target: Field<String>,
    #[serde(default)]
    pub bond: BondLayer,
    #[serde(default)]
    pub management: ManagementLayer,
    #[serde(default)]
    pub containers: ContainersLayer,
    #[serde(default)]
    pub docker: DockerLayer,
    #[serde(default)]
    pub rollout: RolloutLayer,
    /// Extra kernel parameters for `/etc/sysctl.d/90-hostnet.conf`, merged key by key.
    #[serde(default)]
    pub sysctl: BTreeMap<String, Located<ScalarValue>>,
}
layered!(HostLayer {
    fqdn,
    boot_mac,
    target,
    bond,
    management,
    containers,
    docker,
    rollout,
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

/// `[rollout]`: how `hostnet-apply` puts a new version into effect on a running host.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RolloutLayer {
    /// Seconds before an unconfirmed change is rolled back, default 120.
    pub rollback_after: Field<i64>,
    /// Seconds each probe may take to pass, default 30.
    pub probe_timeout: Field<i64>,
    /// Which built-in probes run: "gateway", "dns", "repository"; default all three.
    pub probes: Field<Vec<String>>,
    /// Further http(s) URLs that must answer after the change.
    pub probe_urls: Field<Vec<String>>,
}
layered!(RolloutLayer {
    rollback_after,
    probe_timeout,
    probes,
    probe_urls
});

/// A VLAN named by catalog name or by id.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum VlanRef {
    Id(i64),
    Name(String),
}

/// A setting that may be written as a number, a string or a boolean (bond mode, sysctl values, bond
/// options); booleans mean 1 and 0, as the kernel writes them.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ScalarValue {
    Integer(i64),
    Boolean(bool),
    Text(String),
}

impl std::fmt::Display for ScalarValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScalarValue::Integer(n) => write!(f, "{n}"),
            ScalarValue::Boolean(b) => write!(f, "{}", u8::from(*b)),
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
    /// Unattended installs; no kickstarts are written without this table.
    pub kickstart: Option<Located<KickstartSection>>,
    /// PXE boot entries for hosts with a boot-mac; none without this table.
    pub pxe: Option<Located<PxeSection>>,
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
    /// How many versions of each host the repository lists (for `yum downgrade`).
    pub keep_versions: Field<i64>,
}
layered!(PackageSection {
    vendor,
    url,
    license,
    packager,
    keep_versions
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

/// `[kickstart]`: what every host's RHEL7 kickstart installs.
///
/// ```toml
/// [kickstart]
/// install-url = "http://mirror.example.com/centos/7/os/x86_64"
/// repo-url = "http://repo.example.com/hostnet"
/// root-password-hash = "$6$...."        # crypt(3) SHA-512 or SHA-256 hash; plain text is refused
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KickstartSection {
    /// The installation tree (`url --url=`).
    pub install_url: Field<String>,
    /// The published hostnet repository (the `repo/` directory `hostnet build` writes).
    pub repo_url: Field<String>,
    /// Where hosts fetch the signing key (default `<repo-url>/RPM-GPG-KEY-hostnet`).
    pub repo_key_url: Field<String>,
    pub lang: Field<String>,
    pub keyboard: Field<String>,
    pub timezone: Field<String>,
    pub root_password_hash: Field<String>,
    /// Only here to say that plain-text passwords are refused.
    pub root_password: Field<toml::Value>,
    pub ssh_keys: Field<Vec<String>>,
    /// Disks to install on (all others untouched); default: let anaconda choose.
    pub disks: Field<Vec<String>>,
    /// `autopart --type=`: lvm (default), plain or thinp.
    pub autopart: Field<String>,
    pub packages: Field<Vec<String>>,
    /// Further yum repositories the install and the hostnet package need (e.g. docker-ce).
    #[serde(default)]
    pub repos: BTreeMap<String, Located<ExtraRepo>>,
    pub services_enabled: Field<Vec<String>>,
    pub services_disabled: Field<Vec<String>>,
    /// enforcing (default), permissive or disabled.
    pub selinux: Field<String>,
    /// Default true (with ssh allowed).
    pub firewall: Field<bool>,
    /// Reboot when done (default true); false powers off.
    pub reboot: Field<bool>,
    /// Directory (relative to the hosts tree) with template overrides, e.g. `kickstart/network.ks.j2`.
    pub template_dir: Field<String>,
    /// `[kickstart.targets.el9]`: what differs for the hosts of one target (their install tree,
    /// their repositories).
    #[serde(default)]
    pub targets: BTreeMap<String, Located<KickstartTarget>>,
}

/// `[kickstart.targets.TARGET]`: the install tree and the repositories of one target's hosts.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KickstartTarget {
    pub install_url: Option<String>,
    /// Added to `[kickstart.repos]`, replacing an entry of the same name.
    #[serde(default)]
    pub repos: BTreeMap<String, ExtraRepo>,
}

layered!(KickstartSection {
    install_url,
    repo_url,
    repo_key_url,
    lang,
    keyboard,
    timezone,
    root_password_hash,
    root_password,
    ssh_keys,
    disks,
    autopart,
    packages,
    repos,
    services_enabled,
    services_disabled,
    selinux,
    firewall,
    reboot,
    template_dir,
    targets
});

/// `[kickstart.repos.NAME]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExtraRepo {
    pub url: String,
    /// URL of the repository's signing key; without it the repo is used with gpgcheck=0 and a warning.
    pub gpgkey: Option<String>,
}

/// `[pxe]`: per-MAC boot entries pointing a machine at its kickstart.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PxeSection {
    /// Where the kickstarts are served: `inst.ks=<kickstart-url>/<host>.ks`.
    pub kickstart_url: Field<String>,
    /// Installer kernel and initrd, relative to the TFTP root.
    pub kernel: Field<String>,
    pub initrd: Field<String>,
    /// Further kernel arguments, e.g. `console=ttyS0,115200`.
    pub kernel_args: Field<Vec<String>>,
    /// The installer reaches the kickstart over the tagged management VLAN on the bond, so the boot
    /// entry carries dracut's `bond=`, `vlan=` and `ip=` (default false: DHCP on the boot NIC).
    pub installer_vlan: Field<bool>,
    /// `[pxe.targets.el9]`: the installer of one target's hosts.
    #[serde(default)]
    pub targets: BTreeMap<String, Located<PxeTarget>>,
}

/// `[pxe.targets.TARGET]`: the installer kernel and initrd of one target's hosts.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PxeTarget {
    pub kernel: Option<String>,
    pub initrd: Option<String>,
}
layered!(PxeSection {
    kickstart_url,
    kernel,
    initrd,
    kernel_args,
    installer_vlan,
    targets
});
