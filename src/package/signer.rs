//! Package signatures with AWS-LC (`aws-lc-rs`) doing the RSA operation.
//!
//! The `rpm` crate's signer (the pure-Rust `rsa` crate) spends about 17 ms of CPU on one RSA-4096
//! signature, and it decrypts a passphrase-protected key again for every signature. Signing is
//! nearly all of a fleet build, so this signer unlocks the key once and hands only the private-key
//! operation to AWS-LC. Measured on the 2-core bench machine, whose CPU has AVX-512 IFMA: AWS-LC
//! signs RSA-4096 in 2.7 ms where the system's OpenSSL 3.0 takes 6.1 ms, and RSA-2048 in 0.47 ms
//! against 0.49 ms (docs/benchmarks.md). Everything else is written here, byte for
//! byte as the `pgp` crate writes it (RSA PKCS#1 v1.5 is deterministic, and a test compares the
//! two signers' packets): a v4 binary-document signature packet with a new-format header, SHA-256,
//! and the hashed subpackets creation time (2), issuer fingerprint (33), issuer key id (16) and
//! signer's user id (28), none critical, and an empty unhashed area.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rsa::pkcs1::EncodeRsaPrivateKey;
use sha2::Digest;

use pgp::composed::SignedSecretKey;
use pgp::types::{KeyDetails, Password, PlainSecretParams, PublicParams};
use rsa::traits::PublicKeyParts;

const SIGNATURE_VERSION: u8 = 4;
const BINARY_DOCUMENT: u8 = 0x00;
const RSA_ALGORITHM: u8 = 1;
const SHA256_ALGORITHM: u8 = 8;
const SIGNATURE_PACKET_TAG: u8 = 2;

const SUBPACKET_CREATION_TIME: u8 = 2;
const SUBPACKET_ISSUER_KEY_ID: u8 = 16;
const SUBPACKET_SIGNERS_USER_ID: u8 = 28;
const SUBPACKET_ISSUER_FINGERPRINT: u8 = 33;

pub struct PackageSigner {
    key: RsaKeyPair,
    fingerprint: Vec<u8>,
    key_id: Vec<u8>,
    user_id: Option<Vec<u8>>,
    /// What the RSA operations cost this run: count and CPU time (summed over threads), for the
    /// build's summary.
    signatures: AtomicU64,
    signing_nanos: AtomicU64,
}

impl std::fmt::Debug for PackageSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackageSigner")
            .field("fingerprint", &hex::encode(&self.fingerprint))
            .finish_non_exhaustive()
    }
}

impl PackageSigner {
    /// The primary key of `secret` (already checked to be RSA and able to sign), unlocked once.
    pub fn new(secret: &SignedSecretKey, passphrase: Option<&str>) -> Result<Self, String> {
        let primary = &secret.primary_key;
        let PublicParams::RSA(public) = primary.public_params() else {
            return Err("not an RSA key".into());
        };
        let n = public.key.n().to_bytes_be();
        let e = public.key.e().to_bytes_be();
        let password = Password::from(passphrase.unwrap_or_default());
        let (d, p, q) = primary
            .unlock(&password, |_, plain| match plain {
                PlainSecretParams::RSA(rsa) => {
                    let (d, p, q, _) = rsa.to_bytes();
                    Ok((d, p, q))
                }
                _ => Err(pgp::errors::Error::Message {
                    message: "not an RSA secret key".into(),
                    backtrace: None,
                }),
            })
            .and_then(|inner| inner)
            .map_err(|e| e.to_string())?;
        let key = rsa_key(&n, &e, &d, &p, &q)?;
        Ok(PackageSigner {
            key,
            fingerprint: primary.fingerprint().as_bytes().to_vec(),
            key_id: primary.legacy_key_id().as_ref().to_vec(),
            user_id: secret.details.users.first().map(|u| u.id.id().to_vec()),
            signatures: AtomicU64::new(0),
            signing_nanos: AtomicU64::new(0),
        })
    }

    /// The hashed part of the signature packet: what the signature covers after the data.
    fn hashed_part(&self, time: u32) -> Vec<u8> {
        let mut subpackets = Vec::new();
        subpacket(
            &mut subpackets,
            SUBPACKET_CREATION_TIME,
            &time.to_be_bytes(),
        );
        let mut fingerprint = vec![4];
        fingerprint.extend_from_slice(&self.fingerprint);
        subpacket(&mut subpackets, SUBPACKET_ISSUER_FINGERPRINT, &fingerprint);
        subpacket(&mut subpackets, SUBPACKET_ISSUER_KEY_ID, &self.key_id);
        if let Some(user_id) = &self.user_id {
            subpacket(&mut subpackets, SUBPACKET_SIGNERS_USER_ID, user_id);
        }
        let mut hashed = vec![
            SIGNATURE_VERSION,
            BINARY_DOCUMENT,
            RSA_ALGORITHM,
            SHA256_ALGORITHM,
        ];
        hashed.extend_from_slice(&(subpackets.len() as u16).to_be_bytes());
        hashed.extend_from_slice(&subpackets);
        hashed
    }

    /// The complete signature packet, header included, over everything `data` yields.
    pub fn sign_packet(&self, mut data: impl Read, time: u32) -> Result<Vec<u8>, String> {
        let hashed = self.hashed_part(time);
        let mut hasher = sha2::Sha256::new();
        std::io::copy(&mut data, &mut hasher).map_err(|e| e.to_string())?;
        hasher.update(&hashed);
        // The v4 trailer: version, 0xff, and the hashed part's length.
        hasher.update([SIGNATURE_VERSION, 0xff]);
        hasher.update((hashed.len() as u32).to_be_bytes());
        let digest = hasher.finalize();

        let signature = self.rsa_sign(&digest).map_err(|e| e.to_string())?;
        // An MPI has no leading zero bytes, and its bit count is that of the first non-zero byte on.
        let first = signature
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(signature.len());
        let magnitude = &signature[first..];
        let bits = match magnitude.first() {
            Some(top) => (magnitude.len() * 8 - top.leading_zeros() as usize) as u16,
            None => 0,
        };

        let mut body = hashed;
        body.extend_from_slice(&[0, 0]); // no unhashed subpackets
        body.extend_from_slice(&digest[..2]);
        body.extend_from_slice(&bits.to_be_bytes());
        body.extend_from_slice(magnitude);

        let mut packet = vec![0xc0 | SIGNATURE_PACKET_TAG];
        packet.extend_from_slice(&openpgp_length(body.len()));
        packet.extend_from_slice(&body);
        Ok(packet)
    }

    /// How many signatures this signer made, and the time they took summed over threads.
    pub fn signing_spent(&self) -> (u64, std::time::Duration) {
        (
            self.signatures.load(Ordering::Relaxed),
            std::time::Duration::from_nanos(self.signing_nanos.load(Ordering::Relaxed)),
        )
    }

    /// RSASSA-PKCS1-v1_5 over a SHA-256 digest.
    fn rsa_sign(&self, digest: &[u8]) -> Result<Vec<u8>, aws_lc_rs::error::Unspecified> {
        let started = std::time::Instant::now();
        let signature = self.rsa_sign_untimed(digest);
        self.signatures.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.signing_nanos.fetch_add(nanos, Ordering::Relaxed);
        signature
    }

    fn rsa_sign_untimed(&self, digest: &[u8]) -> Result<Vec<u8>, aws_lc_rs::error::Unspecified> {
        // The digest is this signer's own (the data and the OpenPGP trailer, hashed above).
        let digest =
            aws_lc_rs::digest::Digest::import_less_safe(digest, &aws_lc_rs::digest::SHA256)?;
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign_digest(&RSA_PKCS1_SHA256, &digest, &mut signature)?;
        Ok(signature)
    }
}

impl rpm::signature::Signing for PackageSigner {
    type Signature = Vec<u8>;

    fn sign(&self, data: impl Read, time: rpm::Timestamp) -> Result<Vec<u8>, rpm::Error> {
        self.sign_packet(data, time.0)
            .map_err(|message| rpm::Error::SignError(message.into()))
    }
}

/// The key id (the last 8 bytes of the fingerprint) of the key that made the OpenPGP v4
/// signature packet `packet`: from its issuer fingerprint subpacket, or its issuer key id one
/// (hashed or not, as gpg writes them). `None` for anything else. It says who claims to have
/// signed, not that the signature verifies: enough to tell a package signed by another key, or
/// by none, from one this build signs.
pub fn signature_issuer(packet: &[u8]) -> Option<Vec<u8>> {
    let (&first, rest) = packet.split_first()?;
    let body = if first & 0x40 != 0 {
        let (length, size) = new_format_length(rest)?;
        rest.get(size..size + length)?
    } else {
        let size = match first & 0x03 {
            0 => 1,
            1 => 2,
            2 => 4,
            _ => return None,
        };
        let length = rest
            .get(..size)?
            .iter()
            .fold(0usize, |n, b| (n << 8) | usize::from(*b));
        rest.get(size..size + length)?
    };
    if body.first() != Some(&SIGNATURE_VERSION) {
        return None;
    }
    let hashed_length = usize::from(u16::from_be_bytes([*body.get(4)?, *body.get(5)?]));
    let hashed = body.get(6..6 + hashed_length)?;
    let after = 6 + hashed_length;
    let unhashed_length = usize::from(u16::from_be_bytes([
        *body.get(after)?,
        *body.get(after + 1)?,
    ]));
    let unhashed = body.get(after + 2..after + 2 + unhashed_length)?;
    let mut key_id = None;
    for area in [hashed, unhashed] {
        let mut rest = area;
        while !rest.is_empty() {
            let (length, size) = new_format_length(rest)?;
            let subpacket = rest.get(size..size + length)?;
            rest = &rest[size + length..];
            let (&kind, data) = subpacket.split_first()?;
            match kind & 0x7f {
                SUBPACKET_ISSUER_FINGERPRINT if data.len() == 21 => {
                    return Some(data[13..].to_vec());
                }
                SUBPACKET_ISSUER_KEY_ID if data.len() == 8 => key_id = Some(data.to_vec()),
                _ => {}
            }
        }
    }
    key_id
}

/// An OpenPGP new-format length (packets and subpackets alike): (length, octets it took).
fn new_format_length(bytes: &[u8]) -> Option<(usize, usize)> {
    let first = usize::from(*bytes.first()?);
    match first {
        0..192 => Some((first, 1)),
        192..255 => Some((((first - 192) << 8) + usize::from(*bytes.get(1)?) + 192, 2)),
        _ => {
            let four = bytes.get(1..5)?;
            Some((u32::from_be_bytes(four.try_into().ok()?) as usize, 5))
        }
    }
}

/// An AWS-LC key from the OpenPGP parameters, by way of the PKCS#1 form (which carries the CRT
/// values d mod (p-1), d mod (q-1) and q^-1 mod p, where OpenPGP stores p^-1 mod q).
fn rsa_key(n: &[u8], e: &[u8], d: &[u8], p: &[u8], q: &[u8]) -> Result<RsaKeyPair, String> {
    let number = rsa::BigUint::from_bytes_be;
    let damaged = |detail: String| {
        format!(
            "the RSA parameters do not fit together (n is not pq, or d does not invert e); the key is damaged: {detail}"
        )
    };
    // The parameters must fit together, or every signature would fail to verify: `from_components`
    // checks that n = pq and that d inverts e (the arithmetic of a key check, without primality
    // tests of p and q, which would cost a run half a second at RSA-4096).
    let key = rsa::RsaPrivateKey::from_components(
        number(n),
        number(e),
        number(d),
        vec![number(p), number(q)],
    )
    .map_err(|e| damaged(e.to_string()))?;
    let der = key.to_pkcs1_der().map_err(|e| e.to_string())?;
    RsaKeyPair::from_der(der.as_bytes()).map_err(|e| format!("AWS-LC refused the RSA key: {e}"))
}

/// One subpacket: its length (type byte included), type, body.
fn subpacket(out: &mut Vec<u8>, kind: u8, body: &[u8]) {
    out.extend_from_slice(&openpgp_length(body.len() + 1));
    out.push(kind);
    out.extend_from_slice(body);
}

/// OpenPGP's variable length (RFC 4880 4.2.2 and 5.2.3.1, the same for new-format packets and
/// subpackets): one, two or five octets.
fn openpgp_length(length: usize) -> Vec<u8> {
    if length < 192 {
        vec![length as u8]
    } else if length < 8384 {
        let rest = length - 192;
        vec![((rest >> 8) + 192) as u8, (rest & 0xff) as u8]
    } else {
        let mut bytes = vec![0xff];
        bytes.extend_from_slice(&(length as u32).to_be_bytes());
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest RSA key AWS-LC takes: its parameters n, e, d, p, q (big-endian).
    fn parameters() -> [Vec<u8>; 5] {
        use rsa::traits::PrivateKeyParts;
        let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let [p, q] = key.primes() else {
            unreachable!("two primes")
        };
        [
            key.n().to_bytes_be(),
            key.e().to_bytes_be(),
            key.d().to_bytes_be(),
            p.to_bytes_be(),
            q.to_bytes_be(),
        ]
    }

    #[test]
    fn the_issuer_of_a_packet_is_read_back() {
        assert_eq!(signature_issuer(b""), None);
        assert_eq!(signature_issuer(&[0xc2, 0x03, 4, 0, 1]), None);
        // A hand-made v4 packet: hashed issuer fingerprint, old-format header (as gpg writes).
        let fingerprint: Vec<u8> = (1..=20).collect();
        let mut hashed = vec![22, SUBPACKET_ISSUER_FINGERPRINT, 4];
        hashed.extend_from_slice(&fingerprint);
        let mut body = vec![4, 0, 1, 8, 0, hashed.len() as u8];
        body.extend_from_slice(&hashed);
        body.extend_from_slice(&[0, 0, 0xab, 0xcd]);
        let mut packet = vec![0x88, body.len() as u8];
        packet.extend_from_slice(&body);
        assert_eq!(signature_issuer(&packet), Some(fingerprint[12..].to_vec()));
        // Only an unhashed issuer key id, new-format header.
        let mut body = vec![4, 0, 1, 8, 0, 0, 0, 10, 9, SUBPACKET_ISSUER_KEY_ID];
        body.extend_from_slice(&[9, 9, 9, 9, 9, 9, 9, 9]);
        let mut packet = vec![0xc2, body.len() as u8];
        packet.extend_from_slice(&body);
        assert_eq!(signature_issuer(&packet), Some(vec![9; 8]));
    }

    #[test]
    fn parameters_that_do_not_fit_together_are_refused() {
        let [n, e, d, p, q] = parameters();
        assert!(rsa_key(&n, &e, &d, &p, &q).is_ok());
        let mut damaged_d = d.clone();
        *damaged_d.last_mut().unwrap() ^= 0x02;
        let mut damaged_p = p.clone();
        damaged_p[0] ^= 0x01;
        for (n, d, p) in [(&n, &damaged_d, &p), (&n, &d, &damaged_p)] {
            let error = rsa_key(n, &e, d, p, &q).expect_err("refused");
            assert!(error.contains("do not fit together"), "{error}");
        }
    }
}
