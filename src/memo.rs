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

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash as _;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};

use sha2::Digest as _;

use crate::digest::Sha256;
use crate::model::{Host, Site};
use crate::output::{OutputError, io_error};
use crate::templates::Templates;

const FORMAT: &str = "hostnet render memo 2";

/// What one host's rendering gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The package content digest (see `PackageSpec::digest`).
    pub content_digest: String,
    /// Each install file (kickstart, PXE entries) relative to the output, with its sha256.
    pub install_files: Vec<(PathBuf, Sha256)>,
}

impl Rendered {
    /// The memo line's text after the inputs digest: `<content digest> <sha256>:<path>...`.
    fn line_text(&self) -> String {
        let mut text = self.content_digest.clone();
        for (path, sha256) in &self.install_files {
            text.push_str(&format!(" {sha256}:{}", path.display()));
        }
        text
    }

    /// A line's text after the inputs digest; `None` for anything else.
    fn parse(text: &str) -> Option<Rendered> {
        let mut fields = text.split(' ');
        let content_digest = fields.next()?;
        Sha256::from_hex(content_digest)?;
        let install_files = fields
            .map(|field| {
                let (sha256, path) = field.split_once(':')?;
                (!path.is_empty()).then(|| (PathBuf::from(path), Sha256::from_hex(sha256)))
            })
            .map(|file| file.and_then(|(path, sha256)| Some((path, sha256?))))
            .collect::<Option<_>>()?;
        Some(Rendered {
            content_digest: content_digest.to_string(),
            install_files,
        })
    }
}

/// The digest of `host`'s model: the host's own part of what rendering it reads.
pub fn host_digest(host: &Host) -> Sha256 {
    // Every field but where the definition was read from, which rendering never reads and which
    // shifts when hosts are added; naming every field makes a new one a compile error here
    // rather than an input the memo would miss. The model's derived `Hash` feeds the digest: its
    // byte layout may change between hostnet builds, which are inputs anyway.
    let Host {
        name,
        fqdn,
        boot_mac,
        target,
        bond,
        management,
        containers,
        docker,
        rollout,
        sysctl,
        source: _,
    } = host;
    let mut hasher = DigestHasher(sha2::Sha256::new());
    (
        name, fqdn, boot_mac, target, bond, management, containers, docker, rollout, sysctl,
    )
        .hash(&mut hasher);
    let DigestHasher(hasher) = hasher;
    Sha256::from_bytes(hasher.finalize().into())
}

pub struct RenderMemo {
    path: PathBuf,
    /// The digest of everything but the host: hostnet, templates, site.
    shared_inputs: Option<Sha256>,
    /// What each host's rendering gave, by the digest of its inputs.
    loaded: HashMap<Sha256, Rendered>,
}

impl RenderMemo {
    /// The memo at `path` for this hostnet, `templates` and `site`.
    pub fn load(path: &Path, templates: &Templates, site: &Site) -> RenderMemo {
        let shared_inputs = executable_identity().map(|identity| {
            Sha256::of_parts([
                FORMAT,
                &identity,
                &templates.digest().to_string(),
                &format!("{site:?}"),
            ])
        });
        let file = shared_inputs.and_then(|_| std::fs::File::open(path).ok());
        let loaded = file
            .map(|file| {
                std::io::BufReader::new(file)
                    .lines()
                    .map_while(Result::ok)
                    .filter_map(|line| {
                        let (inputs, text) = line.split_once(' ')?;
                        Some((Sha256::from_hex(inputs)?, Rendered::parse(text)?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        RenderMemo {
            path: path.to_path_buf(),
            shared_inputs,
            loaded,
        }
    }

    /// The digest of everything rendering a host reads, the host's part being `host`
    /// ([`host_digest`]); `None` when hostnet cannot tell which executable it is, so nothing is
    /// remembered.
    pub fn inputs_of(&self, host: &Sha256) -> Option<Sha256> {
        let shared = self.shared_inputs?;
        Some(Sha256::of_parts([
            shared.to_string().as_str(),
            host.to_string().as_str(),
        ]))
    }

    /// What rendering `inputs` gave, if remembered.
    pub fn get(&self, inputs: &Sha256) -> Option<&Rendered> {
        self.loaded.get(inputs)
    }

    /// The next memo, filled as hosts are placed, in any order.
    pub fn next(&self) -> NextMemo<'_> {
        NextMemo {
            memo: self,
            lines: std::sync::Mutex::new(BTreeMap::new()),
        }
    }
}

/// The memo a build writes for the next one, replacing the one it read once its output is live.
pub struct NextMemo<'m> {
    memo: &'m RenderMemo,
    lines: std::sync::Mutex<BTreeMap<Sha256, Rendered>>,
}

impl NextMemo<'_> {
    /// Remembers what rendering a host gave (now, or as remembered).
    pub fn rendered(&self, inputs: &Sha256, rendered: &Rendered) {
        if let Ok(mut lines) = self.lines.lock() {
            lines.insert(*inputs, rendered.clone());
        }
    }

    /// Replaces the memo with what was remembered, in one rename, if it differs from it.
    pub fn save(self) -> Result<(), OutputError> {
        let lines = self
            .lines
            .into_inner()
            .expect("no thread panics while remembering");
        let unchanged = lines.len() == self.memo.loaded.len()
            && lines
                .iter()
                .all(|(inputs, rendered)| self.memo.loaded.get(inputs) == Some(rendered));
        if unchanged || self.memo.shared_inputs.is_none() {
            return Ok(());
        }
        let mut text = String::new();
        for (inputs, rendered) in &lines {
            text.push_str(&format!("{inputs} {}\n", rendered.line_text()));
        }
        let path = &self.memo.path;
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut file = tempfile::NamedTempFile::new_in(dir).map_err(io_error(dir))?;
        std::io::Write::write_all(&mut file, text.as_bytes()).map_err(io_error(path))?;
        file.persist(path)
            .map(drop)
            .map_err(|error| error.error)
            .map_err(io_error(path))
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
                    Sha256::from_bytes([seed ^ 0xff; 32]),
                ),
                (
                    PathBuf::from(format!("pxe/grub.cfg-{seed}")),
                    Sha256::from_bytes([seed ^ 0x0f; 32]),
                ),
            ],
        }
    }

    /// Where a memo can be written, and the templates and site it is for.
    fn scratch_memo() -> (tempfile::TempDir, PathBuf, Templates, Site) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("render-memo");
        (dir, path, Templates::new(None).unwrap(), Site::default())
    }

    fn inputs(seed: u8) -> Sha256 {
        Sha256::from_bytes([seed.wrapping_mul(7); 32])
    }

    #[test]
    fn what_was_rendered_is_remembered_and_an_unchanged_memo_is_not_rewritten() {
        let (_dir, path, templates, site) = scratch_memo();
        let first = RenderMemo::load(&path, &templates, &site);
        let next = first.next();
        for seed in 1..=3 {
            next.rendered(&inputs(seed), &rendered(seed));
        }
        next.save().unwrap();

        // A rebuild in which host 3 rendered differently and a host 4 is new, in any order.
        let second = RenderMemo::load(&path, &templates, &site);
        assert_eq!(second.get(&inputs(2)), Some(&rendered(2)));
        assert!(second.get(&inputs(9)).is_none());
        let next = second.next();
        for (seed, content) in [(4, 4), (1, 1), (2, 2), (3, 30)] {
            next.rendered(&inputs(seed), &rendered(content));
        }
        next.save().unwrap();
        let third = RenderMemo::load(&path, &templates, &site);
        for (seed, content) in [(1, 1), (2, 2), (3, 30), (4, 4)] {
            assert_eq!(third.get(&inputs(seed)), Some(&rendered(content)), "{seed}");
        }

        // The same entries again: the file is not rewritten.
        let next = third.next();
        for (seed, content) in [(1, 1), (2, 2), (3, 30), (4, 4)] {
            next.rendered(&inputs(seed), &rendered(content));
        }
        std::fs::write(&path, "untouched").unwrap();
        next.save().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"untouched");

        // One host fewer is a change.
        let next = third.next();
        for seed in [1, 2] {
            next.rendered(&inputs(seed), &rendered(seed));
        }
        next.save().unwrap();
        let fourth = RenderMemo::load(&path, &templates, &site);
        assert!(fourth.get(&inputs(3)).is_none());
        assert_eq!(fourth.get(&inputs(2)), Some(&rendered(2)));
    }

    #[test]
    fn a_damaged_line_is_forgotten_and_the_others_kept() {
        let (_dir, path, templates, site) = scratch_memo();
        let first = RenderMemo::load(&path, &templates, &site);
        let next = first.next();
        for seed in 1..=3 {
            next.rendered(&inputs(seed), &rendered(seed));
        }
        next.save().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // The second line cut short (a crash mid-write of an older hostnet), the third without
        // its newline.
        let damaged = format!("{}\n{}\n{}", lines[0], &lines[1][..100], lines[2]);
        std::fs::write(&path, damaged).unwrap();
        let second = RenderMemo::load(&path, &templates, &site);
        let remembered = (1..=3).filter(|seed| second.get(&inputs(*seed)).is_some());
        assert_eq!(remembered.count(), 2);
    }
}
