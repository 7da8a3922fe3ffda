//! Versions yum can follow.
//!
//! A host package is `hostnet-<host>-<N>-1.noarch.rpm`, where N counts the host's distinct
//! configurations. Building next to the host's previous package (the build's output directory, or
//! `--previous`, e.g. a synced copy of the published repo): if the content digest recorded in the
//! previous package's description is the one just computed, the previous file is reused as it is
//! (same name, version, release and bytes); otherwise N goes up by one, so `yum update` picks the
//! new package. Without a previous package N starts at 1.

use std::path::{Path, PathBuf};

/// The release is fixed: the version carries the count, so that it reads naturally in `rpm -q`.
pub const RELEASE: &str = "1";
/// Starts the description line that records the content digest (a line of its own, 71 characters).
pub const DIGEST_MARKER: &str = "sha256:";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousPackage {
    pub path: PathBuf,
    pub version: u64,
    pub digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Unchanged: keep this file.
    Reuse(PathBuf),
    /// New content: build with this version.
    Build(u64),
}

#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error("{}: cannot read the previous packages: {source}", dir.display())]
    Read {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a package hostnet can read: {source}", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: rpm::Error,
    },
    #[error("{}: --previous is not a directory of packages: {source}", dir.display())]
    MissingPrevious {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "refusing to build {new}: {} already has that name, version and release with other content, and yum never replaces a package whose version it has; remove or rename that file, or build from the repository it was published in (--previous)",
        existing.display()
    )]
    Collision { new: String, existing: PathBuf },
    #[error("{}: version {version:?} is not a whole number, so hostnet cannot continue its numbering; remove the file or build into another directory", path.display())]
    Version { path: PathBuf, version: String },
}

/// The newest package named `package_name` in `dir`, if any.
pub fn find_previous(
    dir: &Path,
    package_name: &str,
) -> Result<Option<PreviousPackage>, VersionError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(VersionError::Read {
                dir: dir.into(),
                source,
            });
        }
    };
    let prefix = format!("{package_name}-");
    let mut newest: Option<PreviousPackage> = None;
    for entry in entries {
        let entry = entry.map_err(|source| VersionError::Read {
            dir: dir.into(),
            source,
        })?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if !file_name.starts_with(&prefix) || !file_name.ends_with(".noarch.rpm") {
            continue;
        }
        let path = entry.path();
        let metadata = rpm::PackageMetadata::open(&path).map_err(|source| VersionError::Parse {
            path: path.clone(),
            source,
        })?;
        // `hostnet-web-1-...` also starts with `hostnet-web-`'s prefix: compare the real name.
        if metadata.get_name().ok() != Some(package_name) {
            continue;
        }
        let version_text = metadata.get_version().unwrap_or_default().to_string();
        let version = version_text
            .parse::<u64>()
            .map_err(|_| VersionError::Version {
                path: path.clone(),
                version: version_text.clone(),
            })?;
        let digest = metadata.get_description().ok().and_then(|d| {
            d.lines()
                .find_map(|l| l.strip_prefix(DIGEST_MARKER))
                .map(String::from)
        });
        if newest.as_ref().is_none_or(|n| version > n.version) {
            newest = Some(PreviousPackage {
                path,
                version,
                digest,
            });
        }
    }
    Ok(newest)
}

/// The newest package named `package_name` across `dirs`: numbering continues from the highest
/// version any of them holds, so a build never goes back to a version already given out.
pub fn find_newest(
    dirs: &[PathBuf],
    package_name: &str,
) -> Result<Option<PreviousPackage>, VersionError> {
    let mut newest: Option<PreviousPackage> = None;
    for dir in dirs {
        if let Some(found) = find_previous(dir, package_name)?
            && newest.as_ref().is_none_or(|n| found.version > n.version)
        {
            newest = Some(found);
        }
    }
    Ok(newest)
}

/// Refuses a file name that one of `dirs` already holds (with other content, since the digest
/// differs from every package it would otherwise reuse).
pub fn refuse_collision(dirs: &[PathBuf], file_name: &str) -> Result<(), VersionError> {
    match dirs.iter().map(|d| d.join(file_name)).find(|p| p.exists()) {
        Some(existing) => Err(VersionError::Collision {
            new: file_name.to_string(),
            existing,
        }),
        None => Ok(()),
    }
}

pub fn decide(previous: Option<&PreviousPackage>, digest: &str) -> Decision {
    match previous {
        Some(p) if p.digest.as_deref() == Some(digest) => Decision::Reuse(p.path.clone()),
        Some(p) => Decision::Build(p.version + 1),
        None => Decision::Build(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions() {
        let previous = PreviousPackage {
            path: "p.rpm".into(),
            version: 4,
            digest: Some("abc".into()),
        };
        assert_eq!(
            decide(Some(&previous), "abc"),
            Decision::Reuse("p.rpm".into())
        );
        assert_eq!(decide(Some(&previous), "def"), Decision::Build(5));
        assert_eq!(decide(None, "def"), Decision::Build(1));
        let foreign = PreviousPackage {
            digest: None,
            ..previous
        };
        assert_eq!(decide(Some(&foreign), "abc"), Decision::Build(5));
    }
}
