//! `hostnet build`: every host's package into `<out>/repo/Packages/`, reusing unchanged ones.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::kickstart::pxe;
use crate::model::Fleet;
use crate::output::{Generation, OutputError, io_error};
use crate::package::signing::SigningKey;
use crate::package::versions::{self, Decision, RELEASE};
use crate::package::{PackageError, PackageSpec};
use crate::publish::{self, PublishedPackage};
use crate::render::{self, RenderError};
use crate::templates::Templates;

/// What `build` owns in its output directory; anything else there is left alone.
pub const OWNED_PARTS: [&str; 3] = ["repo", "kickstart", "pxe"];
pub const PACKAGES_DIR: &str = "repo/Packages";
pub const PUBLIC_KEY_FILE: &str = "repo/RPM-GPG-KEY-hostnet";
pub const CHECKSUMS_FILE: &str = "repo/SHA256SUMS";
pub const REPODATA_DIR: &str = "repo/repodata";
pub const KICKSTART_DIR: &str = "kickstart";
pub const PXE_DIR: &str = "pxe";

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Package(#[from] PackageError),
    #[error(transparent)]
    Version(#[from] versions::VersionError),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error(transparent)]
    Template(#[from] crate::templates::TemplateError),
    #[error(transparent)]
    BootEntry(#[from] pxe::UnsafeBootValue),
    #[error(
        "hosts {first} and {second} have the same hostnet-host number {identity}, so their packages would not conflict; rename one of them"
    )]
    IdentityCollision {
        first: String,
        second: String,
        identity: String,
    },
    #[error("writing repodata: {0}")]
    Repodata(rpm::Error),
}

pub struct BuildOptions<'a> {
    pub out: &'a Path,
    pub previous: Option<&'a Path>,
    pub key: Option<&'a SigningKey>,
    pub source_date: u32,
}

/// What happened to one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltPackage {
    pub host: String,
    pub file_name: String,
    pub reused: bool,
    pub sha256: String,
}

pub fn build_fleet(
    fleet: &Fleet,
    templates: &Templates,
    options: &BuildOptions,
) -> Result<Vec<BuiltPackage>, BuildError> {
    refuse_identity_collisions(fleet)?;
    let mut previous_dirs: Vec<PathBuf> = vec![options.out.join(PACKAGES_DIR)];
    if let Some(previous) = options.previous {
        std::fs::read_dir(previous).map_err(|source| versions::VersionError::MissingPrevious {
            dir: previous.to_path_buf(),
            source,
        })?;
        previous_dirs.push(previous.to_path_buf());
    }
    let staging = Generation::new(options.out, &OWNED_PARTS)?;
    let packages_dir = staging.path().join(PACKAGES_DIR);
    std::fs::create_dir_all(&packages_dir).map_err(io_error(&packages_dir))?;

    let progress = progress_bar(fleet.hosts.len());
    let results: Vec<Result<BuiltPackage, BuildError>> = fleet
        .hosts
        .par_iter()
        .map(|host| {
            let rendered = render::render_host(templates, host)?;
            let spec = PackageSpec::new(&fleet.site, host, rendered);
            let previous = versions::find_newest(&previous_dirs, &spec.name)?;
            let (file_name, bytes, reused) =
                match versions::decide(previous.as_ref(), &spec.digest()) {
                    Decision::Reuse(path) => {
                        let bytes = std::fs::read(&path).map_err(io_error(&path))?;
                        let name = path
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        (name, bytes, true)
                    }
                    Decision::Build(version) => {
                        let version = version.to_string();
                        versions::refuse_collision(
                            &previous_dirs,
                            &spec.file_name(&version, RELEASE),
                        )?;
                        let bytes =
                            spec.build(&version, RELEASE, options.source_date, options.key)?;
                        (spec.file_name(&version, RELEASE), bytes, false)
                    }
                };
            staging.write(&Path::new(PACKAGES_DIR).join(&file_name), &bytes, 0o644)?;
            progress.inc(1);
            Ok(BuiltPackage {
                host: host.name.clone(),
                file_name,
                reused,
                sha256: sha256_hex(&bytes),
            })
        })
        .collect();
    progress.finish_and_clear();
    let mut built = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    built.sort_by(|a, b| a.file_name.cmp(&b.file_name));

    let mut package_bytes = Vec::new();
    for package in &built {
        let path = packages_dir.join(&package.file_name);
        package_bytes.push(std::fs::read(&path).map_err(io_error(&path))?);
    }
    let published: Vec<PublishedPackage> = built
        .iter()
        .zip(&package_bytes)
        .map(|(p, bytes)| PublishedPackage {
            file_name: &p.file_name,
            bytes,
        })
        .collect();
    for (name, content) in
        publish::repodata(&published, options.source_date).map_err(BuildError::Repodata)?
    {
        staging.write(&Path::new(REPODATA_DIR).join(name), &content, 0o644)?;
    }

    if let Some(kickstart) = &fleet.site.kickstart {
        for host in &fleet.hosts {
            let text = crate::kickstart::render(templates, kickstart, host)?;
            staging.write(
                &Path::new(KICKSTART_DIR).join(format!("{}.ks", host.name)),
                text.as_bytes(),
                0o644,
            )?;
            if let (Some(pxe), Some(mac)) = (&fleet.site.pxe, host.boot_mac) {
                let stem = pxe::mac_file_stem(&mac);
                let pxelinux = pxe::pxelinux_entry(pxe, kickstart, host)?;
                let grub = pxe::grub_entry(pxe, kickstart, host)?;
                staging.write(
                    &Path::new(PXE_DIR).join("pxelinux.cfg").join(&stem),
                    pxelinux.as_bytes(),
                    0o644,
                )?;
                staging.write(
                    &Path::new(PXE_DIR).join(format!("grub.cfg-{stem}")),
                    grub.as_bytes(),
                    0o644,
                )?;
            }
        }
    }

    let checksums: String = built
        .iter()
        .map(|p| format!("{}  Packages/{}\n", p.sha256, p.file_name))
        .collect();
    staging.write(Path::new(CHECKSUMS_FILE), checksums.as_bytes(), 0o644)?;
    if let Some(key) = options.key {
        staging.write(
            Path::new(PUBLIC_KEY_FILE),
            key.public_key_armored().as_bytes(),
            0o644,
        )?;
    }
    staging.commit()?;
    Ok(built)
}

/// Two hosts sharing a `hostnet-host` number could be installed on one machine together.
fn refuse_identity_collisions(fleet: &Fleet) -> Result<(), BuildError> {
    let mut seen = std::collections::HashMap::new();
    for host in &fleet.hosts {
        let identity = crate::package::host_identity(&host.name);
        if let Some(first) = seen.insert(identity.clone(), &host.name) {
            return Err(BuildError::IdentityCollision {
                first: first.clone(),
                second: host.name.clone(),
                identity,
            });
        }
    }
    Ok(())
}

fn progress_bar(len: usize) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("building {bar:40} {pos}/{len} hosts")
    {
        bar.set_style(style);
    }
    bar
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    crate::package::hex(&sha2::Sha256::digest(bytes))
}

/// `SOURCE_DATE_EPOCH`, or now (with a warning: such builds are not reproducible).
pub fn source_date_epoch() -> Result<u32, String> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) => text.trim().parse::<u32>().map_err(|_| {
            format!("SOURCE_DATE_EPOCH={text:?} is not a Unix time in seconds; use e.g. $(git log -1 --format=%ct)")
        }),
        Err(_) => {
            eprintln!("hostnet: warning: SOURCE_DATE_EPOCH is not set; using the current time, so this build is not reproducible");
            Ok(std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as u32)
                .unwrap_or(0))
        }
    }
}
