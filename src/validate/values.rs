//! Grammars for the values that end up in shell-sourced ifcfg files, scriptlets, systemd units and
//! kickstarts. Each check accepts a deliberately small language (no quotes, `$`, backticks, spaces,
//! control characters) so that no definition can inject code, and says what would be accepted.

use std::net::Ipv4Addr;

use crate::model::InterfaceName;

/// A Linux interface name usable in ifcfg file names, `DEVICE=` and sysctl keys (the rules are
/// [`InterfaceName::new`]'s).
pub fn interface_name(name: &str) -> Result<(), String> {
    InterfaceName::new(name).map(drop)
}

/// One DNS label of a host name (RFC 1123), lower case, as used for the package name.
pub fn host_label(label: &str) -> Result<(), String> {
    if label.is_empty() || label.len() > 63 {
        return Err(format!("{label:?} must be 1 to 63 characters"));
    }
    if let Some(c) = label
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "{label:?} contains {}; host names use lower-case letters, digits and '-'",
            crate::terminal::describe_char(c)
        ));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(format!("{label:?} must not start or end with '-'"));
    }
    Ok(())
}

/// A fully qualified domain name: dot-separated labels, at most 253 characters.
pub fn domain_name(name: &str) -> Result<(), String> {
    if name.len() > 253 {
        return Err(format!("{name:?} is longer than 253 characters"));
    }
    for label in name.split('.') {
        host_label(label).map_err(|e| format!("in {name:?}: {e}"))?;
    }
    Ok(())
}

/// A POSIX user or group name as shadow-utils accepts it, without the trailing `$` it also allows
/// (that character means something to the shell).
pub fn posix_name(name: &str) -> Result<(), String> {
    let valid_first = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let valid_rest = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !valid_first || !valid_rest || name.len() > 32 {
        return Err(format!(
            "{name:?} is not a valid user or group name; use 1 to 32 characters: a lower-case letter or '_', then lower-case letters, digits, '_' or '-'"
        ));
    }
    Ok(())
}

/// A DNS name of LDH labels (RFC 1123), any case, 1 to 253 characters. A name that is all
/// digits and dots is an IPv4 address or a mistake, never a name.
pub fn dns_name(host: &str) -> Result<(), String> {
    let host = host.strip_suffix('.').unwrap_or(host);
    let labels_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if !labels_ok {
        return Err(format!(
            "{host:?} is not a DNS name (labels of letters, digits and inner '-', separated by dots) or an IP address"
        ));
    }
    if host.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(format!("{host:?} is not a valid IPv4 address"));
    }
    Ok(())
}

/// `host[:port]`, where host is a DNS name or an IPv4 address.
pub fn host_port(text: &str) -> Result<(), String> {
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (text, None),
    };
    if host.parse::<Ipv4Addr>().is_err() && dns_name(host).is_err() {
        return Err(format!(
            "{text:?} is not host[:port]; the host must be a DNS name or an IPv4 address, e.g. registry.example.com:5000"
        ));
    }
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(p) if p > 0 && port.chars().all(|c| c.is_ascii_digit()) => {}
            _ => {
                return Err(format!(
                    "{text:?} has port {port:?}; a port is a number from 1 to 65535"
                ));
            }
        }
    }
    Ok(())
}

/// `http://host[:port]` or `https://host[:port]`, with an optional trailing `/`.
pub fn registry_url(text: &str) -> Result<(), String> {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .ok_or_else(|| {
            format!("{text:?} is not a URL; dockerd wants http:// or https:// followed by host[:port], e.g. https://mirror.example.com")
        })?;
    host_port(rest.strip_suffix('/').unwrap_or(rest))
        .map_err(|_| format!("{text:?} is not a registry URL; use http(s)://host[:port], e.g. https://mirror.example.com:5000"))
}

/// An RPM package (or dependency) name.
pub fn package_name(name: &str) -> Result<(), String> {
    if !only(name, "._+-") || name.starts_with('-') {
        return Err(format!(
            "{name:?} is not a package name; use letters, digits and . _ + -, e.g. docker-ce"
        ));
    }
    Ok(())
}

/// Non-empty, and only ASCII letters, digits and the characters of `extra`.
pub fn only(text: &str, extra: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
}

/// An absolute path of plain characters.
pub fn absolute_path(text: &str) -> Result<(), String> {
    if !text.starts_with('/') {
        return Err(format!("{text:?} is not an absolute path"));
    }
    if let Some(c) = text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "/._-+".contains(*c)))
    {
        return Err(format!(
            "{text:?} contains {}; paths here use letters, digits and / . _ - +",
            crate::terminal::describe_char(c)
        ));
    }
    if text.split('/').any(|part| part == "..") {
        return Err(format!("{text:?} contains '..'"));
    }
    Ok(())
}

/// A single command-line word for a systemd `ExecStart=` line: no spaces, quotes, `$` (systemd
/// expands variables) or `%` (systemd specifiers).
pub fn command_word(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("is an empty argument".into());
    }
    if let Some(c) = text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-_./:=,@+".contains(*c)))
    {
        return Err(format!(
            "{text:?} contains {}; arguments here use letters, digits and - _ . / : = , @ +",
            crate::terminal::describe_char(c)
        ));
    }
    Ok(())
}

/// Free text that stays on one line and means nothing to a shell.
pub fn plain_text(text: &str) -> Result<(), String> {
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() || "\"'`$\\".contains(*c))
    {
        return Err(format!(
            "{text:?} contains {}; quotes, backslashes, '$', '`' and control characters are not allowed",
            crate::terminal::describe_char(c)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names() {
        assert!(interface_name("bond0").is_ok());
        assert!(interface_name("enp2s0f0").is_ok());
        assert!(interface_name("a23456789012345").is_ok());
        assert!(interface_name("a234567890123456").is_err());
        for hostile in [
            "bond$(id)",
            "bo nd",
            "bond\"",
            "-bond",
            "bond\n0",
            "",
            "bond.5",
            "all",
            "default",
            "lo",
            "bonding_masters",
        ] {
            assert!(interface_name(hostile).is_err(), "{hostile:?}");
        }
    }

    #[test]
    fn posix_names() {
        assert!(posix_name("apps").is_ok());
        assert!(posix_name("_svc-1").is_ok());
        for bad in ["Apps", "1abc", "a$", "a b", "", "a;rm"] {
            assert!(posix_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn registries() {
        assert!(host_port("docker.example.com:5000").is_ok());
        assert!(host_port("10.0.0.1").is_ok());
        assert!(host_port("x:0").is_err());
        assert!(host_port("x:70000").is_err());
        assert!(host_port("a_b.com").is_err());
        assert!(registry_url("http://registry.example.com:5000").is_ok());
        assert!(registry_url("https://mirror.example.com/").is_ok());
        assert!(registry_url("registry.example.com").is_err());
        assert!(registry_url("http://x.com/$(id)").is_err());
    }

    #[test]
    fn command_words() {
        assert!(command_word("--containerd=/run/containerd/containerd.sock").is_ok());
        for bad in ["a b", "$HOME", "%n", "a;b", "a'b", "`x`"] {
            assert!(command_word(bad).is_err(), "{bad:?}");
        }
    }
}
