//! Writing outputs atomically: everything is written into a staging directory beside the target and
//! swapped into place in one rename, so an interrupted or failed run leaves the previous output (or
//! nothing) rather than a half-written tree.

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

/// A directory being filled; becomes `target` on [`Staging::commit`], vanishes if dropped.
pub struct Staging {
    dir: tempfile::TempDir,
    target: PathBuf,
}

impl Staging {
    pub fn new(target: &Path) -> Result<Staging, OutputError> {
        if target.exists() && !is_replaceable(target)? {
            return Err(OutputError::NotOurs(target.to_path_buf()));
        }
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
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

pub fn write_file(path: &Path, content: &[u8], mode: u32) -> Result<(), OutputError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    fs::write(path, content).map_err(io_error(path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_error(path))
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
