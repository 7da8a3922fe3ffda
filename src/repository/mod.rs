//! A yum repository as hostnet reads it: a directory or an `http(s)://` URL of a repo root, whose
//! `repodata/repomd.xml`, `primary`, `filelists` and `other` are read once (checksums verified)
//! into an index of the packages it lists: name, version, release, content digest, location, and
//! each package's three metadata entries as written, so that a package kept from a previous build
//! is listed again without its file being downloaded.
//!
//! Not for writing: `build` writes the metadata (`crate::repodata`), `publish` uploads it.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use quick_xml::events::{BytesStart, Event};

use crate::digest::{Sha256, sha256_hex};
use crate::http::{METADATA_LIMIT, REPOMD_LIMIT, SizeLimit, UNPACKED_METADATA_LIMIT};
use crate::repodata::Kind;

pub mod index;

/// Where a repository lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Directory(PathBuf),
    Url(String),
}

impl Location {
    /// `http://` and `https://` are URLs; anything else is a path.
    pub fn parse(text: &str) -> Location {
        if text.starts_with("http://") || text.starts_with("https://") {
            Location::Url(text.trim_end_matches('/').to_string())
        } else {
            Location::Directory(PathBuf::from(text))
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Location::Directory(path) => path.display().to_string(),
            Location::Url(url) => url.clone(),
        }
    }

    /// A file of the repository, read up to `limit`; `None` when it does not exist.
    pub fn fetch(
        &self,
        relative: &str,
        limit: SizeLimit,
    ) -> Result<Option<Vec<u8>>, RepositoryError> {
        match self {
            Location::Directory(dir) => {
                let path = dir.join(relative);
                let what = path.display().to_string();
                let file = match std::fs::File::open(&path) {
                    Ok(file) => file,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(source) => {
                        return Err(crate::http::FetchError::Read {
                            what,
                            detail: source.to_string(),
                        }
                        .into());
                    }
                };
                // A directory, a FIFO or a device (`/dev/zero`) named like a repository's file
                // would never end.
                let is_file = file.metadata().map(|m| m.is_file()).unwrap_or(false);
                if !is_file {
                    return Err(crate::http::FetchError::Read {
                        what,
                        detail: "not a regular file".into(),
                    }
                    .into());
                }
                Ok(limit.read_all(&what, file).map(Some)?)
            }
            Location::Url(base) => {
                let url = format!("{base}/{relative}");
                Ok(crate::http::Client::for_url(&url)?.get(&url, limit)?)
            }
        }
    }

    /// The local path of a file, for a directory repository.
    pub fn local_path(&self, relative: &str) -> Option<PathBuf> {
        match self {
            Location::Directory(dir) => Some(dir.join(relative)),
            Location::Url(_) => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    #[error(transparent)]
    Fetch(#[from] crate::http::FetchError),
    #[error(
        "{0}: not a yum repository (no repodata/repomd.xml); give the repository's root, the directory or URL that holds repodata/"
    )]
    NotARepository(String),
    #[error("{what}: {detail}")]
    Malformed { what: String, detail: String },
    #[error(
        "{0}: repodata/repomd.xml is not signed by the build's key (repomd.xml.asc missing or not valid for it); refusing to carry its entries into metadata signed with that key, and reading none of them. Publish from builds made with this key, or check who changed the repository"
    )]
    Untrusted(String),
}

/// One package a repository lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedPackage {
    pub name: String,
    pub version: String,
    pub release: String,
    /// sha256 of the package file (the metadata's pkgid).
    pub pkgid: String,
    /// Relative to the repository root, e.g. `Packages/hostnet-web-3-1.noarch.rpm`.
    pub location: String,
    pub size: u64,
    /// The content digest hostnet records in the description, if hostnet built it.
    pub digest: Option<String>,
    /// The package's entries in primary, filelists and other, exactly as the repository has them;
    /// empty when they are kept in a file instead ([`ListedPackage::stored`]).
    pub entries: crate::repodata::PackageEntries,
    /// Where the package's entries are kept, when not in `entries`.
    pub stored: Option<Stored>,
}

/// Where a listed package's metadata entries are, when not in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// In the entries file of the build's own index; `position` is the package's place in that
    /// index's listing.
    Indexed {
        position: usize,
        at: index::EntriesAt,
    },
    /// In the running build's spill.
    Spilled(index::EntriesAt),
}

impl ListedPackage {
    pub fn file_name(&self) -> &str {
        self.location.rsplit('/').next().unwrap_or(&self.location)
    }

    /// The listing of the package whose metadata entries are `entries`: what reading a repository
    /// whose metadata holds them gives.
    pub fn of_entries(entries: crate::repodata::PackageEntries) -> Result<ListedPackage, String> {
        let [mut package] = <[ListedPackage; 1]>::try_from(parse_primary(&entries.primary)?)
            .map_err(|found| format!("{} package entries where one was made", found.len()))?;
        package.entries = entries;
        Ok(package)
    }
}

/// What a repository lists.
#[derive(Debug, Clone)]
pub struct RepositoryIndex {
    pub packages: Vec<ListedPackage>,
    /// Every file `repomd.xml` names (`repodata/<checksum>-primary.xml.gz`...).
    pub metadata_files: Vec<String>,
    /// `repomd.xml` as read.
    pub repomd: Vec<u8>,
}

/// Whether a detached signature vouches for `repomd.xml`: `(repomd, signature)`.
pub type Vouches<'a> = &'a (dyn Fn(&[u8], &[u8]) -> bool + Sync);

/// Reads `repodata/` of the repository at `location`.
pub fn read(location: &Location) -> Result<RepositoryIndex, RepositoryError> {
    let mut packages = Vec::new();
    let metadata = read_into(location, None, None, &mut packages, Some)?;
    Ok(RepositoryIndex {
        packages,
        metadata_files: metadata.metadata_files,
        repomd: metadata.repomd,
    })
}

/// What a repository's `repomd.xml` says besides its packages ([`read_into`]).
#[derive(Debug)]
pub struct RepositoryMetadata {
    /// Every file `repomd.xml` names (`repodata/<checksum>-primary.xml.gz`...).
    pub metadata_files: Vec<String>,
    /// `repomd.xml` as read, and its detached signature if the repository has one.
    pub repomd: Vec<u8>,
    pub repomd_signature: Option<Vec<u8>>,
    /// How many packages the repository lists, whatever `make` kept.
    pub listed: usize,
    /// When the listing came from an [`index`] rather than the metadata documents: the entries
    /// file that index names.
    pub indexed: Option<index::EntriesIdentity>,
}

/// Reads `repodata/` of the repository at `location`, taking its listing from the index at
/// `index_path` when that index is of this very metadata (see [`index`]); each listed package is
/// appended to `into` as `make` makes it (or left out). From an index, packages are made one at a
/// time as they are read, so that a fleet's listing is never in memory twice.
///
/// With `trusted`, `repomd.xml`'s detached signature is checked before any byte of it is parsed,
/// as yum's `repo_gpgcheck` does; each document's checksum (named by that signed `repomd.xml`) is
/// checked before it is decompressed, and decompression stops at its size limit.
pub fn read_into<T>(
    location: &Location,
    index_path: Option<&Path>,
    trusted: Option<Vouches>,
    into: &mut Vec<T>,
    mut make: impl FnMut(ListedPackage) -> Option<T>,
) -> Result<RepositoryMetadata, RepositoryError> {
    let repomd = location
        .fetch("repodata/repomd.xml", REPOMD_LIMIT)?
        .ok_or_else(|| RepositoryError::NotARepository(location.describe()))?;
    let repomd_signature = location.fetch("repodata/repomd.xml.asc", REPOMD_LIMIT)?;
    if let Some(vouches) = trusted {
        let signed = repomd_signature
            .as_deref()
            .is_some_and(|signature| vouches(&repomd, signature));
        if !signed {
            return Err(RepositoryError::Untrusted(location.describe()));
        }
    }
    let repomd_name = format!("{}/repodata/repomd.xml", location.describe());
    let data = parse_repomd(&repomd).map_err(|detail| RepositoryError::Malformed {
        what: repomd_name.clone(),
        detail,
    })?;
    let (listed, indexed) = match index_path
        .and_then(|path| index::load_listing_into(path, &repomd, into, &mut make))
    {
        Some((entries, listed)) => (listed, Some(entries)),
        None => {
            let packages = read_documents(location, &data)?;
            let listed = packages.len();
            into.reserve_exact(listed);
            into.extend(packages.into_iter().filter_map(make));
            (listed, None)
        }
    };
    Ok(RepositoryMetadata {
        metadata_files: data.into_iter().map(|d| d.href).collect(),
        repomd_signature,
        repomd,
        listed,
        indexed,
    })
}

/// The packages listed by the `primary`, `filelists` and `other` documents `data` names, checked
/// against their checksums.
fn read_documents(
    location: &Location,
    data: &[RepomdEntry],
) -> Result<Vec<ListedPackage>, RepositoryError> {
    let mut documents: HashMap<Kind, (String, Vec<u8>)> = HashMap::new();
    for entry in data {
        let Some(kind) = Kind::from_name(&entry.kind) else {
            continue;
        };
        let what = format!("{}/{}", location.describe(), entry.href);
        let compressed = location
            .fetch(&entry.href, METADATA_LIMIT)?
            .ok_or_else(|| RepositoryError::Malformed {
                what: what.clone(),
                detail: "named by repomd.xml but missing".into(),
            })?;
        if sha256_hex(&compressed) != entry.checksum {
            return Err(RepositoryError::Malformed {
                what,
                detail: format!(
                    "its sha256 is not the {} repomd.xml names; the repository is being replaced or is damaged",
                    entry.checksum
                ),
            });
        }
        documents.insert(kind, (what, compressed));
    }
    let malformed = |kind: Kind, detail: String| RepositoryError::Malformed {
        what: format!("{} ({} metadata)", location.describe(), kind.name()),
        detail,
    };
    let decompress = |(what, compressed): &(String, Vec<u8>)| {
        let limit = UNPACKED_METADATA_LIMIT.bytes()?;
        let mut text = String::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .take(limit.saturating_add(1))
            .read_to_string(&mut text)
            .map_err(|e| RepositoryError::Malformed {
                what: what.clone(),
                detail: format!("not gzip-compressed XML: {e}"),
            })?;
        if text.len() as u64 > limit {
            return Err(UNPACKED_METADATA_LIMIT.exceeded(what, limit).into());
        }
        Ok::<_, RepositoryError>(text)
    };
    let primary = documents
        .get(&Kind::Primary)
        .ok_or_else(|| malformed(Kind::Primary, "repomd.xml names no primary metadata".into()))?;
    let fragments_of = |kind: Kind| {
        let Some(document) = documents.get(&kind) else {
            return Ok(HashMap::new());
        };
        fragments_by_pkgid(&decompress(document)?).map_err(|e| malformed(kind, e))
    };
    // The three documents are independent; a large fleet's take a noticeable part of a rebuild.
    let (packages, (filelists, other)) = rayon::join(
        || parse_primary(&decompress(primary)?).map_err(|e| malformed(Kind::Primary, e)),
        || {
            rayon::join(
                || fragments_of(Kind::Filelists),
                || fragments_of(Kind::Other),
            )
        },
    );
    let (mut packages, mut filelists, mut other) = (packages?, filelists?, other?);
    for package in &mut packages {
        package.entries.filelists = filelists.remove(&package.pkgid).unwrap_or_default();
        package.entries.other = other.remove(&package.pkgid).unwrap_or_default();
    }
    Ok(packages)
}

struct RepomdEntry {
    kind: String,
    href: String,
    checksum: String,
    open_checksum: String,
    size: Option<u64>,
    open_size: Option<u64>,
}

/// The compressed documents a repository's `repomd.xml` at `dir` describes in the form hostnet
/// writes them (`repodata/<checksum>-<kind>.xml.gz`), so that a build can keep those whose content
/// has not changed; empty when there is no such repository.
pub fn data_files(dir: &Path) -> Vec<crate::repodata::DataFile> {
    let Ok(repomd) = std::fs::read(dir.join("repodata/repomd.xml")) else {
        return Vec::new();
    };
    parse_repomd(&repomd)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|entry| {
            let file = crate::repodata::DataFile {
                size: entry.size?,
                open_size: entry.open_size?,
                kind: Kind::from_name(&entry.kind)?,
                checksum: Sha256::from_hex(&entry.checksum)?,
                open_checksum: Sha256::from_hex(&entry.open_checksum)?,
            };
            (entry.href == format!("repodata/{}", file.file_name())).then_some(file)
        })
        .collect()
}

fn attribute(element: &BytesStart, name: &str) -> Option<String> {
    element
        .attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .and_then(|a| {
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.into_owned())
        })
}

/// The five XML entities and character references, the only ones repository metadata uses.
fn resolve_reference(name: &str) -> String {
    match name {
        "amp" => "&".into(),
        "lt" => "<".into(),
        "gt" => ">".into(),
        "quot" => "\"".into(),
        "apos" => "'".into(),
        other => other
            .strip_prefix("#x")
            .and_then(|hex| u32::from_str_radix(hex, 16).ok())
            .or_else(|| other.strip_prefix('#').and_then(|d| d.parse().ok()))
            .and_then(char::from_u32)
            .map(String::from)
            .unwrap_or_default(),
    }
}

fn parse_repomd(bytes: &[u8]) -> Result<Vec<RepomdEntry>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut entries = Vec::new();
    let mut current: Option<RepomdEntry> = None;
    let mut field: Option<String> = None;
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) if e.name().as_ref() == "data" => {
                current = Some(RepomdEntry {
                    kind: attribute(&e, "type").unwrap_or_default(),
                    href: String::new(),
                    checksum: String::new(),
                    open_checksum: String::new(),
                    size: None,
                    open_size: None,
                });
            }
            Event::Empty(e) | Event::Start(e) if e.name().as_ref() == "location" => {
                if let Some(entry) = current.as_mut() {
                    entry.href = attribute(&e, "href").unwrap_or_default();
                }
            }
            Event::Start(e) if current.is_some() => {
                field = Some(e.name().as_ref().to_string());
            }
            Event::Text(t) => {
                if let (Some(field), Some(entry)) = (field.as_deref(), current.as_mut()) {
                    let value = t.to_string();
                    let value = value.trim();
                    match field {
                        "checksum" => entry.checksum.push_str(value),
                        "open-checksum" => entry.open_checksum.push_str(value),
                        "size" => entry.size = value.parse().ok(),
                        "open-size" => entry.open_size = value.parse().ok(),
                        _ => {}
                    }
                }
            }
            Event::End(e) if e.name().as_ref() == "data" => {
                field = None;
                if let Some(entry) = current.take() {
                    if entry.href.is_empty() || entry.checksum.is_empty() {
                        return Err(format!(
                            "<data type=\"{}\"> has no location or checksum",
                            entry.kind
                        ));
                    }
                    check_relative(&entry.href)?;
                    entries.push(entry);
                }
            }
            Event::End(_) => field = None,
            Event::Eof => break,
            _ => {}
        }
    }
    if entries.is_empty() {
        return Err("lists no metadata".into());
    }
    Ok(entries)
}

/// A location from metadata (or the publish journal) stays inside the repository: a relative
/// path of plain segments, nothing a server or a file system would decode into `..`.
pub fn check_relative(href: &str) -> Result<(), String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "._+~@=,:-/".contains(c);
    if href.is_empty()
        || href.starts_with('/')
        || href
            .split('/')
            .any(|p| p == ".." || p == "." || p.is_empty())
        || !href.chars().all(plain)
    {
        return Err(format!(
            "the location {href:?} is not a plain path inside the repository"
        ));
    }
    Ok(())
}

fn parse_primary(text: &str) -> Result<Vec<ListedPackage>, String> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut packages = Vec::new();
    let mut start = 0usize;
    let mut current: Option<ListedPackage> = None;
    let mut field: Option<&'static str> = None;
    let mut description = String::new();
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader.read_event().map_err(|e| e.to_string())?;
        match event {
            Event::Start(e) if e.name().as_ref() == "package" => {
                start = before;
                description.clear();
                current = Some(ListedPackage {
                    name: String::new(),
                    version: String::new(),
                    release: String::new(),
                    pkgid: String::new(),
                    location: String::new(),
                    size: 0,
                    digest: None,
                    entries: crate::repodata::PackageEntries::default(),
                    stored: None,
                });
            }
            Event::End(e) if e.name().as_ref() == "package" => {
                let Some(mut package) = current.take() else {
                    continue;
                };
                package.entries.primary =
                    text[start..reader.buffer_position() as usize].to_string();
                package.digest = crate::digest::content_digest_in(&description);
                if package.name.is_empty() || package.pkgid.is_empty() {
                    return Err("a package entry has no name or checksum".into());
                }
                check_relative(&package.location)?;
                packages.push(package);
            }
            Event::Start(e) if current.is_some() => match e.name().as_ref() {
                "name" => field = Some("name"),
                "checksum" => field = Some("checksum"),
                "description" => field = Some("description"),
                "location" => read_empty(&e, current.as_mut()),
                _ => {}
            },
            Event::Empty(e) if current.is_some() => read_empty(&e, current.as_mut()),
            Event::End(_) => field = None,
            Event::Text(t) => {
                if let (Some(field), Some(package)) = (field, current.as_mut()) {
                    let value = t.to_string();
                    match field {
                        "name" => package.name.push_str(&value),
                        "checksum" => package.pkgid.push_str(value.trim()),
                        _ => description.push_str(&value),
                    }
                }
            }
            Event::GeneralRef(r) => {
                if let (Some(field), Some(package)) = (field, current.as_mut()) {
                    let value = resolve_reference(&r);
                    match field {
                        "name" => package.name.push_str(&value),
                        "description" => description.push_str(&value),
                        _ => package.pkgid.push_str(&value),
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(packages)
}

/// `<version .../>`, `<location .../>` and `<size .../>` of a package in primary.
fn read_empty(element: &BytesStart, package: Option<&mut ListedPackage>) {
    let Some(package) = package else { return };
    match element.name().as_ref() {
        "version" => {
            package.version = attribute(element, "ver").unwrap_or_default();
            package.release = attribute(element, "rel").unwrap_or_default();
        }
        "location" => package.location = attribute(element, "href").unwrap_or_default(),
        "size" => {
            package.size = attribute(element, "package")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
        }
        _ => {}
    }
}

/// The `<package pkgid="...">...</package>` entries of filelists or other, by pkgid.
fn fragments_by_pkgid(text: &str) -> Result<HashMap<String, String>, String> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut fragments = HashMap::new();
    let mut open: Option<(usize, String)> = None;
    loop {
        let before = reader.buffer_position() as usize;
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) if e.name().as_ref() == "package" => {
                open = Some((before, attribute(&e, "pkgid").unwrap_or_default()));
            }
            Event::End(e) if e.name().as_ref() == "package" => {
                if let Some((start, pkgid)) = open.take() {
                    fragments.insert(
                        pkgid,
                        text[start..reader.buffer_position() as usize].to_string(),
                    );
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(fragments)
}

/// Whether `path` looks like a repository root (holds `repodata/repomd.xml`).
pub fn is_repository_dir(path: &Path) -> bool {
    path.join("repodata/repomd.xml").is_file()
}
