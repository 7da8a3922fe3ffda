//! RHEL7, RHEL8 and RHEL9 kickstarts (by the host's target) and PXE boot entries: a bare machine
//! installed from them ends up with exactly the files `yum install hostnet-<host>` gives an
//! existing one.
//!
//! The kickstart brings up only the management network (one `network` line: bond, VLAN, static
//! address); its `%post` points yum at the internal repo, removes anaconda's ifcfg files (el7; on
//! el8/el9 the package moves aside every other profile of its devices) and installs the host's
//! package, which writes the complete stack.

pub mod pxe;

use minijinja::context;
use serde::Serialize;

use crate::model::{Host, InterfaceName, KickstartSettings, Target};
use crate::templates::{TemplateError, Templates};

/// What the network snippet needs, computed here so that templates stay declarative.
#[derive(Debug, Serialize)]
struct Network {
    bond: InterfaceName,
    slaves: Vec<InterfaceName>,
    bondopts: String,
    vlan_id: Option<u16>,
    address: String,
    netmask: String,
    gateway: String,
    nameservers: Vec<String>,
}

/// `--bondopts`: comma-separated `key=value`s, or `;`-separated when a value holds a comma
/// (`arp_ip_target=a,b`), as anaconda reads them.
pub fn bondopts(host: &Host) -> String {
    let options = host.bond.option_words(crate::model::ModeSpelling::Name);
    let separator = if options.iter().any(|o| o.contains(',')) {
        ";"
    } else {
        ","
    };
    options.join(separator)
}

fn network(host: &Host) -> Network {
    let management = &host.management;
    Network {
        bond: host.bond.name.clone(),
        slaves: host.bond.slaves.clone(),
        bondopts: bondopts(host),
        vlan_id: management.tagged.then_some(management.vlan.id),
        address: management.address.addr().to_string(),
        netmask: management.address.netmask().to_string(),
        gateway: management.gateway.to_string(),
        nameservers: management.dns.iter().map(|d| d.to_string()).collect(),
    }
}

/// The yum repository file of the hostnet repository at `repo-url`, checked with the key at
/// `repo-key-url`, as lines: what the kickstart's `%post` writes to `/etc/yum.repos.d/hostnet.repo`
/// and what `build` publishes as `repo/hostnet.repo`. Both checks on: packages and metadata are
/// signed.
pub fn hostnet_repo_lines(kickstart: &KickstartSettings) -> Vec<String> {
    let repo_url = &kickstart.repo_url;
    vec![
        "[hostnet]".into(),
        "name=hostnet host configuration packages".into(),
        format!("baseurl={repo_url}"),
        "enabled=1".into(),
        "gpgcheck=1".into(),
        "repo_gpgcheck=1".into(),
        format!("gpgkey={}", kickstart.repo_key_url),
    ]
}

#[derive(Debug, Serialize)]
struct KickstartContext<'a> {
    install_url: &'a str,
    repo_url: &'a str,
    repo_key_url: &'a str,
    /// [`hostnet_repo_lines`].
    hostnet_repo: Vec<String>,
    lang: &'a str,
    keyboard: &'a str,
    timezone: &'a str,
    root_password_hash: &'a str,
    ssh_keys: &'a [String],
    disks: &'a [String],
    autopart: &'a str,
    packages: &'a [String],
    repos: Vec<RepoContext<'a>>,
    services_enabled: &'a [String],
    services_disabled: &'a [String],
    selinux: &'a str,
    firewall: bool,
    reboot: bool,
}

#[derive(Debug, Serialize)]
struct RepoContext<'a> {
    name: &'a str,
    url: &'a str,
    gpgkey: Option<&'a str>,
}

impl<'a> KickstartContext<'a> {
    fn new(ks: &'a KickstartSettings) -> Self {
        KickstartContext {
            install_url: &ks.install_url,
            repo_url: &ks.repo_url,
            hostnet_repo: hostnet_repo_lines(ks),
            repo_key_url: &ks.repo_key_url,
            lang: &ks.lang,
            keyboard: &ks.keyboard,
            timezone: &ks.timezone,
            root_password_hash: &ks.root_password_hash,
            ssh_keys: &ks.ssh_keys,
            disks: &ks.disks,
            autopart: ks.autopart.name(),
            packages: &ks.packages,
            repos: ks
                .repos
                .iter()
                .map(|r| RepoContext {
                    name: &r.name,
                    url: &r.url,
                    gpgkey: r.gpgkey.as_deref(),
                })
                .collect(),
            services_enabled: &ks.services_enabled,
            services_disabled: &ks.services_disabled,
            selinux: ks.selinux.name(),
            firewall: ks.firewall,
            reboot: ks.reboot,
        }
    }
}

/// The kickstart syntax of the installer of a host's target, as `ksvalidator -v` names it.
pub fn kickstart_version(target: Target) -> &'static str {
    match target {
        Target::El7 => "RHEL7",
        Target::El8 => "RHEL8",
        Target::El9 => "RHEL9",
    }
}

/// The host's kickstart, from `kickstart/main.ks.j2` and its snippets, for the installer of its
/// target ([`KickstartSettings::for_target`]).
pub fn render(
    templates: &Templates,
    settings: &KickstartSettings,
    host: &Host,
) -> Result<String, TemplateError> {
    let settings = settings.for_target(host.target);
    let context = context! {
        version => env!("CARGO_PKG_VERSION"),
        kickstart_version => kickstart_version(host.target),
        network_manager => host.target.network_manager(),
        host => context! { name => &host.name, fqdn => &host.fqdn },
        ks => minijinja::Value::from(minijinja::value::Serde(KickstartContext::new(&settings))),
        net => minijinja::Value::from(minijinja::value::Serde(network(host))),
    };
    templates.render("kickstart/main.ks.j2", context)
}
