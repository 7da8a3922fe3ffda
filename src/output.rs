//! Writing outputs atomically: everything is written into a staging directory and swapped into place
//! by rename only once all of it is written, so a failed run leaves the previous output (or nothing)
//! rather than a half-written tree.
//!
//! Two shapes:
//! - a whole directory hostnet owns (`render --out DIR`): staged beside it and exchanged with it in
//!   one `renameat2(RENAME_EXCHANGE)` where the file system allows, two renames where not;
//! - named parts of a directory that also holds other things (`build --out out` owns `out/repo`,
//!   `out/kickstart`, `out/pxe`): each build is a generation under `out/.hostnet/builds/`, the parts
//!   are fixed symlinks through `out/.hostnet/current`, and one `rename(2)` of that symlink switches
//!   every part at once. A build killed at any instant leaves the old generation or the new one
//!   whole, never a mix and never nothing; the next build removes what the killed one left.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::io::BufRead as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;

/// Marks a directory as written by hostnet, so that it may be replaced on the next run.
pub const MARKER: &str = ".hostnet-output";

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{}: exists, is not empty and was not written by hostnet; refusing to replace it (choose a new or empty directory)",
        .0.display()
    )]
    NotOurs(PathBuf),
    #[error(
        "{}: another hostnet build is writing this directory now; wait for it to finish",
        .0.display()
    )]
    Busy(PathBuf),
    #[error(
        "{}: listed in the live build's manifest but missing (was it removed by hand?); delete {} and build again, which then reads every package",
        path.display(),
        manifest.display()
    )]
    LiveFileMissing { path: PathBuf, manifest: PathBuf },
}

pub fn io_error(path: &Path) -> impl FnOnce(io::Error) -> OutputError + '_ {
    move |source| OutputError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A directory being filled; becomes `target` on [`Staging::commit`], vanishes if dropped.
pub struct Staging {
    dir: tempfile::TempDir,
    target: PathBuf,
}

impl Staging {
    /// Stages the whole of `target`. The staging directory sits beside it (same file system, so the
    /// final rename is atomic), and a failed run leaves not even an empty target behind.
    pub fn new(target: &Path) -> Result<Staging, OutputError> {
        refuse_foreign(target)?;
        let parent = parent_of(target);
        fs::create_dir_all(&parent).map_err(io_error(&parent))?;
        let dir = readable_tempdir(&parent, ".hostnet-staging-")?;
        Ok(Staging {
            dir,
            target: target.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `content` at `relative` (created with its parents) with `mode`.
    pub fn write(&self, relative: &Path, content: &[u8], mode: u32) -> Result<(), OutputError> {
        write_file(&self.dir.path().join(relative), content, mode)
    }

    pub fn commit(self) -> Result<(), OutputError> {
        write_file(&self.dir.path().join(MARKER), MARKER_TEXT, 0o644)?;
        if self.target.exists() {
            match rustix::fs::renameat_with(
                rustix::fs::CWD,
                self.dir.path(),
                rustix::fs::CWD,
                &self.target,
                rustix::fs::RenameFlags::EXCHANGE,
            ) {
                // The staging directory now holds the previous output; dropping it removes that.
                Ok(()) => return Ok(()),
                Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {}
                Err(e) => {
                    return Err(OutputError::Io {
                        path: self.target.clone(),
                        source: e.into(),
                    });
                }
            }
        }
        // Without RENAME_EXCHANGE (older kernels, some network file systems): two renames.
        let staged = self.dir.keep();
        let old = if self.target.exists() {
            let old = staged.with_extension("old");
            fs::rename(&self.target, &old).map_err(io_error(&self.target))?;
            Some(old)
        } else {
            None
        };
        if let Err(source) = fs::rename(&staged, &self.target) {
            if let Some(old) = &old {
                let _ = fs::rename(old, &self.target);
            }
            let _ = fs::remove_dir_all(&staged);
            return Err(OutputError::Io {
                path: self.target.clone(),
                source,
            });
        }
        if let Some(old) = old {
            fs::remove_dir_all(&old).map_err(io_error(&old))?;
        }
        Ok(())
    }
}

const MARKER_TEXT: &[u8] = b"This directory is written by hostnet and replaced on each run.\n";

/// hostnet's own directory inside a build's output directory.
pub const STATE_DIR: &str = ".hostnet";
const BUILDS_DIR: &str = "builds";
const CURRENT: &str = "current";
const LOCK_FILE: &str = "lock";

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
    live: Option<(PathBuf, LiveFiles)>,
    /// Who signs this generation's packages (a key fingerprint, or `unsigned`), and who signed
    /// the live one's, if it says.
    signer: String,
    live_signer: Option<String>,
    /// Created on the first file that differs from the live generation.
    dir: Mutex<Option<tempfile::TempDir>>,
    /// What this generation holds, by path relative to it, in the order recorded. A path the
    /// live generation holds too is shared with its manifest: most of a rebuild's files are.
    files: Mutex<Vec<(Arc<str>, Recorded)>>,
    /// How many files the generation will likely hold: as many as the live one, usually.
    expected_files: usize,
    _lock: fs::File,
}

/// The digest and origin of one file of a generation.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Recorded {
    sha256: FileDigest,
    /// Written into the new generation now, or identical to the live generation's file.
    written: bool,
    /// Its place among the generation's records: of a path recorded twice, the last counts.
    order: u32,
}

/// A file's sha256, as its 32 bytes: a build holds one for every file of its live generation
/// (tens of thousands), and records one for every file of the new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileDigest([u8; 32]);

impl FileDigest {
    fn of(content: &[u8]) -> FileDigest {
        FileDigest(<sha2::Sha256 as sha2::Digest>::digest(content).into())
    }

    /// From its 64 hexadecimal digits; `None` for anything else.
    fn from_hex(text: &str) -> Option<FileDigest> {
        let mut bytes = [0; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(FileDigest(bytes))
    }

    fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// The live generation's files, sorted by manifest path (as the manifest lists them). A sorted
/// vector, not a hash map: it holds tens of thousands of paths, without a table's slack.
#[derive(Debug, Default)]
struct LiveFiles(Vec<(Arc<str>, FileDigest)>);

impl LiveFiles {
    /// `files` in any order; of a path listed twice, the last counts.
    fn new(mut files: Vec<(Arc<str>, FileDigest)>) -> LiveFiles {
        if !files.is_sorted_by(|(a, _), (b, _)| a < b) {
            files.reverse();
            files.sort_by(|(a, _), (b, _)| a.cmp(b));
            files.dedup_by(|(later, _), (kept, _)| later == kept);
        }
        files.shrink_to_fit();
        LiveFiles(files)
    }

    fn get(&self, path: &str) -> Option<&FileDigest> {
        self.entry(path).map(|(_, digest)| digest)
    }

    /// The manifest's own copy of `path`, to share.
    fn path(&self, path: &str) -> Option<&Arc<str>> {
        self.entry(path).map(|(path, _)| path)
    }

    fn entry(&self, path: &str) -> Option<&(Arc<str>, FileDigest)> {
        let at = self.0.binary_search_by(|(p, _)| (**p).cmp(path)).ok()?;
        Some(&self.0[at])
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(path, _)| &**path)
    }
}

/// What [`Generation::commit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// A new generation is live.
    Switched,
    /// Every file was what the live generation holds; it stays live, untouched.
    Unchanged,
}

/// A generation's list of its files: `<sha256>  <path>` lines, the format `sha256sum -c` reads.
pub const MANIFEST: &str = "manifest.sha256";
/// Who signed a generation's packages: a key fingerprint, or `unsigned`.
const SIGNER: &str = "signer";

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
        let expected_files = live
            .as_ref()
            .map_or(0, |(_, files)| files.len() + parts.len());
        Ok(Generation {
            target: target.to_path_buf(),
            parts: parts.to_vec(),
            live,
            signer: signer.to_string(),
            live_signer,
            dir: Mutex::new(None),
            files: Mutex::new(Vec::new()),
            expected_files,
            _lock: lock,
        })
    }

    /// Writes `content` at `relative` (created with its parents) with `mode`, unless the live
    /// generation holds exactly that content there. Returns the content's sha256.
    pub fn write(&self, relative: &Path, content: &[u8], mode: u32) -> Result<String, OutputError> {
        let sha256 = FileDigest::of(content);
        let written = !self.holds_live_digest(relative, sha256);
        if written {
            write_file(&self.staging_dir()?.join(relative), content, mode)?;
        }
        self.record(relative, sha256, written);
        Ok(sha256.hex())
    }

    /// Places `file`, written and closed, at `relative` with `mode` (moved, so it must be on this
    /// output's file system), unless the live generation holds exactly that content there;
    /// `sha256` is its content's.
    pub fn adopt(
        &self,
        relative: &Path,
        file: tempfile::NamedTempFile,
        sha256: &str,
        mode: u32,
    ) -> Result<(), OutputError> {
        let sha256 = FileDigest::from_hex(sha256).ok_or_else(|| OutputError::Io {
            path: file.path().to_path_buf(),
            source: std::io::Error::other(format!("{sha256} is not a sha256")),
        })?;
        let written = !self.holds_live_digest(relative, sha256);
        if written {
            let path = self.staging_dir()?.join(relative);
            place_file(&path, mode, |path| {
                file.persist(path).map(drop).map_err(|e| e.error)
            })?;
        }
        self.record(relative, sha256, written);
        Ok(())
    }

    /// Keeps the live generation's file at `relative`, which the caller has checked with
    /// [`Generation::holds_live`]; it is linked into the new generation at commit.
    pub fn keep_live(&self, relative: &Path, sha256: &str) {
        debug_assert!(self.holds_live(relative, sha256));
        let sha256 = FileDigest::from_hex(sha256).expect("the live manifest's sha256");
        self.record(relative, sha256, false);
    }

    /// The live generation's file at `relative`, with its sha256, if its manifest lists one.
    pub fn live_file(&self, relative: &Path) -> Option<(PathBuf, String)> {
        let (dir, files) = self.live.as_ref()?;
        let sha256 = files.get(&manifest_path(relative))?;
        Some((dir.join(relative), sha256.hex()))
    }

    /// Whether the live generation's packages are signed as this one's are.
    pub fn live_signed_alike(&self) -> bool {
        self.live_signer.as_deref() == Some(self.signer.as_str())
    }

    /// Whether the live generation holds a file with `sha256` at `relative`.
    pub fn holds_live(&self, relative: &Path, sha256: &str) -> bool {
        FileDigest::from_hex(sha256).is_some_and(|sha256| self.holds_live_digest(relative, sha256))
    }

    fn holds_live_digest(&self, relative: &Path, sha256: FileDigest) -> bool {
        self.live
            .as_ref()
            .is_some_and(|(_, files)| files.get(&manifest_path(relative)) == Some(&sha256))
    }

    fn record(&self, relative: &Path, sha256: FileDigest, written: bool) {
        let path = manifest_path(relative);
        let live_path = self.live.as_ref().and_then(|(_, live)| live.path(&path));
        let path = live_path.map_or_else(|| Arc::from(path), Arc::clone);
        let mut files = locked(&self.files);
        // Sized for a rebuild's generation, not grown by doubling to up to twice its size; but
        // only once the build records files, not while it reads what was built before.
        if files.capacity() == 0 {
            files.reserve_exact(self.expected_files);
        }
        let order = u32::try_from(files.len()).expect("fewer than 4 billion files");
        files.push((
            path,
            Recorded {
                sha256,
                written,
                order,
            },
        ));
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
            let has_files = locked(&self.files)
                .iter()
                .any(|(path, _)| in_part(path, part));
            if has_files {
                self.write(&Path::new(part).join(MARKER), MARKER_TEXT, 0o644)?;
            }
        }
        // Sorted for a manifest in a stable order; a path recorded twice keeps its last record.
        // In place: a map, or a stable sort's scratch, would copy tens of thousands of records.
        let mut files = std::mem::take(&mut *locked(&self.files));
        files.sort_unstable_by(|(a, a_file), (b, b_file)| {
            a.cmp(b).then(b_file.order.cmp(&a_file.order))
        });
        files.dedup_by(|later, kept| later.0 == kept.0);
        let files = &files[..];
        // Nothing written means no new generation directory either.
        let unchanged = self.live_signed_alike()
            && self.live.as_ref().is_some_and(|(_, live)| {
                live.len() == files.len()
                    && files
                        .iter()
                        .all(|(path, file)| !file.written && live.get(path) == Some(&file.sha256))
            });
        if unchanged {
            return Ok(Committed::Unchanged);
        }
        let generation_dir = self.staging_dir()?;
        if let Some((live_dir, live_files)) = &self.live {
            let shared =
                self.share_unchanged_parts(files, live_dir, live_files, &generation_dir)?;
            let linked = files.iter().filter(|(path, file)| {
                !file.written && !shared.iter().any(|part| in_part(path, part))
            });
            for (path, _) in linked {
                let source = live_dir.join(&**path);
                if !source.is_file() {
                    return Err(OutputError::LiveFileMissing {
                        path: source,
                        manifest: live_dir.join(MANIFEST),
                    });
                }
                link_or_copy(&source, &generation_dir.join(&**path))?;
            }
        }
        write_manifest(&generation_dir.join(MANIFEST), files)?;
        let signer = format!("{}\n", self.signer);
        write_file(&generation_dir.join(SIGNER), signer.as_bytes(), 0o644)?;
        self.switch_to(files)?;
        Ok(Committed::Switched)
    }

    /// Parts in which every file is what the live generation holds, and that hold no other file:
    /// the new generation shares the live one's directory (a symlink to the generation that
    /// holds it) instead of linking every file again. A change to one host's package then touches
    /// the repository's files, not the thousands of kickstarts and PXE entries.
    fn share_unchanged_parts(
        &self,
        files: &[(Arc<str>, Recorded)],
        live_dir: &Path,
        live_files: &LiveFiles,
        generation_dir: &Path,
    ) -> Result<Vec<&'static str>, OutputError> {
        let mut shared = Vec::new();
        for part in &self.parts {
            let mut count = 0;
            let unchanged = files
                .iter()
                .filter(|(path, _)| in_part(path, part))
                .inspect(|_| count += 1)
                .all(|(path, file)| !file.written && live_files.get(path) == Some(&file.sha256));
            let live_count = live_files.keys().filter(|path| in_part(path, part)).count();
            if !unchanged || count == 0 || count != live_count {
                continue;
            }
            // What linking file by file would find: a live file removed by hand.
            let missing = files
                .par_iter()
                .filter(|(path, _)| in_part(path, part))
                .find_any(|(path, _)| !live_dir.join(Path::new(path.as_ref())).is_file());
            if let Some((path, _)) = missing {
                return Err(OutputError::LiveFileMissing {
                    path: live_dir.join(Path::new(path.as_ref())),
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
    fn switch_to(&self, files: &[(Arc<str>, Recorded)]) -> Result<(), OutputError> {
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
        let has_part = |part: &str| files.iter().any(|(path, _)| in_part(path, part));
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

/// A new directory in `parent`, removed when dropped, that becomes output: readable by all (0755)
/// like any directory, not private as temporary directories are made.
fn readable_tempdir(parent: &Path, prefix: &str) -> Result<tempfile::TempDir, OutputError> {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(parent)
        .map_err(io_error(parent))?;
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
        .map_err(io_error(dir.path()))?;
    Ok(dir)
}

/// A generation's mutex, taken even if a writer thread panicked holding it: the panic reaches the
/// caller through rayon anyway, and the state is only ever appended to.
fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A path inside a generation as its manifest spells it. Every path hostnet writes is UTF-8 (host
/// names and file names it checked); comparing strings is what keeps recording 40,000 files cheap.
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
/// wrote, as with generations of older hostnet versions.
fn read_manifest(path: &Path) -> Option<LiveFiles> {
    // Line by line: a large fleet's manifest is megabytes of text the build need not hold.
    let mut reader = std::io::BufReader::new(fs::File::open(path).ok()?);
    let mut files = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return Some(LiveFiles::new(files));
        }
        let (sha256, relative) = line.trim_end_matches('\n').split_once("  ")?;
        let sha256 = FileDigest::from_hex(sha256)?;
        let relative = Path::new(relative);
        let inside = relative.is_relative()
            && relative
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !inside {
            return None;
        }
        files.push((Arc::from(manifest_path(relative)), sha256));
    }
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

/// The sha256 of texts taken together, each preceded by its length so that no two different
/// lists of texts run together into the same bytes.
pub fn sha256_hex_of_parts<'p>(parts: impl IntoIterator<Item = &'p str>) -> String {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
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

fn parent_of(target: &Path) -> PathBuf {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A generation's manifest of `files` (sorted), line by line: at ten thousand hosts its text is
/// megabytes that need not be in memory at once.
fn write_manifest(path: &Path, files: &[(Arc<str>, Recorded)]) -> Result<(), OutputError> {
    place_file(path, 0o644, |path| {
        use std::io::Write as _;
        let mut out = std::io::BufWriter::new(fs::File::create(path)?);
        for (file_path, file) in files {
            writeln!(out, "{}  {file_path}", file.sha256.hex())?;
        }
        out.into_inner()
            .map(drop)
            .map_err(|error| error.into_error())
    })
}

pub fn write_file(path: &Path, content: &[u8], mode: u32) -> Result<(), OutputError> {
    place_file(path, mode, |path| fs::write(path, content))
}

/// Makes `path`'s folders, has `put` make the file there, and gives it `mode`.
fn place_file(
    path: &Path,
    mode: u32,
    put: impl FnOnce(&Path) -> io::Result<()>,
) -> Result<(), OutputError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    put(path).map_err(io_error(path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_error(path))
}

fn refuse_foreign(path: &Path) -> Result<(), OutputError> {
    if path.exists() && !is_replaceable(path)? {
        return Err(OutputError::NotOurs(path.to_path_buf()));
    }
    Ok(())
}

fn is_replaceable(dir: &Path) -> Result<bool, OutputError> {
    if !dir.is_dir() {
        return Ok(false);
    }
    if dir.join(MARKER).is_file() {
        return Ok(true);
    }
    Ok(fs::read_dir(dir).map_err(io_error(dir))?.next().is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(text: &str) -> FileDigest {
        FileDigest::of(text.as_bytes())
    }

    #[test]
    fn live_files_are_found_in_any_order_and_the_last_line_of_a_path_counts() {
        let sorted = LiveFiles::new(vec![("a".into(), digest("1")), ("b/c".into(), digest("2"))]);
        assert_eq!(sorted.get("b/c"), Some(&digest("2")));
        assert_eq!(sorted.get("b"), None);
        let shuffled = LiveFiles::new(vec![
            ("z".into(), digest("1")),
            ("a".into(), digest("2")),
            ("m".into(), digest("3")),
            ("a".into(), digest("4")),
        ]);
        assert_eq!(shuffled.len(), 3);
        assert_eq!(shuffled.keys().collect::<Vec<_>>(), ["a", "m", "z"]);
        assert_eq!(shuffled.get("a"), Some(&digest("4")));
        assert_eq!(shuffled.get("z"), Some(&digest("1")));
    }

    #[test]
    fn a_file_written_twice_is_its_last_content_in_the_files_and_the_manifest() {
        let out = tempfile::tempdir().unwrap();
        let generation = Generation::new(out.path(), &["repo"], "unsigned").unwrap();
        for (path, text) in [("repo/b", "b"), ("repo/a", "first"), ("repo/a", "last")] {
            generation
                .write(Path::new(path), text.as_bytes(), 0o644)
                .unwrap();
        }
        assert_eq!(generation.commit().unwrap(), Committed::Switched);
        assert_eq!(
            fs::read_to_string(out.path().join("repo/a")).unwrap(),
            "last"
        );
        let manifest =
            fs::read_to_string(out.path().join(STATE_DIR).join(CURRENT).join(MANIFEST)).unwrap();
        let lines: Vec<&str> = manifest.lines().collect();
        assert_eq!(lines.len(), 3, "{manifest}");
        assert!(lines[0].ends_with("  repo/.hostnet-output"), "{manifest}");
        assert_eq!(lines[1], format!("{}  repo/a", digest("last").hex()));
        assert_eq!(lines[2], format!("{}  repo/b", digest("b").hex()));
        // Read back as the next build's live files.
        let live = read_manifest(&out.path().join(STATE_DIR).join(CURRENT).join(MANIFEST)).unwrap();
        assert_eq!(live.get("repo/a"), Some(&digest("last")));
    }
}
