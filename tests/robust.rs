//! Trustworthy aggregation on the real digits: 20 clients with Dirichlet(0.5) label
//! skew, 10 a round, the `digits` example's MLP and FedAvg settings — against
//! Byzantine clients, dropouts and NaN updates — and DP-FedAvg over 300 clients.

use feddx::data::{datasets, partition, ClientData, Dataset};
use feddx::federated::aggregators::{Aggregation, Clipping, Estimator};
use feddx::federated::{
    byzantine_clients, Attack, Byzantine, ClientsPerRound, Faults, FedConfig, FedConfigBuilder,
    Simulation,
};
use feddx::prelude::*;

#[federated_model(
    input_spec = (Features<64>, ClassLabels),
    loss = SparseCategoricalCrossentropy,
    metrics = [SparseCategoricalAccuracy],
)]
struct Digits {
    net: Built<(Linear<64, 64>, ReLU, Linear<64, 10>)>,
}

type Data = ClientData<Features<64>, ClassLabels>;

/// The digits split 80/20 and standardised with the training statistics, the
/// training part spread over `clients` by Dirichlet(0.5), each holding at least one
/// example (300 clients of 1437 examples cannot all hold two).
fn federation(clients: usize) -> (Vec<Data>, Data) {
    let (mut train, mut test): (Dataset<64>, Dataset<64>) = datasets::digits()
        .unwrap()
        .train_test_split(0.2, 0)
        .unwrap();
    let (mean, std) = train.feature_stats();
    train.standardize_with(&mean, &std);
    test.standardize_with(&mean, &std);
    let parts = partition::Dirichlet::default()
        .clients(clients)
        .alpha(0.5)
        .min_size(1)
        .split(&train.labels)
        .unwrap();
    (train.clients(&parts), test.to_client_data())
}

/// The `digits` example's settings, for `rounds` rounds of `per_round` clients.
fn settings(rounds: usize, per_round: usize) -> FedConfigBuilder {
    FedConfig::builder()
        .rounds(rounds)
        .clients_per_round(ClientsPerRound::Count(per_round))
        .local_epochs(5)
        .batch_size(20)
        .client_learning_rate(0.1)
        .eval_every(rounds)
}

/// The final test accuracy of a run, and its reports.
fn accuracy(
    config: FedConfig,
    clients: &[Data],
    test: &Data,
) -> (f64, Vec<feddx::federated::RoundReport>) {
    let mut sim = Simulation::new(Digits::with_seed(0), config).with_evaluation_data(test.clone());
    let reports = sim.run(clients, |_| {}).unwrap();
    let acc = reports
        .last()
        .unwrap()
        .eval
        .as_ref()
        .unwrap()
        .get("sparse_categorical_accuracy")
        .unwrap();
    (acc, reports)
}

/// 4 of the 20 clients send their update sign-flipped and scaled by 10.
fn sign_flippers() -> Faults {
    attackers(Attack::SignFlip)
}

/// 4 of the 20 clients attack their updates with `attack` (`--byzantine 4 --attack ...`).
fn attackers(attack: Attack) -> Faults {
    Faults {
        byzantine: Some(Byzantine { clients: 4, attack }),
        ..Faults::default()
    }
}

/// How far a run's accuracy may be from the README's figure for it: the figures
/// come from this machine's runs, which repeat bit for bit; another CPU's float
/// kernels may round differently.
const README_TOLERANCE: f64 = 0.015;

/// Asserts that `accuracy`, of the README's robust table row `row`, is within
/// [`README_TOLERANCE`] of the figure `readme` the row prints.
fn assert_readme_figure(row: &str, accuracy: f64, readme: f64) {
    assert!(
        (accuracy - readme).abs() <= README_TOLERANCE,
        "README row `{row}`: {accuracy:.4}, the README says {readme:.4}"
    );
}

fn with(estimator: Estimator) -> Aggregation {
    Aggregation {
        estimator,
        ..Aggregation::default()
    }
}

#[test]
fn robust_estimators_hold_against_sign_flipping_clients_where_the_mean_falls() {
    let (clients, test) = federation(20);
    let attacked = |estimator| {
        let config = settings(50, 10)
            .faults(sign_flippers())
            .aggregation(with(estimator))
            .build()
            .unwrap();
        accuracy(config, &clients, &test).0
    };
    let mean = attacked(Estimator::Mean);
    let median = attacked(Estimator::Median);
    let trimmed = attacked(Estimator::TrimmedMean { beta: 0.3 });
    let multi_krum = attacked(Estimator::MultiKrum { f: 3, m: None });
    let krum = attacked(Estimator::Krum { f: 3 });
    let bulyan = attacked(Estimator::Bulyan { f: 1 });
    println!(
        "4 of 20 sign-flipping: mean {mean:.4}, median {median:.4}, trimmed mean {trimmed:.4}, \
         Multi-Krum {multi_krum:.4}, Krum {krum:.4}, Bulyan {bulyan:.4}"
    );
    // The README's rows `--byzantine 4 --attack sign-flip` and the robust
    // estimators under it: the mean collapses, every robust estimator holds.
    assert!(mean < 0.5, "FedAvg under attack reached {mean}");
    assert_readme_figure("--byzantine 4 --attack sign-flip", mean, 0.1699);
    for (row, acc, readme) in [
        ("--aggregator median", median, 0.9359),
        ("--aggregator trimmed-mean --trim-beta 0.3", trimmed, 0.9387),
        ("--aggregator multi-krum --krum-f 3", multi_krum, 0.9526),
        ("--aggregator krum --krum-f 3", krum, 0.9164),
        ("--aggregator bulyan --krum-f 1", bulyan, 0.9582),
    ] {
        assert!(acc >= 0.90, "`{row}` under attack reached {acc}");
        assert_readme_figure(row, acc, readme);
    }
}

#[test]
fn scaled_noisy_and_label_flipping_clients_barely_move_the_mean_or_the_median() {
    let (clients, test) = federation(20);
    let run = |faults: Faults, estimator, clients: &[Data]| {
        let config = settings(50, 10)
            .faults(faults)
            .aggregation(with(estimator))
            .build()
            .unwrap();
        accuracy(config, clients, &test).0
    };
    // The README's first row: no flags.
    let clean = run(Faults::default(), Estimator::Mean, &clients);
    assert!(clean >= 0.95, "FedAvg without faults reached {clean}");
    assert_readme_figure("none", clean, 0.9638);

    // `--attack label-flip`: the example flips the labels of the 4 Byzantine
    // clients the seed picks, and their updates go in unchanged.
    let mut flipped = clients.clone();
    for k in byzantine_clients(0, clients.len(), 4) {
        flipped[k] = flipped[k].with_labels_flipped(10);
    }
    let mut figures = Vec::new();
    for (estimator, readme) in [
        (Estimator::Mean, [0.9694, 0.9582, 0.9471]),
        (Estimator::Median, [0.9526, 0.9499, 0.9526]),
    ] {
        let scale = run(attackers(Attack::Scale), estimator, &clients);
        let noise = run(attackers(Attack::Noise), estimator, &clients);
        let label_flip = run(Faults::default(), estimator, &flipped);
        figures.push(format!(
            "{}: scale {scale:.4}, noise {noise:.4}, label flip {label_flip:.4}",
            estimator.name()
        ));
        let row = format!(
            "--byzantine 4 --attack scale / noise / label-flip, --aggregator {}",
            estimator.name()
        );
        for (acc, readme) in [scale, noise, label_flip].into_iter().zip(readme) {
            // None of the three attacks costs either estimator more than 2 points.
            assert!(
                acc >= clean - 0.02,
                "`{row}`: {acc} against {clean} unattacked"
            );
            assert_readme_figure(&row, acc, readme);
        }
        if estimator == Estimator::Mean {
            // "Scaled updates do not hurt FedAvg here."
            assert!(
                scale >= clean,
                "scaled updates took FedAvg from {clean} to {scale}"
            );
        }
    }
    println!(
        "4 of 20 attacking, unattacked FedAvg {clean:.4}: {}",
        figures.join("; ")
    );
}

#[test]
fn fedavg_accepts_dropouts_and_a_round_short_of_clients_changes_nothing() {
    let (clients, test) = federation(20);
    let dropout = Faults {
        dropout: 0.3,
        ..Faults::default()
    };
    let config = settings(50, 10)
        .faults(dropout)
        .accept_failures(true)
        .build()
        .unwrap();
    let (acc, reports) = accuracy(config, &clients, &test);
    let failed: usize = reports.iter().map(|r| r.counts.failed).sum();
    println!("30% dropout: FedAvg {acc:.4}, {failed} of 500 sampled clients dropped out");
    assert!(acc >= 0.93, "FedAvg with 30% dropout reached {acc}");
    assert_readme_figure("--dropout 0.3", acc, 0.9638);
    assert!(
        (100..200).contains(&failed),
        "{failed} dropouts of 500 at p = 0.3"
    );

    // Needing all 10 updates, the first round with a dropout fails, typed, and
    // leaves the run as it was.
    let strict = settings(50, 10)
        .faults(dropout)
        .accept_failures(true)
        .min_successful_clients(10)
        .build()
        .unwrap();
    let mut sim = Simulation::new(Digits::with_seed(0), strict);
    let before = sim.state();
    let err = sim.run(&clients, |_| {}).unwrap_err();
    assert!(
        matches!(err, feddx::FeddxError::TooFewUpdates { required: 10, .. }),
        "{err}"
    );
    let after = sim.state();
    if after.rounds_completed == 0 {
        let bits = |w: &[f32]| w.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&after.global_weights), bits(&before.global_weights));
    }
    let mut replay = Simulation::new(
        Digits::with_seed(0),
        settings(50, 10)
            .faults(dropout)
            .accept_failures(true)
            .min_successful_clients(10)
            .build()
            .unwrap(),
    );
    for _ in 0..after.rounds_completed {
        replay.run_round(&clients).unwrap();
    }
    assert_eq!(
        replay.state(),
        after,
        "the failed round left the state of the rounds before it"
    );
}

#[test]
fn nan_updates_never_reach_the_global_model() {
    let (clients, test) = federation(20);
    let nan = Faults {
        non_finite: 0.2,
        ..Faults::default()
    };
    for zeroing_norm in [None, Some(100.0)] {
        let config = settings(30, 10)
            .faults(nan)
            .aggregation(Aggregation {
                zeroing_norm,
                ..Aggregation::default()
            })
            .build()
            .unwrap();
        let (acc, reports) = accuracy(config, &clients, &test);
        let zeroed: usize = reports.iter().map(|r| r.counts.zeroed).sum();
        assert!(zeroed > 30, "{zeroed} NaN updates of 300 at p = 0.2");
        assert!(
            acc >= 0.9,
            "with NaN updates rejected, FedAvg reached {acc}"
        );
    }
}

#[test]
fn dp_fedavg_over_300_clients_keeps_its_accuracy() {
    let (clients, test) = federation(300);
    // Clip 1, noise multiplier 0.5, 100 clients a round.
    let dp = |sampling| {
        settings(50, 100)
            .clients_per_round(sampling)
            .aggregation(Aggregation {
                clipping: Some(Clipping::Fixed { norm: 1.0 }),
                noise_multiplier: Some(0.5),
                ..Aggregation::default()
            })
            .build()
            .unwrap()
    };
    let (acc, reports) = accuracy(dp(ClientsPerRound::Count(100)), &clients, &test);
    let last = reports.last().unwrap();
    let epsilon = last.epsilon().unwrap();
    println!(
        "DP-FedAvg, z = 0.5, C = 1: accuracy {acc:.4}, epsilon {epsilon:.2} at delta 1e-5, clipped {} of 100 in the last round",
        last.counts.clipped
    );
    assert!(acc >= 0.85, "DP-FedAvg reached {acc}");
    // dp-accounting 0.6.0's figure for 50 rounds of 100 of 300 clients, replace-one
    // neighbours, noise multiplier 0.5 / 2 (`benches/peers/dp_accounting/run.sh
    // dp_fedavg.py`; tests/dp_noise.rs holds the table).
    assert!(
        (epsilon / 734.9227865854444 - 1.0).abs() < 1e-6,
        "{epsilon}"
    );
    let growing: Vec<f64> = reports.iter().map(|r| r.epsilon().unwrap()).collect();
    assert!(
        growing.windows(2).all(|w| w[0] < w[1]),
        "epsilon grows round by round"
    );

    // Poisson sampling of each client with probability 1/3: about 100 a round, the
    // sampling DP-FedAvg's analysis assumes, and a far smaller epsilon.
    let (acc, reports) = accuracy(dp(ClientsPerRound::Poisson(1.0 / 3.0)), &clients, &test);
    let poisson_epsilon = reports.last().unwrap().epsilon().unwrap();
    println!("with Poisson sampling: accuracy {acc:.4}, epsilon {poisson_epsilon:.2}");
    assert!(acc >= 0.85, "DP-FedAvg with Poisson sampling reached {acc}");
    // dp-accounting 0.6.0, add-or-remove-one neighbours, noise multiplier 0.5.
    assert!(
        (poisson_epsilon / 77.9990405065374 - 1.0).abs() < 1e-6,
        "{poisson_epsilon}"
    );
    let sizes: Vec<usize> = reports.iter().map(|r| r.num_clients()).collect();
    assert!(sizes.iter().all(|&n| (60..140).contains(&n)) && sizes.iter().any(|&n| n != 100));
}
