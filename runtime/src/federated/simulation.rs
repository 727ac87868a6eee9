//! The round loop: sample clients, train them, average their deltas, update the server.

use std::fmt;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use super::aggregators::{Aggregator, Contribution, RoundContext};
use super::client::ClientDataOf;
use super::client_task::{client_task, ClientOutcome, TaskSettings};
use super::config::FedConfig;
use super::evaluation::{evaluate, evaluate_federated};
use super::noise_source::{NoiseKey, RoundKeys};
use super::privacy_spent::PrivacySpent;
use super::sampling::{
    first_to_finish, over_selected, sample_clients, sample_clients_with, ClientsPerRound,
};
use super::server_optimizer::ServerOptimizerState;
use super::server_step::{server_step, ServerParts};
use super::time::SimDuration;
use super::workers::WorkerPool;
use crate::data::ClientSource;
use crate::metrics::MetricValues;
use crate::{FeddxError, FederatedModel, Result};

/// What one round did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RoundReport {
    /// Number of the round, from 1 (the first round is round 1), as every
    /// user-facing round number in feddx: errors, progress lines, CSV rows. The
    /// round's seeds use the 0-based index `round - 1` (see [`seeds`](super::seeds)).
    pub round: usize,
    /// Clients sampled, as indices into the population, in aggregation order.
    pub clients: Vec<usize>,
    /// What became of the sampled clients' updates.
    pub counts: RoundCounts,
    /// The clients that failed (only with
    /// [`accept_failures`](super::FedConfig::accept_failures)), in sampled order,
    /// with what went wrong.
    pub failures: Vec<(usize, FeddxError)>,
    /// The norm the round clipped updates to, when the aggregation clips.
    pub clip_norm: Option<f32>,
    /// With DP noise: the privacy of the whole run so far, at the config's
    /// [`privacy_delta`](super::FedConfig::privacy_delta), with the neighbouring
    /// relation, sensitivity and noise source it assumes (see [`PrivacySpent`]).
    pub privacy: Option<PrivacySpent>,
    /// Examples the round covered: those held by the clients whose training
    /// succeeded (and so sent an update), each counted once however many local
    /// epochs went over it. 692 examples trained for 5 epochs cover 692.
    pub examples_covered: u64,
    /// Examples the round processed: the batch sizes of every local step of those
    /// clients, summed over their epochs, so 692 examples trained for 5 epochs
    /// process 3,460. It is the training metrics' `num_examples`
    /// ([`train`](Self::train)), which count every batch the same way.
    pub examples_processed: u64,
    /// Training metrics: the clients' unfinalised sums, merged, then finalised.
    pub train: MetricValues,
    /// Metrics of the new global model on the evaluation data, when evaluated.
    pub eval: Option<MetricValues>,
    /// Time of the whole round.
    pub wall_time: Duration,
    /// Time of the clients' local training (in parallel when configured).
    pub client_time: Duration,
    /// Time of the weighted mean and the server optimiser step.
    pub aggregation_time: Duration,
    /// Time of the evaluation (zero when there was none).
    pub eval_time: Duration,
    /// Simulated time of the round, from sending the global weights to the last
    /// reply it used: the slowest kept client's duration; the
    /// [deadline](super::FedConfig::round_deadline) if a client never replied
    /// (dropped out or missed it) and the round waited for it; with
    /// [over-selection](super::FedConfig::over_selection), when the last of the
    /// kept clients finished.
    pub sim_duration: SimDuration,
    /// Local steps (batches) made by the clients whose updates the round kept;
    /// a straggler's partial work counts the steps it made.
    pub local_steps: u64,
}

impl RoundReport {
    /// Number of clients sampled.
    pub fn num_clients(&self) -> usize {
        self.clients.len()
    }

    /// With DP noise: the epsilon of the whole run so far
    /// ([`privacy`](Self::privacy)`.epsilon`).
    pub fn epsilon(&self) -> Option<f64> {
        self.privacy.map(|p| p.epsilon)
    }
}

/// What became of a round's sampled clients: `sampled = succeeded + failed +
/// discarded`, and of the succeeded, `zeroed` were rejected by the aggregation and
/// the rest aggregated, `clipped` of them scaled down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RoundCounts {
    /// Clients sampled.
    pub sampled: usize,
    /// Clients whose training returned an update.
    pub succeeded: usize,
    /// Clients that failed: an error, a panic, a dropout or a missed deadline.
    pub failed: usize,
    /// Updates rejected by the aggregation: non-finite, or above the zeroing norm.
    pub zeroed: usize,
    /// Updates scaled down by clipping.
    pub clipped: usize,
    /// Over-selected clients that finished after the first `m` and whose updates
    /// were discarded (see [`over_selection`](super::FedConfig::over_selection));
    /// neither succeeded nor failed.
    pub discarded: usize,
    /// Stragglers dropped for missing the deadline (counted in `failed` too).
    pub stragglers_dropped: usize,
    /// Stragglers that sent partial work, fewer local steps than their full work
    /// ([`StragglerPolicy::PartialWork`](super::StragglerPolicy::PartialWork));
    /// counted in `succeeded` too.
    pub stragglers_partial: usize,
}

impl RoundCounts {
    /// Updates that reached the estimator.
    pub fn aggregated(&self) -> usize {
        self.succeeded - self.zeroed
    }
}

/// Everything of a [`Simulation`] that later rounds depend on, besides its config:
/// save it to checkpoint a run, [`restore`](Simulation::restore) it to resume one.
///
/// Client sampling and local training draw only on seeds derived from the run seed,
/// the round and the client (see [`seeds`](super::seeds)), so this state and the
/// same [`FedConfig`] and clients continue a run bit for bit. A run with DP noise
/// holds no secret here: its later rounds draw fresh noise and samples from the
/// operating system, unless it opted out of privacy
/// ([`NoiseSource`](super::NoiseSource)).
#[derive(Debug, Clone, PartialEq)]
pub struct SimulationState {
    /// Rounds completed: the number of the last one (0 before any), so the next
    /// round is number `rounds_completed + 1` and has the 0-based seed index
    /// `rounds_completed`.
    pub rounds_completed: usize,
    /// The global model's trainable weights, flat.
    pub global_weights: Vec<f32>,
    /// The server optimiser's moments and step count.
    pub server: ServerOptimizerState,
    /// The aggregation's state (adaptive clipping's norm); empty when stateless.
    pub aggregator: Vec<f32>,
}

/// A simulated federated training run: the global model of type `M`, its flat
/// weights, the server optimiser's state and the config, advanced round by round.
///
/// Each round samples clients ([`sample_clients`]), runs each one's task from the
/// global weights ([`client_task`]: faults, the deadline on the simulated clock,
/// [`train_client`](super::train_client)) — in parallel with rayon if the config
/// says so, on models reused from round to round — and hands their deltas, in
/// sampled order, to the [`server_step`]: the config's
/// [`aggregation`](FedConfig::aggregation) (the weighted mean unless it says
/// otherwise), then the server optimiser ([`ServerOptimizerState::apply`]). Parallel and sequential runs give the same bits,
/// except with DP noise, whose keys are fresh from the operating system each round
/// unless the config opts out of privacy ([`NoiseSource`](super::NoiseSource)).
///
/// Only trainable weights are federated: non-trainable tensors of the module
/// (running statistics) keep the values they were built with.
pub struct Simulation<M: FederatedModel> {
    config: FedConfig,
    model: M,
    weights: Vec<f32>,
    server: ServerOptimizerState,
    rounds_completed: usize,
    workers: WorkerPool<M>,
    eval_data: Option<ClientDataOf<M>>,
    aggregator: Box<dyn Aggregator>,
}

impl<M: FederatedModel> fmt::Debug for Simulation<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulation")
            .field("config", &self.config)
            .field("rounds_completed", &self.rounds_completed)
            .field("num_params", &self.weights.len())
            .field("server_step", &self.server.step)
            .field("eval_examples", &self.eval_data.as_ref().map(|d| d.len()))
            .field("aggregator", &self.aggregator)
            .finish_non_exhaustive()
    }
}

impl<M: FederatedModel> Simulation<M> {
    /// A run starting from `model`'s weights.
    pub fn new(model: M, config: FedConfig) -> Self {
        let weights = model.weights_vec();
        let server = ServerOptimizerState::new(config.server_optimizer(), weights.len());
        let aggregator = config.aggregation().build();
        Simulation {
            aggregator,
            config,
            model,
            weights,
            server,
            rounds_completed: 0,
            workers: WorkerPool::default(),
            eval_data: None,
        }
    }

    /// Evaluates the global model on `data` after the rounds the config names
    /// ([`FedConfig::evaluates_after`]: every round by default); the result is
    /// [`RoundReport::eval`].
    ///
    /// `data` must hold an example: with empty `data`, [`run_round`](Self::run_round)
    /// fails with [`FeddxError::EmptyBatch`] before it trains anything.
    pub fn with_evaluation_data(mut self, data: ClientDataOf<M>) -> Self {
        self.eval_data = Some(data);
        self
    }

    /// Aggregates with `aggregator` instead of the chain the config's
    /// [`aggregation`](FedConfig::aggregation) describes: a chain of one's own parts.
    pub fn with_aggregator(mut self, aggregator: Box<dyn Aggregator>) -> Self {
        self.aggregator = aggregator;
        self
    }

    /// The config.
    pub fn config(&self) -> &FedConfig {
        &self.config
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

    /// The server optimiser's state.
    pub fn server_state(&self) -> &ServerOptimizerState {
        &self.server
    }

    /// Rounds completed so far: the number of the last completed round (0 before
    /// any), as [`RoundReport::round`] counts them.
    pub fn rounds_completed(&self) -> usize {
        self.rounds_completed
    }

    /// A copy of the state later rounds depend on, for a checkpoint.
    pub fn state(&self) -> SimulationState {
        SimulationState {
            rounds_completed: self.rounds_completed,
            global_weights: self.weights.clone(),
            server: self.server.clone(),
            aggregator: self.aggregator.state(),
        }
    }

    /// Continues from a saved state (with the same config and clients, the run goes
    /// on exactly as the one that saved it).
    ///
    /// # Errors
    /// [`FeddxError::WeightLengthMismatch`] for weights that do not fit the model and
    /// [`FeddxError::ServerStateMismatch`] for a server state that does not fit the
    /// optimiser, and [`FeddxError::AggregatorStateMismatch`] for an aggregator state
    /// that does not fit the aggregation; the simulation is unchanged then.
    pub fn restore(&mut self, state: SimulationState) -> Result<()> {
        state
            .server
            .check(self.config.server_optimizer(), state.global_weights.len())?;
        if state.global_weights.len() != self.weights.len() {
            return Err(FeddxError::WeightLengthMismatch {
                expected: self.weights.len(),
                actual: state.global_weights.len(),
            });
        }
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
        self.rounds_completed = state.rounds_completed;
        Ok(())
    }

    /// Runs one round on the population `clients` (indexed by position): a slice or
    /// `Vec` of [`ClientData`](crate::data::ClientData), a [`ClientStore`](crate::data::ClientStore), or any
    /// [`ClientSource`]; only the sampled clients are read.
    ///
    /// # Errors
    /// [`FeddxError::NoClients`], [`ConfigError::TooManyClientsPerRound`](super::ConfigError::TooManyClientsPerRound),
    /// [`FeddxError::ClientUpdate`] wrapping the first failing client's error in
    /// sampled order (unless the config [accepts failures](FedConfig::accept_failures)),
    /// [`FeddxError::TooFewUpdates`] when fewer than
    /// [`min_successful_clients`](FedConfig::min_successful_clients) updates are
    /// left after failures and rejections, the aggregation's errors
    /// ([`ConfigError::TooManyByzantine`](super::ConfigError::TooManyByzantine) for
    /// a round too small for its estimator), [`FeddxError::EmptyRound`] if no sampled
    /// client holds an example (both name the round from 1, as
    /// [`RoundReport::round`]; with DP noise, a round that samples nobody is no error:
    /// it releases the noise alone),
    /// [`FeddxError::EmptyBatch`] if the [evaluation data](Self::with_evaluation_data)
    /// is empty, and evaluation errors. The simulation is unchanged unless the error
    /// comes from evaluation, which runs after the round is complete.
    pub fn run_round<S>(&mut self, clients: &S) -> Result<RoundReport>
    where
        S: ClientSource<M::Features, M::Labels> + ?Sized,
    {
        let start = Instant::now();
        // The 0-based index the seeds take; users see the round's number, `index + 1`.
        let (index, number) = (self.rounds_completed, self.rounds_completed + 1);
        self.check_round(clients.num_clients())?;
        let keys = (self.config.noise_source()).round_keys(self.config.seed(), index);
        let sampled = self.sample(clients.num_clients(), index, &keys)?;
        let outcomes = self.client_tasks(clients, &sampled, index);
        let client_time = start.elapsed();

        let aggregation_start = Instant::now();
        let replies = self.sort_replies(number, &sampled, clients.num_clients(), outcomes)?;
        let context = self.round_context(
            number,
            &sampled,
            clients.num_clients(),
            &replies,
            keys.noise,
        )?;
        // Before anything changes: an accountant's error leaves the run as it was.
        let privacy = self.privacy_after(number, clients.num_clients())?;
        let parts = ServerParts {
            model: &mut self.model,
            weights: &mut self.weights,
            optimizer_state: &mut self.server,
            aggregator: self.aggregator.as_mut(),
        };
        let optimizer = self.config.server_optimizer();
        let tally = server_step(parts, optimizer, &context, replies.contributions)?;
        self.rounds_completed = number;
        let aggregation_time = aggregation_start.elapsed();

        let (eval, eval_time) = self.evaluate_if_due(number)?;
        Ok(RoundReport {
            round: number,
            counts: RoundCounts {
                sampled: sampled.len(),
                succeeded: replies.succeeded,
                failed: replies.failures.len(),
                zeroed: tally.zeroed,
                clipped: tally.clipped,
                discarded: replies.discarded,
                stragglers_dropped: replies.stragglers_dropped,
                stragglers_partial: replies.stragglers_partial,
            },
            clients: sampled,
            failures: replies.failures,
            clip_norm: tally.clip_norm,
            privacy,
            examples_covered: replies.examples_covered,
            examples_processed: replies.examples_processed,
            train: replies.train,
            eval,
            wall_time: start.elapsed(),
            client_time,
            aggregation_time,
            eval_time,
            sim_duration: replies.sim_duration,
            local_steps: replies.local_steps,
        })
    }

    /// Runs the rounds left until [`FedConfig::rounds`], calling `on_round` after
    /// each, and returns their reports. A restored run continues where it stopped.
    ///
    /// # Errors
    /// The first error of [`run_round`](Self::run_round); earlier rounds stay applied.
    pub fn run<S>(
        &mut self,
        clients: &S,
        mut on_round: impl FnMut(&RoundReport),
    ) -> Result<Vec<RoundReport>>
    where
        S: ClientSource<M::Features, M::Labels> + ?Sized,
    {
        let mut reports = Vec::with_capacity(self.config.rounds());
        while self.rounds_completed < self.config.rounds() {
            let report = self.run_round(clients)?;
            on_round(&report);
            reports.push(report);
        }
        Ok(reports)
    }

    /// Metrics of the global model over `clients`, merged from their unfinalised
    /// sums; empty clients are skipped.
    ///
    /// # Errors
    /// As [`evaluate_federated`]: [`FeddxError::EmptyBatch`] if no client holds an
    /// example.
    pub fn evaluate_federated(&self, clients: &[ClientDataOf<M>]) -> Result<MetricValues> {
        evaluate_federated(
            &self.model,
            clients,
            self.config.eval_batch_size(),
            self.config.parallel(),
        )
    }

    /// Metrics of the global model on one held-out data set.
    ///
    /// # Errors
    /// As [`evaluate`]: [`FeddxError::EmptyBatch`] for empty `data`.
    pub fn evaluate(&self, data: &ClientDataOf<M>) -> Result<MetricValues> {
        evaluate(&self.model, data, self.config.eval_batch_size())
    }

    /// The clients of the round of 0-based index `index` in a population of
    /// `population`, ascending: from the run seed, or, with DP noise, from the
    /// round's secret sampling key (whose secrecy the amplification by sampling
    /// assumes). With an [availability](FedConfig::availability) model, the round
    /// samples among the clients available in it, all of them if they are fewer than
    /// it asks for. With [over-selection](FedConfig::over_selection), it samples
    /// `ceil(factor · m)` instead of `m`.
    ///
    /// # Errors
    /// As [`sample_clients`], and [`FeddxError::EmptyRound`] for a round that samples
    /// nobody without DP noise (with it, such a round releases the noise alone, as
    /// DP-FedAvg's analysis assumes it does).
    fn sample(&self, population: usize, index: usize, keys: &RoundKeys) -> Result<Vec<usize>> {
        let per_round = self.config.clients_per_round();
        let noised = self.config.aggregation().noise_multiplier.is_some();
        let draw = |per_round, from| {
            if noised {
                sample_clients_with(per_round, from, &mut keys.sampling.generator(0))
            } else {
                sample_clients(per_round, from, self.config.seed(), index)
            }
        };
        let availability = self.config.availability();
        let over = |wanted, available| {
            let factor = self.config.over_selection().unwrap_or(1.0);
            ClientsPerRound::Count(over_selected(wanted, factor, available))
        };
        let sampled = if availability.is_always() {
            match self.config.over_selection() {
                None => draw(per_round, population)?,
                Some(_) => draw(over(per_round.resolve(population)?, population), population)?,
            }
        } else {
            let wanted = per_round.resolve(population)?;
            let available = availability.available_clients(self.config.seed(), index, population);
            let among = match per_round {
                ClientsPerRound::Poisson(q) => ClientsPerRound::Poisson(q),
                _ => over(wanted, available.len()),
            };
            if available.is_empty() {
                Vec::new()
            } else {
                let picks = draw(among, available.len())?;
                picks.into_iter().map(|i| available[i]).collect()
            }
        };
        if sampled.is_empty() && !noised {
            return Err(FeddxError::EmptyRound {
                round: index + 1,
                clients: 0,
            });
        }
        Ok(sampled)
    }

    /// With DP noise: the privacy at the config's `delta` of `rounds` rounds over
    /// `population` clients, sampled as the config says (see [`PrivacySpent::after`]).
    fn privacy_after(&self, rounds: usize, population: usize) -> Result<Option<PrivacySpent>> {
        let Some(noise_multiplier) = self.config.aggregation().noise_multiplier else {
            return Ok(None);
        };
        PrivacySpent::after(
            rounds,
            self.config.clients_per_round(),
            population,
            noise_multiplier,
            self.config.privacy_delta(),
            self.config.noise_source(),
        )
        .map(Some)
    }

    /// What a round checks before it samples: evaluation data that holds an
    /// example, and a speed model that covers the population.
    fn check_round(&self, population: usize) -> Result<()> {
        if self.eval_data.as_ref().is_some_and(|d| d.is_empty()) {
            return Err(FeddxError::EmptyBatch);
        }
        self.config.speed().check_population(population)?;
        Ok(())
    }

    /// Runs the client task of each of the `sampled` clients of the round of
    /// 0-based index `index` (its seeds' index) from the global weights, in
    /// parallel if the config says so; the outcomes come back in sampled order.
    fn client_tasks<S>(&self, clients: &S, sampled: &[usize], index: usize) -> Vec<ClientOutcome>
    where
        S: ClientSource<M::Features, M::Labels> + ?Sized,
    {
        let faults = self.config.faults();
        let byzantine = faults.byzantine_clients(self.config.seed(), clients.num_clients());
        let settings = TaskSettings {
            run_seed: self.config.seed(),
            task: index,
            training: self.config.local_training(),
            faults,
            byzantine: &byzantine,
            speed: self.config.speed(),
            deadline: self.config.sim_deadline(),
            stragglers: self.config.stragglers(),
        };
        let global = self.weights.as_slice();
        // A model whose training panicked may be left in any state: it is dropped.
        let one = |&client: &usize| {
            self.workers.with_model_if(
                |model| client_task(model, global, client, &clients.client(client), &settings),
                |outcome| !outcome.panicked(),
            )
        };
        if self.config.parallel() {
            sampled.par_iter().map(one).collect()
        } else {
            sampled.iter().map(one).collect()
        }
    }

    /// Sorts a round's outcomes into the updates to aggregate and the failures,
    /// merging the training metrics.
    ///
    /// # Errors
    /// The first failure in sampled order unless the config accepts failures,
    /// [`FeddxError::TooFewUpdates`] below the minimum of successful clients, and
    /// [`FeddxError::EmptyRound`] when no client that replied holds an example.
    fn sort_replies(
        &self,
        number: usize,
        sampled: &[usize],
        population: usize,
        outcomes: Vec<ClientOutcome>,
    ) -> Result<Replies> {
        let kept = self.kept_replies(population, &outcomes)?;
        let deadline = self.config.sim_deadline();
        let mut sim_duration = SimDuration::ZERO;
        let mut unanswered = false;
        let (mut discarded, mut dropped, mut partial, mut local_steps) = (0, 0, 0, 0);
        let mut updates = Vec::with_capacity(outcomes.len());
        let mut failures = Vec::new();
        for (outcome, kept) in outcomes.into_iter().zip(kept.iter()) {
            let silent = outcome.missed_deadline()
                || matches!(outcome.result, Err(FeddxError::ClientDroppedOut));
            unanswered |= silent;
            dropped += usize::from(outcome.missed_deadline());
            if !silent && (*kept || outcome.result.is_err()) {
                sim_duration = sim_duration.max(outcome.duration);
            }
            match outcome.result {
                Ok(_) if !kept => discarded += 1,
                Ok(update) => {
                    partial += usize::from(outcome.steps < outcome.planned_steps);
                    local_steps += outcome.steps as u64;
                    updates.push((outcome.client, update));
                }
                Err(source) if !self.config.accept_failures() => {
                    return Err(FeddxError::ClientUpdate {
                        round: number,
                        client: outcome.client,
                        source: Box::new(source),
                    })
                }
                Err(error) => failures.push((outcome.client, error)),
            }
        }
        // A round that kept all it wanted closed when the last of them finished;
        // one still missing a reply waited until the deadline.
        let satisfied = self.config.over_selection().is_some()
            && updates.len() >= self.config.clients_per_round().resolve(population)?;
        if let (Some(deadline), true, false) = (deadline, unanswered, satisfied) {
            sim_duration = sim_duration.max(deadline);
        }
        let required = self.required_updates(sampled);
        if updates.len() < required {
            return Err(FeddxError::TooFewUpdates {
                round: number,
                accepted: updates.len(),
                required,
                failed: failures.len(),
                rejected: 0,
            });
        }
        let mut train = self.model.metrics_state();
        for (_, u) in &updates {
            train.merge(&u.metrics)?;
        }
        let succeeded = updates.len();
        let examples_covered = updates.iter().map(|(_, u)| u.num_examples as u64).sum();
        let examples_processed = train.num_examples;
        // A client without examples has nothing to say: its delta is zero and its
        // weight 0, so it is left out (a robust estimator would count its zeros).
        // The deltas move into the aggregation, which may clip them in place.
        let weighting = self.config.weighting();
        let contributions: Vec<Contribution> = updates
            .into_iter()
            .map(|(client, u)| Contribution {
                client,
                weight: weighting.weight(u.num_examples),
                delta: u.delta,
            })
            .filter(|c| c.weight > 0.0)
            .collect();
        if contributions.is_empty() && !sampled.is_empty() {
            return Err(FeddxError::EmptyRound {
                round: number,
                clients: sampled.len(),
            });
        }
        Ok(Replies {
            contributions,
            failures,
            succeeded,
            discarded,
            stragglers_dropped: dropped,
            stragglers_partial: partial,
            local_steps,
            sim_duration,
            examples_covered,
            examples_processed,
            train: if succeeded == 0 {
                MetricValues::default()
            } else {
                self.model.finalize_metrics(&train)
            },
        })
    }

    /// Which outcomes the round keeps: with over-selection, the first `m` updates to
    /// finish in simulated time ([`first_to_finish`]); else all. Failures are kept
    /// (as failures) either way.
    ///
    /// # Errors
    /// As [`ClientsPerRound::resolve`].
    fn kept_replies(&self, population: usize, outcomes: &[ClientOutcome]) -> Result<Vec<bool>> {
        if self.config.over_selection().is_none() {
            return Ok(vec![true; outcomes.len()]);
        }
        let wanted = self.config.clients_per_round().resolve(population)?;
        let finished: Vec<usize> = (0..outcomes.len())
            .filter(|&i| outcomes[i].result.is_ok())
            .collect();
        let durations: Vec<SimDuration> = finished.iter().map(|&i| outcomes[i].duration).collect();
        let mut kept = vec![true; outcomes.len()];
        for (&i, first) in finished.iter().zip(first_to_finish(&durations, wanted)) {
            kept[i] = first;
        }
        Ok(kept)
    }

    /// Updates a round of `sampled` clients needs to go on: none when it sampled
    /// nobody (a DP round releasing noise alone), else the config's minimum.
    fn required_updates(&self, sampled: &[usize]) -> usize {
        if sampled.is_empty() {
            0
        } else {
            self.config.min_successful_clients()
        }
    }

    /// What the aggregation needs to know of round `number`.
    ///
    /// # Errors
    /// As [`ClientsPerRound::expected`](super::ClientsPerRound::expected).
    fn round_context(
        &self,
        number: usize,
        sampled: &[usize],
        population: usize,
        replies: &Replies,
        noise_key: NoiseKey,
    ) -> Result<RoundContext> {
        Ok(RoundContext {
            round: number,
            sampled: sampled.len(),
            expected_clients: self.config.clients_per_round().expected(population)?,
            min_updates: self.required_updates(sampled),
            failed: replies.failures.len(),
            noise_key,
        })
    }

    /// The global model's metrics on the evaluation data after round `number`, if
    /// due, and the time they took.
    fn evaluate_if_due(&self, number: usize) -> Result<(Option<MetricValues>, Duration)> {
        let eval_start = Instant::now();
        match &self.eval_data {
            Some(data) if self.config.evaluates_after(number) => {
                let eval = evaluate(&self.model, data, self.config.eval_batch_size())?;
                Ok((Some(eval), eval_start.elapsed()))
            }
            _ => Ok((None, Duration::ZERO)),
        }
    }
}

/// A round's replies, sorted: the updates to aggregate and what else the report
/// needs of them.
struct Replies {
    /// The updates of clients holding examples, in sampled order.
    contributions: Vec<Contribution>,
    /// The clients that failed, in sampled order, with what went wrong.
    failures: Vec<(usize, FeddxError)>,
    /// Clients whose training returned an update, and kept.
    succeeded: usize,
    /// Over-selected updates discarded.
    discarded: usize,
    /// Stragglers dropped at the deadline.
    stragglers_dropped: usize,
    /// Stragglers that sent partial work.
    stragglers_partial: usize,
    /// Local steps of the kept updates.
    local_steps: u64,
    /// Simulated time of the round (see [`RoundReport::sim_duration`]).
    sim_duration: SimDuration,
    /// Examples the succeeded clients hold (see [`RoundReport::examples_covered`]).
    examples_covered: u64,
    /// Examples their training went through (see [`RoundReport::examples_processed`]).
    examples_processed: u64,
    /// Their training metrics, merged and finalised.
    train: MetricValues,
}

/// The message of a panic's payload: its `&str` or `String`, or a placeholder. How a
/// caught panic in a client's model code is told in errors, here and in the Flower
/// node's error replies.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::federated::test_model::{blobs, population, TinyModel};
    use crate::federated::{Algorithm, ClientsPerRound, ServerOptimizer};

    fn config(parallel: bool, server: ServerOptimizer) -> FedConfig {
        FedConfig::builder()
            .rounds(3)
            .clients_per_round(ClientsPerRound::Count(4))
            .local_epochs(2)
            .batch_size(2)
            .client_learning_rate(0.2)
            .algorithm(Algorithm::FedProx { mu: 0.1 })
            .server_optimizer(server)
            .seed(11)
            .parallel(parallel)
            .build()
            .unwrap()
    }

    fn bits(w: &[f32]) -> Vec<u32> {
        w.iter().map(|x| x.to_bits()).collect()
    }

    /// One SGD step of rate `lr` on the mean softmax cross-entropy of a `Linear<2, 3>`
    /// (flat weights: the 3x2 weight row-major, then the 3 biases) over `data`, in
    /// f64 arithmetic: the new weights and the loss before the step.
    fn linear_softmax_step_f64(
        weights: &[f32],
        data: &[([f32; 2], usize)],
        lr: f64,
    ) -> (Vec<f64>, f64) {
        let w: Vec<f64> = weights.iter().map(|&v| f64::from(v)).collect();
        let n = data.len() as f64;
        let mut grad = vec![0.0; 9];
        let mut loss = 0.0;
        for (x, label) in data {
            let x = x.map(f64::from);
            let z: Vec<f64> = (0..3)
                .map(|c| w[2 * c] * x[0] + w[2 * c + 1] * x[1] + w[6 + c])
                .collect();
            let lse = z.iter().map(|v| v.exp()).sum::<f64>().ln();
            loss += (lse - z[*label]) / n;
            for c in 0..3 {
                let g = ((z[c] - lse).exp() - f64::from(u8::from(c == *label))) / n;
                grad[2 * c] += g * x[0];
                grad[2 * c + 1] += g * x[1];
                grad[6 + c] += g;
            }
        }
        let stepped = w.iter().zip(&grad).map(|(w, g)| w - lr * g).collect();
        (stepped, loss)
    }

    #[test]
    fn fedavg_of_one_client_and_one_full_batch_step_is_that_step() {
        let data = vec![blobs(6, 1)];
        let config = FedConfig::builder()
            .full_batch()
            .client_learning_rate(0.3)
            .build()
            .unwrap();
        let mut sim = Simulation::new(TinyModel::with_seed(5), config);
        let global = sim.global_weights().to_vec();
        assert_eq!(global, TinyModel::with_seed(5).weights_vec());
        let report = sim.run_round(&data).unwrap();

        // The expectation owes nothing to `train_client` or dfdx: the gradient of the
        // mean cross-entropy worked out in f64 from the global weights.
        let (expected, expected_loss) = linear_softmax_step_f64(&global, data[0].examples(), 0.3);
        let got = sim.global_weights();
        assert_eq!(got.len(), expected.len());
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert!(
                (f64::from(*g) - e).abs() < 1e-6,
                "weight {i}: {g}, expected {e}"
            );
        }
        // The step is far larger than the tolerance, so a missing or wrong step fails.
        let moved = expected
            .iter()
            .zip(&global)
            .map(|(e, g)| (e - f64::from(*g)).abs())
            .fold(0.0, f64::max);
        assert!(moved > 1e-2, "{moved}");
        assert_eq!(sim.model().weights_vec(), got);
        let loss = report.train.get("loss").unwrap();
        assert!(
            (loss - expected_loss).abs() < 1e-6,
            "{loss} vs {expected_loss}"
        );
        assert_eq!(report.round, 1);
        assert_eq!(report.num_clients(), 1);
        assert_eq!(report.train.get("num_examples"), Some(6.0));
        assert_eq!(report.train.get("num_batches"), Some(1.0));
    }

    #[test]
    fn parallel_and_sequential_runs_give_the_same_bits() {
        let clients = population();
        for server in [ServerOptimizer::fedavg(), ServerOptimizer::yogi(0.05)] {
            let mut seq = Simulation::new(TinyModel::with_seed(0), config(false, server.clone()));
            let seq_reports = seq.run(&clients, |_| {}).unwrap();
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(4)
                .build()
                .unwrap();
            let mut par = Simulation::new(TinyModel::with_seed(0), config(true, server));
            let par_reports = pool.install(|| par.run(&clients, |_| {})).unwrap();
            assert_eq!(bits(seq.global_weights()), bits(par.global_weights()));
            assert_eq!(seq.server_state(), par.server_state());
            for (a, b) in seq_reports.iter().zip(&par_reports) {
                assert_eq!(a.clients, b.clients);
                assert_eq!(a.train, b.train);
            }
            assert_eq!(par_reports.len(), 3);
            assert_ne!(seq_reports[0].clients, seq_reports[1].clients);
            assert!(par.workers.len() >= 1);
        }
    }

    #[test]
    fn a_restored_run_continues_bit_for_bit() {
        let clients = population();
        let server = ServerOptimizer::adam(0.05);
        let mut straight = Simulation::new(TinyModel::with_seed(0), config(true, server.clone()));
        straight.run(&clients, |_| {}).unwrap();

        let mut first = Simulation::new(TinyModel::with_seed(0), config(true, server.clone()));
        first.run_round(&clients).unwrap();
        let saved = first.state();
        let mut resumed = Simulation::new(TinyModel::with_seed(99), config(true, server));
        resumed.restore(saved).unwrap();
        let reports = resumed.run(&clients, |_| {}).unwrap();
        assert_eq!(
            reports.iter().map(|r| r.round).collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert_eq!(
            bits(straight.global_weights()),
            bits(resumed.global_weights())
        );
        assert_eq!(straight.state(), resumed.state());
    }

    #[test]
    fn restoring_a_state_that_does_not_fit_is_an_error() {
        let mut sim = Simulation::new(
            TinyModel::with_seed(0),
            config(true, ServerOptimizer::adam(0.1)),
        );
        let mut state = sim.state();
        state.global_weights.pop();
        assert!(matches!(
            sim.restore(state).unwrap_err(),
            FeddxError::ServerStateMismatch { part: "m", .. }
        ));
        let mut state = sim.state();
        state.server.m.pop();
        state.server.v.pop();
        state.global_weights.pop();
        assert!(matches!(
            sim.restore(state).unwrap_err(),
            FeddxError::WeightLengthMismatch { .. }
        ));
        assert_eq!(sim.rounds_completed(), 0);
    }

    #[test]
    fn evaluation_runs_when_due_and_reports_time_split() {
        let clients = population();
        let config =
            crate::federated::FedConfigBuilder::from(config(true, ServerOptimizer::fedavg()))
                .eval_every(2)
                .build()
                .unwrap();
        let mut sim =
            Simulation::new(TinyModel::with_seed(0), config).with_evaluation_data(blobs(8, 77));
        let mut seen = Vec::new();
        let reports = sim.run(&clients, |r| seen.push(r.round)).unwrap();
        assert_eq!(seen, vec![1, 2, 3]);
        let evaluated: Vec<bool> = reports.iter().map(|r| r.eval.is_some()).collect();
        assert_eq!(evaluated, vec![false, true, true]);
        let last = reports[2].eval.as_ref().unwrap();
        assert_eq!(last, &sim.evaluate(&blobs(8, 77)).unwrap());
        assert!(reports[0].wall_time >= reports[0].client_time + reports[0].aggregation_time);
        assert!(
            sim.run(&clients, |_| {}).unwrap().is_empty(),
            "all rounds done"
        );
    }

    #[test]
    fn failures_name_the_round_and_the_client() {
        let mut clients = population();
        let mut bad = clients[2].examples().to_vec();
        bad[0].0 = [f32::INFINITY, 0.0];
        clients[2] = ClientDataOf::<TinyModel>::new(bad);
        let config = FedConfig::builder().parallel(true).build().unwrap();
        let mut sim = Simulation::new(TinyModel::with_seed(0), config);
        let before = sim.state();
        // The first round is round 1, in the error as in `RoundReport::round`.
        let err = sim.run_round(&clients).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("client 2 failed in round 1: the loss is not finite"),
            "{err}"
        );
        match err {
            FeddxError::ClientUpdate {
                round: 1,
                client: 2,
                source,
            } => assert!(matches!(*source, FeddxError::NonFiniteLoss { .. })),
            e => panic!("unexpected {e}"),
        }
        assert_eq!(sim.state(), before);
        // After two rounds, the failing one is round 3.
        sim.restore(SimulationState {
            rounds_completed: 2,
            ..before.clone()
        })
        .unwrap();
        assert!(matches!(
            sim.run_round(&clients).unwrap_err(),
            FeddxError::ClientUpdate {
                round: 3,
                client: 2,
                ..
            }
        ));

        let too_many = FedConfig::builder()
            .clients_per_round(ClientsPerRound::Count(7))
            .build()
            .unwrap();
        let mut sim = Simulation::new(TinyModel::with_seed(0), too_many);
        assert_eq!(
            sim.run_round(&population()).unwrap_err(),
            FeddxError::Config(crate::federated::ConfigError::TooManyClientsPerRound {
                requested: 7,
                available: 6
            })
        );

        let empty = vec![ClientDataOf::<TinyModel>::default(); 2];
        let mut sim = Simulation::new(
            TinyModel::with_seed(0),
            FedConfig::builder().build().unwrap(),
        );
        let err = sim.run_round(&empty).unwrap_err();
        assert_eq!(
            err,
            FeddxError::EmptyRound {
                round: 1,
                clients: 2
            }
        );
        assert_eq!(
            err.to_string(),
            "none of the 2 clients sampled in round 1 holds an example"
        );
    }

    #[test]
    fn by_default_every_round_is_evaluated() {
        let config = FedConfig::builder()
            .rounds(3)
            .clients_per_round(ClientsPerRound::Count(2))
            .build()
            .unwrap();
        let mut sim =
            Simulation::new(TinyModel::with_seed(0), config).with_evaluation_data(blobs(8, 77));
        let reports = sim.run(&population(), |_| {}).unwrap();
        let evaluated: Vec<bool> = reports.iter().map(|r| r.eval.is_some()).collect();
        assert_eq!(evaluated, vec![true, true, true]);
    }

    #[test]
    fn empty_evaluation_data_fails_before_training() {
        let mut sim = Simulation::new(
            TinyModel::with_seed(0),
            FedConfig::builder().build().unwrap(),
        )
        .with_evaluation_data(ClientDataOf::<TinyModel>::default());
        let before = sim.state();
        assert_eq!(
            sim.run_round(&population()).unwrap_err(),
            FeddxError::EmptyBatch
        );
        assert_eq!(sim.state(), before);
        assert_eq!(
            sim.evaluate(&ClientDataOf::<TinyModel>::default())
                .unwrap_err(),
            FeddxError::EmptyBatch
        );
        let empty = vec![ClientDataOf::<TinyModel>::default(); 3];
        assert_eq!(
            sim.evaluate_federated(&empty).unwrap_err(),
            FeddxError::EmptyBatch
        );
    }

    fn faulty(
        aggregation: crate::federated::aggregators::Aggregation,
        faults: crate::federated::Faults,
        parallel: bool,
    ) -> FedConfig {
        crate::federated::FedConfigBuilder::from(config(parallel, ServerOptimizer::adam(0.05)))
            .rounds(4)
            .clients_per_round(ClientsPerRound::Count(12))
            .seed(3)
            .aggregation(aggregation)
            .faults(faults)
            .accept_failures(true)
            // The DP setting repeats only with the noise from the seed.
            .reproducible_noise_not_private()
            .build()
            .unwrap()
    }

    fn twelve_clients() -> Vec<ClientDataOf<TinyModel>> {
        (0..12).map(|k| blobs(4 + k % 3, 40 + k as u64)).collect()
    }

    fn outcome(sim: &mut Simulation<TinyModel>, clients: &[ClientDataOf<TinyModel>]) -> String {
        let reports = sim.run(clients, |_| {});
        format!(
            "{:?} {:?} {:?}",
            reports.map(|r| r
                .into_iter()
                .map(|r| (r.counts, r.failures, r.clip_norm))
                .collect::<Vec<_>>()),
            bits(sim.global_weights()),
            sim.state().aggregator
        )
    }

    #[test]
    fn every_aggregator_with_faults_is_parallel_equal_sequential_and_resumable() {
        use crate::federated::aggregators::{Aggregation, Clipping, Estimator};
        use crate::federated::{Attack, Byzantine, Faults};
        let faults = Faults {
            dropout: 0.1,
            non_finite: 0.1,
            byzantine: Some(Byzantine {
                clients: 2,
                attack: Attack::Noise,
            }),
            ..Faults::default()
        };
        let clients = twelve_clients();
        let estimators = [
            Estimator::Mean,
            Estimator::Median,
            Estimator::TrimmedMean { beta: 0.2 },
            Estimator::Krum { f: 1 },
            Estimator::MultiKrum { f: 1, m: None },
            Estimator::Bulyan { f: 1 },
        ];
        let mut settings: Vec<Aggregation> = estimators
            .iter()
            .map(|&estimator| Aggregation {
                estimator,
                zeroing_norm: Some(50.0),
                clipping: Some(Clipping::adaptive()),
                noise_multiplier: None,
            })
            .collect();
        settings.push(Aggregation {
            clipping: Some(Clipping::Fixed { norm: 0.5 }),
            noise_multiplier: Some(0.7),
            ..Aggregation::default()
        });
        for aggregation in settings {
            let mut seq =
                Simulation::new(TinyModel::with_seed(0), faulty(aggregation, faults, false));
            let seq_outcome = outcome(&mut seq, &clients);
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(3)
                .build()
                .unwrap();
            let mut par =
                Simulation::new(TinyModel::with_seed(0), faulty(aggregation, faults, true));
            let par_outcome = pool.install(|| outcome(&mut par, &clients));
            assert_eq!(seq_outcome, par_outcome, "{aggregation:?}");
            assert!(
                seq_outcome.starts_with("Ok("),
                "{aggregation:?}: {seq_outcome}"
            );

            let mut first =
                Simulation::new(TinyModel::with_seed(0), faulty(aggregation, faults, true));
            first.run_round(&clients).unwrap();
            first.run_round(&clients).unwrap();
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("c.safetensors");
            first.save_checkpoint(&path).unwrap();
            let mut resumed =
                Simulation::new(TinyModel::with_seed(9), faulty(aggregation, faults, true));
            resumed.restore_checkpoint(&path).unwrap();
            resumed.run(&clients, |_| {}).unwrap();
            assert_eq!(
                bits(resumed.global_weights()),
                bits(seq.global_weights()),
                "{aggregation:?}"
            );
            assert_eq!(resumed.state(), seq.state());
        }
    }

    #[test]
    fn failed_clients_are_counted_when_accepted_and_fail_the_round_otherwise() {
        use crate::federated::Faults;
        let clients = twelve_clients();
        let dropout = Faults {
            dropout: 0.3,
            ..Faults::default()
        };
        let config = |accept| {
            FedConfig::builder()
                .clients_per_round(ClientsPerRound::Count(10))
                .faults(dropout)
                .accept_failures(accept)
                .build()
                .unwrap()
        };
        let mut strict = Simulation::new(TinyModel::with_seed(0), config(false));
        let before = strict.state();
        match strict.run_round(&clients).unwrap_err() {
            FeddxError::ClientUpdate {
                round: 1, source, ..
            } => {
                assert_eq!(*source, FeddxError::ClientDroppedOut)
            }
            e => panic!("unexpected {e}"),
        }
        assert_eq!(strict.state(), before);

        let mut lenient = Simulation::new(TinyModel::with_seed(0), config(true));
        let report = lenient.run_round(&clients).unwrap();
        let c = report.counts;
        assert_eq!(c.sampled, 10);
        assert!(c.failed > 0 && c.succeeded > 0, "{c:?}");
        assert_eq!(c.succeeded + c.failed, 10);
        assert_eq!(report.failures.len(), c.failed);
        assert!(report
            .failures
            .iter()
            .all(|(_, e)| *e == FeddxError::ClientDroppedOut));
        // The failed clients' examples are not counted.
        let trained: u64 = report
            .clients
            .iter()
            .filter(|k| !report.failures.iter().any(|(f, _)| f == *k))
            .map(|&k| clients[k].len() as u64)
            .sum();
        assert_eq!(report.examples_covered, trained);
    }

    #[test]
    fn below_min_successful_clients_the_round_fails_and_changes_nothing() {
        use crate::federated::aggregators::{Aggregation, Clipping};
        use crate::federated::Faults;
        let clients = twelve_clients();
        let config = FedConfig::builder()
            .clients_per_round(ClientsPerRound::Count(10))
            .server_optimizer(ServerOptimizer::adam(0.1))
            .aggregation(Aggregation {
                clipping: Some(Clipping::adaptive()),
                ..Aggregation::default()
            })
            .faults(Faults {
                dropout: 0.3,
                ..Faults::default()
            })
            .accept_failures(true)
            .min_successful_clients(10)
            .build()
            .unwrap();
        let mut sim = Simulation::new(TinyModel::with_seed(0), config);
        let before = sim.state();
        let err = sim.run_round(&clients).unwrap_err();
        assert!(
            matches!(
                err,
                FeddxError::TooFewUpdates {
                    round: 1,
                    required: 10,
                    rejected: 0,
                    ..
                }
            ),
            "{err}"
        );
        let after = sim.state();
        assert_eq!(bits(&after.global_weights), bits(&before.global_weights));
        assert_eq!(after, before);
        assert_eq!(
            bits(&sim.model().weights_vec()),
            bits(&before.global_weights)
        );
    }

    #[test]
    fn a_non_finite_update_never_reaches_the_model() {
        use crate::federated::Faults;
        let clients = twelve_clients();
        let config = |p| {
            FedConfig::builder()
                .clients_per_round(ClientsPerRound::Count(10))
                .faults(Faults {
                    non_finite: p,
                    ..Faults::default()
                })
                .rounds(3)
                .build()
                .unwrap()
        };
        let mut some = Simulation::new(TinyModel::with_seed(0), config(0.3));
        let reports = some.run(&clients, |_| {}).unwrap();
        assert!(reports.iter().map(|r| r.counts.zeroed).sum::<usize>() > 0);
        assert!(some.global_weights().iter().all(|w| w.is_finite()));

        let mut all = Simulation::new(TinyModel::with_seed(0), config(1.0));
        let before = all.state();
        assert!(matches!(
            all.run_round(&clients).unwrap_err(),
            FeddxError::TooFewUpdates {
                accepted: 0,
                rejected: 10,
                ..
            }
        ));
        assert_eq!(all.state(), before);
    }

    #[test]
    fn a_panicking_or_late_client_is_a_failure() {
        use crate::federated::test_model::PANIC_FEATURE;
        use crate::federated::Faults;
        let mut clients = population();
        let mut bad = clients[1].examples().to_vec();
        bad[0].0 = [PANIC_FEATURE, 0.0];
        clients[1] = ClientDataOf::<TinyModel>::new(bad);
        let config = |accept| {
            FedConfig::builder()
                .accept_failures(accept)
                .build()
                .unwrap()
        };
        let mut strict = Simulation::new(TinyModel::with_seed(0), config(false));
        match strict.run_round(&clients).unwrap_err() {
            FeddxError::ClientUpdate {
                client: 1, source, ..
            } => assert!(
                matches!(&*source, FeddxError::ClientPanicked { message } if message.contains("makes the test model panic")),
                "{source}"
            ),
            e => panic!("unexpected {e}"),
        }
        let mut lenient = Simulation::new(TinyModel::with_seed(0), config(true));
        let report = lenient.run_round(&clients).unwrap();
        assert_eq!(report.counts.failed, 1);
        assert_eq!(report.failures[0].0, 1);
        // The model that panicked was not put back; the next round trains anyway.
        lenient.run_round(&population()).unwrap();

        // Slow clients: an hour added to their time, a minute's deadline.
        let slow = FedConfig::builder()
            .faults(Faults {
                slow: 0.5,
                slow_delay: Duration::from_secs(3600),
                ..Faults::default()
            })
            .round_deadline(Duration::from_secs(60))
            .accept_failures(true)
            .build()
            .unwrap();
        let mut sim = Simulation::new(TinyModel::with_seed(0), slow);
        let report = sim.run_round(&population()).unwrap();
        assert!(report.counts.failed > 0);
        assert!(report
            .failures
            .iter()
            .all(|(_, e)| matches!(e, FeddxError::DeadlineExceeded { elapsed, .. } if *elapsed >= Duration::from_secs(3600))));
    }

    #[test]
    fn deadline_decisions_do_not_depend_on_how_long_training_really_takes() {
        use crate::federated::test_model::TRAINING_SLEEP;
        use crate::federated::{Faults, SimDuration, SpeedModel, StragglerPolicy};
        // Log-normal speeds around 10 ms a step, a 40 ms deadline: some clients make
        // all their steps, some part of them, some none. Each batch then sleeps
        // 3 ms of real time, far beyond what unslowed training takes.
        let config = |stragglers| {
            FedConfig::builder()
                .rounds(2)
                .clients_per_round(ClientsPerRound::Count(6))
                .batch_size(2)
                .local_epochs(2)
                .speed(SpeedModel::LogNormal {
                    median: SimDuration::from_millis(10),
                    sigma: 1.0,
                })
                .faults(Faults {
                    slow: 0.2,
                    slow_delay: Duration::from_millis(25),
                    ..Faults::default()
                })
                .round_deadline(Duration::from_millis(40))
                .stragglers(stragglers)
                .accept_failures(true)
                .parallel(false)
                .build()
                .unwrap()
        };
        let run = |stragglers, sleep: Duration| {
            TRAINING_SLEEP.with(|s| s.set(sleep));
            let mut sim = Simulation::new(TinyModel::with_seed(0), config(stragglers));
            let reports = sim.run(&population(), |_| {}).unwrap();
            TRAINING_SLEEP.with(|s| s.set(Duration::ZERO));
            let seen: Vec<_> = reports
                .into_iter()
                .map(|r| (r.counts, r.failures, r.local_steps, r.sim_duration))
                .collect();
            (seen, bits(sim.global_weights()))
        };
        for stragglers in [StragglerPolicy::Drop, StragglerPolicy::PartialWork] {
            let fast = run(stragglers, Duration::ZERO);
            let slow = run(stragglers, Duration::from_millis(3));
            assert_eq!(fast, slow, "{stragglers:?}");
            let dropped: usize = fast.0.iter().map(|r| r.0.stragglers_dropped).sum();
            let partial: usize = fast.0.iter().map(|r| r.0.stragglers_partial).sum();
            match stragglers {
                StragglerPolicy::Drop => assert!(dropped > 0 && partial == 0, "{fast:?}"),
                StragglerPolicy::PartialWork => assert!(partial > 0, "{fast:?}"),
            }
        }
    }
}
