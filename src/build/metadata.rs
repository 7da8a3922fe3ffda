//! The new repository's metadata: the three documents (kept from the live build when the
//! listing is the same, else made from every listed package's entries), `repomd.xml` and its
//! signature, `SHA256SUMS`, the public key, and the index the next build reads.

use std::path::Path;

use rayon::prelude::*;

use super::{
    Before, BuildError, BuildOptions, CHECKSUMS_FILE, Listed, PUBLIC_KEY_FILE, REPODATA_DIR,
    repository_index_path,
};
use crate::output::{Generation, STATE_DIR, io_error};
use crate::package::versions::{self, KnownPackages};
use crate::repodata::{self, DataFile, DocumentWriter, Kind, PackageEntries};
use crate::repository::index::{EntriesAt, EntriesFile, EntriesWriter, WrittenEntries};
use crate::repository::{self, Stored};

/// What [`write_repository`] wrote that the repository index records.
pub(super) struct Written {
    repomd: Vec<u8>,
    /// The new entries file and where it holds each listed package's entries; `None` when the
    /// live documents were kept (the live index's entries file stays valid).
    new_entries: Option<(WrittenEntries, Vec<EntriesAt>)>,
}

/// Writes every metadata file of the repository listing `listed` into `staging`, and with the
/// site's `[kickstart]` (the URL it is published at) its yum repository file.
pub(super) fn write_repository(
    staging: &Generation,
    (listed, kickstart): (&[Listed], Option<&crate::model::KickstartSettings>),
    spilled: &WrittenEntries,
    before: &Before,
    options: &BuildOptions,
) -> Result<Written, BuildError> {
    let known = &before.known;
    // A rebuild whose listing is the live one, package for package, keeps the live metadata
    // documents without reading the packages' entries or hashing tens of megabytes.
    let listing_unchanged = known
        .own_index()
        .is_some_and(|own| own.packages == listed.len())
        && listed.iter().enumerate().all(|(position, (_, listing))| {
            matches!(listing.stored, Some(Stored::Indexed { position: at, .. }) if at == position)
        });
    let kept_documents = listing_unchanged
        .then(|| keep_live_documents(staging, &before.live_metadata))
        .flatten();
    // Otherwise every listed package's entries are gathered into the new index's entries file,
    // and the documents made from it.
    let (data_files, new_entries) = match kept_documents {
        Some(kept) => {
            crate::timing::mark("package entries gathered");
            (kept, None)
        }
        None => {
            let index_path = repository_index_path(options.out);
            let (entries, placed_at) =
                gather_entries(listed, &spilled.file, known, &index_path, options)?;
            crate::timing::mark("package entries gathered");
            let state_dir = options.out.join(STATE_DIR);
            let data_files = write_documents(
                staging,
                (&entries.file, &state_dir),
                &placed_at,
                &before.live_metadata,
            )?;
            (data_files, Some((entries, placed_at)))
        }
    };
    let repomd = write_repomd(staging, &data_files, options)?;
    let mut checksums = String::new();
    for (_, listing) in listed {
        checksums.push_str(&format!(
            "{}  Packages/{}\n",
            listing.pkgid,
            listing.file_name()
        ));
    }
    staging.write(Path::new(CHECKSUMS_FILE), checksums.as_bytes(), 0o644)?;
    if let Some(key) = options.key {
        let public_key = key.public_key_armored();
        staging.write(Path::new(PUBLIC_KEY_FILE), public_key.as_bytes(), 0o644)?;
    }
    if let Some(kickstart) = kickstart {
        let mut text = crate::kickstart::hostnet_repo_lines(kickstart).join("\n");
        text.push('\n');
        let path = Path::new("repo").join(crate::package::REPO_FILE_NAME);
        staging.write(&path, text.as_bytes(), 0o644)?;
    }
    Ok(Written {
        repomd,
        new_entries,
    })
}

impl Written {
    /// Saves the index of this build's metadata for the next build, unless the live one is it.
    pub(super) fn save_index(
        self,
        listed: &[Listed],
        known: &KnownPackages,
        out: &Path,
    ) -> Result<(), crate::output::OutputError> {
        let own_index = known.own_index();
        if own_index.is_some_and(|own| own.repomd == self.repomd) {
            return Ok(());
        }
        let index_path = repository_index_path(out);
        match self.new_entries {
            Some((entries, placed_at)) => {
                let packages = listed
                    .iter()
                    .zip(placed_at)
                    .map(|((_, listing), at)| (&**listing, at));
                let identity = entries.identity.clone();
                let repomd = &self.repomd;
                repository::index::save(&index_path, repomd, &identity, Some(entries), packages)
            }
            // The live documents, kept: the same listing and entries file, under this
            // repomd.xml (another SOURCE_DATE_EPOCH).
            None => {
                let own = own_index.expect("documents are kept only for a listing from the index");
                let packages = listed.iter().map(|(_, listing)| match listing.stored {
                    Some(Stored::Indexed { at, .. }) => (&**listing, at),
                    _ => unreachable!("documents are kept only when every package is indexed"),
                });
                repository::index::save(&index_path, &self.repomd, &own.entries, None, packages)
            }
        }
    }
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
pub(super) fn entry_texts(entries: &PackageEntries) -> [&[u8]; 3] {
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
            let file = live_metadata.iter().find(|file| file.kind == *kind)?;
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
            staging.adopt(&relative, compressed, file.checksum, 0o644)?;
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
