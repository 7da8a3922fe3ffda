//! The site file: the VLAN catalog and package metadata.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::definition::located::Located;
use crate::definition::schema::{SiteFile, VlanRef};
use crate::diagnostic::Diagnostics;
use crate::model::{PackageMetadata, Site, Vlan};
use crate::settings::{self, SITE};
use crate::source::Location;

use super::values;

/// The checked catalog, with where each VLAN was defined.
pub struct Catalog {
    pub site: Site,
    pub vlan_locations: Vec<Location>,
}

impl Catalog {
    /// Finds a VLAN by id or name, or explains which ones exist.
    pub fn lookup(&self, reference: &VlanRef) -> Result<&Vlan, String> {
        find_vlan(&self.site.vlans, reference).ok_or_else(|| {
            let known: Vec<String> = self.site.vlans.iter().map(|v| format!("{} ({})", v.name, v.id)).collect();
            let what = match reference {
                VlanRef::Id(id) => format!("VLAN id {id}"),
                VlanRef::Name(name) => format!("VLAN {name:?}"),
            };
            if known.is_empty() {
                format!("{what} is not in the catalog, which is empty; add it under [vlans.NAME] in site.toml")
            } else {
                format!("{what} is not in the site's catalog; known VLANs: {}", known.join(", "))
            }
        })
    }
}

/// The VLAN of `vlans` that `reference` names, by id or by name.
pub fn find_vlan<'v>(vlans: &'v [Vlan], reference: &VlanRef) -> Option<&'v Vlan> {
    vlans.iter().find(|vlan| match reference {
        VlanRef::Id(id) => i64::from(vlan.id) == *id,
        VlanRef::Name(name) => vlan.name == *name,
    })
}

const MAX_KEEP_VERSIONS: u32 = 100;

pub fn check_site(
    site_file: &SiteFile,
    hosts_root: &std::path::Path,
    diagnostics: &mut Diagnostics,
) -> Catalog {
    let default_keep_versions: u32 = settings::default_of(SITE, "package.keep-versions");
    let section = &site_file.site;
    let name = match &section.name {
        Some(name) => match values::host_label(&name.value) {
            Ok(()) => name.value.clone(),
            Err(e) => {
                diagnostics.error(&name.at, format!("site.name: {e}"));
                String::new()
            }
        },
        None => settings::default_text(SITE, "site.name").to_string(),
    };
    let domain =
        section
            .domain
            .as_ref()
            .and_then(|domain| match values::domain_name(&domain.value) {
                Ok(()) => Some(domain.value.clone()),
                Err(e) => {
                    diagnostics.error(&domain.at, format!("site.domain: {e}"));
                    None
                }
            });

    let package = &site_file.package;
    let text = |field: &Option<Located<String>>, key: &str, diagnostics: &mut Diagnostics| {
        field
            .as_ref()
            .and_then(|v| match values::plain_text(&v.value) {
                Ok(()) if !v.value.trim().is_empty() => Some(v.value.clone()),
                Ok(()) => {
                    diagnostics.error(
                        &v.at,
                        format!("package.{key}: is empty; leave it out instead"),
                    );
                    None
                }
                Err(e) => {
                    diagnostics.error(&v.at, format!("package.{key}: {e}"));
                    None
                }
            })
    };
    let package = PackageMetadata {
        vendor: text(&package.vendor, "vendor", diagnostics),
        url: text(&package.url, "url", diagnostics),
        license: text(&package.license, "license", diagnostics)
            .unwrap_or_else(|| settings::default_text(SITE, "package.license").into()),
        packager: text(&package.packager, "packager", diagnostics),
        keep_versions: match &package.keep_versions {
            None => default_keep_versions,
            Some(v) if (1..=MAX_KEEP_VERSIONS as i64).contains(&v.value) => v.value as u32,
            Some(v) => {
                diagnostics.error(
                    &v.at,
                    format!(
                        "package.keep-versions: {} is not from 1 to {MAX_KEEP_VERSIONS}; it counts the versions of each host the repository lists, the current one included (default {default_keep_versions})",
                        v.value
                    ),
                );
                default_keep_versions
            }
        },
    };

    let mut vlans = Vec::new();
    let mut vlan_locations = Vec::new();
    for (vlan_name, entry) in &site_file.vlans {
        if let Some(vlan) = check_vlan(vlan_name, entry, diagnostics) {
            vlans.push(vlan);
            vlan_locations.push(entry.at.clone());
        }
    }
    check_catalog_conflicts(&vlans, &vlan_locations, diagnostics);
    let kickstart = site_file
        .kickstart
        .as_ref()
        .and_then(|k| super::kickstart::check_kickstart(k, hosts_root, diagnostics));
    let pxe = site_file
        .pxe
        .as_ref()
        .and_then(|p| super::kickstart::check_pxe(p, diagnostics));
    if let (Some(pxe), None) = (&site_file.pxe, &site_file.kickstart) {
        diagnostics.error(
            &pxe.at,
            "pxe: boot entries point at kickstarts; add a [kickstart] table too".to_string(),
        );
    }
    Catalog {
        site: Site {
            name,
            domain,
            vlans,
            package,
            kickstart,
            pxe,
        },
        vlan_locations,
    }
}

fn check_vlan(
    name: &str,
    entry: &Located<crate::definition::schema::VlanEntry>,
    diagnostics: &mut Diagnostics,
) -> Option<Vlan> {
    let entry_value = &entry.value;
    let key = format!("vlans.{name}");
    let mut ok = true;
    if let Err(e) = values::host_label(name) {
        diagnostics.error(&entry.at, format!("{key}: VLAN name {e}"));
        ok = false;
    }
    let id = entry_value.id.value;
    if !(1..=4094).contains(&id) {
        diagnostics.error(
            &entry_value.id.at,
            format!(
                "{key}.id: {id} is not a VLAN id; use 1 to 4094 (0 and 4095 are reserved by 802.1Q)"
            ),
        );
        ok = false;
    }
    let subnet = match entry_value.subnet.value.parse::<Ipv4Net>() {
        Ok(net) if net == net.trunc() && net.prefix_len() <= 30 => Some(net),
        Ok(net) if net != net.trunc() => {
            diagnostics.error(
                &entry_value.subnet.at,
                format!(
                    "{key}.subnet: {net} has host bits set; did you mean {}?",
                    net.trunc()
                ),
            );
            None
        }
        Ok(net) => {
            diagnostics.error(&entry_value.subnet.at, format!("{key}.subnet: {net} is too small for a gateway and hosts; use a prefix of /30 or shorter"));
            None
        }
        Err(_) => {
            diagnostics.error(&entry_value.subnet.at, format!("{key}.subnet: {:?} is not an IPv4 network; write it as address/prefix, e.g. 10.20.51.0/24", entry_value.subnet.value));
            None
        }
    };
    let gateway = parse_ipv4(&entry_value.gateway, &format!("{key}.gateway"), diagnostics);
    if let (Some(subnet), Some(gateway)) = (subnet, gateway)
        && let Err(e) = usable_address(gateway, subnet)
    {
        diagnostics.error(&entry_value.gateway.at, format!("{key}.gateway: {e}"));
        ok = false;
    }
    let dns = match &entry_value.dns {
        Some(list) => parse_ipv4_list(list, &format!("{key}.dns"), diagnostics)?,
        None => Vec::new(),
    };
    let mtu = match &entry_value.mtu {
        Some(mtu) => Some(check_mtu(mtu, &format!("{key}.mtu"), diagnostics)?),
        None => None,
    };
    if let Some(description) = &entry_value.description
        && let Err(e) = values::plain_text(&description.value)
    {
        diagnostics.error(&description.at, format!("{key}.description: {e}"));
    }
    if !ok {
        return None;
    }
    Some(Vlan {
        id: u16::try_from(id).ok()?,
        name: name.to_string(),
        subnet: subnet?,
        gateway: gateway?,
        dns,
        mtu,
    })
}

fn check_catalog_conflicts(vlans: &[Vlan], locations: &[Location], diagnostics: &mut Diagnostics) {
    for (i, a) in vlans.iter().enumerate() {
        for (b, at) in vlans.iter().zip(locations).skip(i + 1) {
            if a.id == b.id {
                diagnostics.error(at, format!("vlans.{}.id: VLAN id {} is already used by vlans.{}; each VLAN id appears once in the catalog", b.name, b.id, a.name));
            }
            if a.subnet.contains(&b.subnet.network()) || b.subnet.contains(&a.subnet.network()) {
                diagnostics.error(
                    at,
                    format!(
                        "vlans.{}.subnet: {} overlaps vlans.{} ({}); VLAN subnets must be disjoint",
                        b.name, b.subnet, a.name, a.subnet
                    ),
                );
            }
        }
    }
}

pub fn parse_ipv4(
    field: &Located<String>,
    key: &str,
    diagnostics: &mut Diagnostics,
) -> Option<Ipv4Addr> {
    match field.value.parse::<Ipv4Addr>() {
        Ok(addr) => Some(addr),
        Err(_) => {
            diagnostics.error(&field.at, format!("{key}: {:?} is not an IPv4 address; write four numbers 0-255 separated by dots, e.g. 10.20.51.21", field.value));
            None
        }
    }
}

pub fn parse_ipv4_list(
    field: &Located<Vec<String>>,
    key: &str,
    diagnostics: &mut Diagnostics,
) -> Option<Vec<Ipv4Addr>> {
    let mut out = Vec::new();
    let mut ok = true;
    for item in &field.value {
        match item.parse::<Ipv4Addr>() {
            Ok(addr) => out.push(addr),
            Err(_) => {
                diagnostics.error(&field.at, format!("{key}: {item:?} is not an IPv4 address; list addresses such as \"10.20.0.53\""));
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

pub fn check_mtu(field: &Located<i64>, key: &str, diagnostics: &mut Diagnostics) -> Option<u16> {
    match u16::try_from(field.value) {
        Ok(mtu) if (576..=9216).contains(&mtu) => Some(mtu),
        _ => {
            diagnostics.error(&field.at, format!("{key}: {} is not a usable MTU; use 576 to 9216 (1500 is Ethernet's default, 9000 for jumbo frames)", field.value));
            None
        }
    }
}

/// An address a host may take in `subnet`: inside it, neither its network nor its broadcast address.
pub fn usable_address(addr: Ipv4Addr, subnet: Ipv4Net) -> Result<(), String> {
    let problem = if !subnet.contains(&addr) {
        "is outside the subnet"
    } else if addr == subnet.network() {
        "is the network address of"
    } else if addr == subnet.broadcast() {
        "is the broadcast address of"
    } else {
        return Ok(());
    };
    let mut hosts = subnet.hosts();
    let range = match (hosts.next(), hosts.next_back()) {
        (Some(first), Some(last)) => format!("use an address from {first} to {last}"),
        _ => format!("{subnet} has no host addresses"),
    };
    Err(format!("{addr} {problem} {subnet}; {range}"))
}
