//! Which clients take part in a round: seeded sampling without replacement.

use rand::seq::index;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::config::ConfigError;
use super::seeds::sampling_seed;
use super::time::SimDuration;
use crate::{FeddxError, Result};

/// How many clients a round samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClientsPerRound {
    /// Exactly this many clients (at least 1, at most the population).
    Count(usize),
    /// This fraction of the population, in `(0, 1]`, rounded up: McMahan et al.'s `C`.
    /// At least one client takes part.
    Fraction(f64),
    /// Every client takes part independently with this probability, in `(0, 1]`:
    /// Poisson sampling, which DP-FedAvg's privacy analysis assumes (McMahan et al.
    /// 2018) and for which its accountant gives a much smaller `epsilon` than for a
    /// fixed count. The number of clients varies from round to round; a round that
    /// draws none fails with [`FeddxError::EmptyRound`], unless the run adds DP noise:
    /// then it releases the noise alone, as DP-FedAvg does.
    Poisson(f64),
}

impl ClientsPerRound {
    /// Checks the setting on its own, without the population.
    ///
    /// # Errors
    /// [`ConfigError::ZeroClientsPerRound`] or [`ConfigError::FractionOutOfRange`].
    pub fn validate(self) -> Result<(), ConfigError> {
        match self {
            ClientsPerRound::Count(0) => Err(ConfigError::ZeroClientsPerRound),
            ClientsPerRound::Fraction(f) | ClientsPerRound::Poisson(f)
                if !(f > 0.0 && f <= 1.0) =>
            {
                Err(ConfigError::FractionOutOfRange { fraction: f })
            }
            _ => Ok(()),
        }
    }

    /// Clients per round in a population of `available` clients.
    ///
    /// A fraction is rounded up, ignoring the last bits of floating-point error
    /// (`0.3 * 10` is 3 clients, not 4), and is at least 1. For Poisson sampling this
    /// is the expected count, rounded up in the same way.
    ///
    /// # Errors
    /// [`FeddxError::NoClients`] for an empty population, the errors of
    /// [`validate`](Self::validate), and [`ConfigError::TooManyClientsPerRound`] for
    /// a count above `available`.
    pub fn resolve(self, available: usize) -> Result<usize> {
        self.validate()?;
        if available == 0 {
            return Err(FeddxError::NoClients);
        }
        match self {
            ClientsPerRound::Count(n) if n > available => {
                Err(ConfigError::TooManyClientsPerRound {
                    requested: n,
                    available,
                }
                .into())
            }
            ClientsPerRound::Count(n) => Ok(n),
            ClientsPerRound::Fraction(f) | ClientsPerRound::Poisson(f) => {
                let exact = f * available as f64;
                let up = (exact - 1e-9 * exact.max(1.0)).ceil() as usize;
                Ok(up.clamp(1, available))
            }
        }
    }
}

impl ClientsPerRound {
    /// The number of clients a round samples on average from `available`: the
    /// count, or `q · available` for Poisson sampling (DP-FedAvg's fixed denominator).
    ///
    /// # Errors
    /// As [`resolve`](Self::resolve).
    pub fn expected(self, available: usize) -> Result<f64> {
        let count = self.resolve(available)?;
        Ok(match self {
            ClientsPerRound::Poisson(q) => q * available as f64,
            _ => count as f64,
        })
    }
}

/// The clients (indices into a population of `available`) taking part in round
/// `round` (0-based), in ascending order, drawn without replacement by a ChaCha8
/// generator seeded with [`sampling_seed`]`(run_seed, round)`.
///
/// The same arguments give the same clients, on any machine and thread count. A run
/// with DP noise draws its sample with [`sample_clients_with`] from a secret generator
/// instead (see [`noise_source`](super::noise_source)).
///
/// # Errors
/// As [`ClientsPerRound::resolve`].
pub fn sample_clients(
    per_round: ClientsPerRound,
    available: usize,
    run_seed: u64,
    round: usize,
) -> Result<Vec<usize>> {
    let mut rng = ChaCha8Rng::seed_from_u64(sampling_seed(run_seed, round));
    sample_clients_with(per_round, available, &mut rng)
}

/// The clients (indices into a population of `available`) of one round, in ascending
/// order, drawn without replacement (or each with its probability, for
/// [`ClientsPerRound::Poisson`]) by `rng`.
///
/// # Errors
/// As [`ClientsPerRound::resolve`].
pub fn sample_clients_with<R: Rng + ?Sized>(
    per_round: ClientsPerRound,
    available: usize,
    rng: &mut R,
) -> Result<Vec<usize>> {
    let k = per_round.resolve(available)?;
    if let ClientsPerRound::Poisson(q) = per_round {
        return Ok((0..available).filter(|_| rng.gen::<f64>() < q).collect());
    }
    if k == available {
        return Ok((0..available).collect());
    }
    let mut chosen = index::sample(rng, available, k).into_vec();
    chosen.sort_unstable();
    Ok(chosen)
}

/// Clients a round over-selects to keep `wanted`: `ceil(factor · wanted)`, ignoring
/// the last bits of floating-point error as [`ClientsPerRound::resolve`] does, and at
/// most `available`.
pub fn over_selected(wanted: usize, factor: f64, available: usize) -> usize {
    let exact = factor * wanted as f64;
    let up = (exact - 1e-9 * exact.max(1.0)).ceil();
    // `as` saturates; a factor below 1 keeps `wanted`.
    (up as usize).max(wanted).min(available)
}

/// Which of the replies that took `durations` are the first `keep` to finish: the
/// `keep` shortest, a tie going to the earlier position (so to the lower client
/// index, in sampled order); all of them if they are fewer.
pub fn first_to_finish(durations: &[SimDuration], keep: usize) -> Vec<bool> {
    let mut order: Vec<usize> = (0..durations.len()).collect();
    order.sort_by_key(|&i| (durations[i], i));
    let mut kept = vec![false; durations.len()];
    order.into_iter().take(keep).for_each(|i| kept[i] = true);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_is_deterministic_distinct_and_varies_by_round_and_seed() {
        let a = sample_clients(ClientsPerRound::Count(10), 100, 42, 3).unwrap();
        assert_eq!(
            a,
            sample_clients(ClientsPerRound::Count(10), 100, 42, 3).unwrap()
        );
        assert_eq!(a.len(), 10);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert!(a.iter().all(|&c| c < 100));
        assert_ne!(
            a,
            sample_clients(ClientsPerRound::Count(10), 100, 42, 4).unwrap()
        );
        assert_ne!(
            a,
            sample_clients(ClientsPerRound::Count(10), 100, 43, 3).unwrap()
        );
    }

    #[test]
    fn fractions_round_up_and_take_at_least_one() {
        let k = |f, n| ClientsPerRound::Fraction(f).resolve(n).unwrap();
        assert_eq!(k(0.5, 10), 5);
        assert_eq!(k(0.3, 10), 3);
        assert_eq!(k(0.25, 10), 3);
        assert_eq!(k(0.01, 10), 1);
        assert_eq!(k(1.0, 7), 7);
        let all = sample_clients(ClientsPerRound::Fraction(1.0), 4, 0, 0).unwrap();
        assert_eq!(all, vec![0, 1, 2, 3]);
    }

    #[test]
    fn poisson_sampling_draws_each_client_with_its_probability() {
        let rounds: Vec<Vec<usize>> = (0..200)
            .map(|r| sample_clients(ClientsPerRound::Poisson(0.25), 40, 7, r).unwrap())
            .collect();
        let total: usize = rounds.iter().map(Vec::len).sum();
        assert!((total as f64 / 8000.0 - 0.25).abs() < 0.02, "{total}");
        assert!(rounds.iter().any(|r| r.len() != 10), "the count varies");
        assert_eq!(
            rounds[3],
            sample_clients(ClientsPerRound::Poisson(0.25), 40, 7, 3).unwrap()
        );
        assert!(rounds[3].windows(2).all(|w| w[0] < w[1]));
        assert_eq!(ClientsPerRound::Poisson(0.25).expected(40).unwrap(), 10.0);
        assert_eq!(ClientsPerRound::Count(7).expected(40).unwrap(), 7.0);
        assert_eq!(
            ClientsPerRound::Poisson(1.5).validate(),
            Err(ConfigError::FractionOutOfRange { fraction: 1.5 })
        );
    }

    #[test]
    fn over_selection_rounds_up_and_keeps_the_first_to_finish() {
        assert_eq!(over_selected(10, 1.3, 100), 13);
        assert_eq!(over_selected(10, 1.3, 12), 12);
        assert_eq!(over_selected(3, 1.0, 100), 3);
        assert_eq!(over_selected(7, 1.3, 100), 10, "9.1 rounds up");
        let ms = SimDuration::from_millis;
        let kept = first_to_finish(&[ms(5), ms(1), ms(5), ms(3), ms(9)], 3);
        // 1 and 3 ms, then the first of the two 5 ms.
        assert_eq!(kept, vec![true, true, false, true, false]);
        assert_eq!(first_to_finish(&[ms(2), ms(1)], 5), vec![true, true]);
    }

    #[test]
    fn too_many_or_no_clients_are_errors() {
        assert_eq!(
            sample_clients(ClientsPerRound::Count(5), 3, 0, 0).unwrap_err(),
            FeddxError::Config(ConfigError::TooManyClientsPerRound {
                requested: 5,
                available: 3
            })
        );
        assert_eq!(
            sample_clients(ClientsPerRound::Fraction(0.5), 0, 0, 0).unwrap_err(),
            FeddxError::NoClients
        );
        assert_eq!(
            sample_clients(ClientsPerRound::Count(0), 3, 0, 0).unwrap_err(),
            FeddxError::Config(ConfigError::ZeroClientsPerRound)
        );
    }
}
