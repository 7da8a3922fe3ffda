//! `hostnet publish`: a built `repo/` into the repository every host and kickstart reads, in the
//! order that keeps every client consistent at every instant:
//!
//! 1. packages the new metadata lists that the target lacks (each written under a temporary name
//!    and moved into place where the target can move, else PUT under its name; read back to check
//!    its sha256);
//! 2. the new hashed metadata files (`repodata/<sha256>-primary.xml.gz`...), which no client
//!    reads yet;
//! 3. `repomd.xml`, then its detached signature, each replaced in one rename, WebDAV `MOVE` or
//!    `PUT` (see `remote.rs` for what a PUT-only server guarantees).
//!
//! Metadata files and packages the new `repomd.xml` no longer names stay for a grace period (a
//! client that read the previous `repomd.xml` can still fetch what it names) and are deleted by a
//! later publish; `.hostnet-publish.json` on the target records since when each was superseded.
//! A lock (`.hostnet-lock/`, made with `mkdir` or `MKCOL`, which fail if it exists, or its owner
//! file PUT with `If-None-Match: *`) keeps two publishers apart; a lock left by a publisher that died is broken. A publish interrupted at any
//! point and run again completes without duplicates: every step is idempotent.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::digest::sha256_hex;
use crate::http::{METADATA_LIMIT, PACKAGE_LIMIT, REPOMD_LIMIT, SizeLimit};
use crate::repository::{self, Location, RepositoryError};

mod lock;
mod pulp;
mod remote;
mod target;

use lock::{lock, now};
use target::{Target, target_for};

pub(crate) const LOCK_DIR: &str = ".hostnet-lock";
pub(crate) const JOURNAL: &str = ".hostnet-publish.json";
pub(crate) const UPLOAD_SUFFIX: &str = ".hostnet-upload";
const REPOMD: &str = "repodata/repomd.xml";
const REPOMD_SIGNATURE: &str = "repodata/repomd.xml.asc";
/// Files beside the metadata that are replaced as a whole on each publish.
pub(crate) const TOP_FILES: [&str; 3] = [
    crate::package::PUBLIC_KEY_NAME,
    "SHA256SUMS",
    crate::package::REPO_FILE_NAME,
];

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Repository(#[from] RepositoryError),
    #[error(transparent)]
    Fetch(#[from] crate::http::FetchError),
    #[error("{0}")]
    Refused(String),
    #[error("{what}: {detail}")]
    Target { what: String, detail: String },
}

pub struct PublishOptions<'a> {
    /// The built `repo/`.
    pub repo: &'a Path,
    /// A directory, or an `http(s)://` URL accepting WebDAV.
    pub target: &'a str,
    /// How long superseded files stay.
    pub grace: Duration,
    /// A lock older than this is taken to be left by a dead publisher.
    pub lock_timeout: Duration,
    /// How an `http(s)://` target is written.
    pub server: ServerMode,
    /// Pulp's signing service for the repository's metadata.
    pub signing_service: Option<&'a str>,
}

/// How a publish writes to a server over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ServerMode {
    /// WebDAV if the server makes and moves a collection, else plain PUT; the choice is printed.
    Auto,
    /// PUT to a temporary name and MOVE into place; the lock a collection made with MKCOL.
    Webdav,
    /// PUT under the final name, repomd.xml and its signature last (Nexus, Artifactory).
    Put,
    /// Pulp 3's REST API: upload, repository version, publication, distribution.
    Pulp,
}

/// What a publish did.
#[derive(Debug, Default)]
pub struct PublishReport {
    pub uploaded: Vec<(String, u64)>,
    pub already_there: Vec<String>,
    pub deleted: Vec<String>,
    /// Temporaries an interrupted publish had left, removed.
    pub swept: Vec<String>,
    /// Superseded files still kept for the grace period.
    pub waiting: usize,
}

/// Files the current metadata no longer names, with the time each was superseded: 0 while the
/// `repomd.xml` that drops them is not yet in place (a publish killed before its switch must not
/// start their grace period).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Journal {
    superseded: BTreeMap<String, u64>,
}

const PENDING: u64 = 0;

/// Publishes `options.repo` to `options.target`.
pub fn publish(
    options: &PublishOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<PublishReport, PublishError> {
    let local_location = Location::Directory(options.repo.to_path_buf());
    let local = repository::read(&local_location)?;
    let local_repomd = read_local(options.repo, REPOMD, REPOMD_LIMIT)?;
    let Some(local_signature) = optional_local(options.repo, REPOMD_SIGNATURE, REPOMD_LIMIT)?
    else {
        return Err(PublishError::Refused(format!(
            "{}: the metadata is not signed (no {REPOMD_SIGNATURE}); publish only builds made with a key, which hosts check with repo_gpgcheck=1",
            options.repo.display()
        )));
    };
    if options.server == ServerMode::Pulp {
        let pulp = pulp::Pulp::open(options.target, options.signing_service)?;
        return pulp::publish(&pulp, options.repo, &local, progress);
    }
    if options.signing_service.is_some() {
        return Err(PublishError::Refused(
            "--signing-service names a Pulp signing service: it goes with --server pulp".into(),
        ));
    }
    let target = target_for(options.target, options.server)?;
    let target = target.as_ref();
    let lock = lock(target, options.lock_timeout)?;
    progress(&format!(
        "publishing to {}: {}",
        target.describe(""),
        target.guarantees()
    ));
    let swept = target.sweep_temporaries()?;

    let remote = match target.get(REPOMD, REPOMD_LIMIT)? {
        Some(_) => Some(repository::read(&target.location())?),
        None => None,
    };
    let remote_packages: BTreeMap<&str, &str> = remote
        .iter()
        .flat_map(|r| r.packages.iter())
        .map(|p| (p.location.as_str(), p.pkgid.as_str()))
        .collect();
    let mut report = PublishReport {
        swept,
        ..PublishReport::default()
    };

    // 1. Packages.
    for package in &local.packages {
        let location = package.location.as_str();
        let published = remote_packages.get(location).copied();
        if let Some(pkgid) = published
            && pkgid != package.pkgid
        {
            return Err(PublishError::Refused(format!(
                "{} is published with other content (sha256 {pkgid}, this build has {}); yum never replaces a package whose version it has. Build with --previous {} so that numbering continues from what is published",
                target.describe(location),
                package.pkgid,
                options.target
            )));
        }
        if published.is_some() {
            report.already_there.push(location.to_string());
            continue;
        }
        lock.refresh()?;
        match optional_local(options.repo, location, PACKAGE_LIMIT)? {
            Some(bytes) => {
                if sha256_hex(&bytes) != package.pkgid {
                    return Err(PublishError::Refused(format!(
                        "{}: its sha256 is not the one repodata lists; rebuild",
                        options.repo.join(location).display()
                    )));
                }
                if upload(target, location, &bytes, PACKAGE_LIMIT, progress)? {
                    report
                        .uploaded
                        .push((location.to_string(), bytes.len() as u64));
                } else {
                    report.already_there.push(location.to_string());
                }
            }
            None => {
                // Listed from the published metadata when this repo was built: it must still be
                // there, whole.
                let there = target.get(location, PACKAGE_LIMIT)?;
                if there.as_deref().map(sha256_hex).as_deref() != Some(package.pkgid.as_str()) {
                    return Err(PublishError::Refused(format!(
                        "the metadata lists {location}, which is neither in {} nor published at {}; build again with --previous {}",
                        options.repo.display(),
                        target.describe(location),
                        options.target
                    )));
                }
                report.already_there.push(location.to_string());
            }
        }
    }

    // 2. Metadata files, named by their checksum.
    for file in &local.metadata_files {
        lock.refresh()?;
        let bytes = read_local(options.repo, file, METADATA_LIMIT)?;
        if upload(target, file, &bytes, METADATA_LIMIT, progress)? {
            report.uploaded.push((file.clone(), bytes.len() as u64));
        }
    }

    // Superseded files: recorded now, deleted once the grace period has passed.
    let mut journal: Journal = target
        .get(JOURNAL, REPOMD_LIMIT)?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    // The journal lives on the target, where others can write: it names files to delete, so an
    // entry outside the repository's own files is dropped, never followed.
    journal.superseded.retain(|file, _| {
        repository::check_relative(file).is_ok()
            && (file.starts_with("Packages/") || file.starts_with("repodata/"))
    });
    let in_use: BTreeSet<&str> = local
        .packages
        .iter()
        .map(|p| p.location.as_str())
        .chain(local.metadata_files.iter().map(String::as_str))
        .collect();
    journal
        .superseded
        .retain(|file, _| !in_use.contains(file.as_str()));
    let time = now();
    if let Some(remote) = &remote {
        for file in remote
            .packages
            .iter()
            .map(|p| p.location.as_str())
            .chain(remote.metadata_files.iter().map(String::as_str))
            .filter(|f| !in_use.contains(f))
        {
            journal
                .superseded
                .entry(file.to_string())
                .or_insert(PENDING);
        }
    }
    target.put(
        JOURNAL,
        &serde_json::to_vec_pretty(&journal).expect("the journal serialises"),
    )?;

    // 3. The key and checksums, then repomd.xml and its signature: clients switch here, only
    //    while this publish still holds the lock.
    lock.still_held()?;
    for file in TOP_FILES {
        if let Some(bytes) = optional_local(options.repo, file, PACKAGE_LIMIT)? {
            target.put(file, &bytes)?;
        }
    }
    progress(&format!("switching {}", target.describe(REPOMD)));
    target.put(REPOMD, &local_repomd)?;
    target.put(REPOMD_SIGNATURE, &local_signature)?;

    // 4. The grace period of what this switch dropped starts now; what it has released goes. A file
    //    is forgotten only once it is gone.
    for since in journal.superseded.values_mut() {
        if *since == PENDING {
            *since = time;
        }
    }
    let expired: Vec<String> = journal
        .superseded
        .iter()
        .filter(|(_, since)| time.saturating_sub(**since) >= options.grace.as_secs())
        .map(|(file, _)| file.clone())
        .collect();
    if !expired.is_empty() {
        lock.still_held()?;
    }
    for file in expired {
        target.delete(&file)?;
        journal.superseded.remove(&file);
        report.deleted.push(file);
    }
    report.waiting = journal.superseded.len();
    target.put(
        JOURNAL,
        &serde_json::to_vec_pretty(&journal).expect("the journal serialises"),
    )?;
    Ok(report)
}

/// Uploads `bytes` unless the target already holds exactly them; checks the result by reading
/// it back. Returns whether it uploaded.
fn upload(
    target: &dyn Target,
    relative: &str,
    bytes: &[u8],
    limit: SizeLimit,
    progress: &mut dyn FnMut(&str),
) -> Result<bool, PublishError> {
    let digest = sha256_hex(bytes);
    if target.get(relative, limit)?.as_deref().map(sha256_hex) == Some(digest.clone()) {
        return Ok(false);
    }
    progress(&format!(
        "uploading {} ({} bytes)",
        target.describe(relative),
        bytes.len()
    ));
    target.put(relative, bytes)?;
    let back = target.get(relative, limit)?;
    if back.as_deref().map(sha256_hex) != Some(digest) {
        return Err(PublishError::Target {
            what: target.describe(relative),
            detail: format!(
                "read back {} bytes with another sha256 than the {} uploaded",
                back.map_or(0, |b| b.len()),
                bytes.len()
            ),
        });
    }
    Ok(true)
}

fn optional_local(
    repo: &Path,
    relative: &str,
    limit: SizeLimit,
) -> Result<Option<Vec<u8>>, PublishError> {
    Ok(Location::Directory(repo.to_path_buf()).fetch(relative, limit)?)
}

fn read_local(repo: &Path, relative: &str, limit: SizeLimit) -> Result<Vec<u8>, PublishError> {
    optional_local(repo, relative, limit)?.ok_or_else(|| PublishError::Target {
        what: repo.join(relative).display().to_string(),
        detail: "missing".into(),
    })
}
