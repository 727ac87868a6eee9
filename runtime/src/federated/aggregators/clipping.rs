//! Norm clipping: updates scaled down to a maximum L2 norm, fixed or adaptive.

use rayon::prelude::*;

use super::{l2_norm_mapped, l2_norm_of, Aggregator, Clipping, Contribution, RoundContext, Tally};
use crate::{FeddxError, Result};

/// Scales every update whose L2 norm is above the clipping norm `C` down to at most
/// `C` (exactly: the scale steps down an ulp at a time if rounding leaves the norm
/// above), then hands them to `inner`; with [`Clipping::Adaptive`], `C` moves after
/// each round towards the target quantile of the norms.
///
/// Updates that a [`Zeroing`](super::Zeroing) around this part rejected in the round
/// count as unclipped in adaptive clipping's fraction, as in TFF, where zeroing
/// replaces such an update with zeros, whose norm is below any `C`.
#[derive(Debug)]
pub struct Clip {
    clipping: Clipping,
    /// The norm the next round clips to.
    norm: f32,
    inner: Box<dyn Aggregator>,
}

impl Clip {
    /// Clipping as `clipping` says, around `inner`.
    pub fn new(clipping: Clipping, inner: Box<dyn Aggregator>) -> Self {
        let norm = match clipping {
            Clipping::Fixed { norm } => norm,
            Clipping::Adaptive { initial_norm, .. } => initial_norm,
        };
        Clip {
            clipping,
            norm,
            inner,
        }
    }

    /// The norm the next round clips to.
    pub fn norm(&self) -> f32 {
        self.norm
    }
}

impl Aggregator for Clip {
    fn aggregate(
        &mut self,
        round: &RoundContext,
        mut updates: Vec<Contribution>,
        out: &mut [f32],
        tally: &mut Tally,
    ) -> Result<()> {
        let bound = f64::from(self.norm);
        // Each update on its own thread: the same bits whatever the threads.
        let clipped = updates
            .par_iter_mut()
            .map(|u| {
                let norm = l2_norm_of(&u.delta);
                if norm > bound {
                    clip_to(&mut u.delta, norm, bound);
                    1
                } else {
                    0
                }
            })
            .sum::<usize>();
        // The outer parts ran first: what they rejected this round is in the tally.
        let zeroed = tally.zeroed;
        let count = updates.len();
        self.inner.aggregate(round, updates, out, tally)?;
        tally.clipped += clipped;
        tally.clip_norm = Some(self.norm);
        if let Clipping::Adaptive {
            target_quantile,
            learning_rate,
            ..
        } = self.clipping
        {
            if count + zeroed == 0 {
                return Ok(());
            }
            // Andrew et al. 2021, geometric update: b is the unclipped fraction, the
            // zeroed updates counted as unclipped zeros, as TFF counts them.
            let unclipped = (count - clipped + zeroed) as f64 / (count + zeroed) as f64;
            let step = -f64::from(learning_rate) * (unclipped - f64::from(target_quantile));
            self.norm = (f64::from(self.norm) * step.exp()) as f32;
        }
        Ok(())
    }

    fn state(&self) -> Vec<f32> {
        let mut state = vec![self.norm];
        state.extend(self.inner.state());
        state
    }

    fn restore(&mut self, state: &mut &[f32]) -> Result<()> {
        let Some((&norm, rest)) = state.split_first() else {
            return Err(FeddxError::AggregatorStateMismatch {
                reason: "the clipping norm is missing".into(),
            });
        };
        if !(norm.is_finite() && norm > 0.0) {
            return Err(FeddxError::AggregatorStateMismatch {
                reason: format!("the clipping norm {norm} is not finite and positive"),
            });
        }
        if let Clipping::Fixed { norm: fixed } = self.clipping {
            if norm != fixed {
                return Err(FeddxError::AggregatorStateMismatch {
                    reason: format!("the saved clipping norm {norm} is not the configured {fixed}"),
                });
            }
        }
        *state = rest;
        self.inner.restore(state)?;
        self.norm = norm;
        Ok(())
    }
}

/// Scales `delta`, of L2 norm `norm > bound`, down so that its norm (as
/// [`l2_norm_of`] computes it) is at most `bound`: by `bound / norm` rounded to
/// `f32`, stepped down one ulp at a time in the rare case where rounding the scale and
/// the scaled values leaves the norm a few ulps above `bound`. The scaled norm is
/// checked before anything is written.
pub(crate) fn clip_to(delta: &mut [f32], norm: f64, bound: f64) {
    let mut scale = (bound / norm) as f32;
    while scale > 0.0 && l2_norm_mapped(delta, |x| x * scale) > bound {
        scale = f32::from_bits(scale.to_bits() - 1);
    }
    delta.iter_mut().for_each(|x| *x *= scale);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn a_clipped_update_is_never_above_the_norm() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut stepped = 0;
        for trial in 0..2000 {
            let len = 1 + trial % 97;
            let mut delta: Vec<f32> = (0..len).map(|_| rng.gen_range(-3.0..3.0)).collect();
            let bound = f64::from(rng.gen_range(0.01f32..1.0));
            let norm = l2_norm_of(&delta);
            if norm <= bound {
                continue;
            }
            let naive = l2_norm_mapped(&delta, |x| x * (bound / norm) as f32);
            stepped += usize::from(naive > bound);
            clip_to(&mut delta, norm, bound);
            let clipped = l2_norm_of(&delta);
            assert!(clipped <= bound, "trial {trial}: {clipped} > {bound}");
            assert!(
                clipped > bound * (1.0 - 1e-6),
                "trial {trial}: clipped too far"
            );
        }
        // The naive scale overshoots now and then: the test sees the case it fixes.
        assert!(stepped > 0, "no trial overshot");
    }
}
