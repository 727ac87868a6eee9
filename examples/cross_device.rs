//! Cross-device scale: a million clients of Synthetic(1, 1) (Li et al., MLSys 2020),
//! 1,000 sampled a round, trained from one shared client store.
//!
//! ```text
//! cargo run --release --example cross_device -- --clients 1000000
//! cargo run --release --example cross_device -- --clients 1000000 --mmap /tmp/synthetic.store
//! ```
//!
//! By default the population is materialised in one in-memory `ClientStore` (every
//! client a range of two shared columns, no allocation per client). With `--mmap FILE`
//! the store is written to `FILE` once (client by client, if the file is missing) and
//! then memory-mapped: the process holds only the pages of the clients a round
//! samples, released after each round.
//! `--on-demand` generates each sampled client from the seed instead, with no store.
//!
//! Each round trains the sampled clients for one local epoch (one step of batch 10 on
//! 10 examples) of a softmax regression. The run ends with the line
//! `clients: <n>, updates/s: <u>, peak rss: <r> MB, data: <d> MB`: `u` is client
//! updates over the wall time of the rounds (generation excluded), `r` the process's
//! peak resident set (`getrusage`), `d` the bytes of the population's features and
//! labels in the in-memory store (the same number in every mode). The line before it,
//! `weights: <hex>`, is a digest of the final global weights' bits: equal digests,
//! equal runs.

use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use feddx::data::{ClientSizes, ClientSource, ClientStore, StoreAccess, Synthetic};
use feddx::federated::{ClientsPerRound, FedConfig, RoundReport, Simulation};
use feddx::prelude::*;

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

#[derive(Parser, Debug)]
#[command(about = "A million-client Synthetic(1, 1) population, trained from a shared store")]
struct Args {
    /// Clients in the population.
    #[arg(long, default_value_t = 1_000_000)]
    clients: usize,
    /// Examples each client holds.
    #[arg(long, default_value_t = 10)]
    examples: usize,
    /// Clients sampled a round.
    #[arg(long, default_value_t = 1000)]
    per_round: usize,
    /// Rounds.
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// Seed of the population and of the run.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Memory-map the store from this file (written first if it is missing).
    #[arg(long, conflicts_with = "on_demand")]
    mmap: Option<PathBuf>,
    /// Generate each sampled client from the seed, with no store.
    #[arg(long)]
    on_demand: bool,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let synthetic =
        Synthetic::new(1.0, 1.0, args.seed)?.with_sizes(ClientSizes::Fixed(args.examples))?;
    let config = FedConfig::builder()
        .rounds(args.rounds)
        .clients_per_round(ClientsPerRound::Count(args.per_round))
        .local_epochs(1)
        .batch_size(10)
        .client_learning_rate(0.01)
        .seed(args.seed)
        .parallel(true)
        .build()?;
    let model = Softmax::build(&Cpu::seed_from_u64(args.seed));
    let mut sim = Simulation::new(model, config);
    // What the in-memory store holds: a row of 60 f32 and a usize label per example.
    let example_bytes = 60 * std::mem::size_of::<f32>() + std::mem::size_of::<usize>();
    let data_bytes = (args.clients * args.examples * example_bytes) as u64;

    let started = Instant::now();
    let (updates, rounds_time) = if args.on_demand {
        let population = synthetic.population(args.clients);
        eprintln!(
            "on-demand population of {} clients",
            population.num_clients()
        );
        run(&mut sim, &population, || {})?
    } else {
        let store = match &args.mmap {
            Some(path) => {
                if !path.exists() {
                    synthetic.write_store(args.clients, path)?;
                    eprintln!("wrote {} in {:.1?}", path.display(), started.elapsed());
                }
                // SAFETY: the store file is written once above (or by an earlier run)
                // and nothing writes it while the store lives.
                ClientStore::open(path, unsafe { StoreAccess::mmap() })?
            }
            None => synthetic.store(args.clients),
        };
        if store.num_clients() != args.clients || store.len() != args.clients * args.examples {
            return Err(format!(
                "the store holds {} clients and {} examples, not {} of {}",
                store.num_clients(),
                store.len(),
                args.clients,
                args.examples
            )
            .into());
        }
        eprintln!(
            "store of {} clients ({}) ready in {:.1?}",
            store.num_clients(),
            if store.is_mapped() {
                "mapped"
            } else {
                "in memory"
            },
            started.elapsed()
        );
        // A mapped store drops the pages a round read, so the resident set holds one
        // round's clients at most.
        run(&mut sim, &store, || store.release_pages())?
    };

    println!("weights: {:016x}", digest(sim.global_weights()));
    println!(
        "clients: {}, updates/s: {:.0}, peak rss: {:.0} MB, data: {:.0} MB",
        args.clients,
        updates as f64 / rounds_time,
        peak_rss_mb(),
        data_bytes as f64 / (1024.0 * 1024.0)
    );
    Ok(())
}

/// Runs the rounds, printing each; returns the client updates and the seconds the
/// rounds took.
fn run<S>(
    sim: &mut Simulation<Softmax>,
    clients: &S,
    after_round: impl Fn(),
) -> Result<(usize, f64), Box<dyn Error>>
where
    S: ClientSource<Features<60>, ClassLabels> + ?Sized,
{
    let start = Instant::now();
    let reports = sim.run(clients, |r: &RoundReport| {
        after_round();
        eprintln!(
            "round {}: {} clients, {:.1?}, train {}",
            r.round, r.counts.succeeded, r.wall_time, r.train
        );
    })?;
    let seconds = start.elapsed().as_secs_f64();
    Ok((reports.iter().map(|r| r.counts.succeeded).sum(), seconds))
}

/// FNV-1a over the weights' bits.
fn digest(weights: &[f32]) -> u64 {
    weights.iter().fold(0xcbf2_9ce4_8422_2325, |h, w| {
        w.to_bits()
            .to_le_bytes()
            .iter()
            .fold(h, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
    })
}

/// The process's peak resident set in MB (`getrusage`: kilobytes on Linux, bytes on
/// macOS).
fn peak_rss_mb() -> f64 {
    // SAFETY: `getrusage` fills the zeroed struct it is given and reads nothing else.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let max = usage.ru_maxrss as f64;
    if cfg!(target_os = "macos") {
        max / (1024.0 * 1024.0)
    } else {
        max / 1024.0
    }
}
