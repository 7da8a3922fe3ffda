//! What rendering each host gave the last build, so that a rebuild need not render hosts whose
//! inputs did not change.
//!
//! Rendering a host (its files, scriptlets, package content digest, kickstart and PXE entries) is
//! a pure function of the host's model, the site's, the templates and hostnet's own code. The memo
//! maps a digest of exactly those inputs to what came out: the content digest that decides whether
//! the package is rebuilt, and the sha256 of each install file. A host whose inputs digest is in
//! the memo, whose package stays and whose install files the live build holds, is not rendered.
//!
//! hostnet's code enters the digest as the running executable's identity (version, device, inode,
//! size, modification time), so a new or rebuilt hostnet renders everything once. The memo is a
//! cache: a missing, unreadable or foreign line only costs a render.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use std::hash::Hash as _;

use sha2::Digest as _;

use crate::model::{Host, Site};
use crate::output::{OutputError, io_error, sha256_hex_of_parts};
use crate::templates::Templates;

const FORMAT: &str = "hostnet render memo 1";

/// What one host's rendering gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The package content digest (see `PackageSpec::digest`).
    pub content_digest: String,
    /// Each install file (kickstart, PXE entries) relative to the output, with its sha256.
    pub install_files: Vec<(PathBuf, String)>,
}

/// A host's line of the next memo: borrowed from this memo when the host's rendering is the one
/// remembered (a rebuild's usual case, so that ten thousand unchanged hosts copy nothing), owned
/// when the host was rendered now.
#[derive(Debug)]
pub enum MemoEntry<'m> {
    Remembered(&'m str, &'m Rendered),
    Rendered(String, Rendered),
}

impl MemoEntry<'_> {
    /// The inputs digest and what rendering them gave.
    pub fn parts(&self) -> (&str, &Rendered) {
        match self {
            MemoEntry::Remembered(inputs, rendered) => (inputs, rendered),
            MemoEntry::Rendered(inputs, rendered) => (inputs, rendered),
        }
    }
}

pub struct RenderMemo {
    path: PathBuf,
    /// The digest of everything but the host: hostnet, templates, site.
    shared_inputs: Option<String>,
    loaded: HashMap<String, Rendered>,
}

impl RenderMemo {
    /// The memo at `path` for this hostnet, `templates` and `site`.
    pub fn load(path: &Path, templates: &Templates, site: &Site) -> RenderMemo {
        let shared_inputs = executable_identity().map(|identity| {
            sha256_hex_of_parts([FORMAT, &identity, &templates.digest(), &format!("{site:?}")])
        });
        let loaded = match (&shared_inputs, std::fs::read_to_string(path)) {
            (Some(_), Ok(text)) => text.lines().filter_map(parse_line).collect(),
            _ => HashMap::new(),
        };
        RenderMemo {
            path: path.to_path_buf(),
            shared_inputs,
            loaded,
        }
    }

    /// The digest of everything rendering `host` reads; `None` when hostnet cannot tell which
    /// executable it is, so nothing is remembered.
    pub fn inputs_of(&self, host: &Host) -> Option<String> {
        let shared = self.shared_inputs.as_ref()?;
        // Every field but where the definition was read from, which rendering never reads and
        // which shifts when hosts are added; naming every field makes a new one a compile error
        // here rather than an input the memo would miss. The model's derived `Hash` feeds the
        // digest: its byte layout may change between hostnet builds, which are inputs anyway.
        let Host {
            name,
            fqdn,
            boot_mac,
            bond,
            management,
            containers,
            docker,
            rollout,
            sysctl,
            source: _,
        } = host;
        let mut hasher = DigestHasher(sha2::Sha256::new());
        hasher.0.update(shared.as_bytes());
        (
            name, fqdn, boot_mac, bond, management, containers, docker, rollout, sysctl,
        )
            .hash(&mut hasher);
        let DigestHasher(hasher) = hasher;
        Some(hex::encode(hasher.finalize()))
    }

    /// What rendering `inputs` gave, with the memo's own copy of `inputs`.
    pub fn get(&self, inputs: &str) -> Option<(&str, &Rendered)> {
        self.loaded
            .get_key_value(inputs)
            .map(|(inputs, rendered)| (inputs.as_str(), rendered))
    }

    /// Replaces the memo with `entries` in one rename, if it differs.
    pub fn save(&self, entries: &[MemoEntry<'_>]) -> Result<(), OutputError> {
        let unchanged = entries.len() == self.loaded.len()
            && entries.iter().all(|entry| {
                let (inputs, rendered) = entry.parts();
                self.loaded.get(inputs) == Some(rendered)
            });
        if unchanged || self.shared_inputs.is_none() {
            return Ok(());
        }
        let mut text = String::new();
        for (inputs, rendered) in entries.iter().map(MemoEntry::parts) {
            text.push_str(inputs);
            text.push(' ');
            text.push_str(&rendered.content_digest);
            for (path, sha256) in &rendered.install_files {
                text.push(' ');
                text.push_str(sha256);
                text.push(':');
                text.push_str(&path.display().to_string());
            }
            text.push('\n');
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let mut file = tempfile::NamedTempFile::new_in(dir).map_err(io_error(dir))?;
        std::io::Write::write_all(&mut file, text.as_bytes()).map_err(io_error(&self.path))?;
        file.persist(&self.path)
            .map_err(|e| e.error)
            .map_err(io_error(&self.path))?;
        Ok(())
    }
}

/// `std::hash::Hasher` into sha256, so that `Hash` implementations can feed a digest.
struct DigestHasher(sha2::Sha256);

impl std::hash::Hasher for DigestHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        unreachable!("only the sha256 of what was written is used")
    }
}

/// `<inputs> <content digest> <sha256>:<path>...`; `None` for anything else.
fn parse_line(line: &str) -> Option<(String, Rendered)> {
    let is_digest = |text: &str| text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit());
    let mut fields = line.split(' ');
    let inputs = fields.next().filter(|f| is_digest(f))?;
    let content_digest = fields.next().filter(|f| is_digest(f))?;
    let install_files = fields
        .map(|field| {
            let (sha256, path) = field.split_once(':')?;
            is_digest(sha256).then(|| (PathBuf::from(path), sha256.to_string()))
        })
        .collect::<Option<Vec<_>>>()?;
    Some((
        inputs.to_string(),
        Rendered {
            content_digest: content_digest.to_string(),
            install_files,
        },
    ))
}

/// This hostnet: its version and its executable file's identity, which changes whenever the
/// binary is rebuilt or replaced.
fn executable_identity() -> Option<String> {
    use std::os::unix::fs::MetadataExt as _;
    let exe = std::env::current_exe().ok()?;
    let metadata = std::fs::metadata(&exe).ok()?;
    Some(format!(
        "{} {} {} {} {}.{}",
        env!("CARGO_PKG_VERSION"),
        metadata.dev(),
        metadata.ino(),
        metadata.size(),
        metadata.mtime(),
        metadata.mtime_nsec()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(seed: u8) -> Rendered {
        Rendered {
            content_digest: hex::encode([seed; 32]),
            install_files: vec![
                (
                    PathBuf::from(format!("kickstart/host-{seed}.ks")),
                    hex::encode([seed ^ 0xff; 32]),
                ),
                (
                    PathBuf::from(format!("pxe/grub.cfg-{seed}")),
                    hex::encode([seed ^ 0x0f; 32]),
                ),
            ],
        }
    }

    #[test]
    fn remembered_and_newly_rendered_entries_are_saved_alike() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("render-memo");
        let templates = Templates::new(None).unwrap();
        let site = Site::default();
        let inputs = |seed: u8| hex::encode([seed.wrapping_mul(7); 32]);

        let first = RenderMemo::load(&path, &templates, &site);
        let entries: Vec<MemoEntry> = (1..=3)
            .map(|seed| MemoEntry::Rendered(inputs(seed), rendered(seed)))
            .collect();
        first.save(&entries).unwrap();
        let saved = std::fs::read(&path).unwrap();

        // A rebuild in which host 2 is remembered and hosts 1 and 3 were rendered again, host 3
        // differently, and a host 4 is new.
        let second = RenderMemo::load(&path, &templates, &site);
        let (key, remembered) = second.get(&inputs(2)).expect("host 2 remembered");
        assert_eq!((key, remembered), (inputs(2).as_str(), &rendered(2)));
        assert!(second.get(&inputs(9)).is_none());
        let entries = vec![
            MemoEntry::Rendered(inputs(1), rendered(1)),
            MemoEntry::Remembered(key, remembered),
            MemoEntry::Rendered(inputs(3), rendered(30)),
            MemoEntry::Rendered(inputs(4), rendered(4)),
        ];
        second.save(&entries).unwrap();
        let third = RenderMemo::load(&path, &templates, &site);
        for (seed, content) in [(1, 1), (2, 2), (3, 30), (4, 4)] {
            let (_, remembered) = third.get(&inputs(seed)).expect("remembered");
            assert_eq!(remembered, &rendered(content), "host {seed}");
        }

        // The same entries again, all remembered: the file is not rewritten.
        let entries: Vec<MemoEntry> = [1, 2, 3, 4]
            .into_iter()
            .map(|seed| {
                let (key, remembered) = third.get(&inputs(seed)).unwrap();
                MemoEntry::Remembered(key, remembered)
            })
            .collect();
        let third_text = std::fs::read(&path).unwrap();
        std::fs::write(&path, "untouched").unwrap();
        third.save(&entries).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"untouched");
        assert_ne!(third_text, saved);
    }
}
