//! A bond: its slaves, its mode, and its further options, each typed as the kernel takes it.

use std::net::Ipv4Addr;

use super::closed_set::closed_set;
use super::{ClosedSet, InterfaceName};

// The bonding options with a closed set of values, each listed in the kernel's order (its
// numbers), from Documentation/networking/bonding.txt of EL7's 3.10 kernel.

closed_set!(
    /// `xmit_hash_policy`: layer2 is 0, layer3+4 is 1, layer2+3 is 2.
    XmitHashPolicy {
        Layer2 => "layer2",
        Layer34 => "layer3+4",
        Layer23 => "layer2+3",
        Encap23 => "encap2+3",
        Encap34 => "encap3+4",
    }
);

closed_set!(
    /// `lacp_rate`: how often the partner sends LACPDUs.
    LacpRate {
        Slow => "slow",
        Fast => "fast",
    }
);

closed_set!(
    /// `ad_select`: how 802.3ad chooses the active aggregator.
    AdSelect {
        Stable => "stable",
        Bandwidth => "bandwidth",
        Count => "count",
    }
);

closed_set!(
    /// `arp_validate`: which ARP probes and replies are validated.
    ArpValidate {
        None => "none",
        Active => "active",
        Backup => "backup",
        All => "all",
        Filter => "filter",
        FilterActive => "filter_active",
        FilterBackup => "filter_backup",
    }
);

closed_set!(
    /// `arp_all_targets`: whether any or all ARP targets must answer.
    ArpAllTargets {
        Any => "any",
        All => "all",
    }
);

closed_set!(
    /// `fail_over_mac`: the MAC addresses of an active-backup bond on failover.
    FailOverMac {
        None => "none",
        Active => "active",
        Follow => "follow",
    }
);

closed_set!(
    /// `primary_reselect`: when the primary slave becomes active again.
    PrimaryReselect {
        Always => "always",
        Better => "better",
        Failure => "failure",
    }
);

/// One further bonding option (besides mode and miimon), typed as the kernel takes it, as
/// nmstate's `BondOptions` types them: a closed set by its variant, a number in its range, a flag
/// as a boolean, addresses and a slave as what they are. From the kernel's
/// Documentation/networking/bonding.txt of EL7's 3.10 kernel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BondOption {
    AdActorSysPrio(u16),
    AdSelect(AdSelect),
    AdUserPortKey(u16),
    AllSlavesActive(bool),
    ArpAllTargets(ArpAllTargets),
    ArpInterval(u32),
    /// One to sixteen addresses.
    ArpIpTarget(Vec<Ipv4Addr>),
    ArpValidate(ArpValidate),
    Downdelay(u32),
    FailOverMac(FailOverMac),
    LacpRate(LacpRate),
    LpInterval(u32),
    MinLinks(u32),
    NumGratArp(u8),
    NumUnsolNa(u8),
    PacketsPerSlave(u16),
    /// One of the bond's slaves.
    Primary(InterfaceName),
    PrimaryReselect(PrimaryReselect),
    ResendIgmp(u8),
    TlbDynamicLb(bool),
    Updelay(u32),
    UseCarrier(bool),
    XmitHashPolicy(XmitHashPolicy),
}

impl BondOption {
    /// The kernel's name of the option.
    pub fn name(&self) -> &'static str {
        match self {
            BondOption::AdActorSysPrio(_) => "ad_actor_sys_prio",
            BondOption::AdSelect(_) => "ad_select",
            BondOption::AdUserPortKey(_) => "ad_user_port_key",
            BondOption::AllSlavesActive(_) => "all_slaves_active",
            BondOption::ArpAllTargets(_) => "arp_all_targets",
            BondOption::ArpInterval(_) => "arp_interval",
            BondOption::ArpIpTarget(_) => "arp_ip_target",
            BondOption::ArpValidate(_) => "arp_validate",
            BondOption::Downdelay(_) => "downdelay",
            BondOption::FailOverMac(_) => "fail_over_mac",
            BondOption::LacpRate(_) => "lacp_rate",
            BondOption::LpInterval(_) => "lp_interval",
            BondOption::MinLinks(_) => "min_links",
            BondOption::NumGratArp(_) => "num_grat_arp",
            BondOption::NumUnsolNa(_) => "num_unsol_na",
            BondOption::PacketsPerSlave(_) => "packets_per_slave",
            BondOption::Primary(_) => "primary",
            BondOption::PrimaryReselect(_) => "primary_reselect",
            BondOption::ResendIgmp(_) => "resend_igmp",
            BondOption::TlbDynamicLb(_) => "tlb_dynamic_lb",
            BondOption::Updelay(_) => "updelay",
            BondOption::UseCarrier(_) => "use_carrier",
            BondOption::XmitHashPolicy(_) => "xmit_hash_policy",
        }
    }

    /// The value as the kernel reads it: closed sets by name, flags as 1 or 0, addresses
    /// comma-separated.
    pub fn value(&self) -> String {
        let flag = |on: &bool| if *on { "1" } else { "0" }.to_string();
        match self {
            BondOption::AdActorSysPrio(n)
            | BondOption::AdUserPortKey(n)
            | BondOption::PacketsPerSlave(n) => n.to_string(),
            BondOption::ArpInterval(n)
            | BondOption::Downdelay(n)
            | BondOption::LpInterval(n)
            | BondOption::MinLinks(n)
            | BondOption::Updelay(n) => n.to_string(),
            BondOption::NumGratArp(n) | BondOption::NumUnsolNa(n) | BondOption::ResendIgmp(n) => {
                n.to_string()
            }
            BondOption::AllSlavesActive(on)
            | BondOption::TlbDynamicLb(on)
            | BondOption::UseCarrier(on) => flag(on),
            BondOption::AdSelect(v) => v.to_string(),
            BondOption::ArpAllTargets(v) => v.to_string(),
            BondOption::ArpValidate(v) => v.to_string(),
            BondOption::FailOverMac(v) => v.to_string(),
            BondOption::LacpRate(v) => v.to_string(),
            BondOption::PrimaryReselect(v) => v.to_string(),
            BondOption::XmitHashPolicy(v) => v.to_string(),
            BondOption::ArpIpTarget(addresses) => {
                let texts: Vec<String> = addresses.iter().map(|a| a.to_string()).collect();
                texts.join(",")
            }
            BondOption::Primary(slave) => slave.to_string(),
        }
    }
}

/// How a bond's mode is spelled in its option string: ifcfg's `BONDING_OPTS` keeps the seed's
/// number (`mode=0`); anaconda and dracut take the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeSpelling {
    Number,
    Name,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bond {
    pub name: InterfaceName,
    pub slaves: Vec<InterfaceName>,
    pub mode: BondMode,
    /// MII link monitoring interval, ms; 0 is off (ARP monitoring then).
    pub miimon: u32,
    /// The further options, in the order they are written.
    pub options: Vec<BondOption>,
    pub mtu: Option<u16>,
}

impl Bond {
    /// `mode=…`, `miimon=…`, then every option as `name=value`, in order: the one encoding ifcfg, the
    /// kickstart and the PXE entries join, each with its own separator.
    pub fn option_words(&self, mode: ModeSpelling) -> Vec<String> {
        let mode = match mode {
            ModeSpelling::Number => self.mode.number().to_string(),
            ModeSpelling::Name => self.mode.name().to_string(),
        };
        [format!("mode={mode}"), format!("miimon={}", self.miimon)]
            .into_iter()
            .chain(
                self.options
                    .iter()
                    .map(|o| format!("{}={}", o.name(), o.value())),
            )
            .collect()
    }
}

/// Linux bonding modes. The number is what the kernel and the seed's `mode=0` use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BondMode {
    BalanceRr,
    ActiveBackup,
    BalanceXor,
    Broadcast,
    Ieee8023ad,
    BalanceTlb,
    BalanceAlb,
}

impl BondMode {
    pub const ALL: [BondMode; 7] = [
        BondMode::BalanceRr,
        BondMode::ActiveBackup,
        BondMode::BalanceXor,
        BondMode::Broadcast,
        BondMode::Ieee8023ad,
        BondMode::BalanceTlb,
        BondMode::BalanceAlb,
    ];

    pub fn number(self) -> u8 {
        self as u8
    }

    pub fn name(self) -> &'static str {
        match self {
            BondMode::BalanceRr => "balance-rr",
            BondMode::ActiveBackup => "active-backup",
            BondMode::BalanceXor => "balance-xor",
            BondMode::Broadcast => "broadcast",
            BondMode::Ieee8023ad => "802.3ad",
            BondMode::BalanceTlb => "balance-tlb",
            BondMode::BalanceAlb => "balance-alb",
        }
    }

    pub fn from_number(n: i64) -> Option<BondMode> {
        usize::try_from(n)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
    }

    pub fn from_name(name: &str) -> Option<BondMode> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }
}

impl std::fmt::Display for BondMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
