//! Where a publish writes, behind one `Target` interface: a directory (confined: no link followed
//! inside it) here, a server over HTTP in `remote.rs`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::remote::HttpTarget;
use super::{JOURNAL, LOCK_DIR, PublishError, ServerMode, TOP_FILES, UPLOAD_SUFFIX};
use crate::http::{REPOMD_LIMIT, SizeLimit};
use crate::repository::Location;

/// Who holds the lock, written inside it. `token` tells this publisher's lock from any other,
/// even one of the same host and pid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct LockOwner {
    pub host: String,
    pub pid: u32,
    pub since: u64,
    #[serde(default)]
    pub token: String,
}

/// The name a broken lock is moved to before it is deleted: one move wins among breakers.
pub(super) fn broken_lock_name(token: &str) -> String {
    format!("{LOCK_DIR}.broken-{token}")
}

/// Where packages and metadata go: a directory or a WebDAV collection.
pub(super) trait Target {
    fn describe(&self, relative: &str) -> String;
    /// The file, read up to `limit`; `None` when it does not exist.
    fn get(&self, relative: &str, limit: SizeLimit) -> Result<Option<Vec<u8>>, PublishError>;
    /// Writes the file whole: under a temporary name moved into place where the target can move,
    /// else straight under its name (a server that stores a PUT whole before serving it).
    fn put(&self, relative: &str, bytes: &[u8]) -> Result<(), PublishError>;
    fn delete(&self, relative: &str) -> Result<(), PublishError>;
    /// Takes the lock in one step only one publisher can win (a new directory or collection, or
    /// a conditional PUT of its owner file); `false` if it is taken.
    fn create_lock(&self) -> Result<bool, PublishError>;
    fn remove_lock(&self) -> Result<(), PublishError>;
    /// Breaks the lock judged stale (its owner `stale`, or none): moved to a name of this
    /// publisher's own, in one rename or MOVE that only one breaker can win, then deleted. A lock
    /// that turns out to have another owner by then (a publisher took it meanwhile) is put back.
    fn break_lock(&self, token: &str, stale: Option<&LockOwner>) -> Result<(), PublishError>;
    fn location(&self) -> Location;
    /// What this target guarantees a publish, for its first line of output.
    fn guarantees(&self) -> String;
    /// Removes what an interrupted publish left under temporary names, where the target can be
    /// listed; returns what it removed.
    fn sweep_temporaries(&self) -> Result<Vec<String>, PublishError> {
        Ok(Vec::new())
    }
}

pub(super) struct DirectoryTarget {
    pub(super) root: PathBuf,
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

    fn guarantees(&self) -> String {
        "a directory: each file written under a temporary name and renamed into place, the lock a directory made in one step".into()
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
        for entry in ["Packages", "repodata", JOURNAL]
            .into_iter()
            .chain(TOP_FILES)
        {
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

/// The target `text` names: a directory, or a server reached over HTTP in the mode `server` asks
/// for (detected from the server's answers with [`ServerMode::Auto`]).
pub(super) fn target_for(text: &str, server: ServerMode) -> Result<Box<dyn Target>, PublishError> {
    Ok(match Location::parse(text) {
        Location::Url(base) => Box::new(HttpTarget::open(base, server)?),
        Location::Directory(root) => Box::new(DirectoryTarget { root }),
    })
}
