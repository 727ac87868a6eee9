//! What the federated examples share: their command line, and a run loop that
//! reports each round (progress, CSV, plot) and checkpoints after it.

use std::path::PathBuf;
use std::time::Instant;

use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};
use feddx::data::{partition, Dataset};
use feddx::federated::aggregators::{Aggregation, Clipping, Estimator};
use feddx::federated::{
    byzantine_clients, Algorithm, Attack, Byzantine, ClientDataOf, ClientsPerRound, Faults,
    FedConfig, PrivacySpent, RoundReport, ServerOptimizer, Simulation,
};
use feddx::report::{save_plot, Progress, RoundCsv};
use feddx::{ErrorReport, FederatedModel};

/// The federated algorithm: a client update and a server optimiser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Strategy {
    /// FedAvg (McMahan et al. 2017): local SGD epochs, example-weighted mean.
    Fedavg,
    /// FedSGD: one full-batch gradient step per client.
    Fedsgd,
    /// FedProx (Li et al. 2020): FedAvg with a proximal term `mu`.
    Fedprox,
    /// FedAvg clients with the FedAdam server optimiser (Reddi et al. 2021).
    Fedadam,
    /// FedAvg clients with the FedYogi server optimiser (Reddi et al. 2021).
    Fedyogi,
    /// FedAvg clients with the FedAdagrad server optimiser (Reddi et al. 2021).
    Fedadagrad,
}

/// How the server combines a round's updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AggregatorArg {
    /// The example-weighted mean (FedAvg's).
    Mean,
    /// The coordinate-wise median.
    Median,
    /// The coordinate-wise mean without the `--trim-beta` extremes at each end.
    TrimmedMean,
    /// The update closest to its neighbours, tolerating `--krum-f` attackers.
    Krum,
    /// The mean of the n - f updates with the best Krum scores.
    MultiKrum,
    /// Krum picks, then a trimmed mean around the median.
    Bulyan,
}

/// What the `--byzantine` clients do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AttackArg {
    /// Send the update sign-flipped and scaled by 10.
    SignFlip,
    /// Send the update scaled by 10.
    Scale,
    /// Send Gaussian noise of the update's norm.
    Noise,
    /// Train on their data with every label mirrored (class c becomes classes - 1 - c).
    LabelFlip,
}

/// `--clip`: a fixed norm, or `adaptive`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClipArg {
    /// Clip to this norm.
    Fixed(f32),
    /// Clip to a norm that follows the 0.8 quantile of the updates' norms.
    Adaptive,
}

fn parse_clip(s: &str) -> Result<ClipArg, String> {
    if s == "adaptive" {
        return Ok(ClipArg::Adaptive);
    }
    s.parse::<f32>()
        .map(ClipArg::Fixed)
        .map_err(|_| format!("`{s}` is neither a norm nor `adaptive`"))
}

/// The knobs of a federated run.
#[derive(Debug, Parser)]
pub struct Knobs {
    /// Federated rounds.
    #[arg(long)]
    pub rounds: Option<usize>,
    /// Clients the training data is spread over.
    #[arg(long)]
    pub clients: Option<usize>,
    /// Clients sampled per round.
    #[arg(long)]
    pub clients_per_round: Option<usize>,
    /// Dirichlet concentration of the label skew (smaller is more skewed).
    #[arg(long)]
    pub alpha: Option<f64>,
    /// Federated algorithm.
    #[arg(long, value_enum)]
    pub algorithm: Option<Strategy>,
    /// Local epochs per round.
    #[arg(long)]
    pub local_epochs: Option<usize>,
    /// Local batch size.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Client learning rate.
    #[arg(long)]
    pub lr: Option<f32>,
    /// Server learning rate (FedAvg/FedSGD/FedProx: 1.0 is plain averaging).
    #[arg(long)]
    pub server_lr: Option<f32>,
    /// FedProx proximal weight.
    #[arg(long, default_value_t = 0.01)]
    pub mu: f32,
    /// Seed of the data split, partition, initial weights and sampling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where the CSV, plot and checkpoint go.
    #[arg(long, default_value = "target/feddx")]
    pub out: PathBuf,
    /// Continue from the checkpoint in `--out` instead of starting afresh.
    #[arg(long)]
    pub resume: bool,
    /// Train a round's clients one after the other instead of in parallel.
    #[arg(long)]
    pub sequential: bool,
    /// How the server combines a round's updates.
    #[arg(long, value_enum, default_value_t = AggregatorArg::Mean, help_heading = "Trustworthy aggregation")]
    pub aggregator: AggregatorArg,
    /// Fraction trimmed from each end by the trimmed mean, in [0, 0.5).
    #[arg(long, default_value_t = 0.2, help_heading = "Trustworthy aggregation")]
    pub trim_beta: f64,
    /// Attackers Krum, Multi-Krum and Bulyan tolerate per round.
    #[arg(long, default_value_t = 2, help_heading = "Trustworthy aggregation")]
    pub krum_f: usize,
    /// Reject updates whose L2 norm is above this (NaN or infinite ones always are).
    #[arg(long, help_heading = "Trustworthy aggregation")]
    pub zeroing_norm: Option<f32>,
    /// Clip updates to this L2 norm, or to an `adaptive` one.
    #[arg(long, value_parser = parse_clip, help_heading = "Trustworthy aggregation")]
    pub clip: Option<ClipArg>,
    /// DP-FedAvg: Gaussian noise of this many times the clip norm on the sum (needs a fixed --clip).
    #[arg(long, help_heading = "Trustworthy aggregation")]
    pub noise_multiplier: Option<f64>,
    /// Sample each client independently with probability clients-per-round / clients
    /// (Poisson sampling, as DP-FedAvg's privacy analysis assumes) instead of a fixed count.
    #[arg(long, help_heading = "Trustworthy aggregation")]
    pub poisson: bool,
    /// The delta at which a DP run reports its epsilon, in (0, 1).
    #[arg(long, default_value_t = 1e-5, help_heading = "Trustworthy aggregation")]
    pub delta: f64,
    /// Derive the DP noise and client sample from --seed, so that the run repeats:
    /// NOT private (anyone who knows the seed can subtract the noise).
    #[arg(long, help_heading = "Trustworthy aggregation")]
    pub reproducible_noise_not_private: bool,
    /// Probability that a sampled client drops out of a round.
    #[arg(long, default_value_t = 0.0, help_heading = "Trustworthy aggregation")]
    pub dropout: f64,
    /// Updates a round needs, after dropouts and rejections, to go on.
    #[arg(long, default_value_t = 1, help_heading = "Trustworthy aggregation")]
    pub min_clients: usize,
    /// Clients of the population that attack (chosen by the seed).
    #[arg(long, default_value_t = 0, help_heading = "Trustworthy aggregation")]
    pub byzantine: usize,
    /// What the attacking clients do.
    #[arg(long, value_enum, default_value_t = AttackArg::SignFlip, help_heading = "Trustworthy aggregation")]
    pub attack: AttackArg,
}

/// Defaults an example picks for the knobs left unset.
pub struct Defaults {
    pub rounds: usize,
    pub clients: usize,
    pub clients_per_round: usize,
    pub alpha: f64,
    pub algorithm: Strategy,
    pub local_epochs: usize,
    pub batch_size: usize,
    pub lr: f32,
}

impl Knobs {
    /// Parses the command line of an example described by `about`, whose `--help`
    /// lists the example's defaults.
    pub fn parse_for(about: &str, d: &Defaults) -> Self {
        let defaults = format!(
            "Defaults: --rounds {} --clients {} --clients-per-round {} --alpha {} --algorithm {:?} \
             --local-epochs {} --batch-size {} --lr {}",
            d.rounds,
            d.clients,
            d.clients_per_round,
            d.alpha,
            d.algorithm,
            d.local_epochs,
            d.batch_size,
            d.lr
        );
        let matches = Knobs::command()
            .about(about.to_owned())
            .after_help(defaults.to_lowercase())
            .get_matches();
        Knobs::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }

    /// The validated federated config.
    pub fn config(&self, d: &Defaults) -> Result<FedConfig, ErrorReport> {
        let strategy = self.algorithm.unwrap_or(d.algorithm);
        let server_lr = self.server_lr;
        let (algorithm, server) = match strategy {
            Strategy::Fedavg => (Algorithm::FedAvg, sgd(server_lr)),
            Strategy::Fedsgd => (Algorithm::FedSgd, sgd(server_lr)),
            Strategy::Fedprox => (Algorithm::FedProx { mu: self.mu }, sgd(server_lr)),
            Strategy::Fedadam => (
                Algorithm::FedAvg,
                ServerOptimizer::adam(server_lr.unwrap_or(0.01)),
            ),
            Strategy::Fedyogi => (
                Algorithm::FedAvg,
                ServerOptimizer::yogi(server_lr.unwrap_or(0.01)),
            ),
            Strategy::Fedadagrad => (
                Algorithm::FedAvg,
                ServerOptimizer::adagrad(server_lr.unwrap_or(0.1)),
            ),
        };
        self.check_privacy_flags()?;
        let builder = FedConfig::builder()
            .rounds(self.rounds.unwrap_or(d.rounds))
            .clients_per_round(self.sampling(d))
            .local_epochs(self.local_epochs.unwrap_or(d.local_epochs))
            .batch_size(self.batch_size.unwrap_or(d.batch_size))
            .client_learning_rate(self.lr.unwrap_or(d.lr))
            .algorithm(algorithm)
            .server_optimizer(server)
            .seed(self.seed)
            .eval_every(1)
            .parallel(!self.sequential)
            .aggregation(self.aggregation())
            .faults(self.faults())
            .accept_failures(true)
            .min_successful_clients(self.min_clients)
            .privacy_delta(self.delta);
        let builder = if self.reproducible_noise_not_private {
            builder.reproducible_noise_not_private()
        } else {
            builder
        };
        Ok(builder.build()?)
    }

    /// Checks the DP flags together, so that a mistake is told in flag words (the
    /// config's own errors name its fields).
    fn check_privacy_flags(&self) -> Result<(), FlagError> {
        let Some(z) = self.noise_multiplier else {
            if self.reproducible_noise_not_private {
                return Err(FlagError(
                    "--reproducible-noise-not-private needs --noise-multiplier: without DP noise the run is reproducible anyway".into(),
                ));
            }
            return Ok(());
        };
        if !(z.is_finite() && z >= 0.0) {
            return Err(FlagError(format!(
                "--noise-multiplier must be finite and non-negative, got {z}"
            )));
        }
        match self.clip {
            None => {
                return Err(FlagError(
                    "--noise-multiplier needs --clip <norm>: the noise is a multiple of the clipping norm".into(),
                ))
            }
            Some(ClipArg::Adaptive) => {
                return Err(FlagError(
                    "--noise-multiplier needs a fixed --clip <norm>, not `--clip adaptive`: the noise is a multiple of the clipping norm".into(),
                ))
            }
            Some(ClipArg::Fixed(_)) => {}
        }
        if self.aggregator != AggregatorArg::Mean {
            return Err(FlagError(format!(
                "--noise-multiplier adds noise to the mean of the clipped updates: it does not combine with --aggregator {}",
                self.aggregator
                    .to_possible_value()
                    .map_or_else(String::new, |v| v.get_name().to_owned())
            )));
        }
        if !(self.delta > 0.0 && self.delta < 1.0) {
            return Err(FlagError(format!(
                "--delta must be in (0, 1), got {}",
                self.delta
            )));
        }
        Ok(())
    }

    /// How many clients a round samples, and how.
    pub fn sampling(&self, d: &Defaults) -> ClientsPerRound {
        let per_round = self.clients_per_round.unwrap_or(d.clients_per_round);
        if self.poisson {
            let clients = self.clients.unwrap_or(d.clients).max(1);
            ClientsPerRound::Poisson(per_round as f64 / clients as f64)
        } else {
            ClientsPerRound::Count(per_round)
        }
    }

    /// The aggregation the flags describe.
    pub fn aggregation(&self) -> Aggregation {
        let f = self.krum_f;
        Aggregation {
            estimator: match self.aggregator {
                AggregatorArg::Mean => Estimator::Mean,
                AggregatorArg::Median => Estimator::Median,
                AggregatorArg::TrimmedMean => Estimator::TrimmedMean {
                    beta: self.trim_beta,
                },
                AggregatorArg::Krum => Estimator::Krum { f },
                AggregatorArg::MultiKrum => Estimator::MultiKrum { f, m: None },
                AggregatorArg::Bulyan => Estimator::Bulyan { f },
            },
            zeroing_norm: self.zeroing_norm,
            clipping: self.clip.map(|clip| match clip {
                ClipArg::Fixed(norm) => Clipping::Fixed { norm },
                ClipArg::Adaptive => Clipping::adaptive(),
            }),
            noise_multiplier: self.noise_multiplier,
        }
    }

    /// The faults the flags inject: dropouts, and attacks on the updates.
    pub fn faults(&self) -> Faults {
        let attack = match self.attack {
            AttackArg::SignFlip => Some(Attack::SignFlip),
            AttackArg::Scale => Some(Attack::Scale),
            AttackArg::Noise => Some(Attack::Noise),
            AttackArg::LabelFlip => None,
        };
        Faults {
            dropout: self.dropout,
            byzantine: attack
                .filter(|_| self.byzantine > 0)
                .map(|attack| Byzantine {
                    clients: self.byzantine,
                    attack,
                }),
            ..Faults::default()
        }
    }

    /// The clients of `population` whose labels a `--attack label-flip` poisons
    /// (none for the other attacks).
    pub fn label_flippers(&self, population: usize) -> Vec<usize> {
        if self.attack == AttackArg::LabelFlip {
            byzantine_clients(self.seed, population, self.byzantine)
        } else {
            Vec::new()
        }
    }
}

/// A mistake in the command line, told in flag words.
#[derive(Debug)]
pub struct FlagError(pub String);

impl std::fmt::Display for FlagError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FlagError {}

/// The federated split of a data set.
pub struct Split<const N: usize> {
    /// The training 80%, standardised with its own statistics.
    pub train: Dataset<N>,
    /// Indices of `train` held by each client.
    pub parts: Vec<Vec<usize>>,
    /// The held-out 20%, standardised with the training statistics.
    pub test: Dataset<N>,
}

/// Splits `data` 80/20, standardises both parts with the training statistics (so
/// nothing of the test part leaks into training), and spreads the training part
/// over clients by a Dirichlet label skew, each client holding `min_size` or more.
#[allow(dead_code)] // `digits_cnn` scales its images globally.
pub fn split<const N: usize>(
    data: Dataset<N>,
    knobs: &Knobs,
    d: &Defaults,
    min_size: usize,
) -> Result<Split<N>, ErrorReport> {
    split_scaled(data, knobs, d, min_size, Scaling::PerFeature)
}

/// How [`split_scaled`] standardises the features with the training statistics.
#[allow(dead_code)] // `Global` is for images, which only `digits_cnn` has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scaling {
    /// Each feature by its own mean and standard deviation (an MLP's inputs).
    PerFeature,
    /// All features by one mean and standard deviation (the pixels of an image, so
    /// that a filter sees the same scale everywhere).
    Global,
}

/// [`split`], with the features standardised as `scaling` says.
pub fn split_scaled<const N: usize>(
    data: Dataset<N>,
    knobs: &Knobs,
    d: &Defaults,
    min_size: usize,
    scaling: Scaling,
) -> Result<Split<N>, ErrorReport> {
    let (mut train, mut test) = data.train_test_split(0.2, knobs.seed)?;
    let (mean, std) = match scaling {
        Scaling::PerFeature => train.feature_stats(),
        Scaling::Global => global_stats(&train),
    };
    train.standardize_with(&mean, &std);
    test.standardize_with(&mean, &std);
    let clients = knobs.clients.unwrap_or(d.clients);
    let alpha = knobs.alpha.unwrap_or(d.alpha);
    let parts = partition::Dirichlet {
        clients,
        alpha,
        min_size,
        seed: knobs.seed,
        classes: Some(train.num_classes),
    }
    .split(&train.labels)?;
    let sizes: Vec<usize> = parts.iter().map(Vec::len).collect();
    println!(
        "{} train / {} test examples; {clients} clients by Dirichlet({alpha}) label skew, sizes {sizes:?}",
        train.len(),
        test.len()
    );
    Ok(Split { train, parts, test })
}

/// The mean and standard deviation of all features of `data` together, as the
/// per-feature statistics that [`Dataset::standardize_with`] takes.
fn global_stats<const N: usize>(data: &Dataset<N>) -> ([f32; N], [f32; N]) {
    let values = || data.features.iter().flatten().map(|&x| f64::from(x));
    let n = (data.len() * N).max(1) as f64;
    let mean = values().sum::<f64>() / n;
    let var = values().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    let std = if var > 0.0 { var.sqrt() } else { 1.0 };
    ([mean as f32; N], [std as f32; N])
}

fn sgd(learning_rate: Option<f32>) -> ServerOptimizer {
    ServerOptimizer::Sgd {
        learning_rate: learning_rate.unwrap_or(1.0),
    }
}

/// How a run ended.
pub struct Finished {
    /// The last round's test accuracy.
    pub accuracy: f64,
    /// With DP noise: the run's privacy.
    pub privacy: Option<PrivacySpent>,
}

impl Finished {
    /// Prints `final test accuracy: <v>`, then for a DP run `epsilon: <e> at delta:
    /// <d>` and what it is about.
    pub fn print(&self) {
        println!("final test accuracy: {:.4}", self.accuracy);
        if let Some(p) = &self.privacy {
            println!("epsilon: {} at delta: {:e}", p.epsilon, p.delta);
            println!(
                "  client-level DP over the released global models, {} neighbours: \
                 sensitivity {}C, noise {} C, accounted as noise multiplier {} (RDP, order {})",
                p.neighbours,
                p.sensitivity,
                p.noise_multiplier,
                p.mechanism_noise_multiplier,
                p.order
            );
            println!(
                "  the server sees the clipped updates before the noise; the features were \
                 standardised with statistics pooled over all clients, outside epsilon"
            );
            if !p.is_private() {
                println!("  NOT PRIVATE: --reproducible-noise-not-private derived the noise and sample from --seed");
            }
        }
    }
}

/// Runs `sim` to the end over `clients`, reporting every round and checkpointing
/// after it; returns the last round's test accuracy and privacy.
pub fn run<M: FederatedModel>(
    mut sim: Simulation<M>,
    clients: &[ClientDataOf<M>],
    knobs: &Knobs,
    accuracy: &str,
) -> Result<Finished, ErrorReport> {
    std::fs::create_dir_all(&knobs.out)?;
    let checkpoint = knobs.out.join("checkpoint.safetensors");
    if knobs.resume {
        sim.restore_checkpoint(&checkpoint)?;
        println!("resumed after round {}", sim.rounds_completed());
    }
    let csv_path = knobs.out.join("rounds.csv");
    let mut csv = if knobs.resume {
        RoundCsv::append(&csv_path)?
    } else {
        RoundCsv::create(&csv_path)?
    };
    let mut progress = Progress::new(sim.config().rounds(), accuracy);
    let mut reports: Vec<RoundReport> = Vec::new();
    let start = Instant::now();
    while sim.rounds_completed() < sim.config().rounds() {
        let report = sim.run_round(clients)?;
        sim.save_checkpoint(&checkpoint)?;
        csv.write_round(&report)?;
        progress.round(&report)?;
        reports.push(report);
    }
    progress.finish()?;
    let plot_path = knobs.out.join("rounds.svg");
    save_plot(&plot_path, &reports, accuracy)?;
    println!(
        "{} rounds in {:.1} s; wrote {}, {} and {}",
        reports.len(),
        start.elapsed().as_secs_f64(),
        csv_path.display(),
        plot_path.display(),
        checkpoint.display()
    );
    let last = reports.last();
    Ok(Finished {
        accuracy: last
            .and_then(|r| r.eval.as_ref())
            .and_then(|e| e.get(accuracy))
            .unwrap_or(f64::NAN),
        privacy: last.and_then(|r| r.privacy),
    })
}

/// Ends an example: prints an error to standard error as sentences (not as
/// `Debug`): `error: ` and its message, then `caused by: ...` for each source the
/// message does not already end with (see [`ErrorReport`]); and fails.
pub fn report(result: Result<(), ErrorReport>) -> std::process::ExitCode {
    report_to(result, &mut std::io::stderr())
}

/// [`report`], writing to `out`.
pub fn report_to(
    result: Result<(), ErrorReport>,
    out: &mut impl std::io::Write,
) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Nothing is left to report a failed write to.
            let _ = writeln!(out, "error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
