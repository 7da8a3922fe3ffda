//! The build's index of its own repository: every package its metadata lists, as [`super::read`]
//! would parse it from `repodata/`. Reading a 10,000-host repository's metadata means
//! decompressing and parsing some 40 MB of XML; the index is read in a fraction of that.
//!
//! Two files: the listing (name, version, location, checksum... a few hundred bytes a package),
//! which every rebuild reads, and beside it the entries file: each package's metadata entries
//! (the bulk, some 4 KB a package), read only when the metadata must be written again, and then
//! one package at a time, never whole. The listing is a cache valid for exactly one
//! `repomd.xml`: it records that file's sha256, and `repomd.xml` names every document by its
//! checksum, so the same `repomd.xml` means the same listing. It names its entries file by size
//! and sha256, and each package's entries by offset. A missing, damaged, foreign-format or stale
//! file is ignored and the metadata parsed instead.
//!
//! The same entries format serves a build as its spill: the entries of the packages it makes are
//! written aside as each package is made, so that a build's memory does not grow with them.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read as _, Write as _};
use std::ops::Range;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::ListedPackage;
use crate::digest::sha256_hex;
use crate::output::{OutputError, io_error};
use crate::repodata::{Kind, PackageEntries};

/// The first field of the listing; a reader of another format stops there.
const LISTING_FORMAT: &str = "hostnet repository listing 3";

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    /// sha256 of the `repomd.xml` the listing is of.
    repomd_sha256: String,
    entries: EntriesIdentity,
}

/// An entries file, told by its size and sha256: a listing names the one it goes with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntriesIdentity {
    size: u64,
    sha256: String,
}

/// Where an entries file holds one package's entries: from `offset`, its primary, filelists and
/// other entries, one after the other, of these lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntriesAt {
    offset: u64,
    lengths: [u32; 3],
}

impl EntriesAt {
    fn len(&self) -> usize {
        self.lengths.iter().map(|length| *length as usize).sum()
    }

    /// Where `kind`'s entry is in the package's entries as [`EntriesFile::read`] gives them.
    pub fn range(&self, kind: Kind) -> Range<usize> {
        let position = Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        let start: usize = self.lengths[..position].iter().map(|l| *l as usize).sum();
        start..start + self.lengths[position] as usize
    }
}

/// One package of the listing: a [`ListedPackage`] with where its entries are. Read as owned
/// strings; saved borrowing the build's (`Listing<&str>`, the same bytes), so that saving a
/// fleet's listing copies none of its strings.
#[derive(Serialize, Deserialize)]
struct Listing<S = String> {
    name: S,
    version: S,
    release: S,
    pkgid: S,
    location: S,
    size: u64,
    digest: Option<S>,
    entries: EntriesAt,
}

/// The entries file that goes with the listing at `path`.
fn entries_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".entries");
    path.with_file_name(name)
}

/// The most a single text of the listing may take. A larger one makes the file unreadable here,
/// and the metadata is parsed.
const LARGEST_TEXT: usize = 1 << 20;

/// The listing at `path` if it is the index of `repomd`, each package with where its entries are
/// in the index's entries file ([`super::Stored::Indexed`]), and that entries file; `None` when
/// the index is missing, of other metadata or damaged.
pub fn load_listing(path: &Path, repomd: &[u8]) -> Option<(Vec<ListedPackage>, EntriesIdentity)> {
    let mut packages = Vec::new();
    let (identity, _) = load_listing_into(path, repomd, &mut packages, Some)?;
    Some((packages, identity))
}

/// As [`load_listing`], each package appended to `into` as `make` makes it (or left out), one at a
/// time as it is read: a fleet's listing is never in memory beside what is made of it. Returns the
/// entries file and how many packages the listing holds, whatever `make` kept. When the index
/// cannot be read, `into` is left as it was.
pub fn load_listing_into<T>(
    path: &Path,
    repomd: &[u8],
    into: &mut Vec<T>,
    make: impl FnMut(ListedPackage) -> Option<T>,
) -> Option<(EntriesIdentity, usize)> {
    let before = into.len();
    let read = append_listing(path, repomd, into, make);
    if read.is_none() {
        into.truncate(before);
    }
    read
}

fn append_listing<T>(
    path: &Path,
    repomd: &[u8],
    into: &mut Vec<T>,
    mut make: impl FnMut(ListedPackage) -> Option<T>,
) -> Option<(EntriesIdentity, usize)> {
    let file = File::open(path).ok()?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut scratch = vec![0u8; LARGEST_TEXT];
    let (header, (reader, scratch)) =
        postcard::from_io::<Header, _>((&mut reader, scratch.as_mut_slice())).ok()?;
    if header.format != LISTING_FORMAT || header.repomd_sha256 != sha256_hex(repomd) {
        return None;
    }
    // One package at a time (a sequence is its length, then its items).
    let (count, (mut reader, mut scratch)) =
        postcard::from_io::<usize, _>((reader, scratch)).ok()?;
    // Sized exactly, not grown by doubling; but not beyond what the file could hold.
    into.reserve_exact(count.min(1 << 20));
    for position in 0..count {
        let (package, (rest, rest_scratch)) =
            postcard::from_io::<Listing, _>((reader, scratch)).ok()?;
        (reader, scratch) = (rest, rest_scratch);
        let at = package.entries;
        if at.offset.checked_add(at.len() as u64)? > header.entries.size {
            return None;
        }
        let listed = ListedPackage {
            name: package.name,
            version: package.version,
            release: package.release,
            pkgid: package.pkgid,
            location: package.location,
            size: package.size,
            digest: package.digest,
            entries: PackageEntries::default(),
            stored: Some(super::Stored::Indexed { position, at }),
        };
        into.extend(make(listed));
    }
    let mut after = [0u8; 1];
    if reader.read(&mut after).ok()? != 0 {
        return None;
    }
    Some((header.entries, count))
}

/// The whole listing, entries included: what parsing the repository's metadata gives.
pub fn load(path: &Path, repomd: &[u8]) -> Option<Vec<ListedPackage>> {
    let (mut packages, identity) = load_listing(path, repomd)?;
    let entries = EntriesFile::open_indexed(path, &identity)?;
    let mut buffer = Vec::new();
    for package in &mut packages {
        let Some(super::Stored::Indexed { at, .. }) = package.stored.take() else {
            return None;
        };
        entries.read(&at, &mut buffer).ok()?;
        let text = |kind| String::from_utf8(buffer[at.range(kind)].to_vec()).ok();
        package.entries = PackageEntries {
            primary: text(Kind::Primary)?,
            filelists: text(Kind::Filelists)?,
            other: text(Kind::Other)?,
        };
    }
    Some(packages)
}

/// An entries file open for reading.
pub struct EntriesFile {
    file: File,
}

impl EntriesFile {
    /// The entries file beside the listing at `path`, if it is the one `identity` names.
    pub fn open_indexed(path: &Path, identity: &EntriesIdentity) -> Option<EntriesFile> {
        let file = File::open(entries_path(path)).ok()?;
        if file.metadata().ok()?.len() != identity.size {
            return None;
        }
        let mut hasher = sha2::Sha256::new();
        std::io::copy(&mut &file, &mut hasher).ok()?;
        (hex::encode(hasher.finalize()) == identity.sha256).then_some(EntriesFile { file })
    }

    /// One package's entries, into `buffer` (whatever it held is replaced); each kind's entry is
    /// at [`EntriesAt::range`].
    pub fn read(&self, at: &EntriesAt, buffer: &mut Vec<u8>) -> std::io::Result<()> {
        buffer.clear();
        buffer.resize(at.len(), 0);
        self.file.read_exact_at(buffer, at.offset)
    }

    /// One package's entry in the `kind` document, into `buffer` (whatever it held is replaced).
    pub fn read_entry(
        &self,
        at: &EntriesAt,
        kind: Kind,
        buffer: &mut Vec<u8>,
    ) -> std::io::Result<()> {
        let range = at.range(kind);
        buffer.clear();
        buffer.resize(range.len(), 0);
        self.file
            .read_exact_at(buffer, at.offset + range.start as u64)
    }
}

/// Entries written one package after another: the build's spill, and the entries file of a new
/// index.
pub struct EntriesWriter {
    out: BufWriter<File>,
    /// The file's name while it is written, for a new index's entries file; none for a spill.
    path: Option<tempfile::TempPath>,
    hasher: sha2::Sha256,
    size: u64,
}

/// An entries file written, open for reading.
pub struct WrittenEntries {
    pub file: EntriesFile,
    pub identity: EntriesIdentity,
    path: Option<tempfile::TempPath>,
}

impl EntriesWriter {
    /// A spill: a file in `dir` without a name, gone when the writer or what it became is dropped,
    /// even if the build is killed.
    pub fn spill_in(dir: &Path) -> Result<EntriesWriter, OutputError> {
        let file = tempfile::tempfile_in(dir).map_err(io_error(dir))?;
        Ok(EntriesWriter::of(file, None))
    }

    /// The entries file of a new index, in `dir` until [`save`] puts it in place.
    pub fn index_in(dir: &Path) -> Result<EntriesWriter, OutputError> {
        let (file, path) = tempfile::NamedTempFile::new_in(dir)
            .map_err(io_error(dir))?
            .into_parts();
        Ok(EntriesWriter::of(file, Some(path)))
    }

    fn of(file: File, path: Option<tempfile::TempPath>) -> EntriesWriter {
        EntriesWriter {
            out: BufWriter::with_capacity(1 << 17, file),
            path,
            hasher: sha2::Sha256::new(),
            size: 0,
        }
    }

    /// Appends one package's primary, filelists and other entries, in that order.
    pub fn append(&mut self, entries: [&[u8]; 3]) -> std::io::Result<EntriesAt> {
        let mut lengths = [0u32; 3];
        for (length, entry) in lengths.iter_mut().zip(entries) {
            *length = u32::try_from(entry.len()).map_err(std::io::Error::other)?;
            self.out.write_all(entry)?;
            self.hasher.update(entry);
        }
        let at = EntriesAt {
            offset: self.size,
            lengths,
        };
        self.size += at.len() as u64;
        Ok(at)
    }

    /// Appends the package's entries that `file` holds at `at`; `buffer` is scratch space.
    pub fn append_from(
        &mut self,
        file: &EntriesFile,
        at: &EntriesAt,
        buffer: &mut Vec<u8>,
    ) -> std::io::Result<EntriesAt> {
        file.read(at, buffer)?;
        self.append(Kind::ALL.map(|kind| &buffer[at.range(kind)]))
    }

    /// The file as written, open for reading.
    pub fn finish(self) -> std::io::Result<WrittenEntries> {
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        Ok(WrittenEntries {
            file: EntriesFile { file },
            identity: EntriesIdentity {
                size: self.size,
                sha256: hex::encode(self.hasher.finalize()),
            },
            path: self.path,
        })
    }
}

/// Writes the index of the repository whose `repomd.xml` is `repomd` and which lists `packages`,
/// each with where the entries file `entries` holds its entries. With `new_entries` (written by
/// [`EntriesWriter::index_in`]), that file first replaces the entries file, so that a listing
/// never names entries that are not in place; without, the entries file in place is the one.
/// Each file is replaced in one rename.
pub fn save<'p>(
    path: &Path,
    repomd: &[u8],
    entries: &EntriesIdentity,
    new_entries: Option<WrittenEntries>,
    packages: impl ExactSizeIterator<Item = (&'p ListedPackage, EntriesAt)>,
) -> Result<(), OutputError> {
    let failed = |source: std::io::Error| OutputError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(written) = new_entries {
        let entries_path = entries_path(path);
        let entries_failed = |source| OutputError::Io {
            path: entries_path.clone(),
            source,
        };
        let temporary = written.path.ok_or_else(|| {
            entries_failed(std::io::Error::other("a spill is not an index's entries"))
        })?;
        temporary
            .persist(&entries_path)
            .map_err(|e| entries_failed(e.error))?;
    }
    let header = Header {
        format: LISTING_FORMAT.into(),
        repomd_sha256: sha256_hex(repomd),
        entries: entries.clone(),
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let file = tempfile::NamedTempFile::new_in(dir).map_err(io_error(dir))?;
    let mut out = BufWriter::with_capacity(1 << 17, file);
    // A sequence, its length then its items, written one package at a time as load_listing reads
    // it: collected first, the listing would be a fleet-long copy.
    let written = postcard::to_io(&header, &mut out)
        .and_then(|out| postcard::to_io(&packages.len(), out))
        .and_then(|out| {
            packages.into_iter().try_for_each(|(package, at)| {
                let listing = Listing {
                    name: package.name.as_str(),
                    version: &package.version,
                    release: &package.release,
                    pkgid: &package.pkgid,
                    location: &package.location,
                    size: package.size,
                    digest: package.digest.as_deref(),
                    entries: at,
                };
                postcard::to_io(&listing, &mut *out).map(drop)
            })
        });
    written.map_err(|e| failed(std::io::Error::other(e)))?;
    out.flush().map_err(io_error(path))?;
    let file = out.into_inner().map_err(|e| failed(e.into_error()))?;
    file.persist(path).map_err(|e| failed(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(name: &str) -> PackageEntries {
        PackageEntries {
            primary: format!("<package><name>{name}</name></package>"),
            filelists: format!("<package name=\"{name}\"><file>/etc/{name}</file></package>"),
            other: format!("<package name=\"{name}\"/>"),
        }
    }

    fn listed(name: &str) -> ListedPackage {
        ListedPackage {
            name: name.into(),
            version: "1".into(),
            release: "1".into(),
            pkgid: "00".repeat(32),
            location: format!("Packages/{name}-1-1.noarch.rpm"),
            size: 1234,
            digest: Some("ab".repeat(32)),
            entries: entries(name),
            stored: None,
        }
    }

    fn texts(entries: &PackageEntries) -> [&[u8]; 3] {
        Kind::ALL.map(|kind| kind.of(entries).as_bytes())
    }

    #[test]
    fn every_packages_entries_read_back_as_appended() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = EntriesWriter::spill_in(dir.path()).unwrap();
        let names = ["a", "bb", "ccc"];
        let placed: Vec<EntriesAt> = names
            .iter()
            .map(|name| writer.append(texts(&entries(name))).unwrap())
            .collect();
        let written = writer.finish().unwrap();
        let mut buffer = Vec::new();
        for (name, at) in names.iter().zip(&placed).rev() {
            let expected = entries(name);
            written.file.read(at, &mut buffer).unwrap();
            for kind in Kind::ALL {
                assert_eq!(&buffer[at.range(kind)], kind.of(&expected).as_bytes());
                let mut entry = Vec::new();
                written.file.read_entry(at, kind, &mut entry).unwrap();
                assert_eq!(entry, kind.of(&expected).as_bytes());
            }
        }
    }

    /// Writes an index of `packages` (their entries in its entries file) at `dir`/repository-index,
    /// of `repomd`; returns its path, its entries file and where each package's entries are.
    fn write_index(
        dir: &Path,
        repomd: &[u8],
        packages: &[ListedPackage],
    ) -> (PathBuf, EntriesIdentity, Vec<EntriesAt>) {
        let path = dir.join("repository-index");
        let mut writer = EntriesWriter::index_in(dir).unwrap();
        let placed: Vec<EntriesAt> = packages
            .iter()
            .map(|p| writer.append(texts(&p.entries)).unwrap())
            .collect();
        let written = writer.finish().unwrap();
        let identity = written.identity.clone();
        let pairs = packages.iter().zip(placed.iter().copied());
        save(&path, repomd, &identity, Some(written), pairs).unwrap();
        (path, identity, placed)
    }

    /// A listing damaged after its first packages appends nothing: what was read of it is taken
    /// back, so a caller that falls back to the metadata does not list those packages twice.
    #[test]
    fn a_listing_damaged_midway_leaves_what_it_was_read_into_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let repomd = b"<repomd/>";
        let packages = [listed("a"), listed("b"), listed("c")];
        let (path, _, _) = write_index(dir.path(), repomd, &packages);

        let names = |path: &Path, make: fn(ListedPackage) -> Option<String>| {
            let mut into = vec!["before".to_string()];
            let read = load_listing_into(path, repomd, &mut into, make);
            (read.is_some(), into)
        };
        let name = |package: ListedPackage| Some(package.name);
        assert_eq!(
            names(&path, name),
            (
                true,
                vec!["before".into(), "a".into(), "b".into(), "c".into()]
            )
        );
        // What make leaves out is not appended; the rest still is.
        let not_b = |package: ListedPackage| (package.name != "b").then_some(package.name);
        assert_eq!(
            names(&path, not_b),
            (true, vec!["before".into(), "a".into(), "c".into()])
        );

        // Cut inside the last package: the first two were read before the damage showed.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert_eq!(names(&path, name), (false, vec!["before".to_string()]));
        // A byte too many after the last package: the same.
        let mut longer = bytes.clone();
        longer.push(0);
        std::fs::write(&path, &longer).unwrap();
        assert_eq!(names(&path, name), (false, vec!["before".to_string()]));
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(names(&path, name).1.len(), 4);
    }

    #[test]
    fn an_index_reads_back_whole_and_only_with_its_own_entries_file() {
        let dir = tempfile::tempdir().unwrap();
        let repomd = b"<repomd/>";
        let packages = [listed("a"), listed("b")];
        let (path, identity, placed) = write_index(dir.path(), repomd, &packages);
        let pairs: Vec<(&ListedPackage, EntriesAt)> = packages.iter().zip(placed).collect();

        assert_eq!(load(&path, repomd).unwrap(), packages);
        assert!(load(&path, b"<repomd>another</repomd>").is_none());
        let (listing, _) = load_listing(&path, repomd).unwrap();
        assert_eq!(
            listing[1].stored,
            Some(super::super::Stored::Indexed {
                position: 1,
                at: pairs[1].1
            })
        );

        // The entries file changed in place, same size: not the one the listing names.
        let entries = entries_path(&path);
        let mut bytes = std::fs::read(&entries).unwrap();
        bytes[0] ^= 1;
        std::fs::write(&entries, &bytes).unwrap();
        assert!(EntriesFile::open_indexed(&path, &identity).is_none());
        assert!(load(&path, repomd).is_none());
        // Cut short: neither.
        bytes[0] ^= 1;
        std::fs::write(&entries, &bytes[..bytes.len() - 1]).unwrap();
        assert!(EntriesFile::open_indexed(&path, &identity).is_none());
        std::fs::write(&entries, &bytes).unwrap();
        assert!(EntriesFile::open_indexed(&path, &identity).is_some());

        // An entries file that cannot be replaced is named as such, and the listing is left.
        std::fs::remove_file(&entries).unwrap();
        std::fs::create_dir(&entries).unwrap();
        let mut writer = EntriesWriter::index_in(dir.path()).unwrap();
        writer.append(texts(&packages[0].entries)).unwrap();
        let written = writer.finish().unwrap();
        let error = save(
            &path,
            b"<repomd>other</repomd>",
            &identity,
            Some(written),
            pairs.iter().copied(),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("repository-index.entries"), "{error}");
        assert!(load_listing(&path, repomd).is_some());
        let left = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name());
        assert!(
            left.into_iter()
                .all(|name| !name.to_string_lossy().starts_with(".tmp"))
        );
        std::fs::remove_dir(&entries).unwrap();

        // A listing naming entries past the end of its entries file is not read at all.
        let short = EntriesIdentity {
            size: identity.size - 1,
            sha256: identity.sha256.clone(),
        };
        save(&path, repomd, &short, None, pairs.iter().copied()).unwrap();
        assert!(load_listing(&path, repomd).is_none());
    }
}
