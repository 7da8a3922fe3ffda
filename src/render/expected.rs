//! `/usr/share/hostnet/expected-state`: what the running host looks like once its package's files
//! are in effect, for `hostnet-verify` (in `tools/`) to compare against the kernel. One check a
//! line, tab-separated: kind, object, property, value. Read line by line, never sourced, and every
//! value comes from the checked model (no tab, no newline).

use super::{RenderedFile, header, sysctl};
use crate::model::Host;

pub const EXPECTED_STATE_FILE: &str = "/usr/share/hostnet/expected-state";

/// A sysctl name as its `/proc/sys` path: `net.ipv4.conf.bond0/51.rp_filter` is
/// `net/ipv4/conf/bond0.51/rp_filter`.
fn proc_path(canonical: &str) -> String {
    canonical
        .split('.')
        .map(|part| part.replace('/', "."))
        .collect::<Vec<_>>()
        .join("/")
}

pub fn render(host: &Host) -> RenderedFile {
    let bond = &host.bond;
    let management = &host.management;
    let containers = &host.containers;
    let mut lines: Vec<[String; 4]> = Vec::new();
    let mut line = |kind: &str, object: &str, property: &str, value: String| {
        lines.push([kind.into(), object.into(), property.into(), value]);
    };
    line("bond", &bond.name, "mode", bond.mode.name().into());
    line("bond", &bond.name, "slaves", bond.slaves.join(" "));
    line("bond", &bond.name, "miimon", bond.miimon.to_string());
    for option in &bond.options {
        let value = option.value.to_string().replace(',', " ");
        line("bond", &bond.name, option.name, value);
    }
    if let Some(mtu) = bond.mtu {
        line("link", &bond.name, "mtu", mtu.to_string());
    }
    for slave in &bond.slaves {
        line("link", slave, "master", bond.name.to_string());
    }
    for (interface, vlan) in [
        (&management.interface, &management.vlan),
        (&containers.interface, &containers.vlan),
    ] {
        if interface == &bond.name {
            continue;
        }
        line("vlan", interface, "id", vlan.id.to_string());
        line("vlan", interface, "lower", bond.name.to_string());
        if let Some(mtu) = vlan.mtu {
            line("link", interface, "mtu", mtu.to_string());
        }
    }
    line(
        "link",
        &containers.interface,
        "master",
        containers.bridge.to_string(),
    );
    line(
        "address",
        &management.interface,
        "ipv4",
        management.address.to_string(),
    );
    line(
        "address",
        &containers.bridge,
        "ipv4",
        containers.bridge_address.to_string(),
    );
    line(
        "route",
        "default",
        "via",
        format!("{} dev {}", management.gateway, management.interface),
    );
    line("sysctl", "net/ipv4/ip_forward", "value", "1".into());
    for interface in sysctl::rp_filter_interfaces(host) {
        line(
            "sysctl",
            &format!("net/ipv4/conf/{interface}/rp_filter"),
            "value",
            "0".into(),
        );
    }
    for (key, value) in &host.sysctl {
        line("sysctl", &proc_path(key), "value", value.clone());
    }
    let docker = &host.docker;
    let mut args = docker.base_args.clone();
    args.extend(super::docker::dockerd_flags(host));
    line("dockerd", &docker.dockerd, "args", args.join(" "));

    let mut content = header(host, "#");
    content.push_str("# kind\tobject\tproperty\tvalue; read by hostnet-verify\n");
    for [kind, object, property, value] in lines {
        content.push_str(&format!("{kind}\t{object}\t{property}\t{value}\n"));
    }
    RenderedFile {
        path: EXPECTED_STATE_FILE.into(),
        mode: 0o644,
        content,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_names_become_proc_paths() {
        assert_eq!(
            proc_path("net.ipv4.conf.bond0/51.rp_filter"),
            "net/ipv4/conf/bond0.51/rp_filter"
        );
        assert_eq!(proc_path("net.core.somaxconn"), "net/core/somaxconn");
    }
}
