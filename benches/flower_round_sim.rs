//! One FedAvg round of the Flower example's federation in feddx's own simulation:
//! the reference that `benches/flower_round.sh` sets beside the same round over a
//! Flower SuperLink (feddx nodes, and Python SuperNodes running the model in PyTorch).
//!
//! ```text
//! cargo bench --bench flower_round_sim
//! ```
//!
//! The federation is the one `flower/examples/flower_node` joins with `--partitions 3
//! --seed 0` (the module is shared with it): the digits split 80/20, standardised, the
//! training part spread over 3 partitions by a Dirichlet(0.5) label skew. The round
//! trains the `(Linear<64, 64>, ReLU, Linear<64, 10>)` MLP on all 3 for 5 local epochs
//! with batches of 20 at learning rate 0.1, then averages (plain FedAvg, no
//! evaluation), exactly the work the 3 nodes do in the first round of
//! `flwr run examples/flower` (`flower/tests/flower.rs` checks that the two agree).
//!
//! Every timed round is the first round of the run: the simulation is restored to its
//! initial state before each (outside the timing). Nothing crosses a network or a
//! process: this is the floor that a federation over Flower adds its cost to.

#[path = "../flower/examples/flower_node/federation.rs"]
#[allow(dead_code)]
mod federation;

mod round;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use feddx::federated::{ClientsPerRound, FedConfig, Simulation};
use feddx::FederatedModel;
use federation::{DigitClassifier, LOCAL_TRAINING};

const SEED: u64 = 0;
const PARTITIONS: usize = 3;
const ALPHA: f64 = 0.5;
const BATCH: usize = 20;

fn config(parallel: bool) -> FedConfig {
    FedConfig::builder()
        .rounds(1)
        .clients_per_round(ClientsPerRound::Count(PARTITIONS))
        .local_epochs(LOCAL_TRAINING.local_epochs)
        .batch_size(BATCH)
        .client_learning_rate(LOCAL_TRAINING.learning_rate)
        .seed(SEED)
        .parallel(parallel)
        .build()
        .expect("a valid config")
}

fn flower_round_sim(c: &mut Criterion) {
    let fed = federation::digits(PARTITIONS, ALPHA, SEED).expect("the bundled digits load");
    let clients = fed.train.clients(&fed.parts);
    let sizes: Vec<usize> = fed.parts.iter().map(Vec::len).collect();
    let steps: usize =
        sizes.iter().map(|n| n.div_ceil(BATCH)).sum::<usize>() * LOCAL_TRAINING.local_epochs;
    let params = DigitClassifier::with_seed(SEED).weights_vec().len();
    // One line for benches/flower_round.sh to read.
    eprintln!(
        "flower_round_sim: partition sizes {sizes:?}, {steps} SGD steps, {params} parameters \
         ({} bytes as f32), {} rayon threads",
        4 * params,
        rayon::current_num_threads()
    );

    let mut group = c.benchmark_group("flower_round_sim");
    round::whole_rounds(
        &mut group,
        |parallel| Simulation::new(DigitClassifier::with_seed(SEED), config(parallel)),
        &clients,
        |report| assert_eq!(report.num_clients(), PARTITIONS),
    );
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6));
    targets = flower_round_sim
}
criterion_main!(benches);
