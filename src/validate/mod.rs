//! Turns loaded definitions into the checked [`Fleet`], reporting every problem at once.
//!
//! Per host: names, VLAN references, addresses inside their subnets, bonding options valid for the
//! mode, and a small grammar for every value that reaches a shell-sourced file, a scriptlet, a systemd
//! unit or a kickstart. Across the fleet: unique names, addresses and MACs, disjoint container slices.

pub mod bonding;
pub mod catalog;
pub mod fleet;
pub mod host;
pub mod kickstart;
pub mod values;

use crate::definition::Definitions;
use crate::diagnostic::Diagnostics;
use crate::model::Fleet;

/// Checks everything; returns the fleet only when there is no error (warnings are allowed).
pub fn check(definitions: &Definitions, diagnostics: &mut Diagnostics) -> Option<Fleet> {
    let (_, site) = definitions.site.as_ref()?;
    let catalog = catalog::check_site(site, &definitions.root, diagnostics);
    let mut hosts = Vec::new();
    let mut facts = Vec::new();
    for definition in &definitions.hosts {
        let (host, host_facts) = host::HostChecker::new(definition, &catalog, diagnostics).check();
        hosts.extend(host);
        facts.push(host_facts);
    }
    fleet::check_fleet(&facts, &definitions.sources, diagnostics);
    if diagnostics.has_errors() {
        return None;
    }
    Some(Fleet {
        site: catalog.site,
        hosts,
    })
}
