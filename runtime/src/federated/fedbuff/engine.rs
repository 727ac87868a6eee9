//! The FedBuff engine: clients in flight on a simulated clock, a server step every
//! `K` replies.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use super::buffer::{contributions, Buffer, Buffered, Reply};
use super::config::FedBuffConfig;
use super::events::{Event, EventQueue};
use super::report::StepReport;
use super::scheduler::{Scheduler, Task};
use super::state::FedBuffState;
use super::FedBuffError;
use crate::federated::aggregators::{Aggregator, RoundContext};
use crate::federated::client_task::{client_task, ClientOutcome, TaskSettings};
use crate::federated::evaluation::evaluate;
use crate::federated::server_step::{server_step, ServerParts};
use crate::federated::time::SimTime;
use crate::federated::workers::WorkerPool;
use crate::federated::{
    Availability, ClientDataOf, FedConfig, NoiseKey, RoundCounts, RoundReport, ServerOptimizer,
    ServerOptimizerState,
};
use crate::metrics::MetricValues;
use crate::{FeddxError, FederatedModel, Result};

/// An asynchronous federated run with FedBuff (Nguyen et al., "Federated Learning
/// with Buffered Asynchronous Aggregation", AISTATS 2022): `concurrency` clients
/// train at once, each from the model version current when it started, and the
/// server steps every `buffer` replies, each scaled by its staleness weight (see
/// [`buffer`](super::buffer)), with server SGD at the
/// [`server_learning_rate`](FedBuffConfig::server_learning_rate).
///
/// Time is simulated: a client's task takes its [speed](FedConfig::speed) times its
/// local steps (plus an injected slow delay), and the [`EventQueue`] moves the
/// clock from one reply to the next. Replies that arrive at the same instant are
/// all handled (the server stepping whenever the buffer fills) before the free
/// slots are filled again from the newest model, so with `concurrency = buffer =`
/// FedAvg's clients per round and equal speeds FedBuff is FedAvg, bit for bit.
///
/// From the [`FedConfig`] it takes the clients' training (local epochs, batch size,
/// algorithm, learning rate), the weighting, the seed, the faults, the speed model,
/// the deadline and straggler policy (per task), the aggregation chain (zeroing,
/// clipping, robust estimators), `accept_failures`, `min_successful_clients` (per
/// step), evaluation, parallelism, and [`rounds`](FedConfig::rounds) as the number
/// of server steps. It refuses the settings it cannot honour (DP noise, client
/// availability, over-selection, a server optimiser other than the default: set the
/// server learning rate in the [`FedBuffConfig`]).
///
/// Reproducible: task `j` trains the client the [`Scheduler`] draws for it with the
/// seeds of cohort `j / concurrency` from the model version it started from, a pure
/// function of the run seed, so a parallel run equals a sequential one bit for bit,
/// and a run resumed from a [`FedBuffState`] continues as if it had never stopped.
///
/// A task's update is computed when it starts (its duration comes with it) and held
/// until its reply is due. In a parallel run, the tasks that start together and the
/// next ones known to start from the same model version (up to `buffer - 1`) train
/// as one parallel batch. Memory: the updates of the tasks in flight (`concurrency`
/// deltas), up to `buffer` prefetched ones, and the weights of every model version a
/// task in flight or a buffered reply started from.
pub struct FedBuff<M: FederatedModel> {
    config: FedConfig,
    fedbuff: FedBuffConfig,
    optimizer: ServerOptimizer,
    model: M,
    weights: Vec<f32>,
    server: ServerOptimizerState,
    aggregator: Box<dyn Aggregator>,
    steps_completed: usize,
    /// When the last server step was taken (zero before any).
    last_step: SimTime,
    queue: EventQueue<SimTime>,
    scheduler: Scheduler,
    buffer: Buffer,
    /// The outcomes of the tasks in flight and of the buffered replies, by task.
    outcomes: HashMap<u64, ClientOutcome>,
    /// Outcomes trained ahead of their task's start, by task and the version they
    /// were trained from (see `outcomes_of`).
    prefetched: HashMap<(u64, u64), ClientOutcome>,
    /// The weights of the model versions the tasks in flight and the buffered
    /// replies started from.
    versions: BTreeMap<u64, Arc<Vec<f32>>>,
    workers: WorkerPool<M>,
    eval_data: Option<ClientDataOf<M>>,
}

impl<M: FederatedModel> fmt::Debug for FedBuff<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FedBuff")
            .field("config", &self.config)
            .field("fedbuff", &self.fedbuff)
            .field("steps_completed", &self.steps_completed)
            .field("now", &self.queue.now())
            .field("in_flight", &self.queue.len())
            .field("buffered", &self.buffer.len())
            .field("versions", &self.versions.len())
            .finish_non_exhaustive()
    }
}

impl<M: FederatedModel> FedBuff<M> {
    /// A run starting from `model`'s weights at simulated time zero.
    ///
    /// # Errors
    /// [`FedBuffError::Unsupported`] for a setting of `config` FedBuff does not
    /// honour: DP noise, client availability, over-selection, a server optimiser other than
    /// [`ServerOptimizer::fedavg`], a dropout probability of 1 (no reply would ever
    /// arrive).
    pub fn new(model: M, config: FedConfig, fedbuff: FedBuffConfig) -> Result<Self, FedBuffError> {
        let unsupported = |setting, reason| Err(FedBuffError::Unsupported { setting, reason });
        if config.aggregation().noise_multiplier.is_some() {
            return unsupported(
                "aggregation.noise_multiplier",
                "DP-FedAvg's accounting assumes sampled rounds, not asynchronous steps",
            );
        }
        if config.availability() != Availability::Always {
            return unsupported(
                "availability",
                "FedBuff's scheduler draws from the whole population",
            );
        }
        if *config.server_optimizer() != ServerOptimizer::fedavg() {
            return unsupported(
                "server_optimizer",
                "FedBuff's server step is SGD: set `FedBuffConfig::server_learning_rate`",
            );
        }
        if config.over_selection().is_some() {
            return unsupported(
                "over_selection",
                "FedBuff has no rounds to over-select for: its buffer takes the first replies",
            );
        }
        if config.faults().dropout >= 1.0 {
            return unsupported(
                "faults.dropout",
                "with every client dropping out, the buffer would never fill",
            );
        }
        let optimizer = ServerOptimizer::Sgd {
            learning_rate: fedbuff.server_learning_rate(),
        };
        let weights = model.weights_vec();
        let server = ServerOptimizerState::new(&optimizer, weights.len());
        let aggregator = config.aggregation().build();
        let scheduler = Scheduler::new(fedbuff.concurrency(), config.seed(), 0);
        Ok(FedBuff {
            optimizer,
            scheduler,
            config,
            fedbuff,
            model,
            weights,
            server,
            aggregator,
            steps_completed: 0,
            last_step: SimTime::ZERO,
            queue: EventQueue::default(),
            buffer: Buffer::new(),
            outcomes: HashMap::new(),
            prefetched: HashMap::new(),
            versions: BTreeMap::new(),
            workers: WorkerPool::default(),
            eval_data: None,
        })
    }

    /// Evaluates the global model on `data` after the steps the config names
    /// ([`FedConfig::evaluates_after`]); the result is the report's `eval`.
    pub fn with_evaluation_data(mut self, data: ClientDataOf<M>) -> Self {
        self.eval_data = Some(data);
        self
    }

    /// The config of the clients and the run.
    pub fn config(&self) -> &FedConfig {
        &self.config
    }

    /// FedBuff's settings.
    pub fn fedbuff_config(&self) -> &FedBuffConfig {
        &self.fedbuff
    }

    /// The server optimiser: SGD at the [`FedBuffConfig::server_learning_rate`].
    pub fn server_optimizer(&self) -> &ServerOptimizer {
        &self.optimizer
    }

    /// The global model, holding the global weights.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The global model, ending the run.
    pub fn into_model(self) -> M {
        self.model
    }

    /// The global model's trainable weights, flat.
    pub fn global_weights(&self) -> &[f32] {
        &self.weights
    }

    /// Server steps completed (the model's version).
    pub fn steps_completed(&self) -> usize {
        self.steps_completed
    }

    /// The simulated time: when the last reply handled arrived.
    pub fn now(&self) -> SimTime {
        self.queue.now()
    }

    /// The tasks in flight, by number.
    pub fn in_flight(&self) -> Vec<Task> {
        self.scheduler.in_flight().copied().collect()
    }

    /// Runs until the next server step and returns its report.
    ///
    /// # Errors
    /// [`FeddxError::NoClients`] for an empty population,
    /// [`FedBuffError::ConcurrencyAbovePopulation`], [`FedBuffError::NoExamples`],
    /// [`FeddxError::EmptyBatch`] for empty evaluation data,
    /// [`FeddxError::ClientUpdate`] for a failed client (unless the config
    /// [accepts failures](FedConfig::accept_failures)), the server step's errors
    /// ([`FeddxError::TooFewUpdates`], ...), and evaluation errors. The replies
    /// handled before an error stay handled (the run stays consistent): the failing
    /// reply, or the full buffer, is left in place, so calling again fails again.
    pub fn run_step(&mut self, clients: &[ClientDataOf<M>]) -> Result<StepReport> {
        let start = Instant::now();
        if self.eval_data.as_ref().is_some_and(|d| d.is_empty()) {
            return Err(FeddxError::EmptyBatch);
        }
        if clients.is_empty() {
            return Err(FeddxError::NoClients);
        }
        if self.scheduler.next_task() == 0 && clients.iter().all(|c| c.is_empty()) {
            return Err(FedBuffError::NoExamples {
                clients: clients.len(),
            }
            .into());
        }
        let number = self.steps_completed + 1;
        let accept_failures = self.config.accept_failures();
        let mut arrived = Vec::new();
        let mut failures = Vec::new();
        let mut stale_dropped = 0;
        self.train_missing(clients);
        while self.buffer.len() < self.fedbuff.buffer() {
            let now = self.queue.now();
            let more_now = self.queue.peek().is_some_and(|e| e.finish == now);
            if !more_now && self.scheduler.free() > 0 {
                self.start_tasks(clients)?;
                continue;
            }
            let Some(&event) = self.queue.peek() else {
                return Err(FeddxError::NoClients);
            };
            let outcome = self.outcome(event.task)?;
            let failure = outcome.result.as_ref().err().cloned();
            let empty = outcome
                .result
                .as_ref()
                .is_ok_and(|u| self.config.weighting().weight(u.num_examples) == 0.0);
            if let Some(source) = &failure {
                if !accept_failures {
                    return Err(FeddxError::ClientUpdate {
                        round: number,
                        client: event.client,
                        source: Box::new(source.clone()),
                    });
                }
            }
            self.queue.pop();
            let task = self
                .scheduler
                .finish(event.task)
                .ok_or_else(|| missing_task(event.task))?;
            arrived.push(task.client);
            let staleness = self.steps_completed as u64 - task.version;
            let too_stale = self.fedbuff.max_staleness().is_some_and(|m| staleness > m);
            let keep = match failure {
                Some(error) => {
                    failures.push((task.client, error));
                    false
                }
                None if empty => false,
                None if too_stale => {
                    stale_dropped += 1;
                    false
                }
                None => true,
            };
            if keep {
                self.buffer.push(Buffered { task, staleness });
            } else {
                self.outcomes.remove(&event.task);
            }
        }
        let client_time = start.elapsed();

        let aggregation_start = Instant::now();
        let buffered = self.buffer.replies().to_vec();
        let mut replies = Vec::with_capacity(buffered.len());
        let mut train = self.model.metrics_state();
        let mut local_steps = 0;
        let mut stragglers_partial = 0;
        for b in &buffered {
            let outcome = self.outcome(b.task.task)?;
            local_steps += outcome.steps as u64;
            stragglers_partial += usize::from(outcome.is_partial());
            let update = match &outcome.result {
                Ok(update) => update,
                Err(_) => return Err(missing_task(b.task.task)),
            };
            train.merge(&update.metrics)?;
            replies.push(Reply {
                client: b.task.client,
                task: b.task.task,
                staleness: b.staleness,
                num_examples: update.num_examples,
                delta: update.delta.clone(),
                metrics: update.metrics.clone(),
            });
        }
        let examples_covered = replies.iter().map(|r| r.num_examples as u64).sum();
        let examples_processed = replies.iter().map(|r| r.metrics.num_examples).sum();
        let contributions =
            contributions(replies, self.fedbuff.staleness(), self.config.weighting());
        let context = RoundContext {
            round: number,
            sampled: arrived.len(),
            expected_clients: self.fedbuff.buffer() as f64,
            min_updates: self.config.min_successful_clients(),
            failed: failures.len(),
            noise_key: NoiseKey::from_seed(0),
        };
        let tally = server_step(
            ServerParts {
                model: &mut self.model,
                weights: &mut self.weights,
                optimizer_state: &mut self.server,
                aggregator: self.aggregator.as_mut(),
            },
            &self.optimizer,
            &context,
            contributions,
        )?;
        self.steps_completed = number;
        for b in self.buffer.take() {
            self.outcomes.remove(&b.task.task);
        }
        self.prune_versions();
        let aggregation_time = aggregation_start.elapsed();

        let eval_start = Instant::now();
        let eval = match &self.eval_data {
            Some(data) if self.config.evaluates_after(number) => {
                Some(evaluate(&self.model, data, self.config.eval_batch_size())?)
            }
            _ => None,
        };
        let eval_time = if eval.is_some() {
            eval_start.elapsed()
        } else {
            Duration::ZERO
        };
        let staleness: Vec<u64> = buffered.iter().map(|b| b.staleness).collect();
        let counts = RoundCounts {
            sampled: arrived.len(),
            succeeded: buffered.len(),
            failed: failures.len(),
            zeroed: tally.zeroed,
            clipped: tally.clipped,
            discarded: arrived.len() - buffered.len() - failures.len(),
            stragglers_dropped: failures
                .iter()
                .filter(|(_, e)| matches!(e, FeddxError::DeadlineExceeded { .. }))
                .count(),
            stragglers_partial,
        };
        let time = self.queue.now();
        let sim_duration = time.saturating_since(self.last_step);
        self.last_step = time;
        Ok(StepReport {
            report: RoundReport {
                round: number,
                clients: arrived,
                counts,
                failures,
                clip_norm: tally.clip_norm,
                privacy: None,
                examples_covered,
                examples_processed,
                train: if buffered.is_empty() {
                    MetricValues::default()
                } else {
                    self.model.finalize_metrics(&train)
                },
                eval,
                sim_duration,
                local_steps,
                wall_time: start.elapsed(),
                client_time,
                aggregation_time,
                eval_time,
            },
            time,
            max_staleness: staleness.iter().copied().max().unwrap_or(0),
            mean_staleness: if staleness.is_empty() {
                0.0
            } else {
                staleness.iter().sum::<u64>() as f64 / staleness.len() as f64
            },
            stale_dropped,
        })
    }

    /// Runs the server steps left until [`FedConfig::rounds`], calling `on_step`
    /// after each, and returns their reports. A restored run continues where it
    /// stopped.
    ///
    /// # Errors
    /// The first error of [`run_step`](Self::run_step); earlier steps stay applied.
    pub fn run(
        &mut self,
        clients: &[ClientDataOf<M>],
        mut on_step: impl FnMut(&StepReport),
    ) -> Result<Vec<StepReport>> {
        let mut reports = Vec::new();
        while self.steps_completed < self.config.rounds() {
            let report = self.run_step(clients)?;
            on_step(&report);
            reports.push(report);
        }
        Ok(reports)
    }

    /// Metrics of the global model on one held-out data set.
    ///
    /// # Errors
    /// As [`evaluate`]: [`FeddxError::EmptyBatch`] for empty `data`.
    pub fn evaluate(&self, data: &ClientDataOf<M>) -> Result<MetricValues> {
        evaluate(&self.model, data, self.config.eval_batch_size())
    }

    /// A copy of the state later steps depend on, for a checkpoint.
    pub fn state(&self) -> FedBuffState {
        FedBuffState {
            steps_completed: self.steps_completed,
            global_weights: self.weights.clone(),
            server: self.server.clone(),
            aggregator: self.aggregator.state(),
            now: self.queue.now(),
            last_step: self.last_step,
            next_task: self.scheduler.next_task(),
            in_flight: self.in_flight(),
            buffered: self.buffer.replies().to_vec(),
            versions: self
                .versions
                .iter()
                .map(|(&v, w)| (v, w.as_ref().clone()))
                .collect(),
        }
    }

    /// Continues from a saved state: with the same configs and clients, the run goes
    /// on exactly as the one that saved it. The tasks in flight and the buffered
    /// replies are trained again, from the versions they started from, on the next
    /// [`run_step`](Self::run_step): their updates are pure functions of the seed,
    /// the task and the version, so they come out the same.
    ///
    /// # Errors
    /// [`FeddxError::WeightLengthMismatch`], [`FeddxError::ServerStateMismatch`],
    /// [`FeddxError::AggregatorStateMismatch`], and [`FedBuffError::StateMismatch`]
    /// for a task whose version's weights are missing or do not fit, or a task
    /// finishing before the state's time. The run is unchanged on error.
    pub fn restore(&mut self, state: FedBuffState) -> Result<()> {
        state
            .server
            .check(&self.optimizer, state.global_weights.len())?;
        let len = self.weights.len();
        if state.global_weights.len() != len {
            return Err(FeddxError::WeightLengthMismatch {
                expected: len,
                actual: state.global_weights.len(),
            });
        }
        let mismatch = |reason: String| FeddxError::from(FedBuffError::StateMismatch { reason });
        let versions: BTreeMap<u64, Arc<Vec<f32>>> = state
            .versions
            .into_iter()
            .map(|(v, w)| (v, Arc::new(w)))
            .collect();
        if let Some((v, w)) = versions.iter().find(|(_, w)| w.len() != len) {
            return Err(mismatch(format!(
                "version {v} holds {} weights but the model has {len}",
                w.len()
            )));
        }
        let mut queue = EventQueue::starting_at(state.now);
        let mut scheduler = Scheduler::new(
            self.fedbuff.concurrency(),
            self.config.seed(),
            state.next_task,
        );
        for task in state
            .in_flight
            .iter()
            .chain(state.buffered.iter().map(|b| &b.task))
        {
            if !versions.contains_key(&task.version) {
                return Err(mismatch(format!(
                    "task {} started from version {}, whose weights are not saved",
                    task.task, task.version
                )));
            }
        }
        for &task in &state.in_flight {
            queue
                .push(Event {
                    finish: task.finish,
                    task: task.task,
                    client: task.client,
                })
                .map_err(|e| mismatch(e.to_string()))?;
            scheduler.launch(task);
        }
        let mut buffer = Buffer::new();
        state.buffered.into_iter().for_each(|b| buffer.push(b));
        let previous = self.aggregator.state();
        let mut rest = state.aggregator.as_slice();
        self.aggregator.restore(&mut rest)?;
        if !rest.is_empty() {
            self.aggregator.restore(&mut previous.as_slice())?;
            return Err(FeddxError::AggregatorStateMismatch {
                reason: format!("{} values are left over", rest.len()),
            });
        }
        self.model.set_weights_vec(&state.global_weights)?;
        self.weights = state.global_weights;
        self.server = state.server;
        self.steps_completed = state.steps_completed;
        self.last_step = state.last_step;
        self.queue = queue;
        self.scheduler = scheduler;
        self.buffer = buffer;
        self.versions = versions;
        self.outcomes.clear();
        self.prefetched.clear();
        Ok(())
    }

    /// The outcome of task `task`, which every task in flight or buffered has.
    fn outcome(&self, task: u64) -> Result<&ClientOutcome> {
        self.outcomes.get(&task).ok_or_else(|| missing_task(task))
    }

    /// Fills the free slots at the current time from the current model: draws the
    /// tasks, trains them (in parallel if configured) and schedules their replies.
    fn start_tasks(&mut self, clients: &[ClientDataOf<M>]) -> Result<()> {
        let now = self.queue.now();
        let version = self.steps_completed as u64;
        let free = self.scheduler.free();
        let mut drawn = Vec::with_capacity(free);
        for _ in 0..free {
            let (task, client) = self.scheduler.draw(clients.len())?;
            drawn.push(Task {
                task,
                client,
                version,
                start: now,
                finish: now,
            });
        }
        self.versions
            .entry(version)
            .or_insert_with(|| Arc::new(self.weights.clone()));
        let outcomes = self.outcomes_of(clients, &drawn)?;
        let deadline = self.config.sim_deadline();
        for (mut task, outcome) in drawn.iter().copied().zip(outcomes) {
            // A client dropped for missing its deadline is given up at the deadline.
            let took = match deadline {
                Some(deadline) if outcome.missed_deadline() => deadline,
                _ => outcome.duration,
            };
            task.finish = now + took;
            self.queue
                .push(Event {
                    finish: task.finish,
                    task: task.task,
                    client: task.client,
                })
                .map_err(|e| FedBuffError::StateMismatch {
                    reason: e.to_string(),
                })?;
            self.scheduler.launch(task);
            self.outcomes.insert(task.task, outcome);
        }
        Ok(())
    }

    /// The outcomes of the `drawn` tasks, all starting from the current version:
    /// prefetched if they were, trained otherwise.
    ///
    /// The next `buffer - buffered - 1` tasks will start from the current version
    /// too, unless replies arrive together with the one that fills the buffer (the
    /// server steps before the free slots are filled again). In a parallel run, when
    /// one task starts alone (the steady state), they are trained now, in its batch, and kept with the version they were
    /// trained from; a prefetched outcome is used only for that task from that
    /// version, so the bits are those of the sequential run, which trains each task
    /// when it starts.
    fn outcomes_of(
        &mut self,
        clients: &[ClientDataOf<M>],
        drawn: &[Task],
    ) -> Result<Vec<ClientOutcome>> {
        let version = self.steps_completed as u64;
        let mut batch: Vec<Task> = drawn
            .iter()
            .filter(|t| !self.prefetched.contains_key(&(t.task, version)))
            .copied()
            .collect();
        // A refill of several slots means replies arrived together: the server may
        // step among them, and the guess fails. Alone, a task is the steady state.
        if self.config.parallel() && drawn.len() == 1 && !batch.is_empty() {
            let ahead = self
                .fedbuff
                .buffer()
                .saturating_sub(self.buffer.len() + 1)
                .min(self.fedbuff.concurrency());
            let first = self.scheduler.next_task();
            for task in first..first + ahead as u64 {
                if !self.prefetched.contains_key(&(task, version)) {
                    let client = self.scheduler.client_of(task, clients.len())?;
                    batch.push(Task {
                        task,
                        client,
                        version,
                        start: SimTime::ZERO,
                        finish: SimTime::ZERO,
                    });
                }
            }
        }
        for (task, outcome) in batch.iter().zip(self.train(clients, &batch)) {
            self.prefetched.insert((task.task, version), outcome);
        }
        drawn
            .iter()
            .map(|t| {
                self.prefetched
                    .remove(&(t.task, version))
                    .ok_or_else(|| missing_task(t.task))
            })
            .collect()
    }

    /// Trains the tasks in flight or buffered that have no outcome (after a restore).
    fn train_missing(&mut self, clients: &[ClientDataOf<M>]) {
        let missing: Vec<Task> = self
            .scheduler
            .in_flight()
            .copied()
            .chain(self.buffer.replies().iter().map(|b| b.task))
            .filter(|t| !self.outcomes.contains_key(&t.task))
            .collect();
        if missing.is_empty() {
            return;
        }
        let outcomes = self.train(clients, &missing);
        for (task, outcome) in missing.iter().zip(outcomes) {
            self.outcomes.insert(task.task, outcome);
        }
    }

    /// Runs the client tasks of `tasks`, each from its version's weights, with the
    /// seeds of its cohort; in parallel if the config says so, with the same result.
    fn train(&self, clients: &[ClientDataOf<M>], tasks: &[Task]) -> Vec<ClientOutcome> {
        let seed = self.config.seed();
        let training = self.config.local_training();
        let faults = self.config.faults();
        let byzantine = faults.byzantine_clients(seed, clients.len());
        let one = |task: &Task| -> ClientOutcome {
            let settings = TaskSettings {
                run_seed: seed,
                task: self.scheduler.cohort_of(task.task) as usize,
                training,
                faults,
                byzantine: &byzantine,
                speed: self.config.speed(),
                deadline: self.config.sim_deadline(),
                stragglers: self.config.stragglers(),
            };
            let global = self
                .versions
                .get(&task.version)
                .map_or(self.weights.as_slice(), |w| w.as_slice());
            self.workers.with_model_if(
                |model| client_task(model, global, task.client, &clients[task.client], &settings),
                |outcome| !outcome.panicked(),
            )
        };
        if self.config.parallel() {
            tasks.par_iter().map(one).collect()
        } else {
            tasks.iter().map(one).collect()
        }
    }

    /// Drops the weights of the versions no task in flight or buffered started from.
    fn prune_versions(&mut self) {
        let used: BTreeSet<u64> = self
            .scheduler
            .in_flight()
            .map(|t| t.version)
            .chain(self.buffer.replies().iter().map(|b| b.task.version))
            .collect();
        self.versions.retain(|v, _| used.contains(v));
        let current = self.steps_completed as u64;
        self.prefetched.retain(|&(_, v), _| v == current);
    }
}

/// The error for a task the engine should know and does not (a bug, never the
/// input's fault).
fn missing_task(task: u64) -> FeddxError {
    FedBuffError::StateMismatch {
        reason: format!("task {task} has no outcome or is not in flight"),
    }
    .into()
}
