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

/// An error whose message leaves its cause out, as `main` may meet one.
#[derive(Debug)]
struct Aborted(FeddxError);

impl std::fmt::Display for Aborted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the run was aborted")
    }
}

impl std::error::Error for Aborted {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// What `common::report` writes for `result`, and its exit code.
fn reported(result: Result<(), feddx::ErrorReport>) -> (String, std::process::ExitCode) {
    let mut out = Vec::new();
    let code = common::report_to(result, &mut out);
    (String::from_utf8(out).unwrap(), code)
}

#[test]
fn an_example_prints_its_error_as_sentences_with_the_causes_and_fails() {
    use std::process::ExitCode;

    assert_eq!(reported(Ok(())), (String::new(), ExitCode::SUCCESS));

    let dir = tempfile::tempdir().unwrap();
    let mut bad = knobs(dir.path(), 2, false);
    bad.lr = Some(-1.0);
    let (text, code) = reported(bad.config(&DEFAULTS).map(drop));
    assert_eq!(code, ExitCode::FAILURE);
    assert_eq!(
        text,
        "error: `client_learning_rate` must be finite and positive, got -1\n"
    );

    // The hint of the source, once, whether the message holds it or not.
    let non_finite = || FeddxError::NonFiniteLoss { value: f32::NAN };
    let client = FeddxError::ClientUpdate {
        round: 1,
        client: 4,
        source: Box::new(non_finite()),
    };
    let (text, _) = reported(Err(client.into()));
    assert_eq!(
        text,
        "error: client 4 failed in round 1: the loss is not finite (NaN); \
         lower the learning rate or check the inputs\n"
    );
    let (text, _) = reported(Err(Aborted(non_finite()).into()));
    assert_eq!(
        text,
        "error: the run was aborted\n\
         caused by: the loss is not finite (NaN); lower the learning rate or check the inputs\n"
    );
}
