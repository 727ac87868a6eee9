//! Which clients of the population can be reached in a round.
//!
//! Real devices are only sometimes charging, idle and on an unmetered network, so a
//! round can only sample among those available (Bonawitz et al., "Towards Federated
//! Learning at Scale", 2019). Each client's availability in a round is drawn from
//! [`availability_seed`]`(run seed, round, client)`: seeded, the same in parallel and
//! sequential runs and after a resume.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::federated::config::ConfigError;
use crate::federated::seeds::availability_seed;

/// Whether a client can take part in a round.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Availability {
    /// Every client, every round (the default).
    #[default]
    Always,
    /// Each client, independently in each round, with this probability in `(0, 1]`.
    Bernoulli(f64),
}

impl Availability {
    /// Checks the probability.
    ///
    /// # Errors
    /// [`ConfigError::AvailabilityProbability`] for a probability outside `(0, 1]`.
    pub fn validate(self) -> Result<(), ConfigError> {
        match self {
            Availability::Bernoulli(p) if !(p > 0.0 && p <= 1.0) => {
                Err(ConfigError::AvailabilityProbability { value: p })
            }
            _ => Ok(()),
        }
    }

    /// Whether every client is always available.
    pub fn is_always(self) -> bool {
        matches!(self, Availability::Always | Availability::Bernoulli(1.0))
    }

    /// Whether `client` is available in round `round` (0-based) of the run with
    /// seed `run_seed`.
    pub fn is_available(self, run_seed: u64, round: usize, client: usize) -> bool {
        match self {
            Availability::Always => true,
            Availability::Bernoulli(p) => {
                let mut rng = ChaCha8Rng::seed_from_u64(availability_seed(run_seed, round, client));
                rng.gen::<f64>() < p
            }
        }
    }

    /// The clients of a population of `population` available in round `round`,
    /// ascending.
    pub fn available_clients(self, run_seed: u64, round: usize, population: usize) -> Vec<usize> {
        (0..population)
            .filter(|&c| self.is_available(run_seed, round, c))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn availability_follows_its_probability_and_the_seed() {
        let a = Availability::Bernoulli(0.3);
        let round: Vec<usize> = a.available_clients(5, 2, 10_000);
        let rate = round.len() as f64 / 10_000.0;
        assert!((rate - 0.3).abs() < 0.02, "{rate}");
        assert_eq!(round, a.available_clients(5, 2, 10_000));
        assert_ne!(round, a.available_clients(5, 3, 10_000));
        assert_ne!(round, a.available_clients(6, 2, 10_000));
        assert!(round.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(
            Availability::Always.available_clients(5, 2, 4),
            vec![0, 1, 2, 3]
        );
        for bad in [0.0, 1.5, f64::NAN] {
            assert!(Availability::Bernoulli(bad).validate().is_err());
        }
        assert!(Availability::Bernoulli(1.0).is_always());
    }
}
