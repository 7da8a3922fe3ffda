//! What each subcommand does, over the library. `main.rs` only parses and reports.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rayon::prelude::*;

use crate::build::PackageState;
use crate::cli::{Cli, Command};
use crate::definition::Definitions;
use crate::diagnostic::Diagnostics;
use crate::output::Staging;
use crate::package::signing;
use crate::render::{self, tree};
use crate::templates::Templates;
use crate::validate::{CheckedHost, CompactFleet};

/// Where the signing key's passphrase comes from, never the command line.
pub const PASSPHRASE_ENV: &str = "HOSTNET_KEY_PASSPHRASE";

pub type CommandResult = Result<ExitCode, Box<dyn std::error::Error>>;

pub fn run(cli: &Cli) -> CommandResult {
    if let Some(problem) = usage_problem(&cli.command) {
        crate::tell!("hostnet: error: {problem}");
        return Ok(ExitCode::from(2));
    }
    if let Command::Keygen {
        uid,
        bits,
        secret_key,
        public_key,
        passphrase_file,
    } = &cli.command
    {
        // Needs no definitions.
        return keygen(
            uid,
            *bits,
            secret_key,
            public_key,
            passphrase_file.as_deref(),
        );
    }
    if let Command::Publish {
        target,
        repo,
        grace,
        lock_timeout,
    } = &cli.command
    {
        return publish(target, repo, *grace, *lock_timeout);
    }
    if let Command::Build {
        out,
        key,
        passphrase_file,
        unsigned,
        new_key,
        previous,
        templates,
        ..
    } = &cli.command
    {
        let options = BuildCommand {
            out,
            key: key.as_deref(),
            passphrase_file: passphrase_file.as_deref(),
            unsigned: *unsigned,
            new_key: *new_key,
            previous: previous.as_deref(),
            templates: templates.as_deref(),
        };
        return build(&cli.hosts_dir(), &options);
    }
    // Every command but show keeps no host's model once it is done with it.
    match &cli.command {
        Command::Check { deny_warnings, .. } => return check(&cli.hosts_dir(), *deny_warnings),
        Command::Render {
            names,
            all,
            out,
            templates,
            ..
        } => {
            let selection = Selection { names, all: *all };
            return render_hosts(&cli.hosts_dir(), &selection, out, templates.as_deref());
        }
        Command::Spec {
            names,
            all,
            out,
            previous,
            version,
            templates,
            ..
        } => {
            let selection = Selection { names, all: *all };
            let options = SpecOptions {
                out,
                previous: previous.as_deref(),
                version: *version,
                templates: templates.as_deref(),
            };
            return write_specs(&cli.hosts_dir(), &selection, &options);
        }
        Command::Plan {
            out,
            previous,
            format,
            templates,
            ..
        } => {
            return plan(
                &cli.hosts_dir(),
                out,
                previous.as_deref(),
                *format,
                templates.as_deref(),
            );
        }
        _ => {}
    }
    // `show` may check its host again on its own, so it keeps the definitions.
    let (definitions, diagnostics, fleet) =
        crate::load_fleet(&cli.hosts_dir(), crate::validate::HostDefinitions::Keep);
    crate::timing::mark("definitions parsed and checked");
    match &cli.command {
        Command::Show { host, .. } => {
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
                d.severity == crate::diagnostic::Severity::Error
                    && (d.location.file == definition.file
                        || d.inherited_by.contains(host)
                        // A fleet rule reported at the other host of a pair names this one.
                        || d.message.contains(&format!("host {host} ")))
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
            write_stdout(
                crate::show::effective_definition(&definitions, definition, &checked).as_bytes(),
            )?;
            if diagnostics.has_errors() {
                crate::tell!(
                    "hostnet: warning: {} error(s) in other definitions (hostnet check lists them); host {host} itself checks",
                    diagnostics.error_count()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { .. }
        | Command::Man { .. }
        | Command::Keygen { .. }
        | Command::Check { .. }
        | Command::Render { .. }
        | Command::Spec { .. }
        | Command::Build { .. }
        | Command::Plan { .. }
        | Command::Publish { .. } => {
            unreachable!("handled earlier")
        }
    }
}

/// `hostnet check`: the definitions, then every host's templates rendered (and dropped).
fn check(hosts: &Path, deny_warnings: bool) -> CommandResult {
    let (definitions, diagnostics, fleet) = crate::load_compact_fleet(hosts);
    crate::timing::mark("definitions parsed and checked");
    report(&definitions, &diagnostics);
    let mut failed = diagnostics.has_errors() || (deny_warnings && diagnostics.warning_count() > 0);
    // The templates (built-in or the site's overrides) must render for every host too.
    if let Some(Err(error)) = fleet
        .as_ref()
        .map(|fleet| render_everything(fleet, &definitions))
    {
        crate::tell!("hostnet: error: {error}");
        failed = true;
    }
    if failed {
        return Ok(ExitCode::from(1));
    }
    let hosts_checked = fleet.as_ref().map_or(0, |fleet| fleet.hosts.len());
    crate::say!(
        "{}: {hosts_checked} hosts checked, no errors",
        hosts.display()
    );
    crate::drop_in_background((definitions, fleet));
    Ok(ExitCode::SUCCESS)
}

/// `hostnet plan`: exit 0 when nothing would change, 2 when something would.
fn plan(
    hosts: &Path,
    out: &Path,
    previous: Option<&str>,
    format: crate::cli::PlanFormat,
    templates: Option<&Path>,
) -> CommandResult {
    let Some((definitions, fleet)) = valid_fleet(hosts) else {
        return Ok(ExitCode::from(1));
    };
    let templates = site_templates(fleet.site(), templates)?;
    let known = crate::package::versions::KnownPackages::load(
        &out.join("repo"),
        &crate::build::repository_index_path(out),
        previous,
        // A plan signs nothing: it only reads.
        None,
    )?;
    let plan = crate::plan::plan(&fleet, &definitions, &templates, &known)?;
    let report = match format {
        crate::cli::PlanFormat::Human => plan.to_human(),
        crate::cli::PlanFormat::Json => plan.to_json(),
    };
    write_stdout(report.as_bytes())?;
    let changes = plan.has_changes();
    crate::drop_in_background((definitions, fleet, known, plan));
    Ok(ExitCode::from(if changes { 2 } else { 0 }))
}

/// The hosts a command names, or all of them.
struct Selection<'a> {
    names: &'a [String],
    all: bool,
}

impl Selection<'_> {
    fn of<'f>(&self, fleet: &'f CompactFleet) -> Result<Vec<&'f CheckedHost>, String> {
        if self.all {
            return Ok(fleet.hosts.iter().collect());
        }
        self.names
            .iter()
            .map(|name| {
                fleet
                    .hosts
                    .iter()
                    .find(|host| host.name == *name)
                    .ok_or_else(|| unknown_host(fleet.hosts.iter().map(|h| h.name.as_str()), name))
            })
            .collect()
    }

    /// Whether each host goes into a folder of its own.
    fn nested(&self) -> bool {
        self.all || self.names.len() > 1
    }
}

/// `hostnet render`: each selected host's files and scriptlets, one host at a time.
fn render_hosts(
    hosts: &Path,
    selection: &Selection,
    out: &Path,
    templates: Option<&Path>,
) -> CommandResult {
    let Some((definitions, fleet)) = valid_fleet(hosts) else {
        return Ok(ExitCode::from(1));
    };
    let selected = selection.of(&fleet)?;
    let templates = site_templates(fleet.site(), templates)?;
    let staging = Staging::new(out)?;
    for checked in &selected {
        let host = fleet.model(&definitions, checked)?;
        let rendered = render::render_host(&templates, &host)?;
        let base = if selection.nested() {
            PathBuf::from(&host.name)
        } else {
            PathBuf::new()
        };
        tree::write_host(&staging, &base, &rendered)?;
    }
    staging.commit()?;
    crate::say!("rendered {} host(s) into {}", selected.len(), out.display());
    Ok(ExitCode::SUCCESS)
}

struct SpecOptions<'a> {
    out: &'a Path,
    previous: Option<&'a str>,
    version: Option<u64>,
    templates: Option<&'a Path>,
}

/// `hostnet spec`: a spec file and a source tarball per package, numbered as build would; each
/// host's written before the next is rendered.
fn write_specs(hosts: &Path, selection: &Selection, options: &SpecOptions) -> CommandResult {
    let Some((definitions, fleet)) = valid_fleet(hosts) else {
        return Ok(ExitCode::from(1));
    };
    let selected = selection.of(&fleet)?;
    let templates = site_templates(fleet.site(), options.templates)?;
    let source_date = crate::build::source_date_epoch()?;
    let known = crate::package::versions::KnownPackages::published(options.previous, None)?;
    let staging = Staging::new(options.out)?;
    // Said once the files are in place: a failing host leaves nothing written.
    let mut written = String::new();
    let mut write_spec =
        |spec: &crate::package::PackageSpec| -> Result<(), Box<dyn std::error::Error>> {
            let number = match options.version {
                Some(number) => number,
                None => known
                    .plan(&spec.name, &spec.digest(), 1, |v| {
                        spec.file_name(&v.to_string(), crate::package::versions::RELEASE)
                    })?
                    .current
                    .version(),
            }
            .to_string();
            let text = spec.spec_file(
                &templates,
                &number,
                crate::package::versions::RELEASE,
                source_date,
            )?;
            staging.write(
                Path::new(&format!("{}.spec", spec.name)),
                text.as_bytes(),
                0o644,
            )?;
            let tarball = spec.source_tarball(&number, source_date)?;
            let source_name = spec.source_name(&number);
            staging.write(Path::new(&source_name), &tarball, 0o644)?;
            written.push_str(&format!(
                "{}-{number}: {}.spec, {source_name}\n",
                spec.name, spec.name
            ));
            Ok(())
        };
    for checked in &selected {
        let host = fleet.model(&definitions, checked)?;
        let rendered = render::render_host(&templates, &host)?;
        write_spec(&crate::package::PackageSpec::new(
            fleet.site(),
            &host,
            rendered,
        ))?;
    }
    if selection.all {
        write_spec(&crate::package::PackageSpec::tools(fleet.site()))?;
    }
    staging.commit()?;
    write_stdout(written.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// One line per package of the new repository, one per retired package, and the summary.
fn build_summary(
    report: &crate::build::BuildReport,
    out: &Path,
    signing_key: Option<&signing::SigningKey>,
    elapsed: std::time::Duration,
) -> String {
    use std::fmt::Write as _;
    let count = |state| {
        let packages = report.packages.iter().filter(|p| p.state == state);
        let (count, bytes) = packages.fold((0, 0), |(n, b), p| (n + 1, b + p.size));
        format!("{count} ({bytes} bytes)")
    };
    let mut text = String::new();
    for package in &report.packages {
        let state = match package.state {
            PackageState::Built => "built",
            PackageState::Unchanged => "unchanged",
            PackageState::Retained => "kept",
        };
        let place = if package.local {
            ""
        } else {
            "  (stays where it is published)"
        };
        let _ = writeln!(text, "{state:>9}  {}{place}", package.file_name);
    }
    for retired in &report.retired {
        let _ = writeln!(text, "  retired  {}: {}", retired.file_name, retired.reason);
    }
    let signing = signing_key
        .map(|key| key.package_signer.signing_spent())
        .filter(|(signatures, _)| *signatures > 0)
        .map(|(signatures, spent)| {
            let plural = if signatures == 1 { "" } else { "s" };
            format!(
                " ({signatures} signature{plural}, {:.2} s of signing summed over threads)",
                spent.as_secs_f64()
            )
        })
        .unwrap_or_default();
    let _ = writeln!(
        text,
        "built {}, unchanged {}, older versions kept {}, retired {} in {:.2} s{signing}",
        count(PackageState::Built),
        count(PackageState::Unchanged),
        count(PackageState::Retained),
        report.retired.len(),
        elapsed.as_secs_f64()
    );
    if !report.output_changed {
        let _ = writeln!(
            text,
            "nothing changed: {} is as the previous build left it",
            out.display()
        );
    }
    let _ = match signing_key {
        Some(key) => writeln!(
            text,
            "signed with {} ({}); public key in {}",
            key.short_id(),
            key.user_id,
            out.join(crate::build::PUBLIC_KEY_FILE).display()
        ),
        None => writeln!(text, "UNSIGNED"),
    };
    text
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

/// Where `build` finds the signing key when `--key` is not given.
pub const KEY_ENV: &str = "HOSTNET_SIGNING_KEY";

/// Renders every host's files, scriptlets and kickstart without writing them.
fn render_everything(
    fleet: &CompactFleet,
    definitions: &crate::definition::Definitions,
) -> Result<(), Box<dyn std::error::Error>> {
    let templates = site_templates(fleet.site(), None)?;
    let site = fleet.site();
    let render = |checked: &crate::validate::CheckedHost| -> Result<(), String> {
        let host = fleet
            .model(definitions, checked)
            .map_err(|e| e.to_string())?;
        render::render_host(&templates, &host).map_err(|e| e.to_string())?;
        if let Some(kickstart) = &site.kickstart {
            crate::kickstart::render(&templates, kickstart, &host).map_err(|e| e.to_string())?;
        }
        Ok(())
    };
    // The first failing host in definition order, whichever thread finds it first.
    match fleet
        .hosts
        .par_iter()
        .find_map_first(|host| render(host).err())
    {
        Some(error) => Err(error.into()),
        None => Ok(()),
    }
}

/// The templates with overrides from `--templates`, else from the site's `[kickstart] template-dir`:
/// render and build must use the same ones, so that what render shows is what the package runs.
fn site_templates(
    site: &crate::model::Site,
    cli_dir: Option<&std::path::Path>,
) -> Result<Templates, crate::templates::TemplateError> {
    let site_dir = site
        .kickstart
        .as_ref()
        .and_then(|k| k.template_dir.as_deref());
    Templates::new(cli_dir.or(site_dir))
}

/// `hostnet build`'s options.
struct BuildCommand<'a> {
    out: &'a Path,
    key: Option<&'a Path>,
    passphrase_file: Option<&'a Path>,
    unsigned: bool,
    new_key: bool,
    previous: Option<&'a str>,
    templates: Option<&'a Path>,
}

fn build(hosts: &Path, command: &BuildCommand) -> CommandResult {
    let Some((definitions, fleet)) = valid_fleet(hosts) else {
        return Ok(ExitCode::from(1));
    };
    let source_date = crate::build::source_date_epoch()?;
    let signing_key = match command.key {
        Some(path) if !command.unsigned => {
            let passphrase = signing::read_passphrase(command.passphrase_file, PASSPHRASE_ENV)?;
            Some(signing::SigningKey::load(path, passphrase)?)
        }
        _ => {
            crate::tell!(
                "hostnet: WARNING: building UNSIGNED packages (--unsigned); yum with gpgcheck=1 refuses them. Never publish these."
            );
            None
        }
    };
    let templates = site_templates(fleet.site(), command.templates)?;
    let options = crate::build::BuildOptions {
        out: command.out,
        previous: command.previous,
        key: signing_key.as_ref(),
        source_date,
        new_key: command.new_key,
    };
    let started = std::time::Instant::now();
    let report = crate::build::build_fleet(fleet, &definitions, &templates, &options)?;
    // Every host's file text, kept for the hosts the build rendered: freeing it is no reason to
    // wait.
    crate::drop_in_background(definitions);
    let summary = build_summary(
        &report,
        command.out,
        signing_key.as_ref(),
        started.elapsed(),
    );
    write_stdout(summary.as_bytes())?;
    crate::timing::mark("summary written");
    crate::drop_in_background(report);
    Ok(ExitCode::SUCCESS)
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

/// The definitions under `hosts` and their checked fleet, if it is valid; otherwise reports why
/// and returns `None`.
fn valid_fleet(hosts: &Path) -> Option<(Definitions, CompactFleet)> {
    let (definitions, diagnostics, fleet) = crate::load_compact_fleet(hosts);
    crate::timing::mark("definitions parsed and checked");
    let fleet = checked(&definitions, &diagnostics, fleet)?;
    Some((definitions, fleet))
}

/// The fleet if it is valid; otherwise reports why and returns `None`.
fn checked<F>(definitions: &Definitions, diagnostics: &Diagnostics, fleet: Option<F>) -> Option<F> {
    if diagnostics.has_errors() || fleet.is_none() {
        report(definitions, diagnostics);
        crate::tell!("hostnet: the definitions have errors; fix them first (hostnet check)");
        return None;
    }
    if diagnostics.warning_count() > 0 {
        report(definitions, diagnostics);
    }
    fleet
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

fn keygen(
    uid: &str,
    bits: usize,
    secret_key: &std::path::Path,
    public_key: &std::path::Path,
    passphrase_file: Option<&std::path::Path>,
) -> CommandResult {
    let passphrase = signing::read_passphrase(passphrase_file, PASSPHRASE_ENV)?;
    if let Err(e) = crate::validate::values::plain_text(uid) {
        return Err(format!("--uid: {e}").into());
    }
    let request = signing::KeygenRequest {
        user_id: uid,
        bits,
        passphrase,
        secret_path: secret_key,
        public_path: public_key,
    };
    crate::tell!("hostnet: generating an RSA-{bits} key; this takes a few seconds");
    let fingerprint = signing::keygen(&request)?;
    crate::say!("created RSA-{bits} key {fingerprint}");
    crate::say!("secret key (mode 0600): {}", secret_key.display());
    crate::say!("public key: {}", public_key.display());
    Ok(ExitCode::SUCCESS)
}

/// `hostnet publish`: needs no definitions.
fn publish(target: &str, repo: &Path, grace: u64, lock_timeout: u64) -> CommandResult {
    let options = crate::publish::PublishOptions {
        repo,
        target,
        grace: std::time::Duration::from_secs(grace),
        lock_timeout: std::time::Duration::from_secs(lock_timeout),
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
