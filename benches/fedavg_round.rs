//! Time per FedAvg round on the digits setup of the main example, and where it goes.
//!
//! ```text
//! cargo bench --bench fedavg_round
//! ```
//!
//! The digits are split 80/20 (`train_test_split(0.2, seed)`), the training part
//! spread over 20 clients by a Dirichlet(0.5) label skew, and each round trains the
//! `(Linear<64, 64>, ReLU, Linear<64, 10>)` MLP on 10 of them for five local epochs
//! with batches of 20 and learning rate 0.1, then averages their deltas (plain FedAvg,
//! no evaluation), as `cargo run --release --example digits` does. Every timed round is the first round of the run: the simulation
//! is restored to its initial state before each (outside the timing), so all parts
//! below train the same 10 clients from the same weights:
//!
//! - `whole_round`: `Simulation::run_round`, clients in parallel (rayon) or in turn;
//! - `clients`: `federated::train_client` for the 10 sampled clients, in turn on one
//!   reused model, or on rayon's pool with a model per thread (as the simulation does;
//!   threads spawned per round would pay for gemm's per-thread buffers every round);
//! - `aggregation`: `federated::weighted_mean` of the 10 deltas, weighted by examples.

mod round;

use std::hint::black_box;
use std::sync::Mutex;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use feddx::data::{datasets, partition};
use feddx::federated::seeds::client_seed;
use feddx::federated::{
    self, sample_clients, ClientDataOf, ClientUpdate, ClientsPerRound, FedConfig, LocalTraining,
    Simulation,
};
use feddx::prelude::*;
use rayon::prelude::*;

type Mlp = (Linear<64, 64>, ReLU, Linear<64, 10>);

/// The digit classifier.
#[federated_model(
    input_spec = (Features<64>, ClassLabels),
    loss = SparseCategoricalCrossentropy,
    metrics = [SparseCategoricalAccuracy],
)]
struct Digits {
    net: Built<Mlp>,
}

const SEED: u64 = 0;
const CLIENTS: usize = 20;
const PER_ROUND: usize = 10;
const ALPHA: f64 = 0.5;
const MIN_CLIENT_SIZE: usize = 2;
const BATCH: usize = 20;
const LOCAL_EPOCHS: usize = 5;

fn config(parallel: bool) -> FedConfig {
    FedConfig::builder()
        .rounds(1)
        .clients_per_round(ClientsPerRound::Count(PER_ROUND))
        .local_epochs(LOCAL_EPOCHS)
        .batch_size(BATCH)
        .client_learning_rate(0.1)
        .seed(SEED)
        .parallel(parallel)
        .build()
        .expect("a valid config")
}

/// The 20 clients of the main example's training split.
fn population() -> Vec<ClientDataOf<Digits>> {
    let (train, _) = datasets::digits()
        .and_then(|d| d.train_test_split(0.2, SEED))
        .expect("the bundled digits load");
    let parts = partition::Dirichlet {
        clients: CLIENTS,
        alpha: ALPHA,
        min_size: MIN_CLIENT_SIZE,
        seed: SEED,
        classes: Some(train.num_classes),
    }
    .split(&train.labels)
    .expect("a Dirichlet partition");
    train.clients(&parts)
}

/// Examples held by the clients sampled in `round`.
fn round_examples(clients: &[ClientDataOf<Digits>], round: usize) -> usize {
    sample_clients(
        ClientsPerRound::Count(PER_ROUND),
        clients.len(),
        SEED,
        round,
    )
    .expect("enough clients")
    .iter()
    .map(|&c| clients[c].len())
    .sum()
}

/// What the first round's clients need to train.
struct FirstRound<'a> {
    clients: &'a [ClientDataOf<Digits>],
    sampled: Vec<usize>,
    global: Vec<f32>,
    training: LocalTraining,
}

impl FirstRound<'_> {
    fn train(&self, model: &mut Digits, client: usize) -> ClientUpdate {
        federated::train_client(
            model,
            &self.global,
            &self.clients[client],
            &self.training,
            client_seed(SEED, 0, client),
        )
        .expect("the client trains")
    }

    /// The sampled clients in turn, on one reused model.
    fn sequential(&self, model: &mut Digits) -> Vec<ClientUpdate> {
        self.sampled.iter().map(|&c| self.train(model, c)).collect()
    }

    /// The sampled clients on rayon's pool, as `Simulation` trains them: each takes an
    /// idle model from `pool` (building one if all are in use) and puts it back;
    /// updates in sampled order.
    fn parallel(&self, pool: &Mutex<Vec<Digits>>) -> Vec<ClientUpdate> {
        let take = || pool.lock().expect("no panics").pop();
        self.sampled
            .par_iter()
            .map(|&c| {
                let mut model = take().unwrap_or_else(|| Digits::with_seed(SEED));
                let update = self.train(&mut model, c);
                pool.lock().expect("no panics").push(model);
                update
            })
            .collect()
    }
}

fn fedavg_round(c: &mut Criterion) {
    let clients = population();
    let threads = rayon::current_num_threads();
    let first = FirstRound {
        clients: &clients,
        sampled: sample_clients(ClientsPerRound::Count(PER_ROUND), CLIENTS, SEED, 0)
            .expect("enough clients"),
        global: Digits::with_seed(SEED).weights_vec(),
        training: config(false).local_training(),
    };
    let sizes: Vec<usize> = first.sampled.iter().map(|&c| clients[c].len()).collect();
    let steps: usize = sizes.iter().map(|n| n.div_ceil(BATCH)).sum();
    let mean_examples = (0..100).map(|r| round_examples(&clients, r)).sum::<usize>() as f64 / 100.0;
    eprintln!(
        "population sizes {:?}; round 1 trains clients {:?} of sizes {sizes:?}: {} examples, \
         {steps} SGD steps (mean over rounds 1..=100: {mean_examples:.1} examples); \
         {} parameters; {threads} threads",
        clients.iter().map(|c| c.len()).collect::<Vec<_>>(),
        first.sampled,
        sizes.iter().sum::<usize>(),
        first.global.len(),
    );

    let mut group = c.benchmark_group("fedavg_round");

    round::whole_rounds(
        &mut group,
        |parallel| Simulation::new(Digits::with_seed(SEED), config(parallel)),
        &clients,
        |report| assert_eq!(report.clients, first.sampled),
    );

    let mut model = Digits::with_seed(SEED);
    let updates = first.sequential(&mut model);
    group.bench_function("clients/sequential", |b| {
        b.iter(|| first.sequential(&mut model))
    });
    let pool = Mutex::new(Vec::new());
    assert_eq!(first.parallel(&pool), updates, "same updates in parallel");
    group.bench_function(format!("clients/parallel_{threads}_threads"), |b| {
        b.iter(|| first.parallel(&pool))
    });

    let deltas: Vec<&[f32]> = updates.iter().map(|u| u.delta.as_slice()).collect();
    let weights: Vec<f64> = updates.iter().map(|u| u.num_examples as f64).collect();
    group.bench_function("aggregation/weighted_mean", |b| {
        b.iter(|| federated::weighted_mean(black_box(&deltas), black_box(&weights)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = fedavg_round
}
criterion_main!(benches);
