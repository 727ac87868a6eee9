//! FedBuff (Nguyen et al., AISTATS 2022) against synchronous FedAvg on the same
//! simulated clock, on the UCI digits and on Synthetic(1, 1).
//!
//! Every client's local step takes a log-normal time (median 100 ms, sigma 1, drawn
//! per client and task), and both algorithms give a client the same work: the same
//! local epochs, batch size and learning rate. A FedAvg round samples a cohort and
//! lasts as long as its slowest client ([`RoundReport::sim_duration`]); FedBuff keeps
//! `concurrency` clients training, starts another as each replies, and takes a server
//! step every `buffer` replies. As the paper sets it against a synchronous cohort,
//! FedBuff runs 3 times the cohort's clients at once and steps on half a cohort's
//! replies (cohort 10: concurrency 30, buffer 5), staleness weight `1/sqrt(1 + s)`,
//! server learning rate 1.
//!
//! FedAvg runs its rounds; FedBuff runs until its clock passes FedAvg's last round.
//! Both are evaluated on held-out data after every round or step. For each data set
//! the example prints FedAvg's final test accuracy (the target), the simulated time
//! at which each algorithm first reaches it, and each one's final accuracy.
//!
//! ```text
//! cargo run --release --example fedbuff_vs_fedavg
//! cargo run --release --example fedbuff_vs_fedavg -- --help
//! ```
//!
//! Writes `<data>_fedavg.csv` and `<data>_fedbuff.csv` (the rows of
//! [`RoundCsv::write_step`], FedAvg's rounds as steps at their end on the clock) and
//! `<data>_time_accuracy.svg` (test accuracy over simulated time, both runs) under
//! `target/feddx/fedbuff_vs_fedavg/` (`--out` to change).

use std::error::Error;
use std::path::{Path, PathBuf};

use clap::{Parser, ValueEnum};
use feddx::data::{datasets, partition, ClientSizes, Synthetic};
use feddx::federated::fedbuff::{FedBuff, FedBuffConfig, Staleness, StepReport};
use feddx::federated::{
    ClientDataOf, ClientsPerRound, FedConfig, RoundReport, SimDuration, SimTime, Simulation,
    SpeedModel,
};
use feddx::prelude::*;
use feddx::report::{save_runs_plot, RoundCsv};
use feddx::FederatedModel;

type Mlp = (Linear<64, 64>, ReLU, Linear<64, 10>);

/// The digits example's classifier: 8x8 pixels in, one logit per digit out.
#[federated_model(
    input_spec = (Features<64>, ClassLabels),
    loss = SparseCategoricalCrossentropy,
    metrics = [SparseCategoricalAccuracy],
)]
struct DigitClassifier {
    net: Built<Mlp>,
}

/// A softmax regression on Synthetic's 60 features and 10 classes, the model of the
/// FedProx paper's synthetic experiments.
#[federated_model(
    input_spec = (Features<60>, ClassLabels),
    loss = SparseCategoricalCrossentropy,
    metrics = [SparseCategoricalAccuracy],
)]
struct Softmax {
    net: Built<Linear<60, 10>>,
}

/// The metric both runs are compared on.
const ACCURACY: &str = "sparse_categorical_accuracy";

/// Which data sets to compare on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Data {
    /// The UCI digits, 80/20, over 60 clients by Dirichlet(0.5) label skew.
    Digits,
    /// Synthetic(1, 1): 100 clients of 60 examples, each keeping 12 for the test set.
    Synthetic,
    /// Both, digits first.
    Both,
}

#[derive(Parser, Debug)]
#[command(about = "FedBuff against synchronous FedAvg on the same simulated clock")]
struct Args {
    /// The data sets.
    #[arg(long, value_enum, default_value_t = Data::Both)]
    data: Data,
    /// FedAvg's rounds on the digits.
    #[arg(long, default_value_t = 50)]
    digits_rounds: usize,
    /// FedAvg's rounds on Synthetic(1, 1).
    #[arg(long, default_value_t = 200)]
    synthetic_rounds: usize,
    /// FedAvg's clients a round (the cohort).
    #[arg(long, default_value_t = 10)]
    cohort: usize,
    /// FedBuff's clients in flight (default: 3 cohorts).
    #[arg(long)]
    concurrency: Option<usize>,
    /// FedBuff's replies per server step (default: half a cohort, at least 1).
    #[arg(long)]
    buffer: Option<usize>,
    /// At most this many FedBuff steps, even if its clock has not reached FedAvg's end.
    #[arg(long, default_value_t = 20_000)]
    max_steps: usize,
    /// Seed of the data split and of both runs.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Directory of the CSV files and the charts.
    #[arg(long, default_value = "target/feddx/fedbuff_vs_fedavg")]
    out: PathBuf,
}

/// The clients' work, the same for both algorithms.
struct Work {
    local_epochs: usize,
    batch_size: usize,
    lr: f32,
    rounds: usize,
}

/// How one run went against the target accuracy.
struct Outcome {
    /// When the test accuracy first reached the target, at which step and after how
    /// many client updates (`None`: never).
    reached: Option<(SimTime, usize, usize)>,
    /// The last evaluated test accuracy and its time.
    last: (f64, SimTime),
    /// Client updates applied (replies buffered or round updates aggregated).
    updates: usize,
    /// Rounds or steps run.
    steps: usize,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.out)?;
    if matches!(args.data, Data::Digits | Data::Both) {
        digits(&args)?;
    }
    if matches!(args.data, Data::Synthetic | Data::Both) {
        synthetic(&args)?;
    }
    Ok(())
}

/// The digits, standardised with the training statistics, over 60 clients.
fn digits(args: &Args) -> Result<(), Box<dyn Error>> {
    let (mut train, mut test) = datasets::digits()?.train_test_split(0.2, args.seed)?;
    let (mean, std) = train.feature_stats();
    train.standardize_with(&mean, &std);
    test.standardize_with(&mean, &std);
    let parts = partition::Dirichlet {
        clients: 60,
        alpha: 0.5,
        min_size: 10,
        seed: args.seed,
        classes: Some(train.num_classes),
    }
    .split(&train.labels)?;
    let clients = train.clients(&parts);
    let work = Work {
        local_epochs: 5,
        batch_size: 20,
        lr: 0.1,
        rounds: args.digits_rounds,
    };
    compare(
        "digits",
        || DigitClassifier::with_seed(args.seed),
        &clients,
        test.to_client_data(),
        &work,
        args,
    )
}

/// Synthetic(1, 1): 100 clients of 60 examples; each client's last 12 pooled into
/// the test set (as LEAF splits each client's data).
fn synthetic(args: &Args) -> Result<(), Box<dyn Error>> {
    let synthetic = Synthetic::new(1.0, 1.0, args.seed)?.with_sizes(ClientSizes::Fixed(60))?;
    let mut clients = Vec::new();
    let mut test = Vec::new();
    for k in 0..100 {
        let client = synthetic.client(k);
        let (own, held) = client.examples().split_at(48);
        clients.push(own.iter().cloned().collect());
        test.extend(held.iter().cloned());
    }
    let work = Work {
        local_epochs: 5,
        batch_size: 10,
        lr: 0.05,
        rounds: args.synthetic_rounds,
    };
    compare(
        "synthetic",
        || Softmax::build(&Cpu::seed_from_u64(args.seed)),
        &clients,
        test.into_iter().collect(),
        &work,
        args,
    )
}

/// Runs FedAvg, then FedBuff to the same simulated time, from `model()` on
/// `clients`; writes the CSV files and the chart named after `name` and prints the
/// comparison.
fn compare<M: FederatedModel>(
    name: &str,
    model: impl Fn() -> M,
    clients: &[ClientDataOf<M>],
    test: ClientDataOf<M>,
    work: &Work,
    args: &Args,
) -> Result<(), Box<dyn Error>> {
    let concurrency = args.concurrency.unwrap_or(3 * args.cohort);
    let buffer = args.buffer.unwrap_or((args.cohort / 2).max(1));
    println!(
        "{name}: {} clients; FedAvg {} rounds of {} clients; FedBuff concurrency {concurrency}, buffer {buffer}; \
         {} local epochs, batch {}, lr {}",
        clients.len(),
        work.rounds,
        args.cohort,
        work.local_epochs,
        work.batch_size,
        work.lr
    );
    let config = |rounds| {
        FedConfig::builder()
            .rounds(rounds)
            .clients_per_round(ClientsPerRound::Count(args.cohort))
            .local_epochs(work.local_epochs)
            .batch_size(work.batch_size)
            .client_learning_rate(work.lr)
            .speed(SpeedModel::LogNormal {
                median: SimDuration::from_millis(100),
                sigma: 1.0,
            })
            .seed(args.seed)
            .eval_every(1)
            .parallel(true)
            .build()
    };

    // FedAvg: a round ends when its slowest client replies.
    let mut sync =
        Simulation::new(model(), config(work.rounds)?).with_evaluation_data(test.clone());
    let mut rounds = Vec::new();
    let mut now = SimTime::ZERO;
    for _ in 0..work.rounds {
        let report: RoundReport = sync.run_round(clients)?;
        now += report.sim_duration;
        rounds.push(StepReport {
            time: now,
            report,
            ..StepReport::default()
        });
    }
    let end = now;
    let target = last_accuracy(&rounds).map_or(f64::NAN, |(a, _)| a);

    // FedBuff: steps by events until its clock passes FedAvg's end.
    let fedbuff = FedBuffConfig::builder()
        .concurrency(concurrency)
        .buffer(buffer)
        .staleness(Staleness::FEDBUFF)
        .server_learning_rate(1.0)
        .build()?;
    let mut run =
        FedBuff::new(model(), config(args.max_steps)?, fedbuff)?.with_evaluation_data(test);
    let mut steps = Vec::new();
    while steps.len() < args.max_steps {
        let step = run.run_step(clients)?;
        let done = step.time >= end;
        steps.push(step);
        if done {
            break;
        }
    }

    let fedavg_csv = args.out.join(format!("{name}_fedavg.csv"));
    let fedbuff_csv = args.out.join(format!("{name}_fedbuff.csv"));
    let chart = args.out.join(format!("{name}_time_accuracy.svg"));
    write_csv(&fedavg_csv, &rounds)?;
    write_csv(&fedbuff_csv, &steps)?;
    let fedbuff_label = format!("FedBuff (concurrency {concurrency}, buffer {buffer})");
    let fedavg_label = format!("FedAvg ({} clients a round)", args.cohort);
    save_runs_plot(
        &chart,
        &[(&fedbuff_label, &steps), (&fedavg_label, &rounds)],
        ACCURACY,
    )?;

    println!("{name}: target {target:.4} (FedAvg's final test accuracy)");
    for (label, reports) in [("FedAvg", &rounds), ("FedBuff", &steps)] {
        let o = outcome(reports, target);
        let reached = o.reached.map_or_else(
            || "not reached".to_owned(),
            |(t, step, updates)| {
                format!(
                    "{:.1} s (step {step}, {updates} client updates)",
                    t.as_secs_f64()
                )
            },
        );
        println!(
            "{name}: {label:<7} reaches target at {reached}; final accuracy {:.4} at {:.1} s; \
             {} steps, {} client updates",
            o.last.0,
            o.last.1.as_secs_f64(),
            o.steps,
            o.updates
        );
    }
    let speedup = match (
        outcome(&rounds, target).reached,
        outcome(&steps, target).reached,
    ) {
        (Some((sync, ..)), Some((buffered, ..))) if buffered.as_micros() > 0 => {
            format!("{:.2}x", sync.as_secs_f64() / buffered.as_secs_f64())
        }
        _ => "n/a".to_owned(),
    };
    println!("{name}: speed-up to target {speedup}");
    println!(
        "{name}: wrote {}, {} and {}",
        fedavg_csv.display(),
        fedbuff_csv.display(),
        chart.display()
    );
    Ok(())
}

/// The last evaluated test accuracy of `reports`, and its time.
fn last_accuracy(reports: &[StepReport]) -> Option<(f64, SimTime)> {
    reports
        .iter()
        .rev()
        .find_map(|s| Some((s.report.eval.as_ref()?.get(ACCURACY)?, s.time)))
}

/// How `reports` went against `target`.
fn outcome(reports: &[StepReport], target: f64) -> Outcome {
    let mut updates = 0;
    let reached = reports.iter().find_map(|s| {
        updates += s.report.counts.succeeded;
        let accuracy = s.report.eval.as_ref()?.get(ACCURACY)?;
        (accuracy >= target).then_some((s.time, s.step(), updates))
    });
    Outcome {
        reached,
        last: last_accuracy(reports).unwrap_or((f64::NAN, SimTime::ZERO)),
        updates: reports.iter().map(|s| s.report.counts.succeeded).sum(),
        steps: reports.len(),
    }
}

/// Writes `reports` to a new CSV file at `path`.
fn write_csv(path: &Path, reports: &[StepReport]) -> Result<(), Box<dyn Error>> {
    let mut csv = RoundCsv::create(path)?;
    for step in reports {
        csv.write_step(step)?;
    }
    Ok(())
}
