//! Faults a simulation injects, seeded, to test a run against them: clients that
//! drop out, send NaN, are slow, or attack.
//!
//! Every draw comes from [`fault_seed`]`(run seed, round, client)`, and the Byzantine
//! clients from [`byzantine_seed`], so a run with faults is as
//! reproducible as one without: parallel equals sequential, and a resumed run
//! continues bit for bit.

use std::time::Duration;

use rand::seq::index;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::aggregators::l2_norm_of;
use super::config::ConfigError;
use super::seeds::{byzantine_seed, fault_seed};

/// An attack a Byzantine client makes on its update (Fang et al. 2020 and
/// Baruch et al. 2019 use these as baselines). Label flipping is an attack on a
/// client's data instead: see [`ClientData::with_labels_flipped`](crate::data::ClientData::with_labels_flipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    /// The update, sign flipped and scaled by 10: `-10 Δ`.
    SignFlip,
    /// The update scaled by 10: `10 Δ`.
    Scale,
    /// Gaussian noise with the update's norm in expectation: `N(0, (‖Δ‖² / d) I)`.
    Noise,
}

impl Attack {
    /// The attack's name, as the example's `--attack` flag spells it.
    pub fn name(self) -> &'static str {
        match self {
            Attack::SignFlip => "sign-flip",
            Attack::Scale => "scale",
            Attack::Noise => "noise",
        }
    }

    /// Replaces the honest `delta` with the attack's, drawing noise from `rng`.
    fn apply(self, delta: &mut [f32], rng: &mut ChaCha8Rng) {
        match self {
            Attack::SignFlip => delta.iter_mut().for_each(|x| *x *= -10.0),
            Attack::Scale => delta.iter_mut().for_each(|x| *x *= 10.0),
            Attack::Noise => {
                let stddev = (l2_norm_of(delta) / (delta.len().max(1) as f64).sqrt()) as f32;
                let normal = rand_distr::Normal::new(0.0, stddev.max(0.0))
                    .unwrap_or_else(|_| rand_distr::Normal::new(0.0, 0.0).expect("valid"));
                delta.iter_mut().for_each(|x| *x = rng.sample(normal));
            }
        }
    }
}

/// Byzantine clients: `clients` of the population, chosen once per run from the run
/// seed, send an attacked update in every round they are sampled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Byzantine {
    /// How many clients of the population are Byzantine.
    pub clients: usize,
    /// What they do to their updates.
    pub attack: Attack,
}

/// Faults injected into a simulated run; the default injects none.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Faults {
    /// Probability that a sampled client drops out: it sends nothing, and is a
    /// failure ([`FeddxError::ClientDroppedOut`](crate::FeddxError::ClientDroppedOut)).
    pub dropout: f64,
    /// Probability that a client's update is replaced with NaN (it is always
    /// rejected by the aggregation, and counted as zeroed).
    pub non_finite: f64,
    /// Probability that a client is slow: [`slow_delay`](Self::slow_delay) is added to
    /// its simulated duration (its [speed](super::FedConfig::speed) times its local
    /// steps; nothing sleeps), so that with a
    /// [round deadline](super::FedConfig::round_deadline) below it the client is a
    /// straggler.
    pub slow: f64,
    /// The time a slow client takes beyond its training.
    pub slow_delay: Duration,
    /// Byzantine clients and their attack.
    pub byzantine: Option<Byzantine>,
}

/// What happens to one sampled client in one round.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ClientFaults {
    pub dropped: bool,
    pub non_finite: bool,
    pub delay: Duration,
    pub attack: Option<Attack>,
    /// The seed of the attack's noise.
    pub seed: u64,
}

impl Faults {
    /// Checks the probabilities.
    ///
    /// # Errors
    /// [`ConfigError::FaultProbability`] for a probability outside `[0, 1]`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (fault, value) in [
            ("dropout", self.dropout),
            ("non_finite", self.non_finite),
            ("slow", self.slow),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(ConfigError::FaultProbability { fault, value });
            }
        }
        Ok(())
    }

    /// Whether any fault is injected.
    pub fn any(&self) -> bool {
        self.dropout > 0.0
            || self.non_finite > 0.0
            || self.slow > 0.0
            || self.byzantine.is_some_and(|b| b.clients > 0)
    }

    /// The Byzantine clients of a run with seed `run_seed` over `population`
    /// clients, ascending: the same for every round, and what a caller uses to
    /// attack those clients' data (label flipping).
    pub fn byzantine_clients(&self, run_seed: u64, population: usize) -> Vec<usize> {
        self.byzantine.map_or_else(Vec::new, |b| {
            byzantine_clients(run_seed, population, b.clients)
        })
    }

    /// The faults of `client` in round `round` (0-based); `byzantine` is the run's
    /// [`byzantine_clients`](Self::byzantine_clients).
    pub(crate) fn draw(
        &self,
        run_seed: u64,
        round: usize,
        client: usize,
        byzantine: &[usize],
    ) -> ClientFaults {
        let seed = fault_seed(run_seed, round, client);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Three draws, always made, so one fault's probability does not shift another's.
        let (dropout, non_finite, slow): (f64, f64, f64) = (rng.gen(), rng.gen(), rng.gen());
        ClientFaults {
            dropped: dropout < self.dropout,
            non_finite: non_finite < self.non_finite,
            delay: if slow < self.slow {
                self.slow_delay
            } else {
                Duration::ZERO
            },
            attack: self
                .byzantine
                .filter(|_| byzantine.binary_search(&client).is_ok())
                .map(|b| b.attack),
            seed,
        }
    }
}

/// The `count` Byzantine clients of a run with seed `run_seed` over `population`
/// clients, ascending (all of them if `count` is larger): the clients
/// [`Faults::byzantine`] attacks with, and those whose data a label-flipping attack
/// poisons ([`ClientData::with_labels_flipped`](crate::data::ClientData::with_labels_flipped)).
pub fn byzantine_clients(run_seed: u64, population: usize, count: usize) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(byzantine_seed(run_seed));
    let mut chosen = index::sample(&mut rng, population, count.min(population)).into_vec();
    chosen.sort_unstable();
    chosen
}

impl ClientFaults {
    /// The update the client sends instead of its honest `delta`.
    pub(crate) fn corrupt(&self, delta: &mut [f32]) {
        if let Some(attack) = self.attack {
            let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
            rng.set_stream(1);
            attack.apply(delta, &mut rng);
        }
        if self.non_finite {
            delta.fill(f32::NAN);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byzantine_clients_are_fixed_by_the_seed() {
        let faults = Faults {
            byzantine: Some(Byzantine {
                clients: 4,
                attack: Attack::SignFlip,
            }),
            ..Faults::default()
        };
        let a = faults.byzantine_clients(3, 20);
        assert_eq!(a.len(), 4);
        assert!(a.windows(2).all(|w| w[0] < w[1]) && a[3] < 20);
        assert_eq!(a, faults.byzantine_clients(3, 20));
        assert_ne!(a, faults.byzantine_clients(4, 20));
        assert!(Faults::default().byzantine_clients(3, 20).is_empty());
    }

    #[test]
    fn attacks_change_the_update_as_documented() {
        let faults = ClientFaults {
            dropped: false,
            non_finite: false,
            delay: Duration::ZERO,
            attack: Some(Attack::SignFlip),
            seed: 1,
        };
        let mut d = vec![1.0, -2.0];
        faults.corrupt(&mut d);
        assert_eq!(d, vec![-10.0, 20.0]);
        let mut d = vec![1.0, -2.0];
        ClientFaults {
            attack: Some(Attack::Scale),
            ..faults
        }
        .corrupt(&mut d);
        assert_eq!(d, vec![10.0, -20.0]);
        let honest: Vec<f32> = (0..10_000).map(|i| ((i % 7) as f32 - 3.0) * 0.01).collect();
        let mut d = honest.clone();
        ClientFaults {
            attack: Some(Attack::Noise),
            ..faults
        }
        .corrupt(&mut d);
        let (a, b) = (l2_norm_of(&honest), l2_norm_of(&d));
        assert!(
            (b / a - 1.0).abs() < 0.05,
            "noise of the update's norm: {a} vs {b}"
        );
        let mut d = vec![1.0, -2.0];
        ClientFaults {
            non_finite: true,
            attack: None,
            ..faults
        }
        .corrupt(&mut d);
        assert!(d.iter().all(|x| x.is_nan()));
    }

    #[test]
    fn fault_rates_follow_their_probabilities() {
        let faults = Faults {
            dropout: 0.3,
            non_finite: 0.1,
            slow: 0.5,
            slow_delay: Duration::from_secs(9),
            byzantine: None,
        };
        let draws: Vec<ClientFaults> = (0..2000).map(|c| faults.draw(7, 0, c, &[])).collect();
        let rate = |f: &dyn Fn(&ClientFaults) -> bool| {
            draws.iter().filter(|d| f(d)).count() as f64 / 2000.0
        };
        assert!((rate(&|d| d.dropped) - 0.3).abs() < 0.04);
        assert!((rate(&|d| d.non_finite) - 0.1).abs() < 0.03);
        assert!((rate(&|d| d.delay == Duration::from_secs(9)) - 0.5).abs() < 0.04);
        assert_eq!(faults.draw(7, 0, 5, &[]), draws[5], "seeded");
        for bad in [-0.1, 1.5, f64::NAN] {
            assert!(matches!(
                Faults {
                    dropout: bad,
                    ..faults
                }
                .validate(),
                Err(ConfigError::FaultProbability {
                    fault: "dropout",
                    ..
                })
            ));
        }
    }
}
