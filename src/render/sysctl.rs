//! `/etc/sysctl.d/90-hostnet.conf`: forwarding on, reverse-path filtering off on every interface a
//! container's packet crosses (the seed's "martian" pitfall). It sorts after
//! `/usr/lib/sysctl.d/50-default.conf`, which sets `rp_filter=1`.

use super::{RenderedFile, SYSCTL_FILE, header};
use crate::model::Host;

/// The interface part of a sysctl key: `bond0.51` is written `bond0/51` (with a dot the key would
/// silently match nothing).
pub fn interface_key(interface: &str) -> String {
    interface.replace('.', "/")
}

/// Every interface whose own rp_filter must be 0: the effective value is max(all, interface).
pub fn rp_filter_interfaces(host: &Host) -> Vec<String> {
    crate::model::path_interfaces(
        Some(&host.bond.name),
        Some(&host.management),
        Some(&host.containers),
    )
}

pub fn render(host: &Host) -> RenderedFile {
    let mut content = header(host, "#");
    content.push_str("net.ipv4.ip_forward = 1\n");
    for interface in rp_filter_interfaces(host) {
        content.push_str(&format!(
            "net.ipv4.conf.{}.rp_filter = 0\n",
            interface_key(&interface)
        ));
    }
    for (key, value) in &host.sysctl {
        content.push_str(&format!("{key} = {value}\n"));
    }
    RenderedFile {
        path: SYSCTL_FILE.into(),
        mode: 0o644,
        content,
    }
}
