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
    knobs_with(out, rounds, resume, &[])
}

/// The knobs of a command line `--rounds <rounds> --seed 7 --out <out>`, with
/// `--resume` if asked, then `extra`.
fn knobs_with(out: &std::path::Path, rounds: usize, resume: bool, extra: &[&str]) -> Knobs {
    use clap::Parser;
    let rounds = rounds.to_string();
    let mut args = vec!["example", "--rounds", &rounds, "--seed", "7"];
    args.extend(["--out", out.to_str().unwrap()]);
    if resume {
        args.push("--resume");
    }
    args.extend(extra);
    Knobs::try_parse_from(args).unwrap()
}

/// Runs the example loop for `rounds` rounds (continuing a checkpoint if `resume`).
fn run(out: &std::path::Path, rounds: usize, resume: bool) -> f64 {
    run_with(&knobs(out, rounds, resume)).accuracy
}

/// Runs the example loop with `knobs`, poisoning the label flippers' data.
fn run_with(knobs: &Knobs) -> common::Finished {
    let config = knobs.config(&DEFAULTS).unwrap();
    let split = common::split(datasets::digits().unwrap(), knobs, &DEFAULTS, 2).unwrap();
    let mut clients = split.train.clients(&split.parts);
    for k in knobs.label_flippers(clients.len()) {
        clients[k] = clients[k].with_labels_flipped(10);
    }
    let sim = Simulation::new(Digits::with_seed(knobs.seed), config)
        .with_evaluation_data(split.test.to_client_data());
    common::run(sim, &clients, knobs, "sparse_categorical_accuracy").unwrap()
}

/// The CSV's column `name` as numbers, one per round.
fn column(csv: &str, name: &str) -> Vec<f64> {
    let mut lines = csv.lines();
    let at = lines
        .next()
        .unwrap()
        .split(',')
        .position(|c| c == name)
        .unwrap();
    lines
        .map(|l| l.split(',').nth(at).unwrap().parse().unwrap_or(f64::NAN))
        .collect()
}

#[test]
fn the_trust_flags_reach_the_run_and_its_csv() {
    let dir = tempfile::tempdir().unwrap();
    let robust = knobs_with(
        dir.path(),
        4,
        false,
        &[
            "--clients-per-round",
            "6",
            "--aggregator",
            "median",
            "--clip",
            "adaptive",
            "--dropout",
            "0.2",
            "--byzantine",
            "2",
            "--attack",
            "scale",
        ],
    );
    assert_eq!(robust.faults().byzantine.unwrap().clients, 2);
    let done = run_with(&robust);
    assert!(done.privacy.is_none());
    let csv = std::fs::read_to_string(dir.path().join("rounds.csv")).unwrap();
    let failed: f64 = column(&csv, "failed").iter().sum();
    assert!(failed > 0.0, "{csv}");
    assert!(column(&csv, "clip_norm").iter().all(|c| *c > 0.0), "{csv}");
    let sampled = column(&csv, "clients");
    let succeeded = column(&csv, "succeeded");
    let failed = column(&csv, "failed");
    for ((s, ok), no) in sampled.iter().zip(&succeeded).zip(&failed) {
        assert_eq!(*s, ok + no);
    }

    // Poisson sampling from the operating system's keys: 30 clients at q = 1/2, so
    // that a round draws none with probability 2^-30, not 2^-6 as of 6 clients.
    let private = knobs_with(
        dir.path(),
        3,
        false,
        &[
            "--clients",
            "30",
            "--clients-per-round",
            "15",
            "--clip",
            "1",
            "--noise-multiplier",
            "1.0",
            "--poisson",
        ],
    );
    let done = run_with(&private);
    let privacy = done.privacy.unwrap();
    let epsilon = privacy.epsilon;
    assert!(epsilon.is_finite() && epsilon > 0.0 && privacy.delta == 1e-5);
    assert!(privacy.is_private());
    let csv = std::fs::read_to_string(dir.path().join("rounds.csv")).unwrap();
    assert_eq!(column(&csv, "epsilon").last(), Some(&epsilon));

    let flipped = knobs_with(
        dir.path(),
        1,
        false,
        &["--byzantine", "3", "--attack", "label-flip"],
    );
    assert!(flipped.faults().byzantine.is_none());
    assert_eq!(flipped.label_flippers(6).len(), 3);
    let bad = knobs_with(dir.path(), 1, false, &["--clip=-1"]);
    let (text, _) = reported(bad.config(&DEFAULTS).map(drop));
    assert_eq!(
        text,
        "error: the clipping norm must be finite and positive, got -1\n"
    );
    assert!(<Knobs as clap::Parser>::try_parse_from(["example", "--clip", "tight"]).is_err());
}

#[test]
fn the_dp_flags_report_dp_accountings_epsilon_and_speak_in_flag_words() {
    let dir = tempfile::tempdir().unwrap();
    // 10 of 30 clients, 3 rounds, clip 1, z = 1: dp-accounting 0.6.0 gives
    // 17.851997778340895 at delta 1e-5 (replace-one, noise multiplier 1 / 2;
    // `benches/peers/dp_accounting/run.sh dp_fedavg.py`), and 3.473895928913260 at
    // delta 1e-3 for Poisson q = 1/3.
    let flags = [
        "--clients",
        "30",
        "--clients-per-round",
        "10",
        "--clip",
        "1",
        "--noise-multiplier",
        "1",
    ];
    let done = run_with(&knobs_with(dir.path(), 3, false, &flags));
    let privacy = done.privacy.unwrap();
    assert!(
        (privacy.epsilon / 17.851997778340895 - 1.0).abs() < 1e-6,
        "{privacy}"
    );
    let poisson = [&flags[..], &["--poisson", "--delta", "1e-3"]].concat();
    let done = run_with(&knobs_with(dir.path(), 3, false, &poisson));
    let privacy = done.privacy.unwrap();
    assert_eq!(privacy.delta, 1e-3);
    assert!(
        (privacy.epsilon / 3.47389592891326 - 1.0).abs() < 1e-6,
        "{privacy}"
    );

    let error = |extra: &[&str]| {
        let knobs = knobs_with(dir.path(), 1, false, extra);
        reported(knobs.config(&DEFAULTS).map(drop)).0
    };
    assert_eq!(
        error(&["--noise-multiplier", "1"]),
        "error: --noise-multiplier needs --clip <norm>: the noise is a multiple of the clipping norm\n"
    );
    assert_eq!(
        error(&["--noise-multiplier", "1", "--clip", "adaptive"]),
        "error: --noise-multiplier needs a fixed --clip <norm>, not `--clip adaptive`: the noise is a multiple of the clipping norm\n"
    );
    assert_eq!(
        error(&["--noise-multiplier", "1", "--clip", "1", "--aggregator", "trimmed-mean"]),
        "error: --noise-multiplier adds noise to the mean of the clipped updates: it does not combine with --aggregator trimmed-mean\n"
    );
    assert_eq!(
        error(&["--noise-multiplier", "1", "--clip", "1", "--delta", "2"]),
        "error: --delta must be in (0, 1), got 2\n"
    );
    assert_eq!(
        error(&["--noise-multiplier=-1", "--clip", "1"]),
        "error: --noise-multiplier must be finite and non-negative, got -1\n"
    );
    assert_eq!(
        error(&["--reproducible-noise-not-private"]),
        "error: --reproducible-noise-not-private needs --noise-multiplier: without DP noise the run is reproducible anyway\n"
    );
}

#[test]
fn a_run_writes_its_csv_plot_and_checkpoint_and_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let (whole, halves) = (dir.path().join("whole"), dir.path().join("halves"));

    let accuracy = run(&whole, 4, false);
    assert!((0.0..=1.0).contains(&accuracy), "{accuracy}");
    let csv = std::fs::read_to_string(whole.join("rounds.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 4, "{csv}");
    assert!(csv.starts_with(
        "round,clients,succeeded,failed,zeroed,clipped,clip_norm,epsilon,examples_covered,examples_processed,wall_time_s,train/loss"
    ));
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

#[test]
fn huge_krum_f_and_bad_trim_beta_are_config_errors_in_every_profile() {
    use clap::Parser;
    let dir = tempfile::tempdir().unwrap();
    let error = |extra: &[&str]| {
        let knobs = knobs_with(dir.path(), 1, false, extra);
        reported(knobs.config(&DEFAULTS).map(drop)).0
    };
    // `usize::MAX / 2 + 1` is the f whose `2f + 3` wraps to 1 unchecked.
    let max = usize::MAX;
    for (aggregator, f) in [
        ("krum", max),
        ("krum", max / 2 + 1),
        ("multi-krum", max / 2 + 1),
        ("bulyan", max / 4 + 1),
    ] {
        let f = f.to_string();
        assert_eq!(
            error(&["--aggregator", aggregator, "--krum-f", &f]),
            format!(
                "error: {aggregator} tolerating `f = {f}` Byzantine clients needs at least \
                 `{max}` updates, got `3`\n"
            )
        );
    }
    for beta in ["NaN", "inf", "0.5", "-0.1"] {
        let beta_shown: f64 = beta.parse().unwrap();
        let flag = format!("--trim-beta={beta}");
        assert_eq!(
            error(&["--aggregator", "trimmed-mean", &flag]),
            format!("error: trimmed mean `beta` must be in [0, 0.5), got `{beta_shown}`\n")
        );
    }
    // Counts that are not a usize are the command line's errors.
    for f in ["-1", "18446744073709551616", "1e3"] {
        assert!(
            Knobs::try_parse_from(["example", "--krum-f", f]).is_err(),
            "{f}"
        );
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
