//! Every setting a definition takes, once: its key, kind and default. Validation takes defaults
//! from here, `hostnet show` its notes for settings left at their default, and tests check that the
//! reference's tables (docs/reference.md) and the keys the definition parser accepts agree with it.

/// A setting's value when it is left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Default {
    /// This value, as written in a definition.
    Value(&'static str),
    /// None: the setting must be given.
    Required,
    /// Derived or absent, in words (`the VLAN's`, `none`).
    Words(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The dotted key from the table's root: `bond.miimon`, `lang` in `[kickstart]`.
    pub key: &'static str,
    /// What it takes, in words.
    pub kind: &'static str,
    pub default: Default,
}

impl Setting {
    /// The default as docs/reference.md writes it: a value in backticks, or words.
    pub fn default_text(&self) -> String {
        match self.default {
            Default::Value(value) => format!("`{value}`"),
            Default::Required => "required".into(),
            Default::Words(words) => words.into(),
        }
    }

    /// The default value of a setting that has one; hostnet's own tables, so a setting without
    /// one is a programming error, caught by any test that checks a definition leaving it out.
    pub fn default_value(&self) -> &'static str {
        match self.default {
            Default::Value(value) => value,
            _ => unreachable!("{} has no default value", self.key),
        }
    }
}

/// The setting `key` of `table`.
pub fn find(table: &'static [Setting], key: &str) -> Option<&'static Setting> {
    table.iter().find(|setting| setting.key == key)
}

/// The default value of `key` in `table`, parsed. Only for hostnet's own keys with a default
/// value; the tests that check definitions leaving each one out prove every call.
pub fn default_of<T: std::str::FromStr>(table: &'static [Setting], key: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    match default_text(table, key).parse() {
        Ok(value) => value,
        Err(e) => unreachable!("the default of {key} does not parse: {e:?}"),
    }
}

/// The default text of `key` in `table` (see [`default_of`]).
pub fn default_text(table: &'static [Setting], key: &str) -> &'static str {
    match find(table, key) {
        Some(setting) => setting.default_value(),
        None => unreachable!("{key} is not a setting"),
    }
}

/// The settings of a host: in host files, `group.toml` and the site's `[defaults]`.
pub const HOST: &[Setting] = &[
    Setting {
        key: "fqdn",
        kind: "text",
        default: Default::Words("`<host>.<site.domain>`"),
    },
    Setting {
        key: "boot-mac",
        kind: "MAC address",
        default: Default::Words("none"),
    },
    Setting {
        key: "target",
        kind: "choice",
        default: Default::Value("el7"),
    },
    Setting {
        key: "bond.name",
        kind: "interface name",
        default: Default::Value("bond0"),
    },
    Setting {
        key: "bond.slaves",
        kind: "list of interface names",
        default: Default::Required,
    },
    Setting {
        key: "bond.mode",
        kind: "choice or number",
        default: Default::Value("balance-rr"),
    },
    Setting {
        key: "bond.miimon",
        kind: "integer",
        default: Default::Value("100"),
    },
    Setting {
        key: "bond.mtu",
        kind: "integer",
        default: Default::Words("kernel's (1500)"),
    },
    Setting {
        key: "bond.options.<name>",
        kind: "text, integer or boolean",
        default: Default::Words("none"),
    },
    Setting {
        key: "management.vlan",
        kind: "VLAN name or id",
        default: Default::Required,
    },
    Setting {
        key: "management.tagged",
        kind: "boolean",
        default: Default::Value("true"),
    },
    Setting {
        key: "management.address",
        kind: "IPv4 address",
        default: Default::Required,
    },
    Setting {
        key: "management.prefix",
        kind: "integer",
        default: Default::Words("the VLAN's"),
    },
    Setting {
        key: "management.gateway",
        kind: "IPv4 address",
        default: Default::Words("the VLAN's"),
    },
    Setting {
        key: "management.dns",
        kind: "list of IPv4 addresses",
        default: Default::Words("the VLAN's"),
    },
    Setting {
        key: "containers.vlan",
        kind: "VLAN name or id",
        default: Default::Required,
    },
    Setting {
        key: "containers.bridge",
        kind: "interface name",
        default: Default::Value("docker0"),
    },
    Setting {
        key: "containers.slice",
        kind: "IPv4 network",
        default: Default::Required,
    },
    Setting {
        key: "containers.bridge-address",
        kind: "IPv4 address",
        default: Default::Words("first address of the slice"),
    },
    Setting {
        key: "containers.gateway",
        kind: "IPv4 address",
        default: Default::Words("the VLAN's"),
    },
    Setting {
        key: "docker.package",
        kind: "text",
        default: Default::Words("none"),
    },
    Setting {
        key: "docker.dockerd",
        kind: "path",
        default: Default::Value("/usr/bin/dockerd"),
    },
    Setting {
        key: "docker.base-args",
        kind: "list of text",
        default: Default::Value("-H fd:// --containerd=/run/containerd/containerd.sock"),
    },
    Setting {
        key: "docker.storage-driver",
        kind: "choice",
        default: Default::Value("overlay2"),
    },
    Setting {
        key: "docker.log-driver",
        kind: "choice",
        default: Default::Value("journald"),
    },
    Setting {
        key: "docker.registry-mirrors",
        kind: "list of URLs",
        default: Default::Value("[]"),
    },
    Setting {
        key: "docker.insecure-registries",
        kind: "list of text",
        default: Default::Value("[]"),
    },
    Setting {
        key: "docker.ip-forward",
        kind: "boolean",
        default: Default::Value("false"),
    },
    Setting {
        key: "docker.iptables",
        kind: "boolean",
        default: Default::Value("false"),
    },
    Setting {
        key: "docker.extra-flags",
        kind: "list of text",
        default: Default::Value("[]"),
    },
    Setting {
        key: "docker.group",
        kind: "text",
        default: Default::Value("docker"),
    },
    Setting {
        key: "docker.user",
        kind: "text",
        default: Default::Value("docker"),
    },
    Setting {
        key: "docker.users",
        kind: "list of text",
        default: Default::Value("[]"),
    },
    Setting {
        key: "rollout.rollback-after",
        kind: "integer",
        default: Default::Value("120"),
    },
    Setting {
        key: "rollout.probe-timeout",
        kind: "integer",
        default: Default::Value("30"),
    },
    Setting {
        key: "rollout.probes",
        kind: "list of choices",
        default: Default::Value("[\"gateway\", \"dns\", \"repository\"]"),
    },
    Setting {
        key: "rollout.probe-urls",
        kind: "list of URLs",
        default: Default::Value("[]"),
    },
    Setting {
        key: "sysctl.\"<key>\"",
        kind: "text, integer or boolean",
        default: Default::Words("none"),
    },
];

/// The site's `[kickstart]` table.
pub const KICKSTART: &[Setting] = &[
    Setting {
        key: "install-url",
        kind: "URL",
        default: Default::Required,
    },
    Setting {
        key: "repo-url",
        kind: "URL",
        default: Default::Required,
    },
    Setting {
        key: "repo-key-url",
        kind: "URL",
        default: Default::Words("`<repo-url>/RPM-GPG-KEY-hostnet`"),
    },
    Setting {
        key: "root-password-hash",
        kind: "text",
        default: Default::Required,
    },
    Setting {
        key: "lang",
        kind: "text",
        default: Default::Value("en_US.UTF-8"),
    },
    Setting {
        key: "keyboard",
        kind: "text",
        default: Default::Value("us"),
    },
    Setting {
        key: "timezone",
        kind: "text",
        default: Default::Value("Etc/UTC"),
    },
    Setting {
        key: "ssh-keys",
        kind: "list of text",
        default: Default::Value("[]"),
    },
    Setting {
        key: "disks",
        kind: "list of text",
        default: Default::Words("all"),
    },
    Setting {
        key: "autopart",
        kind: "choice",
        default: Default::Value("lvm"),
    },
    Setting {
        key: "packages",
        kind: "list of text",
        default: Default::Value("[]"),
    },
    Setting {
        key: "repos.<name>",
        kind: "table",
        default: Default::Words("none"),
    },
    Setting {
        key: "services-enabled",
        kind: "list of text",
        default: Default::Value("[\"network\", \"sshd\"]"),
    },
    Setting {
        key: "services-disabled",
        kind: "list of text",
        default: Default::Value("[\"NetworkManager\"]"),
    },
    Setting {
        key: "selinux",
        kind: "choice",
        default: Default::Value("enforcing"),
    },
    Setting {
        key: "firewall",
        kind: "boolean",
        default: Default::Value("true"),
    },
    Setting {
        key: "reboot",
        kind: "boolean",
        default: Default::Value("true"),
    },
    Setting {
        key: "template-dir",
        kind: "path",
        default: Default::Words("none"),
    },
    Setting {
        key: "targets.<target>.install-url",
        kind: "URL",
        default: Default::Words("install-url"),
    },
    Setting {
        key: "targets.<target>.repos.<name>",
        kind: "table",
        default: Default::Words("none"),
    },
];

/// The rest of `site.toml`: `[site]`, `[package]`, the VLAN catalog, `[pxe]`, and the tables that
/// hold other settings.
pub const SITE: &[Setting] = &[
    Setting {
        key: "site.name",
        kind: "text",
        default: Default::Value("site"),
    },
    Setting {
        key: "site.domain",
        kind: "DNS name",
        default: Default::Words("none"),
    },
    Setting {
        key: "package.vendor",
        kind: "text",
        default: Default::Words("none"),
    },
    Setting {
        key: "package.url",
        kind: "text",
        default: Default::Words("none"),
    },
    Setting {
        key: "package.license",
        kind: "text",
        default: Default::Value("Proprietary"),
    },
    Setting {
        key: "package.packager",
        kind: "text",
        default: Default::Words("none"),
    },
    Setting {
        key: "package.keep-versions",
        kind: "integer",
        default: Default::Value("3"),
    },
    Setting {
        key: "vlans.<name>.id",
        kind: "integer",
        default: Default::Required,
    },
    Setting {
        key: "vlans.<name>.subnet",
        kind: "IPv4 network",
        default: Default::Required,
    },
    Setting {
        key: "vlans.<name>.gateway",
        kind: "IPv4 address",
        default: Default::Required,
    },
    Setting {
        key: "vlans.<name>.dns",
        kind: "list of IPv4 addresses",
        default: Default::Value("[]"),
    },
    Setting {
        key: "vlans.<name>.mtu",
        kind: "integer",
        default: Default::Words("none"),
    },
    Setting {
        key: "vlans.<name>.description",
        kind: "text",
        default: Default::Words("none"),
    },
    Setting {
        key: "kickstart.<setting>",
        kind: "table",
        default: Default::Words("none"),
    },
    Setting {
        key: "pxe.kickstart-url",
        kind: "URL",
        default: Default::Required,
    },
    Setting {
        key: "pxe.kernel",
        kind: "path",
        default: Default::Required,
    },
    Setting {
        key: "pxe.initrd",
        kind: "path",
        default: Default::Required,
    },
    Setting {
        key: "pxe.kernel-args",
        kind: "list of text",
        default: Default::Value("[]"),
    },
    Setting {
        key: "pxe.installer-vlan",
        kind: "boolean",
        default: Default::Value("false"),
    },
    Setting {
        key: "pxe.targets.<target>.kernel",
        kind: "path",
        default: Default::Words("pxe.kernel"),
    },
    Setting {
        key: "pxe.targets.<target>.initrd",
        kind: "path",
        default: Default::Words("pxe.initrd"),
    },
    Setting {
        key: "defaults.<table>",
        kind: "table",
        default: Default::Words("none"),
    },
];

#[cfg(test)]
mod tests;
