//! The settings of a round's aggregation: which estimator, which safeguards around it.
//!
//! [`Aggregation`] is plain data, validated with the rest of a
//! [`FedConfig`](crate::federated::FedConfig); [`Aggregation::build`] turns it into
//! the chain of [`Aggregator`](super::Aggregator) parts that runs it.

use super::{Aggregator, Clip, DpMean, Estimate, Zeroing};
use crate::federated::ConfigError;

/// What combines the accepted updates of a round into one delta.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Estimator {
    /// The mean, weighted as the config's [`Weighting`](crate::federated::Weighting)
    /// says: FedAvg's.
    #[default]
    Mean,
    /// The coordinate-wise median (Yin et al. 2018; Flower's `FedMedian`).
    Median,
    /// The coordinate-wise mean after dropping the `beta` fraction of largest and of
    /// smallest values (Yin et al. 2018; Flower's `FedTrimmedAvg`); `beta` in `[0, 0.5)`.
    TrimmedMean {
        /// Fraction trimmed from each end.
        beta: f64,
    },
    /// The one update closest to its `n - f - 2` nearest neighbours (Blanchard et al. 2017).
    Krum {
        /// Byzantine clients tolerated; a round needs `n >= 2f + 3` updates.
        f: usize,
    },
    /// The mean of the `m` updates with the best Krum scores (Blanchard et al. 2017),
    /// weighted as the config says; `m = None` keeps `n - f`.
    MultiKrum {
        /// Byzantine clients tolerated; a round needs `n >= 2f + 3` updates.
        f: usize,
        /// Updates kept.
        m: Option<usize>,
    },
    /// Krum repeated to pick `n - 2f` updates, then per coordinate the mean of the
    /// `n - 4f` values nearest the median (El Mhamdi et al. 2018); `n >= 4f + 3`.
    Bulyan {
        /// Byzantine clients tolerated.
        f: usize,
    },
}

impl Estimator {
    /// The estimator's name, as the example's `--aggregator` flag spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Estimator::Mean => "mean",
            Estimator::Median => "median",
            Estimator::TrimmedMean { .. } => "trimmed-mean",
            Estimator::Krum { .. } => "krum",
            Estimator::MultiKrum { .. } => "multi-krum",
            Estimator::Bulyan { .. } => "bulyan",
        }
    }

    /// Updates a round must have for this estimator to be defined: `2f + 3` for
    /// Krum and Multi-Krum, `4f + 3` for Bulyan, 1 for the means and the median.
    ///
    /// An `f` so large that the count does not fit in a `usize` gives `usize::MAX`
    /// (no round has that many updates, so [`check_updates`](Self::check_updates)
    /// rejects every round), in release and debug builds alike: the count is
    /// computed with saturating arithmetic, never wrapped.
    pub fn min_updates(&self) -> usize {
        let times_plus_3 = |k: usize, f: usize| f.saturating_mul(k).saturating_add(3);
        match *self {
            Estimator::Krum { f } | Estimator::MultiKrum { f, .. } => times_plus_3(2, f),
            Estimator::Bulyan { f } => times_plus_3(4, f),
            _ => 1,
        }
    }

    /// Checks that `updates` are enough for the estimator to be defined.
    ///
    /// # Errors
    /// [`ConfigError::TooManyByzantine`], naming the minimum.
    pub fn check_updates(&self, updates: usize) -> Result<(), ConfigError> {
        match *self {
            Estimator::Krum { f } | Estimator::MultiKrum { f, .. } | Estimator::Bulyan { f }
                if updates < self.min_updates() =>
            {
                Err(ConfigError::TooManyByzantine {
                    aggregator: self.name(),
                    f,
                    clients: updates,
                    minimum: self.min_updates(),
                })
            }
            _ => Ok(()),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        match *self {
            Estimator::TrimmedMean { beta } if !(0.0..0.5).contains(&beta) => {
                Err(ConfigError::TrimBetaOutOfRange { beta })
            }
            Estimator::MultiKrum { m: Some(0), .. } => Err(ConfigError::ZeroMultiKrumKeep),
            _ => Ok(()),
        }
    }
}

/// How updates are clipped to a maximum L2 norm before they are combined.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Clipping {
    /// Every update with a norm above `norm` is scaled down to it.
    Fixed {
        /// The clipping norm `C`, finite and positive.
        norm: f32,
    },
    /// The norm follows a quantile of the updates' norms (Andrew, Thakkar, McMahan
    /// and Ramaswamy, "Differentially Private Learning with Adaptive Clipping",
    /// NeurIPS 2021): after each round, `C ← C · exp(-η (b − γ))`, where `b` is the
    /// fraction of the round's updates whose norm was at most `C`. This is the
    /// geometric update of TFF's `PrivateQuantileEstimationProcess.no_noise`: the
    /// unclipped fraction is not noised, so adaptive clipping does not combine with
    /// [noise](Aggregation::noise_multiplier).
    Adaptive {
        /// `C` in the first round, finite and positive.
        initial_norm: f32,
        /// `γ`, the fraction of updates left unclipped at equilibrium, in `(0, 1)`.
        target_quantile: f32,
        /// `η`, finite and positive.
        learning_rate: f32,
    },
}

impl Clipping {
    /// Adaptive clipping with TFF's defaults for `tff.learning.robust_aggregator`:
    /// initial norm 1, target quantile 0.8, learning rate 0.2.
    pub fn adaptive() -> Self {
        Clipping::Adaptive {
            initial_norm: 1.0,
            target_quantile: 0.8,
            learning_rate: 0.2,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let positive = |v: f32| v.is_finite() && v > 0.0;
        match *self {
            Clipping::Fixed { norm } if !positive(norm) => {
                Err(ConfigError::ClipNorm { value: norm })
            }
            Clipping::Adaptive { initial_norm, .. } if !positive(initial_norm) => {
                Err(ConfigError::ClipNorm {
                    value: initial_norm,
                })
            }
            Clipping::Adaptive {
                target_quantile, ..
            } if !(target_quantile > 0.0 && target_quantile < 1.0) => {
                Err(ConfigError::ClipQuantile {
                    value: target_quantile,
                })
            }
            Clipping::Adaptive { learning_rate, .. } if !positive(learning_rate) => {
                Err(ConfigError::ClipLearningRate {
                    value: learning_rate,
                })
            }
            _ => Ok(()),
        }
    }
}

/// A round's aggregation, composed as TFF composes its aggregators: zeroing around
/// clipping around the estimator, which for DP-FedAvg is a noised mean.
///
/// Whatever the settings, an update holding a NaN or an infinity is rejected before
/// anything else sees it: it never reaches the global model.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Aggregation {
    /// What combines the accepted updates.
    pub estimator: Estimator,
    /// Updates with an L2 norm above this are rejected (TFF's `zeroing_factory`),
    /// and counted in [`RoundCounts::zeroed`](crate::federated::RoundCounts::zeroed).
    pub zeroing_norm: Option<f32>,
    /// Updates are clipped to a maximum norm, counted in
    /// [`RoundCounts::clipped`](crate::federated::RoundCounts::clipped).
    pub clipping: Option<Clipping>,
    /// Central DP-FedAvg (McMahan, Ramage, Talwar and Zhang, "Learning Differentially
    /// Private Recurrent Language Models", ICLR 2018): the clipped updates are summed,
    /// Gaussian noise of standard deviation `z · C` is added to the sum, and the sum
    /// is divided by the number of clients sampled per round. Needs fixed
    /// [`clipping`](Self::clipping) `C` and the [`Mean`](Estimator::Mean) estimator;
    /// each update counts once, whatever its example count.
    ///
    /// The noise and the round's client sample come from fresh operating-system keys
    /// ([`NoiseSource`](crate::federated::NoiseSource)), and each round reports the
    /// privacy spent ([`PrivacySpent`](crate::federated::PrivacySpent)): client-level,
    /// with the sum's sensitivity `C` under Poisson sampling and `2C` under a fixed
    /// count.
    pub noise_multiplier: Option<f64>,
}

impl Aggregation {
    /// Checks every setting.
    ///
    /// # Errors
    /// [`ConfigError::TrimBetaOutOfRange`], [`ConfigError::ZeroMultiKrumKeep`],
    /// [`ConfigError::ZeroingNorm`], [`ConfigError::ClipNorm`],
    /// [`ConfigError::ClipQuantile`], [`ConfigError::ClipLearningRate`],
    /// [`ConfigError::NoiseMultiplier`], [`ConfigError::NoiseNeedsFixedClipping`] or
    /// [`ConfigError::NoiseNeedsMean`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.estimator.validate()?;
        if let Some(norm) = self.zeroing_norm {
            if !(norm.is_finite() && norm > 0.0) {
                return Err(ConfigError::ZeroingNorm { value: norm });
            }
        }
        if let Some(clipping) = &self.clipping {
            clipping.validate()?;
        }
        if let Some(z) = self.noise_multiplier {
            if !(z.is_finite() && z >= 0.0) {
                return Err(ConfigError::NoiseMultiplier { value: z });
            }
            if !matches!(self.clipping, Some(Clipping::Fixed { .. })) {
                return Err(ConfigError::NoiseNeedsFixedClipping);
            }
            if self.estimator != Estimator::Mean {
                return Err(ConfigError::NoiseNeedsMean {
                    estimator: self.estimator.name(),
                });
            }
        }
        Ok(())
    }

    /// Checks the settings against the clients a round samples.
    ///
    /// # Errors
    /// [`ConfigError::TooManyByzantine`] when the estimator needs more updates
    /// than `per_round` clients can send.
    pub fn validate_for(&self, per_round: usize) -> Result<(), ConfigError> {
        self.estimator.check_updates(per_round)
    }

    /// The chain of parts that runs these settings: non-finite and zeroing checks,
    /// then clipping, then the estimator. Call [`validate`](Self::validate) first;
    /// invalid settings give a chain whose every round fails with its `ConfigError`.
    pub fn build(&self) -> Box<dyn Aggregator> {
        let estimator: Box<dyn Aggregator> = match self.noise_multiplier {
            Some(noise_multiplier) => {
                let clip_norm = match self.clipping {
                    Some(Clipping::Fixed { norm }) => norm,
                    _ => f32::NAN,
                };
                Box::new(DpMean {
                    noise_multiplier,
                    clip_norm,
                })
            }
            None => Box::new(Estimate(self.estimator)),
        };
        let clipped = match self.clipping {
            Some(clipping) => Box::new(Clip::new(clipping, estimator)),
            None => estimator,
        };
        Box::new(Zeroing {
            norm: self.zeroing_norm,
            inner: clipped,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_minimum_of_a_huge_f_saturates_instead_of_wrapping() {
        // Without saturation `2f + 3` wraps to 1 for f = usize::MAX / 2 + 1 in
        // release (and panics in debug), and Krum would accept a single update.
        for f in [usize::MAX, usize::MAX / 2 + 1, usize::MAX / 2 - 1] {
            for estimator in [Estimator::Krum { f }, Estimator::MultiKrum { f, m: None }] {
                assert_eq!(estimator.min_updates(), usize::MAX, "{estimator:?}");
                for updates in [1, 3, usize::MAX - 1] {
                    assert_eq!(
                        estimator.check_updates(updates),
                        Err(ConfigError::TooManyByzantine {
                            aggregator: estimator.name(),
                            f,
                            clients: updates,
                            minimum: usize::MAX,
                        })
                    );
                }
            }
        }
        // `4f + 3` overflows where `2f + 3` does not.
        let f = usize::MAX / 4 + 1;
        assert_eq!(Estimator::Krum { f }.min_updates(), 2 * f + 3);
        assert_eq!(Estimator::Bulyan { f }.min_updates(), usize::MAX);
        assert!(Estimator::Bulyan { f }
            .check_updates(usize::MAX - 1)
            .is_err());
        // The largest f that fits is exact.
        let f = (usize::MAX - 3) / 2;
        assert_eq!(Estimator::Krum { f }.min_updates(), usize::MAX);
        assert_eq!(Estimator::Krum { f: f - 1 }.min_updates(), usize::MAX - 2);
        assert_eq!(Estimator::Bulyan { f: 2 }.min_updates(), 11);
        assert_eq!(Estimator::Median.min_updates(), 1);
    }

    #[test]
    fn a_config_with_a_huge_f_or_keep_is_an_error_not_an_overflow() {
        for estimator in [
            Estimator::Krum { f: usize::MAX },
            Estimator::MultiKrum {
                f: usize::MAX / 2,
                m: Some(usize::MAX),
            },
            Estimator::Bulyan { f: usize::MAX / 4 },
        ] {
            let aggregation = Aggregation {
                estimator,
                ..Aggregation::default()
            };
            assert!(aggregation.validate().is_ok(), "{estimator:?}");
            let err = aggregation.validate_for(100).unwrap_err();
            assert!(
                matches!(
                    err,
                    ConfigError::TooManyByzantine {
                        clients: 100,
                        minimum: usize::MAX,
                        ..
                    }
                ),
                "{err:?}"
            );
        }
    }
}
