//! Which bonding options exist, which modes they apply to, and which values they take
//! (the kernel's Documentation/networking/bonding.txt, as of EL7's 3.10 kernel).

use crate::model::BondMode::{self, *};
use crate::model::{
    AdSelect, ArpAllTargets, ArpValidate, BondOption, ClosedSet, FailOverMac, InterfaceName,
    LacpRate, PrimaryReselect, XmitHashPolicy,
};

/// What values an option takes, and how its typed [`BondOption`] is made of one.
enum Values {
    /// A closed set, by name or by the kernel's number: the parser, and the choices for messages.
    Closed(fn(&str) -> Option<BondOption>, fn() -> String),
    /// A whole number from the first to the second (both within the option's type).
    Range(i64, i64, fn(i64) -> BondOption),
    /// `arp_ip_target`: a comma-separated list of IPv4 addresses (at most 16).
    Ipv4List,
    /// `primary`: the name of one of the bond's slaves.
    Slave,
}

struct KnownOption {
    name: &'static str,
    /// Modes the option applies to; empty means all.
    modes: &'static [BondMode],
    values: Values,
}

const ARP_MODES: &[BondMode] = &[BalanceRr, ActiveBackup, BalanceXor, Broadcast];
const PRIMARY_MODES: &[BondMode] = &[ActiveBackup, BalanceTlb, BalanceAlb];
const INT_MAX: i64 = i32::MAX as i64;

const OPTIONS: &[KnownOption] = &[
    KnownOption {
        name: "ad_actor_sys_prio",
        modes: &[Ieee8023ad],
        values: Values::Range(1, 65535, |n| BondOption::AdActorSysPrio(n as u16)),
    },
    KnownOption {
        name: "ad_select",
        modes: &[Ieee8023ad],
        values: Values::Closed(
            |text| AdSelect::from_kernel(text).map(BondOption::AdSelect),
            AdSelect::numbered_choices,
        ),
    },
    KnownOption {
        name: "ad_user_port_key",
        modes: &[Ieee8023ad],
        values: Values::Range(0, 1023, |n| BondOption::AdUserPortKey(n as u16)),
    },
    KnownOption {
        name: "all_slaves_active",
        modes: &[],
        values: Values::Range(0, 1, |n| BondOption::AllSlavesActive(n == 1)),
    },
    KnownOption {
        name: "arp_all_targets",
        modes: &[ActiveBackup],
        values: Values::Closed(
            |text| ArpAllTargets::from_kernel(text).map(BondOption::ArpAllTargets),
            ArpAllTargets::numbered_choices,
        ),
    },
    KnownOption {
        name: "arp_interval",
        modes: ARP_MODES,
        values: Values::Range(0, INT_MAX, |n| BondOption::ArpInterval(n as u32)),
    },
    KnownOption {
        name: "arp_ip_target",
        modes: ARP_MODES,
        values: Values::Ipv4List,
    },
    KnownOption {
        name: "arp_validate",
        modes: &[ActiveBackup],
        values: Values::Closed(
            |text| ArpValidate::from_kernel(text).map(BondOption::ArpValidate),
            ArpValidate::numbered_choices,
        ),
    },
    KnownOption {
        name: "downdelay",
        modes: &[],
        values: Values::Range(0, INT_MAX, |n| BondOption::Downdelay(n as u32)),
    },
    KnownOption {
        name: "fail_over_mac",
        modes: &[ActiveBackup],
        values: Values::Closed(
            |text| FailOverMac::from_kernel(text).map(BondOption::FailOverMac),
            FailOverMac::numbered_choices,
        ),
    },
    KnownOption {
        name: "lacp_rate",
        modes: &[Ieee8023ad],
        values: Values::Closed(
            |text| LacpRate::from_kernel(text).map(BondOption::LacpRate),
            LacpRate::numbered_choices,
        ),
    },
    KnownOption {
        name: "lp_interval",
        modes: &[BalanceTlb, BalanceAlb],
        values: Values::Range(1, INT_MAX, |n| BondOption::LpInterval(n as u32)),
    },
    KnownOption {
        name: "min_links",
        modes: &[Ieee8023ad],
        values: Values::Range(0, INT_MAX, |n| BondOption::MinLinks(n as u32)),
    },
    KnownOption {
        name: "num_grat_arp",
        modes: &[ActiveBackup],
        values: Values::Range(0, 255, |n| BondOption::NumGratArp(n as u8)),
    },
    KnownOption {
        name: "num_unsol_na",
        modes: &[ActiveBackup],
        values: Values::Range(0, 255, |n| BondOption::NumUnsolNa(n as u8)),
    },
    KnownOption {
        name: "packets_per_slave",
        modes: &[BalanceRr],
        values: Values::Range(0, 65535, |n| BondOption::PacketsPerSlave(n as u16)),
    },
    KnownOption {
        name: "primary",
        modes: PRIMARY_MODES,
        values: Values::Slave,
    },
    KnownOption {
        name: "primary_reselect",
        modes: PRIMARY_MODES,
        values: Values::Closed(
            |text| PrimaryReselect::from_kernel(text).map(BondOption::PrimaryReselect),
            PrimaryReselect::numbered_choices,
        ),
    },
    KnownOption {
        name: "resend_igmp",
        modes: &[],
        values: Values::Range(0, 255, |n| BondOption::ResendIgmp(n as u8)),
    },
    KnownOption {
        name: "tlb_dynamic_lb",
        modes: &[BalanceTlb],
        values: Values::Range(0, 1, |n| BondOption::TlbDynamicLb(n == 1)),
    },
    KnownOption {
        name: "updelay",
        modes: &[],
        values: Values::Range(0, INT_MAX, |n| BondOption::Updelay(n as u32)),
    },
    KnownOption {
        name: "use_carrier",
        modes: &[],
        values: Values::Range(0, 1, |n| BondOption::UseCarrier(n == 1)),
    },
    KnownOption {
        name: "xmit_hash_policy",
        modes: &[BalanceXor, Ieee8023ad, BalanceTlb],
        values: Values::Closed(
            |text| XmitHashPolicy::from_kernel(text).map(BondOption::XmitHashPolicy),
            XmitHashPolicy::numbered_choices,
        ),
    },
];

/// Checks one `[bond.options]` entry against the mode and slaves.
pub fn check_option(
    name: &str,
    value: &str,
    mode: BondMode,
    slaves: &[InterfaceName],
) -> Result<BondOption, String> {
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
    let value = match &option.values {
        Values::Closed(parse, choices) => parse(value).ok_or_else(|| {
            format!(
                "{name} = {value:?} is not valid; use one of {}, by name or by the kernel's number",
                choices()
            )
        })?,
        Values::Range(low, high, make) => match value.parse::<i64>() {
            Ok(n) if (*low..=*high).contains(&n) && value.chars().all(|c| c.is_ascii_digit()) => {
                make(n)
            }
            _ => {
                return Err(format!(
                    "{name} = {value:?} is not valid; use a whole number from {low} to {high}"
                ));
            }
        },
        Values::Ipv4List => {
            let targets: Vec<&str> = value.split(',').collect();
            if targets.len() > 16 {
                return Err(format!(
                    "{name} lists {} addresses; the kernel takes at most 16",
                    targets.len()
                ));
            }
            let addresses = targets
                .iter()
                .map(|target| {
                    target.parse::<std::net::Ipv4Addr>().map_err(|_| {
                        format!(
                            "{name} = {value:?}: {target:?} is not an IPv4 address; write addresses separated by commas, e.g. \"10.0.0.1,10.0.0.2\""
                        )
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            BondOption::ArpIpTarget(addresses)
        }
        Values::Slave => match slaves.iter().find(|slave| **slave == value) {
            Some(slave) => BondOption::Primary(slave.clone()),
            None => {
                return Err(format!(
                    "{name} = {value:?} is not one of the bond's slaves ({})",
                    slaves.join(", ")
                ));
            }
        },
    };
    debug_assert_eq!(
        value.name(),
        option.name,
        "an option's value is of its own kind"
    );
    Ok(value)
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

    fn slaves() -> Vec<InterfaceName> {
        ["eth0", "eth1"]
            .iter()
            .map(|name| InterfaceName::new(name).unwrap())
            .collect()
    }

    /// Every option the table knows makes a typed option of its own name, written back as the
    /// kernel reads it.
    #[test]
    fn every_known_option_makes_its_own_kind() {
        for option in OPTIONS {
            let sample = match &option.values {
                Values::Closed(..) => "0".to_string(),
                Values::Range(low, ..) => low.to_string(),
                Values::Ipv4List => "10.0.0.1,10.0.0.2".to_string(),
                Values::Slave => "eth1".to_string(),
            };
            let mode = option.modes.first().copied().unwrap_or(BalanceRr);
            let made = check_option(option.name, &sample, mode, &slaves())
                .unwrap_or_else(|e| panic!("{}: {e}", option.name));
            assert_eq!(made.name(), option.name);
            if !matches!(option.values, Values::Closed(..)) {
                assert_eq!(made.value(), sample, "{}", option.name);
            }
        }
    }

    #[test]
    fn lacp_rate_needs_802_3ad() {
        assert_eq!(
            check_option("lacp_rate", "fast", Ieee8023ad, &slaves()),
            Ok(BondOption::LacpRate(LacpRate::Fast))
        );
        // The kernel's number, written by name.
        let by_number = check_option("lacp_rate", "1", Ieee8023ad, &slaves()).unwrap();
        assert_eq!(by_number.value(), "fast");
        let err = check_option("lacp_rate", "fast", BalanceRr, &slaves()).unwrap_err();
        assert!(err.contains("802.3ad"), "{err}");
        assert!(check_option("lacp_rate", "2", Ieee8023ad, &slaves()).is_err());
    }

    #[test]
    fn closed_sets_take_the_kernels_numbers() {
        let policy = |text| check_option("xmit_hash_policy", text, Ieee8023ad, &slaves());
        assert_eq!(
            policy("1"),
            Ok(BondOption::XmitHashPolicy(XmitHashPolicy::Layer34))
        );
        assert_eq!(
            policy("2"),
            Ok(BondOption::XmitHashPolicy(XmitHashPolicy::Layer23))
        );
        assert_eq!(
            policy("layer2"),
            Ok(BondOption::XmitHashPolicy(XmitHashPolicy::Layer2))
        );
        let error = policy("5").unwrap_err();
        assert!(
            error.contains("layer2 (0), layer3+4 (1), layer2+3 (2)"),
            "{error}"
        );
        assert!(policy("+1").is_err() && policy(" 1").is_err());
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
