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
use std::sync::Mutex;

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
    /// What this generation holds, in the order recorded.
    records: Mutex<Records>,
    /// How many files the generation will likely hold: as many as the live one, usually.
    expected_files: usize,
    _lock: fs::File,
}

/// The files a generation holds, as recorded: of a path recorded twice, the last counts, told by
/// its place in the order recorded.
#[derive(Debug, Default)]
struct Records {
    /// Files identical to the live generation's at the same path, by their place in the live
    /// manifest: most of a rebuild's files, eight bytes each.
    kept: Vec<(u32, u32)>,
    /// Files written into the new generation now: path, content, place.
    written: Vec<(Box<str>, FileDigest, u32)>,
}

impl Records {
    fn next_place(&self) -> u32 {
        u32::try_from(self.kept.len() + self.written.len()).expect("fewer than 4 billion files")
    }
}

/// One file of a generation about to be committed: its place in the live manifest, or among the
/// files written now.
#[derive(Debug, Clone, Copy)]
enum Staged {
    Kept(u32),
    Written(u32),
}

/// One file of a generation about to be committed, as its manifest lists it.
struct StagedFile<'a> {
    path: &'a str,
    sha256: &'a FileDigest,
    /// Written now; otherwise it is the live generation's file, linked at commit.
    written: bool,
}

/// The files of a generation about to be committed, sorted by path, each path once.
struct StagedFiles<'a> {
    live: Option<&'a LiveFiles>,
    written: Vec<(Box<str>, FileDigest, u32)>,
    files: Vec<Staged>,
}

impl<'a> StagedFiles<'a> {
    /// `records` merged in path order; of a path recorded twice, the last record counts.
    fn new(records: Records, live: Option<&'a LiveFiles>) -> StagedFiles<'a> {
        let Records {
            mut kept,
            mut written,
        } = records;
        // In place: a map, or a stable sort's scratch, would copy tens of thousands of records.
        // The live manifest is sorted, so its places are in path order.
        kept.sort_unstable_by(|(a, a_place), (b, b_place)| a.cmp(b).then(b_place.cmp(a_place)));
        kept.dedup_by_key(|(index, _)| *index);
        written.sort_unstable_by(|(a, _, a_place), (b, _, b_place)| {
            a.cmp(b).then(b_place.cmp(a_place))
        });
        written.dedup_by(|(later, ..), (first, ..)| later == first);
        let mut files = Vec::with_capacity(kept.len() + written.len());
        let (mut kept_at, mut written_at) = (0, 0);
        let live_path = |index: u32| live.map_or("", |live| live.path_at(index));
        loop {
            let next = match (kept.get(kept_at), written.get(written_at)) {
                (None, None) => break,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some((index, _)), Some((path, ..))) => live_path(*index).cmp(path),
            };
            match next {
                std::cmp::Ordering::Less => {
                    files.push(Staged::Kept(kept[kept_at].0));
                    kept_at += 1;
                }
                std::cmp::Ordering::Greater => {
                    files.push(Staged::Written(written_at as u32));
                    written_at += 1;
                }
                std::cmp::Ordering::Equal => {
                    let (index, kept_place) = kept[kept_at];
                    let written_place = written[written_at].2;
                    files.push(if kept_place > written_place {
                        Staged::Kept(index)
                    } else {
                        Staged::Written(written_at as u32)
                    });
                    kept_at += 1;
                    written_at += 1;
                }
            }
        }
        StagedFiles {
            live,
            written,
            files,
        }
    }

    fn file(&self, staged: Staged) -> StagedFile<'_> {
        match staged {
            Staged::Kept(index) => {
                let (path, sha256) = self
                    .live
                    .expect("a kept file is the live generation's")
                    .at(index);
                StagedFile {
                    path,
                    sha256,
                    written: false,
                }
            }
            Staged::Written(at) => {
                let (path, sha256, _) = &self.written[at as usize];
                StagedFile {
                    path,
                    sha256,
                    written: true,
                }
            }
        }
    }

    fn iter(&self) -> impl Iterator<Item = StagedFile<'_>> {
        self.files.iter().map(|staged| self.file(*staged))
    }

    fn len(&self) -> usize {
        self.files.len()
    }
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

/// The live generation's files, sorted by manifest path (as the manifest lists them): the paths
/// one after another in one string, and for each its place there and its sha256. A sorted vector,
/// not a hash map, and no allocation a path: it holds tens of thousands of them.
#[derive(Debug, Default)]
struct LiveFiles {
    paths: String,
    files: Vec<(u32, u32, FileDigest)>,
}

impl LiveFiles {
    /// Adds a file, in any order; [`LiveFiles::sorted`] once all are in.
    fn push(&mut self, path: &str, sha256: FileDigest) -> Option<()> {
        let start = u32::try_from(self.paths.len()).ok()?;
        let len = u32::try_from(path.len()).ok()?;
        start.checked_add(len)?;
        self.paths.push_str(path);
        self.files.push((start, len, sha256));
        Some(())
    }

    /// The files added, sorted by path; of a path added twice, the last counts.
    fn sorted(mut self) -> LiveFiles {
        let path = |file: &(u32, u32, FileDigest)| path_in(&self.paths, file);
        if !self.files.is_sorted_by(|a, b| path(a) < path(b)) {
            self.files.reverse();
            self.files.sort_by(|a, b| path(a).cmp(path(b)));
            self.files.dedup_by(|later, kept| path(later) == path(kept));
        }
        self.files.shrink_to_fit();
        self.paths.shrink_to_fit();
        self
    }

    fn get(&self, path: &str) -> Option<&FileDigest> {
        self.index_of(path).map(|index| self.at(index).1)
    }

    /// The place of `path` in the manifest.
    fn index_of(&self, path: &str) -> Option<u32> {
        let at = self
            .files
            .binary_search_by(|file| path_in(&self.paths, file).cmp(path))
            .ok()?;
        Some(u32::try_from(at).expect("fewer than 4 billion files"))
    }

    fn at(&self, index: u32) -> (&str, &FileDigest) {
        let file = &self.files[index as usize];
        (path_in(&self.paths, file), &file.2)
    }

    fn path_at(&self, index: u32) -> &str {
        self.at(index).0
    }

    fn len(&self) -> usize {
        self.files.len()
    }

    fn keys(&self) -> impl Iterator<Item = &str> {
        (0..self.files.len() as u32).map(|index| self.path_at(index))
    }
}

/// A live file's path, from where it is in the paths of [`LiveFiles`].
fn path_in<'p>(paths: &'p str, (start, len, _): &(u32, u32, FileDigest)) -> &'p str {
    &paths[*start as usize..(*start + *len) as usize]
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
            records: Mutex::new(Records::default()),
            expected_files,
            _lock: lock,
        })
    }

    /// Writes `content` at `relative` (created with its parents) with `mode`, unless the live
    /// generation holds exactly that content there. Returns the content's sha256.
    pub fn write(&self, relative: &Path, content: &[u8], mode: u32) -> Result<String, OutputError> {
        let sha256 = FileDigest::of(content);
        match self.live_index(relative, sha256) {
            Some(index) => self.record_kept(index),
            None => {
                write_file(&self.staging_dir()?.join(relative), content, mode)?;
                self.record_written(relative, sha256);
            }
        }
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
        match self.live_index(relative, sha256) {
            Some(index) => self.record_kept(index),
            None => {
                let path = self.staging_dir()?.join(relative);
                place_file(&path, mode, |path| {
                    file.persist(path).map(drop).map_err(|e| e.error)
                })?;
                self.record_written(relative, sha256);
            }
        }
        Ok(())
    }

    /// Keeps the live generation's file at `relative`, which the caller has checked with
    /// [`Generation::holds_live`]; it is linked into the new generation at commit.
    pub fn keep_live(&self, relative: &Path, sha256: &str) {
        let index = FileDigest::from_hex(sha256)
            .and_then(|sha256| self.live_index(relative, sha256))
            .expect("a file kept is the live generation's, as the caller checked");
        self.record_kept(index);
    }

    /// The live generation's file at `relative`, with its sha256, if its manifest lists one.
    pub fn live_file(&self, relative: &Path) -> Option<(PathBuf, String)> {
        let (dir, files) = self.live.as_ref()?;
        let sha256 = files.get(&manifest_path(relative))?;
        Some((dir.join(relative), sha256.hex()))
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
    pub fn holds_live(&self, relative: &Path, sha256: &str) -> bool {
        FileDigest::from_hex(sha256)
            .is_some_and(|sha256| self.live_index(relative, sha256).is_some())
    }

    /// The place in the live manifest of the file at `relative`, if it has `sha256`.
    fn live_index(&self, relative: &Path, sha256: FileDigest) -> Option<u32> {
        let (_, files) = self.live.as_ref()?;
        let index = files.index_of(&manifest_path(relative))?;
        (*files.at(index).1 == sha256).then_some(index)
    }

    /// Records the live generation's file at `index` of its manifest, as it is.
    fn record_kept(&self, index: u32) {
        let mut records = locked(&self.records);
        // Sized for a rebuild's generation, not grown by doubling to up to twice its size; but
        // only once the build records files, not while it reads what was built before.
        if records.kept.capacity() == 0 {
            records.kept.reserve_exact(self.expected_files);
        }
        let place = records.next_place();
        records.kept.push((index, place));
    }

    fn record_written(&self, relative: &Path, sha256: FileDigest) {
        let path = manifest_path(relative).into_boxed_str();
        let mut records = locked(&self.records);
        let place = records.next_place();
        records.written.push((path, sha256, place));
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
        let live_files = self.live.as_ref().map(|(_, files)| files);
        for part in &self.parts {
            let has_files = {
                let records = locked(&self.records);
                let live_path = |index| live_files.map_or("", |live| live.path_at(index));
                records
                    .kept
                    .iter()
                    .any(|(index, _)| in_part(live_path(*index), part))
                    || records.written.iter().any(|(path, ..)| in_part(path, part))
            };
            if has_files {
                self.write(&Path::new(part).join(MARKER), MARKER_TEXT, 0o644)?;
            }
        }
        // Sorted for a manifest in a stable order; a path recorded twice keeps its last record.
        let records = std::mem::take(&mut *locked(&self.records));
        let files = StagedFiles::new(records, live_files);
        let files = &files;
        // Nothing written means no new generation directory either: every file is a live one
        // (so has its content), and every live one is kept.
        let unchanged = self.live_signed_alike()
            && live_files.is_some_and(|live| {
                live.len() == files.len() && files.iter().all(|file| !file.written)
            });
        if unchanged {
            return Ok(Committed::Unchanged);
        }
        let generation_dir = self.staging_dir()?;
        if let Some((live_dir, live_files)) = &self.live {
            let shared =
                self.share_unchanged_parts(files, live_dir, live_files, &generation_dir)?;
            let linked = files.iter().filter(|file| {
                !file.written && !shared.iter().any(|part| in_part(file.path, part))
            });
            for StagedFile { path, .. } in linked {
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
        files: &StagedFiles,
        live_dir: &Path,
        live_files: &LiveFiles,
        generation_dir: &Path,
    ) -> Result<Vec<&'static str>, OutputError> {
        let mut shared = Vec::new();
        for part in &self.parts {
            let mut count = 0;
            let unchanged = files
                .iter()
                .filter(|file| in_part(file.path, part))
                .inspect(|_| count += 1)
                .all(|file| !file.written);
            let live_count = live_files.keys().filter(|path| in_part(path, part)).count();
            if !unchanged || count == 0 || count != live_count {
                continue;
            }
            // What linking file by file would find: a live file removed by hand.
            let missing = files
                .files
                .par_iter()
                .map(|staged| files.file(*staged).path)
                .filter(|path| in_part(path, part))
                .find_any(|path| !live_dir.join(path).is_file());
            if let Some(path) = missing {
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
    fn switch_to(&self, files: &StagedFiles) -> Result<(), OutputError> {
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
        let has_part = |part: &str| files.iter().any(|file| in_part(file.path, part));
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
    let mut files = LiveFiles::default();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return Some(files.sorted());
        }
        let (sha256, relative) = line.trim_end_matches('\n').split_once("  ")?;
        let sha256 = FileDigest::from_hex(sha256)?;
        let inside = Path::new(relative).is_relative()
            && Path::new(relative)
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !inside {
            return None;
        }
        files.push(relative, sha256)?;
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
fn write_manifest(path: &Path, files: &StagedFiles) -> Result<(), OutputError> {
    place_file(path, 0o644, |path| {
        use std::io::Write as _;
        let mut out = std::io::BufWriter::new(fs::File::create(path)?);
        for file in files.iter() {
            writeln!(out, "{}  {}", file.sha256.hex(), file.path)?;
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
        let live = |files: &[(&str, &str)]| {
            let mut live = LiveFiles::default();
            for (path, text) in files {
                live.push(path, digest(text)).unwrap();
            }
            live.sorted()
        };
        let sorted = live(&[("a", "1"), ("b/c", "2")]);
        assert_eq!(sorted.get("b/c"), Some(&digest("2")));
        assert_eq!(sorted.get("b"), None);
        let shuffled = live(&[("z", "1"), ("a", "2"), ("m", "3"), ("a", "4")]);
        assert_eq!(shuffled.len(), 3);
        assert_eq!(shuffled.keys().collect::<Vec<_>>(), ["a", "m", "z"]);
        assert_eq!(shuffled.get("a"), Some(&digest("4")));
        assert_eq!(shuffled.get("z"), Some(&digest("1")));
    }

    #[test]
    fn of_a_path_kept_and_written_the_last_record_counts() {
        let out = tempfile::tempdir().unwrap();
        let write = |generation: &Generation, path: &str, text: &str| {
            generation
                .write(Path::new(path), text.as_bytes(), 0o644)
                .unwrap();
        };
        let keep = |generation: &Generation, path: &str, text: &str| {
            generation.keep_live(Path::new(path), &digest(text).hex());
        };
        let first = Generation::new(out.path(), &["repo"], "unsigned").unwrap();
        for (path, text) in [("repo/a", "a1"), ("repo/b", "b1"), ("repo/c", "c1")] {
            write(&first, path, text);
        }
        assert_eq!(first.commit().unwrap(), Committed::Switched);

        let second = Generation::new(out.path(), &["repo"], "unsigned").unwrap();
        write(&second, "repo/d", "d1");
        keep(&second, "repo/a", "a1");
        write(&second, "repo/a", "a2");
        write(&second, "repo/b", "b2");
        keep(&second, "repo/b", "b1");
        // The live content, written again: kept as it is.
        write(&second, "repo/c", "c1");
        assert_eq!(second.commit().unwrap(), Committed::Switched);
        let live_manifest = || {
            let path = out.path().join(STATE_DIR).join(CURRENT).join(MANIFEST);
            fs::read_to_string(path).unwrap()
        };
        let expected: Vec<String> = [("a", "a2"), ("b", "b1"), ("c", "c1"), ("d", "d1")]
            .iter()
            .map(|(name, text)| {
                let path = out.path().join("repo").join(name);
                assert_eq!(fs::read_to_string(path).unwrap(), *text, "repo/{name}");
                format!("{}  repo/{name}", digest(text).hex())
            })
            .collect();
        let manifest = live_manifest();
        let lines: Vec<&str> = manifest.lines().collect();
        assert!(lines[0].ends_with("  repo/.hostnet-output"), "{manifest}");
        assert_eq!(lines[1..], expected, "{manifest}");

        // The same files again, kept or written alike: nothing changes.
        let third = Generation::new(out.path(), &["repo"], "unsigned").unwrap();
        write(&third, "repo/b", "b1");
        keep(&third, "repo/a", "a2");
        keep(&third, "repo/d", "d1");
        write(&third, "repo/c", "c1");
        assert_eq!(third.commit().unwrap(), Committed::Unchanged);

        // One file fewer is a change.
        let fourth = Generation::new(out.path(), &["repo"], "unsigned").unwrap();
        keep(&fourth, "repo/a", "a2");
        keep(&fourth, "repo/b", "b1");
        keep(&fourth, "repo/c", "c1");
        assert_eq!(fourth.commit().unwrap(), Committed::Switched);
        assert!(!out.path().join("repo/d").exists());
        assert_eq!(live_manifest().lines().count(), 4);
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
