//! `docker.extra-flags` read the way dockerd reads its command line (spf13/pflag): `--name`,
//! `--name=value`, `--name value`, `-x value`, `-xvalue`, `-x=value` and clusters of short flags
//! (`-Db docker1`). Only then can a flag hostnet writes itself be recognised in every spelling.

use crate::model::Host;

/// A dockerd flag hostnet writes itself, from a host setting. The one list of them: the renderer
/// writes them in this order, the validator refuses them in `docker.extra-flags` (naming the
/// setting), and `%post` warns about `/etc/docker/daemon.json` keys that set the same (dockerd
/// refuses to start when a flag and its daemon.json key are both set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManagedFlag {
    Bip,
    Bridge,
    FixedCidr,
    DefaultGateway,
    RegistryMirror,
    InsecureRegistry,
    StorageDriver,
    IpForward,
    Iptables,
    LogDriver,
}

impl ManagedFlag {
    pub const ALL: [ManagedFlag; 10] = [
        ManagedFlag::Bip,
        ManagedFlag::Bridge,
        ManagedFlag::FixedCidr,
        ManagedFlag::DefaultGateway,
        ManagedFlag::RegistryMirror,
        ManagedFlag::InsecureRegistry,
        ManagedFlag::StorageDriver,
        ManagedFlag::IpForward,
        ManagedFlag::Iptables,
        ManagedFlag::LogDriver,
    ];

    /// The long name, without dashes.
    pub fn name(self) -> &'static str {
        self.spellings().0
    }

    /// The key of `/etc/docker/daemon.json` that sets the same.
    pub fn daemon_json_key(self) -> &'static str {
        self.spellings().1
    }

    /// The host setting it comes from.
    pub fn setting(self) -> &'static str {
        self.spellings().2
    }

    fn spellings(self) -> (&'static str, &'static str, &'static str) {
        match self {
            ManagedFlag::Bip => ("bip", "bip", "containers.bridge-address"),
            ManagedFlag::Bridge => ("bridge", "bridge", "containers.bridge"),
            ManagedFlag::FixedCidr => ("fixed-cidr", "fixed-cidr", "containers.slice"),
            ManagedFlag::DefaultGateway => {
                ("default-gateway", "default-gateway", "containers.gateway")
            }
            ManagedFlag::RegistryMirror => (
                "registry-mirror",
                "registry-mirrors",
                "docker.registry-mirrors",
            ),
            ManagedFlag::InsecureRegistry => (
                "insecure-registry",
                "insecure-registries",
                "docker.insecure-registries",
            ),
            ManagedFlag::StorageDriver => {
                ("storage-driver", "storage-driver", "docker.storage-driver")
            }
            ManagedFlag::IpForward => ("ip-forward", "ip-forward", "docker.ip-forward"),
            ManagedFlag::Iptables => ("iptables", "iptables", "docker.iptables"),
            ManagedFlag::LogDriver => ("log-driver", "log-driver", "docker.log-driver"),
        }
    }

    /// The values `host` gives this flag (none, one, or one per list entry): `--bip` for
    /// docker0, `--bridge` for any other bridge (dockerd refuses both together).
    pub fn values(self, host: &Host) -> Vec<String> {
        let (containers, docker) = (&host.containers, &host.docker);
        let one = |value: String| vec![value];
        match self {
            ManagedFlag::Bip if containers.bridge_is_dockers_default() => {
                one(containers.bridge_address.to_string())
            }
            ManagedFlag::Bridge if !containers.bridge_is_dockers_default() => {
                one(containers.bridge.to_string())
            }
            ManagedFlag::Bip | ManagedFlag::Bridge => Vec::new(),
            ManagedFlag::FixedCidr => one(containers.slice.to_string()),
            ManagedFlag::DefaultGateway => one(containers.gateway.to_string()),
            ManagedFlag::RegistryMirror => docker.registry_mirrors.clone(),
            ManagedFlag::InsecureRegistry => docker.insecure_registries.clone(),
            ManagedFlag::StorageDriver => one(docker.storage_driver.to_string()),
            ManagedFlag::IpForward => one(docker.ip_forward.to_string()),
            ManagedFlag::Iptables => one(docker.iptables.to_string()),
            ManagedFlag::LogDriver => one(docker.log_driver.to_string()),
        }
    }

    /// The one hostnet writes as `name` (a long name, as [`parse`] gives it), if any.
    pub fn named(name: &str) -> Option<ManagedFlag> {
        ManagedFlag::ALL
            .into_iter()
            .find(|flag| flag.name() == name)
    }
}

/// dockerd's one-letter flags: the long name each stands for, and whether it takes a value.
const SHORT_FLAGS: &[(char, &str, bool)] = &[
    ('b', "bridge", true),
    ('D', "debug", false),
    ('G', "group", true),
    ('g', "graph", true),
    ('H', "host", true),
    ('h', "help", false),
    ('l', "log-level", true),
    ('p', "pidfile", true),
    ('s', "storage-driver", true),
    ('v', "version", false),
];

/// One flag as dockerd would see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerdFlag {
    /// The long name, without dashes (`-s` gives `storage-driver`).
    pub name: String,
    /// Index of the list entry the flag starts in.
    pub index: usize,
    /// Its value, for a flag given one (`--name=value`, `--name value`, `-xvalue`, `-x value`).
    pub value: Option<String>,
}

/// An entry dockerd would refuse or misread, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagError {
    pub index: usize,
    pub message: String,
}

fn is_long_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Reads the whole list as dockerd's argv would be read.
pub fn parse(entries: &[String]) -> Result<Vec<DockerdFlag>, FlagError> {
    let mut flags = Vec::new();
    let mut index = 0;
    while index < entries.len() {
        let entry = &entries[index];
        let error = |message: String| FlagError { index, message };
        if let Some(long) = entry.strip_prefix("--") {
            let name = long.split('=').next().unwrap_or(long);
            if !is_long_name(name) {
                return Err(error(format!(
                    "{entry:?} is not a flag dockerd can read; write --name or --name=value"
                )));
            }
            let mut value = long.split_once('=').map(|(_, value)| value.to_string());
            // `--name value`: a following entry that is not a flag is this flag's value.
            if value.is_none() && entries.get(index + 1).is_some_and(|v| !v.starts_with('-')) {
                value = entries.get(index + 1).cloned();
            }
            flags.push(DockerdFlag {
                name: name.to_string(),
                index,
                value: value.clone(),
            });
            if value.is_some() && !long.contains('=') {
                index += 1;
            }
        } else if let Some(cluster) = entry.strip_prefix('-') {
            if cluster.is_empty() {
                return Err(error(
                    "\"-\" is not a flag; write --name or --name=value".into(),
                ));
            }
            for (at, letter) in cluster.char_indices() {
                let Some((_, long, takes_value)) =
                    SHORT_FLAGS.iter().find(|(short, _, _)| *short == letter)
                else {
                    return Err(error(format!(
                        "{entry:?}: dockerd has no flag -{letter}; write the long form, --name or --name=value"
                    )));
                };
                flags.push(DockerdFlag {
                    name: long.to_string(),
                    index,
                    value: None,
                });
                if *takes_value {
                    // The rest of the cluster is the value (`-bdocker1`, `-b=docker1`); if
                    // nothing is left, the next entry is.
                    let rest = &cluster[at + letter.len_utf8()..];
                    let value = if rest.is_empty() {
                        if entries.get(index + 1).is_none_or(|v| v.starts_with('-')) {
                            return Err(error(format!(
                                "{entry:?}: -{letter} (--{long}) needs a value; write --{long}=value"
                            )));
                        }
                        index += 1;
                        entries[index].clone()
                    } else {
                        rest.strip_prefix('=').unwrap_or(rest).to_string()
                    };
                    if let Some(flag) = flags.last_mut() {
                        flag.value = Some(value);
                    }
                    break;
                }
                // A boolean short flag may carry `=true`/`=false`; nothing may follow that.
                if cluster[at + 1..].starts_with('=') {
                    break;
                }
            }
        } else {
            return Err(error(format!(
                "{entry:?} is not a flag and no flag before it takes a value; write each as --name or --name=value"
            )));
        }
        index += 1;
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(entries: &[&str]) -> Result<Vec<String>, usize> {
        let entries: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        parse(&entries)
            .map(|flags| flags.into_iter().map(|f| f.name).collect())
            .map_err(|e| e.index)
    }

    #[test]
    fn every_spelling_of_a_flag_gives_its_value() {
        let values = |entries: &[&str]| -> Vec<(String, Option<String>)> {
            let entries: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
            parse(&entries)
                .unwrap()
                .into_iter()
                .map(|f| (f.name, f.value))
                .collect()
        };
        let bridge = || vec![("bridge".to_string(), Some("docker1".to_string()))];
        for spelling in [
            &["-bdocker1"][..],
            &["-b=docker1"],
            &["-b", "docker1"],
            &["--bridge", "docker1"],
            &["--bridge=docker1"],
        ] {
            assert_eq!(values(spelling), bridge(), "{spelling:?}");
        }
        assert_eq!(
            values(&["-Dsvfs", "--live-restore"]),
            [
                ("debug".to_string(), None),
                ("storage-driver".to_string(), Some("vfs".to_string())),
                ("live-restore".to_string(), None),
            ]
        );
    }

    #[test]
    fn every_spelling_of_a_flag_gives_its_long_name() {
        assert_eq!(names(&["-bdocker1"]), Ok(vec!["bridge".into()]));
        assert_eq!(names(&["-b=docker1"]), Ok(vec!["bridge".into()]));
        assert_eq!(names(&["-b", "docker1"]), Ok(vec!["bridge".into()]));
        assert_eq!(names(&["--bridge", "docker1"]), Ok(vec!["bridge".into()]));
        assert_eq!(names(&["--bridge=docker1"]), Ok(vec!["bridge".into()]));
        assert_eq!(names(&["-svfs"]), Ok(vec!["storage-driver".into()]));
        assert_eq!(
            names(&["-Dsvfs"]),
            Ok(vec!["debug".into(), "storage-driver".into()])
        );
        assert_eq!(
            names(&["-Db", "x"]),
            Ok(vec!["debug".into(), "bridge".into()])
        );
        assert_eq!(
            names(&["--live-restore", "--max-concurrent-downloads=3"]),
            Ok(vec![
                "live-restore".into(),
                "max-concurrent-downloads".into()
            ])
        );
    }

    #[test]
    fn what_dockerd_would_refuse_is_refused() {
        assert_eq!(names(&["-x"]), Err(0));
        assert_eq!(names(&["--ok", "-"]), Err(1));
        assert_eq!(names(&["-b"]), Err(0));
        assert_eq!(names(&["-b", "--debug"]), Err(0));
        assert_eq!(names(&["---bip=1"]), Err(0));
        assert_eq!(names(&["--debug", "--", "x"]), Err(1));
        assert_eq!(names(&["value"]), Err(0));
    }
}
