//! FedBuff (Nguyen et al., AISTATS 2022) on the digits data: against synchronous
//! FedAvg, a step worked by hand, parallel against sequential, resumed against
//! uninterrupted, and the simulated clock.

use feddx::data::{datasets, partition, ClientData};
use feddx::federated::fedbuff::{FedBuff, FedBuffConfig, FedBuffError, Staleness, StepReport};
use feddx::federated::{
    train_client, ClientsPerRound, FedConfig, ServerOptimizer, SimDuration, SimTime, Simulation,
    SpeedModel,
};
use feddx::prelude::*;

#[federated_model(
    input_spec = (Features<64>, ClassLabels),
    loss = SparseCategoricalCrossentropy,
    metrics = [SparseCategoricalAccuracy],
)]
struct Digits {
    net: Built<Linear<64, 10>>,
}

type Data = ClientData<Features<64>, ClassLabels>;

/// 20 IID clients of the digits training data, and the test data.
fn population() -> (Vec<Data>, Data) {
    let (train, test) = datasets::digits()
        .unwrap()
        .train_test_split(0.2, 0)
        .unwrap();
    let parts = partition::Iid::default()
        .clients(20)
        .seed(1)
        .split(train.len())
        .unwrap();
    (train.clients(&parts), test.to_client_data())
}

fn bits(w: &[f32]) -> Vec<u32> {
    w.iter().map(|x| x.to_bits()).collect()
}

fn fed_config(rounds: usize, speed: SpeedModel, parallel: bool) -> FedConfig {
    FedConfig::builder()
        .rounds(rounds)
        .clients_per_round(ClientsPerRound::Count(4))
        .local_epochs(1)
        .batch_size(16)
        .client_learning_rate(0.05)
        .seed(5)
        .speed(speed)
        .parallel(parallel)
        .build()
        .unwrap()
}

fn lognormal() -> SpeedModel {
    SpeedModel::LogNormal {
        median: SimDuration::from_millis(100),
        sigma: 1.0,
    }
}

fn fedbuff(concurrency: usize, buffer: usize, staleness: Staleness) -> FedBuffConfig {
    FedBuffConfig::builder()
        .concurrency(concurrency)
        .buffer(buffer)
        .staleness(staleness)
        .build()
        .unwrap()
}

/// With `concurrency = buffer =` FedAvg's clients per round and equal speeds, every
/// reply is fresh and every step takes one cohort's replies: FedBuff is FedAvg.
#[test]
fn with_equal_speeds_and_concurrency_equal_buffer_fedbuff_is_fedavg_bit_for_bit() {
    let (clients, _) = population();
    for speed in [
        SpeedModel::Constant(SimDuration::from_millis(250)),
        SpeedModel::default(),
    ] {
        let config = fed_config(4, speed.clone(), true);
        let mut sync = Simulation::new(Digits::with_seed(0), config.clone());
        let rounds = sync.run(&clients, |_| {}).unwrap();
        let mut buffered = FedBuff::new(
            Digits::with_seed(0),
            config,
            fedbuff(4, 4, Staleness::FEDBUFF),
        )
        .unwrap();
        let steps = buffered.run(&clients, |_| {}).unwrap();
        assert_eq!(steps.len(), 4);
        for (round, step) in rounds.iter().zip(&steps) {
            assert_eq!(step.report.clients, round.clients, "{speed:?}");
            assert_eq!(step.max_staleness, 0);
            assert_eq!(step.report.examples_covered, round.examples_covered);
            assert_eq!(step.report.examples_processed, round.examples_processed);
            assert_eq!(step.report.train, round.train);
            assert_eq!(step.report.local_steps, round.local_steps);
            // The same clock: a step waits for its cohort's slowest client as the
            // round does.
            assert_eq!(step.report.sim_duration, round.sim_duration, "{speed:?}");
        }
        assert_eq!(
            bits(buffered.global_weights()),
            bits(sync.global_weights()),
            "{speed:?}"
        );
        if speed == SpeedModel::default() {
            assert_eq!(buffered.now().as_micros(), 0);
        } else {
            let times: Vec<u64> = steps.iter().map(|s| s.time.as_micros()).collect();
            // Each cohort of 4 takes its batches (about 72 examples, 5 batches of 16)
            // at 250 ms a step, one cohort after the other.
            assert!(times.windows(2).all(|w| w[1] > w[0]), "{times:?}");
        }
    }
}

/// Two clients in flight, a step per reply, equal speeds: task 1 started from
/// version 0 and arrives after step 1, so its staleness is 1 and step 2 adds
/// `1/sqrt(2)` of its delta, computed here by hand with `train_client`.
#[test]
fn a_stale_reply_is_scaled_by_one_over_sqrt_of_one_plus_staleness() {
    let (clients, _) = population();
    let config = fed_config(2, SpeedModel::Constant(SimDuration::from_millis(10)), false);
    let mut run = FedBuff::new(
        Digits::with_seed(0),
        config.clone(),
        fedbuff(2, 1, Staleness::FEDBUFF),
    )
    .unwrap();
    let w0 = run.global_weights().to_vec();
    let first = run.run_step(&clients).unwrap();
    let w1 = run.global_weights().to_vec();
    let second = run.run_step(&clients).unwrap();
    assert_eq!((first.max_staleness, second.max_staleness), (0, 1));
    assert_eq!(first.time, second.time, "both replies arrive together");

    // Task 1 trains the second client of cohort 0 with cohort 0's seeds, from w0.
    let client = second.report.clients[0];
    let cohort = feddx::federated::sample_clients(ClientsPerRound::Count(2), 20, 5, 0).unwrap();
    assert_eq!(client, cohort[1]);
    assert_eq!(first.report.clients, [cohort[0]]);
    let mut model = Digits::with_seed(9);
    let seed = feddx::federated::seeds::client_seed(5, 0, client);
    let update = train_client(
        &mut model,
        &w0,
        &clients[client],
        &config.local_training(),
        seed,
    )
    .unwrap();
    let g = (1.0 / 2f64.sqrt()) as f32;
    let expected: Vec<f32> = w1
        .iter()
        .zip(&update.delta)
        .map(|(w, d)| w + 1.0 * (d * g))
        .collect();
    assert_eq!(bits(run.global_weights()), bits(&expected));

    // With constant staleness weights the same reply counts fully.
    let mut constant = FedBuff::new(
        Digits::with_seed(0),
        config,
        fedbuff(2, 1, Staleness::Constant),
    )
    .unwrap();
    constant.run(&clients, |_| {}).unwrap();
    let full: Vec<f32> = w1.iter().zip(&update.delta).map(|(w, d)| w + d).collect();
    assert_eq!(bits(constant.global_weights()), bits(&full));
}

fn outcome(reports: &[StepReport]) -> Vec<(usize, Vec<usize>, u64, u64, String)> {
    reports
        .iter()
        .map(|s| {
            (
                s.step(),
                s.report.clients.clone(),
                s.time.as_micros(),
                s.max_staleness,
                format!("{:?}", s.report.train),
            )
        })
        .collect()
}

#[test]
fn parallel_equals_sequential_bit_for_bit() {
    let (clients, _) = population();
    let run = |parallel| {
        let mut run = FedBuff::new(
            Digits::with_seed(0),
            fed_config(8, lognormal(), parallel),
            fedbuff(6, 3, Staleness::FEDBUFF),
        )
        .unwrap();
        let reports = run.run(&clients, |_| {}).unwrap();
        (outcome(&reports), bits(run.global_weights()))
    };
    let sequential = run(false);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    let parallel = pool.install(|| run(true));
    assert_eq!(sequential, parallel);
    assert!(
        sequential.0.iter().any(|s| s.3 > 0),
        "some replies are stale: {:?}",
        sequential.0
    );
}

#[test]
fn a_run_resumed_from_a_checkpoint_equals_the_uninterrupted_run() {
    let (clients, _) = population();
    let new = || {
        FedBuff::new(
            Digits::with_seed(0),
            fed_config(9, lognormal(), true),
            fedbuff(7, 2, Staleness::FEDBUFF),
        )
        .unwrap()
    };
    let mut whole = new();
    let all = whole.run(&clients, |_| {}).unwrap();

    let mut first = new();
    for _ in 0..4 {
        first.run_step(&clients).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fedbuff.safetensors");
    first.save_checkpoint(&path).unwrap();
    let mut resumed = FedBuff::new(
        Digits::with_seed(3),
        fed_config(9, lognormal(), true),
        fedbuff(7, 2, Staleness::FEDBUFF),
    )
    .unwrap();
    resumed.restore_checkpoint(&path).unwrap();
    assert_eq!(resumed.state(), first.state());
    let rest = resumed.run(&clients, |_| {}).unwrap();
    assert_eq!(outcome(&rest), outcome(&all[4..]));
    assert_eq!(bits(resumed.global_weights()), bits(whole.global_weights()));
    assert_eq!(resumed.state(), whole.state());
}

#[test]
fn simulated_time_strictly_advances_and_concurrency_is_held() {
    let (clients, test) = population();
    let mut run = FedBuff::new(
        Digits::with_seed(0),
        fed_config(10, lognormal(), true),
        fedbuff(5, 2, Staleness::FEDBUFF),
    )
    .unwrap()
    .with_evaluation_data(test);
    let mut last = None;
    while run.steps_completed() < 10 {
        let step = run.run_step(&clients).unwrap();
        assert!(
            last.is_none_or(|t| step.time > t),
            "{:?} after {last:?}",
            step.time
        );
        let since = step.time.saturating_since(last.unwrap_or(SimTime::ZERO));
        assert_eq!(step.report.sim_duration, since);
        last = Some(step.time);
        // The reply that filled the buffer left one slot free; every other client
        // is in flight, started at or before now and replying at or after it.
        let in_flight = run.in_flight();
        assert_eq!(in_flight.len(), 4);
        assert!(in_flight
            .iter()
            .all(|t| t.start <= step.time && t.finish >= step.time));
        assert!(step.mean_staleness <= step.max_staleness as f64);
        assert_eq!(step.report.counts.succeeded, 2);
        assert!(step.report.eval.is_some());
    }
}

#[test]
fn replies_staler_than_the_limit_are_dropped() {
    let (clients, _) = population();
    let config = FedBuffConfig::builder()
        .concurrency(10)
        .buffer(1)
        .max_staleness(2)
        .build()
        .unwrap();
    let mut run = FedBuff::new(
        Digits::with_seed(0),
        fed_config(12, lognormal(), true),
        config,
    )
    .unwrap();
    let reports = run.run(&clients, |_| {}).unwrap();
    assert!(reports.iter().all(|s| s.max_staleness <= 2));
    let dropped: usize = reports.iter().map(|s| s.stale_dropped).sum();
    assert!(dropped > 0, "10 in flight, a step per reply: some go stale");
    assert!(reports
        .iter()
        .all(|s| s.report.counts.sampled == 1 + s.stale_dropped
            && s.report.counts.discarded == s.stale_dropped));
}

#[test]
fn settings_fedbuff_cannot_honour_are_typed_errors() {
    let (clients, _) = population();
    let adam = FedConfig::builder()
        .server_optimizer(ServerOptimizer::adam(0.01))
        .build()
        .unwrap();
    let err = FedBuff::new(
        Digits::with_seed(0),
        adam,
        fedbuff(2, 1, Staleness::FEDBUFF),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            FedBuffError::Unsupported {
                setting: "server_optimizer",
                ..
            }
        ),
        "{err}"
    );
    let mut too_many = FedBuff::new(
        Digits::with_seed(0),
        fed_config(1, SpeedModel::default(), true),
        fedbuff(21, 1, Staleness::FEDBUFF),
    )
    .unwrap();
    assert_eq!(
        too_many.run_step(&clients).unwrap_err().to_string(),
        "FedBuff's `concurrency` is 21 but the population holds only 20 clients"
    );
}

#[test]
fn failed_clients_are_counted_when_accepted_and_stop_the_run_otherwise() {
    use feddx::federated::Faults;
    let (clients, _) = population();
    let config = |accept| {
        feddx::federated::FedConfigBuilder::from(fed_config(6, lognormal(), true))
            .faults(Faults {
                dropout: 0.3,
                ..Faults::default()
            })
            .accept_failures(accept)
            .build()
            .unwrap()
    };
    let mut lenient = FedBuff::new(
        Digits::with_seed(0),
        config(true),
        fedbuff(5, 2, Staleness::FEDBUFF),
    )
    .unwrap();
    let reports = lenient.run(&clients, |_| {}).unwrap();
    let failed: usize = reports.iter().map(|s| s.report.counts.failed).sum();
    assert!(failed > 0);
    for s in &reports {
        let c = s.report.counts;
        assert_eq!(c.succeeded, 2);
        assert_eq!(c.sampled, c.succeeded + c.failed);
        assert_eq!(s.report.failures.len(), c.failed);
        assert!(s
            .report
            .failures
            .iter()
            .all(|(_, e)| *e == feddx::FeddxError::ClientDroppedOut));
    }

    let mut strict = FedBuff::new(
        Digits::with_seed(0),
        config(false),
        fedbuff(5, 2, Staleness::FEDBUFF),
    )
    .unwrap();
    let err = strict.run(&clients, |_| {}).unwrap_err();
    assert!(
        matches!(&err, feddx::FeddxError::ClientUpdate { source, .. } if **source == feddx::FeddxError::ClientDroppedOut),
        "{err}"
    );
    // The failing reply is left in place: the run stays where it was.
    let stuck = strict.state();
    assert_eq!(strict.run_step(&clients).unwrap_err(), err);
    assert_eq!(strict.state(), stuck);
}
