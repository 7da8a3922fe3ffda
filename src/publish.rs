//! `hostnet publish`: a built `repo/` into the repository every host and kickstart reads, in the
//! order that keeps every client consistent at every instant:
//!
//! 1. packages the new metadata lists that the target lacks (each written under a temporary name,
//!    moved into place, and read back to check its sha256);
//! 2. the new hashed metadata files (`repodata/<sha256>-primary.xml.gz`...), which no client
//!    reads yet;
//! 3. `repomd.xml`, then its detached signature, each replaced in one rename or WebDAV `MOVE`.
//!
//! Metadata files and packages the new `repomd.xml` no longer names stay for a grace period (a
//! client that read the previous `repomd.xml` can still fetch what it names) and are deleted by a
//! later publish; `.hostnet-publish.json` on the target records since when each was superseded.
//! A lock (`.hostnet-lock/`, made with `mkdir` or `MKCOL`, which fail if it exists) keeps two
//! publishers apart; a lock left by a publisher that died is broken. A publish interrupted at any
//! point and run again completes without duplicates: every step is idempotent.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::http::{self, METADATA_LIMIT, PACKAGE_LIMIT, REPOMD_LIMIT, SizeLimit};
use crate::output::sha256_hex;
use crate::repository::{self, Location, RepositoryError};

const LOCK_DIR: &str = ".hostnet-lock";
const JOURNAL: &str = ".hostnet-publish.json";
const UPLOAD_SUFFIX: &str = ".hostnet-upload";
const REPOMD: &str = "repodata/repomd.xml";
const REPOMD_SIGNATURE: &str = "repodata/repomd.xml.asc";
/// Files beside the metadata that are replaced as a whole on each publish.
const TOP_FILES: [&str; 2] = ["RPM-GPG-KEY-hostnet", "SHA256SUMS"];

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Repository(#[from] RepositoryError),
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

/// Where packages and metadata go: a directory or a WebDAV collection.
trait Target {
    fn describe(&self, relative: &str) -> String;
    /// The file, read up to `limit`; `None` when it does not exist.
    fn get(&self, relative: &str, limit: SizeLimit) -> Result<Option<Vec<u8>>, PublishError>;
    /// Writes the file whole under a temporary name and moves it into place.
    fn put(&self, relative: &str, bytes: &[u8]) -> Result<(), PublishError>;
    fn delete(&self, relative: &str) -> Result<(), PublishError>;
    /// Creates the lock directory; `false` if it exists.
    fn create_lock(&self) -> Result<bool, PublishError>;
    fn remove_lock(&self) -> Result<(), PublishError>;
    /// Breaks the lock judged stale (its owner `stale`, or none): moved to a name of this
    /// publisher's own, in one rename or MOVE that only one breaker can win, then deleted. A lock
    /// that turns out to have another owner by then (a publisher took it meanwhile) is put back.
    fn break_lock(&self, token: &str, stale: Option<&LockOwner>) -> Result<(), PublishError>;
    fn location(&self) -> Location;
    /// Removes what an interrupted publish left under temporary names, where the target can be
    /// listed; returns what it removed.
    fn sweep_temporaries(&self) -> Result<Vec<String>, PublishError> {
        Ok(Vec::new())
    }
}

struct DirectoryTarget {
    root: PathBuf,
}

impl DirectoryTarget {
    /// The path of `relative` under the root, once no part of it below the root is a symbolic
    /// link: a link there (`Packages -> /`) would make publish write, read or delete wherever it
    /// points. The root itself may be a link; it is the operator's choice of target.
    fn confined(&self, relative: &str) -> Result<PathBuf, PublishError> {
        let mut path = self.root.clone();
        let mut missing = false;
        for part in relative.split('/').filter(|p| !p.is_empty()) {
            path.push(part);
            if missing {
                continue;
            }
            match std::fs::symlink_metadata(&path) {
                Ok(metadata) if metadata.file_type().is_symlink() => {
                    let points_to = std::fs::read_link(&path)
                        .map(|t| t.display().to_string())
                        .unwrap_or_default();
                    return Err(PublishError::Refused(format!(
                        "{}: is a symbolic link (to {}); publish writes only inside {} and follows no link there. Replace the link with the directory or file itself, or publish to the directory it points to",
                        crate::terminal::printable(&path.display().to_string()),
                        crate::terminal::printable(&points_to),
                        crate::terminal::printable(&self.root.display().to_string()),
                    )));
                }
                Ok(_) => {}
                // Nothing below a missing part exists either.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing = true,
                Err(e) => return Err(self.io(relative)(e)),
            }
        }
        Ok(path)
    }

    fn io(&self, relative: &str) -> impl FnOnce(std::io::Error) -> PublishError + '_ {
        let what = self.describe(relative);
        move |e| PublishError::Target {
            what,
            detail: e.to_string(),
        }
    }
}

impl Target for DirectoryTarget {
    fn describe(&self, relative: &str) -> String {
        self.root.join(relative).display().to_string()
    }

    fn get(&self, relative: &str, limit: SizeLimit) -> Result<Option<Vec<u8>>, PublishError> {
        self.confined(relative)?;
        Ok(self.location().fetch(relative, limit)?)
    }

    fn put(&self, relative: &str, bytes: &[u8]) -> Result<(), PublishError> {
        use std::io::Write as _;
        let path = self.confined(relative)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(self.io(relative))?;
        }
        let temporary = PathBuf::from(format!("{}{UPLOAD_SUFFIX}", path.display()));
        // Never through whatever already has the temporary's name: a link planted there would
        // make the write land where it points.
        match std::fs::remove_file(&temporary) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(self.io(relative)(e)),
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)
            .map_err(self.io(relative))?;
        file.write_all(bytes).map_err(self.io(relative))?;
        file.sync_all().map_err(self.io(relative))?;
        drop(file);
        std::fs::set_permissions(
            &temporary,
            std::os::unix::fs::PermissionsExt::from_mode(0o644),
        )
        .map_err(self.io(relative))?;
        std::fs::rename(&temporary, &path).map_err(self.io(relative))
    }

    fn delete(&self, relative: &str) -> Result<(), PublishError> {
        match std::fs::remove_file(self.confined(relative)?) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io(relative)(e)),
        }
    }

    fn create_lock(&self) -> Result<bool, PublishError> {
        if self.root.exists() && !self.root.is_dir() {
            return Err(PublishError::Refused(format!(
                "{}: is not a directory; publish to the directory the web server serves the repository from",
                self.root.display()
            )));
        }
        std::fs::create_dir_all(&self.root).map_err(self.io(""))?;
        for entry in ["Packages", "repodata", JOURNAL, TOP_FILES[0], TOP_FILES[1]] {
            self.confined(entry)?;
        }
        match std::fs::create_dir(self.confined(LOCK_DIR)?) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(self.io(LOCK_DIR)(e)),
        }
    }

    fn remove_lock(&self) -> Result<(), PublishError> {
        match std::fs::remove_dir_all(self.confined(LOCK_DIR)?) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io(LOCK_DIR)(e)),
        }
    }

    fn break_lock(&self, token: &str, stale: Option<&LockOwner>) -> Result<(), PublishError> {
        let broken_name = broken_lock_name(token);
        let broken = self.confined(&broken_name)?;
        match std::fs::rename(self.confined(LOCK_DIR)?, &broken) {
            Ok(()) => {}
            // Another breaker won, or its owner released it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.io(LOCK_DIR)(e)),
        }
        let moved: Option<LockOwner> = self
            .get(&format!("{broken_name}/owner"), REPOMD_LIMIT)?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        if moved.as_ref() != stale {
            // Taken meanwhile: give it back unless yet another lock is in place.
            let _ = std::fs::rename(&broken, self.confined(LOCK_DIR)?);
        }
        match std::fs::remove_dir_all(&broken) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io(&broken_name)(e)),
        }
    }

    fn location(&self) -> Location {
        Location::Directory(self.root.clone())
    }

    /// Removes the temporaries a publish killed mid-upload left (`*.hostnet-upload`) where
    /// publish writes: the root, `Packages/` and `repodata/`.
    fn sweep_temporaries(&self) -> Result<Vec<String>, PublishError> {
        let mut swept = Vec::new();
        for folder in ["", "Packages", "repodata"] {
            let dir = self.confined(folder)?;
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(self.io(folder)(e)),
            };
            for entry in entries {
                let entry = entry.map_err(self.io(folder))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if !name.ends_with(UPLOAD_SUFFIX) {
                    continue;
                }
                let relative = if folder.is_empty() {
                    name
                } else {
                    format!("{folder}/{name}")
                };
                // A link is removed, never followed; a directory of that name is not ours.
                if entry.file_type().map_err(self.io(&relative))?.is_dir() {
                    continue;
                }
                std::fs::remove_file(entry.path()).map_err(self.io(&relative))?;
                swept.push(relative);
            }
        }
        Ok(swept)
    }
}

struct WebDavTarget {
    base: String,
    client: http::Client,
}

impl WebDavTarget {
    fn url(&self, relative: &str) -> String {
        format!("{}/{relative}", self.base)
    }

    fn failed(&self, method: &str, relative: &str, status: u16) -> PublishError {
        PublishError::Target {
            what: format!("{method} {}", self.url(relative)),
            detail: http::describe_status(status),
        }
    }

    /// MKCOL every collection above `relative` (nginx creates them with `create_full_put_path`,
    /// Artifactory and Nexus on their own; MKCOL of an existing one answers 405, which is fine).
    fn make_parents(&self, relative: &str) -> Result<(), PublishError> {
        let mut path = String::new();
        let parts: Vec<&str> = relative.split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            path.push_str(part);
            path.push('/');
            let answer = self
                .client
                .request("MKCOL", &self.url(&path), &[], None, REPOMD_LIMIT)?;
            if !matches!(answer.status, 200..=299 | 301 | 405) {
                return Err(self.failed("MKCOL", &path, answer.status));
            }
        }
        Ok(())
    }
}

impl Target for WebDavTarget {
    fn describe(&self, relative: &str) -> String {
        self.url(relative)
    }

    fn get(&self, relative: &str, limit: SizeLimit) -> Result<Option<Vec<u8>>, PublishError> {
        Ok(self.client.get(&self.url(relative), limit)?)
    }

    fn put(&self, relative: &str, bytes: &[u8]) -> Result<(), PublishError> {
        let temporary = format!("{relative}{UPLOAD_SUFFIX}");
        let mut answer =
            self.client
                .request("PUT", &self.url(&temporary), &[], Some(bytes), REPOMD_LIMIT)?;
        if answer.status == 409 {
            self.make_parents(relative)?;
            answer = self.client.request(
                "PUT",
                &self.url(&temporary),
                &[],
                Some(bytes),
                REPOMD_LIMIT,
            )?;
        }
        if !(200..=299).contains(&answer.status) {
            return Err(self.failed("PUT", &temporary, answer.status));
        }
        let destination = self.url(relative);
        let answer = self.client.request(
            "MOVE",
            &self.url(&temporary),
            &[("Destination", &destination), ("Overwrite", "T")],
            None,
            REPOMD_LIMIT,
        )?;
        if !(200..=299).contains(&answer.status) {
            return Err(self.failed("MOVE", &temporary, answer.status));
        }
        Ok(())
    }

    fn delete(&self, relative: &str) -> Result<(), PublishError> {
        let answer = self
            .client
            .request("DELETE", &self.url(relative), &[], None, REPOMD_LIMIT)?;
        match answer.status {
            200..=299 | 404 | 410 => Ok(()),
            status => Err(self.failed("DELETE", relative, status)),
        }
    }

    fn create_lock(&self) -> Result<bool, PublishError> {
        let path = format!("{LOCK_DIR}/");
        let answer = self
            .client
            .request("MKCOL", &self.url(&path), &[], None, REPOMD_LIMIT)?;
        match answer.status {
            200..=299 => Ok(true),
            405 => Ok(false),
            status => Err(self.failed("MKCOL", &path, status)),
        }
    }

    fn remove_lock(&self) -> Result<(), PublishError> {
        self.delete(&format!("{LOCK_DIR}/"))
    }

    fn break_lock(&self, token: &str, stale: Option<&LockOwner>) -> Result<(), PublishError> {
        let broken_name = format!("{}/", broken_lock_name(token));
        let destination = self.url(&broken_name);
        let answer = self.client.request(
            "MOVE",
            &self.url(&format!("{LOCK_DIR}/")),
            &[("Destination", &destination), ("Overwrite", "F")],
            None,
            REPOMD_LIMIT,
        )?;
        match answer.status {
            200..=299 => {}
            // Another breaker won, or its owner released it.
            404 | 409 | 412 => return Ok(()),
            // A server without MOVE: deleting is all there is.
            405 | 501 => return self.remove_lock(),
            status => return Err(self.failed("MOVE", LOCK_DIR, status)),
        }
        let moved: Option<LockOwner> = self
            .get(&format!("{broken_name}owner"), REPOMD_LIMIT)?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        if moved.as_ref() != stale {
            let back = self.url(&format!("{LOCK_DIR}/"));
            let _ = self.client.request(
                "MOVE",
                &destination,
                &[("Destination", &back), ("Overwrite", "F")],
                None,
                REPOMD_LIMIT,
            );
        }
        self.delete(&broken_name)
    }

    fn location(&self) -> Location {
        Location::Url(self.base.clone())
    }
}

fn target_for(text: &str) -> Result<Box<dyn Target>, PublishError> {
    Ok(match Location::parse(text) {
        Location::Url(base) => Box::new(WebDavTarget {
            client: http::Client::for_url(&base)?,
            base,
        }),
        Location::Directory(root) => Box::new(DirectoryTarget { root }),
    })
}

/// Who holds the lock, written inside it. `token` tells this publisher's lock from any other,
/// even one of the same host and pid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct LockOwner {
    host: String,
    pid: u32,
    since: u64,
    #[serde(default)]
    token: String,
}

/// How long a lock may stay without its owner file before it is taken to be left by a publisher
/// killed between making the lock and writing the file (another publisher may be in that very
/// moment).
const OWNERLESS_GRACE: Duration = Duration::from_secs(10);
const LOCK_POLL: Duration = Duration::from_millis(500);
const OWNER_FILE: &str = ".hostnet-lock/owner";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// Holds the target's lock until dropped; a long publish refreshes it, and checks it still holds
/// it before anything a client reads changes.
struct Lock<'t> {
    target: &'t dyn Target,
    owner: std::cell::RefCell<LockOwner>,
    refreshed: std::cell::Cell<std::time::Instant>,
    refresh_every: Duration,
}

impl Lock<'_> {
    fn read_owner(target: &dyn Target) -> Result<Option<LockOwner>, PublishError> {
        Ok(target
            .get(OWNER_FILE, REPOMD_LIMIT)?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    /// Refuses to go on when the lock is no longer this publisher's: another one broke it (this
    /// publish outlived `--lock-timeout` somewhere it could not refresh, or a breaker raced it).
    fn still_held(&self) -> Result<(), PublishError> {
        let owner = Lock::read_owner(self.target)?;
        if owner.as_ref().map(|o| &o.token) != Some(&self.owner.borrow().token) {
            return Err(PublishError::Refused(format!(
                "{}: this publish no longer holds the lock (another publisher took it); stopped before changing what clients read. Run it again",
                self.target.describe(LOCK_DIR)
            )));
        }
        Ok(())
    }

    /// Renews the owner's time, so that a publish longer than `--lock-timeout` is never taken
    /// for an abandoned one; at most every quarter of that timeout.
    fn refresh(&self) -> Result<(), PublishError> {
        if self.refreshed.get().elapsed() < self.refresh_every {
            return Ok(());
        }
        self.still_held()?;
        self.owner.borrow_mut().since = now();
        let text = serde_json::to_vec(&*self.owner.borrow()).expect("a lock owner serialises");
        self.target.put(OWNER_FILE, &text)?;
        self.refreshed.set(std::time::Instant::now());
        Ok(())
    }
}

impl Drop for Lock<'_> {
    fn drop(&mut self) {
        // Never another publisher's lock.
        if self.still_held().is_ok() {
            let _ = self.target.remove_lock();
        }
    }
}

fn lock<'t>(target: &'t dyn Target, timeout: Duration) -> Result<Lock<'t>, PublishError> {
    let token = format!("{:016x}", rand::random::<u64>());
    let mut ownerless_since: Option<std::time::Instant> = None;
    // Bounded: the grace of an ownerless lock, polled, and a few breaks lost to other publishers.
    let attempts = 8 + (OWNERLESS_GRACE.as_millis() / LOCK_POLL.as_millis()) as usize;
    for _ in 0..attempts {
        if target.create_lock()? {
            let owner = LockOwner {
                host: this_host(),
                pid: std::process::id(),
                since: now(),
                token,
            };
            let text = serde_json::to_vec(&owner).expect("a lock owner serialises");
            target.put(OWNER_FILE, &text)?;
            return Ok(Lock {
                target,
                owner: std::cell::RefCell::new(owner),
                refreshed: std::cell::Cell::new(std::time::Instant::now()),
                refresh_every: (timeout / 4).max(Duration::from_secs(1)),
            });
        }
        let owner = Lock::read_owner(target)?;
        let stale = match &owner {
            None => {
                let since = *ownerless_since.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() < OWNERLESS_GRACE {
                    std::thread::sleep(LOCK_POLL);
                    continue;
                }
                true
            }
            Some(owner) => {
                let dead_here = owner.host == this_host()
                    && !Path::new(&format!("/proc/{}", owner.pid)).exists();
                dead_here || now().saturating_sub(owner.since) >= timeout.as_secs()
            }
        };
        if !stale {
            let owner = owner.expect("checked above");
            return Err(PublishError::Refused(format!(
                "{}: another publish (pid {} on {}) has held the lock for {} s; wait for it, or remove the lock if that publisher is gone",
                target.describe(LOCK_DIR),
                owner.pid,
                owner.host,
                now().saturating_sub(owner.since)
            )));
        }
        crate::tell!(
            "hostnet: breaking the lock {} left by a publisher that is gone",
            target.describe(LOCK_DIR)
        );
        target.break_lock(&token, owner.as_ref())?;
        ownerless_since = None;
    }
    Err(PublishError::Refused(format!(
        "{}: could not take the lock",
        target.describe(LOCK_DIR)
    )))
}

/// The name a broken lock is moved to before it is deleted: one move wins among breakers.
fn broken_lock_name(token: &str) -> String {
    format!("{LOCK_DIR}.broken-{token}")
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
    let target = target_for(options.target)?;
    let target = target.as_ref();
    let lock = lock(target, options.lock_timeout)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A lock another publisher took over (its owner file replaced) is never this publisher's
    /// again: refreshing and the switch refuse, and dropping leaves the other's lock in place.
    #[test]
    fn a_lock_taken_over_is_detected_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let target = DirectoryTarget {
            root: dir.path().to_path_buf(),
        };
        let held = lock(&target, Duration::from_secs(0)).unwrap();
        assert!(held.still_held().is_ok());
        let other = LockOwner {
            host: this_host(),
            pid: std::process::id(),
            since: now(),
            token: "another".into(),
        };
        std::fs::write(
            dir.path().join(OWNER_FILE),
            serde_json::to_vec(&other).unwrap(),
        )
        .unwrap();
        let refused = held.still_held().unwrap_err().to_string();
        assert!(refused.contains("no longer holds the lock"), "{refused}");
        // refresh_every is a second at least: wait it out so that refresh checks.
        std::thread::sleep(Duration::from_millis(1100));
        assert!(held.refresh().is_err());
        drop(held);
        assert!(
            dir.path().join(OWNER_FILE).exists(),
            "the other's lock stays"
        );
    }

    /// Of two publishers breaking one stale lock, one move wins; a lock taken meanwhile by a
    /// third is put back, not deleted.
    #[test]
    fn breaking_a_lock_keeps_one_taken_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let target = DirectoryTarget {
            root: dir.path().to_path_buf(),
        };
        let stale = LockOwner {
            host: "gone".into(),
            pid: 1,
            since: 0,
            token: "stale".into(),
        };
        let fresh = LockOwner {
            token: "fresh".into(),
            since: now(),
            ..stale.clone()
        };
        std::fs::create_dir(dir.path().join(LOCK_DIR)).unwrap();
        std::fs::write(
            dir.path().join(OWNER_FILE),
            serde_json::to_vec(&fresh).unwrap(),
        )
        .unwrap();
        // Judged stale from an earlier read, but the lock now is another's.
        target.break_lock("breaker", Some(&stale)).unwrap();
        let kept: LockOwner =
            serde_json::from_slice(&std::fs::read(dir.path().join(OWNER_FILE)).unwrap()).unwrap();
        assert_eq!(kept, fresh);
        // The stale one itself goes; a second breaker finds nothing to break.
        std::fs::write(
            dir.path().join(OWNER_FILE),
            serde_json::to_vec(&stale).unwrap(),
        )
        .unwrap();
        target.break_lock("first", Some(&stale)).unwrap();
        target.break_lock("second", Some(&stale)).unwrap();
        assert!(!dir.path().join(LOCK_DIR).exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
