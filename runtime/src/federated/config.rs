//! The settings of a federated run: a builder that validates them once.

use std::time::Duration;

use thiserror::Error;

use super::aggregation::Weighting;
use super::aggregators::Aggregation;
use super::client::{Algorithm, LocalTraining};
use super::client_task::StragglerPolicy;
use super::faults::Faults;
use super::noise_source::NoiseSource;
use super::population::{Availability, SpeedModel};
use super::sampling::ClientsPerRound;
use super::server_optimizer::ServerOptimizer;
use super::time::SimDuration;

/// How many examples a batch holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchSize {
    /// Batches of this many examples; the last one of an epoch may be smaller.
    ///
    /// The builder rejects 0; a 0 built by hand is taken as [`Full`](Self::Full).
    Examples(usize),
    /// All of a client's examples in one batch.
    Full,
}

impl BatchSize {
    /// The batch size for a data set of `len` examples, as
    /// [`ClientData::batches`](crate::data::ClientData::batches) takes it (never 0).
    pub fn for_len(self, len: usize) -> usize {
        match self {
            BatchSize::Examples(n) if n > 0 => n,
            _ => len.max(1),
        }
    }
}

/// A setting of a federated run that is out of range.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `rounds` is 0.
    #[error("`rounds` must be at least 1, got 0")]
    ZeroRounds,
    /// `clients_per_round` is `Count(0)`.
    #[error("`clients_per_round` must be at least 1, got `Count(0)`")]
    ZeroClientsPerRound,
    /// `clients_per_round` is a fraction outside `(0, 1]`.
    #[error("`clients_per_round` fraction must be in (0, 1], got {fraction}")]
    FractionOutOfRange {
        /// The fraction given.
        fraction: f64,
    },
    /// More clients per round were asked for than the population holds.
    #[error("`clients_per_round` asks for {requested} clients but only {available} are available")]
    TooManyClientsPerRound {
        /// Clients asked for.
        requested: usize,
        /// Clients in the population.
        available: usize,
    },
    /// `local_epochs` is 0.
    #[error("`local_epochs` must be at least 1, got 0")]
    ZeroLocalEpochs,
    /// `batch_size` is 0.
    #[error(
        "`batch_size` must be at least 1, got 0 (use `full_batch()` for one batch of all examples)"
    )]
    ZeroBatchSize,
    /// `eval_batch_size` is 0.
    #[error("`eval_batch_size` must be at least 1, got 0 (use `eval_full_batch()` for one batch)")]
    ZeroEvalBatchSize,
    /// `eval_every` is 0.
    #[error("`eval_every` must be at least 1, got 0")]
    ZeroEvalEvery,
    /// The client learning rate is not a finite positive number.
    #[error("`client_learning_rate` must be finite and positive, got {value}")]
    ClientLearningRate {
        /// The rate given.
        value: f32,
    },
    /// The server learning rate is not a finite positive number.
    #[error("server `learning_rate` must be finite and positive, got {value}")]
    ServerLearningRate {
        /// The rate given.
        value: f32,
    },
    /// FedProx's `mu` is negative or not finite.
    #[error("FedProx `mu` must be finite and non-negative, got {mu}")]
    InvalidMu {
        /// The `mu` given.
        mu: f32,
    },
    /// `beta1` of an adaptive server optimiser is outside `[0, 1)`.
    #[error("server `beta1` must be in [0, 1), got {value}")]
    Beta1OutOfRange {
        /// The value given.
        value: f32,
    },
    /// `beta2` of an adaptive server optimiser is outside `[0, 1)`.
    #[error("server `beta2` must be in [0, 1), got {value}")]
    Beta2OutOfRange {
        /// The value given.
        value: f32,
    },
    /// `tau` of an adaptive server optimiser is not a finite positive number.
    #[error("server `tau` must be finite and positive, got {value}")]
    NonPositiveTau {
        /// The value given.
        value: f32,
    },
    /// The initial accumulator of an adaptive server optimiser is negative or not finite.
    #[error("server `initial_accumulator` must be finite and non-negative, got {value}")]
    InitialAccumulator {
        /// The value given.
        value: f32,
    },
    /// The trimmed mean's `beta` is outside `[0, 0.5)` (or NaN): trimming half of the
    /// values from each side would leave none.
    #[error("trimmed mean `beta` must be in [0, 0.5), got `{beta}`")]
    TrimBetaOutOfRange {
        /// The `beta` given.
        beta: f64,
    },
    /// A Byzantine-robust aggregator was asked to tolerate `f` Byzantine clients among
    /// fewer clients than it needs: Krum needs `n >= 2f + 3` (Blanchard et al. 2017),
    /// Bulyan `n >= 4f + 3` (El Mhamdi et al. 2018).
    #[error(
        "{aggregator} tolerating `f = {f}` Byzantine clients needs at least `{minimum}` updates, got `{clients}`"
    )]
    TooManyByzantine {
        /// The aggregator: `Krum`, `Multi-Krum` or `Bulyan`.
        aggregator: &'static str,
        /// Byzantine clients to tolerate.
        f: usize,
        /// Updates handed in.
        clients: usize,
        /// Updates the aggregator needs for this `f`.
        minimum: usize,
    },
    /// Multi-Krum was asked to select `m` updates outside `1..=n - f`: none, or more
    /// than the honest clients, so that a Byzantine update would always be selected.
    #[error("Multi-Krum must select between 1 and n - f = `{maximum}` updates, got `m = {m}`")]
    KrumSelectionOutOfRange {
        /// Updates asked for.
        m: usize,
        /// The largest `m` allowed: updates handed in minus `f`.
        maximum: usize,
    },
    /// Multi-Krum was asked to keep no update.
    #[error("Multi-Krum must keep at least 1 update, got `m = 0`")]
    ZeroMultiKrumKeep,
    /// The zeroing norm is not a finite positive number.
    #[error("the zeroing norm must be finite and positive, got {value}")]
    ZeroingNorm {
        /// The norm given.
        value: f32,
    },
    /// The clipping norm (fixed, or adaptive's initial one) is not a finite positive number.
    #[error("the clipping norm must be finite and positive, got {value}")]
    ClipNorm {
        /// The norm given.
        value: f32,
    },
    /// Adaptive clipping's target quantile is outside `(0, 1)`.
    #[error("adaptive clipping's target quantile must be in (0, 1), got {value}")]
    ClipQuantile {
        /// The quantile given.
        value: f32,
    },
    /// Adaptive clipping's learning rate is not a finite positive number.
    #[error("adaptive clipping's learning rate must be finite and positive, got {value}")]
    ClipLearningRate {
        /// The rate given.
        value: f32,
    },
    /// The DP noise multiplier is negative or not finite.
    #[error("the noise multiplier must be finite and non-negative, got {value}")]
    NoiseMultiplier {
        /// The multiplier given.
        value: f64,
    },
    /// DP noise was asked for without a fixed clipping norm to scale it.
    #[error("DP noise needs a fixed clipping norm (`clipping: Some(Clipping::Fixed {{ .. }})`): the noise is a multiple of it")]
    NoiseNeedsFixedClipping,
    /// DP noise was asked for with a robust estimator.
    #[error("DP noise is added to the mean of the clipped updates, not to the `{estimator}`: use `Estimator::Mean`")]
    NoiseNeedsMean {
        /// The estimator configured.
        estimator: &'static str,
    },
    /// `min_successful_clients` is 0.
    #[error("`min_successful_clients` must be at least 1, got 0")]
    ZeroMinSuccessfulClients,
    /// A fault probability is outside `[0, 1]`.
    #[error("the probability of `{fault}` must be in [0, 1], got {value}")]
    FaultProbability {
        /// The fault: `dropout`, `non_finite` or `slow`.
        fault: &'static str,
        /// The probability given.
        value: f64,
    },
    /// The privacy `delta` is outside `(0, 1)`.
    #[error("the privacy `delta` must be in (0, 1), got {value}")]
    PrivacyDelta {
        /// The delta given.
        value: f64,
    },
    /// A round deadline shorter than a microsecond, the simulated clock's tick.
    #[error("the round deadline must be at least one microsecond")]
    ZeroRoundDeadline,
    /// A log-normal speed model's `sigma` is negative or not finite.
    #[error("the log-normal speed model's `sigma` must be finite and non-negative, got {value}")]
    SpeedSigma {
        /// The `sigma` given.
        value: f64,
    },
    /// A speed trace holds fewer clients than the population.
    #[error("the speed trace holds {clients} clients but the population has {population}: give every client a line")]
    SpeedTraceTooShort {
        /// Clients in the trace.
        clients: usize,
        /// Clients in the population.
        population: usize,
    },
    /// The over-selection factor is below 1 or not finite.
    #[error("the over-selection factor must be finite and at least 1, got {value}")]
    OverSelectionFactor {
        /// The factor given.
        value: f64,
    },
    /// Over-selection was asked for with Poisson sampling or DP noise, whose
    /// sample (and privacy analysis) it would change.
    #[error("over-selection needs a fixed count or fraction of clients per round without DP noise: {reason}")]
    OverSelectionUnsupported {
        /// What is in the way.
        reason: &'static str,
    },
    /// An availability probability is outside `(0, 1]`.
    #[error("the availability probability must be in (0, 1], got {value}")]
    AvailabilityProbability {
        /// The probability given.
        value: f64,
    },
}

/// Whether `value` is a finite positive number.
pub(crate) fn positive(value: f32) -> bool {
    value.is_finite() && value > 0.0
}

/// The validated settings of a federated run; made by [`FedConfig::builder`].
///
/// Every field has a getter; a `FedConfig` can only be built through the builder,
/// so every one of them is in range.
#[derive(Debug, Clone, PartialEq)]
pub struct FedConfig {
    rounds: usize,
    clients_per_round: ClientsPerRound,
    local_epochs: usize,
    batch_size: BatchSize,
    client_learning_rate: f32,
    algorithm: Algorithm,
    server_optimizer: ServerOptimizer,
    weighting: Weighting,
    seed: u64,
    /// Evaluate after every this many rounds, and after the last; at least 1.
    /// Default 1: after every round.
    eval_every: usize,
    eval_batch_size: BatchSize,
    parallel: bool,
    aggregation: Aggregation,
    accept_failures: bool,
    min_successful_clients: usize,
    round_deadline: Option<SimDuration>,
    stragglers: StragglerPolicy,
    speed: SpeedModel,
    availability: Availability,
    over_selection: Option<f64>,
    faults: Faults,
    privacy_delta: f64,
    noise_source: NoiseSource,
}

impl FedConfig {
    /// A builder with the defaults listed on [`FedConfigBuilder`].
    pub fn builder() -> FedConfigBuilder {
        FedConfigBuilder::default()
    }

    /// Rounds that [`Simulation::run`](super::Simulation::run) runs in total.
    pub fn rounds(&self) -> usize {
        self.rounds
    }

    /// Clients sampled per round.
    pub fn clients_per_round(&self) -> ClientsPerRound {
        self.clients_per_round
    }

    /// Passes over its data a client makes per round (FedSGD makes one).
    pub fn local_epochs(&self) -> usize {
        self.local_epochs
    }

    /// Client batch size (FedSGD always uses the full batch).
    pub fn batch_size(&self) -> BatchSize {
        self.batch_size
    }

    /// Learning rate of the clients' SGD.
    pub fn client_learning_rate(&self) -> f32 {
        self.client_learning_rate
    }

    /// What a client does with the global weights.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// How the server applies the averaged delta.
    pub fn server_optimizer(&self) -> &ServerOptimizer {
        &self.server_optimizer
    }

    /// How client deltas are weighted in the average.
    pub fn weighting(&self) -> Weighting {
        self.weighting
    }

    /// The run seed every random choice derives from (see [`seeds`](super::seeds)).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Evaluation data is evaluated after every this many rounds (rounds `n`, `2n`,
    /// ... counted from 1) and after the last round. Default 1: every round.
    pub fn eval_every(&self) -> usize {
        self.eval_every
    }

    /// Batch size of evaluation.
    pub fn eval_batch_size(&self) -> BatchSize {
        self.eval_batch_size
    }

    /// Whether the clients of a round train in parallel (the result is the same).
    pub fn parallel(&self) -> bool {
        self.parallel
    }

    /// How a round's updates are combined: the estimator, zeroing, clipping, DP noise.
    pub fn aggregation(&self) -> &Aggregation {
        &self.aggregation
    }

    /// Whether a round goes on when some of its clients fail (an error, a panic, a
    /// dropout, a missed deadline), as Flower's `accept_failures`. Default `false`:
    /// the first failure fails the round.
    pub fn accept_failures(&self) -> bool {
        self.accept_failures
    }

    /// Updates a round needs, after failures and rejected updates, to go on (Flower's
    /// `min_fit_clients` of the replies). Default 1.
    pub fn min_successful_clients(&self) -> usize {
        self.min_successful_clients
    }

    /// The simulated time a client may take in a round, from receiving the global
    /// weights to its reply; a client whose work takes longer (its
    /// [speed](Self::speed) times its local steps, plus the slow delay of
    /// [`faults`](Self::faults)) is a straggler, dropped or cut short as
    /// [`stragglers`](Self::stragglers) says. Default: none.
    ///
    /// The deadline is compared with simulated time, never with the time training
    /// takes on this machine, so a run's stragglers are the same everywhere.
    pub fn round_deadline(&self) -> Option<Duration> {
        self.round_deadline.map(Duration::from)
    }

    /// The [round deadline](Self::round_deadline) on the simulated clock.
    pub fn sim_deadline(&self) -> Option<SimDuration> {
        self.round_deadline
    }

    /// What becomes of a client whose work does not fit the
    /// [round deadline](Self::round_deadline). Default [`StragglerPolicy::Drop`].
    pub fn stragglers(&self) -> StragglerPolicy {
        self.stragglers
    }

    /// How long a client's local step takes in simulated time. Default: no time
    /// ([`SpeedModel::Constant`] of zero).
    pub fn speed(&self) -> &SpeedModel {
        &self.speed
    }

    /// Which clients a round can sample. Default [`Availability::Always`].
    pub fn availability(&self) -> Availability {
        self.availability
    }

    /// The over-selection factor, if the rounds over-select: a round that wants `m`
    /// clients samples `ceil(factor · m)` and keeps the first `m` to finish. Default:
    /// none.
    pub fn over_selection(&self) -> Option<f64> {
        self.over_selection
    }

    /// Faults injected into the simulation (none by default).
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// The `delta` at which a DP run reports its `epsilon`. Default `1e-5`.
    pub fn privacy_delta(&self) -> f64 {
        self.privacy_delta
    }

    /// Where a DP run's noise and client sample come from: the operating system
    /// (the default), or the run seed after
    /// [`reproducible_noise_not_private`](FedConfigBuilder::reproducible_noise_not_private).
    pub fn noise_source(&self) -> NoiseSource {
        self.noise_source
    }

    /// Whether the run adds DP noise from a secret source: a noise multiplier is set
    /// and the noise source is [`NoiseSource::Os`].
    pub fn is_private(&self) -> bool {
        self.aggregation.noise_multiplier.is_some() && self.noise_source.is_private()
    }

    /// What each client does, as [`train_client`](super::train_client) takes it.
    pub fn local_training(&self) -> LocalTraining {
        LocalTraining {
            algorithm: self.algorithm,
            local_epochs: self.local_epochs,
            batch_size: self.batch_size,
            learning_rate: self.client_learning_rate,
        }
    }

    /// Whether the simulation evaluates after round number `round` (from 1, as
    /// [`RoundReport::round`](super::RoundReport::round)): every
    /// [`eval_every`](Self::eval_every) rounds, and after the last one.
    pub fn evaluates_after(&self, round: usize) -> bool {
        round == self.rounds || round % self.eval_every == 0
    }
}

/// Builds a [`FedConfig`], checking every setting in [`build`](Self::build).
///
/// Defaults: 1 round, all clients every round (`Fraction(1.0)`), 1 local epoch,
/// batches of 32, client learning rate 0.1, FedAvg, server SGD with learning rate 1
/// (plain FedAvg), deltas weighted by example counts, seed 0, evaluation (when the
/// simulation has [evaluation data](super::Simulation::with_evaluation_data)) after
/// every round with batches of 256, clients trained in parallel.
#[derive(Debug, Clone, PartialEq)]
#[must_use = "a builder does nothing until `build()` is called"]
pub struct FedConfigBuilder {
    config: FedConfig,
}

impl Default for FedConfigBuilder {
    fn default() -> Self {
        FedConfigBuilder {
            config: FedConfig {
                rounds: 1,
                clients_per_round: ClientsPerRound::Fraction(1.0),
                local_epochs: 1,
                batch_size: BatchSize::Examples(32),
                client_learning_rate: 0.1,
                algorithm: Algorithm::FedAvg,
                server_optimizer: ServerOptimizer::fedavg(),
                weighting: Weighting::ByExamples,
                seed: 0,
                eval_every: 1,
                eval_batch_size: BatchSize::Examples(256),
                parallel: true,
                aggregation: Aggregation::default(),
                accept_failures: false,
                min_successful_clients: 1,
                round_deadline: None,
                stragglers: StragglerPolicy::Drop,
                speed: SpeedModel::default(),
                availability: Availability::Always,
                over_selection: None,
                faults: Faults::default(),
                privacy_delta: 1e-5,
                noise_source: NoiseSource::Os,
            },
        }
    }
}

impl From<FedConfig> for FedConfigBuilder {
    /// A builder starting from a valid config, to change some settings.
    fn from(config: FedConfig) -> Self {
        FedConfigBuilder { config }
    }
}

impl FedConfigBuilder {
    /// Total rounds of [`Simulation::run`](super::Simulation::run); at least 1.
    pub fn rounds(mut self, rounds: usize) -> Self {
        self.config.rounds = rounds;
        self
    }

    /// Clients per round: a count, or a fraction of the population (rounded up).
    pub fn clients_per_round(mut self, clients: ClientsPerRound) -> Self {
        self.config.clients_per_round = clients;
        self
    }

    /// Local epochs `E` per round; at least 1. Ignored by FedSGD.
    pub fn local_epochs(mut self, epochs: usize) -> Self {
        self.config.local_epochs = epochs;
        self
    }

    /// Client batch size `B`; at least 1. Ignored by FedSGD.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.config.batch_size = BatchSize::Examples(batch_size);
        self
    }

    /// Clients train on all their examples in one batch (`B = ∞` in McMahan et al.).
    pub fn full_batch(mut self) -> Self {
        self.config.batch_size = BatchSize::Full;
        self
    }

    /// Learning rate of the clients' SGD; finite and positive.
    pub fn client_learning_rate(mut self, learning_rate: f32) -> Self {
        self.config.client_learning_rate = learning_rate;
        self
    }

    /// FedAvg, FedSGD or FedProx.
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.config.algorithm = algorithm;
        self
    }

    /// The server optimiser applying the averaged delta.
    pub fn server_optimizer(mut self, optimizer: ServerOptimizer) -> Self {
        self.config.server_optimizer = optimizer;
        self
    }

    /// How client deltas are weighted.
    pub fn weighting(mut self, weighting: Weighting) -> Self {
        self.config.weighting = weighting;
        self
    }

    /// The run seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = seed;
        self
    }

    /// Evaluate the [evaluation data](super::Simulation::with_evaluation_data) after
    /// every `rounds` rounds (rounds `rounds`, `2 * rounds`, ... counted from 1) and
    /// after the last round; at least 1.
    ///
    /// Default 1: after every round. To evaluate only after the last round, pass
    /// the number of rounds (or `usize::MAX`).
    pub fn eval_every(mut self, rounds: usize) -> Self {
        self.config.eval_every = rounds;
        self
    }

    /// Batch size of evaluation; at least 1.
    pub fn eval_batch_size(mut self, batch_size: usize) -> Self {
        self.config.eval_batch_size = BatchSize::Examples(batch_size);
        self
    }

    /// Evaluate each data set in one batch.
    pub fn eval_full_batch(mut self) -> Self {
        self.config.eval_batch_size = BatchSize::Full;
        self
    }

    /// Train the clients of a round in parallel with rayon (same result either way).
    pub fn parallel(mut self, parallel: bool) -> Self {
        self.config.parallel = parallel;
        self
    }

    /// How a round's updates are combined (default: the weighted mean, nothing else).
    pub fn aggregation(mut self, aggregation: Aggregation) -> Self {
        self.config.aggregation = aggregation;
        self
    }

    /// Let a round go on when some of its clients fail (default `false`).
    pub fn accept_failures(mut self, accept: bool) -> Self {
        self.config.accept_failures = accept;
        self
    }

    /// Updates a round needs, after failures and rejections; at least 1.
    pub fn min_successful_clients(mut self, clients: usize) -> Self {
        self.config.min_successful_clients = clients;
        self
    }

    /// A client whose work takes longer than `deadline` of simulated time in a round
    /// is a straggler (see [`FedConfig::round_deadline`]); at least a microsecond,
    /// the simulated clock's tick (kept to the microsecond).
    pub fn round_deadline(mut self, deadline: Duration) -> Self {
        self.config.round_deadline = Some(deadline.into());
        self
    }

    /// What becomes of stragglers: dropped (the default, FedAvg's behaviour) or
    /// allowed the local steps that fit ([`StragglerPolicy::PartialWork`], FedProx's).
    pub fn stragglers(mut self, policy: StragglerPolicy) -> Self {
        self.config.stragglers = policy;
        self
    }

    /// How long each client's local step takes in simulated time (constant,
    /// log-normal, or a trace of per-client speeds).
    pub fn speed(mut self, speed: SpeedModel) -> Self {
        self.config.speed = speed;
        self
    }

    /// Which clients a round can sample: always all, or each with a probability.
    pub fn availability(mut self, availability: Availability) -> Self {
        self.config.availability = availability;
        self
    }

    /// Over-select, as production systems do (Bonawitz et al., "Towards Federated
    /// Learning at Scale", 2019): a round that wants `m` clients samples
    /// `ceil(factor · m)` (at most the population) and aggregates the first `m` to
    /// finish in simulated time, ties going to the lower client index; the others
    /// are discarded ([`RoundCounts::discarded`](super::RoundCounts::discarded)),
    /// not failed. `factor` is finite and at least 1 (Bonawitz et al. use 1.3).
    /// Needs a `Count` or `Fraction` of clients per round and no DP noise.
    pub fn over_selection(mut self, factor: f64) -> Self {
        self.config.over_selection = Some(factor);
        self
    }

    /// Faults to inject into the simulation.
    pub fn faults(mut self, faults: Faults) -> Self {
        self.config.faults = faults;
        self
    }

    /// The `delta` of the `(epsilon, delta)` a DP run reports; in `(0, 1)`.
    pub fn privacy_delta(mut self, delta: f64) -> Self {
        self.config.privacy_delta = delta;
        self
    }

    /// Derives a DP run's noise and client sample from the run seed instead of the
    /// operating system ([`NoiseSource::RunSeedNotPrivate`]), so that the run repeats
    /// bit for bit and resumes exactly from a checkpoint.
    ///
    /// **The run is then not private**: anyone who knows the config can regenerate the
    /// noise, subtract it from the released models, and tell which clients each round
    /// sampled. Its reports say so ([`PrivacySpent::noise_source`](super::PrivacySpent),
    /// the progress line). For tests and for reproducing published figures only.
    pub fn reproducible_noise_not_private(mut self) -> Self {
        self.config.noise_source = NoiseSource::RunSeedNotPrivate;
        self
    }

    /// Checks every setting and returns the config.
    ///
    /// # Errors
    /// The first [`ConfigError`] found, in the order of the builder's methods.
    /// `clients_per_round` against the population is checked when a round starts
    /// ([`ConfigError::TooManyClientsPerRound`]).
    pub fn build(self) -> Result<FedConfig, ConfigError> {
        let c = self.config;
        if c.rounds == 0 {
            return Err(ConfigError::ZeroRounds);
        }
        c.clients_per_round.validate()?;
        c.local_training().validate()?;
        c.server_optimizer.validate()?;
        if c.eval_every == 0 {
            return Err(ConfigError::ZeroEvalEvery);
        }
        if c.eval_batch_size == BatchSize::Examples(0) {
            return Err(ConfigError::ZeroEvalBatchSize);
        }
        c.aggregation.validate()?;
        if let ClientsPerRound::Count(n) = c.clients_per_round {
            c.aggregation.validate_for(n)?;
        }
        if c.min_successful_clients == 0 {
            return Err(ConfigError::ZeroMinSuccessfulClients);
        }
        if c.round_deadline == Some(SimDuration::ZERO) {
            return Err(ConfigError::ZeroRoundDeadline);
        }
        c.speed.validate()?;
        c.availability.validate()?;
        if let Some(factor) = c.over_selection {
            if !(factor.is_finite() && factor >= 1.0) {
                return Err(ConfigError::OverSelectionFactor { value: factor });
            }
            if matches!(c.clients_per_round, ClientsPerRound::Poisson(_)) {
                return Err(ConfigError::OverSelectionUnsupported {
                    reason: "Poisson sampling has no count to keep",
                });
            }
            if c.aggregation.noise_multiplier.is_some() {
                return Err(ConfigError::OverSelectionUnsupported {
                    reason: "DP-FedAvg's accountant assumes every sampled client is aggregated",
                });
            }
        }
        c.faults.validate()?;
        if !(c.privacy_delta > 0.0 && c.privacy_delta < 1.0) {
            return Err(ConfigError::PrivacyDelta {
                value: c.privacy_delta,
            });
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(b: FedConfigBuilder) -> ConfigError {
        b.build().unwrap_err()
    }

    #[test]
    fn defaults_are_valid() {
        let c = FedConfig::builder().build().unwrap();
        assert_eq!(c.rounds(), 1);
        assert_eq!(c.server_optimizer(), &ServerOptimizer::fedavg());
        assert!(c.parallel());
    }

    #[test]
    fn every_invalid_setting_has_its_error() {
        let b = FedConfig::builder;
        assert_eq!(err(b().rounds(0)), ConfigError::ZeroRounds);
        assert_eq!(
            err(b().clients_per_round(ClientsPerRound::Count(0))),
            ConfigError::ZeroClientsPerRound
        );
        for fraction in [0.0, -0.5, 1.5, f64::NAN] {
            match err(b().clients_per_round(ClientsPerRound::Fraction(fraction))) {
                ConfigError::FractionOutOfRange { fraction: f } => {
                    assert!(f.to_bits() == fraction.to_bits())
                }
                e => panic!("unexpected {e}"),
            }
        }
        assert_eq!(err(b().local_epochs(0)), ConfigError::ZeroLocalEpochs);
        assert_eq!(err(b().batch_size(0)), ConfigError::ZeroBatchSize);
        assert_eq!(err(b().eval_batch_size(0)), ConfigError::ZeroEvalBatchSize);
        assert_eq!(err(b().eval_every(0)), ConfigError::ZeroEvalEvery);
        for lr in [0.0, -1.0, f32::INFINITY] {
            assert_eq!(
                err(b().client_learning_rate(lr)),
                ConfigError::ClientLearningRate { value: lr }
            );
            assert_eq!(
                err(b().server_optimizer(ServerOptimizer::Sgd { learning_rate: lr })),
                ConfigError::ServerLearningRate { value: lr }
            );
        }
        assert!(matches!(
            err(b().client_learning_rate(f32::NAN)),
            ConfigError::ClientLearningRate { value } if value.is_nan()
        ));
        assert_eq!(
            err(b().algorithm(Algorithm::FedProx { mu: -0.1 })),
            ConfigError::InvalidMu { mu: -0.1 }
        );
        let adam = |learning_rate, beta1, beta2, tau, initial_accumulator| {
            err(b().server_optimizer(ServerOptimizer::Adam {
                learning_rate,
                beta1,
                beta2,
                tau,
                initial_accumulator,
            }))
        };
        assert_eq!(
            adam(0.0, 0.9, 0.99, 1e-3, 0.0),
            ConfigError::ServerLearningRate { value: 0.0 }
        );
        assert_eq!(
            adam(0.1, 1.0, 0.99, 1e-3, 0.0),
            ConfigError::Beta1OutOfRange { value: 1.0 }
        );
        assert_eq!(
            adam(0.1, 0.9, -0.1, 1e-3, 0.0),
            ConfigError::Beta2OutOfRange { value: -0.1 }
        );
        assert_eq!(
            adam(0.1, 0.9, 0.99, 0.0, 0.0),
            ConfigError::NonPositiveTau { value: 0.0 }
        );
        assert_eq!(
            adam(0.1, 0.9, 0.99, 1e-3, -1.0),
            ConfigError::InitialAccumulator { value: -1.0 }
        );
    }

    #[test]
    fn full_batch_and_zero_mu_are_valid() {
        let c = FedConfig::builder()
            .full_batch()
            .algorithm(Algorithm::FedProx { mu: 0.0 })
            .build()
            .unwrap();
        assert_eq!(c.batch_size(), BatchSize::Full);
        assert_eq!(c.batch_size().for_len(7), 7);
        assert_eq!(BatchSize::Examples(3).for_len(7), 3);
        assert_eq!(BatchSize::Full.for_len(0), 1);
    }

    #[test]
    fn evaluates_every_n_rounds_and_after_the_last() {
        let c = FedConfig::builder()
            .rounds(7)
            .eval_every(3)
            .build()
            .unwrap();
        let due: Vec<usize> = (1..=7).filter(|&r| c.evaluates_after(r)).collect();
        assert_eq!(due, vec![3, 6, 7]);
        let last_only = FedConfig::builder()
            .rounds(4)
            .eval_every(usize::MAX)
            .build()
            .unwrap();
        let due: Vec<usize> = (1..=4).filter(|&r| last_only.evaluates_after(r)).collect();
        assert_eq!(due, vec![4]);
    }

    #[test]
    fn by_default_every_round_is_evaluated() {
        let c = FedConfig::builder().rounds(4).build().unwrap();
        assert_eq!(c.eval_every(), 1);
        assert!(c.evaluates_after(1), "the first round is evaluated");
        let due: Vec<usize> = (1..=4).filter(|&r| c.evaluates_after(r)).collect();
        assert_eq!(due, vec![1, 2, 3, 4]);
    }
}
