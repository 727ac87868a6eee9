//! The plaintext of a SecAgg+ share message, as Flower's
//! `share_keys_plaintext_concat` and `share_keys_plaintext_separate` lay it out:
//! `src (u64 LE) ‖ dst (u64 LE) ‖ len(rd_seed share) (u32 LE) ‖ rd_seed share ‖ sk1
//! share`.

use thiserror::Error;

/// The fixed part: two node ids and the first share's length.
const HEADER: usize = 8 + 8 + 4;

/// A share message's plaintext, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharePlaintext {
    /// The node that made the shares.
    pub src: u64,
    /// The node the shares are for.
    pub dst: u64,
    /// The share of `src`'s private mask seed (`rd_seed`).
    pub rd_seed_share: Vec<u8>,
    /// The share of `src`'s first private key (`sk1`, PEM).
    pub sk1_share: Vec<u8>,
}

/// A plaintext that is too short for its header or for the length it declares.
/// (Python's slicing would read such bytes as zeros and empty shares; a feddx node
/// refuses them.)
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("malformed share plaintext: {len} bytes, declaring a first share of {declared}")]
pub struct PlaintextError {
    /// The plaintext's length.
    pub len: usize,
    /// The first share's length it declares (0 if too short to declare one).
    pub declared: usize,
}

impl SharePlaintext {
    /// Flower's `share_keys_plaintext_concat(src, dst, b_share, sk_share)`.
    pub fn concat(&self) -> Vec<u8> {
        let mut bytes =
            Vec::with_capacity(HEADER + self.rd_seed_share.len() + self.sk1_share.len());
        bytes.extend_from_slice(&self.src.to_le_bytes());
        bytes.extend_from_slice(&self.dst.to_le_bytes());
        // Shares are a few hundred bytes; a u32 holds any Flower makes.
        bytes.extend_from_slice(&(self.rd_seed_share.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&self.rd_seed_share);
        bytes.extend_from_slice(&self.sk1_share);
        bytes
    }

    /// Flower's `share_keys_plaintext_separate(plaintext)`.
    pub fn separate(bytes: &[u8]) -> Result<SharePlaintext, PlaintextError> {
        let malformed = |declared| PlaintextError {
            len: bytes.len(),
            declared,
        };
        if bytes.len() < HEADER {
            return Err(malformed(0));
        }
        let u64_at = |at: usize| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(word)
        };
        let declared = u32::from_le_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]) as usize;
        let rest = &bytes[HEADER..];
        if declared > rest.len() {
            return Err(malformed(declared));
        }
        Ok(SharePlaintext {
            src: u64_at(0),
            dst: u64_at(8),
            rd_seed_share: rest[..declared].to_vec(),
            sk1_share: rest[declared..].to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concat_and_separate_are_inverse() {
        let plaintext = SharePlaintext {
            src: u64::MAX - 1,
            dst: 42,
            rd_seed_share: vec![1, 2, 3],
            sk1_share: vec![9; 10],
        };
        let bytes = plaintext.concat();
        assert_eq!(bytes.len(), 20 + 3 + 10);
        assert_eq!(&bytes[8..16], &42u64.to_le_bytes());
        assert_eq!(&bytes[16..20], &3u32.to_le_bytes());
        assert_eq!(SharePlaintext::separate(&bytes).unwrap(), plaintext);
    }

    #[test]
    fn truncated_plaintexts_are_errors() {
        let bytes = SharePlaintext {
            src: 1,
            dst: 2,
            rd_seed_share: vec![5; 8],
            sk1_share: vec![],
        }
        .concat();
        assert_eq!(
            SharePlaintext::separate(&bytes[..19]),
            Err(PlaintextError {
                len: 19,
                declared: 0
            })
        );
        assert_eq!(
            SharePlaintext::separate(&bytes[..27]),
            Err(PlaintextError {
                len: 27,
                declared: 8
            })
        );
    }
}
