//! Writing outputs atomically: everything is written into a staging directory and swapped into place
//! by rename only once all of it is written, so a failed run leaves the previous output (or nothing)
//! rather than a half-written tree.
//!
//! Two shapes: a whole directory hostnet owns (`render --out DIR`), or named parts of a directory
//! that also holds other things (`build --out out` owns `out/repo`, `out/kickstart`, `out/pxe`).

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
}

pub fn io_error(path: &Path) -> impl FnOnce(io::Error) -> OutputError + '_ {
    move |source| OutputError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A directory being filled; becomes `target` (or its parts) on [`Staging::commit`], vanishes if
/// dropped.
pub struct Staging {
    dir: tempfile::TempDir,
    target: PathBuf,
    /// `None`: the staging directory becomes `target`. `Some`: each named sub-directory of the
    /// staging directory replaces the one of `target` (and one no longer produced is removed).
    parts: Option<Vec<&'static str>>,
}

impl Staging {
    /// Stages the named parts of `target`; `target` itself may hold anything else.
    pub fn parts(target: &Path, parts: &[&'static str]) -> Result<Staging, OutputError> {
        for part in parts {
            refuse_foreign(&target.join(part))?;
        }
        Staging::beside(target, Some(parts.to_vec()))
    }

    /// Stages the whole of `target`.
    pub fn new(target: &Path) -> Result<Staging, OutputError> {
        refuse_foreign(target)?;
        Staging::beside(target, None)
    }

    /// The staging directory sits beside the target (same file system, so the final renames are
    /// atomic), and a failed run leaves not even an empty target behind.
    fn beside(target: &Path, parts: Option<Vec<&'static str>>) -> Result<Staging, OutputError> {
        let parent = parent_of(target);
        fs::create_dir_all(&parent).map_err(io_error(&parent))?;
        let dir = tempfile::Builder::new()
            .prefix(".hostnet-staging-")
            .tempdir_in(&parent)
            .map_err(io_error(&parent))?;
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
            .map_err(io_error(dir.path()))?;
        Ok(Staging {
            dir,
            target: target.to_path_buf(),
            parts,
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
        if let Some(parts) = self.parts.clone() {
            return self.commit_parts(&parts);
        }
        let staged = self.dir.keep();
        write_file(
            &staged.join(MARKER),
            b"This directory is written by hostnet and replaced on each run.\n",
            0o644,
        )?;
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

impl Staging {
    /// Swaps each part in; if a rename fails, the parts already swapped are put back.
    fn commit_parts(self, parts: &[&str]) -> Result<(), OutputError> {
        let staging = self.dir.path();
        fs::create_dir_all(&self.target).map_err(io_error(&self.target))?;
        let mut swapped: Vec<(PathBuf, Option<PathBuf>)> = Vec::new();
        let mut result = Ok(());
        for part in parts {
            let staged = staging.join(part);
            let live = self.target.join(part);
            let old = staging.join(format!("{part}.old"));
            if staged.exists() {
                let marker = b"This directory is written by hostnet and replaced on each run.\n";
                if let Err(e) = write_file(&staged.join(MARKER), marker, 0o644) {
                    result = Err(e);
                    break;
                }
            }
            let had_old = live.exists();
            if had_old && let Err(source) = fs::rename(&live, &old) {
                result = Err(OutputError::Io {
                    path: live.clone(),
                    source,
                });
                break;
            }
            if staged.exists()
                && let Err(source) = fs::rename(&staged, &live)
            {
                if had_old {
                    let _ = fs::rename(&old, &live);
                }
                result = Err(OutputError::Io {
                    path: live.clone(),
                    source,
                });
                break;
            }
            swapped.push((live, had_old.then_some(old)));
        }
        if result.is_err() {
            for (live, old) in swapped.into_iter().rev() {
                let _ = fs::remove_dir_all(&live);
                if let Some(old) = old {
                    let _ = fs::rename(old, &live);
                }
            }
        }
        // Dropping the staging directory removes the previous parts with it.
        result
    }
}

fn parent_of(target: &Path) -> PathBuf {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

pub fn write_file(path: &Path, content: &[u8], mode: u32) -> Result<(), OutputError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    fs::write(path, content).map_err(io_error(path))?;
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
