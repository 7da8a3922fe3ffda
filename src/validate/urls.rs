//! The one URL grammar for every URL setting. URLs land on kickstart command lines (split by
//! pykickstart like a shell), in `%post` (run by bash as root), in yum `.repo` files, and on the
//! installer's kernel command line inside pxelinux and GRUB entries (GRUB expands `$` and splits at
//! `;`). So a URL is parsed by a real parser (the `url` crate, WHATWG rules) for its structure, and
//! its text is limited to the RFC 3986 characters that mean nothing to any of those readers.

use std::net::Ipv4Addr;

use super::values;

/// Which schemes a setting accepts, and what the setting is for (used in messages).
#[derive(Debug, Clone, Copy)]
pub struct UrlRule {
    pub schemes: &'static [&'static str],
    pub example: &'static str,
}

/// The installation tree (`url --url=`, `inst.repo=`): what anaconda can fetch a tree from.
pub const INSTALL_TREE: UrlRule = UrlRule {
    schemes: &["http", "https", "ftp"],
    example: "http://mirror.example.com/centos/7/os/x86_64",
};
/// A yum repository or its key (`baseurl=`, `gpgkey=`, `rpm --import`): yum also reads `file:///`.
pub const YUM: UrlRule = UrlRule {
    schemes: &["http", "https", "ftp", "file"],
    example: "http://repo.example.com/hostnet",
};
/// Where the installer fetches kickstarts (`inst.ks=`).
pub const KICKSTART_SOURCE: UrlRule = UrlRule {
    schemes: &["http", "https", "ftp"],
    example: "http://ks.example.com/hostnet/kickstart",
};

/// What `hostnet-apply` fetches with curl to show the host reaches it after a change.
pub const PROBE: UrlRule = UrlRule {
    schemes: &["http", "https"],
    example: "http://registry.example.com:5000/v2/",
};

/// Characters a URL may hold anywhere: RFC 3986's unreserved set plus the gen-delims and
/// sub-delims that no shell, GRUB, pxelinux, kernel command line or yum config reads specially.
/// Left out on purpose: `$ ; & | ' " ( ) * ! \` and space (shell and GRUB), `?` and `#` (queries
/// and fragments: `#` starts a comment in kickstarts and GRUB), `%` (percent-encoding, which
/// Python's config readers may take as interpolation).
fn is_url_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~/:@+,=[]".contains(c)
}

const ALPHABET: &str = "letters, digits and - . _ ~ / : @ + , =";

/// Checks `text` against `rule`; the error says what is wrong and what would be right.
pub fn check(text: &str, rule: UrlRule) -> Result<(), String> {
    let schemes = rule.schemes.join(", ");
    if let Some(c) = text.chars().find(|c| !is_url_char(*c)) {
        return Err(format!(
            "{:?} contains {}; a URL here uses only {ALPHABET} (no query, fragment or percent-encoding), e.g. {}",
            text,
            crate::terminal::describe_char(c),
            rule.example
        ));
    }
    let parsed = url::Url::parse(text)
        .map_err(|e| format!("{text:?} is not a URL ({e}); write e.g. {}", rule.example))?;
    let scheme = parsed.scheme();
    if !rule.schemes.contains(&scheme) {
        return Err(format!(
            "{text:?} has the scheme {scheme:?}; use one of {schemes}, e.g. {}",
            rule.example
        ));
    }
    if !text[scheme.len()..].starts_with("://") {
        return Err(format!(
            "{text:?} must start with {scheme}://, e.g. {}",
            rule.example
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!(
            "{text:?} carries credentials; they would be readable in every kickstart and boot entry: give a URL without user@"
        ));
    }
    let authority_end = text[scheme.len() + 3..]
        .find('/')
        .map_or(text.len(), |i| i + scheme.len() + 3);
    let authority = &text[scheme.len() + 3..authority_end];
    let path = &text[authority_end..];
    if scheme == "file" {
        if !authority.is_empty() {
            return Err(format!(
                "{text:?} names the host {authority:?}; a file URL names a local path: file:///path"
            ));
        }
    } else {
        check_authority(text, authority)?;
    }
    if path.contains('[') || path.contains(']') {
        return Err(format!(
            "{text:?} has '[' or ']' in its path; they are allowed only around an IPv6 address"
        ));
    }
    if path
        .split('/')
        .any(|segment| segment == ".." || segment == ".")
    {
        return Err(format!(
            "{text:?} has a '.' or '..' path segment; write the path it means"
        ));
    }
    Ok(())
}

/// `host[:port]`: a DNS name, an IPv4 address or a bracketed IPv6 address, and a port 1-65535.
fn check_authority(text: &str, authority: &str) -> Result<(), String> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or_else(|| {
            format!("{text:?} opens an IPv6 address with '[' but never closes it")
        })?;
        v6.parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("{text:?}: [{v6}] is not an IPv6 address"))?;
        match after {
            "" => (None, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => {
                    return Err(format!(
                        "{text:?}: expected ':port' or '/' after the IPv6 address"
                    ));
                }
            },
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(authority), None),
        }
    };
    if let Some(host) = host {
        if host.is_empty() {
            return Err(format!("{text:?} has no host; write scheme://host/path"));
        }
        if host.contains('[') || host.contains(']') {
            return Err(format!(
                "{text:?}: '[' and ']' may only enclose an IPv6 address"
            ));
        }
        if host.parse::<Ipv4Addr>().is_err() {
            values::dns_name(host).map_err(|e| format!("{text:?}: the host {e}"))?;
        }
    }
    if let Some(port) = port {
        let valid = !port.is_empty()
            && port.chars().all(|c| c.is_ascii_digit())
            && port.parse::<u16>().is_ok_and(|p| p > 0);
        if !valid {
            return Err(format!(
                "{text:?} has the port {port:?}; a port is a number from 1 to 65535"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_urls() {
        for good in [
            "http://mirror.example.com/centos/7/os/x86_64",
            "https://repo.example.com:8443/hostnet/",
            "http://10.0.0.5/ks",
            "http://[fd00::5]:8080/ks",
            "ftp://ftp.example.com/pub",
            "http://repo.example.com/a+b,c=d~e@f:g",
            "http://Repo.Example.COM",
        ] {
            assert_eq!(check(good, INSTALL_TREE), Ok(()), "{good}");
        }
        assert_eq!(check("file:///srv/repo", YUM), Ok(()));
    }

    #[test]
    fn refuses_hostile_and_malformed_urls() {
        for bad in [
            "file://$(touch /x)/repo",
            "http://$(id)/x",
            "http://a;b/x",
            "http://x.com/$root",
            "http://x.com/a b",
            "http://x.com/a\nb",
            "http://x.com/a\r\n%post",
            "http://x.com/a`id`",
            "http://x.com/a'b",
            "http://x.com/a\"b",
            "http://x.com/a|b",
            "http://x.com/a&b",
            "http://x.com/a{b}",
            "http://x.com/a\\b",
            "http://x.com/?q=1",
            "http://x.com/#frag",
            "http://x.com/%2e%2e",
            "http://user:pw@x.com/",
            "http://x.com:0/",
            "http://x.com:99999/",
            "http://x.com:/",
            "http:///path",
            "http://-x.com/",
            "http://x_y.com/",
            "http://999.1.1.1/",
            "http://[zz::1]/",
            "http://[::1/",
            "http://x.com/a[b]",
            "http:x.com/a",
            "mirror.example.com/x",
            "gopher://x.com/",
            "http://x.com/../etc",
            "",
        ] {
            assert!(check(bad, INSTALL_TREE).is_err(), "{bad:?} accepted");
        }
        assert!(check("file://host/srv/repo", YUM).is_err());
        assert!(check("file:///srv/repo", INSTALL_TREE).is_err());
    }
}
