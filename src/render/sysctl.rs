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

/// Every setting of the sysctl file, in its order, each key in the dotted form: forwarding on,
/// `rp_filter` off on the path, then the definition's own. The file and the expected state
/// (`hostnet-verify`) are both written from this.
pub fn settings(host: &Host) -> Vec<(String, String)> {
    let mut settings = vec![("net.ipv4.ip_forward".to_string(), "1".to_string())];
    settings.extend(rp_filter_interfaces(host).iter().map(|interface| {
        let key = format!("net.ipv4.conf.{}.rp_filter", interface_key(interface));
        (key, "0".to_string())
    }));
    settings.extend(host.sysctl.iter().cloned());
    settings
}

pub fn render(host: &Host) -> RenderedFile {
    let mut content = header(host, "#");
    for (key, value) in settings(host) {
        content.push_str(&format!("{key} = {value}\n"));
    }
    RenderedFile {
        path: SYSCTL_FILE.into(),
        mode: 0o644,
        content,
    }
}
