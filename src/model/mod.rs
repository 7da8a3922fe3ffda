//! The checked model of a fleet: every value parsed, resolved against the VLAN catalog and defaults,
//! and validated. Every output hostnet writes is a pure function of these types.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::source::FileId;

mod bond;
mod closed_set;
mod names;

pub use bond::{
    AdSelect, ArpAllTargets, ArpValidate, Bond, BondMode, BondOption, FailOverMac, LacpRate,
    ModeSpelling, PrimaryReselect, XmitHashPolicy,
};
pub use closed_set::{Autopart, ClosedSet, LogDriver, SelinuxMode, StorageDriver, Target};
pub use names::{InterfaceName, MAX_INTERFACE_NAME, MacAddress};

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
    /// The key packages and metadata are signed with: `<repo-url>/RPM-GPG-KEY-hostnet` unless set.
    pub repo_key_url: String,
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
    /// `[kickstart.targets.TARGET]`.
    pub targets: std::collections::BTreeMap<Target, TargetInstall>,
}

/// What one target's hosts install from, where it differs from the site's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetInstall {
    pub install_url: Option<String>,
    pub repos: Vec<ExtraRepo>,
}

impl KickstartSettings {
    /// The settings a host of `target` is installed with: its target's install tree and
    /// repositories, and on el8/el9 NetworkManager enabled (it owns the network there) and no
    /// `network` service (el9 has none, el8's is deprecated network-scripts).
    pub fn for_target(&self, target: Target) -> KickstartSettings {
        let mut settings = self.clone();
        if let Some(install) = self.targets.get(&target) {
            if let Some(url) = &install.install_url {
                settings.install_url = url.clone();
            }
            for repo in &install.repos {
                settings.repos.retain(|r| r.name != repo.name);
                settings.repos.push(repo.clone());
            }
        }
        if target.network_manager() {
            settings.services_enabled.retain(|s| s != "network");
            if !settings
                .services_enabled
                .iter()
                .any(|s| s == "NetworkManager")
            {
                settings.services_enabled.insert(0, "NetworkManager".into());
            }
            settings.services_disabled.retain(|s| s != "NetworkManager");
        }
        settings
    }
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
    /// `[pxe.targets.TARGET]`: (kernel, initrd) where they differ from the site's.
    pub targets: std::collections::BTreeMap<Target, (Option<String>, Option<String>)>,
}

impl PxeSettings {
    /// The installer a host of `target` boots.
    pub fn for_target(&self, target: Target) -> PxeSettings {
        let mut settings = self.clone();
        if let Some((kernel, initrd)) = self.targets.get(&target) {
            if let Some(kernel) = kernel {
                settings.kernel = kernel.clone();
            }
            if let Some(initrd) = initrd {
                settings.initrd = initrd.clone();
            }
        }
        settings
    }
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
    /// How the host's network is configured (ifcfg files or NetworkManager keyfiles).
    pub target: Target,
    pub bond: Bond,
    pub management: Management,
    pub containers: Containers,
    pub docker: Docker,
    pub rollout: Rollout,
    /// Extra sysctl settings, in key order.
    pub sysctl: Vec<(String, String)>,
    pub source: FileId,
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
