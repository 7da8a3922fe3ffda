//! Versions yum can follow, and which of them a repository keeps.
//!
//! A host package is `hostnet-<host>-<N>-1.noarch.rpm`, where N counts the host's distinct
//! configurations. What was built before is read once, from the build's own live output and from
//! `--previous` (a published repository, as a directory or an `http(s)://` URL whose metadata is
//! read without downloading packages, or a plain directory of packages). Per host: if the content
//! digest recorded in the newest package's description is the one just computed, that package is
//! kept as it is (same name, version, release and bytes); otherwise N becomes the highest known
//! version plus one, so `yum update` picks it up. The repository lists the newest `keep-versions`
//! versions of each host (so `yum downgrade` can roll back); older ones, and every version of a
//! host no longer defined, are retired.

use rayon::prelude::*;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod known;

pub use known::KnownPackage;
use known::{Described, Local};

use super::signing::SigningKey;
use crate::repository::{self, Location, RepositoryError};

/// The release is fixed: the version carries the count, so that it reads naturally in `rpm -q`.
pub const RELEASE: &str = "1";

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
    #[error(
        "{0}: --previous does not exist; give the published repository (a directory or an http(s):// URL of the directory holding repodata/) or a directory of packages"
    )]
    MissingPrevious(String),
    /// Names the repository (its path or URL) itself.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
    #[error(
        "refusing to build {new}: {existing} already has that name, version and release with other content, and yum never replaces a package whose version it has; remove or rename that file, or build from the repository it was published in (--previous)"
    )]
    Collision { new: String, existing: String },
}

/// Everything built before; read once per build.
#[derive(Debug, Default)]
pub struct KnownPackages {
    /// Every package, by name and then newest first once loaded ([`KnownPackages::settle`]): one
    /// vector, sized exactly, since a build knows a package per host and looks them up by name.
    packages: Vec<KnownPackage>,
    /// The package file names seen that are not `<name>-<version>-<release>.noarch.rpm` of a known
    /// package (a renamed file, or one whose header is not a host's), with where when that is not
    /// a known package's [`KnownPackage::found_in`]. A file named after its own package cannot
    /// take a new version's name, which is always above every known version of that package.
    odd_file_names: BTreeMap<String, Option<String>>,
    /// The build's index of its own repository, when the listing came from there.
    own_index: Option<OwnIndex>,
}

/// The build's index of its own live repository, as read: packages listed from there have
/// [`repository::Stored::Indexed`] entries.
#[derive(Debug)]
pub struct OwnIndex {
    /// The `repomd.xml` the index is of.
    pub repomd: Vec<u8>,
    /// How many packages it lists.
    pub packages: usize,
    /// The entries file it names.
    pub entries: repository::index::EntriesIdentity,
}

impl KnownPackages {
    /// Reads the build's own live `repo/` and `--previous`. A `--previous` that does not exist or
    /// cannot be read is an error, never an empty history.
    ///
    /// With `trust`, a published repository's metadata must carry a valid signature by that key:
    /// its entries are carried into metadata signed with it, so unsigned or foreign metadata would
    /// be laundered into trusted metadata.
    /// `own_index` is the build's index of its own repository ([`repository::index`]), used when
    /// it is of the live metadata.
    pub fn load(
        own_repo: &Path,
        own_index: &Path,
        previous: Option<&str>,
        trust: Option<&SigningKey>,
    ) -> Result<KnownPackages, VersionError> {
        let mut known = KnownPackages::published(previous, trust)?;
        // The live output may hold packages built but not yet published; they count for numbering
        // (never go back), but a published package of the same version wins.
        if repository::is_repository_dir(own_repo) {
            // The build's own output: written by this tool on this machine.
            let own = Location::Directory(own_repo.to_path_buf());
            known.own_index = known.add_repository(&own, Some(own_index), None)?;
        } else {
            known.add_package_dir(&own_repo.join("Packages"))?;
        }
        known.settle();
        Ok(known)
    }

    /// What `previous` (a repository or a directory of packages) holds, if given.
    pub fn published(
        previous: Option<&str>,
        trust: Option<&SigningKey>,
    ) -> Result<KnownPackages, VersionError> {
        let mut known = KnownPackages::default();
        let Some(previous) = previous else {
            return Ok(known);
        };
        match Location::parse(previous) {
            location @ Location::Url(_) => {
                known.add_repository(&location, None, trust)?;
            }
            Location::Directory(dir) => {
                if !dir.is_dir() {
                    return Err(VersionError::MissingPrevious(previous.to_string()));
                }
                if repository::is_repository_dir(&dir) {
                    known.add_repository(&Location::Directory(dir), None, trust)?;
                } else {
                    known.add_package_dir(&dir)?;
                }
            }
        }
        known.settle();
        Ok(known)
    }

    /// Adds a package; [`KnownPackages::settle`] orders them once every source is read.
    fn add(&mut self, package: KnownPackage) {
        self.packages.push(package);
        self.note_added(self.packages.len() - 1);
    }

    /// Numbers the package at `position` in the order added, and notes its file name if it does
    /// not name the package.
    fn note_added(&mut self, position: usize) {
        let package = &mut self.packages[position];
        package.added = u32::try_from(position).expect("fewer than 4 billion packages");
        let named_as_itself =
            is_own_file_name(package.file_name(), package.name(), package.version);
        if !named_as_itself && !self.odd_file_names.contains_key(package.file_name()) {
            self.odd_file_names
                .insert(package.file_name().to_string(), None);
        }
    }

    /// Orders the packages by name, newest first, and keeps one of each version: the first
    /// source read is the authoritative one; a later one may add a local copy.
    fn settle(&mut self) {
        // Unstable, by the order added for packages of one version: a stable sort's scratch would
        // copy a fleet's packages.
        self.packages.sort_unstable_by(|a, b| {
            a.name()
                .cmp(b.name())
                .then_with(|| b.version.cmp(&a.version))
                .then_with(|| a.added.cmp(&b.added))
        });
        self.packages.dedup_by(|later, first| {
            if later.name() != first.name() || later.version != first.version {
                return false;
            }
            if first.digest() == later.digest() && first.local == Local::Absent {
                // Where the later source has it: the first one's repository is another.
                first.local = later.local().map_or(Local::Absent, Local::At);
            }
            true
        });
        self.packages.shrink_to_fit();
    }

    /// Adds what the repository at `location` lists; returns the index it was listed from, if it
    /// came from the index at `index_path`.
    fn add_repository(
        &mut self,
        location: &Location,
        index_path: Option<&Path>,
        trust: Option<&SigningKey>,
    ) -> Result<Option<OwnIndex>, VersionError> {
        let shared_location = Arc::new(location.clone());
        let start = self.packages.len();
        // Each listing made a known package as it is read, never all of them in memory twice.
        let vouches =
            trust.map(|key| move |repomd: &[u8], signature: &[u8]| key.verifies(repomd, signature));
        let metadata = repository::read_into(
            location,
            index_path,
            vouches.as_ref().map(|v| v as repository::Vouches),
            &mut self.packages,
            |package| {
                let version = package.version.parse::<u64>().ok()?;
                (package.release == RELEASE).then(|| KnownPackage {
                    version,
                    described: Described::Listed(package),
                    local: Local::Absent,
                    repository: Some(Arc::clone(&shared_location)),
                    vouched: trust.is_some(),
                    added: 0,
                })
            },
        );
        let metadata = match metadata {
            Ok(metadata) => metadata,
            Err(error) => {
                self.packages.truncate(start);
                return Err(error.into());
            }
        };
        // A stat per package, over the cores for a large fleet.
        self.packages[start..].par_iter_mut().for_each(|package| {
            let at_hand = match &package.described {
                Described::Listed(listing) => location
                    .local_path(&listing.location)
                    .is_some_and(|path| path.is_file()),
                Described::File { .. } => false,
            };
            if at_hand {
                package.local = Local::Listed;
            }
        });
        for position in start..self.packages.len() {
            self.note_added(position);
        }
        Ok(metadata.indexed.map(|entries| OwnIndex {
            repomd: metadata.repomd,
            packages: metadata.listed,
            entries,
        }))
    }

    /// The build's index of its own repository, when the listing came from there.
    pub fn own_index(&self) -> Option<&OwnIndex> {
        self.own_index.as_ref()
    }

    fn add_package_dir(&mut self, dir: &Path) -> Result<(), VersionError> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(VersionError::Read {
                    dir: dir.into(),
                    source,
                });
            }
        };
        let mut paths = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| VersionError::Read {
                dir: dir.into(),
                source,
            })?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".rpm") {
                paths.push(entry.path());
            }
        }
        paths.sort();
        self.packages.reserve_exact(paths.len());
        for path in paths {
            let file_name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            // Until it proves to hold a host's package under that package's own name.
            self.odd_file_names
                .entry(file_name.clone())
                .or_insert_with(|| Some(path.display().to_string()));
            let metadata =
                rpm::PackageMetadata::open(&path).map_err(|source| VersionError::Parse {
                    path: path.clone(),
                    source,
                })?;
            let (Ok(name), Ok(version), Ok(release)) = (
                metadata.get_name(),
                metadata.get_version(),
                metadata.get_release(),
            ) else {
                continue;
            };
            let Ok(version) = version.parse::<u64>() else {
                continue;
            };
            if release != RELEASE {
                continue;
            }
            let digest = metadata
                .get_description()
                .ok()
                .and_then(crate::digest::content_digest_in);
            if is_own_file_name(&file_name, name, version) {
                self.odd_file_names.remove(&file_name);
            }
            self.add(KnownPackage {
                version,
                described: Described::File {
                    name: name.to_string(),
                    file_name,
                    digest,
                },
                local: Local::At(path),
                repository: None,
                vouched: false,
                added: 0,
            });
        }
        Ok(())
    }

    /// Newest first.
    fn versions_of(&self, name: &str) -> &[KnownPackage] {
        let start = self.packages.partition_point(|p| p.name() < name);
        let end = start + self.packages[start..].partition_point(|p| p.name() == name);
        &self.packages[start..end]
    }

    /// The newest version of `name`, if any was built.
    pub fn newest(&self, name: &str) -> Option<&KnownPackage> {
        self.versions_of(name).first()
    }

    /// What happens to `name` given its content `digest`.
    pub fn plan(
        &self,
        name: &str,
        digest: &str,
        keep_versions: u32,
        file_name_for: impl Fn(u64) -> String,
    ) -> Result<HostPlan<'_>, VersionError> {
        let versions = self.versions_of(name);
        let current = match versions.first() {
            Some(newest) if newest.digest() == Some(digest) => Current::Keep(newest),
            newest => {
                let version = newest.map_or(1, |n| n.version + 1);
                let file_name = file_name_for(version);
                if let Some(seen) = self.odd_file_names.get(&file_name) {
                    let existing = seen.clone().unwrap_or_else(|| {
                        self.packages
                            .iter()
                            .find(|known| known.file_name() == file_name)
                            .map_or_else(|| file_name.clone(), KnownPackage::found_in)
                    });
                    return Err(VersionError::Collision {
                        new: file_name,
                        existing,
                    });
                }
                Current::Build(version)
            }
        };
        let older: Vec<&KnownPackage> = versions
            .iter()
            .filter(|p| !matches!(&current, Current::Keep(k) if k.version == p.version))
            .collect();
        let keep = (keep_versions as usize).saturating_sub(1).min(older.len());
        let (retained, retired) = older.split_at(keep);
        Ok(HostPlan {
            current,
            retained: retained.to_vec(),
            retired: retired.to_vec(),
        })
    }

    /// Every version of every package whose name is not in `names` (the fleet's packages): hosts
    /// no longer defined, and anything else the repository holds, which is hostnet's own. `build`
    /// retires them and `plan` shows them retired: one decision.
    pub fn orphans(&self, names: &HashSet<String>) -> Vec<KnownPackage> {
        self.packages
            .iter()
            .filter(|package| !names.contains(package.name()))
            .cloned()
            .collect()
    }
}

/// Why an orphan ([`KnownPackages::orphans`]) is retired.
pub fn orphan_reason(name: &str) -> String {
    match name.strip_prefix("hostnet-") {
        Some(host) => format!("{host} is no longer defined under hosts/"),
        None => {
            format!("{name} is not a host package of this fleet (the repository is hostnet's own)")
        }
    }
}

/// Whether `file_name` is the one hostnet gives version `version` of package `name`.
fn is_own_file_name(file_name: &str, name: &str, version: u64) -> bool {
    file_name == crate::package::package_file_name(name, &version.to_string(), RELEASE)
}

/// The newest version of a host: built now, or kept from before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Current<'k> {
    Build(u64),
    Keep(&'k KnownPackage),
}

impl Current<'_> {
    /// The version number either way.
    pub fn version(&self) -> u64 {
        match self {
            Current::Build(version) => *version,
            Current::Keep(kept) => kept.version,
        }
    }
}

/// One host's versions in the next repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPlan<'k> {
    pub current: Current<'k>,
    /// Older versions still listed, newest first.
    pub retained: Vec<&'k KnownPackage>,
    /// Older versions no longer listed.
    pub retired: Vec<&'k KnownPackage>,
}

#[cfg(test)]
mod tests;
