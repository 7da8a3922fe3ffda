//! Which bonding options exist, which modes they apply to, and which values they take
//! (the kernel's Documentation/networking/bonding.txt, as of EL7's 3.10 kernel).

use crate::model::BondMode::{self, *};

/// What values an option takes.
enum Values {
    /// Named values; the kernel also accepts each one's position as a number.
    Names(&'static [&'static str]),
    Range(i64, i64),
    /// A comma-separated list of IPv4 addresses (at most 16).
    Ipv4List,
    /// The name of one of the bond's slaves.
    Slave,
}

struct BondOption {
    name: &'static str,
    /// Modes the option applies to; empty means all.
    modes: &'static [BondMode],
    values: Values,
}

const ARP_MODES: &[BondMode] = &[BalanceRr, ActiveBackup, BalanceXor, Broadcast];
const PRIMARY_MODES: &[BondMode] = &[ActiveBackup, BalanceTlb, BalanceAlb];
const INT_MAX: i64 = i32::MAX as i64;

const OPTIONS: &[BondOption] = &[
    BondOption {
        name: "ad_actor_sys_prio",
        modes: &[Ieee8023ad],
        values: Values::Range(1, 65535),
    },
    BondOption {
        name: "ad_select",
        modes: &[Ieee8023ad],
        values: Values::Names(&["stable", "bandwidth", "count"]),
    },
    BondOption {
        name: "ad_user_port_key",
        modes: &[Ieee8023ad],
        values: Values::Range(0, 1023),
    },
    BondOption {
        name: "all_slaves_active",
        modes: &[],
        values: Values::Range(0, 1),
    },
    BondOption {
        name: "arp_all_targets",
        modes: &[ActiveBackup],
        values: Values::Names(&["any", "all"]),
    },
    BondOption {
        name: "arp_interval",
        modes: ARP_MODES,
        values: Values::Range(0, INT_MAX),
    },
    BondOption {
        name: "arp_ip_target",
        modes: ARP_MODES,
        values: Values::Ipv4List,
    },
    BondOption {
        name: "arp_validate",
        modes: &[ActiveBackup],
        values: Values::Names(&[
            "none",
            "active",
            "backup",
            "all",
            "filter",
            "filter_active",
            "filter_backup",
        ]),
    },
    BondOption {
        name: "downdelay",
        modes: &[],
        values: Values::Range(0, INT_MAX),
    },
    BondOption {
        name: "fail_over_mac",
        modes: &[ActiveBackup],
        values: Values::Names(&["none", "active", "follow"]),
    },
    BondOption {
        name: "lacp_rate",
        modes: &[Ieee8023ad],
        values: Values::Names(&["slow", "fast"]),
    },
    BondOption {
        name: "lp_interval",
        modes: &[BalanceTlb, BalanceAlb],
        values: Values::Range(1, INT_MAX),
    },
    BondOption {
        name: "min_links",
        modes: &[Ieee8023ad],
        values: Values::Range(0, INT_MAX),
    },
    BondOption {
        name: "num_grat_arp",
        modes: &[ActiveBackup],
        values: Values::Range(0, 255),
    },
    BondOption {
        name: "num_unsol_na",
        modes: &[ActiveBackup],
        values: Values::Range(0, 255),
    },
    BondOption {
        name: "packets_per_slave",
        modes: &[BalanceRr],
        values: Values::Range(0, 65535),
    },
    BondOption {
        name: "primary",
        modes: PRIMARY_MODES,
        values: Values::Slave,
    },
    BondOption {
        name: "primary_reselect",
        modes: PRIMARY_MODES,
        values: Values::Names(&["always", "better", "failure"]),
    },
    BondOption {
        name: "resend_igmp",
        modes: &[],
        values: Values::Range(0, 255),
    },
    BondOption {
        name: "tlb_dynamic_lb",
        modes: &[BalanceTlb],
        values: Values::Range(0, 1),
    },
    BondOption {
        name: "updelay",
        modes: &[],
        values: Values::Range(0, INT_MAX),
    },
    BondOption {
        name: "use_carrier",
        modes: &[],
        values: Values::Range(0, 1),
    },
    BondOption {
        name: "xmit_hash_policy",
        modes: &[BalanceXor, Ieee8023ad, BalanceTlb],
        // In the kernel's order: a number is the position (layer3+4 is 1, layer2+3 is 2).
        values: Values::Names(&["layer2", "layer3+4", "layer2+3", "encap2+3", "encap3+4"]),
    },
];

/// Checks one `[bond.options]` entry against the mode and slaves; returns the value to write.
pub fn check_option(
    name: &str,
    value: &str,
    mode: BondMode,
    slaves: &[String],
) -> Result<String, String> {
    match name {
        "mode" => return Err("set the mode with bond.mode, not in bond.options".into()),
        "miimon" => return Err("set miimon with bond.miimon, not in bond.options".into()),
        "max_bonds" | "tx_queues" => {
            return Err(format!(
                "{name} is a module parameter for all bonds, not a per-bond option"
            ));
        }
        _ => {}
    }
    let Some(option) = OPTIONS.iter().find(|o| o.name == name) else {
        let known: Vec<&str> = OPTIONS.iter().map(|o| o.name).collect();
        return Err(format!(
            "unknown bonding option {name:?}; known options: {}",
            known.join(", ")
        ));
    };
    if !option.modes.is_empty() && !option.modes.contains(&mode) {
        let modes: Vec<&str> = option.modes.iter().map(|m| m.name()).collect();
        return Err(format!(
            "{name} has no effect in mode {mode}; it applies to {}",
            modes.join(", ")
        ));
    }
    match &option.values {
        Values::Names(names) => {
            let by_number = value
                .parse::<usize>()
                .ok()
                .filter(|n| *n < names.len() && value.chars().all(|c| c.is_ascii_digit()));
            if names.contains(&value) || by_number.is_some() {
                Ok(value.to_string())
            } else {
                let choices: Vec<String> = names
                    .iter()
                    .enumerate()
                    .map(|(number, name)| format!("{name} ({number})"))
                    .collect();
                Err(format!(
                    "{name} = {value:?} is not valid; use one of {}, by name or by the kernel's number",
                    choices.join(", ")
                ))
            }
        }
        Values::Range(low, high) => match value.parse::<i64>() {
            Ok(n) if (*low..=*high).contains(&n) && value.chars().all(|c| c.is_ascii_digit()) => {
                Ok(n.to_string())
            }
            _ => Err(format!(
                "{name} = {value:?} is not valid; use a whole number from {low} to {high}"
            )),
        },
        Values::Ipv4List => {
            let targets: Vec<&str> = value.split(',').collect();
            if targets.len() > 16 {
                return Err(format!(
                    "{name} lists {} addresses; the kernel takes at most 16",
                    targets.len()
                ));
            }
            for target in &targets {
                if target.parse::<std::net::Ipv4Addr>().is_err() {
                    return Err(format!(
                        "{name} = {value:?}: {target:?} is not an IPv4 address; write addresses separated by commas, e.g. \"10.0.0.1,10.0.0.2\""
                    ));
                }
            }
            Ok(value.to_string())
        }
        Values::Slave => {
            if slaves.iter().any(|s| s == value) {
                Ok(value.to_string())
            } else {
                Err(format!(
                    "{name} = {value:?} is not one of the bond's slaves ({})",
                    slaves.join(", ")
                ))
            }
        }
    }
}

/// Parses `bond.mode`: a name such as `active-backup` or a number 0-6.
pub fn parse_mode(value: &crate::definition::schema::ScalarValue) -> Result<BondMode, String> {
    use crate::definition::schema::ScalarValue;
    let found = match value {
        ScalarValue::Integer(n) => BondMode::from_number(*n),
        ScalarValue::Boolean(_) => None,
        ScalarValue::Text(text) => BondMode::from_name(text)
            .or_else(|| text.parse::<i64>().ok().and_then(BondMode::from_number)),
    };
    found.ok_or_else(|| {
        let modes: Vec<String> = BondMode::ALL
            .iter()
            .map(|m| format!("{} ({})", m.name(), m.number()))
            .collect();
        format!(
            "{value} is not a bonding mode; use one of {}",
            modes.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slaves() -> Vec<String> {
        vec!["eth0".into(), "eth1".into()]
    }

    #[test]
    fn lacp_rate_needs_802_3ad() {
        assert_eq!(
            check_option("lacp_rate", "fast", Ieee8023ad, &slaves()).unwrap(),
            "fast"
        );
        assert!(check_option("lacp_rate", "1", Ieee8023ad, &slaves()).is_ok());
        let err = check_option("lacp_rate", "fast", BalanceRr, &slaves()).unwrap_err();
        assert!(err.contains("802.3ad"), "{err}");
        assert!(check_option("lacp_rate", "2", Ieee8023ad, &slaves()).is_err());
    }

    #[test]
    fn primary_must_be_a_slave() {
        assert!(check_option("primary", "eth1", ActiveBackup, &slaves()).is_ok());
        assert!(check_option("primary", "eth9", ActiveBackup, &slaves()).is_err());
    }

    #[test]
    fn values_are_checked() {
        assert!(
            check_option(
                "arp_ip_target",
                "10.0.0.1,10.0.0.2",
                ActiveBackup,
                &slaves()
            )
            .is_ok()
        );
        assert!(check_option("arp_ip_target", "10.0.0.1;id", ActiveBackup, &slaves()).is_err());
        assert!(check_option("updelay", "-1", BalanceRr, &slaves()).is_err());
        assert!(check_option("updelay", "+5", BalanceRr, &slaves()).is_err());
        assert!(check_option("bogus", "1", BalanceRr, &slaves()).is_err());
    }
}
