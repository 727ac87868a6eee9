//! SecAgg+'s key agreement, as Flower's `flwr.supercore.primitives.asymmetric` and
//! `generate_shared_key` do it: key pairs on SECP384R1 (P-384), private keys as
//! unencrypted PKCS#8 PEM, public keys as SubjectPublicKeyInfo PEM, and a shared key
//! that is ECDH's x-coordinate through HKDF-SHA256 (no salt, no info, 32 bytes),
//! urlsafe-base64 encoded: a Fernet key.

use base64::engine::general_purpose::URL_SAFE;
use base64::Engine as _;
use hkdf::Hkdf;
use p384::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use p384::{PublicKey, SecretKey};
use rand::rngs::OsRng;
use sha2::Sha256;
use thiserror::Error;

/// Why a key's bytes cannot be read or written.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Bytes that are not a PEM SubjectPublicKeyInfo of a P-384 point.
    #[error("malformed public key: {0}")]
    PublicKey(String),
    /// Bytes that are not an unencrypted PKCS#8 PEM P-384 private key.
    #[error("malformed private key: {0}")]
    PrivateKey(String),
}

/// A fresh P-384 key pair from the OS's randomness, as Flower's `generate_key_pairs`.
pub fn generate_key_pair() -> (SecretKey, PublicKey) {
    let secret = SecretKey::random(&mut OsRng);
    let public = secret.public_key();
    (secret, public)
}

/// A private key's bytes as Flower's `private_key_to_bytes`: PKCS#8 PEM, LF line
/// endings, unencrypted.
pub fn private_key_to_bytes(key: &SecretKey) -> Result<Vec<u8>, KeyError> {
    key.to_pkcs8_pem(LineEnding::LF)
        .map(|pem| pem.as_bytes().to_vec())
        .map_err(|error| KeyError::PrivateKey(error.to_string()))
}

/// Flower's `bytes_to_private_key`: the key PKCS#8 PEM bytes hold.
pub fn bytes_to_private_key(bytes: &[u8]) -> Result<SecretKey, KeyError> {
    let pem =
        std::str::from_utf8(bytes).map_err(|_| KeyError::PrivateKey("not PEM text".to_string()))?;
    SecretKey::from_pkcs8_pem(pem).map_err(|error| KeyError::PrivateKey(error.to_string()))
}

/// A public key's bytes as Flower's `public_key_to_bytes`: SubjectPublicKeyInfo PEM
/// with the uncompressed point, LF line endings.
pub fn public_key_to_bytes(key: &PublicKey) -> Result<Vec<u8>, KeyError> {
    key.to_public_key_pem(LineEnding::LF)
        .map(String::into_bytes)
        .map_err(|error| KeyError::PublicKey(error.to_string()))
}

/// Flower's `bytes_to_public_key`: the P-384 point SubjectPublicKeyInfo PEM bytes
/// hold (compressed or not); anything else, including a point of another curve, is
/// [`KeyError::PublicKey`].
pub fn bytes_to_public_key(bytes: &[u8]) -> Result<PublicKey, KeyError> {
    let pem =
        std::str::from_utf8(bytes).map_err(|_| KeyError::PublicKey("not PEM text".to_string()))?;
    PublicKey::from_public_key_pem(pem).map_err(|error| KeyError::PublicKey(error.to_string()))
}

/// Flower's `generate_shared_key(private_key, public_key)`: the 44 bytes of the
/// urlsafe base64 (padded) of HKDF-SHA256(ECDH x-coordinate), 32 bytes long. Both
/// ends of a pair get the same bytes; they are a Fernet key, and SecAgg+ also seeds
/// its pairwise masks with them as they are.
pub fn generate_shared_key(private_key: &SecretKey, public_key: &PublicKey) -> Vec<u8> {
    let shared =
        p384::ecdh::diffie_hellman(private_key.to_nonzero_scalar(), public_key.as_affine());
    let hkdf = Hkdf::<Sha256>::new(None, shared.raw_secret_bytes());
    let mut derived = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's limit of 255 * 32.
    if hkdf.expand(&[], &mut derived).is_err() {
        unreachable!("HKDF-SHA256 expands to 32 bytes");
    }
    URL_SAFE.encode(derived).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ends_agree_on_the_shared_key() {
        let (a_secret, a_public) = generate_key_pair();
        let (b_secret, b_public) = generate_key_pair();
        let ab = generate_shared_key(&a_secret, &b_public);
        assert_eq!(ab, generate_shared_key(&b_secret, &a_public));
        assert_eq!(ab.len(), 44);
        assert_eq!(URL_SAFE.decode(&ab).unwrap().len(), 32);
        let (_, c_public) = generate_key_pair();
        assert_ne!(ab, generate_shared_key(&a_secret, &c_public));
    }

    #[test]
    fn keys_round_trip_through_pem() {
        let (secret, public) = generate_key_pair();
        let secret_pem = private_key_to_bytes(&secret).unwrap();
        assert!(secret_pem.starts_with(b"-----BEGIN PRIVATE KEY-----\n"));
        assert_eq!(bytes_to_private_key(&secret_pem).unwrap(), secret);
        let public_pem = public_key_to_bytes(&public).unwrap();
        assert!(public_pem.starts_with(b"-----BEGIN PUBLIC KEY-----\n"));
        assert_eq!(bytes_to_public_key(&public_pem).unwrap(), public);
    }

    #[test]
    fn malformed_keys_are_errors() {
        assert!(matches!(
            bytes_to_public_key(b"\xff"),
            Err(KeyError::PublicKey(_))
        ));
        assert!(matches!(
            bytes_to_public_key(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
            Err(KeyError::PublicKey(_))
        ));
        let (secret, _) = generate_key_pair();
        // A private key where a public one is expected.
        let secret_pem = private_key_to_bytes(&secret).unwrap();
        assert!(matches!(
            bytes_to_public_key(&secret_pem),
            Err(KeyError::PublicKey(_))
        ));
        assert!(matches!(
            bytes_to_private_key(b"junk"),
            Err(KeyError::PrivateKey(_))
        ));
    }
}
