//! `hostnet build`: every host's package into `<out>/repo/Packages/`, reusing unchanged ones, and
//! the repository metadata listing the kept versions of every host.

use std::path::{Path, PathBuf};

use crate::kickstart::pxe;
use crate::memo::RenderMemo;
use crate::model::{Fleet, Host, Site};
use crate::output::{Committed, Generation, OutputError, STATE_DIR, io_error};
use crate::package::PackageError;
use crate::package::signing::SigningKey;
use crate::package::versions::{self, KnownPackages};
use crate::render::RenderError;
use crate::repodata::DataFile;
use crate::repository::ListedPackage;
use crate::repository::index::EntriesWriter;
use crate::templates::Templates;

/// What `build` owns in its output directory; anything else there is left alone.
pub const OWNED_PARTS: [&str; 3] = ["repo", "kickstart", "pxe"];
pub const PACKAGES_DIR: &str = "repo/Packages";
pub const PUBLIC_KEY_FILE: &str = "repo/RPM-GPG-KEY-hostnet";
pub const CHECKSUMS_FILE: &str = "repo/SHA256SUMS";
pub const REPODATA_DIR: &str = "repo/repodata";
pub const KICKSTART_DIR: &str = "kickstart";
/// What rendering each host gave the last build (see [`crate::memo`]), in the state directory.
pub const RENDER_MEMO: &str = "render-memo";
const REPOSITORY_INDEX: &str = "repository-index";
pub const PXE_DIR: &str = "pxe";

mod metadata;
mod place;
mod progress;

use place::Placing;

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
    #[error(
        "{out}: its packages are signed {live}, and this build signs {new}. Hosts trust the key they were installed with, so every package would be signed again and refused by them: build with the key that signed it, or into another --out; to move this output to the new key (once the hosts trust it), pass --new-key"
    )]
    KeyChanged {
        out: String,
        live: String,
        new: String,
    },
    #[error("writing repodata: {0}")]
    Repodata(rpm::Error),
    #[error(
        "reading back the repodata entry made for {file_name}: {detail} (a hostnet bug; please report it)"
    )]
    RepodataEntry { file_name: String, detail: String },
    #[error("signing repodata/repomd.xml: {0}")]
    MetadataSignature(String),
    #[error(
        "{0} describes the live repository metadata, which lists other packages than it says; delete it (the next build reads the metadata instead)"
    )]
    IndexMismatch(PathBuf),
}

pub struct BuildOptions<'a> {
    pub out: &'a Path,
    /// A published repository (directory or URL) or a directory of packages.
    pub previous: Option<&'a str>,
    pub key: Option<&'a SigningKey>,
    pub source_date: u32,
    /// Re-sign an output whose packages another key (or none) signed.
    pub new_key: bool,
}

/// What happened to one package of the new repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageState {
    /// New content, built and signed now.
    Built,
    /// The host's current package, unchanged since it was built.
    Unchanged,
    /// An older version of a host, still listed for `yum downgrade`.
    Retained,
}

/// One package the new repository lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltPackage {
    pub file_name: String,
    pub state: PackageState,
    /// Whether the file is in the new `repo/Packages/`; if not, it stays where it is published.
    pub local: bool,
    pub size: u64,
}

/// How a package is in the new repository; its name, checksum and size are its listing's.
#[derive(Debug, Clone, Copy)]
struct ListedAs {
    state: PackageState,
    /// Whether the file is in the new `repo/Packages/`.
    local: bool,
}

/// A package the new repository no longer lists, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetiredPackage {
    pub file_name: String,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct BuildReport {
    pub packages: Vec<BuiltPackage>,
    pub retired: Vec<RetiredPackage>,
    /// Whether the output changed; `false` when every file was already what the live build holds.
    pub output_changed: bool,
}

/// One package of the new repository with its listing: computed now (its metadata entries in the
/// build's spill), or borrowed from the metadata that listed it before (its entries in memory, or
/// in the live index's entries file).
type Listed<'k> = (ListedAs, Listing<'k>);

/// A package's listing in the new repository: the one known from before, or one made now. Boxed:
/// a listing is some 300 bytes in place, and a fleet's listings are moved between vectors.
enum Listing<'k> {
    Known(&'k ListedPackage),
    Made(Box<ListedPackage>),
}

impl std::ops::Deref for Listing<'_> {
    type Target = ListedPackage;

    fn deref(&self) -> &ListedPackage {
        match self {
            Listing::Known(listing) => listing,
            Listing::Made(listing) => listing,
        }
    }
}

/// A generation's signer as a sentence part: `with key <fingerprint>` or `by no key (unsigned)`.
fn describe_signer(signer: &str) -> String {
    if signer == "unsigned" {
        "by no key (unsigned)".into()
    } else {
        format!("with key {signer}")
    }
}

/// Builds the fleet into `options.out`, in stages: the output opened (its lock, its signer),
/// what was built before read, every package placed, the repository metadata written, and the
/// new generation committed.
pub fn build_fleet(
    fleet: &Fleet,
    templates: &Templates,
    options: &BuildOptions,
) -> Result<BuildReport, BuildError> {
    refuse_identity_collisions(&fleet.hosts)?;
    let staging = open_output(options)?;
    crate::timing::mark("live generation read");
    let before = Before::read(&fleet.site, templates, options)?;
    crate::timing::mark("packages built before and render memo read");
    // The entries of the packages made, written aside as each is made: a fleet's entries are tens
    // of megabytes, which memory would otherwise hold until the metadata is written.
    let state_dir = options.out.join(STATE_DIR);
    let spill = std::sync::Mutex::new(EntriesWriter::spill_in(&state_dir)?);
    let next_memo = before.memo.next();
    let context = Placing {
        known: &before.known,
        keep_versions: fleet.site.package.keep_versions,
        site: &fleet.site,
        templates,
        staging: &staging,
        spill: &spill,
        options,
    };
    let (listed, retired) = context.place_fleet(fleet, (&before.memo, &next_memo))?;
    let spilled = spill
        .into_inner()
        .expect("no thread panics while spilling")
        .finish()
        .map_err(io_error(&state_dir))?;
    let kickstart = fleet.site.kickstart.as_ref();
    let written =
        metadata::write_repository(&staging, (&listed, kickstart), &spilled, &before, options)?;
    drop(spilled);
    crate::timing::mark("repository metadata made");
    // The index of this build's metadata (a cache for the next build, valid only for this very
    // repomd.xml, so harmless if the commit fails) is written while the commit links files.
    let (committed, index_saved) = rayon::join(
        || staging.commit(),
        || written.save_index(&listed, &before.known, options.out),
    );
    let output_changed = committed? == Committed::Switched;
    if let Err(error) = index_saved {
        crate::tell!(
            "hostnet: warning: {error}; the next build reads the repository metadata instead"
        );
    }
    crate::timing::mark("output committed and repository index saved");
    // Only once the output it describes is live. A memo is a cache: failing to keep it costs
    // the next build time, not correctness.
    if let Err(error) = next_memo.save() {
        crate::tell!("hostnet: warning: {error}; the next build renders every host again");
    }
    crate::timing::mark("render memo saved");
    let packages = listed
        .into_iter()
        .map(|(ListedAs { state, local }, listing)| BuiltPackage {
            file_name: listing.file_name().to_string(),
            state,
            local,
            size: listing.size,
        })
        .collect();
    crate::drop_in_background(before);
    Ok(BuildReport {
        packages,
        retired,
        output_changed,
    })
}

/// The output's new generation, under its lock; refused when the live one was signed otherwise
/// and `--new-key` was not given.
fn open_output(options: &BuildOptions) -> Result<Generation, BuildError> {
    let signer = options
        .key
        .map_or_else(|| "unsigned".to_string(), |key| key.fingerprint.clone());
    // First, for its lock: nothing below reads the output while another build writes it.
    let staging = Generation::new(options.out, &OWNED_PARTS, &signer)?;
    if let Some(live_signer) = staging.live_signer()
        && live_signer != signer
        && !options.new_key
    {
        return Err(BuildError::KeyChanged {
            out: options.out.display().to_string(),
            live: describe_signer(live_signer),
            new: describe_signer(&signer),
        });
    }
    Ok(staging)
}

/// What the build finds of earlier builds: the packages built or published before, the live
/// metadata documents, and the render memo.
pub(crate) struct Before {
    known: KnownPackages,
    live_metadata: Vec<DataFile>,
    memo: RenderMemo,
}

impl Before {
    fn read(
        site: &Site,
        templates: &Templates,
        options: &BuildOptions,
    ) -> Result<Before, BuildError> {
        let repo = options.out.join("repo");
        let (known, (live_metadata, memo)) = rayon::join(
            || {
                KnownPackages::load(
                    &repo,
                    &repository_index_path(options.out),
                    options.previous,
                    options.key,
                )
            },
            || {
                let memo_path = options.out.join(STATE_DIR).join(RENDER_MEMO);
                (
                    crate::repository::data_files(&repo),
                    RenderMemo::load(&memo_path, templates, site),
                )
            },
        );
        Ok(Before {
            known: known?,
            live_metadata,
            memo,
        })
    }
}

/// The build's index of its own live repository, in the output's state directory.
pub fn repository_index_path(out: &Path) -> PathBuf {
    out.join(STATE_DIR).join(REPOSITORY_INDEX)
}

/// Two hosts sharing a `hostnet-host` number could be installed on one machine together.
fn refuse_identity_collisions(hosts: &[Host]) -> Result<(), BuildError> {
    let mut seen = std::collections::HashMap::new();
    for host in hosts {
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

/// `SOURCE_DATE_EPOCH`, or now (with a warning: such builds are not reproducible).
pub fn source_date_epoch() -> Result<u32, String> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) => text.trim().parse::<u32>().map_err(|_| {
            format!("SOURCE_DATE_EPOCH={text:?} is not a Unix time in seconds; use e.g. $(git log -1 --format=%ct)")
        }),
        Err(_) => {
            crate::tell!("hostnet: warning: SOURCE_DATE_EPOCH is not set; using the current time, so this build is not reproducible");
            Ok(std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as u32)
                .unwrap_or(0))
        }
    }
}
