//! The signature header rpm 4.11 (EL7) verifies.
//!
//! rpm 4.11 checks the payload only through the legacy header+payload signature (`PGP`, 1002) and
//! `MD5` (1004); the rpm crate writes the header-only signature and digests. This module replaces the
//! crate's signature header with exactly the set EL7's `rpmsign` produces, so that EL7's `rpm -K`
//! reports `rsa sha1 (md5) pgp md5 OK`: RSA (268), SHA1 (269), SHA256 (273), SIZE (1000), PGP
//! (1002), MD5 (1004), PAYLOADSIZE (1007, the uncompressed archive's size: without it `rpm2cpio`
//! of rpm 4.11 and 4.18 exits 1 after writing the whole archive) and RESERVEDSPACE (1008) shrunk by
//! what the legacy tags take. The crate's OpenPGP array tag (an rpm 6 addition) is left out.

use md5::Digest as _;
use rpm::{Header, HeaderEntry, IndexData, IndexSignatureTag};

use super::signing::SigningKey;

/// What rpm reserves for in-place re-signing (`%__gpg_reserved_space` + 32).
pub const RESERVED_SPACE: usize = 4128;
/// rpm 4.11 rejects signature headers with more tags or data than this.
pub const MAX_SIGNATURE_TAGS: usize = 32;
pub const MAX_SIGNATURE_DATA: usize = 8192;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("rpm: {0}")]
    Rpm(#[from] rpm::Error),
    #[error(
        "the signature header would hold {tags} tags and {bytes} bytes; rpm 4.11 accepts at most {MAX_SIGNATURE_TAGS} and {MAX_SIGNATURE_DATA}"
    )]
    TooLarge { tags: usize, bytes: usize },
    #[error("the package's payload is not gzip: {0}")]
    Payload(String),
}

/// Replaces the package's signature header and returns the package file's bytes.
pub fn seal(
    mut package: rpm::Package,
    key: Option<&SigningKey>,
    signature_time: u32,
) -> Result<Vec<u8>, SealError> {
    use rpm::signature::Signing as _;
    let header = package.header_bytes()?;
    let mut header_and_payload = header.clone();
    header_and_payload.extend_from_slice(&package.payload);

    let mut entries = Vec::new();
    let mut legacy_bytes = 0;
    if let Some(key) = key {
        let time = rpm::Timestamp(signature_time);
        // Two independent signatures: on two cores, a one-package build waits for one, not two
        // (a fleet build's threads are busy anyway, and rayon only runs it where one is idle).
        let (header_signature, full_signature) = rayon::join(
            || key.package_signer.sign(header.as_slice(), time),
            || key.package_signer.sign(header_and_payload.as_slice(), time),
        );
        let (header_signature, full_signature) = (header_signature?, full_signature?);
        legacy_bytes += full_signature.len();
        entries.push(entry(
            IndexSignatureTag::RPMSIGTAG_RSA,
            IndexData::Bin(header_signature),
        ));
        entries.push(entry(
            IndexSignatureTag::RPMSIGTAG_PGP,
            IndexData::Bin(full_signature),
        ));
    }
    let md5 = md5::Md5::digest(&header_and_payload).to_vec();
    legacy_bytes += md5.len();
    entries.push(entry(IndexSignatureTag::RPMSIGTAG_MD5, IndexData::Bin(md5)));
    entries.push(entry(
        IndexSignatureTag::RPMSIGTAG_SHA1,
        IndexData::StringTag(hex::encode(sha1::Sha1::digest(&header))),
    ));
    entries.push(entry(
        IndexSignatureTag::RPMSIGTAG_SHA256,
        IndexData::StringTag(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&header))),
    ));
    let size = u32::try_from(header_and_payload.len()).expect("host packages are far below 4 GiB");
    entries.push(entry(
        IndexSignatureTag::RPMSIGTAG_SIZE,
        IndexData::Int32(vec![size]),
    ));
    // The crate's v4 header does not record it: the gzip payload is read through once.
    let archive_size = std::io::copy(
        &mut flate2::read::GzDecoder::new(&package.payload[..]),
        &mut std::io::sink(),
    )
    .map_err(|e| SealError::Payload(e.to_string()))?;
    entries.push(entry(
        IndexSignatureTag::RPMSIGTAG_PAYLOADSIZE,
        IndexData::Int32(vec![
            u32::try_from(archive_size).expect("host packages are far below 4 GiB"),
        ]),
    ));
    entries.push(entry(
        IndexSignatureTag::RPMSIGTAG_RESERVEDSPACE,
        IndexData::Bin(vec![0; RESERVED_SPACE.saturating_sub(legacy_bytes)]),
    ));

    let data_bytes: usize = entries.iter().map(|e| data_len(&e.data)).sum();
    if entries.len() + 1 > MAX_SIGNATURE_TAGS || data_bytes > MAX_SIGNATURE_DATA {
        return Err(SealError::TooLarge {
            tags: entries.len() + 1,
            bytes: data_bytes,
        });
    }
    package.metadata.signature =
        Header::from_entries(entries, IndexSignatureTag::HEADER_SIGNATURES);
    let mut out = Vec::with_capacity(header_and_payload.len() + 8192);
    package.write(&mut out)?;
    Ok(out)
}

fn entry(tag: IndexSignatureTag, data: IndexData) -> HeaderEntry {
    HeaderEntry::new(tag as u32, data)
}

fn data_len(data: &IndexData) -> usize {
    match data {
        IndexData::Bin(bytes) => bytes.len(),
        IndexData::StringTag(s) => s.len() + 1,
        IndexData::Int32(values) => values.len() * 4,
        _ => 0,
    }
}
