//! Aggregators: how a round's client updates become the one delta the server applies.
//!
//! As in TensorFlow Federated's `tff.aggregators`, an aggregation is a chain of small
//! parts, each an [`Aggregator`] that does one thing and hands the updates on to the
//! part inside it:
//!
//! - [`Zeroing`]: rejects an update holding a NaN or an infinity (always), or whose
//!   L2 norm is above a bound (TFF's `zeroing_factory`);
//! - [`Clip`]: scales every update down to a maximum norm, fixed or adapted round
//!   by round to a quantile of the norms (TFF's `clipping_factory`, adaptive
//!   clipping of Andrew et al. 2021);
//! - [`Estimate`]: the estimator: the weighted mean, or a Byzantine-robust one
//!   ([`median`], [`trimmed_mean`], [`krum`], [`bulyan`]);
//! - [`DpMean`]: DP-FedAvg's sum with Gaussian noise over a fixed denominator
//!   (McMahan et al. 2018), in place of the estimator.
//!
//! [`Aggregation`] holds the settings of a chain and [builds](Aggregation::build) it;
//! a [`Simulation`](super::Simulation) runs the chain its config names, or any
//! chain given to [`with_aggregator`](super::Simulation::with_aggregator).
//!
//! ```
//! use feddx_runtime::federated::aggregators::{Aggregation, Clipping, Estimator};
//!
//! // Drop updates with a norm above 10, clip the rest to 1, take the median.
//! let robust = Aggregation {
//!     estimator: Estimator::Median,
//!     zeroing_norm: Some(10.0),
//!     clipping: Some(Clipping::Fixed { norm: 1.0 }),
//!     noise_multiplier: None,
//! };
//! robust.validate().unwrap();
//! let chain = robust.build();
//! assert_eq!(format!("{chain:?}").matches("inner").count(), 2);
//! ```

use std::fmt;

use crate::federated::NoiseKey;
use crate::Result;

pub mod bulyan;
mod clipping;
mod coordinates;
mod dp;
mod estimate;
pub mod krum;
pub mod median;
mod settings;
pub mod trimmed_mean;
mod zeroing;

pub use bulyan::bulyan_into;
pub use clipping::Clip;
pub use dp::DpMean;
pub use estimate::Estimate;
pub use krum::{krum_scores, multi_krum_select, pairwise_squared_distances};
pub use median::coordinate_median_into;
pub use settings::{Aggregation, Clipping, Estimator};
pub use trimmed_mean::trimmed_mean_into;
pub use zeroing::Zeroing;

/// One client's update, on its way through a chain of aggregators.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    /// The client's index in the population.
    pub client: usize,
    /// Its delta, `w_local - w_global`, flat.
    pub delta: Vec<f32>,
    /// Its weight in a weighted mean (its example count, or 1), positive.
    pub weight: f64,
}

/// What an aggregator needs to know of the round it aggregates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundContext {
    /// The round's number, from 1.
    pub round: usize,
    /// Clients sampled in the round.
    pub sampled: usize,
    /// Clients a round samples on average (the count, or `q · N` for Poisson
    /// sampling): DP-FedAvg's fixed denominator.
    pub expected_clients: f64,
    /// Updates that must be left after rejections for the round to go on
    /// ([`FedConfig::min_successful_clients`](super::FedConfig::min_successful_clients)).
    pub min_updates: usize,
    /// Clients that failed before aggregation, for the error of a round left with
    /// too few updates.
    pub failed: usize,
    /// The key the round's DP noise is drawn with: secret, from the operating system,
    /// unless the run opted out of privacy (see
    /// [`noise_source`](crate::federated::noise_source)).
    pub noise_key: NoiseKey,
}

/// What the parts of a chain did to a round's updates, for its report.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Tally {
    /// Updates rejected: non-finite, or above the zeroing norm.
    pub zeroed: usize,
    /// Updates scaled down by clipping.
    pub clipped: usize,
    /// The clipping norm the round used, if it clipped.
    pub clip_norm: Option<f32>,
}

/// One part of a round's aggregation: it takes the round's updates and writes the
/// delta the server applies into `out`, usually by handing the updates, changed or
/// filtered, to the part it wraps.
///
/// A part must leave its [`state`](Self::state) unchanged when it returns an error,
/// so that a failed round leaves the run as it was.
pub trait Aggregator: fmt::Debug + Send + Sync {
    /// Combines `updates` (at least one, each of `out.len()` values) into `out`.
    ///
    /// # Errors
    /// The part's own (too few updates left, configuration that does not fit the
    /// round) and those of the parts it wraps.
    fn aggregate(
        &mut self,
        round: &RoundContext,
        updates: Vec<Contribution>,
        out: &mut [f32],
        tally: &mut Tally,
    ) -> Result<()>;

    /// The state later rounds depend on (adaptive clipping's norm), for a
    /// checkpoint; empty for stateless parts. A wrapper appends its inner part's.
    fn state(&self) -> Vec<f32> {
        Vec::new()
    }

    /// Restores a state from [`state`](Self::state), consuming what belongs to this
    /// part (and its inner parts) from the front of `state`.
    ///
    /// # Errors
    /// [`FeddxError::AggregatorStateMismatch`](crate::FeddxError::AggregatorStateMismatch)
    /// when `state` is too short or its values cannot be this part's.
    fn restore(&mut self, state: &mut &[f32]) -> Result<()> {
        let _ = state;
        Ok(())
    }
}

/// `f` run on a rayon pool of `threads` threads: how the tests check that a part's
/// bits do not depend on the thread count.
#[cfg(test)]
pub(crate) fn on_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool for a test")
        .install(f)
}

/// The L2 norm of `v`, its squares summed in `f64` in eight interleaved lanes (so
/// the loop vectorises; the order is fixed, so the bits are too).
pub(crate) fn l2_norm_of(v: &[f32]) -> f64 {
    l2_norm_mapped(v, |x| x)
}

/// The L2 norm of `v` with every value first mapped by `map` (as `f32`, as it would
/// be stored), summed as [`l2_norm_of`] sums: the norm `v` would have after an
/// in-place `map`, without writing it.
#[inline(always)]
pub(crate) fn l2_norm_mapped(v: &[f32], map: impl Fn(f32) -> f32) -> f64 {
    let mut lanes = [0.0f64; 8];
    let mut chunks = v.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            let x = f64::from(map(x));
            *lane += x * x;
        }
    }
    let tail: f64 = chunks
        .remainder()
        .iter()
        .map(|&x| f64::from(map(x)) * f64::from(map(x)))
        .sum();
    (lanes.iter().sum::<f64>() + tail).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::federated::ConfigError;
    use crate::FeddxError;

    fn round(sampled: usize, min_updates: usize) -> RoundContext {
        RoundContext {
            round: 4,
            sampled,
            expected_clients: sampled as f64,
            min_updates,
            failed: 1,
            noise_key: NoiseKey::from_seed(99),
        }
    }

    fn update(client: usize, delta: &[f32], weight: f64) -> Contribution {
        Contribution {
            client,
            delta: delta.to_vec(),
            weight,
        }
    }

    fn run(
        chain: &mut dyn Aggregator,
        ctx: &RoundContext,
        updates: Vec<Contribution>,
    ) -> Result<(Vec<f32>, Tally)> {
        let mut out = vec![0.0; updates[0].delta.len()];
        let mut tally = Tally::default();
        chain.aggregate(ctx, updates, &mut out, &mut tally)?;
        Ok((out, tally))
    }

    #[test]
    fn non_finite_updates_never_reach_the_mean_even_without_zeroing() {
        let mut chain = Aggregation::default().build();
        let updates = vec![
            update(0, &[1.0, 2.0], 1.0),
            update(1, &[f32::NAN, 0.0], 5.0),
            update(2, &[3.0, f32::INFINITY], 5.0),
            update(3, &[3.0, 4.0], 1.0),
        ];
        let (out, tally) = run(chain.as_mut(), &round(4, 1), updates).unwrap();
        assert_eq!(out, vec![2.0, 3.0]);
        assert_eq!(tally.zeroed, 2);
        assert_eq!(tally.clipped, 0);
    }

    #[test]
    fn zeroing_rejects_large_norms_and_a_round_left_too_small_fails() {
        let settings = Aggregation {
            zeroing_norm: Some(5.0),
            ..Aggregation::default()
        };
        let mut chain = settings.build();
        let updates = || {
            vec![
                update(0, &[3.0, 4.0], 1.0), // norm 5: kept
                update(1, &[30.0, 40.0], 1.0),
                update(2, &[1.0, 0.0], 1.0),
            ]
        };
        let (out, tally) = run(chain.as_mut(), &round(3, 2), updates()).unwrap();
        assert_eq!(out, vec![2.0, 2.0]);
        assert_eq!(tally.zeroed, 1);
        let err = run(chain.as_mut(), &round(3, 3), updates()).unwrap_err();
        assert_eq!(
            err,
            FeddxError::TooFewUpdates {
                round: 4,
                accepted: 2,
                required: 3,
                failed: 1,
                rejected: 1
            }
        );
        assert_eq!(
            err.to_string(),
            "round 4 was left with 2 usable updates but needs at least 3 (`min_successful_clients`): \
             1 clients failed and 1 updates were rejected"
        );
    }

    #[test]
    fn fixed_clipping_scales_large_updates_to_the_norm() {
        let settings = Aggregation {
            clipping: Some(Clipping::Fixed { norm: 1.0 }),
            ..Aggregation::default()
        };
        let mut chain = settings.build();
        let updates = vec![update(0, &[3.0, 4.0], 1.0), update(1, &[0.0, 0.5], 1.0)];
        let (out, tally) = run(chain.as_mut(), &round(2, 1), updates).unwrap();
        // [0.6, 0.8] and [0, 0.5], averaged.
        assert!((out[0] - 0.3).abs() < 1e-7 && (out[1] - 0.65).abs() < 1e-7);
        assert_eq!((tally.clipped, tally.clip_norm), (1, Some(1.0)));
        assert_eq!(chain.state(), vec![1.0]);
    }

    /// Adaptive clipping from 1 towards the median, learning rate 0.2.
    fn adaptive_to_the_median(zeroing_norm: Option<f32>) -> Aggregation {
        Aggregation {
            zeroing_norm,
            clipping: Some(Clipping::Adaptive {
                initial_norm: 1.0,
                target_quantile: 0.5,
                learning_rate: 0.2,
            }),
            ..Aggregation::default()
        }
    }

    #[test]
    fn adaptive_clipping_moves_towards_the_target_quantile() {
        let settings = adaptive_to_the_median(None);
        let mut chain = settings.build();
        // Every update has norm 2 > C = 1: none unclipped, so C grows by e^{0.2 * 0.5}.
        let big = || vec![update(0, &[2.0, 0.0], 1.0), update(1, &[0.0, 2.0], 1.0)];
        run(chain.as_mut(), &round(2, 1), big()).unwrap();
        let grown = chain.state()[0];
        assert!((f64::from(grown) - 0.1f64.exp()).abs() < 1e-6, "{grown}");
        // All unclipped: C shrinks by e^{-0.2 * 0.5}, back to 1.
        let small = vec![update(0, &[0.1, 0.0], 1.0), update(1, &[0.0, 0.1], 1.0)];
        run(chain.as_mut(), &round(2, 1), small).unwrap();
        assert!((chain.state()[0] - 1.0).abs() < 1e-6);

        // A failed round leaves the norm alone.
        let before = chain.state();
        assert!(run(chain.as_mut(), &round(2, 3), big()).is_err());
        assert_eq!(chain.state(), before);

        // The state restores, and bad states are errors that change nothing.
        let mut other = settings.build();
        other.restore(&mut [0.25f32].as_slice()).unwrap();
        assert_eq!(other.state(), vec![0.25]);
        for bad in [&[][..], &[-1.0][..], &[f32::NAN][..]] {
            assert!(matches!(
                other.restore(&mut &bad[..]),
                Err(FeddxError::AggregatorStateMismatch { .. })
            ));
        }
        assert_eq!(other.state(), vec![0.25]);
    }

    #[test]
    fn zeroed_updates_count_as_unclipped_in_adaptive_clipping() {
        let settings = adaptive_to_the_median(Some(10.0));
        let mut chain = settings.build();
        // One update clipped (norm 2), one zeroed (norm 20), as TFF counts them: the
        // zeroed one is a zero vector, unclipped. b = 1/2 = the target: C stays.
        let updates = vec![update(0, &[2.0, 0.0], 1.0), update(1, &[20.0, 0.0], 1.0)];
        let (_, tally) = run(chain.as_mut(), &round(2, 1), updates).unwrap();
        assert_eq!((tally.zeroed, tally.clipped), (1, 1));
        assert_eq!(chain.state()[0], 1.0);
        // Without the zeroed one counted, b would be 0 and C would grow.
        let mut alone = settings.build();
        run(
            alone.as_mut(),
            &round(1, 1),
            vec![update(0, &[2.0, 0.0], 1.0)],
        )
        .unwrap();
        assert!(alone.state()[0] > 1.0);
    }

    #[test]
    fn dp_mean_is_the_sum_over_the_sampled_clients_plus_seeded_noise() {
        let settings = |z| Aggregation {
            clipping: Some(Clipping::Fixed { norm: 10.0 }),
            noise_multiplier: Some(z),
            ..Aggregation::default()
        };
        // Weights are ignored; 2 of 4 sampled clients answered: the sum over 4.
        let updates = || vec![update(0, &[1.0, 2.0], 7.0), update(1, &[3.0, 2.0], 1.0)];
        let (out, _) = run(settings(0.0).build().as_mut(), &round(4, 1), updates()).unwrap();
        assert_eq!(out, vec![1.0, 1.0]);

        let d = 200_000;
        let big = || vec![update(0, &vec![0.0; d], 1.0)];
        let ctx = round(4, 1);
        let (a, _) = run(settings(2.0).build().as_mut(), &ctx, big()).unwrap();
        let (b, _) = run(settings(2.0).build().as_mut(), &ctx, big()).unwrap();
        assert_eq!(a, b, "seeded");
        let (c, _) = on_threads(1, || run(settings(2.0).build().as_mut(), &ctx, big())).unwrap();
        assert_eq!(a, c, "the same bits on one thread");
        let other = RoundContext {
            noise_key: NoiseKey::from_seed(100),
            ..ctx
        };
        let (e, _) = run(settings(2.0).build().as_mut(), &other, big()).unwrap();
        assert_ne!(a, e);
        // Standard deviation z C / n = 2 * 10 / 4 = 5.
        let var = a.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / d as f64;
        assert!((var.sqrt() - 5.0).abs() < 0.05, "{}", var.sqrt());
    }

    #[test]
    fn invalid_settings_are_config_errors() {
        let with = |estimator| Aggregation {
            estimator,
            ..Aggregation::default()
        };
        for beta in [0.5, 0.7, -0.1, f64::NAN] {
            assert!(matches!(
                with(Estimator::TrimmedMean { beta }).validate(),
                Err(ConfigError::TrimBetaOutOfRange { .. })
            ));
        }
        assert_eq!(
            with(Estimator::Krum { f: 2 }).validate_for(6),
            Err(ConfigError::TooManyByzantine {
                aggregator: "krum",
                f: 2,
                clients: 6,
                minimum: 7
            })
        );
        assert!(with(Estimator::Krum { f: 2 }).validate_for(7).is_ok());
        assert_eq!(
            with(Estimator::Bulyan { f: 1 }).validate_for(6),
            Err(ConfigError::TooManyByzantine {
                aggregator: "bulyan",
                f: 1,
                clients: 6,
                minimum: 7
            })
        );
        assert_eq!(
            with(Estimator::MultiKrum { f: 1, m: Some(0) }).validate(),
            Err(ConfigError::ZeroMultiKrumKeep)
        );
        let noisy = Aggregation {
            noise_multiplier: Some(1.0),
            ..Aggregation::default()
        };
        assert_eq!(noisy.validate(), Err(ConfigError::NoiseNeedsFixedClipping));
        let adaptive = Aggregation {
            clipping: Some(Clipping::adaptive()),
            ..noisy
        };
        assert_eq!(
            adaptive.validate(),
            Err(ConfigError::NoiseNeedsFixedClipping)
        );
        let median = Aggregation {
            estimator: Estimator::Median,
            clipping: Some(Clipping::Fixed { norm: 1.0 }),
            ..noisy
        };
        assert_eq!(
            median.validate(),
            Err(ConfigError::NoiseNeedsMean {
                estimator: "median"
            })
        );
        let negative = Aggregation {
            estimator: Estimator::Mean,
            noise_multiplier: Some(-1.0),
            ..median
        };
        assert_eq!(
            negative.validate(),
            Err(ConfigError::NoiseMultiplier { value: -1.0 })
        );
        for bad in [0.0, -1.0, f32::NAN] {
            let zeroing = Aggregation {
                zeroing_norm: Some(bad),
                ..Aggregation::default()
            };
            assert!(matches!(
                zeroing.validate(),
                Err(ConfigError::ZeroingNorm { .. })
            ));
            let clip = Aggregation {
                clipping: Some(Clipping::Fixed { norm: bad }),
                ..Aggregation::default()
            };
            assert!(matches!(clip.validate(), Err(ConfigError::ClipNorm { .. })));
        }
        let quantile = Aggregation {
            clipping: Some(Clipping::Adaptive {
                initial_norm: 1.0,
                target_quantile: 1.0,
                learning_rate: 0.2,
            }),
            ..Aggregation::default()
        };
        assert_eq!(
            quantile.validate(),
            Err(ConfigError::ClipQuantile { value: 1.0 })
        );
    }

    #[test]
    fn a_round_too_small_for_krum_is_an_error() {
        let mut chain = Aggregation {
            estimator: Estimator::Krum { f: 1 },
            ..Aggregation::default()
        }
        .build();
        let updates = (0..4).map(|i| update(i, &[i as f32], 1.0)).collect();
        assert!(matches!(
            run(chain.as_mut(), &round(5, 1), updates),
            Err(FeddxError::Config(ConfigError::TooManyByzantine {
                minimum: 5,
                ..
            }))
        ));
    }
}
