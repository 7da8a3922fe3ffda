//! Signing keys EL7 can verify: RSA, with the *primary* key signing (rpm 4.11 cannot use signing
//! subkeys and cannot verify EdDSA or ECDSA). Loading refuses anything else with a message saying
//! what to use instead; `keygen` creates such a key.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use pgp::composed::{
    ArmorOptions, Deserializable, KeyType, SecretKeyParamsBuilder, SignedPublicKey, SignedSecretKey,
};
use pgp::crypto::public_key::PublicKeyAlgorithm;
use pgp::types::{KeyDetails, PublicParams};
use rsa::traits::PublicKeyParts;

/// RSA key sizes a build signs with: below 2048 bits is too weak to trust, and AWS-LC (the package
/// signer's RSA) takes no key above 8192 bits.
const MIN_RSA_BITS: usize = 2048;
const MAX_RSA_BITS: usize = 8192;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{}: cannot read the signing key: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{}: the secret key file is {exposure} (mode {mode:04o}); run `chmod 600 {}` and use it again",
        path.display(),
        path.display()
    )]
    Exposed {
        path: PathBuf,
        mode: u32,
        exposure: &'static str,
    },
    #[error("{}: not an OpenPGP secret key ({detail}); export one with `gpg --armor --export-secret-keys KEYID`", path.display())]
    Parse { path: PathBuf, detail: String },
    #[error(
        "{}: the key is {algorithm}; EL7's rpm 4.11 verifies only RSA signatures: create an RSA key (`hostnet keygen`, or `gpg --quick-gen-key NAME rsa4096 sign`)",
        path.display()
    )]
    NotRsa { path: PathBuf, algorithm: String },
    #[error(
        "{}: this is a public key; --key (or HOSTNET_SIGNING_KEY) takes the secret key it belongs to (`hostnet keygen` writes both; gpg exports it with `gpg --armor --export-secret-keys KEYID`)",
        path.display()
    )]
    PublicKey { path: PathBuf },
    #[error(
        "{}: the RSA key has {bits} bits; use {MIN_RSA_BITS} to {MAX_RSA_BITS} (`hostnet keygen` makes 4096)",
        path.display()
    )]
    UnusableSize { path: PathBuf, bits: usize },
    #[error(
        "{}: the primary key cannot sign (only a subkey can); rpm 4.11 cannot use signing subkeys: create a key whose primary key signs (`hostnet keygen`, or `gpg --quick-gen-key NAME rsa4096 sign`)",
        path.display()
    )]
    SubkeyOnly { path: PathBuf },
    #[error(
        "{}: cannot sign with the key: {detail}; if it is protected by a passphrase, give it with HOSTNET_KEY_PASSPHRASE or --passphrase-file",
        path.display()
    )]
    Unlock { path: PathBuf, detail: String },
    #[error("{}: cannot read the passphrase file: {source}", path.display())]
    Passphrase {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: already exists; hostnet keygen never overwrites a key (remove it or choose another path)", .0.display())]
    Exists(PathBuf),
    #[error("key generation failed: {0}")]
    Generate(String),
    #[error("{}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A loaded, checked signing key.
pub struct SigningKey {
    /// The key as read, for [`SigningKey::reference_signer`].
    secret: SignedSecretKey,
    passphrase: Option<String>,
    /// Signs packages (two signatures each): AWS-LC's RSA with the key unlocked once.
    pub package_signer: super::signer::PackageSigner,
    pub public_key: SignedPublicKey,
    /// Upper-case hex, as `rpm -qi gpg-pubkey` and `rpm -K` show the short form.
    pub fingerprint: String,
    pub user_id: String,
    /// When the primary key was made (Unix time).
    pub created: u32,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

impl SigningKey {
    /// Loads an armored (or binary) secret key and checks everything EL7 needs.
    pub fn load(path: &Path, passphrase: Option<String>) -> Result<SigningKey, KeyError> {
        let metadata = std::fs::metadata(path).map_err(|source| KeyError::Read {
            path: path.into(),
            source,
        })?;
        let bytes = std::fs::read(path).map_err(|source| KeyError::Read {
            path: path.into(),
            source,
        })?;
        // Said first: a public key's mode is no reason to refuse it, its being public is.
        if is_public_key(&bytes) {
            return Err(KeyError::PublicKey { path: path.into() });
        }
        let mode = metadata.permissions().mode() & 0o7777;
        // Readable by others leaks the key; writable by group or others lets them swap in
        // their own key, which every host then trusts.
        let exposure = if mode & 0o004 != 0 {
            Some("readable by every user")
        } else if mode & 0o002 != 0 {
            Some("writable by every user")
        } else if mode & 0o020 != 0 {
            Some("writable by its group")
        } else {
            None
        };
        if let Some(exposure) = exposure {
            return Err(KeyError::Exposed {
                path: path.into(),
                mode,
                exposure,
            });
        }
        let parse_error = |detail: String| KeyError::Parse {
            path: path.into(),
            detail,
        };
        let secret = if bytes.starts_with(b"-----BEGIN") {
            SignedSecretKey::from_armor_single(bytes.as_slice()).map(|(k, _)| k)
        } else {
            SignedSecretKey::from_bytes(bytes.as_slice())
        }
        .map_err(|e| parse_error(e.to_string()))?;
        secret
            .verify_bindings()
            .map_err(|e| parse_error(format!("its self-signatures do not verify: {e}")))?;

        let primary = &secret.primary_key;
        match primary.public_params() {
            PublicParams::RSA(params) => {
                let bits = params.key.size() * 8;
                if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
                    return Err(KeyError::UnusableSize {
                        path: path.into(),
                        bits,
                    });
                }
            }
            _ => {
                return Err(KeyError::NotRsa {
                    path: path.into(),
                    algorithm: algorithm_name(primary.algorithm()),
                });
            }
        }
        if !primary_can_sign(&secret) {
            return Err(KeyError::SubkeyOnly { path: path.into() });
        }

        let fingerprint_bytes = primary.fingerprint().as_bytes().to_vec();
        let package_signer = super::signer::PackageSigner::new(&secret, passphrase.as_deref())
            .map_err(|detail| KeyError::Unlock {
                path: path.into(),
                detail,
            })?;
        // The package signer has unlocked the key and checked it: a wrong passphrase or a damaged
        // key has already failed, with a clear message, rather than in the middle of a build.

        let user_id = secret
            .details
            .users
            .first()
            .map(|u| String::from_utf8_lossy(u.id.id()).into_owned())
            .unwrap_or_default();
        let created = primary.created_at().as_secs();
        Ok(SigningKey {
            created,
            package_signer,
            public_key: secret.to_public_key(),
            secret,
            passphrase,
            fingerprint: hex::encode(&fingerprint_bytes).to_ascii_uppercase(),
            user_id,
        })
    }

    /// The `rpm` crate's own signer (the `pgp` crate's RSA) for this key: the reference the
    /// package signer is tested and benchmarked against. Made on demand: parsing the key again
    /// and setting up a second RSA key costs about one RSA-4096 signature.
    pub fn reference_signer(&self) -> Result<rpm::signature::pgp::Signer, String> {
        let armored = self
            .secret
            .to_armored_string(ArmorOptions::default())
            .map_err(|e| e.to_string())?;
        let fingerprint = self.secret.primary_key.fingerprint().as_bytes().to_vec();
        let signer = rpm::signature::pgp::Signer::from_asc(&armored)
            .and_then(|s| s.with_signing_key(&fingerprint))
            .map_err(|e| e.to_string())?;
        Ok(match &self.passphrase {
            Some(passphrase) => signer.with_key_passphrase(passphrase.clone()),
            None => signer,
        })
    }

    pub fn public_key_armored(&self) -> String {
        self.public_key
            .to_armored_string(ArmorOptions::default())
            .expect("a parsed public key serialises")
    }

    /// An armored detached signature of `data` (what `gpg --armor --detach-sign` writes), made at
    /// `time`: `repodata/repomd.xml.asc`, which yum checks with `repo_gpgcheck=1`. gpg (behind
    /// yum and dnf) refuses a signature older than its key, so the time is never earlier than the
    /// key's creation; it stays reproducible, since both are fixed.
    pub fn detached_signature(&self, data: &[u8], time: u32) -> Result<String, String> {
        let time = time.max(self.created);
        use pgp::composed::Deserializable as _;
        use rpm::signature::Signing as _;
        // The package signer's packets are the pgp crate's byte for byte, at a fraction of the cost.
        let packet = self
            .package_signer
            .sign(data, rpm::Timestamp(time))
            .map_err(|e| root_cause(&e))?;
        let signature =
            pgp::composed::DetachedSignature::from_bytes(&packet[..]).map_err(|e| e.to_string())?;
        signature
            .to_armored_string(ArmorOptions::default())
            .map_err(|e| e.to_string())
    }

    /// Whether `armored` is a valid detached signature of `data` by this key.
    pub fn verifies(&self, data: &[u8], armored: &[u8]) -> bool {
        use pgp::composed::Deserializable as _;
        let Ok(text) = std::str::from_utf8(armored) else {
            return false;
        };
        pgp::composed::DetachedSignature::from_string(text).is_ok_and(|(signature, _)| {
            signature.verify(&self.public_key.primary_key, data).is_ok()
        })
    }

    /// The 8-byte key id: the last 8 bytes of the fingerprint.
    pub fn key_id(&self) -> Vec<u8> {
        hex::decode(&self.fingerprint[self.fingerprint.len() - 16..]).expect("a fingerprint is hex")
    }

    /// The 8-hex-digit key id rpm prints (`gpg-pubkey-<id>`), lower case.
    pub fn short_id(&self) -> String {
        self.fingerprint[self.fingerprint.len() - 8..].to_ascii_lowercase()
    }
}

/// Whether the primary key carries the signing capability. Key flags live on the self-signatures;
/// a key whose self-signatures carry no flags at all predates them and may sign.
/// An armored public key block, or a binary one (its first packet a public key, tag 6, in the old or
/// the new packet format).
fn is_public_key(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
    if text.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----")
        && !text.contains("-----BEGIN PGP PRIVATE KEY BLOCK-----")
    {
        return true;
    }
    match bytes.first() {
        Some(&first) if first & 0xc0 == 0xc0 => first & 0x3f == 6,
        Some(&first) if first & 0x80 == 0x80 => (first >> 2) & 0x0f == 6,
        _ => false,
    }
}

fn primary_can_sign(key: &SignedSecretKey) -> bool {
    let signatures = key
        .details
        .users
        .iter()
        .flat_map(|u| u.signatures.iter())
        .chain(key.details.direct_signatures.iter());
    let mut any_flags = false;
    for signature in signatures {
        let flags = signature.key_flags();
        if flags.sign() {
            return true;
        }
        any_flags |= flags != Default::default();
    }
    !any_flags
}

fn algorithm_name(algorithm: PublicKeyAlgorithm) -> String {
    match algorithm {
        PublicKeyAlgorithm::EdDSALegacy
        | PublicKeyAlgorithm::Ed25519
        | PublicKeyAlgorithm::Ed448 => "EdDSA".into(),
        PublicKeyAlgorithm::ECDSA => "ECDSA".into(),
        PublicKeyAlgorithm::DSA => "DSA".into(),
        other => format!("{other:?}"),
    }
}

fn root_cause(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message = cause.to_string();
        source = cause.source();
    }
    message
}

/// Reads a passphrase: the file's first line, or the environment variable.
pub fn read_passphrase(file: Option<&Path>, env_var: &str) -> Result<Option<String>, KeyError> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Passphrase {
            path: path.into(),
            source,
        })?;
        return Ok(Some(text.lines().next().unwrap_or("").to_string()));
    }
    Ok(std::env::var(env_var).ok().filter(|p| !p.is_empty()))
}

/// What `hostnet keygen` makes.
pub struct KeygenRequest<'a> {
    pub user_id: &'a str,
    pub bits: usize,
    pub passphrase: Option<String>,
    pub secret_path: &'a Path,
    pub public_path: &'a Path,
}

/// Creates an RSA key whose primary key signs (and certifies), with no subkeys; writes the secret key
/// armored with mode 0600 and the public key as an armored `RPM-GPG-KEY-*` file. Never overwrites.
pub fn keygen(request: &KeygenRequest) -> Result<String, KeyError> {
    for path in [request.secret_path, request.public_path] {
        if path.exists() {
            return Err(KeyError::Exists(path.into()));
        }
    }
    let mut params = SecretKeyParamsBuilder::default();
    params
        .key_type(KeyType::Rsa(request.bits as u32))
        .can_sign(true)
        .can_certify(true)
        .primary_user_id(request.user_id.to_string())
        .passphrase(request.passphrase.clone());
    let secret = params
        .build()
        .map_err(|e| KeyError::Generate(e.to_string()))?
        .generate(rand::thread_rng())
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    let armored_secret = secret
        .to_armored_string(ArmorOptions::default())
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    let armored_public = secret
        .to_public_key()
        .to_armored_string(ArmorOptions::default())
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    write_new(request.secret_path, armored_secret.as_bytes(), 0o600)?;
    if let Err(error) = write_new(request.public_path, armored_public.as_bytes(), 0o644) {
        let _ = std::fs::remove_file(request.secret_path);
        return Err(error);
    }
    Ok(hex::encode(secret.primary_key.fingerprint().as_bytes()).to_ascii_uppercase())
}

/// Creates `path` with `mode` from the start (the secret never exists with wider permissions), failing
/// if it exists.
fn write_new(path: &Path, content: &[u8], mode: u32) -> Result<(), KeyError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let write_error = |source| KeyError::Write {
        path: path.into(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(write_error)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                KeyError::Exists(path.into())
            } else {
                write_error(e)
            }
        })?;
    file.write_all(content).map_err(write_error)?;
    file.sync_all().map_err(write_error)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(write_error)
}
