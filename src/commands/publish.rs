//! Publishing a built repository: needs no definitions.

use std::path::Path;
use std::process::ExitCode;

use super::CommandResult;

/// `hostnet publish`.
pub fn publish(
    target: &str,
    repo: &Path,
    (grace, lock_timeout): (u64, u64),
    server: crate::publish::ServerMode,
    signing_service: Option<&str>,
) -> CommandResult {
    let options = crate::publish::PublishOptions {
        repo,
        target,
        grace: std::time::Duration::from_secs(grace),
        lock_timeout: std::time::Duration::from_secs(lock_timeout),
        server,
        signing_service,
    };
    let started = std::time::Instant::now();
    let report = crate::publish::publish(&options, &mut |line| crate::tell!("hostnet: {line}"))?;
    let bytes: u64 = report.uploaded.iter().map(|(_, size)| size).sum();
    for file in &report.deleted {
        crate::say!("  deleted  {file}");
    }
    let swept = match report.swept.len() {
        0 => String::new(),
        count => format!(", {count} interrupted uploads removed"),
    };
    crate::say!(
        "published {} to {target}: {} files uploaded ({bytes} bytes), {} already there, {} deleted, {} superseded files kept for the grace period{swept}; {:.1} s",
        repo.display(),
        report.uploaded.len(),
        report.already_there.len(),
        report.deleted.len(),
        report.waiting,
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
