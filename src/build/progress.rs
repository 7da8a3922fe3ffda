//! Progress of a build on a terminal, or in a CI log.

use std::io::IsTerminal as _;

/// Progress of a build: indicatif's bar on a terminal; elsewhere (CI logs) a plain line every
/// [`PROGRESS_EVERY`], so a long build shows it is alive without flooding the log.
pub(super) struct Progress {
    bar: indicatif::ProgressBar,
    plain: Option<PlainProgress>,
}

struct PlainProgress {
    total: usize,
    done: std::sync::atomic::AtomicUsize,
    started: std::time::Instant,
    last: std::sync::Mutex<std::time::Instant>,
}

const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

impl Progress {
    pub fn inc(&self) {
        self.bar.inc(1);
        let Some(plain) = &self.plain else { return };
        let done = plain
            .done
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let Ok(mut last) = plain.last.lock() else {
            return;
        };
        if last.elapsed() >= PROGRESS_EVERY && done < plain.total {
            *last = std::time::Instant::now();
            crate::tell!(
                "hostnet: built {done}/{} hosts, {} s",
                plain.total,
                plain.started.elapsed().as_secs()
            );
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

pub(super) fn progress_bar(len: usize) -> Progress {
    if !std::io::stderr().is_terminal() {
        let now = std::time::Instant::now();
        return Progress {
            bar: indicatif::ProgressBar::hidden(),
            plain: Some(PlainProgress {
                total: len,
                done: std::sync::atomic::AtomicUsize::new(0),
                started: now,
                last: std::sync::Mutex::new(now),
            }),
        };
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("building {bar:40} {pos}/{len} hosts")
    {
        bar.set_style(style);
    }
    Progress { bar, plain: None }
}
