//! Package signatures with OpenSSL doing the RSA operation.
//!
//! The `rpm` crate's signer (the pure-Rust `rsa` crate) spends about 17 ms of CPU on one RSA-4096
//! signature where OpenSSL takes about 5 ms, and it decrypts a passphrase-protected key again for
//! every signature. Signing is nearly all of a fleet build, so this signer unlocks the key once
//! and hands only the private-key operation to OpenSSL. Everything else is written here, byte for
//! byte as the `pgp` crate writes it (RSA PKCS#1 v1.5 is deterministic, and a test compares the
//! two signers' packets): a v4 binary-document signature packet with a new-format header, SHA-256,
//! and the hashed subpackets creation time (2), issuer fingerprint (33), issuer key id (16) and
//! signer's user id (28), none critical, and an empty unhashed area.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};

use openssl::bn::{BigNum, BigNumContext};
use openssl::md::Md;
use openssl::pkey::{PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::{Padding, RsaPrivateKeyBuilder};
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

pub struct OpensslSigner {
    key: PKey<Private>,
    fingerprint: Vec<u8>,
    key_id: Vec<u8>,
    user_id: Option<Vec<u8>>,
    /// What the RSA operations cost this run: count and CPU time (summed over threads), for the
    /// build's summary.
    signatures: AtomicU64,
    signing_nanos: AtomicU64,
}

impl std::fmt::Debug for OpensslSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpensslSigner")
            .field("fingerprint", &hex::encode(&self.fingerprint))
            .finish_non_exhaustive()
    }
}

impl OpensslSigner {
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
        Ok(OpensslSigner {
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
    fn rsa_sign(&self, digest: &[u8]) -> Result<Vec<u8>, openssl::error::ErrorStack> {
        let started = std::time::Instant::now();
        let signature = self.rsa_sign_untimed(digest);
        self.signatures.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.signing_nanos.fetch_add(nanos, Ordering::Relaxed);
        signature
    }

    fn rsa_sign_untimed(&self, digest: &[u8]) -> Result<Vec<u8>, openssl::error::ErrorStack> {
        let mut context = PkeyCtx::new(&self.key)?;
        context.sign_init()?;
        context.set_rsa_padding(Padding::PKCS1)?;
        context.set_signature_md(Md::sha256())?;
        let mut signature = Vec::new();
        context.sign_to_vec(digest, &mut signature)?;
        Ok(signature)
    }
}

impl rpm::signature::Signing for OpensslSigner {
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

/// An OpenSSL key from the OpenPGP parameters. OpenSSL wants the CRT values d mod (p-1),
/// d mod (q-1) and q^-1 mod p, where OpenPGP stores p^-1 mod q.
fn rsa_key(n: &[u8], e: &[u8], d: &[u8], p: &[u8], q: &[u8]) -> Result<PKey<Private>, String> {
    let openssl = |e: openssl::error::ErrorStack| e.to_string();
    let number = |bytes: &[u8]| BigNum::from_slice(bytes).map_err(openssl);
    let mut context = BigNumContext::new().map_err(openssl)?;
    let (n_big, e_big) = (number(n)?, number(e)?);
    let (p_big, q_big, d_big) = (number(p)?, number(q)?, number(d)?);
    let one = BigNum::from_u32(1).map_err(openssl)?;
    let minus_one = |prime: &BigNum| {
        let mut result = BigNum::new()?;
        result.checked_sub(prime, &one)?;
        Ok::<_, openssl::error::ErrorStack>(result)
    };
    let (p_minus_1, q_minus_1) = (
        minus_one(&p_big).map_err(openssl)?,
        minus_one(&q_big).map_err(openssl)?,
    );
    // The parameters must fit together (n = pq, and d inverts e modulo p-1 and q-1), or every
    // signature would fail to verify. This is the arithmetic part of OpenSSL's RSA_check_key,
    // without its primality tests of p and q, which cost a run half a second at RSA-4096.
    let fits = (|| {
        let mut product = BigNum::new()?;
        product.checked_mul(&p_big, &q_big, &mut context)?;
        let mut inverts = true;
        for modulus in [&p_minus_1, &q_minus_1] {
            let mut ed = BigNum::new()?;
            ed.mod_mul(&e_big, &d_big, modulus, &mut context)?;
            inverts &= ed == one;
        }
        Ok::<_, openssl::error::ErrorStack>(product == n_big && inverts)
    })()
    .map_err(openssl)?;
    if !fits {
        return Err("the RSA parameters do not fit together (n is not pq, or d does not invert e); the key is damaged".into());
    }
    let crt = (|| {
        let mut dmp1 = BigNum::new()?;
        dmp1.nnmod(&d_big, &p_minus_1, &mut context)?;
        let mut dmq1 = BigNum::new()?;
        dmq1.nnmod(&d_big, &q_minus_1, &mut context)?;
        let mut iqmp = BigNum::new()?;
        iqmp.mod_inverse(&q_big, &p_big, &mut context)?;
        let rsa = RsaPrivateKeyBuilder::new(n_big, e_big, d_big)?
            .set_factors(p_big, q_big)?
            .set_crt_params(dmp1, dmq1, iqmp)?
            .build();
        PKey::from_rsa(rsa)
    })();
    crt.map_err(openssl)
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

    /// A small RSA key's parameters: n, e, d, p, q (big-endian).
    fn parameters() -> [Vec<u8>; 5] {
        let key = openssl::rsa::Rsa::generate(1024).unwrap();
        [
            key.n().to_vec(),
            key.e().to_vec(),
            key.d().to_vec(),
            key.p().unwrap().to_vec(),
            key.q().unwrap().to_vec(),
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
