//! `[bond]`: the bond device, its slaves, mode, link monitoring and the further kernel options.

use super::HostChecker;
use crate::model::{Bond, BondMode, BondOption, InterfaceName};
use crate::settings::{self, HOST};
use crate::validate::{bonding, catalog};

impl HostChecker<'_> {
    pub(super) fn bond(&mut self, name: &InterfaceName) -> Option<Bond> {
        let layer = &self.def.merged.bond;
        let name = Some(name.clone());
        let mode = match &layer.mode {
            Some(mode) => match bonding::parse_mode(&mode.value) {
                Ok(mode) => Some(mode),
                Err(e) => {
                    self.fields.error(&mode.at, format!("bond.mode: {e}"));
                    None
                }
            },
            None => Some(BondMode::BalanceRr),
        };
        let slaves = match &layer.slaves {
            Some(slaves) => {
                let checked =
                    self.fields
                        .parsed_list(&layer.slaves, "bond.slaves", &[], InterfaceName::new);
                if slaves.value.is_empty() {
                    self.fields.error(&slaves.at, "bond.slaves: is empty; list the NICs to bond, e.g. [\"enp2s0f0\", \"enp2s0f1\"]".into());
                    None
                } else {
                    if slaves.value.len() == 1 {
                        self.fields.warning(&slaves.at, "bond.slaves: a bond with one slave has no redundancy; list a second NIC".into());
                    }
                    if let Some(name) = &name
                        && slaves.value.iter().any(|slave| *name == **slave)
                    {
                        self.fields.error(
                            &slaves.at,
                            format!(
                                "bond.slaves: {name:?} is the bond itself; list the physical NICs"
                            ),
                        );
                    }
                    checked
                }
            }
            None => {
                self.fields.missing(
                    "bond.slaves",
                    "list the NICs to bond, e.g. slaves = [\"enp2s0f0\", \"enp2s0f1\"]",
                );
                None
            }
        };
        let miimon = match &layer.miimon {
            Some(m) if !(0..=i64::from(i32::MAX)).contains(&m.value) => {
                self.fields.error(&m.at, format!("bond.miimon: {} is not valid; use milliseconds from 0 (off) up, 100 is usual", m.value));
                None
            }
            Some(m) => Some(m.value as u32),
            None => Some(settings::default_of(HOST, "bond.miimon")),
        };
        let mtu = match &layer.mtu {
            Some(m) => catalog::check_mtu(m, "bond.mtu", self.fields.diagnostics).map(Some),
            None => Some(None),
        };
        // The MTU is not needed to check the options; a bad one must not hide their problems.
        let (name, mode, slaves, miimon) = (name?, mode?, slaves?, miimon?);

        let mut options = Vec::new();
        let mut ok = true;
        for (key, value) in &layer.options {
            let text = value.value.to_string();
            match bonding::check_option(key, &text, mode, &slaves) {
                Ok(option) => options.push(option),
                Err(e) => {
                    self.fields
                        .error(&value.at, format!("bond.options.{key}: {e}"));
                    ok = false;
                }
            }
        }
        let arp_interval = options
            .iter()
            .find_map(|o| match o {
                BondOption::ArpInterval(ms) => Some(*ms),
                _ => None,
            })
            .unwrap_or(0);
        let has_arp_targets = options
            .iter()
            .any(|o| matches!(o, BondOption::ArpIpTarget(_)));
        let at = layer
            .miimon
            .as_ref()
            .map_or(self.fields.table(), |m| m.at.clone());
        if arp_interval > 0 && miimon > 0 {
            self.fields.error(&at, format!("bond.miimon: {miimon} and bond.options.arp_interval exclude each other; set miimon = 0 to use ARP monitoring"));
            ok = false;
        }
        if arp_interval > 0 && !has_arp_targets {
            let at = layer
                .options
                .get("arp_interval")
                .map_or(self.fields.table(), |v| v.at.clone());
            self.fields.error(&at, "bond.options.arp_interval: ARP monitoring needs targets; set bond.options.arp_ip_target".into());
            ok = false;
        }
        if arp_interval == 0 && miimon == 0 {
            self.fields.warning(&at, "bond.miimon: 0 with no ARP monitoring means a failed link is never detected; 100 is usual".into());
        }
        let delays = options.iter().filter_map(|o| match o {
            BondOption::Updelay(ms) | BondOption::Downdelay(ms) => Some((o.name(), *ms)),
            _ => None,
        });
        for (delay, value) in delays {
            let at = layer
                .options
                .get(delay)
                .map_or(self.fields.table(), |v| v.at.clone());
            if value > 0 && miimon == 0 {
                self.fields.error(
                    &at,
                    format!(
                        "bond.options.{delay}: works only with MII monitoring; set bond.miimon"
                    ),
                );
                ok = false;
            } else if miimon > 0 && value % miimon != 0 {
                self.fields.error(&at, format!("bond.options.{delay}: {value} is not a multiple of miimon ({miimon}); the kernel would round it down to {}", value / miimon * miimon));
                ok = false;
            }
        }
        let mtu = mtu?;
        ok.then_some(Bond {
            name,
            slaves,
            mode,
            miimon,
            options,
            mtu,
        })
    }
}
