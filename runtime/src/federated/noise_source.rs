//! Where a DP run's secret randomness comes from: its Gaussian noise and its client
//! sample.
//!
//! DP-FedAvg's guarantee holds only if nobody can regenerate the noise (and subtract
//! it from the released model) or predict the sample (whose secrecy the amplification
//! by sampling assumes). So with DP noise on, by default ([`NoiseSource::Os`]) each
//! round draws two fresh 256-bit keys from the operating system's generator (the
//! `getrandom` system call, through `rand`'s `OsRng`) and expands each with ChaCha20,
//! a cryptographically secure generator: one key for the noise, one for the sample.
//! Nothing of either key is kept after the round, so neither a report nor a
//! checkpoint holds it.
//!
//! [`NoiseSource::RunSeedNotPrivate`] derives both from the config's seed instead, so a
//! run repeats bit for bit: for tests and for reproducing figures, never for data
//! that needs protecting. Such a run says so in its
//! [`PrivacySpent`](super::PrivacySpent) and progress line.
//!
//! A run without DP noise samples its clients from the run seed, as always: nothing
//! there is secret.

use std::fmt;

use rand::rngs::OsRng;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::seeds::{noise_seed, sampling_seed};

/// Where the DP noise and the client sample of a run with a
/// [noise multiplier](super::aggregators::Aggregation::noise_multiplier) come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NoiseSource {
    /// Fresh keys from the operating system every round (the default): the noise
    /// cannot be regenerated nor the sample predicted from anything a user or a
    /// checkpoint holds. Two runs of one config differ.
    #[default]
    Os,
    /// Keys derived from the run seed: the run repeats bit for bit, and anyone who
    /// knows the config can regenerate the noise and remove it. Not private; chosen
    /// only by
    /// [`reproducible_noise_not_private`](super::FedConfigBuilder::reproducible_noise_not_private).
    RunSeedNotPrivate,
}

impl NoiseSource {
    /// Whether the noise and sample are secret ([`Os`](Self::Os)).
    pub fn is_private(self) -> bool {
        self == NoiseSource::Os
    }

    /// The keys of round `round` (0-based) of a run with seed `run_seed`.
    pub(crate) fn round_keys(self, run_seed: u64, round: usize) -> RoundKeys {
        match self {
            NoiseSource::Os => RoundKeys {
                noise: NoiseKey::from_os(),
                sampling: NoiseKey::from_os(),
            },
            NoiseSource::RunSeedNotPrivate => RoundKeys {
                noise: NoiseKey::from_seed(noise_seed(run_seed, round)),
                sampling: NoiseKey::from_seed(sampling_seed(run_seed, round)),
            },
        }
    }
}

impl fmt::Display for NoiseSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NoiseSource::Os => "fresh keys from the operating system each round",
            NoiseSource::RunSeedNotPrivate => {
                "derived from the run seed: reproducible, NOT private"
            }
        })
    }
}

/// The two keys of one DP round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RoundKeys {
    /// Key of the round's Gaussian noise.
    pub noise: NoiseKey,
    /// Key of the round's client sample.
    pub sampling: NoiseKey,
}

/// A 256-bit ChaCha20 key: the secret a round's DP noise is expanded from. Its
/// `Debug` does not show it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct NoiseKey([u8; 32]);

impl NoiseKey {
    /// A key from the operating system's generator.
    ///
    /// # Panics
    /// If the operating system has no random source to give (`getrandom` fails),
    /// as `rand`'s `OsRng` does: a DP run must not go on without one.
    pub fn from_os() -> Self {
        let mut key = [0; 32];
        OsRng.fill_bytes(&mut key);
        NoiseKey(key)
    }

    /// A key derived from a public 64-bit seed: reproducible, and not secret.
    pub fn from_seed(seed: u64) -> Self {
        let mut key = [0; 32];
        ChaCha20Rng::seed_from_u64(seed).fill_bytes(&mut key);
        NoiseKey(key)
    }

    /// A key of these bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        NoiseKey(bytes)
    }

    /// ChaCha20 keyed with this key, on stream `stream`: independent streams of one
    /// key for independent blocks of noise.
    pub fn generator(&self, stream: u64) -> ChaCha20Rng {
        let mut rng = ChaCha20Rng::from_seed(self.0);
        rng.set_stream(stream);
        rng
    }
}

impl fmt::Debug for NoiseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NoiseKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn os_keys_differ_and_seeded_keys_repeat() {
        let os = NoiseSource::Os;
        assert_ne!(os.round_keys(0, 0), os.round_keys(0, 0));
        let a = os.round_keys(0, 0);
        assert_ne!(a.noise, a.sampling);
        let seeded = NoiseSource::RunSeedNotPrivate;
        assert_eq!(seeded.round_keys(3, 1), seeded.round_keys(3, 1));
        assert_ne!(seeded.round_keys(3, 1), seeded.round_keys(3, 2));
        assert_ne!(seeded.round_keys(3, 1), seeded.round_keys(4, 1));
    }

    #[test]
    fn a_key_does_not_show_in_debug() {
        let key = NoiseKey::from_bytes([0xab; 32]);
        let shown = format!("{:?}", NoiseSource::Os.round_keys(0, 0)) + &format!("{key:?}");
        assert!(!shown.contains("171") && !shown.contains("ab"), "{shown}");
    }

    #[test]
    fn streams_of_one_key_are_independent() {
        let key = NoiseKey::from_seed(7);
        let a: u64 = key.generator(0).gen();
        let b: u64 = key.generator(1).gen();
        assert_ne!(a, b);
        assert_eq!(a, key.generator(0).gen::<u64>());
    }
}
