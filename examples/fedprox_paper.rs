//! The FedProx paper's systems-heterogeneity experiment, side by side: Li et al.,
//! "Federated Optimization in Heterogeneous Networks" (MLSys 2020), Figure 1, top
//! row, on Synthetic(1, 1).
//!
//! ```text
//! cargo run --release --example fedprox_paper
//! cargo run --release --example fedprox_paper -- --rounds 200 --out fedprox_paper
//! ```
//!
//! # The paper's setup, and how it maps here
//! - **Data**: Synthetic(1, 1) ([`Synthetic`]), 30 clients with LEAF's sizes
//!   (`floor(lognormal(4, 2)) + 50`), seed `--seed`. Each client's examples are split
//!   90/10 into a training and a test part (the held-out split is per client, as
//!   the paper's generator's 90/10 split).
//! - **Model and training**: softmax regression (60 features, 10 classes), 10
//!   clients a round (sampled uniformly without replacement), `E = 20` local
//!   epochs, batch `B = 10`, learning rate 0.01, server averaging weighted by the
//!   clients' examples. The paper runs 200 rounds;
//!   the default here is 100 (`--rounds`), which takes about a minute and a half
//!   in release on 2 cores (200 take about three).
//! - **Stragglers**: in the paper, each round `x%` of the round's clients (chosen at
//!   random) are stragglers that manage a random `e ~ U{1, ..., E-1}` epochs before
//!   the round ends; FedAvg drops them, FedProx takes their partial work. Here this
//!   is the engine's simulated clock: each round the example samples its 10 clients
//!   and its `round(x · 10)` stragglers with their `e` (the same for every
//!   algorithm, seeded by the round), and gives the round's clients a
//!   [`SpeedModel::Trace`] against a fixed round deadline `D`: a client of `s`
//!   steps an epoch (`ceil(n_train / B)`) takes `floor(D / (E · s))` per step, so its
//!   `E` epochs fit exactly, and a straggler takes `floor(D / (e · s))`, so exactly
//!   `e` epochs' steps fit. [`StragglerPolicy::Drop`] (FedAvg) then drops the
//!   stragglers, [`StragglerPolicy::PartialWork`] (FedProx) has them make the
//!   `e · s` steps that fit. As the trace is per round, the engine runs one round at
//!   a time (a [`Simulation`] per round, continued from the previous one's
//!   [`state`](Simulation::state)); its sampling takes all 10 clients it is given.
//! - **Algorithms**: FedAvg (`mu = 0`, stragglers dropped) and FedProx (`mu = 1`,
//!   partial work); `--mu0` adds the paper's third curve, FedProx with `mu = 0`
//!   (partial work, no proximal term).
//! - **Metrics**, after every round (round 0 is the initial model): the training
//!   loss of the global model over all clients' training parts, and its accuracy
//!   over all clients' test parts, as the paper reports them.
//!
//! # Output
//! In `--out` (default `fedprox_paper`): `stragglers_<x>_<algorithm>.csv` per
//! straggler level and algorithm (columns `round,train_loss,test_accuracy,updates,
//! dropped,partial,steps`), and `stragglers_<x>.svg` per level, the algorithms'
//! test accuracy (left) and training loss (right) in one chart. A table of the last
//! round's numbers closes the run.

use std::error::Error;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use feddx::data::{ClientData, Synthetic, SyntheticClient};
use feddx::federated::{
    Algorithm, ClientsPerRound, FedConfig, SimDuration, Simulation, SimulationState, SpeedModel,
    SpeedTrace, StragglerPolicy,
};
use feddx::prelude::*;
use feddx::report::{plot_curves_svg, Curve};

/// A softmax regression on Synthetic's 60 features and 10 classes, the paper's model
/// for its synthetic data.
#[federated_model(
    input_spec = (Features<60>, ClassLabels),
    loss = SparseCategoricalCrossentropy,
    metrics = [SparseCategoricalAccuracy],
)]
pub struct Softmax {
    net: Built<Linear<60, 10>>,
}

/// The command line.
#[derive(Parser, Debug, Clone)]
#[command(
    about = "FedProx (Li et al., MLSys 2020) Fig. 1 top row: FedAvg vs FedProx with stragglers"
)]
pub struct Args {
    /// Rounds (the paper runs 200; 100 take about a minute and a half in release
    /// on a 2-core machine).
    #[arg(long, default_value_t = 100)]
    pub rounds: usize,
    /// Clients in the population.
    #[arg(long, default_value_t = 30)]
    pub clients: usize,
    /// Clients a round.
    #[arg(long, default_value_t = 10)]
    pub per_round: usize,
    /// Local epochs E.
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    /// Batch size B.
    #[arg(long, default_value_t = 10)]
    pub batch: usize,
    /// Client learning rate.
    #[arg(long, default_value_t = 0.01)]
    pub lr: f32,
    /// FedProx's mu.
    #[arg(long, default_value_t = 1.0)]
    pub mu: f32,
    /// Also run FedProx with mu = 0 (partial work, no proximal term).
    #[arg(long)]
    pub mu0: bool,
    /// Straggler levels, in percent of a round's clients.
    #[arg(long, value_delimiter = ',', default_values_t = [0, 50, 90])]
    pub stragglers: Vec<u32>,
    /// Seed of the data, the rounds' clients and stragglers, and the training.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Directory of the CSVs and charts.
    #[arg(long, default_value = "fedprox_paper")]
    pub out: PathBuf,
}

/// The round deadline on the simulated clock: long, so that step durations in
/// microseconds cut the work at exactly the planned number of steps.
const DEADLINE: Duration = Duration::from_secs(1_000_000);

/// One run's curve and its last round.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Straggler level, in percent.
    pub stragglers: u32,
    /// The algorithm's name.
    pub algorithm: String,
    /// `(round, training loss, test accuracy)`, from round 0.
    pub rounds: Vec<(usize, f64, f64)>,
    /// The CSV written.
    pub csv: PathBuf,
}

/// The algorithms compared: name, client update, straggler policy.
fn algorithms(args: &Args) -> Vec<(String, Algorithm, StragglerPolicy)> {
    let mut list = vec![(
        "FedAvg".to_owned(),
        Algorithm::FedAvg,
        StragglerPolicy::Drop,
    )];
    if args.mu0 {
        list.push((
            "FedProx (mu=0)".to_owned(),
            Algorithm::FedProx { mu: 0.0 },
            StragglerPolicy::PartialWork,
        ));
    }
    list.push((
        format!("FedProx (mu={})", args.mu),
        Algorithm::FedProx { mu: args.mu },
        StragglerPolicy::PartialWork,
    ));
    list
}

/// The data: each client's training and test parts (90/10), and the union of each.
struct Data {
    train: Vec<SyntheticClient>,
    all_train: SyntheticClient,
    all_test: SyntheticClient,
}

fn data(args: &Args) -> Result<Data, Box<dyn Error>> {
    let synthetic = Synthetic::new(1.0, 1.0, args.seed)?;
    let (mut train, mut all_train, mut all_test) = (Vec::new(), Vec::new(), Vec::new());
    for k in 0..args.clients {
        let client = synthetic.client(k);
        let examples = client.examples();
        let cut = examples.len() * 9 / 10;
        train.push(ClientData::new(examples[..cut].to_vec()));
        all_train.extend_from_slice(&examples[..cut]);
        all_test.extend_from_slice(&examples[cut..]);
    }
    Ok(Data {
        train,
        all_train: ClientData::new(all_train),
        all_test: ClientData::new(all_test),
    })
}

/// SplitMix64: the example's seeded choices of clients and stragglers.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is below 2^-50 for small n).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// `k` distinct values of `0..n`, in random order (a partial Fisher–Yates).
    fn choose(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut all: Vec<usize> = (0..n).collect();
        for i in 0..k.min(n) {
            let j = i + self.below(n - i);
            all.swap(i, j);
        }
        all.truncate(k.min(n));
        all
    }
}

/// A round's clients and, for each, the epochs that fit the deadline (`E` for a
/// client that is no straggler).
struct RoundPlan {
    clients: Vec<usize>,
    epochs: Vec<usize>,
}

/// The plan of round `round` (0-based) at `level` percent stragglers: the clients
/// are the same at every level and for every algorithm, the stragglers the same for
/// every algorithm.
fn plan(args: &Args, round: usize, level: u32) -> RoundPlan {
    let round_seed = args.seed ^ (round as u64).wrapping_mul(0xa076_1d64_78bd_642f);
    let clients = SplitMix(round_seed).choose(args.clients, args.per_round);
    let stragglers = (clients.len() * level as usize + 50) / 100;
    let mut rng = SplitMix(round_seed ^ 0xe703_7ed1_a0b4_28db);
    let mut epochs = vec![args.epochs; clients.len()];
    for i in rng.choose(clients.len(), stragglers) {
        // The paper's `np.random.randint(low=1, high=E)`: 1 to E - 1 epochs.
        epochs[i] = 1 + rng.below(args.epochs.saturating_sub(1).max(1));
    }
    RoundPlan { clients, epochs }
}

/// The speeds of a round's clients: `epochs[i]` of client `i`'s epochs fit the
/// deadline exactly.
fn speeds(args: &Args, data: &Data, plan: &RoundPlan) -> Result<SpeedTrace, Box<dyn Error>> {
    let deadline = DEADLINE.as_micros() as u64;
    let steps = plan
        .clients
        .iter()
        .zip(&plan.epochs)
        .map(|(&k, &e)| {
            let per_epoch = data.train[k].len().div_ceil(args.batch).max(1) as u64;
            // floor(D / n) steps of D / n fit n times and not n + 1 (D >= n (n + 1)).
            SimDuration::from_micros(deadline / (e as u64 * per_epoch))
        })
        .collect();
    Ok(SpeedTrace::new(steps)?)
}

/// The training loss and test accuracy of `sim`'s global model.
fn evaluate(sim: &Simulation<Softmax>, data: &Data) -> Result<(f64, f64), Box<dyn Error>> {
    let loss = sim.evaluate(&data.all_train)?.get("loss");
    let accuracy = sim
        .evaluate(&data.all_test)?
        .get("sparse_categorical_accuracy");
    Ok((loss.unwrap_or(f64::NAN), accuracy.unwrap_or(f64::NAN)))
}

/// Runs one algorithm at one straggler level and writes its CSV.
fn run_one(
    args: &Args,
    data: &Data,
    level: u32,
    (name, algorithm, policy): &(String, Algorithm, StragglerPolicy),
) -> Result<RunResult, Box<dyn Error>> {
    let model = || Softmax::build(&Cpu::seed_from_u64(args.seed));
    let config = |speed: SpeedModel| {
        FedConfig::builder()
            .rounds(args.rounds)
            .clients_per_round(ClientsPerRound::Count(args.per_round))
            .local_epochs(args.epochs)
            .batch_size(args.batch)
            .client_learning_rate(args.lr)
            .algorithm(*algorithm)
            .seed(args.seed)
            .speed(speed)
            .round_deadline(DEADLINE)
            .stragglers(*policy)
            .accept_failures(true)
            .parallel(true)
            .build()
    };
    let first = Simulation::new(model(), config(SpeedModel::default())?);
    let (loss, accuracy) = evaluate(&first, data)?;
    let mut state: SimulationState = first.state();
    let mut rounds = vec![(0, loss, accuracy)];
    let mut csv = String::from("round,train_loss,test_accuracy,updates,dropped,partial,steps\n");
    writeln!(csv, "0,{loss},{accuracy},0,0,0,0")?;
    for round in 0..args.rounds {
        let plan = plan(args, round, level);
        let clients: Vec<SyntheticClient> = plan
            .clients
            .iter()
            .map(|&k| data.train[k].clone())
            .collect();
        let mut sim = Simulation::new(
            model(),
            config(SpeedModel::Trace(speeds(args, data, &plan)?))?,
        );
        sim.restore(state)?;
        let report = sim.run_round(&clients)?;
        state = sim.state();
        let (loss, accuracy) = evaluate(&sim, data)?;
        rounds.push((report.round, loss, accuracy));
        // Local steps the updates made: whole epochs, by construction of the speeds.
        let steps: usize = plan
            .clients
            .iter()
            .zip(&plan.epochs)
            .filter(|(_, &e)| e == args.epochs || *policy == StragglerPolicy::PartialWork)
            .map(|(&k, &e)| e * data.train[k].len().div_ceil(args.batch))
            .sum();
        writeln!(
            csv,
            "{},{loss},{accuracy},{},{},{},{steps}",
            report.round,
            report.counts.aggregated(),
            report.counts.stragglers_dropped,
            report.counts.stragglers_partial,
        )?;
    }
    let slug = name
        .to_lowercase()
        .replace(['(', ')', ' '], "")
        .replace('=', "");
    let path = args.out.join(format!("stragglers_{level}_{slug}.csv"));
    write(&path, &csv)?;
    Ok(RunResult {
        stragglers: level,
        algorithm: name.clone(),
        rounds,
        csv: path,
    })
}

fn write(path: &Path, text: &str) -> Result<(), Box<dyn Error>> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()).into())
}

/// Runs every algorithm at every straggler level, writing the CSVs and charts.
pub fn run(args: &Args) -> Result<Vec<RunResult>, Box<dyn Error>> {
    if args.per_round == 0 || args.per_round > args.clients || args.epochs == 0 || args.batch == 0 {
        return Err("--per-round must be in 1..=--clients, --epochs and --batch at least 1".into());
    }
    if let Some(level) = args.stragglers.iter().find(|&&l| l > 100) {
        return Err(format!("a straggler level is a percentage, not {level}").into());
    }
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let data = data(args)?;
    eprintln!(
        "Synthetic(1, 1): {} clients, {} training and {} test examples",
        args.clients,
        data.all_train.len(),
        data.all_test.len()
    );
    let mut results = Vec::new();
    for &level in &args.stragglers {
        let mut level_results = Vec::new();
        for algorithm in algorithms(args) {
            let started = Instant::now();
            let result = run_one(args, &data, level, &algorithm)?;
            eprintln!(
                "{level}% stragglers, {}: {} rounds in {:.1?}",
                algorithm.0,
                args.rounds,
                started.elapsed()
            );
            level_results.push(result);
        }
        let curves = |pick: fn(&(usize, f64, f64)) -> f64| -> Vec<Curve> {
            level_results
                .iter()
                .map(|r| Curve {
                    label: r.algorithm.clone(),
                    points: r.rounds.iter().map(|p| (p.0, pick(p))).collect(),
                })
                .collect()
        };
        let svg = plot_curves_svg(
            &format!("test accuracy, {level}% stragglers"),
            &curves(|p| p.2),
            &format!("training loss, {level}% stragglers"),
            &curves(|p| p.1),
        )?;
        write(&args.out.join(format!("stragglers_{level}.svg")), &svg)?;
        results.extend(level_results);
    }
    Ok(results)
}

/// The last round's numbers and the curves' shape, one line per run.
pub fn table(results: &[RunResult]) -> String {
    let mut out = String::from(
        "| stragglers | algorithm | final train loss | min train loss | final test acc | max test acc | loss ups > 0.05 |\n|---|---|---|---|---|---|---|\n",
    );
    for r in results {
        let last = r.rounds.last().copied().unwrap_or((0, f64::NAN, f64::NAN));
        let min_loss = r.rounds.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let max_acc = r.rounds.iter().map(|p| p.2).fold(0.0, f64::max);
        // Rounds whose training loss rose by more than 0.05: how unstable the curve is.
        let ups = r
            .rounds
            .windows(2)
            .filter(|w| w[1].1 > w[0].1 + 0.05)
            .count();
        let _ = writeln!(
            out,
            "| {}% | {} | {:.3} | {:.3} | {:.3} | {:.3} | {} |",
            r.stragglers, r.algorithm, last.1, min_loss, last.2, max_acc, ups
        );
    }
    out
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(results) => {
            print!("{}", table(&results));
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
