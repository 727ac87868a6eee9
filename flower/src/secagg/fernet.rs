//! Fernet, as Python's `cryptography.fernet.Fernet` encrypts and decrypts SecAgg+'s
//! share messages (Flower's `encrypt`/`decrypt`).
//!
//! The key is 32 bytes in urlsafe base64: the first 16 sign (HMAC-SHA256), the last
//! 16 encrypt (AES-128-CBC, PKCS#7). A token is the urlsafe base64 (padded) of
//! `0x80 ‖ timestamp (u64, big-endian seconds) ‖ IV (16) ‖ ciphertext ‖ HMAC (32)`,
//! the MAC covering everything before it. As in Python without a TTL, decryption
//! checks no time at all.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::URL_SAFE;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::Sha256;
use thiserror::Error;

/// Fernet's version byte.
const VERSION: u8 = 0x80;
/// Version, timestamp and IV: what precedes the ciphertext.
const HEADER: usize = 1 + 8 + 16;
/// The HMAC-SHA256 tag at the end of a token.
const TAG: usize = 32;

/// Why Fernet cannot encrypt or decrypt.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FernetError {
    /// The key is not 32 bytes in urlsafe base64.
    #[error("a Fernet key must be 32 url-safe base64-encoded bytes")]
    BadKey,
    /// The token is not base64, not Fernet's version, too short, its MAC does not
    /// match (tampered, or another key), or its plaintext is not padded: Python's
    /// `InvalidToken`.
    #[error("invalid Fernet token")]
    InvalidToken,
}

/// A Fernet key: its signing and encryption halves.
struct Key {
    signing: [u8; 16],
    encryption: [u8; 16],
}

impl Key {
    /// Python's `Fernet(key)`: the urlsafe base64 of 32 bytes.
    fn parse(key: &[u8]) -> Result<Key, FernetError> {
        let raw = URL_SAFE.decode(key).map_err(|_| FernetError::BadKey)?;
        if raw.len() != 32 {
            return Err(FernetError::BadKey);
        }
        let mut signing = [0u8; 16];
        let mut encryption = [0u8; 16];
        signing.copy_from_slice(&raw[..16]);
        encryption.copy_from_slice(&raw[16..]);
        Ok(Key {
            signing,
            encryption,
        })
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length.
        match Hmac::<Sha256>::new_from_slice(&self.signing) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts a 16-byte key"),
        }
    }
}

/// Flower's `encrypt(key, plaintext)`: a Fernet token (urlsafe base64 bytes) stamped
/// with the current time and a random IV from the OS.
pub fn encrypt(key: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, FernetError> {
    let mut iv = [0u8; 16];
    OsRng.fill_bytes(&mut iv);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    encrypt_at(key, plaintext, now, iv)
}

/// A Fernet token with a given timestamp and IV, for [`encrypt`] and for tests that
/// reproduce Python's tokens byte for byte.
pub fn encrypt_at(
    key: &[u8],
    plaintext: &[u8],
    timestamp: u64,
    iv: [u8; 16],
) -> Result<Vec<u8>, FernetError> {
    let key = Key::parse(key)?;
    let cipher = cbc::Encryptor::<aes::Aes128>::new(&key.encryption.into(), &iv.into());
    let ciphertext = cipher.encrypt_padded_vec_mut::<Pkcs7>(plaintext);
    let mut token = Vec::with_capacity(HEADER + ciphertext.len() + TAG);
    token.push(VERSION);
    token.extend_from_slice(&timestamp.to_be_bytes());
    token.extend_from_slice(&iv);
    token.extend_from_slice(&ciphertext);
    let mut mac = key.mac();
    mac.update(&token);
    token.extend_from_slice(&mac.finalize().into_bytes());
    Ok(URL_SAFE.encode(token).into_bytes())
}

/// Flower's `decrypt(key, ciphertext)`: the plaintext of a Fernet token, after
/// checking its version and MAC (in constant time). No TTL, so no clock check.
pub fn decrypt(key: &[u8], token: &[u8]) -> Result<Vec<u8>, FernetError> {
    let key = Key::parse(key)?;
    let data = URL_SAFE
        .decode(token)
        .map_err(|_| FernetError::InvalidToken)?;
    if data.len() < HEADER + TAG || data[0] != VERSION {
        return Err(FernetError::InvalidToken);
    }
    let (message, tag) = data.split_at(data.len() - TAG);
    let mut mac = key.mac();
    mac.update(message);
    mac.verify_slice(tag)
        .map_err(|_| FernetError::InvalidToken)?;
    let mut iv = [0u8; 16];
    iv.copy_from_slice(&message[9..HEADER]);
    cbc::Decryptor::<aes::Aes128>::new(&key.encryption.into(), &iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(&message[HEADER..])
        .map_err(|_| FernetError::InvalidToken)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";

    #[test]
    fn tokens_round_trip() {
        for plaintext in [&b""[..], b"x", &[7u8; 16], &[1u8; 100]] {
            let token = encrypt(KEY, plaintext).unwrap();
            assert_eq!(decrypt(KEY, &token).unwrap(), plaintext);
        }
    }

    /// The specification's vector (github.com/fernet/spec, generate.json).
    #[test]
    fn matches_the_spec_vector() {
        let iv: [u8; 16] = (0..16).collect::<Vec<u8>>().try_into().unwrap();
        let token = encrypt_at(KEY, b"hello", 499_162_800, iv).unwrap();
        assert_eq!(
            token,
            b"gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA==".to_vec()
        );
        assert_eq!(decrypt(KEY, &token).unwrap(), b"hello");
    }

    #[test]
    fn tampering_or_another_key_is_invalid() {
        let token = encrypt(KEY, b"share").unwrap();
        let mut raw = URL_SAFE.decode(&token).unwrap();
        raw[HEADER] ^= 1;
        let tampered = URL_SAFE.encode(&raw).into_bytes();
        assert_eq!(decrypt(KEY, &tampered), Err(FernetError::InvalidToken));
        let other = URL_SAFE.encode([9u8; 32]).into_bytes();
        assert_eq!(decrypt(&other, &token), Err(FernetError::InvalidToken));
        assert_eq!(decrypt(KEY, b"not base64!"), Err(FernetError::InvalidToken));
        assert_eq!(decrypt(KEY, b"gAAA"), Err(FernetError::InvalidToken));
        assert_eq!(decrypt(b"short", &token), Err(FernetError::BadKey));
    }
}
