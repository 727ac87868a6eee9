//! Shamir's secret sharing as Flower's `flwr.common.secure_aggregation.crypto.shamir`
//! does it on top of PyCryptodome's `Shamir` (`ssss=False`).
//!
//! The secret is padded with PKCS#7 to a multiple of 16 bytes and each 16-byte chunk
//! is split on its own, over PyCryptodome's GF(2^128) ([`Gf128`]): a random
//! polynomial of degree `threshold - 1` whose constant term is the chunk, evaluated at
//! x = 1, 2, …. Share i (1-based) is the 4-byte little-endian index i followed by the
//! 16-byte big-endian evaluations at i of every chunk's polynomial, in chunk order.

use rand::rngs::OsRng;
use rand::{CryptoRng, RngCore};
use thiserror::Error;

use super::gf128::Gf128;

/// The field's block: chunks and evaluations are 16 bytes.
const BLOCK: usize = 16;
/// The share's index prefix: a `u32`, little-endian.
const INDEX: usize = 4;

/// Why shares cannot be made or combined.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ShamirError {
    /// More shares were asked for than a 4-byte index can number.
    #[error("cannot make {0} shares: a share's index is 4 bytes")]
    TooManyShares(usize),
    /// No shares were given to combine.
    #[error("no shares to combine")]
    NoShares,
    /// A share is shorter than the first share's index and chunks.
    #[error("share {index} holds {len} bytes, fewer than the {needed} of the first share")]
    ShortShare {
        /// The share's position in the list given (0-based).
        index: usize,
        /// Its length.
        len: usize,
        /// The length of the first share's index and whole chunks.
        needed: usize,
    },
    /// Two shares carry the same index.
    #[error("two shares have the index {0}")]
    DuplicateShare(u32),
    /// The combined secret does not end in valid PKCS#7 padding: the shares are not
    /// of one secret, or too few.
    #[error("failed to combine shares")]
    BadPadding,
}

/// Flower's `create_shares(secret, threshold, num)`: the first `num` shares of
/// `secret`, any `threshold` of which recombine it. A `threshold` of 0 or 1 gives a
/// constant polynomial (every share holds the secret), as in PyCryptodome.
pub fn create_shares(
    secret: &[u8],
    threshold: usize,
    num: usize,
) -> Result<Vec<Vec<u8>>, ShamirError> {
    create_shares_with_rng(secret, threshold, num, &mut OsRng)
}

/// [`create_shares`] with the coefficients drawn from `rng`, 16 bytes each, chunk
/// after chunk, in the order PyCryptodome draws them: replaying the bytes Python's
/// `get_random_bytes` gave reproduces its shares exactly.
pub fn create_shares_with_rng<R: RngCore + CryptoRng>(
    secret: &[u8],
    threshold: usize,
    num: usize,
    rng: &mut R,
) -> Result<Vec<Vec<u8>>, ShamirError> {
    if u32::try_from(num).is_err() {
        return Err(ShamirError::TooManyShares(num));
    }
    let padded = pad(secret);
    let chunks = padded.len() / BLOCK;
    let mut shares: Vec<Vec<u8>> = (1..=num)
        .map(|index| {
            let mut share = Vec::with_capacity(INDEX + chunks * BLOCK);
            share.extend_from_slice(&(index as u32).to_le_bytes());
            share
        })
        .collect();
    for chunk in padded.chunks_exact(BLOCK) {
        // PyCryptodome's coefficients: k - 1 random ones, highest degree first, then
        // the chunk as the constant term; each share is Horner's method at its index.
        let mut coefficients: Vec<Gf128> = (1..threshold).map(|_| random_element(rng)).collect();
        coefficients.push(Gf128::from_bytes(block(chunk)));
        for (position, share) in shares.iter_mut().enumerate() {
            let x = Gf128((position + 1) as u128);
            let y = coefficients
                .iter()
                .fold(Gf128::ZERO, |acc, &coefficient| x * acc + coefficient);
            share.extend_from_slice(&y.to_bytes());
        }
    }
    Ok(shares)
}

/// Flower's `combine_shares(share_list)`: the secret that the shares' polynomials
/// take at 0, unpadded. As in Flower, the number of chunks comes from the first
/// share, and bytes beyond it in any share are ignored.
pub fn combine_shares<S: AsRef<[u8]>>(shares: &[S]) -> Result<Vec<u8>, ShamirError> {
    let first = shares.first().ok_or(ShamirError::NoShares)?.as_ref();
    let chunks = first.len().saturating_sub(INDEX) / BLOCK;
    let needed = INDEX + chunks * BLOCK;
    let mut points: Vec<(Gf128, &[u8])> = Vec::with_capacity(shares.len());
    for (position, share) in shares.iter().enumerate() {
        let share = share.as_ref();
        if share.len() < needed {
            return Err(ShamirError::ShortShare {
                index: position,
                len: share.len(),
                needed,
            });
        }
        let index = u32::from_le_bytes([share[0], share[1], share[2], share[3]]);
        let x = Gf128(u128::from(index));
        if points.iter().any(|(other, _)| *other == x) {
            return Err(ShamirError::DuplicateShare(index));
        }
        points.push((x, &share[INDEX..needed]));
    }
    // Lagrange's basis at 0 for each point: prod x_m / prod (x_j + x_m), m != j.
    let mut weights = Vec::with_capacity(points.len());
    for (j, (x_j, _)) in points.iter().enumerate() {
        let mut numerator = Gf128::ONE;
        let mut denominator = Gf128::ONE;
        for (m, (x_m, _)) in points.iter().enumerate() {
            if m != j {
                numerator = numerator * *x_m;
                denominator = denominator * (*x_j + *x_m);
            }
        }
        // Distinct indices make every denominator non-zero.
        let inverse = denominator.inverse().unwrap_or(Gf128::ZERO);
        weights.push(numerator * inverse);
    }
    let mut padded = Vec::with_capacity(chunks * BLOCK);
    for chunk in 0..chunks {
        let range = chunk * BLOCK..(chunk + 1) * BLOCK;
        let value = points
            .iter()
            .zip(&weights)
            .fold(Gf128::ZERO, |acc, ((_, ys), &weight)| {
                acc + Gf128::from_bytes(block(&ys[range.clone()])) * weight
            });
        padded.extend_from_slice(&value.to_bytes());
    }
    unpad(padded)
}

/// A uniformly random field element: 16 bytes of `rng`, big-endian, as PyCryptodome
/// reads `get_random_bytes(16)`.
fn random_element<R: RngCore>(rng: &mut R) -> Gf128 {
    let mut bytes = [0u8; BLOCK];
    rng.fill_bytes(&mut bytes);
    Gf128::from_bytes(bytes)
}

/// A 16-byte slice as an array; callers slice exactly [`BLOCK`] bytes.
fn block(bytes: &[u8]) -> [u8; BLOCK] {
    let mut out = [0u8; BLOCK];
    out.copy_from_slice(bytes);
    out
}

/// PKCS#7 padding to a multiple of 16 bytes: always 1 to 16 bytes of the pad length.
fn pad(secret: &[u8]) -> Vec<u8> {
    let pad = BLOCK - secret.len() % BLOCK;
    let mut padded = Vec::with_capacity(secret.len() + pad);
    padded.extend_from_slice(secret);
    padded.resize(secret.len() + pad, pad as u8);
    padded
}

/// PyCryptodome's `unpad(data, 16)` (PKCS#7): the pad length must be 1 to 16 and
/// every pad byte equal to it.
fn unpad(mut padded: Vec<u8>) -> Result<Vec<u8>, ShamirError> {
    let pad = usize::from(*padded.last().ok_or(ShamirError::BadPadding)?);
    if pad == 0 || pad > BLOCK.min(padded.len()) {
        return Err(ShamirError::BadPadding);
    }
    let body = padded.len() - pad;
    if padded[body..].iter().any(|&byte| usize::from(byte) != pad) {
        return Err(ShamirError::BadPadding);
    }
    padded.truncate(body);
    Ok(padded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_threshold_shares_recombine_the_secret() {
        let secret: Vec<u8> = (0..40).collect();
        let shares = create_shares(&secret, 3, 5).unwrap();
        assert_eq!(shares.len(), 5);
        // 40 bytes pad to 48: three chunks, plus the index.
        assert!(shares.iter().all(|share| share.len() == 4 + 48));
        assert_eq!(&shares[4][..4], &5u32.to_le_bytes());
        for picked in [[0, 1, 2], [4, 2, 0], [1, 3, 4]] {
            let subset: Vec<&Vec<u8>> = picked.iter().map(|&i| &shares[i]).collect();
            assert_eq!(combine_shares(&subset).unwrap(), secret, "{picked:?}");
        }
        assert_eq!(combine_shares(&shares).unwrap(), secret);
    }

    #[test]
    fn fewer_than_threshold_shares_do_not_recombine() {
        let secret = [7u8; 32];
        let shares = create_shares(&secret, 3, 3).unwrap();
        // Two points of a degree-2 polynomial give a wrong constant term; its
        // padding is then almost surely invalid, and the secret never comes back.
        assert_ne!(combine_shares(&shares[..2]).ok(), Some(secret.to_vec()));
    }

    #[test]
    fn bad_share_lists_are_errors() {
        let shares = create_shares(b"secret", 2, 3).unwrap();
        assert_eq!(combine_shares::<Vec<u8>>(&[]), Err(ShamirError::NoShares));
        let twice = [shares[0].clone(), shares[0].clone()];
        assert_eq!(combine_shares(&twice), Err(ShamirError::DuplicateShare(1)));
        let short = [shares[0].clone(), shares[1][..10].to_vec()];
        assert!(matches!(
            combine_shares(&short),
            Err(ShamirError::ShortShare { index: 1, .. })
        ));
        assert!(matches!(
            combine_shares(&[[0u8; 3]]),
            Err(ShamirError::ShortShare { needed: 4, .. })
        ));
        // An index and no whole chunk: nothing to unpad.
        assert_eq!(combine_shares(&[[1u8; 10]]), Err(ShamirError::BadPadding));
    }

    #[test]
    fn padding_is_pkcs7() {
        assert_eq!(pad(b""), vec![16u8; 16]);
        assert_eq!(pad(&[1; 15]).last(), Some(&1));
        assert_eq!(unpad(pad(b"abc")).unwrap(), b"abc");
        let mut bad = pad(b"abc");
        bad[5] ^= 1;
        assert_eq!(unpad(bad), Err(ShamirError::BadPadding));
        assert_eq!(unpad(vec![0; 16]), Err(ShamirError::BadPadding));
    }
}
