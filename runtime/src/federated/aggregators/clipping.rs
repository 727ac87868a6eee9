//! Norm clipping: updates scaled down to a maximum L2 norm, fixed or adaptive.

use rayon::prelude::*;

use super::{l2_norm_of, Aggregator, Clipping, Contribution, RoundContext, Tally};
use crate::{FeddxError, Result};

/// Scales every update whose L2 norm is above the clipping norm `C` down to `C`,
/// then hands them to `inner`; with [`Clipping::Adaptive`], `C` moves after each
/// round towards the target quantile of the norms.
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
                    let scale = (bound / norm) as f32;
                    u.delta.iter_mut().for_each(|x| *x *= scale);
                    1
                } else {
                    0
                }
            })
            .sum::<usize>();
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
            // Andrew et al. 2021, geometric update: b is the unclipped fraction.
            let unclipped = (count - clipped) as f64 / count as f64;
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
