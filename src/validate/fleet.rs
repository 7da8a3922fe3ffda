//! Rules across hosts: names, addresses and MACs are unique, and container slices do not overlap.

use std::collections::HashMap;

use ipnet::Ipv4Net;

use super::host::HostFacts;
use crate::diagnostic::Diagnostics;
use crate::source::{Location, SourceMap};

/// A range of addresses one host takes on one VLAN.
struct Claim<'a> {
    vlan: u16,
    range: Ipv4Net,
    what: &'static str,
    key: &'static str,
    host: &'a HostFacts,
    at: &'a Location,
}

pub fn check_fleet(hosts: &[&HostFacts], sources: &SourceMap, diagnostics: &mut Diagnostics) {
    let mut names: HashMap<&str, &Location> = HashMap::with_capacity(hosts.len());
    for host in hosts {
        match names.get(host.name.as_str()) {
            Some(first_at) => diagnostics.error_about(
                &host.locations.file,
                format!(
                    "host name: {} is also the name of {}; a host is named by its file name, whatever its folder, so rename one of the files",
                    host.name,
                    describe(first_at, sources)
                ),
                [&host.name, &host.name],
            ),
            None => {
                names.insert(&host.name, &host.locations.file);
            }
        }
    }
    unique(
        hosts,
        sources,
        diagnostics,
        "fqdn",
        "give each host its own name",
        |h| h.fqdn.as_deref().map(|f| (f, &h.locations.fqdn)),
    );
    unique(
        hosts,
        sources,
        diagnostics,
        "boot-mac",
        "each machine has its own NIC",
        |h| h.boot_mac.map(|m| (m, &h.locations.boot_mac)),
    );

    let mut claims = Vec::new();
    for host in hosts {
        let locations = &host.locations;
        if let Some(m) = &host.management {
            claims.push(Claim {
                vlan: m.vlan.id,
                range: Ipv4Net::from(m.address.addr()),
                what: "management address",
                key: "management.address",
                host,
                at: &locations.address,
            });
        }
        let Some(c) = &host.containers else { continue };
        claims.push(Claim {
            vlan: c.vlan.id,
            range: c.slice,
            what: "container slice",
            key: "containers.slice",
            host,
            at: &locations.slice,
        });
        if !c.slice.contains(&c.bridge_address.addr()) {
            claims.push(Claim {
                vlan: c.vlan.id,
                range: Ipv4Net::from(c.bridge_address.addr()),
                what: "bridge address",
                key: "containers.bridge-address",
                host,
                at: &locations.bridge_address,
            });
        }
    }
    claims.sort_by_key(|c| {
        (
            c.vlan,
            c.range.network(),
            std::cmp::Reverse(c.range.prefix_len()),
        )
    });
    for (i, first) in claims.iter().enumerate() {
        for second in &claims[i + 1..] {
            if second.vlan != first.vlan || second.range.network() > first.range.broadcast() {
                break;
            }
            if std::ptr::eq(first.host, second.host) {
                continue;
            }
            let (earlier, later) = order(first, second, sources);
            diagnostics.error_about(
                later.at,
                format!(
                    "{}: {} {} of host {} overlaps {} {} of host {} ({}) in VLAN {}; give each host its own addresses",
                    later.key,
                    later.what,
                    later.range,
                    later.host.name,
                    earlier.what,
                    earlier.range,
                    earlier.host.name,
                    describe(earlier.at, sources),
                    later.vlan
                ),
                [&later.host.name, &earlier.host.name],
            );
        }
    }
}

/// Reports the second and later holders of a value that must be unique. Two hosts of the same
/// name are left out: that is reported as a name clash, and what such a pair shares (the fqdn
/// both derive from the name, a copied file's boot MAC) would only repeat it. The values are
/// borrowed or small copies: a fleet-long map of them is made.
fn unique<'a, K: std::hash::Hash + Eq + std::fmt::Display>(
    hosts: &[&'a HostFacts],
    sources: &SourceMap,
    diagnostics: &mut Diagnostics,
    what: &str,
    fix: &str,
    key: impl Fn(&'a HostFacts) -> Option<(K, &'a Location)>,
) {
    let mut seen: HashMap<K, (&HostFacts, &Location)> = HashMap::with_capacity(hosts.len());
    for &host in hosts {
        let Some((value, at)) = key(host) else {
            continue;
        };
        if let Some((first, first_at)) = seen.get(&value) {
            if first.name == host.name {
                continue;
            }
            diagnostics.error_about(
                at,
                format!(
                    "{what}: {value} of host {} is also used by host {} ({}); {fix}",
                    host.name,
                    first.name,
                    describe(first_at, sources)
                ),
                [&host.name, &first.name],
            );
        } else {
            seen.insert(value, (host, at));
        }
    }
}

fn order<'c, 'a>(
    a: &'c Claim<'a>,
    b: &'c Claim<'a>,
    sources: &SourceMap,
) -> (&'c Claim<'a>, &'c Claim<'a>) {
    let key = |c: &Claim| (sources.path(c.host.source).to_path_buf(), c.at.span.start);
    if key(a) <= key(b) { (a, b) } else { (b, a) }
}

fn describe(at: &Location, sources: &SourceMap) -> String {
    let (line, col) = sources.line_col(at.file, at.span.start);
    format!("{}:{line}:{col}", sources.path(at.file).display())
}
