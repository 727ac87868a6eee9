//! One client's work in a task, from the global weights to its reply: the faults
//! drawn for it, its duration on the simulated clock against the deadline, its
//! training with panics caught, and the corruption of its update.
//!
//! Both engines call [`client_task`]: the synchronous [`Simulation`](super::Simulation)
//! once per sampled client and round, an asynchronous engine once per task it starts.
//! Nothing here reads the real clock, so whether a client misses its deadline, and
//! how many steps a straggler makes, are the same on every machine.

use std::panic::{self, AssertUnwindSafe};

use super::client::{train_client_steps, ClientDataOf, ClientUpdate, LocalTraining};
use super::faults::Faults;
use super::population::SpeedModel;
use super::seeds::client_seed;
use super::simulation::panic_message;
use super::time::SimDuration;
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
pub fn client_task<M: FederatedModel>(
    model: &mut M,
    global: &[f32],
    client: usize,
    data: &ClientDataOf<M>,
    settings: &TaskSettings<'_>,
) -> ClientOutcome {
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
