//! The build's index of its own repository: every package its metadata lists, as [`super::read`]
//! would parse it from `repodata/`. Reading a 10,000-host repository's metadata means
//! decompressing and parsing some 40 MB of XML; the index is read in a fraction of that.
//!
//! Two files: the listing (name, version, location, checksum... a few hundred bytes a package),
//! which every rebuild reads, and beside it the packages' metadata entries (the bulk), read only
//! when the metadata must be written again. Both are caches, valid for exactly one `repomd.xml`:
//! each records that file's sha256, and `repomd.xml` names every document by its checksum, so the
//! same `repomd.xml` means the same listing. A missing, damaged, foreign-format or stale file is
//! ignored and the metadata parsed instead.

use std::io::{BufReader, BufWriter, Read as _, Write as _};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::ListedPackage;
use crate::output::{OutputError, io_error, sha256_hex};
use crate::repodata::PackageEntries;

/// The first field of each file; a reader of another format stops there.
const LISTING_FORMAT: &str = "hostnet repository listing 2";
const ENTRIES_FORMAT: &str = "hostnet repository entries 2";

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    /// sha256 of the `repomd.xml` the file is of.
    repomd_sha256: String,
}

/// One package of the listing: a [`ListedPackage`] without its entries.
#[derive(Serialize, Deserialize)]
struct Listing {
    name: String,
    version: String,
    release: String,
    pkgid: String,
    location: String,
    size: u64,
    digest: Option<String>,
}

/// The entries file that goes with the listing at `path`.
fn entries_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".entries");
    path.with_file_name(name)
}

/// The most a single text of the index may take: a metadata entry, of a few kilobytes for a
/// hostnet package. A larger one makes the file unreadable here, and the metadata is parsed.
const LARGEST_TEXT: usize = 8 << 20;

/// The value in the file at `path`, if it is of `format` and of the repository whose
/// `repomd.xml` is `repomd`. Decoded as it is read: the file's tens of megabytes are never held
/// beside what they decode to.
fn read<T: DeserializeOwned>(path: &Path, format: &str, repomd: &[u8]) -> Option<T> {
    let file = std::fs::File::open(path).ok()?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut scratch = vec![0u8; LARGEST_TEXT];
    let (header, (reader, scratch)) =
        postcard::from_io::<Header, _>((&mut reader, scratch.as_mut_slice())).ok()?;
    if header.format != format || header.repomd_sha256 != sha256_hex(repomd) {
        return None;
    }
    let (value, (reader, _)) = postcard::from_io::<T, _>((reader, scratch)).ok()?;
    let mut after = [0u8; 1];
    (reader.read(&mut after).ok()? == 0).then_some(value)
}

/// The listing of the repository whose `repomd.xml` is `repomd`, if the index at `path` is of
/// it; the packages' entries are left empty (see [`load_entries`]).
pub fn load_listing(path: &Path, repomd: &[u8]) -> Option<Vec<ListedPackage>> {
    let listing: Vec<Listing> = read(path, LISTING_FORMAT, repomd)?;
    let packages = listing.into_iter().map(|package| ListedPackage {
        name: package.name,
        version: package.version,
        release: package.release,
        pkgid: package.pkgid,
        location: package.location,
        size: package.size,
        digest: package.digest,
        entries: PackageEntries::default(),
        indexed_at: None,
    });
    Some(packages.collect())
}

/// The entries of the listing at `path`, in its order, if they are of the repository whose
/// `repomd.xml` is `repomd`.
pub fn load_entries(path: &Path, repomd: &[u8]) -> Option<Vec<PackageEntries>> {
    read(&entries_path(path), ENTRIES_FORMAT, repomd)
}

/// The whole listing, entries included: what parsing the repository's metadata gives.
pub fn load(path: &Path, repomd: &[u8]) -> Option<Vec<ListedPackage>> {
    let mut packages = load_listing(path, repomd)?;
    let entries = load_entries(path, repomd)?;
    if entries.len() != packages.len() {
        return None;
    }
    for (package, entries) in packages.iter_mut().zip(entries) {
        package.entries = entries;
    }
    Some(packages)
}

/// Writes the index of the repository whose `repomd.xml` is `repomd` and which lists `packages`
/// (each with its entries), replacing the files at `path` each in one rename: the entries first,
/// so that a listing is never newer than the entries beside it.
pub fn save(
    path: &Path,
    repomd: &[u8],
    packages: &[(&ListedPackage, &PackageEntries)],
) -> Result<(), OutputError> {
    let entries: Vec<&PackageEntries> = packages.iter().map(|(_, entries)| *entries).collect();
    write(&entries_path(path), ENTRIES_FORMAT, repomd, &entries)?;
    let listing: Vec<Listing> = packages
        .iter()
        .map(|(package, _)| Listing {
            name: package.name.clone(),
            version: package.version.clone(),
            release: package.release.clone(),
            pkgid: package.pkgid.clone(),
            location: package.location.clone(),
            size: package.size,
            digest: package.digest.clone(),
        })
        .collect();
    write(path, LISTING_FORMAT, repomd, &listing)
}

fn write<T: Serialize + ?Sized>(
    path: &Path,
    format: &str,
    repomd: &[u8],
    value: &T,
) -> Result<(), OutputError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file = tempfile::NamedTempFile::new_in(dir).map_err(io_error(dir))?;
    let header = Header {
        format: format.into(),
        repomd_sha256: sha256_hex(repomd),
    };
    let failed = |source: std::io::Error| OutputError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut out = BufWriter::with_capacity(1 << 17, file);
    postcard::to_io(&header, &mut out)
        .and_then(|out| postcard::to_io(value, out))
        .map_err(|e| failed(std::io::Error::other(e)))?;
    out.flush().map_err(io_error(path))?;
    let file = out.into_inner().map_err(|e| failed(e.into_error()))?;
    file.persist(path).map_err(|e| failed(e.error))?;
    Ok(())
}
