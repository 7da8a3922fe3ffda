//! Where a run's time goes, for operators and the benchmark: with `HOSTNET_TIMINGS` set, each
//! phase's end is written to stderr as `hostnet: timing: <seconds since start> s <phase>`.

use std::sync::OnceLock;
use std::time::Instant;

/// The variable that turns the timing lines on.
pub const VARIABLE: &str = "HOSTNET_TIMINGS";

/// When timing started, if it is on; decided once, at the first mark.
fn started() -> Option<Instant> {
    static STARTED: OnceLock<Option<Instant>> = OnceLock::new();
    *STARTED.get_or_init(|| std::env::var_os(VARIABLE).map(|_| Instant::now()))
}

/// Starts the clock (when timing is on); the first mark does too.
pub fn start() {
    started();
}

/// Reports that `phase` just ended.
pub fn mark(phase: &str) {
    if let Some(started) = started() {
        eprintln!(
            "hostnet: timing: {:.3} s {phase}",
            started.elapsed().as_secs_f64()
        );
    }
}
