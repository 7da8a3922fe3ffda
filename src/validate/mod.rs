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

use crate::definition::Definitions;
use crate::diagnostic::Diagnostics;
use crate::model::{Fleet, Host};

/// Checks everything; returns the fleet only when there is no error (warnings are allowed).
pub fn check(definitions: &Definitions, diagnostics: &mut Diagnostics) -> Option<Fleet> {
    let (_, site_file) = definitions.site.as_ref()?;
    let catalog = catalog::check_site(site_file, &definitions.root, diagnostics);
    // Each host checks on its own (the fleet-wide rules come after), so hosts spread over the
    // cores; their problems are then reported in definition order, as one pass would.
    let mut checked: Vec<(Option<Host>, host::HostFacts, Diagnostics)> = definitions
        .hosts
        .par_iter()
        .map(|definition| {
            let mut found = Diagnostics::default();
            let (host, facts) = host::HostChecker::new(definition, &catalog, &mut found).check();
            // A host is only ever left out with a reason; never let one vanish silently.
            if host.is_none() && found.error_reports() == 0 {
                found.error(
                    &crate::source::Location::file_start(definition.file),
                    format!(
                        "host {} could not be checked (a hostnet bug: please report it with this file)",
                        definition.name
                    ),
                );
            }
            (host, facts, found)
        })
        .collect();
    for (_, _, found) in &mut checked {
        diagnostics.append(std::mem::take(found));
    }
    let facts: Vec<&host::HostFacts> = checked.iter().map(|(_, facts, _)| facts).collect();
    fleet::check_fleet(&facts, &definitions.sources, diagnostics);
    for host in checked.iter().filter_map(|(host, ..)| host.as_ref()) {
        check_installer_network(site_file, &catalog.site, host, diagnostics);
    }
    let targets: std::collections::BTreeSet<crate::model::Target> = checked
        .iter()
        .filter_map(|(host, ..)| host.as_ref().map(|h| h.target))
        .collect();
    check_installers_per_target(site_file, &catalog.site, &targets, diagnostics);
    if diagnostics.has_errors() {
        return None;
    }
    Some(Fleet {
        site: catalog.site,
        hosts: checked.into_iter().filter_map(|(host, ..)| host).collect(),
    })
}

/// Checks host files that are not on disk (yet), one at a time, against the site's catalog: for
/// `hostnet import`, which tries the settings it found before it writes anything.
pub struct HostTextChecker {
    catalog: catalog::Catalog,
}

impl HostTextChecker {
    /// `None` without a site (already reported by loading).
    pub fn new(definitions: &Definitions) -> Option<HostTextChecker> {
        let (_, site) = definitions.site.as_ref()?;
        let mut scratch = Diagnostics::default();
        let catalog = catalog::check_site(site, &definitions.root, &mut scratch);
        Some(HostTextChecker { catalog })
    }

    /// The model of `text` as a host file at `path`, and what checking it found.
    pub fn check(
        &self,
        definitions: &mut Definitions,
        path: &std::path::Path,
        text: &str,
    ) -> (Option<Host>, Diagnostics) {
        let (definition, mut found) = definitions.layer_text(path, text);
        let Some(definition) = definition else {
            return (None, found);
        };
        let host = host::HostChecker::new(&definition, &self.catalog, &mut found)
            .check()
            .0;
        (host.filter(|_| !found.has_errors()), found)
    }
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

/// Each release installs from its own tree and boots its own installer: two targets of the fleet's
/// hosts that would share one (the site's, with no `targets.TARGET` of their own) are an error.
fn check_installers_per_target(
    site_file: &crate::definition::schema::SiteFile,
    site: &crate::model::Site,
    targets: &std::collections::BTreeSet<crate::model::Target>,
    diagnostics: &mut Diagnostics,
) {
    let shared = |of: &dyn Fn(crate::model::Target) -> String| -> Option<(String, String, String)> {
        let mut seen: Vec<(crate::model::Target, String)> = Vec::new();
        for &target in targets {
            let value = of(target);
            if let Some((first, _)) = seen.iter().find(|(_, v)| *v == value) {
                return Some((first.to_string(), target.to_string(), value));
            }
            seen.push((target, value));
        }
        None
    };
    if let (Some(kickstart), Some(section)) = (&site.kickstart, &site_file.kickstart)
        && let Some((first, second, url)) =
            shared(&|target| kickstart.for_target(target).install_url)
    {
        diagnostics.error(&section.at, format!("kickstart: {first} and {second} hosts would install from the same tree ({url}); give each target its own, e.g. [kickstart.targets.{second}] install-url = \"...\""));
    }
    if let (Some(pxe), Some(section)) = (&site.pxe, &site_file.pxe)
        && let Some((first, second, kernel)) = shared(&|target| pxe.for_target(target).kernel)
    {
        diagnostics.error(&section.at, format!("pxe: {first} and {second} hosts would boot the same installer ({kernel}); give each target its own, e.g. [pxe.targets.{second}] kernel = \"...\" and initrd = \"...\""));
    }
    // Services that mean nothing where NetworkManager owns the network, said where they are set.
    let Some(managed) = targets.iter().find(|t| t.network_manager()) else {
        return;
    };
    let Some(section) = &site_file.kickstart else {
        return;
    };
    for (field, key, service, meaning) in [
        (
            &section.value.services_enabled,
            "services-enabled",
            "network",
            "there is no network.service to enable (network-scripts are gone on el9, deprecated on el8); their kickstarts leave it out",
        ),
        (
            &section.value.services_disabled,
            "services-disabled",
            "NetworkManager",
            "NetworkManager owns their network; their kickstarts keep it enabled",
        ),
    ] {
        if let Some(list) = field
            && list.value.iter().any(|s| s == service)
        {
            diagnostics.warning(
                &list.at,
                format!(
                    "kickstart.{key}: {service:?} means nothing for {managed} hosts: {meaning}"
                ),
            );
        }
    }
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
        let (name, value) = (option.name(), option.value());
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
