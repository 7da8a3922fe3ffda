//! The next free management address and container slice of a VLAN, for `hostnet new`: never the
//! network, broadcast or gateway address, never one a host of the fleet uses, a slice aligned to
//! its size that overlaps no host's and does not hold the gateway.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::model::{Fleet, Vlan};

/// What the fleet already uses in `vlan`: each host's management address, container slice and
/// bridge address; and what no host may have: the gateway, the network and broadcast addresses.
fn taken(fleet: &Fleet, vlan: &Vlan) -> Vec<Ipv4Net> {
    let mut taken = vec![
        Ipv4Net::from(vlan.gateway),
        Ipv4Net::from(vlan.subnet.network()),
        Ipv4Net::from(vlan.subnet.broadcast()),
    ];
    for host in &fleet.hosts {
        if host.management.vlan.id == vlan.id {
            taken.push(Ipv4Net::from(host.management.address.addr()));
        }
        if host.containers.vlan.id == vlan.id {
            taken.push(host.containers.slice);
            taken.push(Ipv4Net::from(host.containers.bridge_address.addr()));
        }
    }
    taken
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The lowest host address of `vlan` nothing in the fleet uses.
pub fn next_address(fleet: &Fleet, vlan: &Vlan) -> Result<Ipv4Addr, String> {
    let taken = taken(fleet, vlan);
    vlan.subnet
        .hosts()
        .find(|address| {
            let address = Ipv4Net::from(*address);
            !taken.iter().any(|used| overlaps(used, &address))
        })
        .ok_or_else(|| {
            format!(
                "VLAN {} ({}) is full: every address of {} is used; widen its subnet in site.toml or put the host on another VLAN",
                vlan.name, vlan.id, vlan.subnet
            )
        })
}

/// The size of the container slices hosts in `vlan` have (the most common one), else a /28.
pub fn slice_prefix(fleet: &Fleet, vlan: &Vlan) -> u8 {
    let mut counts = std::collections::BTreeMap::new();
    for host in fleet
        .hosts
        .iter()
        .filter(|h| h.containers.vlan.id == vlan.id)
    {
        *counts
            .entry(host.containers.slice.prefix_len())
            .or_insert(0usize) += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(prefix, count)| (*count, *prefix))
        .map_or(28, |(prefix, _)| prefix)
}

/// The lowest slice of `prefix` in `vlan` that overlaps nothing the fleet uses and does not hold
/// the VLAN's gateway.
pub fn next_slice(fleet: &Fleet, vlan: &Vlan, prefix: u8) -> Result<Ipv4Net, String> {
    let taken = taken(fleet, vlan);
    let full = || {
        format!(
            "VLAN {} ({}) has no free /{prefix} slice left in {}; widen its subnet in site.toml, or put the host's containers on another VLAN",
            vlan.name, vlan.id, vlan.subnet
        )
    };
    let slices = vlan.subnet.subnets(prefix).map_err(|_| full())?;
    slices
        .into_iter()
        .find(|slice| !taken.iter().any(|used| overlaps(used, slice)))
        .ok_or_else(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vlan(subnet: &str, gateway: &str) -> Vlan {
        Vlan {
            id: 51,
            name: "v".into(),
            subnet: subnet.parse().unwrap(),
            gateway: gateway.parse().unwrap(),
            dns: Vec::new(),
            mtu: None,
        }
    }

    fn empty() -> Fleet {
        Fleet {
            site: Default::default(),
            hosts: Vec::new(),
        }
    }

    #[test]
    fn the_gateway_and_the_ends_of_the_subnet_are_never_given() {
        let v = vlan("10.0.0.0/30", "10.0.0.1");
        assert_eq!(next_address(&empty(), &v), Ok("10.0.0.2".parse().unwrap()));
        let tiny = vlan("10.0.0.0/30", "10.0.0.2");
        assert_eq!(
            next_address(&empty(), &tiny),
            Ok("10.0.0.1".parse().unwrap())
        );
    }

    #[test]
    fn a_slice_never_holds_the_gateway_and_a_full_vlan_says_so() {
        let v = vlan("172.20.0.0/26", "172.20.0.62");
        let slice = next_slice(&empty(), &v, 28).unwrap();
        assert_eq!(
            slice,
            "172.20.0.16/28".parse::<Ipv4Net>().unwrap(),
            "not the network's"
        );
        let small = vlan("172.20.0.0/28", "172.20.0.1");
        let error = next_slice(&empty(), &small, 28).unwrap_err();
        assert!(error.contains("no free /28 slice"), "{error}");
    }
}
