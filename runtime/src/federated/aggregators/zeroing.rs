//! Zeroing: updates with a non-finite value, or a norm above a bound, are rejected.

use rayon::prelude::*;

use super::{l2_norm_of, Aggregator, Contribution, RoundContext, Tally};
use crate::{FeddxError, Result};

/// Rejects every update holding a NaN or an infinity and, with a `norm`, every
/// update whose L2 norm is above it, then hands the rest to `inner`.
///
/// TFF's `zeroing_factory` replaces such an update with zeros, which in a weighted
/// mean still counts its weight; here it is left out of the round altogether, so it
/// pulls the mean towards nothing. Rejections are counted in [`Tally::zeroed`]. If
/// fewer than [`RoundContext::min_updates`] updates are left, the round fails with
/// [`FeddxError::TooFewUpdates`].
#[derive(Debug)]
pub struct Zeroing {
    /// The bound on an update's norm; `None` rejects only non-finite updates.
    pub norm: Option<f32>,
    /// The part the accepted updates go to.
    pub inner: Box<dyn Aggregator>,
}

impl Zeroing {
    /// Whether `delta` may take part.
    fn accepts(&self, delta: &[f32]) -> bool {
        let norm = l2_norm_of(delta);
        norm.is_finite() && self.norm.is_none_or(|bound| norm <= f64::from(bound))
    }
}

impl Aggregator for Zeroing {
    fn aggregate(
        &mut self,
        round: &RoundContext,
        mut updates: Vec<Contribution>,
        out: &mut [f32],
        tally: &mut Tally,
    ) -> Result<()> {
        let before = updates.len();
        // The norms in parallel (each is one update's, so the bits do not depend on
        // the threads), then the rejections in order.
        let keep: Vec<bool> = updates.par_iter().map(|u| self.accepts(&u.delta)).collect();
        let mut keep = keep.into_iter();
        updates.retain(|_| keep.next().unwrap_or(false));
        tally.zeroed += before - updates.len();
        // A round that sampled nobody (with DP noise, which it still releases) hands
        // on no updates; any other round needs at least one.
        if round.sampled > 0 && updates.len() < round.min_updates.max(1) {
            return Err(FeddxError::TooFewUpdates {
                round: round.round,
                accepted: updates.len(),
                required: round.min_updates.max(1),
                failed: round.failed,
                rejected: tally.zeroed,
            });
        }
        self.inner.aggregate(round, updates, out, tally)
    }

    fn state(&self) -> Vec<f32> {
        self.inner.state()
    }

    fn restore(&mut self, state: &mut &[f32]) -> Result<()> {
        self.inner.restore(state)
    }
}
