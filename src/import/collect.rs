//! What a host's network configuration consists of, read from a directory or a tarball of the
//! host's files as collected from `/` (see [`COLLECT_COMMAND`]): only regular text files under the
//! paths hostnet reads, each bounded in size; a symbolic link or anything else is refused, never
//! followed.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Component, Path};

/// The one-liner that collects what `hostnet import` reads from a running host.
pub const COLLECT_COMMAND: &str = "ssh HOST 'tar -C / --ignore-failed-read -czf - etc/hostname etc/resolv.conf etc/sysconfig/network-scripts etc/sysctl.conf etc/sysctl.d etc/modules-load.d etc/systemd/system/docker.service etc/systemd/system/docker.service.d etc/docker/daemon.json 2>/dev/null' > HOST.tar.gz";

/// The paths (relative to `/`) import reads: a file, or a folder with `/` at the end.
const READ: [&str; 9] = [
    "etc/hostname",
    "etc/resolv.conf",
    "etc/sysconfig/network-scripts/",
    "etc/sysctl.conf",
    "etc/sysctl.d/",
    "etc/modules-load.d/",
    "etc/systemd/system/docker.service",
    "etc/systemd/system/docker.service.d/",
    "etc/docker/daemon.json",
];

/// Largest file read (configuration files are a few KB).
const MAX_FILE: u64 = 1024 * 1024;
/// Most files read from one host.
const MAX_FILES: usize = 4096;

/// A host's configuration files by their path relative to `/`, in path order.
#[derive(Debug, Default)]
pub struct Collected {
    pub files: BTreeMap<String, String>,
}

/// Whether import reads the file at `relative` (to `/`).
pub fn wanted(relative: &str) -> bool {
    READ.iter().any(|read| match read.strip_suffix('/') {
        Some(folder) => relative
            .strip_prefix(folder)
            .is_some_and(|rest| rest.starts_with('/') && !rest[1..].contains('/')),
        None => relative == *read,
    })
}

fn text_of(what: &str, bytes: Vec<u8>) -> Result<String, String> {
    if bytes.contains(&0) {
        return Err(format!("{what}: binary data, not a configuration file"));
    }
    String::from_utf8(bytes).map_err(|_| format!("{what}: not UTF-8 text"))
}

/// Reads `source`: a directory holding `etc/...`, or a `.tar`, `.tar.gz` or `.tgz` of one.
pub fn collect(source: &Path) -> Result<Collected, String> {
    let what = source.display().to_string();
    let metadata = std::fs::symlink_metadata(source).map_err(|e| format!("{what}: {e}"))?;
    if metadata.is_dir() {
        collect_dir(source)
    } else if metadata.is_file() {
        collect_tar(source)
    } else {
        Err(format!(
            "{what}: give a directory or a tarball of the host's files ({COLLECT_COMMAND})"
        ))
    }
}

fn collect_dir(root: &Path) -> Result<Collected, String> {
    let mut collected = Collected::default();
    for entry in walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| format!("{}: {e}", root.display()))?;
        let relative = entry
            .path()
            .strip_prefix(root)
            .expect("walkdir stays under its root")
            .to_string_lossy()
            .into_owned();
        if !wanted(&relative) {
            continue;
        }
        let what = entry.path().display().to_string();
        let kind = entry.file_type();
        if kind.is_symlink() {
            return Err(format!(
                "{what}: a symbolic link; import reads regular files only (copy what it points to)"
            ));
        }
        if !kind.is_file() {
            continue;
        }
        let file = std::fs::File::open(entry.path()).map_err(|e| format!("{what}: {e}"))?;
        collected.add(&what, &relative, file)?;
    }
    Ok(collected)
}

fn collect_tar(path: &Path) -> Result<Collected, String> {
    let what = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| format!("{what}: {e}"))?;
    let mut reader = std::io::BufReader::new(file);
    let gzipped = {
        let buffer = std::io::BufRead::fill_buf(&mut reader).map_err(|e| format!("{what}: {e}"))?;
        buffer.starts_with(&[0x1f, 0x8b])
    };
    let input: Box<dyn std::io::Read> = if gzipped {
        Box::new(flate2::read::GzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    let mut archive = tar::Archive::new(input);
    let mut collected = Collected::default();
    let entries = archive
        .entries()
        .map_err(|e| format!("{what}: not a tarball: {e}"))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{what}: not a tarball: {e}"))?;
        let name = entry
            .path()
            .map_err(|e| format!("{what}: {e}"))?
            .into_owned();
        let inside = name
            .components()
            .filter(|c| !matches!(c, Component::CurDir | Component::RootDir))
            .map(|c| match c {
                Component::Normal(part) => Ok(part.to_string_lossy().into_owned()),
                _ => Err(format!(
                    "{what}: {} leaves the tree; refused",
                    name.display()
                )),
            })
            .collect::<Result<Vec<String>, String>>()?;
        let relative = inside.join("/");
        if !wanted(&relative) {
            continue;
        }
        let member = format!("{what}:{relative}");
        match entry.header().entry_type() {
            tar::EntryType::Regular => collected.add(&member, &relative, entry)?,
            tar::EntryType::Directory => {}
            _ => {
                return Err(format!(
                    "{member}: not a regular file (a link or a device); import reads regular files only"
                ));
            }
        }
    }
    Ok(collected)
}

impl Collected {
    fn add(
        &mut self,
        what: &str,
        relative: &str,
        reader: impl std::io::Read,
    ) -> Result<(), String> {
        if self.files.len() >= MAX_FILES {
            return Err(format!("{what}: more than {MAX_FILES} files; refused"));
        }
        let mut bytes = Vec::new();
        reader
            .take(MAX_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("{what}: {e}"))?;
        if bytes.len() as u64 > MAX_FILE {
            return Err(format!(
                "{what}: larger than {} KiB, not a configuration file",
                MAX_FILE / 1024
            ));
        }
        self.files
            .insert(relative.to_string(), text_of(what, bytes)?);
        Ok(())
    }

    /// The files under `folder` (relative to `/`), in name order.
    pub fn under<'c>(&'c self, folder: &'c str) -> impl Iterator<Item = (&'c str, &'c str)> {
        self.files
            .iter()
            .filter(move |(path, _)| {
                path.strip_prefix(folder)
                    .is_some_and(|rest| rest.starts_with('/'))
            })
            .map(|(path, text)| (path.as_str(), text.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_paths_import_reads_are_wanted() {
        assert!(wanted("etc/sysconfig/network-scripts/ifcfg-bond0"));
        assert!(wanted("etc/hostname"));
        assert!(wanted("etc/systemd/system/docker.service.d/override.conf"));
        assert!(!wanted("etc/sysconfig/network-scripts/sub/ifcfg-x"));
        assert!(!wanted("etc/shadow"));
        assert!(!wanted("etc/hostname2"));
    }
}
