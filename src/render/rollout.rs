//! `/usr/share/hostnet/apply-settings`: the host definition's `[rollout]` for `hostnet-apply` (in
//! `tools/`): the rollback window and the probes, and for el8/el9 the network stack and its
//! profiles, one a line, tab-separated, read line by line and
//! never sourced. Every value comes from the checked model (no tab, no newline).

use super::{RenderedFile, header};
use crate::model::Host;

pub const APPLY_SETTINGS_FILE: &str = "/usr/share/hostnet/apply-settings";

pub fn render(host: &Host) -> RenderedFile {
    let rollout = &host.rollout;
    let mut lines = vec![
        format!("rollback-after\t{}", rollout.rollback_after),
        format!("probe-timeout\t{}", rollout.probe_timeout),
    ];
    let management = &host.management;
    if rollout.probe_gateway {
        lines.push(format!(
            "probe-gateway\t{}\t{}",
            management.interface, management.gateway
        ));
    }
    if rollout.probe_dns {
        for server in &management.dns {
            lines.push(format!("probe-dns\t{server}"));
        }
    }
    for url in rollout.probe_repository.iter().chain(&rollout.probe_urls) {
        lines.push(format!("probe-url\t{url}"));
    }
    // Under NetworkManager, hostnet-apply brings the profiles up by id (each keyfile's id is its
    // device), controllers before what hangs from them.
    if host.target.network_manager() {
        lines.push("network\tNetworkManager".into());
        let bond = &host.bond;
        let containers = &host.containers;
        let mut profiles = vec![&bond.name];
        profiles.extend(&bond.slaves);
        if management.tagged {
            profiles.push(&management.interface);
        }
        profiles.extend([&containers.bridge, &containers.interface]);
        lines.extend(profiles.into_iter().map(|id| format!("profile\t{id}")));
    }
    let mut content = header(host, "#");
    content
        .push_str("# setting\tvalue...; read by hostnet-apply, from the definition's [rollout]\n");
    for line in lines {
        content.push_str(&line);
        content.push('\n');
    }
    RenderedFile {
        path: APPLY_SETTINGS_FILE.into(),
        mode: 0o644,
        content,
    }
}
