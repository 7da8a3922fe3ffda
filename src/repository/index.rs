//! The build's index of its own repository: every package its metadata lists, with the package's
//! entries, as [`super::read`] would parse them from `repodata/`. Reading a 10,000-host
//! repository's metadata means decompressing and parsing some 40 MB of XML; this file is read in a
//! fraction of that.
//!
//! It is a cache, valid for exactly one `repomd.xml`: it records that file's sha256, and
//! `repomd.xml` names every document by its checksum, so the same `repomd.xml` means the same
//! listing. A missing, damaged, foreign-format or stale index is ignored and the metadata parsed.

use std::io::{BufWriter, Write as _};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::ListedPackage;
use crate::output::{OutputError, io_error, sha256_hex};

/// The first field of the file; a reader of another format stops there.
const FORMAT: &str = "hostnet repository index 1";

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    /// sha256 of the `repomd.xml` the listing is of.
    repomd_sha256: String,
}

/// The listing of the repository whose `repomd.xml` is `repomd`, if the index at `path` is of it.
pub fn load(path: &Path, repomd: &[u8]) -> Option<Vec<ListedPackage>> {
    let bytes = std::fs::read(path).ok()?;
    let (header, rest) = postcard::take_from_bytes::<Header>(&bytes).ok()?;
    if header.format != FORMAT || header.repomd_sha256 != sha256_hex(repomd) {
        return None;
    }
    let (packages, rest) = postcard::take_from_bytes::<Vec<ListedPackage>>(rest).ok()?;
    rest.is_empty().then_some(packages)
}

/// Writes the index of the repository whose `repomd.xml` is `repomd` and which lists `packages`,
/// replacing the one at `path` in one rename.
pub fn save(path: &Path, repomd: &[u8], packages: &[&ListedPackage]) -> Result<(), OutputError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file = tempfile::NamedTempFile::new_in(dir).map_err(io_error(dir))?;
    let header = Header {
        format: FORMAT.into(),
        repomd_sha256: sha256_hex(repomd),
    };
    let mut out = BufWriter::with_capacity(1 << 17, file);
    let written = postcard::to_io(&header, &mut out)
        .and_then(|out| postcard::to_io(packages, out))
        .map(|_| ());
    written.map_err(|e| OutputError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    out.flush().map_err(io_error(path))?;
    let file = out.into_inner().map_err(|e| OutputError::Io {
        path: path.to_path_buf(),
        source: e.into_error(),
    })?;
    file.persist(path).map_err(|e| OutputError::Io {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}
