//! The node's identity: an ECDSA P-384 key pair that signs every Fleet API request.
//!
//! Flower's SuperLink authenticates each Fleet request by three headers
//! (`flwr/supernode/node_auth_http_interceptor.py`): the node's public key (PEM,
//! base64), the current time (ISO 8601, UTC), and an ECDSA signature of that time
//! with SHA-256 (DER, base64). A node without a registered key makes a fresh pair
//! and registers it itself; with `--enable-supernode-auth` on the SuperLink, the key
//! must have been registered beforehand (`flwr supernode register KEY.pub`), and the
//! node loads the matching private key, in OpenSSH format as `ssh-keygen -t ecdsa -b
//! 384` writes it, or as PKCS#8 PEM.

use std::path::Path;
use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use p384::ecdsa::signature::hazmat::PrehashSigner;
use p384::ecdsa::{DerSignature, SigningKey};
use p384::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Header with the node's public key.
pub const PUBLIC_KEY_HEADER: &str = "flwr-public-key";
/// Header with the signed timestamp.
pub const TIMESTAMP_HEADER: &str = "flwr-timestamp";
/// Header with the timestamp's signature.
pub const SIGNATURE_HEADER: &str = "flwr-signature";

/// A key that cannot be read or used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key file cannot be read.
    #[error("cannot read the key file `{path}`: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file holds no ECDSA P-384 private key in OpenSSH or PKCS#8 PEM format.
    #[error("`{path}` holds no ECDSA P-384 private key (OpenSSH or PKCS#8 PEM): {reason}")]
    Parse {
        /// The file.
        path: String,
        /// What the parsers said.
        reason: String,
    },
    /// The key cannot be encoded (does not happen for valid P-384 keys).
    #[error("cannot encode the key: {reason}")]
    Encode {
        /// What the encoder said.
        reason: String,
    },
}

/// The node's ECDSA P-384 key pair and its public key as Flower sends it.
#[derive(Clone)]
pub struct NodeKeys {
    signing: SigningKey,
    public_pem: String,
}

impl std::fmt::Debug for NodeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeKeys")
            .field("public_pem", &self.public_pem)
            .finish_non_exhaustive()
    }
}

impl NodeKeys {
    /// A fresh key pair, as an unregistered SuperNode makes at start.
    pub fn generate() -> Self {
        Self::from_signing_key(SigningKey::random(&mut rand::rngs::OsRng))
    }

    /// Wraps a signing key.
    pub fn from_signing_key(signing: SigningKey) -> Self {
        let public_pem = signing
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("a P-384 public key always encodes as SubjectPublicKeyInfo PEM");
        Self {
            signing,
            public_pem,
        }
    }

    /// Loads a private key file: OpenSSH (`-----BEGIN OPENSSH PRIVATE KEY-----`, as
    /// `ssh-keygen -t ecdsa -b 384 -N ""` writes it) or PKCS#8 PEM.
    ///
    /// # Errors
    /// [`KeyError::Read`] or [`KeyError::Parse`].
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_private_key_text(&text).map_err(|reason| KeyError::Parse {
            path: path.display().to_string(),
            reason,
        })
    }

    fn from_private_key_text(text: &str) -> Result<Self, String> {
        if text.contains("OPENSSH PRIVATE KEY") {
            let key = ssh_key::PrivateKey::from_openssh(text).map_err(|e| e.to_string())?;
            let ssh_key::private::KeypairData::Ecdsa(ssh_key::private::EcdsaKeypair::NistP384 {
                private,
                ..
            }) = key.key_data()
            else {
                return Err(format!("the key is {}, not ECDSA P-384", key.algorithm()));
            };
            let signing = SigningKey::from_slice(private.as_slice()).map_err(|e| e.to_string())?;
            return Ok(Self::from_signing_key(signing));
        }
        let signing = SigningKey::from_pkcs8_pem(text).map_err(|e| e.to_string())?;
        Ok(Self::from_signing_key(signing))
    }

    /// The public key in OpenSSH format (`ecdsa-sha2-nistp384 AAAA...`), as
    /// `flwr supernode register` reads it.
    ///
    /// # Errors
    /// [`KeyError::Encode`] (not expected for a valid key).
    pub fn public_key_openssh(&self) -> Result<String, KeyError> {
        let point = self.signing.verifying_key().to_encoded_point(false);
        let public = ssh_key::public::EcdsaPublicKey::NistP384(point);
        ssh_key::PublicKey::new(ssh_key::public::KeyData::Ecdsa(public), "feddx-node")
            .to_openssh()
            .map_err(|e| KeyError::Encode {
                reason: e.to_string(),
            })
    }

    /// The private key in OpenSSH format, as `ssh-keygen` writes it.
    ///
    /// # Errors
    /// [`KeyError::Encode`] (not expected for a valid key).
    pub fn private_key_openssh(&self) -> Result<String, KeyError> {
        let encode = |e: ssh_key::Error| KeyError::Encode {
            reason: e.to_string(),
        };
        let pair = ssh_key::private::EcdsaKeypair::NistP384 {
            public: self.signing.verifying_key().to_encoded_point(false),
            private: ssh_key::private::EcdsaPrivateKey::from(p384::SecretKey::from(
                self.signing.as_nonzero_scalar(),
            )),
        };
        let key =
            ssh_key::PrivateKey::new(ssh_key::private::KeypairData::Ecdsa(pair), "feddx-node")
                .map_err(encode)?;
        Ok(key
            .to_openssh(ssh_key::LineEnding::LF)
            .map_err(encode)?
            .to_string())
    }

    /// The public key as Flower identifies a node by it: SubjectPublicKeyInfo PEM bytes.
    pub fn public_key_pem(&self) -> &[u8] {
        self.public_pem.as_bytes()
    }

    /// The three authentication headers for a request sent at `now`.
    pub fn headers(&self, now: SystemTime) -> [(&'static str, String); 3] {
        let timestamp = iso_timestamp(now);
        // ECDSA over SHA-256 of the timestamp, as `ec.ECDSA(hashes.SHA256())` signs:
        // the 32-byte digest is the prehash of a P-384 signature.
        let signature: p384::ecdsa::Signature = self
            .signing
            .sign_prehash(&Sha256::digest(timestamp.as_bytes()))
            .expect("a 32-byte prehash is always accepted by P-384 ECDSA");
        let signature: DerSignature = signature.to_der();
        [
            (PUBLIC_KEY_HEADER, BASE64.encode(self.public_pem.as_bytes())),
            (SIGNATURE_HEADER, BASE64.encode(signature.as_bytes())),
            (TIMESTAMP_HEADER, timestamp),
        ]
    }
}

/// `now` as Python's `datetime.now(tz=UTC).isoformat()` writes it:
/// `2026-11-27T05:09:16.123456+00:00`.
pub fn iso_timestamp(now: SystemTime) -> String {
    let rfc3339 = humantime::format_rfc3339_micros(now).to_string();
    match rfc3339.strip_suffix('Z') {
        Some(base) => format!("{base}+00:00"),
        None => rfc3339,
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use p384::ecdsa::signature::hazmat::PrehashVerifier;
    use p384::ecdsa::VerifyingKey;
    use p384::pkcs8::DecodePublicKey;

    use super::*;

    #[test]
    fn timestamps_are_python_isoformat() {
        let t = UNIX_EPOCH + Duration::from_micros(1_795_753_661_366_328);
        assert_eq!(iso_timestamp(t), "2026-11-27T04:27:41.366328+00:00");
    }

    #[test]
    fn headers_carry_a_signature_of_the_timestamp() {
        let keys = NodeKeys::generate();
        let [(k0, public), (k1, signature), (k2, timestamp)] = keys.headers(SystemTime::now());
        assert_eq!(
            [k0, k1, k2],
            [PUBLIC_KEY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER]
        );
        let pem = String::from_utf8(BASE64.decode(public).unwrap()).unwrap();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        let verifying = VerifyingKey::from_public_key_pem(&pem).unwrap();
        let signature =
            DerSignature::try_from(BASE64.decode(signature).unwrap().as_slice()).unwrap();
        let signature = p384::ecdsa::Signature::from_der(signature.as_bytes()).unwrap();
        let digest = Sha256::digest(timestamp.as_bytes());
        assert!(verifying.verify_prehash(&digest, &signature).is_ok());
        let other = Sha256::digest(b"2000-01-01T00:00:00.000000+00:00");
        assert!(verifying.verify_prehash(&other, &signature).is_err());
    }

    #[test]
    fn openssh_keys_round_trip() {
        let keys = NodeKeys::generate();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node_key");
        std::fs::write(&path, keys.private_key_openssh().unwrap()).unwrap();
        let loaded = NodeKeys::from_file(&path).unwrap();
        assert_eq!(loaded.public_key_pem(), keys.public_key_pem());
        assert!(keys
            .public_key_openssh()
            .unwrap()
            .starts_with("ecdsa-sha2-nistp384 "));
    }

    #[test]
    fn a_file_without_a_key_is_a_parse_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not_a_key");
        std::fs::write(&path, "hello").unwrap();
        let err = NodeKeys::from_file(&path).unwrap_err();
        assert!(matches!(err, KeyError::Parse { .. }), "{err}");
        let missing = NodeKeys::from_file(&dir.path().join("absent")).unwrap_err();
        assert!(matches!(missing, KeyError::Read { .. }), "{missing}");
    }
}
