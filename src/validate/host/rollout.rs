//! `[rollout]`: the rollback window and the probes `hostnet-apply` runs on the host after a change.

use std::ops::RangeInclusive;

use super::HostChecker;
use crate::definition::located::Located;
use crate::model::Rollout;
use crate::settings::{self, HOST};
use crate::validate::urls;

const ROLLBACK_AFTER: RangeInclusive<i64> = 10..=3600;
const PROBE_TIMEOUT: RangeInclusive<i64> = 1..=600;
pub const PROBES: [&str; 3] = ["gateway", "dns", "repository"];

fn probe_url(text: &str) -> Result<(), String> {
    urls::check(text, urls::PROBE)
}

impl HostChecker<'_> {
    /// A number of seconds within `range`, or the default when absent; `None` (reported) when
    /// out of range.
    fn seconds(
        &mut self,
        field: &Option<Located<i64>>,
        key: &str,
        range: RangeInclusive<i64>,
        default: u32,
        why: &str,
    ) -> Option<u32> {
        match field {
            None => Some(default),
            Some(v) if range.contains(&v.value) => Some(v.value as u32),
            Some(v) => {
                self.fields.error(
                    &v.at,
                    format!(
                        "rollout.{key}: {} is not from {} to {} seconds; {why} (default {default})",
                        v.value,
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
        }
    }

    pub(super) fn rollout(&mut self) -> Option<Rollout> {
        let layer = &self.def.merged.rollout;
        let default_rollback_after = settings::default_of(HOST, "rollout.rollback-after");
        let default_probe_timeout = settings::default_of(HOST, "rollout.probe-timeout");
        let rollback_after = self.seconds(
            &layer.rollback_after,
            "rollback-after",
            ROLLBACK_AFTER,
            default_rollback_after,
            "it is how long hostnet-apply waits for --confirm before restoring the previous configuration; LACP with STP can take over 30 s to forward",
        );
        let probe_timeout = self.seconds(
            &layer.probe_timeout,
            "probe-timeout",
            PROBE_TIMEOUT,
            default_probe_timeout,
            "it is how long each probe may take to pass after the network restarts",
        );
        let mut ok = rollback_after.is_some() && probe_timeout.is_some();
        let rollback_after = rollback_after.unwrap_or(default_rollback_after);
        let probe_timeout = probe_timeout.unwrap_or(default_probe_timeout);

        let repository = self
            .catalog
            .site
            .kickstart
            .as_ref()
            .map(|k| format!("{}/repodata/repomd.xml", k.repo_url.trim_end_matches('/')));
        let mut probes: Vec<&str> = PROBES.to_vec();
        if let Some(listed) = &layer.probes {
            probes.clear();
            for (i, probe) in listed.value.iter().enumerate() {
                match PROBES.iter().find(|p| **p == probe) {
                    Some(_) if probes.contains(&probe.as_str()) => {
                        self.fields.error(
                            &listed.at,
                            format!("rollout.probes[{i}]: {probe:?} is listed twice"),
                        );
                        ok = false;
                    }
                    Some(known) => {
                        if *known == "repository" && repository.is_none() {
                            self.fields.error(&listed.at, format!("rollout.probes[{i}]: \"repository\" fetches the hostnet repository's repomd.xml from [kickstart] repo-url, which this site does not set; set repo-url or leave the probe out"));
                            ok = false;
                        }
                        probes.push(known);
                    }
                    None => {
                        self.fields.error(&listed.at, format!("rollout.probes[{i}]: {probe:?} is not a probe; the probes are \"gateway\", \"dns\" and \"repository\" (further URLs go in probe-urls)"));
                        ok = false;
                    }
                }
            }
        }
        let probe_urls =
            self.fields
                .list(&layer.probe_urls, "rollout.probe-urls", &[], probe_url)?;
        let probe_repository = repository.filter(|_| probes.contains(&"repository"));

        let count = probes.iter().filter(|p| **p != "repository").count()
            + usize::from(probe_repository.is_some())
            + probe_urls.len();
        if ok && probe_timeout as usize * count >= rollback_after as usize {
            let at = layer
                .probe_timeout
                .as_ref()
                .map(|f| f.at.clone())
                .or_else(|| layer.rollback_after.as_ref().map(|f| f.at.clone()))
                .unwrap_or_else(|| self.fields.table());
            self.fields.error(&at, format!("rollout: {count} probes of up to {probe_timeout} s each can outlast rollback-after ({rollback_after} s), so the rollback could start while they run; raise rollback-after above {} or lower probe-timeout", probe_timeout as usize * count));
            ok = false;
        }
        ok.then_some(Rollout {
            rollback_after,
            probe_timeout,
            probe_gateway: probes.contains(&"gateway"),
            probe_dns: probes.contains(&"dns"),
            probe_repository,
            probe_urls,
        })
    }
}
