//! Settings with a closed set of values, each with the one spelling its consumer takes.

/// What messages about a closed-set setting list.
pub trait ClosedSet: Sized + Copy + 'static {
    /// Every value, in the order the consumer numbers them where it does.
    fn all() -> &'static [Self];
    /// Every spelling, comma-separated.
    fn choices() -> String;
    fn spelling(self) -> &'static str;

    /// A value by its spelling or, as the kernel also takes, by its position in [`Self::all`]
    /// (`lacp_rate=1` is `fast`).
    fn from_kernel(text: &str) -> Option<Self> {
        let by_name = Self::all().iter().copied().find(|v| v.spelling() == text);
        let by_number = || {
            text.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| text.parse::<usize>().ok())
                .flatten()
                .and_then(|n| Self::all().get(n).copied())
        };
        by_name.or_else(by_number)
    }

    /// Every spelling with its number: `slow (0), fast (1)`.
    fn numbered_choices() -> String {
        Self::all()
            .iter()
            .enumerate()
            .map(|(number, value)| format!("{} ({number})", value.spelling()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A setting with a closed set of values, each with the one spelling the consumer takes: parsed
/// from the definition once, written by `Display` (and serialised so for templates).
macro_rules! closed_set {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

        }

        impl ClosedSet for $name {
            fn all() -> &'static [Self] {
                Self::ALL
            }

            fn choices() -> String {
                Self::ALL.iter().map(|v| v.name()).collect::<Vec<_>>().join(", ")
            }

            fn spelling(self) -> &'static str {
                self.name()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, String> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.name() == text)
                    .ok_or_else(|| format!("{text:?} is not one of {}", Self::choices()))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.name())
            }
        }
    };
}

closed_set!(
    /// The operating system family a host runs, which decides how its network is configured:
    /// `el7` through network-scripts' ifcfg files, `el8` and `el9` through NetworkManager's
    /// keyfiles.
    Target {
        El7 => "el7",
        El8 => "el8",
        El9 => "el9",
    }
);

impl Target {
    /// Whether NetworkManager owns the host's network (keyfiles, not ifcfg files).
    pub fn network_manager(self) -> bool {
        self != Target::El7
    }
}

closed_set!(
    /// dockerd `--storage-driver`.
    StorageDriver {
        Overlay2 => "overlay2",
        Overlay => "overlay",
        Devicemapper => "devicemapper",
        Btrfs => "btrfs",
        Zfs => "zfs",
        Vfs => "vfs",
        FuseOverlayfs => "fuse-overlayfs",
    }
);

closed_set!(
    /// dockerd `--log-driver`.
    LogDriver {
        Journald => "journald",
        JsonFile => "json-file",
        Local => "local",
        Syslog => "syslog",
        None => "none",
        Gelf => "gelf",
        Fluentd => "fluentd",
        Awslogs => "awslogs",
        Splunk => "splunk",
        Gcplogs => "gcplogs",
        Logentries => "logentries",
    }
);

closed_set!(
    /// The kickstart's `selinux` command.
    SelinuxMode {
        Enforcing => "enforcing",
        Permissive => "permissive",
        Disabled => "disabled",
    }
);

closed_set!(
    /// The kickstart's `autopart --type`.
    Autopart {
        Lvm => "lvm",
        Plain => "plain",
        Thinp => "thinp",
    }
);

pub(crate) use closed_set;
