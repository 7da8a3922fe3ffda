//! What each subcommand does, over the library: one `match` dispatches them all. `main.rs` only
//! parses and reports.
//!
//! - [`inspect`]: the commands that read and report (check, show, plan);
//! - [`make`]: the commands that write outputs (render, spec, build, keygen);
//! - [`publish`]: publishing a built repository.

mod adopt;
mod inspect;
mod make;
mod publish;

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory as _;

use crate::cli::{Cli, Command};
use crate::definition::Definitions;
use crate::diagnostic::Diagnostics;
use crate::model::{Fleet, Host};
use crate::templates::Templates;

/// Where the signing key's passphrase comes from, never the command line.
pub const PASSPHRASE_ENV: &str = "HOSTNET_KEY_PASSPHRASE";
/// Where `build` finds the signing key when `--key` is not given.
pub const KEY_ENV: &str = "HOSTNET_SIGNING_KEY";

/// Exit status of a usage error (sysexits' EX_USAGE): apart from `plan`'s 2, "something would
/// change", so that a pipeline gating on `plan` never takes a mistyped flag for a change.
pub const USAGE_ERROR: u8 = 64;

pub type CommandResult = Result<ExitCode, Box<dyn std::error::Error>>;

pub fn run(cli: &Cli) -> CommandResult {
    if let Some(problem) = usage_problem(&cli.command) {
        crate::tell!("hostnet: error: {problem}");
        return Ok(ExitCode::from(USAGE_ERROR));
    }
    let hosts = cli.hosts_dir();
    match &cli.command {
        Command::Check {
            deny_warnings,
            format,
            ..
        } => inspect::check(&hosts, *deny_warnings, *format),
        Command::Show { host, format, .. } => inspect::show(&hosts, host, *format),
        Command::Plan {
            before,
            format,
            templates,
            ..
        } => inspect::plan(
            &hosts,
            &inspect::PlanCommand {
                out: &before.out,
                previous: before.previous.as_deref(),
                format: *format,
                templates: templates.as_deref(),
            },
        ),
        Command::Render {
            names,
            all,
            out,
            templates,
            ..
        } => make::render(
            &hosts,
            &Selection { names, all: *all },
            out,
            templates.as_deref(),
        ),
        Command::Spec {
            names,
            all,
            out,
            previous,
            version,
            templates,
            ..
        } => make::specs(
            &hosts,
            &Selection { names, all: *all },
            &make::SpecCommand {
                out,
                previous: previous.as_deref(),
                version: *version,
                templates: templates.as_deref(),
            },
        ),
        Command::Build {
            out,
            key,
            passphrase_file,
            unsigned,
            new_key,
            previous,
            templates,
            ..
        } => make::build(
            &hosts,
            &make::BuildCommand {
                out,
                key: key.as_deref(),
                passphrase_file: passphrase_file.as_deref(),
                unsigned: *unsigned,
                new_key: *new_key,
                previous: previous.as_deref(),
                templates: templates.as_deref(),
            },
        ),
        Command::Keygen {
            uid,
            bits,
            secret_key,
            public_key,
            passphrase_file,
        } => make::keygen(
            uid,
            *bits,
            (secret_key, public_key),
            passphrase_file.as_deref(),
        ),
        Command::Publish {
            target,
            repo,
            grace,
            lock_timeout,
            server,
            signing_service,
        } => publish::publish(
            target,
            repo,
            (*grace, *lock_timeout),
            *server,
            signing_service.as_deref(),
        ),
        Command::New { host, group, .. } => adopt::new(&hosts, host, group.as_deref()),
        Command::Import {
            sources,
            group,
            name,
            slice,
            ..
        } => adopt::import(
            &hosts,
            sources,
            group.as_deref(),
            (name.as_deref(), slice.as_deref()),
        ),
        Command::List { before, format, .. } => {
            adopt::list(&hosts, &before.out, before.previous.as_deref(), *format)
        }
        Command::Completions { shell } => completions(*shell),
        Command::Man { out_dir } => man(out_dir.as_deref()),
    }
}

/// Completions come straight from the clap definition; bash's also completes host names, from
/// the definitions tree `--hosts` (or $HOSTNET_HOSTS, else `hosts`) names when completing.
fn completions(shell: clap_complete::Shell) -> CommandResult {
    let mut script = Vec::new();
    clap_complete::generate(
        shell,
        &mut crate::cli::Cli::command(),
        "hostnet",
        &mut script,
    );
    if shell == clap_complete::Shell::Bash {
        script.extend_from_slice(crate::cli::BASH_HOST_COMPLETION.as_bytes());
    }
    write_stdout(&script)?;
    Ok(ExitCode::SUCCESS)
}

/// The man page, or with a directory hostnet.1 and the hostnet-<subcommand>.1 pages it refers to.
fn man(out_dir: Option<&Path>) -> CommandResult {
    match out_dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(crate::cli::Cli::command()).render(&mut page)?;
            write_stdout(&page)?;
        }
        Some(dir) => std::fs::create_dir_all(dir)
            .and_then(|()| clap_mangen::generate_to(crate::cli::Cli::command(), dir))
            .map_err(|e| format!("{}: {e}", dir.display()))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The hosts a command names, or all of them.
pub struct Selection<'a> {
    names: &'a [String],
    all: bool,
}

impl Selection<'_> {
    fn of<'f>(&self, fleet: &'f Fleet) -> Result<Vec<&'f Host>, String> {
        if self.all {
            return Ok(fleet.hosts.iter().collect());
        }
        self.names
            .iter()
            .map(|name| {
                fleet
                    .host(name)
                    .ok_or_else(|| unknown_host(fleet.hosts.iter().map(|h| h.name.as_str()), name))
            })
            .collect()
    }

    /// Whether each host goes into a folder of its own.
    fn nested(&self) -> bool {
        self.all || self.names.len() > 1
    }
}

/// Writes all of `text` to stdout at once, every control character but newline and tab written
/// out ([`crate::terminal`]); a reader that stops early (`hostnet man | head`) is not an error.
pub fn write_stdout(text: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let text = String::from_utf8_lossy(text);
    let shown = crate::terminal::printable(&text);
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(shown.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => result,
    }
}

/// What clap cannot say well: a missing argument with the ways to give it.
fn usage_problem(command: &Command) -> Option<String> {
    match command {
        Command::Build {
            key: None,
            unsigned: false,
            ..
        } => Some(format!(
            "build signs every package and needs the secret key: --key FILE or {KEY_ENV}=FILE (make one with `hostnet keygen --uid \"Ops <ops@example.com>\"`); --unsigned builds unsigned packages, for tests only"
        )),
        Command::Spec {
            names, all: false, ..
        } if names.is_empty() => Some(
            "spec needs the hosts to write specs for: name them (hostnet spec HOST... --out DIR), or --all for every host and hostnet-tools".into(),
        ),
        Command::Render {
            names, all: false, ..
        } if names.is_empty() => Some(
            "render needs the hosts to render: name them (hostnet render HOST... --out DIR), or --all for every host".into(),
        ),
        _ => None,
    }
}

/// The templates with overrides from `--templates`, else from the site's `[kickstart] template-dir`:
/// render and build must use the same ones, so that what render shows is what the package runs.
pub(crate) fn site_templates(
    site: &crate::model::Site,
    cli_dir: Option<&std::path::Path>,
) -> Result<Templates, crate::templates::TemplateError> {
    let site_dir = site
        .kickstart
        .as_ref()
        .and_then(|k| k.template_dir.as_deref());
    Templates::new(cli_dir.or(site_dir))
}

/// Prints diagnostics to stderr with a summary line.
fn report(definitions: &Definitions, diagnostics: &Diagnostics) {
    let mut stderr = std::io::stderr().lock();
    let rendered = diagnostics.render(&definitions.sources);
    let _ = stderr.write_all(crate::terminal::printable(&rendered).as_bytes());
    let (errors, warnings) = (diagnostics.error_count(), diagnostics.warning_count());
    if errors + warnings > 0 {
        let _ = writeln!(stderr, "{errors} error(s), {warnings} warning(s)");
    }
}

/// The fleet under `hosts` with its definitions and what checking found, when it has no error;
/// otherwise reports why and returns `None`.
fn checked_fleet(hosts: &Path) -> Option<(Definitions, Diagnostics, Fleet)> {
    let (definitions, diagnostics, fleet) = crate::load_fleet(hosts);
    crate::timing::mark("definitions parsed and checked");
    match fleet.filter(|_| !diagnostics.has_errors()) {
        Some(fleet) => Some((definitions, diagnostics, fleet)),
        None => {
            report(&definitions, &diagnostics);
            crate::tell!("hostnet: the definitions have errors; fix them first (hostnet check)");
            None
        }
    }
}

/// The checked fleet under `hosts`, if it is valid (warnings are reported); otherwise reports
/// why and returns `None`.
fn valid_fleet(hosts: &Path) -> Option<Fleet> {
    let (definitions, diagnostics, fleet) = checked_fleet(hosts)?;
    if diagnostics.warning_count() > 0 {
        report(&definitions, &diagnostics);
    }
    // The files' text and layers, no longer needed: freeing them is no reason to wait.
    crate::drop_in_background(definitions);
    Some(fleet)
}

fn unknown_host<'n>(defined: impl Iterator<Item = &'n str>, name: &str) -> String {
    let known: Vec<&str> = defined.collect();
    if known.is_empty() {
        return format!("no host named {name:?}; no host is defined");
    }
    format!(
        "no host named {name:?}; defined hosts: {}",
        known.join(", ")
    )
}
