//! `hostnet build`: every host's package into `<out>/repo/Packages/`, reusing unchanged ones, and
//! the repository metadata listing the kept versions of every host.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::definition::Definitions;
use crate::kickstart::pxe;
use crate::memo::{self, NextMemo, RenderMemo};
use crate::model::{Host, Site};
use crate::output::{Committed, Generation, OutputError, STATE_DIR, io_error};
use crate::package::signing::SigningKey;
use crate::package::versions::{self, Current, HostPlan, KnownPackage, KnownPackages, RELEASE};
use crate::package::{PackageError, PackageSpec};
use crate::render::{self, RenderError};
use crate::repodata::{self, DataFile, DocumentWriter, Kind, PackageEntries};
use crate::repository::index::{EntriesAt, EntriesFile, EntriesWriter, WrittenEntries};
use crate::repository::{self, ListedPackage, Stored};
use crate::templates::Templates;
use crate::validate::{CheckedHost, CompactFleet};

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
    #[error(transparent)]
    Recheck(#[from] crate::validate::RecheckDiffers),
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

pub fn build_fleet(
    fleet: CompactFleet,
    definitions: &Definitions,
    templates: &Templates,
    options: &BuildOptions,
) -> Result<BuildReport, BuildError> {
    refuse_identity_collisions(&fleet.hosts)?;
    let site = fleet.site();
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
    crate::timing::mark("live generation read");
    let index_path = repository_index_path(options.out);
    let (known, (live_metadata, memo)) = rayon::join(
        || {
            KnownPackages::load(
                &options.out.join("repo"),
                &index_path,
                options.previous,
                options.key,
            )
        },
        || {
            let live_metadata = crate::repository::data_files(&options.out.join("repo"));
            let memo_path = options.out.join(STATE_DIR).join(RENDER_MEMO);
            (live_metadata, RenderMemo::load(&memo_path, templates, site))
        },
    );
    let known = known?;
    crate::timing::mark("packages built before and render memo read");
    // The entries of the packages made, written aside as each is made: a fleet's entries are tens
    // of megabytes, which memory would otherwise hold until the metadata is written.
    let state_dir = options.out.join(STATE_DIR);
    let spill = std::sync::Mutex::new(EntriesWriter::spill_in(&state_dir)?);
    let next_memo = memo.next();
    let progress = progress_bar(fleet.hosts.len());
    let context = Placing {
        known: &known,
        keep_versions: site.package.keep_versions,
        fleet: &fleet,
        definitions,
        staging: &staging,
        spill: &spill,
        options,
    };
    let orphans = known.orphans(&crate::package::fleet_packages(
        fleet.hosts.iter().map(|host| host.name.as_str()),
    ));
    // The error boxed: a fleet's results wait in this vector, each as large as its largest.
    let placed: Vec<Result<PackageVersions, Box<BuildError>>> = fleet
        .hosts
        .par_iter()
        .map(|host| {
            let placed = context.place_host((&memo, &next_memo), templates, host);
            progress.inc();
            placed.map_err(Box::new)
        })
        .collect();
    progress.finish();
    crate::timing::mark("hosts rendered and packaged");
    let tools = PackageSpec::tools(site);
    let tools_plan = context.plan(&tools.name, &tools.digest())?;
    let (tools_listed, tools_retired) = context.place(tools_plan, Some(&tools))?;
    // Sized exactly: grown by doubling, these fleet-long vectors would hold up to twice their
    // entries, and both old and new buffers at each growth.
    let mut listed: Vec<Listed> = Vec::with_capacity(
        tools_listed.len()
            + placed
                .iter()
                .map(|host| host.as_ref().map_or(0, |(versions, _)| versions.len()))
                .sum::<usize>(),
    );
    let mut report = BuildReport::default();
    listed.extend(tools_listed);
    report.retired.extend(tools_retired);
    for host in placed {
        let (versions, retired) = host.map_err(|error| *error)?;
        listed.extend(versions);
        report.retired.extend(retired);
    }
    for orphan in orphans {
        report.retired.push(RetiredPackage {
            reason: crate::package::versions::orphan_reason(orphan.name()),
            file_name: orphan.file_name().to_string(),
        });
    }
    report.retired.sort_by(|a, b| a.file_name.cmp(&b.file_name));
    // A repository lists a file name once; an unstable sort needs no scratch copy of this
    // fleet-long vector.
    listed.sort_unstable_by(|(_, a), (_, b)| a.file_name().cmp(b.file_name()));

    // A rebuild whose listing is the live one, package for package, keeps the live metadata
    // documents without reading the packages' entries or hashing tens of megabytes.
    let own_index = known.own_index();
    let listing_unchanged = own_index.is_some_and(|own| own.packages == listed.len())
        && listed.iter().enumerate().all(|(position, (_, listing))| {
            matches!(listing.stored, Some(Stored::Indexed { position: at, .. }) if at == position)
        });
    let kept_documents = listing_unchanged
        .then(|| keep_live_documents(&staging, &live_metadata))
        .flatten();
    let spilled = spill
        .into_inner()
        .expect("no thread panics while spilling")
        .finish()
        .map_err(io_error(&state_dir))?;
    // Otherwise every listed package's entries are gathered into the new index's entries file,
    // and the documents made from it.
    let (data_files, new_entries) = match kept_documents {
        Some(kept) => {
            crate::timing::mark("package entries gathered");
            (kept, None)
        }
        None => {
            let (entries, placed_at) =
                gather_entries(&listed, &spilled.file, &known, &index_path, options)?;
            crate::timing::mark("package entries gathered");
            let data_files = write_documents(
                &staging,
                (&entries.file, &state_dir),
                &placed_at,
                &live_metadata,
            )?;
            (data_files, Some((entries, placed_at)))
        }
    };
    drop(spilled);
    let repomd = write_repomd(&staging, &data_files, options)?;
    // Sized exactly (a megabyte at ten thousand hosts), not grown by doubling.
    fn line<'l>((_, listing): &'l Listed) -> [&'l str; 4] {
        [&listing.pkgid, "  Packages/", listing.file_name(), "\n"]
    }
    let mut checksums = String::with_capacity(listed.iter().flat_map(line).map(str::len).sum());
    checksums.extend(listed.iter().flat_map(line));
    staging.write(Path::new(CHECKSUMS_FILE), checksums.as_bytes(), 0o644)?;
    if let Some(key) = options.key {
        staging.write(
            Path::new(PUBLIC_KEY_FILE),
            key.public_key_armored().as_bytes(),
            0o644,
        )?;
    }
    crate::timing::mark("repository metadata made");
    // The index of this build's metadata (a cache for the next build, valid only for this very
    // repomd.xml, so harmless if the commit fails) is written while the commit links files.
    let index_is_current = own_index.is_some_and(|own| own.repomd == repomd);
    let save_index = || {
        if index_is_current {
            return Ok(());
        }
        match new_entries {
            Some((entries, placed_at)) => {
                let packages = listed
                    .iter()
                    .zip(placed_at)
                    .map(|((_, listing), at)| (&**listing, at));
                let identity = entries.identity.clone();
                repository::index::save(&index_path, &repomd, &identity, Some(entries), packages)
            }
            // The live documents, kept: the same listing and entries file, under this
            // repomd.xml (another SOURCE_DATE_EPOCH).
            None => {
                let own = own_index.expect("documents are kept only for a listing from the index");
                let packages = listed.iter().map(|(_, listing)| match listing.stored {
                    Some(Stored::Indexed { at, .. }) => (&**listing, at),
                    _ => unreachable!("documents are kept only when every package is indexed"),
                });
                repository::index::save(&index_path, &repomd, &own.entries, None, packages)
            }
        }
    };
    let (committed, index_saved) = rayon::join(|| staging.commit(), save_index);
    report.output_changed = committed? == Committed::Switched;
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
    report.packages = listed
        .into_iter()
        .map(|(ListedAs { state, local }, listing)| BuiltPackage {
            file_name: listing.file_name().to_string(),
            state,
            local,
            size: listing.size,
        })
        .collect();
    crate::drop_in_background((known, memo));
    Ok(report)
}

/// The live index's entries: its entries file, or, when that is missing or damaged, the
/// entries parsed from the live metadata, by position in the listing.
enum LiveEntries {
    File(EntriesFile),
    Parsed(Vec<PackageEntries>),
}

impl LiveEntries {
    fn open(
        known: &KnownPackages,
        index_path: &Path,
        options: &BuildOptions,
    ) -> Result<LiveEntries, BuildError> {
        let own = known
            .own_index()
            .expect("packages are listed from the index only when it was read");
        if let Some(file) = EntriesFile::open_indexed(index_path, &own.entries) {
            return Ok(LiveEntries::File(file));
        }
        let own_repo = repository::Location::Directory(options.out.join("repo"));
        let parsed = repository::read(&own_repo).map_err(versions::VersionError::from)?;
        if parsed.repomd != own.repomd || parsed.packages.len() != own.packages {
            return Err(BuildError::IndexMismatch(index_path.to_path_buf()));
        }
        Ok(LiveEntries::Parsed(
            parsed.packages.into_iter().map(|p| p.entries).collect(),
        ))
    }
}

/// A package's three entries as [`EntriesWriter::append`] takes them.
fn entry_texts(entries: &PackageEntries) -> [&[u8]; 3] {
    Kind::ALL.map(|kind| kind.of(entries).as_bytes())
}

/// The entries file of the new index: every listed package's entries in the listing's order,
/// copied one package at a time from where each is (the spill, the live index's entries file, or
/// memory); and where it holds each package's.
fn gather_entries(
    listed: &[Listed],
    spilled: &EntriesFile,
    known: &KnownPackages,
    index_path: &Path,
    options: &BuildOptions,
) -> Result<(WrittenEntries, Vec<EntriesAt>), BuildError> {
    let dir = index_path.parent().unwrap_or(Path::new("."));
    let mut writer = EntriesWriter::index_in(dir)?;
    let mut live = None;
    let mut buffer = Vec::new();
    let mut placed_at = Vec::with_capacity(listed.len());
    for (_, listing) in listed {
        let appended = match listing.stored {
            Some(Stored::Spilled(at)) => writer.append_from(spilled, &at, &mut buffer),
            Some(Stored::Indexed { position, at }) => {
                let live = match &mut live {
                    Some(live) => live,
                    None => live.insert(LiveEntries::open(known, index_path, options)?),
                };
                match live {
                    LiveEntries::File(file) => writer.append_from(file, &at, &mut buffer),
                    LiveEntries::Parsed(parsed) => writer.append(entry_texts(&parsed[position])),
                }
            }
            None => writer.append(entry_texts(&listing.entries)),
        };
        placed_at.push(appended.map_err(io_error(dir))?);
    }
    Ok((writer.finish().map_err(io_error(dir))?, placed_at))
}

/// The live generation's three metadata documents, kept as they are, if it holds them all.
fn keep_live_documents(staging: &Generation, live_metadata: &[DataFile]) -> Option<Vec<DataFile>> {
    let kept: Vec<DataFile> = Kind::ALL
        .iter()
        .map(|kind| {
            let file = live_metadata.iter().find(|file| file.kind == kind.name())?;
            let relative = Path::new(REPODATA_DIR).join(file.file_name());
            staging
                .holds_live(&relative, &file.checksum)
                .then(|| file.clone())
        })
        .collect::<Option<_>>()?;
    for file in &kept {
        staging.keep_live(
            &Path::new(REPODATA_DIR).join(file.file_name()),
            &file.checksum,
        );
    }
    Some(kept)
}

/// The three metadata documents listing the packages whose entries `entries` holds at
/// `placed_at`, in that order, each made from the file as it is read. A document whose content
/// the live build already has is kept as it is.
fn write_documents(
    staging: &Generation,
    (entries, entries_dir): (&EntriesFile, &Path),
    placed_at: &[EntriesAt],
    live_metadata: &[DataFile],
) -> Result<Vec<DataFile>, BuildError> {
    Kind::ALL
        .par_iter()
        .map(|&kind| -> Result<DataFile, BuildError> {
            let mut document = DocumentWriter::new(kind, placed_at.len(), entries_dir)
                .map_err(io_error(entries_dir))?;
            let mut buffer = Vec::new();
            for at in placed_at {
                entries
                    .read_entry(at, kind, &mut buffer)
                    .and_then(|()| document.entry(&buffer))
                    .map_err(io_error(entries_dir))?;
            }
            let (file, compressed) = document.finish().map_err(io_error(entries_dir))?;
            let live = live_metadata
                .iter()
                .find(|live| live.kind == file.kind && live.open_checksum == file.open_checksum);
            if let Some(live) = live {
                let relative = Path::new(REPODATA_DIR).join(live.file_name());
                if staging.holds_live(&relative, &live.checksum) {
                    staging.keep_live(&relative, &live.checksum);
                    return Ok(live.clone());
                }
            }
            let relative = Path::new(REPODATA_DIR).join(file.file_name());
            staging.adopt(&relative, compressed, &file.checksum, 0o644)?;
            Ok(file)
        })
        .collect()
}

/// `repomd.xml` describing `data_files`, and with a key its detached signature; returns
/// `repomd.xml`.
fn write_repomd(
    staging: &Generation,
    data_files: &[DataFile],
    options: &BuildOptions,
) -> Result<Vec<u8>, BuildError> {
    let repomd = repodata::repomd(data_files, options.source_date);
    let repomd_path = Path::new(REPODATA_DIR).join("repomd.xml");
    let repomd_sha256 = staging.write(&repomd_path, &repomd, 0o644)?;
    if let Some(key) = options.key {
        // Unchanged metadata keeps its signature when that verifies with this key: a signature
        // saved (signing is deterministic, so it is the one signing would make).
        let signature_path = Path::new(REPODATA_DIR).join("repomd.xml.asc");
        let live_signature = staging
            .holds_live(&repomd_path, &repomd_sha256)
            .then(|| staging.live_file(&signature_path))
            .flatten()
            .and_then(|(path, sha256)| Some((std::fs::read(path).ok()?, sha256)))
            .filter(|(signature, _)| key.verifies(&repomd, signature));
        match live_signature {
            Some((_, sha256)) => staging.keep_live(&signature_path, &sha256),
            None => {
                let signature = key
                    .detached_signature(&repomd, options.source_date)
                    .map_err(BuildError::MetadataSignature)?;
                staging.write(&signature_path, signature.as_bytes(), 0o644)?;
            }
        }
    }
    Ok(repomd)
}

/// The host's kickstart and, with a boot MAC, its PXE entries: each file's path and sha256.
fn write_install_files(
    staging: &Generation,
    site: &Site,
    templates: &Templates,
    host: &Host,
) -> Result<Vec<(PathBuf, String)>, BuildError> {
    let Some(kickstart) = &site.kickstart else {
        return Ok(Vec::new());
    };
    let mut files = vec![(
        Path::new(KICKSTART_DIR).join(format!("{}.ks", host.name)),
        crate::kickstart::render(templates, kickstart, host)?,
    )];
    if let (Some(pxe), Some(mac)) = (&site.pxe, host.boot_mac) {
        let stem = pxe::mac_file_stem(&mac);
        files.push((
            Path::new(PXE_DIR).join("pxelinux.cfg").join(&stem),
            pxe::pxelinux_entry(pxe, kickstart, host)?,
        ));
        files.push((
            Path::new(PXE_DIR).join(format!("grub.cfg-{stem}")),
            pxe::grub_entry(pxe, kickstart, host)?,
        ));
    }
    files
        .into_iter()
        .map(|(path, text)| {
            let sha256 = staging.write(&path, text.as_bytes(), 0o644)?;
            Ok((path, sha256))
        })
        .collect()
}

/// The versions of one package the new repository lists, and the ones it retires.
type PackageVersions<'k> = (Vec<Listed<'k>>, Vec<RetiredPackage>);

/// What placing a package's versions in the new generation needs.
struct Placing<'k, 's> {
    known: &'k KnownPackages,
    keep_versions: u32,
    fleet: &'s CompactFleet,
    /// Where a host's model is made again, for a host that is rendered.
    definitions: &'s Definitions,
    staging: &'s Generation,
    spill: &'s std::sync::Mutex<EntriesWriter>,
    options: &'s BuildOptions<'s>,
}

impl<'k> Placing<'k, '_> {
    /// A host's package and install files, and its line of the next memo. A host whose rendering
    /// inputs the memo knows, whose package stays and whose install files the live build holds,
    /// is not rendered at all.
    fn place_host(
        &self,
        (memo, next_memo): (&RenderMemo, &NextMemo),
        templates: &Templates,
        checked: &CheckedHost,
    ) -> Result<PackageVersions<'k>, BuildError> {
        let inputs = memo.inputs_of(&checked.digest);
        let remembered = inputs.as_ref().and_then(|inputs| memo.get(inputs));
        if let Some(remembered) = remembered.filter(|remembered| {
            remembered
                .install_files()
                .all(|(path, sha256)| self.staging.holds_live(path, sha256))
        }) {
            let name = crate::package::host_package_name(&checked.name);
            let plan = self.plan(&name, remembered.content_digest())?;
            if matches!(plan.current, Current::Keep(kept) if self.signed_as_this_build_signs(kept))
            {
                for (path, sha256) in remembered.install_files() {
                    self.staging.keep_live(path, sha256);
                }
                let versions = self.place(plan, None)?;
                next_memo.remembered(&remembered);
                return Ok(versions);
            }
        }
        let host = &self.fleet.model(self.definitions, checked)?;
        let site = self.fleet.site();
        let rendered = render::render_host(templates, host)?;
        let spec = PackageSpec::new(site, host, rendered);
        let content_digest = spec.digest();
        let plan = self.plan(&spec.name, &content_digest)?;
        let versions = self.place(plan, Some(&spec))?;
        let install_files = write_install_files(self.staging, site, templates, host)?;
        if let Some(inputs) = inputs {
            let rendered = memo::Rendered {
                content_digest,
                install_files,
            };
            next_memo.rendered(&inputs, &rendered);
        }
        Ok(versions)
    }

    fn plan(&self, name: &str, content_digest: &str) -> Result<HostPlan<'k>, BuildError> {
        Ok(self
            .known
            .plan(name, content_digest, self.keep_versions, |version| {
                crate::package::package_file_name(name, &version.to_string(), RELEASE)
            })?)
    }

    /// Builds the package from `spec` if `plan` says its content is new, else keeps its current
    /// package; keeps the older versions `keep-versions` allows (in the generation, or listed
    /// from the published metadata) and retires the rest. `spec` may be absent only when the
    /// current package is kept.
    fn place(
        &self,
        plan: HostPlan<'k>,
        spec: Option<&PackageSpec>,
    ) -> Result<PackageVersions<'k>, BuildError> {
        // Sized exactly: ten thousand hosts hold these until the metadata is written, and a
        // pushed-to empty Vec would reserve room for four of these large tuples.
        let mut listed = Vec::with_capacity(1 + plan.retained.len());
        let mut retired = Vec::new();
        let build = match (&plan.current, spec) {
            (Current::Keep(package), _) if self.signed_as_this_build_signs(package) => {
                listed.push(self.carry(package, PackageState::Unchanged)?);
                None
            }
            // The same content signed otherwise (another key, or none): made again at the same
            // version, signed as this build signs; the file replaces the other one.
            (Current::Keep(package), Some(spec)) => Some((package.version, spec)),
            (Current::Build(version), Some(spec)) => Some((*version, spec)),
            (_, None) => unreachable!("a package is built only from a rendered spec"),
        };
        if let Some((version, spec)) = build {
            let version = version.to_string();
            let bytes = spec.build(
                &version,
                RELEASE,
                self.options.source_date,
                self.options.key,
            )?;
            let file_name = spec.file_name(&version, RELEASE);
            listed.push(self.add_file(file_name, PackageState::Built, &bytes)?);
        }
        for package in &plan.retained {
            if self.signed_as_this_build_signs(package) {
                listed.push(self.carry(package, PackageState::Retained)?);
            } else {
                retired.push(RetiredPackage {
                    file_name: package.file_name().to_string(),
                    reason: "signed with another key or unsigned, and its content cannot be made again to sign it".into(),
                });
            }
        }
        let keep_versions = self.keep_versions;
        retired.extend(plan.retired.iter().map(|p| RetiredPackage {
            file_name: p.file_name().to_string(),
            reason: format!(
                "older than the {keep_versions} versions kept ([package] keep-versions)"
            ),
        }));
        Ok((listed, retired))
    }

    /// Whether `package` is signed as this build signs, so that it may be listed as it is: always
    /// for an unsigned build; for a signed one, when metadata verified with the key lists it,
    /// when the live output was signed with the key, or else when its own signature names the
    /// key (read from the file).
    fn signed_as_this_build_signs(&self, package: &KnownPackage) -> bool {
        let Some(key) = self.options.key else {
            return true;
        };
        if package.vouched {
            return true;
        }
        if self.live_listing(package).is_some() && self.staging.live_signed_alike() {
            return true;
        }
        package
            .local()
            .and_then(|path| rpm::PackageMetadata::open(path).ok())
            .and_then(|metadata| {
                let packet = metadata
                    .signature
                    .get_entry_data_as_binary(rpm::IndexSignatureTag::RPMSIGTAG_RSA)
                    .ok()?;
                crate::package::signer::signature_issuer(packet)
            })
            .is_some_and(|issuer| issuer == key.key_id())
    }

    /// A package file into the generation, with its metadata entries read from it.
    fn add_file(
        &self,
        file_name: String,
        state: PackageState,
        bytes: &[u8],
    ) -> Result<Listed<'k>, BuildError> {
        let entries = PackageEntries::of_file(&file_name, bytes).map_err(BuildError::Repodata)?;
        let mut listing =
            ListedPackage::of_entries(entries).map_err(|detail| BuildError::RepodataEntry {
                file_name: file_name.clone(),
                detail,
            })?;
        let spilled_at = self
            .spill
            .lock()
            .expect("no thread panics while spilling")
            .append(entry_texts(&listing.entries))
            .map_err(io_error(&self.options.out.join(STATE_DIR)))?;
        listing.entries = PackageEntries::default();
        listing.stored = Some(Stored::Spilled(spilled_at));
        self.staging
            .write(&Path::new(PACKAGES_DIR).join(&file_name), bytes, 0o644)?;
        let listed_as = ListedAs { state, local: true };
        Ok((listed_as, Listing::Made(Box::new(listing))))
    }

    /// A package built before, into the new repository as it is. One the live build holds, as
    /// its metadata lists it, is neither read nor written again.
    fn carry(
        &self,
        package: &'k KnownPackage,
        state: PackageState,
    ) -> Result<Listed<'k>, BuildError> {
        let listed_as_it_is = |listed: &'k ListedPackage, local: bool| {
            (ListedAs { state, local }, Listing::Known(listed))
        };
        if let Some(listed) = self.live_listing(package) {
            let relative = Path::new(PACKAGES_DIR).join(package.file_name());
            self.staging.keep_live(&relative, &listed.pkgid);
            return Ok(listed_as_it_is(listed, true));
        }
        if let Some(path) = package.local() {
            let bytes = std::fs::read(&path).map_err(io_error(&path))?;
            return self.add_file(package.file_name().to_string(), state, &bytes);
        }
        let listed = package
            .listed()
            .expect("a package without a local file comes from repository metadata");
        Ok(listed_as_it_is(listed, false))
    }

    /// The metadata listing `package`, when the live build holds it as listed (same content, at
    /// `Packages/<file>`): then it is neither read nor written again.
    fn live_listing(&self, package: &'k KnownPackage) -> Option<&'k ListedPackage> {
        let relative = Path::new(PACKAGES_DIR).join(package.file_name());
        package.listed().filter(|listed| {
            Path::new(&listed.location) == relative.strip_prefix("repo").unwrap_or(&relative)
                && self.staging.holds_live(&relative, &listed.pkgid)
        })
    }
}

/// The build's index of its own live repository, in the output's state directory.
pub fn repository_index_path(out: &Path) -> PathBuf {
    out.join(STATE_DIR).join(REPOSITORY_INDEX)
}

/// Two hosts sharing a `hostnet-host` number could be installed on one machine together.
fn refuse_identity_collisions(hosts: &[CheckedHost]) -> Result<(), BuildError> {
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

/// Progress of a build: indicatif's bar on a terminal; elsewhere (CI logs) a plain line every
/// [`PROGRESS_EVERY`], so a long build shows it is alive without flooding the log.
struct Progress {
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
    fn inc(&self) {
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

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

fn progress_bar(len: usize) -> Progress {
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
