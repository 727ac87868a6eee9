//! FedBuff's buffer: the replies the server collects before it takes a step.
//!
//! Nguyen et al. (AISTATS 2022, Algorithm 1) add each reply's delta, scaled by its
//! staleness weight, into a buffer and step the server every `K` replies with
//! `Δ̄ / K`. feddx weights the replies as the synchronous engine does
//! ([`Weighting`]: by examples, or uniformly) and scales each by its staleness
//! weight `g(s)` ([`Staleness`]):
//!
//! ```text
//! Δ = Σ_i (n_i / Σ_j n_j) g(s_i) Δ_i
//! ```
//!
//! With uniform weighting this is the paper's `Σ_i g(s_i) Δ_i / K`; with every reply
//! fresh (`s = 0`, `g = 1`) it is FedAvg's weighted mean, bit for bit, since a delta
//! scaled by 1 is unchanged. The staleness weight is not normalised away: a buffer
//! of stale replies moves the model less than a buffer of fresh ones, as in the
//! paper.

use super::scheduler::Task;
use super::staleness::Staleness;
use crate::federated::aggregators::Contribution;
use crate::federated::Weighting;
use crate::metrics::MetricsState;

/// A client's reply, as it reaches the server.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The client, as an index into the population.
    pub client: usize,
    /// The task's number (see [`Event::task`](super::Event::task)).
    pub task: u64,
    /// Server steps taken between the version the client started from and the one
    /// its reply reached.
    pub staleness: u64,
    /// Examples the client holds.
    pub num_examples: usize,
    /// `w_local - w_start`, flat.
    pub delta: Vec<f32>,
    /// The client's training metrics, unfinalised.
    pub metrics: MetricsState,
}

/// A reply accepted into the buffer: its task and its staleness on arrival. The
/// reply's update stays with the engine until the step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buffered {
    /// The task that replied.
    pub task: Task,
    /// Its staleness when it arrived.
    pub staleness: u64,
}

/// Replies waiting for the next server step, in the order they arrived.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Buffer {
    replies: Vec<Buffered>,
}

impl Buffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Buffer::default()
    }

    /// Adds `reply` after those already held.
    pub fn push(&mut self, reply: Buffered) {
        self.replies.push(reply);
    }

    /// Replies held.
    pub fn len(&self) -> usize {
        self.replies.len()
    }

    /// Whether the buffer holds no reply.
    pub fn is_empty(&self) -> bool {
        self.replies.is_empty()
    }

    /// The replies, in arrival order.
    pub fn replies(&self) -> &[Buffered] {
        &self.replies
    }

    /// Empties the buffer, returning its replies in arrival order.
    pub fn take(&mut self) -> Vec<Buffered> {
        std::mem::take(&mut self.replies)
    }
}

/// The contributions of `replies` to a weighted mean (in arrival order): each
/// delta scaled by its staleness weight, each weight `weighting`'s for its example
/// count. Replies of weight 0 (no examples) are left out, as the synchronous
/// engine leaves them out.
///
/// Their [`weighted_mean`](crate::federated::weighted_mean) is the step's `Δ` of the
/// [module docs](self).
pub fn contributions(
    replies: Vec<Reply>,
    staleness: Staleness,
    weighting: Weighting,
) -> Vec<Contribution> {
    replies
        .into_iter()
        .map(|reply| {
            let mut delta = reply.delta;
            let g = staleness.weight(reply.staleness) as f32;
            if g != 1.0 {
                delta.iter_mut().for_each(|d| *d *= g);
            }
            Contribution {
                client: reply.client,
                weight: weighting.weight(reply.num_examples),
                delta,
            }
        })
        .filter(|c| c.weight > 0.0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::federated::weighted_mean;

    fn reply(task: u64, staleness: u64, num_examples: usize, delta: Vec<f32>) -> Reply {
        Reply {
            client: task as usize,
            task,
            staleness,
            num_examples,
            delta,
            metrics: MetricsState {
                loss_sum: 0.0,
                num_examples: 0,
                num_batches: 0,
                sums: Vec::new(),
            },
        }
    }

    fn mean(contributions: &[Contribution]) -> Vec<f32> {
        let deltas: Vec<&[f32]> = contributions.iter().map(|c| c.delta.as_slice()).collect();
        let weights: Vec<f64> = contributions.iter().map(|c| c.weight).collect();
        weighted_mean(&deltas, &weights).unwrap()
    }

    #[test]
    fn two_replies_of_staleness_0_and_3_worked_by_hand() {
        // K = 2; weights g(0) = 1 and g(3) = 1/2, times the example weights.
        let c = contributions(
            vec![
                reply(0, 0, 1, vec![2.0, 4.0]),
                reply(1, 3, 1, vec![4.0, -8.0]),
            ],
            Staleness::FEDBUFF,
            Weighting::ByExamples,
        );
        assert_eq!(c[1].delta, [2.0, -4.0]);
        // (1 · [2, 4] + 1/2 · [4, -8]) / 2 = [2, 0]: the paper's Σ g Δ / K.
        assert_eq!(mean(&c), [2.0, 0.0]);

        // Example weights 3 and 1: 3/4 · [2, 4] + 1/4 · 1/2 · [4, -8] = [2, 2].
        let c = contributions(
            vec![
                reply(0, 0, 3, vec![2.0, 4.0]),
                reply(1, 3, 1, vec![4.0, -8.0]),
            ],
            Staleness::FEDBUFF,
            Weighting::ByExamples,
        );
        assert_eq!(mean(&c), [2.0, 2.0]);
        // Uniformly weighted, the example counts do not matter.
        let c = contributions(
            vec![
                reply(0, 0, 3, vec![2.0, 4.0]),
                reply(1, 3, 1, vec![4.0, -8.0]),
            ],
            Staleness::FEDBUFF,
            Weighting::Uniform,
        );
        assert_eq!(mean(&c), [2.0, 0.0]);
        // Constant staleness weights: the plain mean.
        let c = contributions(
            vec![
                reply(0, 0, 1, vec![2.0, 4.0]),
                reply(1, 3, 1, vec![4.0, -8.0]),
            ],
            Staleness::Constant,
            Weighting::ByExamples,
        );
        assert_eq!(mean(&c), [3.0, -2.0]);
    }

    #[test]
    fn stale_replies_move_the_model_less_and_empty_ones_not_at_all() {
        let fresh = contributions(
            vec![reply(0, 0, 2, vec![1.0]), reply(1, 0, 2, vec![1.0])],
            Staleness::FEDBUFF,
            Weighting::ByExamples,
        );
        let stale = contributions(
            vec![reply(0, 8, 2, vec![1.0]), reply(1, 8, 2, vec![1.0])],
            Staleness::FEDBUFF,
            Weighting::ByExamples,
        );
        assert_eq!(mean(&fresh), [1.0]);
        assert_eq!(mean(&stale), [1.0 / 3.0]);
        let with_empty = contributions(
            vec![reply(0, 0, 0, vec![0.0]), reply(1, 0, 2, vec![6.0])],
            Staleness::FEDBUFF,
            Weighting::Uniform,
        );
        assert_eq!(with_empty.len(), 1);
        assert_eq!(with_empty[0].client, 1);
    }
}
