//! The examples' run loop (`examples/common`) on the digits setup: it reports,
//! checkpoints and resumes as the README says, in a temporary directory.

#[path = "../examples/common/mod.rs"]
#[allow(dead_code)]
mod common;

use common::{Defaults, Knobs, Strategy};
use feddx::data::datasets;
use feddx::federated::Simulation;
use feddx::prelude::*;

#[federated_model(
    input_spec = (Features<64>, ClassLabels),
    loss = SparseCategoricalCrossentropy,
    metrics = [SparseCategoricalAccuracy],
)]
struct Digits {
    net: Built<(Linear<64, 16>, ReLU, Linear<16, 10>)>,
}

const DEFAULTS: Defaults = Defaults {
    rounds: 4,
    clients: 6,
    clients_per_round: 3,
    alpha: 0.5,
    algorithm: Strategy::Fedavg,
    local_epochs: 1,
    batch_size: 20,
    lr: 0.1,
};

fn knobs(out: &std::path::Path, rounds: usize, resume: bool) -> Knobs {
    Knobs {
        rounds: Some(rounds),
        clients: None,
        clients_per_round: None,
        alpha: None,
        algorithm: None,
        local_epochs: None,
        batch_size: None,
        lr: None,
        server_lr: None,
        mu: 0.01,
        seed: 7,
        out: out.to_owned(),
        resume,
        sequential: false,
    }
}

/// Runs the example loop for `rounds` rounds (continuing a checkpoint if `resume`).
fn run(out: &std::path::Path, rounds: usize, resume: bool) -> f64 {
    let knobs = knobs(out, rounds, resume);
    let config = knobs.config(&DEFAULTS).unwrap();
    let split = common::split(datasets::digits().unwrap(), &knobs, &DEFAULTS, 2).unwrap();
    let clients = split.train.clients(&split.parts);
    let sim = Simulation::new(Digits::with_seed(knobs.seed), config)
        .with_evaluation_data(split.test.to_client_data());
    common::run(sim, &clients, &knobs, "sparse_categorical_accuracy").unwrap()
}

#[test]
fn a_run_writes_its_csv_plot_and_checkpoint_and_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let (whole, halves) = (dir.path().join("whole"), dir.path().join("halves"));

    let accuracy = run(&whole, 4, false);
    assert!((0.0..=1.0).contains(&accuracy), "{accuracy}");
    let csv = std::fs::read_to_string(whole.join("rounds.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 4, "{csv}");
    assert!(csv.starts_with("round,clients,num_examples,wall_time_s,train/loss"));
    let svg = std::fs::read_to_string(whole.join("rounds.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("sparse_categorical_accuracy"));
    assert!(whole.join("checkpoint.safetensors").exists());

    run(&halves, 2, false);
    let resumed = run(&halves, 4, true);
    assert_eq!(resumed.to_bits(), accuracy.to_bits());
    let csv = std::fs::read_to_string(halves.join("rounds.csv")).unwrap();
    let rounds: Vec<&str> = csv.lines().skip(1).map(|l| &l[..2]).collect();
    assert_eq!(rounds, ["1,", "2,", "3,", "4,"], "{csv}");
}
