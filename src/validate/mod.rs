//! Turns loaded definitions into the checked [`Fleet`], reporting every problem at once.
//!
//! Per host: names, VLAN references, addresses inside their subnets, bonding options valid for the
//! mode, and a small grammar for every value that reaches a shell-sourced file, a scriptlet, a systemd
//! unit or a kickstart. Across the fleet: unique names, addresses and MACs, disjoint container slices.

pub mod bonding;
pub mod catalog;
pub mod dockerd_flags;
pub mod fields;
pub mod fleet;
pub mod host;
pub mod kickstart;
pub mod urls;
pub mod values;

use rayon::prelude::*;

use crate::definition::{Definitions, HostDefinition, HostFile};
use crate::diagnostic::Diagnostics;
use crate::model::{Fleet, Host};

/// What becomes of the hosts' definitions ([`Definitions::hosts`]) once checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostDefinitions {
    /// Kept, for a caller that reads them again (`show` checks one host of a broken fleet).
    Keep,
    /// Never all kept: each host is layered just before it is checked ([`Definitions::layer`],
    /// for definitions [`crate::definition::read`] left unlayered) and freed just after, so a
    /// large fleet's settings layers (some 2 KB a host, the site's and groups' settings repeated
    /// in each) are never all in memory, nor beside the checked fleet.
    Release,
}

/// Checks everything; returns the fleet only when there is no error (warnings are allowed).
/// Hosts [`crate::definition::load`] layered are checked and kept; host files
/// [`crate::definition::read`] left unlayered are layered one by one as they are checked, each
/// definition freed once its host is checked.
pub fn check(definitions: &mut Definitions, diagnostics: &mut Diagnostics) -> Option<Fleet> {
    let host_files = definitions.take_unlayered();
    let (catalog, hosts) = check_hosts(definitions, &host_files, diagnostics, |host, _| host)?;
    Some(Fleet {
        site: catalog.site,
        hosts,
    })
}

/// A host checked without keeping its model: its name and the digest of its model, which is all a
/// build needs of a host whose rendering the render memo remembers. The model itself is made
/// again, from the definitions already read, only for a host that is rendered
/// ([`CompactFleet::model`]).
#[derive(Debug)]
pub struct CheckedHost {
    pub name: String,
    pub digest: crate::memo::HostDigest,
    /// The host's place in the definitions: layered ones first, then the host files.
    position: usize,
}

/// The checked fleet as every command but `show` takes it: the site, and each host as a
/// [`CheckedHost`]. A large fleet's models (some 1.5 KB a host) are never all in memory: each is
/// made again when its host is rendered and freed once it is.
pub struct CompactFleet {
    catalog: catalog::Catalog,
    pub hosts: Vec<CheckedHost>,
    host_files: Vec<HostFile>,
}

/// Checking a host again did not give the model its first check gave.
#[derive(Debug, thiserror::Error)]
#[error(
    "host {0} passed its check, but checking it again to render it did not give the same model (a hostnet bug; please report it)"
)]
pub struct RecheckDiffers(pub String);

impl CompactFleet {
    pub fn site(&self) -> &crate::model::Site {
        &self.catalog.site
    }

    /// `host`'s model, checked again from `definitions`, which [`check_compact`] found valid; an
    /// error only if checking it again disagrees with the first time (a hostnet bug).
    pub fn model(
        &self,
        definitions: &Definitions,
        host: &CheckedHost,
    ) -> Result<Host, RecheckDiffers> {
        self.model_again(definitions, host)
            .ok_or_else(|| RecheckDiffers(host.name.clone()))
    }

    fn model_again(&self, definitions: &Definitions, host: &CheckedHost) -> Option<Host> {
        let mut scratch = Diagnostics::default();
        let layered;
        let definition = match host.position.checked_sub(definitions.hosts.len()) {
            None => definitions.hosts.get(host.position)?,
            Some(file) => {
                layered = definitions.layer(self.host_files.get(file)?).0?;
                &layered
            }
        };
        let model = host::HostChecker::new(definition, &self.catalog, &mut scratch)
            .check()
            .0?;
        (!scratch.has_errors() && crate::memo::host_digest(&model) == host.digest).then_some(model)
    }
}

/// As [`check`], keeping less: each host's model is reduced to a [`CheckedHost`] as soon as it is
/// checked. `definitions` must be kept for [`CompactFleet::model`].
pub fn check_compact(
    definitions: &mut Definitions,
    diagnostics: &mut Diagnostics,
) -> Option<CompactFleet> {
    let host_files = definitions.take_unlayered();
    let (catalog, hosts) = check_hosts(definitions, &host_files, diagnostics, |host, position| {
        CheckedHost {
            digest: crate::memo::host_digest(&host),
            name: host.name,
            position,
        }
    })?;
    Some(CompactFleet {
        catalog,
        hosts,
        host_files,
    })
}

/// Checks the site, every host (the layered ones, then `host_files`), and the fleet-wide rules;
/// each checked host is kept as `keep` makes it of its model and its place in the definitions.
/// `None` when anything has an error.
fn check_hosts<T: Send>(
    definitions: &mut Definitions,
    host_files: &[HostFile],
    diagnostics: &mut Diagnostics,
    keep: impl Fn(Host, usize) -> T + Sync,
) -> Option<(catalog::Catalog, Vec<T>)> {
    if definitions.site.is_none() {
        // Nothing can be checked without the site, but each host file's own problems are found.
        for (_, found) in definitions.layer_each(host_files) {
            diagnostics.append(found);
        }
        return None;
    }
    let definitions = &*definitions;
    let (_, site) = definitions.site.as_ref()?;
    let catalog = catalog::check_site(site, &definitions.root, diagnostics);
    // Each host checks on its own (the fleet-wide rules come after), so hosts spread over the
    // cores; their problems are then reported in definition order, as one pass would.
    // Boxed: these wait in one vector for the fleet's other hosts, beside the vector the checked
    // hosts move into.
    let check_definition = |definition: &HostDefinition, position: usize| {
        let mut found = Diagnostics::default();
        let mut installer = Diagnostics::default();
        let (host, host_facts) = host::HostChecker::new(definition, &catalog, &mut found).check();
        // A host is only ever left out with a reason; never let one vanish from the fleet silently.
        if host.is_none() && found.error_reports() == 0 {
            found.error(
                &crate::source::Location::file_start(definition.file),
                format!(
                    "host {} could not be checked (a hostnet bug: please report it with this file)",
                    definition.name
                ),
            );
        }
        if let Some(host) = &host {
            check_installer_network(site, &catalog.site, host, &mut installer);
        }
        let kept = host.map(|host| Box::new(keep(host, position)));
        (kept, host_facts, found, installer)
    };
    // Each host's file problems, then, for a host whose file parsed, its check.
    let layered = definitions.hosts.len();
    let mut checked: Vec<(Diagnostics, Option<_>)> = definitions
        .hosts
        .par_iter()
        .enumerate()
        .map(|(position, definition)| {
            let checked = check_definition(definition, position);
            (Diagnostics::default(), Some(checked))
        })
        .collect();
    // Each host layered just before it is checked, its definition freed just after: the fleet's
    // definitions are never all in memory.
    checked.par_extend(host_files.par_iter().enumerate().map(|(index, file)| {
        let (definition, parsing) = definitions.layer(file);
        let checked = definition.map(|definition| check_definition(&definition, layered + index));
        (parsing, checked)
    }));
    // As loading every host and then checking each would report them: files first.
    for (parsing, _) in &mut checked {
        diagnostics.append(std::mem::take(parsing));
    }
    for (_, _, found, _) in checked
        .iter_mut()
        .filter_map(|(_, checked)| checked.as_mut())
    {
        diagnostics.append(std::mem::take(found));
    }
    // Compared where they are, not moved into a vector of their own (some 460 bytes a host).
    let facts: Vec<&host::HostFacts> = checked
        .iter()
        .filter_map(|(_, checked)| checked.as_ref().map(|(_, facts, _, _)| facts))
        .collect();
    fleet::check_fleet(&facts, &definitions.sources, diagnostics);
    drop(facts);
    for (_, _, _, installer) in checked
        .iter_mut()
        .filter_map(|(_, checked)| checked.as_mut())
    {
        diagnostics.append(std::mem::take(installer));
    }
    if diagnostics.has_errors() {
        return None;
    }
    // Sized exactly: collected through a filter, the fleet's vector would grow by doubling.
    let mut hosts = Vec::with_capacity(
        checked
            .iter()
            .filter(|(_, checked)| checked.as_ref().is_some_and(|(host, ..)| host.is_some()))
            .count(),
    );
    hosts.extend(
        checked
            .into_iter()
            .filter_map(|(_, checked)| checked.and_then(|(host, ..)| host))
            .map(|host| *host),
    );
    Some((catalog, hosts))
}

/// One host checked on its own, whatever the rest of the fleet holds (for `show`): `None` when a
/// value it uses is wrong. Fleet-wide rules (unique addresses...) are not checked here; the caller
/// has their diagnostics.
pub fn check_one_host(definitions: &Definitions, name: &str) -> Option<crate::model::Host> {
    let (_, site) = definitions.site.as_ref()?;
    let mut scratch = Diagnostics::default();
    let catalog = catalog::check_site(site, &definitions.root, &mut scratch);
    let definition = definitions.hosts.iter().find(|d| d.name == name)?;
    host::HostChecker::new(definition, &catalog, &mut scratch)
        .check()
        .0
}

/// dracut's `bond=` takes the bonding options comma-separated, so an option whose value holds a comma
/// (several `arp_ip_target`s) cannot reach the installer.
fn check_installer_network(
    site_file: &crate::definition::schema::SiteFile,
    site: &crate::model::Site,
    host: &Host,
    diagnostics: &mut Diagnostics,
) {
    if !site.pxe.as_ref().is_some_and(|p| p.installer_vlan) || host.boot_mac.is_none() {
        return;
    }
    let Some(at) = site_file
        .pxe
        .as_ref()
        .and_then(|p| p.value.installer_vlan.as_ref())
        .map(|v| v.at.clone())
    else {
        return;
    };
    for option in &host.bond.options {
        let (name, value) = (option.name, option.value.to_string());
        if !value.contains(',') {
            continue;
        }
        diagnostics.error(
            &at,
            format!(
                "pxe.installer-vlan: host {}'s bond option {name}={value} cannot be given to dracut, whose bond= options are comma-separated; give it one value, or let the installer use DHCP on the boot NIC (installer-vlan = false)",
                host.name
            ),
        );
    }
}
