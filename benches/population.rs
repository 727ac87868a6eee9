//! The cost of a round does not grow with the population: sampling and one whole
//! round at 10^4, 10^5 and 10^6 clients of Synthetic(1, 1).
//!
//! ```text
//! cargo bench --bench population
//! ```
//!
//! Each population (10 examples a client) is materialised once in an in-memory
//! `ClientStore` (the 10^6 one holds 2.4 GB), then:
//!
//! - `sampling/<n>`: `sample_clients` of 100 clients out of `n`;
//! - `round/<n>`: `Simulation::run_round` of 100 sampled clients, one local step of
//!   batch 10 each on a softmax regression (60 features, 10 classes), clients in
//!   parallel, restored to the initial state before each round (outside the timing),
//!   so every timed round is the first round of the run.
//!
//! Both should be flat in `n`: a round reads only the clients it samples.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use feddx::data::{ClientSizes, Synthetic};
use feddx::federated::{sample_clients, ClientsPerRound, FedConfig, Simulation};
use feddx::prelude::*;

/// A softmax regression on Synthetic's features.
#[federated_model(
    input_spec = (Features<60>, ClassLabels),
    loss = SparseCategoricalCrossentropy,
    metrics = [SparseCategoricalAccuracy],
)]
struct Softmax {
    net: Built<Linear<60, 10>>,
}

const PER_ROUND: usize = 100;
const SEED: u64 = 0;

fn population(c: &mut Criterion) {
    let synthetic = Synthetic::new(1.0, 1.0, SEED)
        .and_then(|s| s.with_sizes(ClientSizes::Fixed(10)))
        .expect("valid parameters");
    let config = FedConfig::builder()
        .rounds(1)
        .clients_per_round(ClientsPerRound::Count(PER_ROUND))
        .local_epochs(1)
        .batch_size(10)
        .client_learning_rate(0.01)
        .seed(SEED)
        .parallel(true)
        .build()
        .expect("a valid config");
    let mut group = c.benchmark_group("population");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for n in [10_000, 100_000, 1_000_000] {
        group.bench_with_input(BenchmarkId::new("sampling", n), &n, |b, &n| {
            let mut round = 0;
            b.iter(|| {
                round += 1;
                black_box(
                    sample_clients(ClientsPerRound::Count(PER_ROUND), n, SEED, round)
                        .expect("enough clients"),
                )
            })
        });
        let store = synthetic.store(n);
        let mut sim = Simulation::new(Softmax::build(&Cpu::seed_from_u64(SEED)), config.clone());
        let start = sim.state();
        group.bench_with_input(BenchmarkId::new("round", n), &n, |b, _| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    sim.restore(start.clone()).expect("the initial state fits");
                    let t = Instant::now();
                    black_box(sim.run_round(&store).expect("the round runs"));
                    total += t.elapsed();
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, population);
criterion_main!(benches);
