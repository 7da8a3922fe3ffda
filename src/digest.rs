//! SHA-256, the one digest hostnet names files by: a typed value, parsed from hex once where it
//! comes from text (a manifest, a memo line), compared as 32 bytes everywhere else.

use sha2::Digest as _;

/// A SHA-256 digest; shown (and written) as 64 lowercase hexadecimal digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sha256([u8; 32]);

impl Sha256 {
    pub fn of(bytes: &[u8]) -> Sha256 {
        Sha256(sha2::Sha256::digest(bytes).into())
    }

    /// The sha256 of texts taken together, each preceded by its length so that no two different
    /// lists of texts run together into the same bytes.
    pub fn of_parts<'p>(parts: impl IntoIterator<Item = &'p str>) -> Sha256 {
        let mut hasher = sha2::Sha256::new();
        for part in parts {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        Sha256(hasher.finalize().into())
    }

    /// From its 64 hexadecimal digits (either case); `None` for anything else, such as another
    /// algorithm's checksum in a foreign repository's metadata.
    pub fn from_hex(text: &str) -> Option<Sha256> {
        let mut bytes = [0; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(Sha256(bytes))
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Sha256 {
        Sha256(bytes)
    }
}

impl std::fmt::Display for Sha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl std::fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sha256({self})")
    }
}

/// Starts the line of a hostnet package's description that records its content digest (a line
/// of its own, 71 characters): how `build` and `plan` recognise a package's content later.
const CONTENT_DIGEST_MARKER: &str = "sha256:";

/// A package description ending with the line recording `content_digest`.
pub fn describe_with_content_digest(description: &str, content_digest: &str) -> String {
    format!("{description}\n\n{CONTENT_DIGEST_MARKER}{content_digest}")
}

/// The content digest a hostnet package's description records, if it records one.
pub fn content_digest_in(description: &str) -> Option<String> {
    description
        .lines()
        .find_map(|line| line.trim().strip_prefix(CONTENT_DIGEST_MARKER))
        .map(String::from)
}

/// The sha256 of `bytes` as hex, for the places a checksum is text (repository metadata).
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::of(bytes).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_other_text_is_refused() {
        let digest = Sha256::of(b"abc");
        let hex = digest.to_string();
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(Sha256::from_hex(&hex), Some(digest));
        assert_eq!(Sha256::from_hex(&hex.to_uppercase()), Some(digest));
        assert_eq!(Sha256::from_hex(&hex[..40]), None, "a sha1 is not a sha256");
        assert_eq!(Sha256::from_hex(&format!("{}zz", &hex[..62])), None);
    }

    #[test]
    fn parts_do_not_run_together() {
        assert_ne!(Sha256::of_parts(["ab", "c"]), Sha256::of_parts(["a", "bc"]));
    }
}
