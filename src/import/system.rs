//! The sysctl settings and kernel modules a host loads besides what hostnet writes.

use toml::Value;

use super::{Collected, Imported};

/// The sysctl settings hostnet does not write itself (it writes `ip_forward` and `rp_filter`),
/// from every sysctl file; the original write-up set `rp_filter` at runtime only.
pub(super) fn sysctl(collected: &Collected, imported: &mut Imported) {
    let mut files: Vec<(&str, &str)> = collected
        .files
        .get_key_value("etc/sysctl.conf")
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .into_iter()
        .collect();
    files.extend(
        collected
            .under("etc/sysctl.d")
            .filter(|(p, _)| p.ends_with(".conf")),
    );
    let mut rp_filter_in_a_file = false;
    for (path, text) in files {
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                imported.note(
                    path,
                    number + 1,
                    format!("{line:?} is not key = value: left out"),
                );
                continue;
            };
            let (key, value) = (key.trim().trim_start_matches('-'), value.trim());
            let dotted = key.replace('/', ".");
            if dotted.ends_with(".rp_filter") {
                rp_filter_in_a_file = true;
            }
            let managed = dotted == "net.ipv4.ip_forward"
                || dotted.ends_with(".rp_filter")
                || dotted.ends_with(".forwarding");
            if managed {
                continue;
            }
            imported.set("sysctl", key, Value::String(value.to_string()));
            if !path.ends_with("/90-hostnet.conf") {
                imported.note(
                    path,
                    number + 1,
                    format!("{key} = {value}: now also in hostnet's sysctl file"),
                );
            }
        }
    }
    if !rp_filter_in_a_file {
        imported.note("etc/sysctl.d", 0, "rp_filter is set in no sysctl file: set at runtime only (sysctl -w, as the original write-up did), it is lost at reboot; hostnet's sysctl file sets it");
    }
}

pub(super) fn modules(collected: &Collected, imported: &mut Imported) {
    for (path, text) in collected.under("etc/modules-load.d") {
        for (number, line) in text.lines().enumerate() {
            let module = line.trim();
            if module.is_empty() || module.starts_with('#') || module == "bonding" {
                continue;
            }
            imported.note(
                path,
                number + 1,
                format!("loads {module}: left as it is (hostnet loads bonding only)"),
            );
        }
    }
}
