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
    use std::fmt::Write as _;
    let bond = &host.bond;
    let management = &host.management;
    let containers = &host.containers;
    let mut content = header(host, "#");
    content.push_str("# kind\tobject\tproperty\tvalue; read by hostnet-verify\n");
    // Written straight into the file's text: a fleet's `check` renders this for every host.
    let mut line = |kind: &str, object: &str, property: &str, value: &dyn std::fmt::Display| {
        writeln!(content, "{kind}\t{object}\t{property}\t{value}")
            .expect("a String takes any text");
    };
    line("bond", &bond.name, "mode", &bond.mode.name());
    line("bond", &bond.name, "slaves", &bond.slaves.join(" "));
    line("bond", &bond.name, "miimon", &bond.miimon);
    for option in &bond.options {
        let value = option.value().replace(',', " ");
        line("bond", &bond.name, option.name(), &value);
    }
    if let Some(mtu) = bond.mtu {
        line("link", &bond.name, "mtu", &mtu);
    }
    for slave in &bond.slaves {
        line("link", slave, "master", &bond.name);
    }
    for (interface, vlan) in [
        (&management.interface, &management.vlan),
        (&containers.interface, &containers.vlan),
    ] {
        if interface == &bond.name {
            continue;
        }
        line("vlan", interface, "id", &vlan.id);
        line("vlan", interface, "lower", &bond.name);
        if let Some(mtu) = vlan.mtu {
            line("link", interface, "mtu", &mtu);
        }
    }
    line("link", &containers.interface, "master", &containers.bridge);
    line(
        "address",
        &management.interface,
        "ipv4",
        &management.address,
    );
    line(
        "address",
        &containers.bridge,
        "ipv4",
        &containers.bridge_address,
    );
    line(
        "route",
        "default",
        "via",
        &format_args!("{} dev {}", management.gateway, management.interface),
    );
    for (key, value) in sysctl::settings(host) {
        line("sysctl", &proc_path(&key), "value", &value);
    }
    let docker = &host.docker;
    let mut args = docker.base_args.clone();
    args.extend(super::docker::dockerd_flags(host));
    line("dockerd", &docker.dockerd, "args", &args.join(" "));
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
