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

    pub fn get(&self, inputs: &str) -> Option<&Rendered> {
        self.loaded.get(inputs)
    }

    /// Replaces the memo with `entries` (inputs digest, rendering) in one rename, if it differs.
    pub fn save(&self, entries: &[(String, Rendered)]) -> Result<(), OutputError> {
        let unchanged = entries.len() == self.loaded.len()
            && entries
                .iter()
                .all(|(inputs, rendered)| self.loaded.get(inputs) == Some(rendered));
        if unchanged || self.shared_inputs.is_none() {
            return Ok(());
        }
        let mut text = String::new();
        for (inputs, rendered) in entries {
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
