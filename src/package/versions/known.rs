//! One package built before: where it is, what it holds, and how to read it.

use std::path::PathBuf;
use std::sync::Arc;

use super::VersionError;
use crate::repository::{ListedPackage, Location, RepositoryError};

/// One package built before: where it is and what it holds.
#[derive(Debug, Clone)]
pub struct KnownPackage {
    pub version: u64,
    /// Its name, file name and content digest, as a listing or its header gives them.
    pub(super) described: Described,
    /// A local copy of the file, when one is at hand ([`KnownPackage::local`]).
    pub(super) local: Local,
    /// The repository that lists it, to fetch the file when it is not at hand; one for all the
    /// packages it lists.
    pub repository: Option<Arc<Location>>,
    /// Listed by repository metadata whose signature verified with the build's key, so signed
    /// by it: builds with that key published it.
    pub vouched: bool,
    /// Its place in the order packages were added: of two of the same version, the first counts.
    pub(super) added: u32,
}

/// What a known package is. Its listing already names it, so its name, file name and digest are
/// read from there, not copied: a build knows one package per host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Described {
    /// Its metadata entries, as a repository lists it: enough to list it again without the file.
    Listed(ListedPackage),
    /// A package file no metadata lists, as its header describes it.
    File {
        name: String,
        file_name: String,
        digest: Option<String>,
    },
}

/// Where a known package's file is at hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Local {
    Absent,
    /// Where the repository that lists it (a directory) has it: made when asked, since a build
    /// knows a package per host.
    Listed,
    At(PathBuf),
}

/// The same package, whenever it was read.
impl PartialEq for KnownPackage {
    fn eq(&self, other: &Self) -> bool {
        let KnownPackage {
            version,
            described,
            local,
            repository,
            vouched,
            added: _,
        } = self;
        (version, described, local, repository, vouched)
            == (
                &other.version,
                &other.described,
                &other.local,
                &other.repository,
                &other.vouched,
            )
    }
}

impl Eq for KnownPackage {}

impl KnownPackage {
    /// A local copy of the file, when one is at hand.
    pub fn local(&self) -> Option<PathBuf> {
        match &self.local {
            Local::Absent => None,
            Local::Listed => self
                .repository
                .as_ref()?
                .local_path(&self.listed()?.location),
            Local::At(path) => Some(path.clone()),
        }
    }

    pub fn name(&self) -> &str {
        match &self.described {
            Described::Listed(listed) => &listed.name,
            Described::File { name, .. } => name,
        }
    }

    pub fn file_name(&self) -> &str {
        match &self.described {
            Described::Listed(listed) => listed.file_name(),
            Described::File { file_name, .. } => file_name,
        }
    }

    /// The content digest hostnet recorded in its description, if hostnet built it.
    pub fn digest(&self) -> Option<&str> {
        match &self.described {
            Described::Listed(listed) => listed.digest.as_deref(),
            Described::File { digest, .. } => digest.as_deref(),
        }
    }

    /// Its metadata entries, when a repository lists it.
    pub fn listed(&self) -> Option<&ListedPackage> {
        match &self.described {
            Described::Listed(listed) => Some(listed),
            Described::File { .. } => None,
        }
    }

    /// Where it was found, for messages. Made when asked: a build knows one package per host.
    pub fn found_in(&self) -> String {
        match (&self.repository, self.listed(), self.local()) {
            (Some(repository), Some(listed), _) => {
                format!("{}/{}", repository.describe(), listed.location)
            }
            (_, _, Some(path)) => path.display().to_string(),
            _ => self.file_name().to_string(),
        }
    }

    /// The package file: the local copy, or fetched from the repository that lists it.
    pub fn bytes(&self) -> Result<Vec<u8>, VersionError> {
        if let Some(path) = self.local() {
            return std::fs::read(&path).map_err(|source| VersionError::Read { dir: path, source });
        }
        let (Some(repository), Some(listed)) = (&self.repository, self.listed()) else {
            return Err(VersionError::MissingPrevious(self.found_in()));
        };
        repository
            .fetch(&listed.location, crate::http::PACKAGE_LIMIT)?
            .ok_or_else(|| {
                VersionError::Repository(RepositoryError::Malformed {
                    what: self.found_in(),
                    detail: "listed in the metadata but missing".into(),
                })
            })
    }
}
