//! The commands that write outputs: `render`, `spec`, `build` and `keygen`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{CommandResult, PASSPHRASE_ENV, Selection, site_templates, valid_fleet, write_stdout};
use crate::build::PackageState;
use crate::output::Staging;
use crate::package::signing;
use crate::render::{self, tree};

/// `hostnet render`: each selected host's files and scriptlets, one host at a time.
pub fn render(
    hosts: &Path,
    selection: &Selection,
    out: &Path,
    templates: Option<&Path>,
) -> CommandResult {
    let Some(fleet) = valid_fleet(hosts) else {
        return Ok(ExitCode::from(1));
    };
    let selected = selection.of(&fleet)?;
    let templates = site_templates(&fleet.site, templates)?;
    let staging = Staging::new(out)?;
    for host in &selected {
        let rendered = render::render_host(&templates, host)?;
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

/// `hostnet spec`'s options.
pub struct SpecCommand<'a> {
    pub out: &'a Path,
    pub previous: Option<&'a str>,
    pub version: Option<u64>,
    pub templates: Option<&'a Path>,
}

/// `hostnet spec`: a spec file and a source tarball per package, numbered as build would; each
/// host's written before the next is rendered.
pub fn specs(hosts: &Path, selection: &Selection, options: &SpecCommand) -> CommandResult {
    let Some(fleet) = valid_fleet(hosts) else {
        return Ok(ExitCode::from(1));
    };
    let selected = selection.of(&fleet)?;
    let templates = site_templates(&fleet.site, options.templates)?;
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
    for host in &selected {
        let rendered = render::render_host(&templates, host)?;
        write_spec(&crate::package::PackageSpec::new(
            &fleet.site,
            host,
            rendered,
        ))?;
    }
    if selection.all {
        write_spec(&crate::package::PackageSpec::tools(&fleet.site))?;
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

/// `hostnet build`'s options.
pub struct BuildCommand<'a> {
    pub out: &'a Path,
    pub key: Option<&'a Path>,
    pub passphrase_file: Option<&'a Path>,
    pub unsigned: bool,
    pub new_key: bool,
    pub previous: Option<&'a str>,
    pub templates: Option<&'a Path>,
}

pub fn build(hosts: &Path, command: &BuildCommand) -> CommandResult {
    let Some(fleet) = valid_fleet(hosts) else {
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
    let templates = site_templates(&fleet.site, command.templates)?;
    let options = crate::build::BuildOptions {
        out: command.out,
        previous: command.previous,
        key: signing_key.as_ref(),
        source_date,
        new_key: command.new_key,
    };
    let started = std::time::Instant::now();
    let report = crate::build::build_fleet(&fleet, &templates, &options)?;
    crate::drop_in_background(fleet);
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

/// `hostnet keygen`: needs no definitions.
pub fn keygen(
    uid: &str,
    bits: usize,
    (secret_key, public_key): (&Path, &Path),
    passphrase_file: Option<&Path>,
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
