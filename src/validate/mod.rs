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

use crate::definition::{Definitions, HostDefinition};
use crate::diagnostic::Diagnostics;
use crate::model::Fleet;

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
    if definitions.site.is_none() {
        // Nothing can be checked without the site, but each host file's own problems are found.
        definitions.layer_all(diagnostics);
        return None;
    }
    let host_files = definitions.take_unlayered();
    let definitions = &*definitions;
    let (_, site) = definitions.site.as_ref()?;
    let catalog = catalog::check_site(site, &definitions.root, diagnostics);
    // Each host checks on its own (the fleet-wide rules come after), so hosts spread over the
    // cores; their problems are then reported in definition order, as one pass would.
    // Boxed: these wait in one vector for the fleet's other hosts, beside the vector the checked
    // hosts move into.
    let check_definition = |definition: &HostDefinition| {
        let mut found = Diagnostics::default();
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
        (host.map(Box::new), host_facts, found)
    };
    // Each host's file problems, then, for a host whose file parsed, its check.
    let mut checked: Vec<(Diagnostics, Option<_>)> = definitions
        .hosts
        .par_iter()
        .map(|definition| (Diagnostics::default(), Some(check_definition(definition))))
        .collect();
    // Each host layered just before it is checked, its definition freed just after: the fleet's
    // definitions are never all in memory.
    checked.par_extend(host_files.into_par_iter().map(|file| {
        let (definition, parsing) = definitions.layer(file);
        (parsing, definition.as_ref().map(check_definition))
    }));
    // As loading every host and then checking each would report them: files first.
    for (parsing, _) in &mut checked {
        diagnostics.append(std::mem::take(parsing));
    }
    for (_, _, found) in checked
        .iter_mut()
        .filter_map(|(_, checked)| checked.as_mut())
    {
        diagnostics.append(std::mem::take(found));
    }
    // Compared where they are, not moved into a vector of their own (some 460 bytes a host).
    let facts: Vec<&host::HostFacts> = checked
        .iter()
        .filter_map(|(_, checked)| checked.as_ref().map(|(_, facts, _)| facts))
        .collect();
    fleet::check_fleet(&facts, &definitions.sources, diagnostics);
    drop(facts);
    // Sized exactly: collected through a filter, the fleet's vector would grow by doubling.
    let mut hosts = Vec::with_capacity(
        checked
            .iter()
            .filter(|(_, checked)| checked.as_ref().is_some_and(|(host, _, _)| host.is_some()))
            .count(),
    );
    hosts.extend(
        checked
            .into_iter()
            .filter_map(|(_, checked)| checked.and_then(|(host, _, _)| host))
            .map(|host| *host),
    );
    check_installer_network(site, &catalog.site, &hosts, diagnostics);
    if diagnostics.has_errors() {
        return None;
    }
    Some(Fleet {
        site: catalog.site,
        hosts,
    })
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
    hosts: &[crate::model::Host],
    diagnostics: &mut Diagnostics,
) {
    if !site.pxe.as_ref().is_some_and(|p| p.installer_vlan) {
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
    for host in hosts.iter().filter(|h| h.boot_mac.is_some()) {
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
}
