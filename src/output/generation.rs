//! A build's output as generations: each build writes a new generation under
//! `<target>/.hostnet/builds/` while the previous one stays live, and one `rename(2)` of the
//! `current` symlink switches every part at once.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;

use super::{
    MARKER, MARKER_TEXT, OutputError, io_error, place_file, readable_tempdir, refuse_foreign,
    write_file,
};
use crate::digest::Sha256;

/// hostnet's own directory inside a build's output directory.
pub const STATE_DIR: &str = ".hostnet";
const BUILDS_DIR: &str = "builds";
const CURRENT: &str = "current";
const LOCK_FILE: &str = "lock";
/// A generation's list of its files: `<sha256>  <path>` lines, the format `sha256sum -c` reads.
pub const MANIFEST: &str = "manifest.sha256";
/// Who signed a generation's packages: a key fingerprint, or `unsigned`.
const SIGNER: &str = "signer";

/// One build's parts, written under `<target>/.hostnet/builds/` while the previous build stays
/// live; [`Generation::commit`] makes it the live one in one rename. Holds the output directory's
/// lock from creation to drop, so two builds never write one directory.
///
/// Incremental: each generation records the sha256 of every file it holds in [`MANIFEST`]. A file
/// whose content is what the live generation has at the same path is not written again; at commit
/// it is hard-linked from the live generation (copied where links are not possible). A build in
/// which nothing differs from the live generation creates no directory and writes nothing.
pub struct Generation {
    target: PathBuf,
    parts: Vec<&'static str>,
    /// The live generation's directory and what its manifest says it holds.
    live: Option<(PathBuf, Files)>,
    /// Who signs this generation's packages (a key fingerprint, or `unsigned`), and who signed
    /// the live one's, if it says.
    signer: String,
    live_signer: Option<String>,
    /// Created on the first file that differs from the live generation.
    dir: Mutex<Option<tempfile::TempDir>>,
    /// What this generation holds; of a path recorded twice, the last record counts.
    recorded: Mutex<BTreeMap<String, Recorded>>,
    _lock: fs::File,
}

/// Files by their path in the generation, as its manifest lists them.
type Files = BTreeMap<String, Sha256>;

/// One file of the new generation: its content, and whether it was written now (otherwise it is
/// the live generation's, linked at commit).
#[derive(Debug, Clone, Copy)]
struct Recorded {
    sha256: Sha256,
    written: bool,
}

/// What [`Generation::commit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// A new generation is live.
    Switched,
    /// Every file was what the live generation holds; it stays live, untouched.
    Unchanged,
}

impl Generation {
    /// Starts a generation of the named parts of `target`; `target` itself may hold anything else.
    pub fn new(
        target: &Path,
        parts: &[&'static str],
        signer: &str,
    ) -> Result<Generation, OutputError> {
        for part in parts {
            refuse_foreign_part(target, part)?;
        }
        let state = target.join(STATE_DIR);
        let builds = state.join(BUILDS_DIR);
        fs::create_dir_all(&builds).map_err(io_error(&builds))?;
        let lock_path = state.join(LOCK_FILE);
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_error(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(OutputError::Busy(target.to_path_buf()));
            }
            Err(fs::TryLockError::Error(source)) => {
                return Err(OutputError::Io {
                    path: lock_path,
                    source,
                });
            }
        }
        remove_stale_generations(&state)?;
        remove_stale_temporary_files(&state);
        let live_dir = live_generation(&state);
        let live_signer = live_dir
            .as_ref()
            .and_then(|dir| fs::read_to_string(dir.join(SIGNER)).ok())
            .map(|text| text.trim().to_string());
        let live =
            live_dir.and_then(|dir| read_manifest(&dir.join(MANIFEST)).map(|files| (dir, files)));
        Ok(Generation {
            target: target.to_path_buf(),
            parts: parts.to_vec(),
            live,
            signer: signer.to_string(),
            live_signer,
            dir: Mutex::new(None),
            recorded: Mutex::new(BTreeMap::new()),
            _lock: lock,
        })
    }

    /// Writes `content` at `relative` (created with its parents) with `mode`, unless the live
    /// generation holds exactly that content there. Returns the content's sha256.
    pub fn write(&self, relative: &Path, content: &[u8], mode: u32) -> Result<Sha256, OutputError> {
        let sha256 = Sha256::of(content);
        if self.holds_live(relative, &sha256) {
            self.record(relative, sha256, false);
        } else {
            write_file(&self.staging_dir()?.join(relative), content, mode)?;
            self.record(relative, sha256, true);
        }
        Ok(sha256)
    }

    /// Places `file`, written and closed, at `relative` with `mode` (moved, so it must be on this
    /// output's file system), unless the live generation holds exactly that content there;
    /// `sha256` is its content's.
    pub fn adopt(
        &self,
        relative: &Path,
        file: tempfile::NamedTempFile,
        sha256: Sha256,
        mode: u32,
    ) -> Result<(), OutputError> {
        if self.holds_live(relative, &sha256) {
            self.record(relative, sha256, false);
            return Ok(());
        }
        let path = self.staging_dir()?.join(relative);
        place_file(&path, mode, |path| {
            file.persist(path).map(drop).map_err(|e| e.error)
        })?;
        self.record(relative, sha256, true);
        Ok(())
    }

    /// Keeps the live generation's file at `relative`, which the caller has checked with
    /// [`Generation::holds_live`]; it is linked into the new generation at commit.
    pub fn keep_live(&self, relative: &Path, sha256: &Sha256) {
        assert!(
            self.holds_live(relative, sha256),
            "a file kept is the live generation's, as the caller checked"
        );
        self.record(relative, *sha256, false);
    }

    /// The live generation's file at `relative`, with its sha256, if its manifest lists one.
    pub fn live_file(&self, relative: &Path) -> Option<(PathBuf, Sha256)> {
        let (dir, files) = self.live.as_ref()?;
        let sha256 = files.get(&manifest_path(relative))?;
        Some((dir.join(relative), *sha256))
    }

    /// Who signed the live generation's packages (a key fingerprint, or `unsigned`), if it says.
    pub fn live_signer(&self) -> Option<&str> {
        self.live_signer.as_deref()
    }

    /// Whether the live generation's packages are signed as this one's are.
    pub fn live_signed_alike(&self) -> bool {
        self.live_signer.as_deref() == Some(self.signer.as_str())
    }

    /// Whether the live generation holds a file with `sha256` at `relative`.
    pub fn holds_live(&self, relative: &Path, sha256: &Sha256) -> bool {
        self.live
            .as_ref()
            .and_then(|(_, files)| files.get(&manifest_path(relative)))
            == Some(sha256)
    }

    fn record(&self, relative: &Path, sha256: Sha256, written: bool) {
        locked(&self.recorded).insert(manifest_path(relative), Recorded { sha256, written });
    }

    /// The new generation's directory, created on first use.
    fn staging_dir(&self) -> Result<PathBuf, OutputError> {
        let mut dir = locked(&self.dir);
        if let Some(dir) = dir.as_ref() {
            return Ok(dir.path().to_path_buf());
        }
        let created = readable_tempdir(&self.target.join(STATE_DIR).join(BUILDS_DIR), "build-")?;
        let path = created.path().to_path_buf();
        *dir = Some(created);
        Ok(path)
    }

    /// Makes this generation the live one: files identical to the live generation's are linked
    /// in, the `current` symlink is replaced in one rename, then the previous generation is
    /// removed. If nothing differs from the live generation, nothing is touched.
    pub fn commit(self) -> Result<Committed, OutputError> {
        for part in &self.parts {
            let has_files = locked(&self.recorded)
                .keys()
                .any(|path| in_part(path, part));
            if has_files {
                self.write(&Path::new(part).join(MARKER), MARKER_TEXT, 0o644)?;
            }
        }
        let files = std::mem::take(&mut *locked(&self.recorded));
        // Nothing written means no new generation directory either: every file is a live one
        // (so has its content), and every live one is kept.
        let unchanged = self.live_signed_alike()
            && self.live.as_ref().is_some_and(|(_, live)| {
                live.len() == files.len() && files.values().all(|file| !file.written)
            });
        if unchanged {
            return Ok(Committed::Unchanged);
        }
        let generation_dir = self.staging_dir()?;
        if let Some((live_dir, live_files)) = &self.live {
            let shared =
                self.share_unchanged_parts(&files, live_dir, live_files, &generation_dir)?;
            let linked = files.iter().filter(|(path, file)| {
                !file.written && !shared.iter().any(|part| in_part(path, part))
            });
            for (path, _) in linked {
                let source = live_dir.join(path);
                if !source.is_file() {
                    return Err(OutputError::LiveFileMissing {
                        path: source,
                        manifest: live_dir.join(MANIFEST),
                    });
                }
                link_or_copy(&source, &generation_dir.join(path))?;
            }
        }
        write_manifest(&generation_dir.join(MANIFEST), &files)?;
        let signer = format!("{}\n", self.signer);
        write_file(&generation_dir.join(SIGNER), signer.as_bytes(), 0o644)?;
        self.switch_to(&files)?;
        Ok(Committed::Switched)
    }

    /// Parts in which every file is what the live generation holds, and that hold no other file:
    /// the new generation shares the live one's directory (a symlink to the generation that
    /// holds it) instead of linking every file again. A change to one host's package then touches
    /// the repository's files, not the thousands of kickstarts and PXE entries.
    fn share_unchanged_parts(
        &self,
        files: &BTreeMap<String, Recorded>,
        live_dir: &Path,
        live_files: &Files,
        generation_dir: &Path,
    ) -> Result<Vec<&'static str>, OutputError> {
        let mut shared = Vec::new();
        for part in &self.parts {
            let in_this_part: Vec<(&String, &Recorded)> = files
                .iter()
                .filter(|(path, _)| in_part(path, part))
                .collect();
            let live_count = live_files.keys().filter(|path| in_part(path, part)).count();
            let unchanged = in_this_part.iter().all(|(_, file)| !file.written);
            if !unchanged || in_this_part.is_empty() || in_this_part.len() != live_count {
                continue;
            }
            // What linking file by file would find: a live file removed by hand.
            let missing = in_this_part
                .par_iter()
                .find_any(|(path, _)| !live_dir.join(path).is_file());
            if let Some((path, _)) = missing {
                return Err(OutputError::LiveFileMissing {
                    path: live_dir.join(path),
                    manifest: live_dir.join(MANIFEST),
                });
            }
            let live_part = live_dir.join(part);
            // Always the directory itself, never a chain of links: generations one before the
            // other are removed, and the one holding a shared part is kept for it.
            let holder = match fs::read_link(&live_part) {
                Ok(target) => target,
                Err(_) if live_part.is_dir() => {
                    let live_name = live_dir.file_name().expect("a generation has a name");
                    Path::new("..").join(live_name).join(part)
                }
                Err(_) => continue,
            };
            let link = generation_dir.join(part);
            std::os::unix::fs::symlink(&holder, &link).map_err(io_error(&link))?;
            shared.push(*part);
        }
        Ok(shared)
    }

    /// Makes the staged generation, holding `files`, the live one.
    fn switch_to(&self, files: &BTreeMap<String, Recorded>) -> Result<(), OutputError> {
        let state = self.target.join(STATE_DIR);
        let generation = locked(&self.dir)
            .take()
            .expect("the generation directory exists once staged")
            .keep();
        let name = generation
            .file_name()
            .expect("a temporary directory has a name")
            .to_owned();
        let fsync_dir = |dir: &Path| {
            fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io_error(dir))
        };
        fsync_dir(&generation)?;
        let has_part = |part: &str| files.keys().any(|path| in_part(path, part));
        // Parts this build writes get their fixed symlinks first (they resolve once `current`
        // switches); a legacy real directory from an older hostnet is moved into the state
        // directory, the one time the switch is not a single step.
        for part in &self.parts {
            if has_part(part) {
                link_part(&self.target, part)?;
            }
        }
        let next = state.join(format!("{CURRENT}.next"));
        let _ = fs::remove_file(&next);
        std::os::unix::fs::symlink(Path::new(BUILDS_DIR).join(&name), &next)
            .map_err(io_error(&next))?;
        let current = state.join(CURRENT);
        fs::rename(&next, &current).map_err(io_error(&current))?;
        fsync_dir(&state)?;
        for part in &self.parts {
            let link = self.target.join(part);
            if !has_part(part) && link.is_symlink() {
                fs::remove_file(&link).map_err(io_error(&link))?;
            }
        }
        remove_stale_generations(&state)
    }
}

/// A generation's mutex, taken even if a writer thread panicked holding it: the panic reaches the
/// caller through rayon anyway, and a record is inserted whole or not at all.
fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A path inside a generation as its manifest spells it. Every path hostnet writes is UTF-8 (host
/// names and file names it checked).
fn manifest_path(relative: &Path) -> String {
    relative.to_string_lossy().into_owned()
}

/// Whether the manifest path `path` lies in the part (top directory) `part`.
fn in_part(path: &str, part: &str) -> bool {
    path.split('/').next() == Some(part)
}

/// The live generation's directory, if there is one.
fn live_generation(state: &Path) -> Option<PathBuf> {
    let target = fs::read_link(state.join(CURRENT)).ok()?;
    let dir = state.join(target);
    dir.is_dir().then_some(dir)
}

/// A generation's manifest; `None` (so nothing is reused) if it is missing or not one hostnet
/// wrote, as with generations of older hostnet versions. Of a path listed twice, the last counts.
fn read_manifest(path: &Path) -> Option<Files> {
    let reader = std::io::BufReader::new(fs::File::open(path).ok()?);
    let mut files = Files::new();
    for line in reader.lines() {
        let line = line.ok()?;
        let (sha256, relative) = line.split_once("  ")?;
        let inside = Path::new(relative)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !inside || relative.is_empty() {
            return None;
        }
        files.insert(relative.to_string(), Sha256::from_hex(sha256)?);
    }
    Some(files)
}

/// A generation's manifest of `files`, in path order.
fn write_manifest(path: &Path, files: &BTreeMap<String, Recorded>) -> Result<(), OutputError> {
    let mut text = String::new();
    for (path, file) in files {
        text.push_str(&format!("{}  {path}\n", file.sha256));
    }
    write_file(path, text.as_bytes(), 0o644)
}

/// A hard link of `source` at `destination`, or a copy where the file system refuses links.
fn link_or_copy(source: &Path, destination: &Path) -> Result<(), OutputError> {
    if let Some(parent) = destination.parent() {
        fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    if fs::hard_link(source, destination).is_ok() {
        return Ok(());
    }
    fs::copy(source, destination)
        .map(|_| ())
        .map_err(io_error(source))
}

/// `<target>/<part>` -> `.hostnet/current/<part>`, made once and never changed.
fn link_part(target: &Path, part: &str) -> Result<(), OutputError> {
    let link = target.join(part);
    let destination = Path::new(STATE_DIR).join(CURRENT).join(part);
    if fs::read_link(&link).is_ok_and(|d| d == destination) {
        return Ok(());
    }
    if link.is_dir() && !link.is_symlink() {
        let legacy = target.join(STATE_DIR).join(format!("legacy-{part}"));
        let _ = fs::remove_dir_all(&legacy);
        fs::rename(&link, &legacy).map_err(io_error(&link))?;
        std::os::unix::fs::symlink(&destination, &link).map_err(io_error(&link))?;
        return fs::remove_dir_all(&legacy).map_err(io_error(&legacy));
    }
    std::os::unix::fs::symlink(&destination, &link).map_err(io_error(&link))
}

/// Removes what killed builds left of the state directory's caches (the repository index and
/// the render memo are written to `.tmp*` files and renamed into place). Under the lock, no
/// build is writing them; one that saves its caches as another starts loses at worst a cache,
/// which it reports. A file that cannot be removed is left: it costs space, not correctness.
fn remove_stale_temporary_files(state: &Path) {
    let Ok(entries) = fs::read_dir(state) else {
        return;
    };
    for entry in entries.flatten() {
        let is_file = entry.file_type().is_ok_and(|kind| kind.is_file());
        if is_file && entry.file_name().to_string_lossy().starts_with(".tmp") {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Every generation but the live one (what a killed or failed build left behind, and the
/// generations it replaced), except the parts the live one shares with an earlier generation.
fn remove_stale_generations(state: &Path) -> Result<(), OutputError> {
    let builds = state.join(BUILDS_DIR);
    let live = fs::read_link(state.join(CURRENT))
        .ok()
        .and_then(|target| target.file_name().map(|n| n.to_owned()));
    // Generation name -> the parts of it the live generation shares (`../<generation>/<part>`).
    let mut shared: HashMap<std::ffi::OsString, Vec<std::ffi::OsString>> = HashMap::new();
    if let Some(entries) = live
        .as_ref()
        .and_then(|live| fs::read_dir(builds.join(live)).ok())
    {
        for entry in entries.flatten() {
            let Ok(target) = fs::read_link(entry.path()) else {
                continue;
            };
            let mut components = target.components();
            if let (
                Some(std::path::Component::ParentDir),
                Some(std::path::Component::Normal(holder)),
                Some(std::path::Component::Normal(part)),
                None,
            ) = (
                components.next(),
                components.next(),
                components.next(),
                components.next(),
            ) {
                shared
                    .entry(holder.to_owned())
                    .or_default()
                    .push(part.to_owned());
            }
        }
    }
    for entry in fs::read_dir(&builds).map_err(io_error(&builds))? {
        let entry = entry.map_err(io_error(&builds))?;
        let name = entry.file_name();
        if Some(&name) == live.as_ref() {
            continue;
        }
        let path = entry.path();
        let Some(kept) = shared.get(&name) else {
            fs::remove_dir_all(&path).map_err(io_error(&path))?;
            continue;
        };
        for inner in fs::read_dir(&path).map_err(io_error(&path))? {
            let inner = inner.map_err(io_error(&path))?;
            if kept.contains(&inner.file_name()) {
                continue;
            }
            let inner_path = inner.path();
            let removed = if inner.file_type().is_ok_and(|t| t.is_dir()) {
                fs::remove_dir_all(&inner_path)
            } else {
                fs::remove_file(&inner_path)
            };
            removed.map_err(io_error(&inner_path))?;
        }
    }
    let _ = fs::remove_file(state.join(format!("{CURRENT}.next")));
    Ok(())
}

/// A part may be replaced if it is missing, hostnet's symlink, or a directory hostnet wrote.
fn refuse_foreign_part(target: &Path, part: &str) -> Result<(), OutputError> {
    let path = target.join(part);
    if path.is_symlink() {
        let ours = Path::new(STATE_DIR).join(CURRENT).join(part);
        return if fs::read_link(&path).is_ok_and(|d| d == ours) {
            Ok(())
        } else {
            Err(OutputError::NotOurs(path))
        };
    }
    refuse_foreign(&path)
}

#[cfg(test)]
mod tests;
