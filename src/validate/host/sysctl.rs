//! `[sysctl]`: further kernel parameters, checked against the ones hostnet manages itself.

use super::HostChecker;
use crate::definition::schema::ScalarValue;
use crate::model::{Bond, Containers, Management};

impl HostChecker<'_> {
    pub(super) fn sysctl(
        &mut self,
        bond: Option<&Bond>,
        management: Option<&Management>,
        containers: Option<&Containers>,
    ) -> Option<Vec<(String, String)>> {
        let mut managed = vec!["net.ipv4.ip_forward".to_string()];
        let interfaces =
            crate::model::path_interfaces(bond.map(|b| b.name.as_str()), management, containers);
        // `forwarding` per interface is ip_forward's other half: `all.forwarding = 0` is
        // `ip_forward = 0`, and 0 on one interface of the path stops containers' traffic there.
        for interface in interfaces {
            for setting in ["rp_filter", "forwarding"] {
                managed.push(format!(
                    "net.ipv4.conf.{}.{setting}",
                    interface.replace('.', "/")
                ));
            }
        }
        let mut out = Vec::new();
        let mut ok = true;
        for (key, value) in &self.def.merged.sysctl {
            let text = value.value.to_string();
            let canonical = match canonical_sysctl_key(key) {
                Ok(canonical) => canonical,
                Err(e) => {
                    self.fields.error(&value.at, format!("sysctl: key {e}"));
                    ok = false;
                    continue;
                }
            };
            if managed.contains(&canonical) {
                let spelling = if &canonical == key {
                    String::new()
                } else {
                    format!(" (written {key:?})")
                };
                self.fields.error(&value.at, format!("sysctl: {canonical}{spelling} is set by hostnet itself: reverse-path filtering must stay off on the container path and forwarding on; remove it"));
                ok = false;
            } else if let Some((first, _)) = out
                .iter()
                .find(|(k, _): &&(String, String)| *k == canonical)
            {
                let first = first.clone();
                self.fields.error(&value.at, format!("sysctl: {key:?} names the same key as another entry ({first}); keep one of them"));
                ok = false;
            } else if let Err(e) = sysctl_value(&text) {
                self.fields.error(&value.at, format!("sysctl.{key:?}: {e}"));
                ok = false;
            } else if matches!(value.value, ScalarValue::Text(_)) && text.trim().is_empty() {
                self.fields
                    .error(&value.at, format!("sysctl.{key:?}: is empty"));
                ok = false;
            } else {
                out.push((canonical, text));
            }
        }
        ok.then_some(out)
    }
}

/// A sysctl name in the one form hostnet compares and writes: dot-separated, with a dot inside a
/// component (an interface name such as `bond0.51`) written as `/`. sysctl and systemd-sysctl read
/// a name whose first separator is `/` as a path instead (`net/ipv4/conf/bond0.51/rp_filter`), so
/// both spellings name the same key and must compare equal.
fn canonical_sysctl_key(key: &str) -> Result<String, String> {
    let path_form = key
        .find(['.', '/'])
        .is_some_and(|i| key[i..].starts_with('/'));
    let components: Vec<String> = if path_form {
        key.split('/').map(String::from).collect()
    } else {
        key.split('.').map(|c| c.replace('/', ".")).collect()
    };
    let valid = components.len() >= 2
        && components.iter().all(|part| {
            !part.is_empty()
                && !part.starts_with('.')
                && !part.ends_with('.')
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        });
    if !valid {
        return Err(format!(
            "{key:?} is not a sysctl name; write dotted names such as net.core.somaxconn"
        ));
    }
    if !path_form {
        let parts: Vec<&str> = key.split('.').collect();
        if parts.len() > 5 && parts[0] == "net" && ["conf", "neigh"].contains(&parts[2]) {
            let interface = parts[3..parts.len() - 1].join(".");
            return Err(format!(
                "{key:?} splits the interface name {interface:?} at its dot, so it would match nothing; write it with a slash: {}.{}.{}",
                parts[..3].join("."),
                interface.replace('.', "/"),
                parts[parts.len() - 1]
            ));
        }
    }
    Ok(components
        .iter()
        .map(|c| c.replace('.', "/"))
        .collect::<Vec<_>>()
        .join("."))
}

/// A value sysctl.d takes as written and hostnet-verify compares word by word: no quoting, no
/// comment or shell character, and no glob character (no sysctl value needs one, and a value that
/// looked like a pattern is exactly what a careless comparison would expand).
fn sysctl_value(value: &str) -> Result<(), String> {
    if let Some(c) = value
        .chars()
        .find(|c| c.is_control() || "\"'`$\\#;*?[]".contains(*c))
    {
        return Err(format!(
            "{value:?} contains {}; sysctl values here are numbers or plain words",
            crate::terminal::describe_char(c)
        ));
    }
    Ok(())
}
