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

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::BufRead as _;
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

impl Rendered {
    /// The memo line's text after the inputs digest: `<content digest> <sha256>:<path>...`.
    fn line_text(&self) -> String {
        let mut text = self.content_digest.clone();
        for (path, sha256) in &self.install_files {
            text.push(' ');
            text.push_str(sha256);
            text.push(':');
            text.push_str(&path.display().to_string());
        }
        text
    }
}

/// The sha256 of everything rendering a host reads.
pub type InputsDigest = [u8; 32];

/// The sha256 of the host's own part of what rendering it reads: its model.
pub type HostDigest = [u8; 32];

/// The digest of `host`'s model, taken when the host is checked, so that a build whose memo
/// remembers the host never needs the model again.
pub fn host_digest(host: &Host) -> HostDigest {
    // Every field but where the definition was read from, which rendering never reads and which
    // shifts when hosts are added; naming every field makes a new one a compile error here
    // rather than an input the memo would miss. The model's derived `Hash` feeds the digest: its
    // byte layout may change between hostnet builds, which are inputs anyway.
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
    (
        name, fqdn, boot_mac, bond, management, containers, docker, rollout, sysctl,
    )
        .hash(&mut hasher);
    let DigestHasher(hasher) = hasher;
    hasher.finalize().into()
}

/// What the memo remembers of one host's rendering: its line as read, parsed when asked.
#[derive(Debug, Clone, Copy)]
pub struct Remembered<'m> {
    inputs: &'m InputsDigest,
    /// `<content digest> <sha256>:<path>...`, checked when the memo was read.
    text: &'m str,
}

impl<'m> Remembered<'m> {
    pub fn content_digest(&self) -> &'m str {
        self.text.split(' ').next().unwrap_or_default()
    }

    /// Each install file relative to the output, with its sha256.
    pub fn install_files(&self) -> impl Iterator<Item = (&'m Path, &'m str)> + use<'m> {
        self.text.split(' ').skip(1).filter_map(|field| {
            let (sha256, path) = field.split_once(':')?;
            Some((Path::new(path), sha256))
        })
    }
}

/// A host's line of the next memo: borrowed from this memo when the host's rendering is the one
/// remembered (a rebuild's usual case, so that ten thousand unchanged hosts copy nothing), owned
/// when the host was rendered now.
#[derive(Debug)]
pub enum MemoEntry<'m> {
    Remembered(Remembered<'m>),
    Rendered(InputsDigest, Rendered),
}

pub struct RenderMemo {
    path: PathBuf,
    /// The digest of everything but the host: hostnet, templates, site.
    shared_inputs: Option<String>,
    /// Each host's line after its inputs digest, by that digest. Kept as text, one allocation a
    /// host: parsed into strings and paths, ten thousand hosts' lines took three times the memory.
    loaded: HashMap<InputsDigest, Box<str>>,
}

impl RenderMemo {
    /// The memo at `path` for this hostnet, `templates` and `site`.
    pub fn load(path: &Path, templates: &Templates, site: &Site) -> RenderMemo {
        let shared_inputs = executable_identity().map(|identity| {
            sha256_hex_of_parts([FORMAT, &identity, &templates.digest(), &format!("{site:?}")])
        });
        let mut loaded = HashMap::new();
        if let (Some(_), Ok(file)) = (&shared_inputs, std::fs::File::open(path)) {
            // Line by line: the whole text of a large fleet's memo is megabytes the build does
            // not need at once.
            let mut reader = std::io::BufReader::new(file);
            let mut line = String::new();
            while matches!(reader.read_line(&mut line), Ok(read) if read > 0) {
                if let Some((inputs, text)) = parse_line(line.trim_end_matches('\n')) {
                    loaded.insert(inputs, text.into());
                }
                line.clear();
            }
        }
        RenderMemo {
            path: path.to_path_buf(),
            shared_inputs,
            loaded,
        }
    }

    /// The digest of everything rendering a host reads, the host's part being `host`
    /// ([`host_digest`]); `None` when hostnet cannot tell which executable it is, so nothing is
    /// remembered.
    pub fn inputs_of(&self, host: &HostDigest) -> Option<InputsDigest> {
        let shared = self.shared_inputs.as_ref()?;
        let mut hasher = sha2::Sha256::new();
        hasher.update(shared.as_bytes());
        hasher.update(host);
        Some(hasher.finalize().into())
    }

    /// What rendering `inputs` gave, if remembered.
    pub fn get(&self, inputs: &InputsDigest) -> Option<Remembered<'_>> {
        self.loaded
            .get_key_value(inputs)
            .map(|(inputs, text)| Remembered { inputs, text })
    }

    /// Replaces the memo with `entries` in one rename, if it differs.
    pub fn save(&self, entries: &[MemoEntry<'_>]) -> Result<(), OutputError> {
        let unchanged = entries.len() == self.loaded.len()
            && entries.iter().all(|entry| match entry {
                MemoEntry::Remembered(remembered) => {
                    self.loaded.get(remembered.inputs).map(|text| &**text) == Some(remembered.text)
                }
                MemoEntry::Rendered(inputs, rendered) => self
                    .loaded
                    .get(inputs)
                    .is_some_and(|text| **text == rendered.line_text()),
            });
        if unchanged || self.shared_inputs.is_none() {
            return Ok(());
        }
        let mut text = String::new();
        for entry in entries {
            let (inputs, line_text) = match entry {
                MemoEntry::Remembered(remembered) => {
                    (remembered.inputs, Cow::Borrowed(remembered.text))
                }
                MemoEntry::Rendered(inputs, rendered) => (inputs, Cow::Owned(rendered.line_text())),
            };
            text.push_str(&hex::encode(inputs));
            text.push(' ');
            text.push_str(&line_text);
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

/// `<inputs> <content digest> <sha256>:<path>...`, as the inputs digest and the rest of the line;
/// `None` for anything else.
fn parse_line(line: &str) -> Option<(InputsDigest, &str)> {
    let is_digest = |text: &str| text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit());
    let (inputs, text) = line.split_once(' ')?;
    let mut inputs_digest = InputsDigest::default();
    hex::decode_to_slice(inputs, &mut inputs_digest).ok()?;
    let mut fields = text.split(' ');
    let well_formed = fields.next().is_some_and(is_digest)
        && fields.all(|field| {
            field
                .split_once(':')
                .is_some_and(|(sha256, path)| is_digest(sha256) && !path.is_empty())
        });
    well_formed.then_some((inputs_digest, text))
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

    /// What the memo remembers, owned, to compare with what was rendered.
    fn owned(remembered: Remembered) -> Rendered {
        Rendered {
            content_digest: remembered.content_digest().to_string(),
            install_files: remembered
                .install_files()
                .map(|(path, sha256)| (path.to_path_buf(), sha256.to_string()))
                .collect(),
        }
    }

    /// Where a memo can be written, and the templates and site it is for.
    fn scratch_memo() -> (tempfile::TempDir, PathBuf, Templates, Site) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("render-memo");
        (dir, path, Templates::new(None).unwrap(), Site::default())
    }

    #[test]
    fn remembered_and_newly_rendered_entries_are_saved_alike() {
        let (_dir, path, templates, site) = scratch_memo();
        let inputs = |seed: u8| [seed.wrapping_mul(7); 32];

        let first = RenderMemo::load(&path, &templates, &site);
        let entries: Vec<MemoEntry> = (1..=3)
            .map(|seed| MemoEntry::Rendered(inputs(seed), rendered(seed)))
            .collect();
        first.save(&entries).unwrap();
        let saved = std::fs::read(&path).unwrap();

        // A rebuild in which host 2 is remembered and hosts 1 and 3 were rendered again, host 3
        // differently, and a host 4 is new.
        let second = RenderMemo::load(&path, &templates, &site);
        let remembered = second.get(&inputs(2)).expect("host 2 remembered");
        assert_eq!(owned(remembered), rendered(2));
        assert!(second.get(&inputs(9)).is_none());
        let entries = vec![
            MemoEntry::Rendered(inputs(1), rendered(1)),
            MemoEntry::Remembered(remembered),
            MemoEntry::Rendered(inputs(3), rendered(30)),
            MemoEntry::Rendered(inputs(4), rendered(4)),
        ];
        second.save(&entries).unwrap();
        let third = RenderMemo::load(&path, &templates, &site);
        for (seed, content) in [(1, 1), (2, 2), (3, 30), (4, 4)] {
            let remembered = third.get(&inputs(seed)).expect("remembered");
            assert_eq!(owned(remembered), rendered(content), "host {seed}");
        }

        // The same entries again, remembered or rendered alike: the file is not rewritten.
        let entries: Vec<MemoEntry> = [1, 2, 3]
            .into_iter()
            .map(|seed| MemoEntry::Remembered(third.get(&inputs(seed)).unwrap()))
            .chain([MemoEntry::Rendered(inputs(4), rendered(4))])
            .collect();
        let third_text = std::fs::read(&path).unwrap();
        std::fs::write(&path, "untouched").unwrap();
        third.save(&entries).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"untouched");
        assert_ne!(third_text, saved);
    }

    #[test]
    fn a_damaged_line_is_forgotten_and_the_others_kept() {
        let (_dir, path, templates, site) = scratch_memo();
        let first = RenderMemo::load(&path, &templates, &site);
        let entries: Vec<MemoEntry> = (1..=3)
            .map(|seed| MemoEntry::Rendered([seed; 32], rendered(seed)))
            .collect();
        first.save(&entries).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // Line 2 cut short (a crash mid-write of an older hostnet), line 3 without its newline.
        let damaged = format!("{}\n{}\n{}", lines[0], &lines[1][..100], lines[2]);
        std::fs::write(&path, damaged).unwrap();
        let second = RenderMemo::load(&path, &templates, &site);
        assert_eq!(owned(second.get(&[1; 32]).unwrap()), rendered(1));
        assert!(second.get(&[2; 32]).is_none());
        assert_eq!(owned(second.get(&[3; 32]).unwrap()), rendered(3));
    }
}
