//! One ifcfg file, read as network-scripts' shell would read its assignments, without running
//! anything: `KEY=value`, `KEY="value"` (with `\"`, `\\`, `\$` and `` \` `` escapes) or
//! `KEY='value'`. A value the shell would expand or run (`$`, a backtick, `;`, a space outside
//! quotes...) is not taken: it is noted, with its line.

use std::collections::BTreeMap;

use ipnet::Ipv4Net;

use super::{Imported, address_with_prefix};

pub(super) struct Ifcfg {
    /// Relative to `/`.
    pub file: String,
    /// `DEVICE=`, else the file name's suffix.
    pub device: String,
    keys: BTreeMap<String, (String, usize)>,
}

impl Ifcfg {
    pub fn parse(file: &str, name: &str, text: &str, imported: &mut Imported) -> Ifcfg {
        let mut keys = BTreeMap::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, raw)) = line.split_once('=') else {
                imported.note(
                    file,
                    number + 1,
                    format!("{line:?} is not KEY=value: left out"),
                );
                continue;
            };
            let plain_key = !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            match (plain_key, unquote(raw)) {
                (true, Some(value)) => {
                    keys.insert(key.to_string(), (value, number + 1));
                }
                _ => imported.note(file, number + 1, format!(
                    "{line:?}: the shell would expand or run part of it; not read (hostnet writes only plain values)"
                )),
            }
        }
        let device = keys
            .get("DEVICE")
            .map_or_else(|| name.to_string(), |(device, _)| device.clone());
        if device.contains(':') {
            imported.note(
                file,
                0,
                format!(
                    "{device} is an alias address, which a definition cannot say: left as it is"
                ),
            );
        }
        Ifcfg {
            file: file.to_string(),
            device,
            keys,
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.keys.get(key).map(|(value, _)| value.as_str())
    }

    pub fn line_of(&self, key: &str) -> usize {
        self.keys.get(key).map_or(0, |(_, line)| *line)
    }

    pub fn number(&self, key: &str) -> Option<i64> {
        self.get(key)?.parse().ok()
    }

    /// `IPADDR` with `PREFIX` (or `NETMASK`); noted when unreadable.
    pub fn address(&self, imported: &mut Imported) -> Option<Ipv4Net> {
        let address = self.get("IPADDR")?;
        let prefix = match (self.get("PREFIX"), self.get("NETMASK")) {
            (Some(prefix), _) => prefix.parse::<u8>().ok(),
            (None, Some(mask)) => mask
                .parse::<std::net::Ipv4Addr>()
                .ok()
                .and_then(|mask| ipnet::ipv4_mask_to_prefix(mask).ok()),
            (None, None) => None,
        };
        let parsed = prefix.and_then(|prefix| address_with_prefix(address, prefix));
        if parsed.is_none() {
            imported.error(
                &self.file,
                self.line_of("IPADDR"),
                format!("IPADDR={address} with no readable PREFIX or NETMASK"),
            );
        }
        parsed
    }
}

/// A value as the shell assigns it, when nothing in it would be expanded or run.
fn unquote(raw: &str) -> Option<String> {
    let safe = |c: char| !matches!(c, '$' | '`');
    if let Some(inner) = raw.strip_prefix('\'') {
        let value = inner.strip_suffix('\'')?;
        return (!value.contains('\'')).then(|| value.to_string());
    }
    if let Some(inner) = raw.strip_prefix('"') {
        let inner = inner.strip_suffix('"')?;
        let mut value = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next()? {
                    escaped @ ('"' | '\\' | '$' | '`') => value.push(escaped),
                    other => {
                        value.push('\\');
                        value.push(other);
                    }
                },
                '"' => return None,
                c if !safe(c) => return None,
                c => value.push(c),
            }
        }
        return Some(value);
    }
    let plain = raw.chars().all(|c| {
        safe(c)
            && !c.is_whitespace()
            && !matches!(
                c,
                ';' | '&' | '|' | '<' | '>' | '(' | ')' | '\\' | '"' | '\''
            )
    });
    plain.then(|| raw.to_string())
}

#[cfg(test)]
mod tests {
    use super::unquote;

    #[test]
    fn values_are_read_as_the_shell_assigns_them_and_expansions_refused() {
        assert_eq!(unquote("bond0").as_deref(), Some("bond0"));
        assert_eq!(
            unquote("\"mode=0 miimon=100\"").as_deref(),
            Some("mode=0 miimon=100")
        );
        assert_eq!(unquote("'a b'").as_deref(), Some("a b"));
        assert_eq!(unquote("\"a\\\"b\"").as_deref(), Some("a\"b"));
        assert_eq!(unquote("\"cost \\$5\"").as_deref(), Some("cost $5"));
        for refused in [
            "$(reboot)",
            "`id`",
            "\"$HOME\"",
            "a;b",
            "a b",
            "\"open",
            "'a'b'",
        ] {
            assert_eq!(unquote(refused), None, "{refused}");
        }
    }
}
