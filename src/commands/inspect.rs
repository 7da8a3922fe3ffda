//! The commands that read and report: `check`, `show` and `plan`.

use std::path::Path;
use std::process::ExitCode;

use rayon::prelude::*;

use super::{CommandResult, report, site_templates, unknown_host, valid_fleet, write_stdout};
use crate::cli::{Format, PlanFormat};
use crate::model::Fleet;
use crate::templates::Templates;

/// `hostnet check`: the definitions, then every host's templates rendered (and dropped). With
/// `--format json` the problems go to stdout as one JSON document instead of to stderr.
pub fn check(hosts: &Path, deny_warnings: bool, format: Format) -> CommandResult {
    let (definitions, diagnostics, fleet) = crate::load_fleet(hosts);
    crate::timing::mark("definitions parsed and checked");
    if format == Format::Text {
        report(&definitions, &diagnostics);
    }
    // The templates (built-in or the site's overrides) must render for every host too.
    let template_error = match fleet.as_ref().map(render_everything) {
        Some(Err(error)) => Some(error.to_string()),
        _ => None,
    };
    let failed = diagnostics.has_errors()
        || (deny_warnings && diagnostics.warning_count() > 0)
        || template_error.is_some();
    let hosts_checked = fleet.as_ref().map_or(0, |fleet| fleet.hosts.len());
    match format {
        Format::Json => {
            let document = serde_json::json!({
                "hosts": hosts.display().to_string(),
                "hosts-checked": hosts_checked,
                "errors": diagnostics.error_count(),
                "warnings": diagnostics.warning_count(),
                "diagnostics": diagnostics.to_json(&definitions.sources),
                "template-error": template_error,
                "ok": !failed,
            });
            write_json(&document)?;
        }
        Format::Text => {
            if let Some(error) = &template_error {
                crate::tell!("hostnet: error: {error}");
            }
            if !failed {
                crate::say!(
                    "{}: {hosts_checked} hosts checked, no errors",
                    hosts.display()
                );
            }
        }
    }
    crate::drop_in_background((definitions, fleet));
    Ok(ExitCode::from(if failed { 1 } else { 0 }))
}

/// Renders every host's files, scriptlets and kickstart without writing them: the first failing
/// host in definition order, whichever thread finds it first.
fn render_everything(fleet: &Fleet) -> Result<(), Box<dyn std::error::Error>> {
    let templates = site_templates(&fleet.site, None)?;
    let render = |host: &crate::model::Host| -> Result<(), String> {
        crate::render::render_host(&templates, host).map_err(|e| e.to_string())?;
        if let Some(kickstart) = &fleet.site.kickstart {
            crate::kickstart::render(&templates, kickstart, host).map_err(|e| e.to_string())?;
        }
        Ok(())
    };
    match fleet
        .hosts
        .par_iter()
        .find_map_first(|host| render(host).err())
    {
        Some(error) => Err(error.into()),
        None => Ok(()),
    }
}

/// `hostnet show HOST`: the host's effective definition, even when other hosts have errors.
pub fn show(hosts: &Path, host: &str, format: Format) -> CommandResult {
    let (definitions, diagnostics, fleet) = crate::load_fleet(hosts);
    crate::timing::mark("definitions parsed and checked");
    let Some(definition) = definitions.hosts.iter().find(|d| d.name == *host) else {
        let defined = definitions.hosts.iter().map(|d| d.name.as_str());
        let unknown = unknown_host(defined, host);
        if !diagnostics.has_errors() {
            return Err(unknown.into());
        }
        // A host whose own file, group file or site file did not parse is not among the
        // definitions: say why, not only that it is missing.
        report(&definitions, &diagnostics);
        crate::tell!(
            "hostnet: {unknown}; a host whose file, group file or site.toml does not parse (above) is not listed: fix those first"
        );
        return Ok(ExitCode::from(1));
    };
    // Errors elsewhere in the fleet do not hide a host that is fine on its own.
    let concerns_host = |d: &crate::diagnostic::Diagnostic| {
        d.severity == crate::diagnostic::Severity::Error && d.concerns(host, definition.file)
    };
    let checked = match &fleet {
        Some(fleet) => fleet.host(host).cloned(),
        None => crate::validate::check_one_host(&definitions, host),
    };
    let Some(checked) = checked.filter(|_| !diagnostics.iter().any(concerns_host)) else {
        report(&definitions, &diagnostics);
        crate::tell!("hostnet: host {host} has errors; fix them first (hostnet check)");
        return Ok(ExitCode::from(1));
    };
    let effective = crate::show::effective_definition(&definitions, definition, &checked);
    match format {
        Format::Text => write_stdout(effective.text.as_bytes())?,
        Format::Json => write_json(&effective.json)?,
    }
    if diagnostics.has_errors() {
        crate::tell!(
            "hostnet: warning: {} error(s) in other definitions (hostnet check lists them); host {host} itself checks",
            diagnostics.error_count()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A JSON document on stdout, with what a terminal must not receive escaped as `\uXXXX`.
pub(super) fn write_json(document: &serde_json::Value) -> std::io::Result<()> {
    let json = serde_json::to_string_pretty(document).expect("a JSON value serialises");
    write_stdout((crate::terminal::json_printable(&json).into_owned() + "\n").as_bytes())
}

/// `hostnet plan`'s options.
pub struct PlanCommand<'a> {
    pub out: &'a Path,
    pub previous: Option<&'a str>,
    pub format: PlanFormat,
    pub templates: Option<&'a Path>,
}

/// Exit status of `plan` when something would change.
pub const PLAN_CHANGES: u8 = 2;

/// `hostnet plan`: exit 0 when nothing would change, [`PLAN_CHANGES`] when something would.
pub fn plan(hosts: &Path, command: &PlanCommand) -> CommandResult {
    let Some(fleet) = valid_fleet(hosts) else {
        return Ok(ExitCode::from(1));
    };
    let templates: Templates = site_templates(&fleet.site, command.templates)?;
    let known = crate::package::versions::KnownPackages::load(
        &command.out.join("repo"),
        &crate::build::repository_index_path(command.out),
        command.previous,
        // A plan signs nothing: it only reads.
        None,
    )?;
    let plan = crate::plan::plan(&fleet, &templates, &known)?;
    let report = match command.format {
        PlanFormat::Human => plan.to_human(),
        PlanFormat::Summary => plan.to_summary(),
        PlanFormat::Json => plan.to_json(),
    };
    write_stdout(report.as_bytes())?;
    let changes = plan.has_changes();
    crate::drop_in_background((fleet, known, plan));
    Ok(ExitCode::from(if changes { PLAN_CHANGES } else { 0 }))
}
