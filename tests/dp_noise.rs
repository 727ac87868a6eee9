//! DP-FedAvg's claims, checked from outside: the epsilon a run reports is the one
//! Google's `dp-accounting` computes for it, the noise is secret unless a run opts out
//! of privacy, and the noise has the standard deviation the accountant assumes.

use feddx::data::{datasets, partition, ClientData};
use feddx::federated::aggregators::{Aggregation, Clipping};
use feddx::federated::{ClientsPerRound, FedConfig, FedConfigBuilder, NoiseSource, Simulation};
use feddx::prelude::*;
use feddx::privacy::Neighbours;

#[federated_model(
    input_spec = (Features<64>, ClassLabels),
    loss = SparseCategoricalCrossentropy,
    metrics = [SparseCategoricalAccuracy],
)]
struct Digits {
    net: Built<(Linear<64, 16>, ReLU, Linear<16, 10>)>,
}

type Data = ClientData<Features<64>, ClassLabels>;

/// Sampling of a pinned row: Poisson with probability `q`, or `m` of `n`.
#[derive(Debug, Clone, Copy)]
enum Pinned {
    Poisson(f64),
    Fixed(usize, usize),
}

/// Epsilon of DP-FedAvg runs, as dp-accounting 0.6.0 computes it: (sampling, noise
/// multiplier z, rounds, delta, epsilon), with the Gaussian mechanism's noise
/// multiplier z / 2 under replace-one neighbours (fixed-size sampling) and z under
/// add-or-remove-one (Poisson). Written by
/// `benches/peers/dp_accounting/run.sh dp_fedavg.py`, not by feddx.
const DP_FEDAVG: [(Pinned, f64, usize, f64, f64); 5] = [
    // dp-accounting 0.6.0; benches/peers/dp_accounting/run.sh dp_fedavg.py
    (Pinned::Fixed(10, 30), 1.0, 3, 1e-05, 17.851997778340895),
    (
        Pinned::Poisson(0.3333333333333333),
        1.0,
        3,
        1e-05,
        5.204797765336922,
    ),
    (Pinned::Fixed(100, 300), 0.5, 50, 1e-05, 734.9227865854444),
    (
        Pinned::Poisson(0.3333333333333333),
        0.5,
        50,
        1e-05,
        77.9990405065374,
    ),
    (Pinned::Fixed(100, 300), 1.0, 50, 1e-05, 138.88274234535967),
];

/// The digits' training part over `n` clients (Dirichlet(0.5), at least one example
/// each), standardised.
fn clients(n: usize) -> Vec<Data> {
    let (mut train, _) = datasets::digits()
        .unwrap()
        .train_test_split(0.2, 0)
        .unwrap();
    let (mean, std) = train.feature_stats();
    train.standardize_with(&mean, &std);
    let parts = partition::Dirichlet::default()
        .clients(n)
        .alpha(0.5)
        .min_size(1)
        .split(&train.labels)
        .unwrap();
    train.clients(&parts)
}

/// DP-FedAvg with clip 1 and noise multiplier `z`, one local epoch.
fn dp(rounds: usize, per_round: ClientsPerRound, z: f64) -> FedConfigBuilder {
    FedConfig::builder()
        .rounds(rounds)
        .clients_per_round(per_round)
        .batch_size(20)
        .client_learning_rate(0.1)
        .aggregation(Aggregation {
            clipping: Some(Clipping::Fixed { norm: 1.0 }),
            noise_multiplier: Some(z),
            ..Aggregation::default()
        })
}

fn run(config: FedConfig, clients: &[Data]) -> (Vec<f32>, Vec<feddx::federated::RoundReport>) {
    let mut sim = Simulation::new(Digits::with_seed(0), config);
    let reports = sim.run(clients, |_| {}).unwrap();
    (sim.global_weights().to_vec(), reports)
}

#[test]
fn the_reported_epsilon_is_dp_accountings_for_both_samplings() {
    let clients = clients(30);
    for (sampling, z, rounds, delta, expected) in DP_FEDAVG {
        if rounds > 3 {
            continue; // tests/robust.rs runs those over 300 clients
        }
        let (per_round, neighbours, mechanism) = match sampling {
            Pinned::Poisson(q) => (ClientsPerRound::Poisson(q), Neighbours::AddOrRemoveOne, z),
            Pinned::Fixed(m, n) => {
                assert_eq!(n, clients.len());
                (ClientsPerRound::Count(m), Neighbours::ReplaceOne, z / 2.0)
            }
        };
        let config = dp(rounds, per_round, z)
            .privacy_delta(delta)
            .build()
            .unwrap();
        let (_, reports) = run(config, &clients);
        let privacy = reports.last().unwrap().privacy.unwrap();
        assert!(
            (privacy.epsilon - expected).abs() <= 1e-6 * expected,
            "{sampling:?}: feddx {} vs dp-accounting {expected}",
            privacy.epsilon
        );
        assert_eq!(privacy.neighbours, neighbours);
        assert_eq!(privacy.sensitivity, neighbours.sum_sensitivity());
        assert_eq!(privacy.mechanism_noise_multiplier, mechanism);
        assert_eq!((privacy.rounds, privacy.delta), (rounds, delta));
        assert!(privacy.is_private());
    }
    // The same figures for the fraction that resolves to the same count.
    let config = dp(3, ClientsPerRound::Fraction(1.0 / 3.0), 1.0)
        .build()
        .unwrap();
    let (_, reports) = run(config, &clients);
    assert!((reports[2].epsilon().unwrap() - DP_FEDAVG[0].4).abs() <= 1e-6 * DP_FEDAVG[0].4);
}

#[test]
fn the_robust_and_readme_rows_are_pinned_too() {
    // tests/robust.rs and the README use rows 2 to 4; check here that they are the
    // accountant's figures for their settings, computed through the simulation's
    // own path (`PrivacySpent::after`), so that a row cannot drift from the code.
    for (sampling, z, rounds, delta, expected) in &DP_FEDAVG[2..] {
        let (per_round, population) = match *sampling {
            Pinned::Poisson(q) => (ClientsPerRound::Poisson(q), 300),
            Pinned::Fixed(m, n) => (ClientsPerRound::Count(m), n),
        };
        let spent = feddx::federated::PrivacySpent::after(
            *rounds,
            per_round,
            population,
            *z,
            *delta,
            NoiseSource::Os,
        )
        .unwrap();
        assert!(
            (spent.epsilon - expected).abs() <= 1e-6 * expected,
            "{sampling:?} z {z}: {} vs {expected}",
            spent.epsilon
        );
    }
}

#[test]
fn two_private_runs_of_one_config_differ_in_noise_and_sample() {
    let clients = clients(30);
    let config = || dp(2, ClientsPerRound::Count(10), 1.0).build().unwrap();
    assert_eq!(config().noise_source(), NoiseSource::Os);
    let (a, reports_a) = run(config(), &clients);
    let (b, reports_b) = run(config(), &clients);
    assert_ne!(a, b, "the noise follows from the config");
    let samples = |r: &[feddx::federated::RoundReport]| -> Vec<Vec<usize>> {
        r.iter().map(|r| r.clients.clone()).collect()
    };
    // Two rounds of 10 of 30: the chance that both samples repeat is below 1e-15.
    assert_ne!(
        samples(&reports_a),
        samples(&reports_b),
        "the sample follows from the config"
    );
}

#[test]
fn a_run_with_noise_from_the_seed_repeats_and_says_it_is_not_private() {
    let clients = clients(30);
    let config = || {
        dp(2, ClientsPerRound::Count(10), 1.0)
            .reproducible_noise_not_private()
            .build()
            .unwrap()
    };
    let (a, reports) = run(config(), &clients);
    let (b, _) = run(config(), &clients);
    assert_eq!(
        a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    let privacy = reports[1].privacy.unwrap();
    assert!(!privacy.is_private());
    assert!(privacy.to_string().contains("NOT PRIVATE"), "{privacy}");
    // The same seed with another setting of everything else: other noise.
    let other = dp(2, ClientsPerRound::Count(10), 1.0)
        .reproducible_noise_not_private()
        .seed(1)
        .build()
        .unwrap();
    assert_ne!(run(other, &clients).0, a);
}

#[test]
fn the_noise_has_the_standard_deviation_z_c_over_the_denominator() {
    // Every client every round, so both runs train the same clients from the same
    // weights and clip the same updates: the global models differ by the noise alone,
    // N(0, (z C / n)^2) per coordinate, here z = 2, C = 1, n = 30.
    let clients = clients(30);
    let (z, n) = (2.0, 30.0);
    let config = |z| dp(1, ClientsPerRound::Count(30), z).build().unwrap();
    let (noised, _) = run(config(z), &clients);
    let (clean, _) = run(config(0.0), &clients);
    let diffs: Vec<f64> = noised
        .iter()
        .zip(&clean)
        .map(|(a, b)| f64::from(a - b))
        .collect();
    let p = diffs.len() as f64;
    let sigma = z * 1.0 / n;
    let mean = diffs.iter().sum::<f64>() / p;
    let std = (diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (p - 1.0)).sqrt();
    // Five standard errors: the mean's is sigma / sqrt(p), the sample standard
    // deviation's about sigma / sqrt(2p). A wrong denominator (n = 10 or the count of
    // updates) or a noise of z instead of z C / n misses by far more.
    assert!(
        mean.abs() < 5.0 * sigma / p.sqrt(),
        "mean {mean}, sigma {sigma}"
    );
    assert!(
        (std / sigma - 1.0).abs() < 5.0 / (2.0 * p).sqrt(),
        "std {std} vs {sigma} over {p} weights"
    );
    // And it is Gaussian-shaped: about 68.3% within one sigma.
    let within = diffs.iter().filter(|d| d.abs() <= sigma).count() as f64 / p;
    let se = (0.6827 * 0.3173 / p).sqrt();
    assert!(
        (within - 0.6827).abs() < 5.0 * se,
        "{within} within one sigma"
    );
}

#[test]
fn a_private_checkpoint_holds_no_noise_seed() {
    let clients = clients(30);
    let config = || dp(2, ClientsPerRound::Count(10), 1.0).build().unwrap();
    let mut first = Simulation::new(Digits::with_seed(0), config());
    first.run_round(&clients).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("private.safetensors");
    first.save_checkpoint(&path).unwrap();
    // Two resumptions of the same checkpoint and config draw other noise and samples:
    // nothing in the file determines them.
    let resume = || {
        let mut sim = Simulation::new(Digits::with_seed(0), config());
        sim.restore_checkpoint(&path).unwrap();
        let report = sim.run_round(&clients).unwrap();
        (sim.global_weights().to_vec(), report.clients)
    };
    let (a, sample_a) = resume();
    let (b, sample_b) = resume();
    assert_ne!(a, b);
    // Both continue from the saved round: the sample of round 2 is a fresh draw.
    assert_eq!(sample_a.len(), 10);
    assert_eq!(sample_b.len(), 10);
}

#[test]
fn a_private_round_that_samples_nobody_releases_the_noise_alone() {
    // Poisson sampling with q N = 0.3: most rounds draw nobody. Each such round still
    // moves the model by noise of standard deviation z C / (q N) and spends epsilon,
    // instead of failing the run (it could not be avoided: the sample is secret).
    let clients = clients(30);
    let config = dp(12, ClientsPerRound::Poisson(0.01), 0.1).build().unwrap();
    let mut sim = Simulation::new(Digits::with_seed(0), config);
    let mut before = sim.global_weights().to_vec();
    let mut empty = 0;
    for _ in 0..12 {
        let report = sim.run_round(&clients).unwrap();
        let after = sim.global_weights().to_vec();
        if report.clients.is_empty() {
            empty += 1;
            assert_eq!(report.counts.sampled, 0);
            assert_eq!(report.train.iter().count(), 0, "{:?}", report.train);
            let p = after.len() as f64;
            let sigma = 0.1 / 0.3;
            let rms = (after
                .iter()
                .zip(&before)
                .map(|(a, b)| f64::from(a - b).powi(2))
                .sum::<f64>()
                / p)
                .sqrt();
            assert!((rms / sigma - 1.0).abs() < 5.0 / (2.0 * p).sqrt(), "{rms}");
        }
        assert!(report.privacy.unwrap().epsilon.is_finite());
        before = after;
    }
    // Each round draws nobody with probability 0.99^30 = 0.74; all 12 draw someone
    // with probability 1e-7.
    assert!(empty > 0, "no round drew nobody");
}
