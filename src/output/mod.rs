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

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

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

pub(crate) const MARKER_TEXT: &[u8] =
    b"This directory is written by hostnet and replaced on each run.\n";

mod generation;

pub use generation::{Committed, Generation, MANIFEST, STATE_DIR};

/// A new directory in `parent`, removed when dropped, that becomes output: readable by all (0755)
/// like any directory, not private as temporary directories are made.
pub(crate) fn readable_tempdir(
    parent: &Path,
    prefix: &str,
) -> Result<tempfile::TempDir, OutputError> {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(parent)
        .map_err(io_error(parent))?;
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
        .map_err(io_error(dir.path()))?;
    Ok(dir)
}

fn parent_of(target: &Path) -> PathBuf {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

pub fn write_file(path: &Path, content: &[u8], mode: u32) -> Result<(), OutputError> {
    place_file(path, mode, |path| fs::write(path, content))
}

/// Makes `path`'s folders, has `put` make the file there, and gives it `mode`.
pub(crate) fn place_file(
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

pub(crate) fn refuse_foreign(path: &Path) -> Result<(), OutputError> {
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
