//! One client's work in a task, from the global weights to its reply: the faults
//! drawn for it, its duration on the simulated clock against the deadline, its
//! training with panics caught, and the corruption of its update.
//!
//! Both engines call [`client_task`]: the synchronous [`Simulation`](super::Simulation)
//! once per sampled client and round, an asynchronous engine once per task it starts.
//! Nothing here reads the real clock, so whether a client misses its deadline, and
//! how many steps a straggler makes, are the same on every machine.

use std::panic::{self, AssertUnwindSafe};

use super::client::{train_client_steps, ClientUpdate, LocalTraining};
use super::faults::Faults;
use super::population::SpeedModel;
use super::seeds::client_seed;
use super::simulation::panic_message;
use super::time::SimDuration;
use crate::data::ClientExamples;
use crate::{FeddxError, FederatedModel, Result};

/// What becomes of a client whose full local work does not fit the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StragglerPolicy {
    /// It is dropped: it sends nothing and fails with
    /// [`FeddxError::DeadlineExceeded`], as FedAvg does in the FedProx paper's
    /// experiments (the default).
    #[default]
    Drop,
    /// It makes as many local steps as fit before the deadline and sends that
    /// update: FedProx's "variable amounts of local work" (Li et al., MLSys 2020).
    /// A client that fits no step at all is dropped.
    PartialWork,
}

/// What a client task needs from its engine, the same for every client of a round
/// (or of an asynchronous engine's task).
#[derive(Debug, Clone, Copy)]
pub struct TaskSettings<'a> {
    /// The run seed.
    pub run_seed: u64,
    /// The index the task's seeds take: a synchronous round's 0-based index, or an
    /// asynchronous engine's task number. Training, faults and speed draw on
    /// `(run_seed, task, client)`.
    pub task: usize,
    /// The local training.
    pub training: LocalTraining,
    /// The faults to inject.
    pub faults: &'a Faults,
    /// The run's Byzantine clients ([`Faults::byzantine_clients`]), ascending.
    pub byzantine: &'a [usize],
    /// How long a local step takes.
    pub speed: &'a SpeedModel,
    /// The simulated time a client has from receiving the global weights to its
    /// reply, if limited.
    pub deadline: Option<SimDuration>,
    /// What becomes of a client whose work does not fit the deadline.
    pub stragglers: StragglerPolicy,
}

/// One client's reply to a task, and what it cost in simulated time.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientOutcome {
    /// The client, as an index into the population.
    pub client: usize,
    /// Simulated time from receiving the global weights to the reply: its steps'
    /// duration plus its injected slow delay. A client that missed the deadline
    /// has the time it would have taken (beyond the deadline); one that dropped
    /// out, zero.
    pub duration: SimDuration,
    /// Local steps (batches) it made.
    pub steps: usize,
    /// Local steps its full work has ([`LocalTraining::steps`]).
    pub planned_steps: usize,
    /// Its update, or why it has none.
    pub result: Result<ClientUpdate>,
}

impl ClientOutcome {
    /// Whether the client sent an update of fewer steps than its full work.
    pub fn is_partial(&self) -> bool {
        self.result.is_ok() && self.steps < self.planned_steps
    }

    /// Whether the client was dropped for missing the deadline.
    pub fn missed_deadline(&self) -> bool {
        matches!(self.result, Err(FeddxError::DeadlineExceeded { .. }))
    }

    /// Whether the client's training panicked (its model may be left in any state).
    pub fn panicked(&self) -> bool {
        matches!(self.result, Err(FeddxError::ClientPanicked { .. }))
    }
}

/// Runs one client's task on `model`, from the `global` weights, with the client's
/// `data`:
///
/// 1. its faults are drawn ([`Faults`], from `(run_seed, task, client)`); a client
///    that drops out sends nothing;
/// 2. its duration is the speed model's step duration times its local steps, plus
///    the injected slow delay; if that is beyond the deadline, it is dropped, or,
///    with [`StragglerPolicy::PartialWork`], allowed the steps that fit;
/// 3. it trains ([`train_client_steps`], seeded with [`client_seed`]), a panic in
///    the model's code caught as [`FeddxError::ClientPanicked`];
/// 4. a Byzantine or NaN-sending client's update is corrupted.
///
/// The deadline is decided before training, on the simulated clock: a client that
/// would miss it does not train at all (and so reports the missed deadline, not a
/// training error it might have hit).
pub fn client_task<M, D>(
    model: &mut M,
    global: &[f32],
    client: usize,
    data: &D,
    settings: &TaskSettings<'_>,
) -> ClientOutcome
where
    M: FederatedModel,
    D: ClientExamples<M::Features, M::Labels> + ?Sized,
{
    let TaskSettings { run_seed, task, .. } = *settings;
    let planned_steps = settings.training.steps(data.len());
    let outcome = |duration, steps, result| ClientOutcome {
        client,
        duration,
        steps,
        planned_steps,
        result,
    };
    let injected = settings
        .faults
        .draw(run_seed, task, client, settings.byzantine);
    if injected.dropped {
        return outcome(SimDuration::ZERO, 0, Err(FeddxError::ClientDroppedOut));
    }
    let delay = SimDuration::from(injected.delay);
    let step = settings.speed.step_duration(run_seed, client, task);
    let full = step.saturating_mul(planned_steps as u64) + delay;
    let steps = match settings.deadline {
        Some(deadline) if full > deadline => {
            let fit = match settings.stragglers {
                StragglerPolicy::Drop => 0,
                StragglerPolicy::PartialWork if delay > deadline => 0,
                // `full > deadline >= delay`, so the step takes time and fits a
                // finite number of times, fewer than planned.
                StragglerPolicy::PartialWork => deadline.saturating_sub(delay).fits(step) as usize,
            };
            if fit == 0 {
                let missed = FeddxError::DeadlineExceeded {
                    elapsed: full.into(),
                    deadline: deadline.into(),
                };
                return outcome(full, 0, Err(missed));
            }
            fit
        }
        _ => planned_steps,
    };
    let duration = step.saturating_mul(steps as u64) + delay;
    let seed = client_seed(run_seed, task, client);
    let trained = panic::catch_unwind(AssertUnwindSafe(|| {
        train_client_steps(model, global, data, &settings.training, seed, steps)
    }))
    .unwrap_or_else(|payload| {
        Err(FeddxError::ClientPanicked {
            message: panic_message(payload.as_ref()),
        })
    });
    let result = trained.map(|mut update| {
        injected.corrupt(&mut update.delta);
        update
    });
    outcome(duration, steps, result)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::federated::client::{train_client, Algorithm, ClientDataOf};
    use crate::federated::config::BatchSize;
    use crate::federated::test_model::{blobs, TinyModel};

    fn training(local_epochs: usize) -> LocalTraining {
        LocalTraining {
            algorithm: Algorithm::FedProx { mu: 0.5 },
            local_epochs,
            batch_size: BatchSize::Examples(2),
            learning_rate: 0.2,
        }
    }

    fn settings<'a>(
        faults: &'a Faults,
        speed: &'a SpeedModel,
        deadline_ms: u64,
        stragglers: StragglerPolicy,
    ) -> TaskSettings<'a> {
        TaskSettings {
            run_seed: 3,
            task: 4,
            training: training(2),
            faults,
            byzantine: &[],
            speed,
            deadline: Some(SimDuration::from_millis(deadline_ms)),
            stragglers,
        }
    }

    #[test]
    fn a_straggler_allowed_k_of_n_steps_makes_exactly_k() {
        // 6 examples in batches of 2 over 2 epochs: 6 steps of 10 ms; 35 ms fit 3.
        let data = blobs(6, 1);
        let speed = SpeedModel::Constant(SimDuration::from_millis(10));
        let none = Faults::default();
        let mut model = TinyModel::with_seed(0);
        let global = model.weights_vec();
        let partial = settings(&none, &speed, 35, StragglerPolicy::PartialWork);
        let out = client_task(&mut model, &global, 7, &data, &partial);
        assert_eq!((out.planned_steps, out.steps), (6, 3));
        assert_eq!(out.duration, SimDuration::from_millis(30));
        assert!(out.is_partial());
        let update = out.result.unwrap();
        assert_eq!(update.metrics.num_batches, 3);
        // The 3 steps are the first epoch, shuffled alike: exactly `train_client`
        // with one local epoch, by hand.
        let seed = client_seed(3, 4, 7);
        let one_epoch = train_client(&mut model, &global, &data, &training(1), seed).unwrap();
        assert_eq!(update, one_epoch);
        let full = train_client(&mut model, &global, &data, &training(2), seed).unwrap();
        assert_ne!(update.delta, full.delta);
        // All the steps, or more, is `train_client`.
        for cap in [6, 7, usize::MAX] {
            let capped =
                train_client_steps(&mut model, &global, &data, &training(2), seed, cap).unwrap();
            assert_eq!(capped, full);
        }
        // Without a deadline, or with one the work fits, the client does it all.
        let roomy = settings(&none, &speed, 60, StragglerPolicy::PartialWork);
        let out = client_task(&mut model, &global, 7, &data, &roomy);
        assert_eq!((out.steps, out.duration), (6, SimDuration::from_millis(60)));
        assert_eq!(out.result.unwrap(), full);
    }

    #[test]
    fn a_straggler_is_dropped_or_cut_short_as_the_policy_says() {
        let data = blobs(6, 1);
        let speed = SpeedModel::Constant(SimDuration::from_millis(10));
        let slow = Faults {
            slow: 1.0,
            slow_delay: Duration::from_millis(12),
            ..Faults::default()
        };
        let mut model = TinyModel::with_seed(0);
        let global = model.weights_vec();
        let drop = settings(&slow, &speed, 35, StragglerPolicy::Drop);
        let out = client_task(&mut model, &global, 0, &data, &drop);
        assert!(out.missed_deadline(), "{:?}", out.result);
        assert_eq!(out.steps, 0);
        assert_eq!(
            out.result.unwrap_err(),
            FeddxError::DeadlineExceeded {
                elapsed: Duration::from_millis(72),
                deadline: Duration::from_millis(35)
            }
        );
        // 12 ms of delay leave 23 ms: 2 steps.
        let partial = settings(&slow, &speed, 35, StragglerPolicy::PartialWork);
        let out = client_task(&mut model, &global, 0, &data, &partial);
        assert_eq!(out.steps, 2);
        assert_eq!(out.duration, SimDuration::from_millis(32));
        assert_eq!(out.result.unwrap().metrics.num_batches, 2);
        // A deadline shorter than a step plus the delay leaves no work: dropped.
        for deadline in [5, 20] {
            let none_fit = settings(&slow, &speed, deadline, StragglerPolicy::PartialWork);
            let out = client_task(&mut model, &global, 0, &data, &none_fit);
            assert!(out.missed_deadline(), "{deadline}: {:?}", out.result);
        }
    }

    #[test]
    fn a_panic_and_a_dropout_are_outcomes() {
        use crate::federated::test_model::PANIC_FEATURE;
        let mut bad = blobs(3, 0).examples().to_vec();
        bad[0].0 = [PANIC_FEATURE, 0.0];
        let bad = ClientDataOf::<TinyModel>::new(bad);
        let speed = SpeedModel::default();
        let none = Faults::default();
        let mut model = TinyModel::with_seed(0);
        let global = model.weights_vec();
        let task = TaskSettings {
            deadline: None,
            ..settings(&none, &speed, 1, StragglerPolicy::Drop)
        };
        let out = client_task(&mut model, &global, 0, &bad, &task);
        assert!(out.panicked());
        let gone = Faults {
            dropout: 1.0,
            ..Faults::default()
        };
        let task = TaskSettings {
            faults: &gone,
            ..task
        };
        let out = client_task(&mut model, &global, 0, &blobs(3, 0), &task);
        assert_eq!(out.result, Err(FeddxError::ClientDroppedOut));
        assert_eq!((out.steps, out.duration), (0, SimDuration::ZERO));
    }
}
