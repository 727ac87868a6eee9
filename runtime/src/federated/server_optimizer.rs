//! Server optimisers: how the averaged client delta moves the global weights.
//!
//! The averaged delta `Δ_t` is a pseudo-gradient (pointing downhill), and the server
//! applies it with an optimiser of its own, after Reddi et al., "Adaptive Federated
//! Optimization", ICLR 2021, Algorithm 2. Server SGD with learning rate 1 is plain
//! FedAvg.

use rayon::prelude::*;

use super::config::{positive, ConfigError};
use crate::{FeddxError, Result};

/// Elements per parallel chunk of an update.
const CHUNK: usize = 16 * 1024;

/// A server optimiser and its hyperparameters.
///
/// With `Δ_t` the averaged delta, the adaptive optimisers of Reddi et al. (2021,
/// Algorithm 2, no bias correction) share
///
/// ```text
/// m_t = β1 m_{t-1} + (1 - β1) Δ_t                     (m_{-1} = 0)
/// w_{t+1} = w_t + η m_t / (√v_t + τ)
/// ```
///
/// and differ in the second moment `v_t` (`v_{-1}` = `initial_accumulator`):
///
/// ```text
/// FedAdagrad: v_t = v_{t-1} + Δ_t²
/// FedAdam:    v_t = β2 v_{t-1} + (1 - β2) Δ_t²
/// FedYogi:    v_t = v_{t-1} - (1 - β2) Δ_t² sign(v_{t-1} - Δ_t²)
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum ServerOptimizer {
    /// Server SGD: `w_{t+1} = w_t + η Δ_t`; `η = 1` is FedAvg (McMahan et al. 2017).
    Sgd {
        /// Server learning rate `η`.
        learning_rate: f32,
    },
    /// FedAdagrad (Reddi et al. 2021).
    Adagrad {
        /// Server learning rate `η`.
        learning_rate: f32,
        /// Momentum `β1` in `[0, 1)`.
        beta1: f32,
        /// Adaptivity `τ > 0`.
        tau: f32,
        /// `v_{-1} ≥ 0`; the paper asks for at least `τ²`.
        initial_accumulator: f32,
    },
    /// FedAdam (Reddi et al. 2021).
    Adam {
        /// Server learning rate `η`.
        learning_rate: f32,
        /// Momentum `β1` in `[0, 1)`.
        beta1: f32,
        /// Second-moment decay `β2` in `[0, 1)`.
        beta2: f32,
        /// Adaptivity `τ > 0`.
        tau: f32,
        /// `v_{-1} ≥ 0`; the paper asks for at least `τ²`.
        initial_accumulator: f32,
    },
    /// FedYogi (Reddi et al. 2021; Yogi after Zaheer et al., NeurIPS 2018).
    Yogi {
        /// Server learning rate `η`.
        learning_rate: f32,
        /// Momentum `β1` in `[0, 1)`.
        beta1: f32,
        /// Second-moment decay `β2` in `[0, 1)`.
        beta2: f32,
        /// Adaptivity `τ > 0`.
        tau: f32,
        /// `v_{-1} ≥ 0`; the paper asks for at least `τ²`.
        initial_accumulator: f32,
    },
}

/// Defaults of the adaptive optimisers: Reddi et al.'s `β1 = 0.9`, `β2 = 0.99`,
/// `τ = 10⁻³` and `v_{-1} = τ²`.
const BETA1: f32 = 0.9;
const BETA2: f32 = 0.99;
const TAU: f32 = 1e-3;

impl ServerOptimizer {
    /// Server SGD with learning rate 1: plain FedAvg.
    pub const fn fedavg() -> Self {
        ServerOptimizer::Sgd { learning_rate: 1.0 }
    }

    /// FedAdagrad with learning rate `η`, `β1 = 0.9`, `τ = 10⁻³`, `v_{-1} = τ²`.
    pub fn adagrad(learning_rate: f32) -> Self {
        ServerOptimizer::Adagrad {
            learning_rate,
            beta1: BETA1,
            tau: TAU,
            initial_accumulator: TAU * TAU,
        }
    }

    /// FedAdam with learning rate `η`, `β1 = 0.9`, `β2 = 0.99`, `τ = 10⁻³`, `v_{-1} = τ²`.
    pub fn adam(learning_rate: f32) -> Self {
        ServerOptimizer::Adam {
            learning_rate,
            beta1: BETA1,
            beta2: BETA2,
            tau: TAU,
            initial_accumulator: TAU * TAU,
        }
    }

    /// FedYogi with learning rate `η`, `β1 = 0.9`, `β2 = 0.99`, `τ = 10⁻³`, `v_{-1} = τ²`.
    pub fn yogi(learning_rate: f32) -> Self {
        ServerOptimizer::Yogi {
            learning_rate,
            beta1: BETA1,
            beta2: BETA2,
            tau: TAU,
            initial_accumulator: TAU * TAU,
        }
    }

    /// The optimiser's name, as in the paper: `sgd`, `fedadagrad`, `fedadam`, `fedyogi`.
    pub fn name(&self) -> &'static str {
        match self {
            ServerOptimizer::Sgd { .. } => "sgd",
            ServerOptimizer::Adagrad { .. } => "fedadagrad",
            ServerOptimizer::Adam { .. } => "fedadam",
            ServerOptimizer::Yogi { .. } => "fedyogi",
        }
    }

    /// Whether the optimiser keeps the moment vectors `m` and `v`.
    pub fn is_adaptive(&self) -> bool {
        !matches!(self, ServerOptimizer::Sgd { .. })
    }

    /// Checks the hyperparameters.
    ///
    /// # Errors
    /// [`ConfigError::ServerLearningRate`], [`ConfigError::Beta1OutOfRange`],
    /// [`ConfigError::Beta2OutOfRange`], [`ConfigError::NonPositiveTau`] or
    /// [`ConfigError::InitialAccumulator`], checked in that order.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let in_unit = |b: f32| (0.0..1.0).contains(&b);
        let p = self.params();
        if !positive(p.learning_rate) {
            return Err(ConfigError::ServerLearningRate {
                value: p.learning_rate,
            });
        }
        if !self.is_adaptive() {
            return Ok(());
        }
        if !in_unit(p.beta1) {
            return Err(ConfigError::Beta1OutOfRange { value: p.beta1 });
        }
        if !matches!(self, ServerOptimizer::Adagrad { .. }) && !in_unit(p.beta2) {
            return Err(ConfigError::Beta2OutOfRange { value: p.beta2 });
        }
        if !positive(p.tau) {
            return Err(ConfigError::NonPositiveTau { value: p.tau });
        }
        if !(p.initial_accumulator.is_finite() && p.initial_accumulator >= 0.0) {
            return Err(ConfigError::InitialAccumulator {
                value: p.initial_accumulator,
            });
        }
        Ok(())
    }

    /// The hyperparameters as one record (unused ones are 0).
    fn params(&self) -> Params {
        match *self {
            ServerOptimizer::Sgd { learning_rate } => Params {
                learning_rate,
                ..Params::default()
            },
            ServerOptimizer::Adagrad {
                learning_rate,
                beta1,
                tau,
                initial_accumulator,
            } => Params {
                learning_rate,
                beta1,
                beta2: 0.0,
                tau,
                initial_accumulator,
            },
            ServerOptimizer::Adam {
                learning_rate,
                beta1,
                beta2,
                tau,
                initial_accumulator,
            }
            | ServerOptimizer::Yogi {
                learning_rate,
                beta1,
                beta2,
                tau,
                initial_accumulator,
            } => Params {
                learning_rate,
                beta1,
                beta2,
                tau,
                initial_accumulator,
            },
        }
    }
}

/// Hyperparameters of any server optimiser.
#[derive(Debug, Clone, Copy, Default)]
struct Params {
    learning_rate: f32,
    beta1: f32,
    beta2: f32,
    tau: f32,
    initial_accumulator: f32,
}

/// The state a server optimiser carries from round to round: all a checkpoint
/// needs to resume it bit for bit.
///
/// SGD keeps no vectors (`m` and `v` are empty); the adaptive optimisers keep one
/// value of each per trainable parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerOptimizerState {
    /// Updates applied so far.
    pub step: u64,
    /// First moment `m` (empty for SGD).
    pub m: Vec<f32>,
    /// Second moment `v` (empty for SGD).
    pub v: Vec<f32>,
}

impl ServerOptimizerState {
    /// The state before the first update of `optimizer` on `num_params` weights:
    /// `m = 0`, `v = initial_accumulator`.
    pub fn new(optimizer: &ServerOptimizer, num_params: usize) -> Self {
        let n = if optimizer.is_adaptive() {
            num_params
        } else {
            0
        };
        ServerOptimizerState {
            step: 0,
            m: vec![0.0; n],
            v: vec![optimizer.params().initial_accumulator; n],
        }
    }

    /// Checks that this state fits `optimizer` on `num_params` weights (as after a restore).
    ///
    /// # Errors
    /// [`FeddxError::ServerStateMismatch`] naming the vector of the wrong length.
    pub fn check(&self, optimizer: &ServerOptimizer, num_params: usize) -> Result<()> {
        let expected = if optimizer.is_adaptive() {
            num_params
        } else {
            0
        };
        for (part, actual) in [("m", self.m.len()), ("v", self.v.len())] {
            if actual != expected {
                return Err(FeddxError::ServerStateMismatch {
                    part,
                    expected,
                    actual,
                });
            }
        }
        Ok(())
    }

    /// Applies the averaged delta `delta` to `weights` in place and advances the state.
    ///
    /// Element-wise, in parallel chunks: the result does not depend on the thread count.
    ///
    /// # Errors
    /// [`FeddxError::WeightLengthMismatch`] if `delta` and `weights` differ in length,
    /// and the errors of [`check`](Self::check); nothing is changed then.
    pub fn apply(
        &mut self,
        optimizer: &ServerOptimizer,
        weights: &mut [f32],
        delta: &[f32],
    ) -> Result<()> {
        if delta.len() != weights.len() {
            return Err(FeddxError::WeightLengthMismatch {
                expected: weights.len(),
                actual: delta.len(),
            });
        }
        self.check(optimizer, weights.len())?;
        let p = optimizer.params();
        let lr = p.learning_rate;
        match optimizer {
            ServerOptimizer::Sgd { .. } => weights
                .par_chunks_mut(CHUNK)
                .zip(delta.par_chunks(CHUNK))
                .for_each(|(w, d)| w.iter_mut().zip(d).for_each(|(w, d)| *w += lr * d)),
            _ => {
                let second: fn(f32, f32, f32) -> f32 = match optimizer {
                    ServerOptimizer::Adagrad { .. } => |v, d2, _| v + d2,
                    ServerOptimizer::Adam { .. } => |v, d2, b2| b2 * v + (1.0 - b2) * d2,
                    _ => |v, d2, b2| v - (1.0 - b2) * d2 * sign(v - d2),
                };
                weights
                    .par_chunks_mut(CHUNK)
                    .zip(self.m.par_chunks_mut(CHUNK))
                    .zip(self.v.par_chunks_mut(CHUNK))
                    .zip(delta.par_chunks(CHUNK))
                    .for_each(|(((w, m), v), d)| {
                        for i in 0..w.len() {
                            m[i] = p.beta1 * m[i] + (1.0 - p.beta1) * d[i];
                            v[i] = second(v[i], d[i] * d[i], p.beta2);
                            w[i] += lr * m[i] / (v[i].sqrt() + p.tau);
                        }
                    });
            }
        }
        self.step += 1;
        Ok(())
    }
}

/// The sign of `x`: -1, 0 or 1 (`f32::signum` gives 1 at 0).
fn sign(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two steps of `optimizer` from `w = [1, 1]` with deltas `[0.5, -1]` then `[1, 0]`.
    fn two_steps(optimizer: &ServerOptimizer) -> (ServerOptimizerState, [Vec<f32>; 2]) {
        let mut state = ServerOptimizerState::new(optimizer, 2);
        let mut w = vec![1.0, 1.0];
        state.apply(optimizer, &mut w, &[0.5, -1.0]).unwrap();
        let first = w.clone();
        state.apply(optimizer, &mut w, &[1.0, 0.0]).unwrap();
        (state, [first, w])
    }

    fn close(a: &[f32], b: &[f32]) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn sgd_adds_the_scaled_delta() {
        let (state, [w1, w2]) = two_steps(&ServerOptimizer::Sgd { learning_rate: 0.5 });
        assert_eq!(w1, vec![1.25, 0.5]);
        assert_eq!(w2, vec![1.75, 0.5]);
        assert_eq!(state.step, 2);
        assert!(state.m.is_empty() && state.v.is_empty());
    }

    const HYPER: (f32, f32, f32, f32, f32) = (0.1, 0.5, 0.75, 0.5, 0.25);

    #[test]
    fn fedadagrad_two_steps() {
        let (lr, beta1, _, tau, initial_accumulator) = HYPER;
        let opt = ServerOptimizer::Adagrad {
            learning_rate: lr,
            beta1,
            tau,
            initial_accumulator,
        };
        let (state, [w1, w2]) = two_steps(&opt);
        // Step 1: m = [0.25, -0.5], v = [0.25 + 0.25, 0.25 + 1] = [0.5, 1.25].
        let s = |v: f32| v.sqrt() + 0.5;
        close(&w1, &[1.0 + 0.1 * 0.25 / s(0.5), 1.0 - 0.1 * 0.5 / s(1.25)]);
        // Step 2: m = [0.625, -0.25], v = [1.5, 1.25].
        close(
            &w2,
            &[w1[0] + 0.1 * 0.625 / s(1.5), w1[1] - 0.1 * 0.25 / s(1.25)],
        );
        close(&state.m, &[0.625, -0.25]);
        close(&state.v, &[1.5, 1.25]);
    }

    #[test]
    fn fedadam_two_steps() {
        let (learning_rate, beta1, beta2, tau, initial_accumulator) = HYPER;
        let opt = ServerOptimizer::Adam {
            learning_rate,
            beta1,
            beta2,
            tau,
            initial_accumulator,
        };
        let (state, [w1, w2]) = two_steps(&opt);
        let s = |v: f32| v.sqrt() + 0.5;
        // Step 1: v = 0.75 * 0.25 + 0.25 * [0.25, 1] = [0.25, 0.4375].
        close(
            &w1,
            &[1.0 + 0.1 * 0.25 / s(0.25), 1.0 - 0.1 * 0.5 / s(0.4375)],
        );
        // Step 2: m = [0.625, -0.25], v = [0.1875 + 0.25, 0.328125] = [0.4375, 0.328125].
        close(
            &w2,
            &[
                w1[0] + 0.1 * 0.625 / s(0.4375),
                w1[1] - 0.1 * 0.25 / s(0.328125),
            ],
        );
        close(&state.v, &[0.4375, 0.328125]);
    }

    #[test]
    fn fedyogi_two_steps() {
        let (learning_rate, beta1, beta2, tau, initial_accumulator) = HYPER;
        let opt = ServerOptimizer::Yogi {
            learning_rate,
            beta1,
            beta2,
            tau,
            initial_accumulator,
        };
        let (state, [w1, w2]) = two_steps(&opt);
        let s = |v: f32| v.sqrt() + 0.5;
        // Step 1: Δ² = [0.25, 1]; sign(v - Δ²) = [0, -1];
        // v = [0.25 - 0, 0.25 + 0.25 * 1] = [0.25, 0.5].
        close(&w1, &[1.0 + 0.1 * 0.25 / s(0.25), 1.0 - 0.1 * 0.5 / s(0.5)]);
        // Step 2: Δ² = [1, 0]; sign = [-1, 1]; v = [0.25 + 0.25, 0.5 - 0] = [0.5, 0.5].
        close(
            &w2,
            &[w1[0] + 0.1 * 0.625 / s(0.5), w1[1] - 0.1 * 0.25 / s(0.5)],
        );
        close(&state.v, &[0.5, 0.5]);
        assert_eq!(state.step, 2);
    }

    #[test]
    fn states_that_do_not_fit_are_errors() {
        let adam = ServerOptimizer::adam(0.1);
        let mut state = ServerOptimizerState::new(&adam, 3);
        let mut w = vec![0.0; 2];
        assert_eq!(
            state.apply(&adam, &mut w, &[0.0; 2]).unwrap_err(),
            FeddxError::ServerStateMismatch {
                part: "m",
                expected: 2,
                actual: 3
            }
        );
        assert_eq!(
            state.apply(&adam, &mut w, &[0.0; 3]).unwrap_err(),
            FeddxError::WeightLengthMismatch {
                expected: 2,
                actual: 3
            }
        );
        assert_eq!(state.step, 0);
        assert_eq!(ServerOptimizerState::new(&adam, 2).v, vec![1e-3 * 1e-3; 2]);
    }

    #[test]
    fn defaults_are_valid_and_named() {
        for o in [
            ServerOptimizer::fedavg(),
            ServerOptimizer::adagrad(0.1),
            ServerOptimizer::adam(0.1),
            ServerOptimizer::yogi(0.1),
        ] {
            o.validate().unwrap();
            assert!(!o.name().is_empty());
        }
    }
}
