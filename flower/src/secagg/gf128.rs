//! GF(2^128) as PyCryptodome's `Crypto.Protocol.SecretSharing` defines it, the field
//! of Flower's Shamir shares.
//!
//! The field is GF(2)\[x\] modulo x^128 + x^7 + x^2 + x + 1. An element is a `u128`
//! whose bit i is the coefficient of x^i (the least significant bit is the constant
//! term), and it is encoded as 16 big-endian bytes, as PyCryptodome's `_Element`
//! (`bytes_to_long`/`long_to_bytes(v, 16)`). This is *not* GCM's bit-reflected
//! GHASH field, which is why no crate's GF(2^128) is used here.

use std::ops::{Add, Mul};

/// x^128 reduced modulo the field polynomial: x^7 + x^2 + x + 1.
const REDUCTION: u128 = 0x87;

/// An element of PyCryptodome's GF(2^128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gf128(pub u128);

impl Gf128 {
    /// The additive identity.
    pub const ZERO: Gf128 = Gf128(0);
    /// The multiplicative identity.
    pub const ONE: Gf128 = Gf128(1);

    /// The element 16 big-endian bytes encode.
    pub fn from_bytes(bytes: [u8; 16]) -> Gf128 {
        Gf128(u128::from_be_bytes(bytes))
    }

    /// The element's 16 big-endian bytes.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    /// The multiplicative inverse, `None` for zero. Computed as a^(2^128 - 2), which
    /// equals the extended-GCD inverse PyCryptodome computes (inverses are unique).
    pub fn inverse(self) -> Option<Gf128> {
        if self.0 == 0 {
            return None;
        }
        // 2^128 - 2 = 0b111...110: square-and-multiply over its 127 leading ones.
        let mut result = Gf128::ONE;
        let mut power = self * self; // a^2
        for _ in 1..128 {
            result = result * power;
            power = power * power;
        }
        Some(result)
    }
}

impl Add for Gf128 {
    type Output = Gf128;

    /// Addition in characteristic 2: XOR.
    #[allow(clippy::suspicious_arithmetic_impl)]
    fn add(self, other: Gf128) -> Gf128 {
        Gf128(self.0 ^ other.0)
    }
}

impl Mul for Gf128 {
    type Output = Gf128;

    /// Shift-and-add multiplication, reducing each time x^128 appears, without
    /// branches on the operands' bits (PyCryptodome masks likewise).
    fn mul(self, other: Gf128) -> Gf128 {
        let mut v = self.0;
        let mut f = other.0;
        let mut z = 0u128;
        for _ in 0..128 {
            z ^= v & (f & 1).wrapping_neg();
            let carry = v >> 127;
            v = (v << 1) ^ (REDUCTION & carry.wrapping_neg());
            f >>= 1;
        }
        Gf128(z)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Carry-less multiplication into 256 bits, then reduction by long division: the
    /// textbook definition, independent of the shift-and-add loop.
    fn reference_mul(a: u128, b: u128) -> u128 {
        let (mut lo, mut hi) = (0u128, 0u128);
        for i in 0..128 {
            if (b >> i) & 1 == 1 {
                lo ^= a << i;
                if i > 0 {
                    hi ^= a >> (128 - i);
                }
            }
        }
        // Reduce bits 255..128 from the top: x^(128+j) = x^j * (x^7 + x^2 + x + 1).
        for j in (0..128).rev() {
            if (hi >> j) & 1 == 1 {
                hi ^= 1 << j;
                let term = REDUCTION << j;
                lo ^= term;
                if j > 0 {
                    hi ^= REDUCTION >> (128 - j);
                }
            }
        }
        lo
    }

    #[test]
    fn multiplication_matches_long_division() {
        let samples = [
            0u128,
            1,
            2,
            0x87,
            1 << 127,
            u128::MAX,
            0x0123_4567_89ab_cdef_fedc_ba98_7654_3210,
            0xdead_beef_0000_0001_8000_0000_0000_0003,
        ];
        for &a in &samples {
            for &b in &samples {
                assert_eq!(
                    (Gf128(a) * Gf128(b)).0,
                    reference_mul(a, b),
                    "{a:x} * {b:x}"
                );
            }
        }
    }

    #[test]
    fn x_to_the_128_is_the_reduction_polynomial() {
        // x^127 * x = x^128 = x^7 + x^2 + x + 1.
        assert_eq!(Gf128(1 << 127) * Gf128(2), Gf128(0x87));
    }

    #[test]
    fn inverse_times_element_is_one() {
        for a in [1u128, 2, 3, 0x87, 1 << 127, u128::MAX, 0x1234_5678] {
            let inverse = Gf128(a).inverse().expect("non-zero");
            assert_eq!(Gf128(a) * inverse, Gf128::ONE, "{a:x}");
        }
        assert_eq!(Gf128::ZERO.inverse(), None);
    }

    #[test]
    fn bytes_are_big_endian() {
        let mut bytes = [0u8; 16];
        bytes[15] = 1;
        assert_eq!(Gf128::from_bytes(bytes), Gf128::ONE);
        assert_eq!(Gf128(0x0102).to_bytes()[14..], [1, 2]);
    }
}
