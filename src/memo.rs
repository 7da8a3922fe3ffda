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
#[derive(Debug, Clone)]
pub struct Remembered {
    inputs: InputsDigest,
    /// `<content digest> <sha256>:<path>...`, checked when the memo was read.
    text: String,
}

impl Remembered {
    pub fn content_digest(&self) -> &str {
        self.text.split(' ').next().unwrap_or_default()
    }

    /// Each install file relative to the output, with its sha256.
    pub fn install_files(&self) -> impl Iterator<Item = (&Path, &str)> {
        self.text.split(' ').skip(1).filter_map(|field| {
            let (sha256, path) = field.split_once(':')?;
            Some((Path::new(path), sha256))
        })
    }
}

/// Where the memo file holds a host's line after its inputs digest.
#[derive(Debug, Clone, Copy)]
struct LineAt {
    offset: u64,
    len: u32,
}

pub struct RenderMemo {
    path: PathBuf,
    /// The digest of everything but the host: hostnet, templates, site.
    shared_inputs: Option<String>,
    /// The memo file as it was read, left open: a host's line is read again when the host asks.
    /// The next memo replaces it by a rename, so this one stays what was read.
    file: Option<std::fs::File>,
    /// Where each host's line is, by its inputs digest: some eighty bytes a host in memory (the
    /// table's room included), where the lines themselves are some four hundred.
    loaded: HashMap<InputsDigest, LineAt>,
}

impl RenderMemo {
    /// The memo at `path` for this hostnet, `templates` and `site`.
    pub fn load(path: &Path, templates: &Templates, site: &Site) -> RenderMemo {
        let shared_inputs = executable_identity().map(|identity| {
            sha256_hex_of_parts([FORMAT, &identity, &templates.digest(), &format!("{site:?}")])
        });
        let mut loaded = HashMap::new();
        let file = shared_inputs
            .as_ref()
            .and_then(|_| std::fs::File::open(path).ok());
        if let Some(file) = &file {
            let mut reader = std::io::BufReader::new(file);
            let mut line = String::new();
            let mut offset = 0u64;
            while let Ok(read @ 1..) = reader.read_line(&mut line) {
                let trimmed = line.strip_suffix('\n').unwrap_or(&line);
                if let Some((inputs, text)) = parse_line(trimmed) {
                    let text_offset = (trimmed.len() - text.len()) as u64;
                    if let Ok(len) = u32::try_from(text.len()) {
                        let at = LineAt {
                            offset: offset + text_offset,
                            len,
                        };
                        loaded.insert(inputs, at);
                    }
                }
                offset += read as u64;
                line.clear();
            }
        }
        RenderMemo {
            path: path.to_path_buf(),
            shared_inputs,
            file,
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

    /// What rendering `inputs` gave, if remembered (and the memo file can still be read).
    pub fn get(&self, inputs: &InputsDigest) -> Option<Remembered> {
        use std::os::unix::fs::FileExt as _;
        let at = self.loaded.get(inputs)?;
        let mut bytes = vec![0u8; at.len as usize];
        self.file
            .as_ref()?
            .read_exact_at(&mut bytes, at.offset)
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        Some(Remembered {
            inputs: *inputs,
            text,
        })
    }

    /// The next memo, written line by line as hosts are placed, in any order.
    pub fn next(&self) -> NextMemo<'_> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let file = match self.shared_inputs {
            Some(_) => tempfile::NamedTempFile::new_in(dir)
                .map(std::io::BufWriter::new)
                .map_err(|source| (dir.to_path_buf(), source)),
            None => Err((dir.to_path_buf(), std::io::ErrorKind::Unsupported.into())),
        };
        NextMemo {
            memo: self,
            writing: std::sync::Mutex::new(Writing {
                file,
                lines: 0,
                changed: false,
            }),
        }
    }
}

/// The memo a build writes for the next one, replacing the one it read once its output is live.
pub struct NextMemo<'m> {
    memo: &'m RenderMemo,
    writing: std::sync::Mutex<Writing>,
}

struct Writing {
    /// The new memo, or what made it impossible to write (then the memo is left as it was).
    file: Result<std::io::BufWriter<tempfile::NamedTempFile>, (PathBuf, std::io::Error)>,
    lines: usize,
    /// Whether any line differs from the memo read.
    changed: bool,
}

impl NextMemo<'_> {
    /// Remembers a host whose rendering was the one remembered.
    pub fn remembered(&self, remembered: &Remembered) {
        self.line(&remembered.inputs, &remembered.text, false);
    }

    /// Remembers what rendering a host gave now.
    pub fn rendered(&self, inputs: &InputsDigest, rendered: &Rendered) {
        let text = rendered.line_text();
        let same = self
            .memo
            .get(inputs)
            .is_some_and(|remembered| remembered.text == text);
        self.line(inputs, &text, !same);
    }

    fn line(&self, inputs: &InputsDigest, text: &str, changed: bool) {
        let Ok(mut writing) = self.writing.lock() else {
            return;
        };
        writing.lines += 1;
        writing.changed |= changed;
        if let Ok(file) = &mut writing.file {
            let written = std::io::Write::write_all(
                file,
                format!("{} {text}\n", hex::encode(inputs)).as_bytes(),
            );
            if let Err(source) = written {
                writing.file = Err((self.memo.path.clone(), source));
            }
        }
    }

    /// Replaces the memo with the lines written, in one rename, if they differ from it.
    pub fn save(self) -> Result<(), OutputError> {
        let writing = self
            .writing
            .into_inner()
            .expect("no thread panics while writing the memo");
        let unchanged = !writing.changed && writing.lines == self.memo.loaded.len();
        if unchanged || self.memo.shared_inputs.is_none() {
            return Ok(());
        }
        let path = &self.memo.path;
        let (dir, source) = match writing.file {
            Ok(file) => {
                let file = file
                    .into_inner()
                    .map_err(|error| error.into_error())
                    .map_err(io_error(path))?;
                return file
                    .persist(path)
                    .map(drop)
                    .map_err(|error| error.error)
                    .map_err(io_error(path));
            }
            Err(failed) => failed,
        };
        Err(io_error(&dir)(source))
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
    fn owned(remembered: &Remembered) -> Rendered {
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
        let next = first.next();
        for seed in 1..=3 {
            next.rendered(&inputs(seed), &rendered(seed));
        }
        next.save().unwrap();
        let saved = std::fs::read(&path).unwrap();

        // A rebuild in which host 2 is remembered and hosts 1 and 3 were rendered again, host 3
        // differently, and a host 4 is new; placed in any order.
        let second = RenderMemo::load(&path, &templates, &site);
        let remembered = second.get(&inputs(2)).expect("host 2 remembered");
        assert_eq!(owned(&remembered), rendered(2));
        assert!(second.get(&inputs(9)).is_none());
        let next = second.next();
        next.rendered(&inputs(4), &rendered(4));
        next.rendered(&inputs(1), &rendered(1));
        next.remembered(&remembered);
        next.rendered(&inputs(3), &rendered(30));
        next.save().unwrap();
        let third = RenderMemo::load(&path, &templates, &site);
        for (seed, content) in [(1, 1), (2, 2), (3, 30), (4, 4)] {
            let remembered = third.get(&inputs(seed)).expect("remembered");
            assert_eq!(owned(&remembered), rendered(content), "host {seed}");
        }

        // The same entries again, remembered or rendered alike: the file is not rewritten.
        let next = third.next();
        for seed in [1, 2, 3] {
            next.remembered(&third.get(&inputs(seed)).unwrap());
        }
        next.rendered(&inputs(4), &rendered(4));
        let third_text = std::fs::read(&path).unwrap();
        // Renamed aside, not written over: the memo read keeps reading the file it opened.
        std::fs::rename(&path, path.with_extension("read")).unwrap();
        std::fs::write(&path, "untouched").unwrap();
        next.save().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"untouched");
        assert_ne!(third_text, saved);

        // One host fewer is a change, though every line written is remembered.
        let next = third.next();
        for seed in [1, 2, 3] {
            next.remembered(&third.get(&inputs(seed)).unwrap());
        }
        next.save().unwrap();
        let fourth = RenderMemo::load(&path, &templates, &site);
        assert!(fourth.get(&inputs(4)).is_none());
        assert_eq!(owned(&fourth.get(&inputs(3)).unwrap()), rendered(30));
    }

    #[test]
    fn a_damaged_line_is_forgotten_and_the_others_kept() {
        let (_dir, path, templates, site) = scratch_memo();
        let first = RenderMemo::load(&path, &templates, &site);
        let next = first.next();
        for seed in 1..=3 {
            next.rendered(&[seed; 32], &rendered(seed));
        }
        next.save().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.sort_by_key(|line| line.as_bytes()[1]);
        // Line 2 cut short (a crash mid-write of an older hostnet), line 3 without its newline.
        let damaged = format!("{}\n{}\n{}", lines[0], &lines[1][..100], lines[2]);
        std::fs::write(&path, damaged).unwrap();
        let second = RenderMemo::load(&path, &templates, &site);
        assert_eq!(owned(&second.get(&[1; 32]).unwrap()), rendered(1));
        assert!(second.get(&[2; 32]).is_none());
        assert_eq!(owned(&second.get(&[3; 32]).unwrap()), rendered(3));
    }
}
