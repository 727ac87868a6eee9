//! Stragglers, availability and over-selection in the synchronous engine, on the
//! simulated clock: FedProx's partial work against FedAvg's drop, Bonawitz et al.'s
//! over-selection, per-client speeds from a trace file; each reproducible, parallel
//! equal to sequential, and resumable.

use std::time::Duration;

use feddx::data::ClientData;
use feddx::federated::{
    Algorithm, Availability, ClientsPerRound, ConfigError, FedConfig, FedConfigBuilder,
    RoundReport, SimDuration, Simulation, SpeedModel, SpeedTrace, StragglerPolicy,
};
use feddx::prelude::*;

#[federated_model(
    input_spec = (Features<4>, ClassLabels),
    loss = SparseCategoricalCrossentropy,
    metrics = [SparseCategoricalAccuracy],
)]
struct Small {
    net: Built<(Linear<4, 8>, ReLU, Linear<8, 3>)>,
}

type Data = ClientData<Features<4>, ClassLabels>;

/// 30 clients of 4 to 12 examples: the class is the largest of the first three
/// features, each client's features shifted its own way.
fn population() -> Vec<Data> {
    (0..30u32)
        .map(|k| {
            let n = 4 + (k as usize * 7) % 9;
            (0..n)
                .map(|i| {
                    let v = |j: u32| ((k * 31 + i as u32 * 17 + j * 13) % 23) as f32 / 11.0 - 1.0;
                    let x = [v(0), v(1), v(2), v(3) + k as f32 / 30.0];
                    let label = (0..3).max_by(|&a, &b| x[a].total_cmp(&x[b])).unwrap_or(0);
                    (x, label)
                })
                .collect()
        })
        .collect()
}

/// Steps of 10 ms median, log-normal with sigma 1, and a deadline of 8 steps'
/// median time: 10 clients a round, E = 2, B = 4.
fn settings() -> FedConfigBuilder {
    FedConfig::builder()
        .rounds(4)
        .clients_per_round(ClientsPerRound::Count(10))
        .local_epochs(2)
        .batch_size(4)
        .client_learning_rate(0.05)
        .seed(17)
        .speed(SpeedModel::LogNormal {
            median: SimDuration::from_millis(10),
            sigma: 1.0,
        })
        .round_deadline(Duration::from_millis(80))
        .accept_failures(true)
}

fn bits(w: &[f32]) -> Vec<u32> {
    w.iter().map(|x| x.to_bits()).collect()
}

/// The reports and final weights of a run of `config`, on a pool of 3 threads when
/// parallel.
fn run(config: FedConfig) -> (Vec<RoundReport>, Vec<u32>) {
    let clients = population();
    let mut sim = Simulation::new(Small::with_seed(0), config);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    let reports = pool.install(|| sim.run(&clients, |_| {})).unwrap();
    (reports, bits(sim.global_weights()))
}

/// What a report says that the run decided (not the wall-clock times).
fn decided(r: &RoundReport) -> String {
    format!(
        "{} {:?} {:?} {:?} {} {:?} {}",
        r.round, r.clients, r.counts, r.failures, r.num_examples, r.sim_duration, r.local_steps
    )
}

#[test]
fn fedprox_stragglers_send_partial_work_where_fedavg_drops_them() {
    let clients = population();
    let fedavg = settings().build().unwrap();
    let fedprox = settings()
        .algorithm(Algorithm::FedProx { mu: 1.0 })
        .stragglers(StragglerPolicy::PartialWork)
        .build()
        .unwrap();
    let (dropping, _) = run(fedavg.clone());
    let (partial, _) = run(fedprox.clone());
    let total = |reports: &[RoundReport], f: fn(&RoundReport) -> usize| -> usize {
        reports.iter().map(f).sum()
    };
    let dropped = total(&dropping, |r| r.counts.stragglers_dropped);
    assert!(dropped > 0, "the deadline drops someone");
    assert_eq!(total(&dropping, |r| r.counts.stragglers_partial), 0);
    assert!(total(&partial, |r| r.counts.stragglers_partial) > 0);
    assert!(total(&partial, |r| r.counts.stragglers_dropped) < dropped);

    // The same clients are sampled; each kept update's steps are counted: with
    // FedAvg every kept client made all its steps, E * ceil(n / B).
    let training = fedavg.local_training();
    for (d, p) in dropping.iter().zip(&partial) {
        assert_eq!(d.clients, p.clients);
        let full: u64 = d
            .clients
            .iter()
            .filter(|c| !d.failures.iter().any(|(f, _)| f == *c))
            .map(|&c| training.steps(clients[c].len()) as u64)
            .sum();
        assert_eq!(d.local_steps, full);
        assert_eq!(d.counts.succeeded + d.counts.failed, d.counts.sampled);
        // A round that dropped someone waited until the deadline; none waits longer.
        assert!(p.sim_duration <= SimDuration::from_millis(80));
        if d.counts.stragglers_dropped > 0 {
            assert_eq!(d.sim_duration, SimDuration::from_millis(80));
        }
    }
    // Partial work: more updates, fewer steps than full work for the stragglers.
    let partial_steps: u64 = partial.iter().map(|r| r.local_steps).sum();
    let full_steps_of_all: u64 = partial
        .iter()
        .flat_map(|r| r.clients.iter())
        .map(|&c| training.steps(clients[c].len()) as u64)
        .sum();
    assert!(partial_steps < full_steps_of_all);
}

#[test]
fn over_selection_keeps_exactly_m_the_first_to_finish() {
    let config = settings()
        .over_selection(1.3)
        .stragglers(StragglerPolicy::PartialWork)
        .build()
        .unwrap();
    let (reports, weights) = run(config.clone());
    let clients = population();
    let training = config.local_training();
    for (index, r) in reports.iter().enumerate() {
        assert_eq!(r.clients.len(), 13, "ceil(1.3 * 10)");
        let c = r.counts;
        assert_eq!(c.succeeded, 10, "{c:?}");
        assert_eq!(c.succeeded + c.failed + c.discarded, 13);
        // The simulated duration of each client, worked out from the speed model:
        // the kept are the 10 fastest of those that finished.
        // A straggler makes the whole steps that fit the 80 ms deadline.
        let duration = |client: usize| {
            let step = config.speed().step_duration(config.seed(), client, index);
            let steps = training.steps(clients[client].len()) as u64;
            let fit = (80_000 / step.as_micros().max(1)).min(steps);
            step.saturating_mul(fit)
        };
        let finished: Vec<usize> = r
            .clients
            .iter()
            .copied()
            .filter(|k| !r.failures.iter().any(|(f, _)| f == k))
            .collect();
        let mut by_time = finished.clone();
        by_time.sort_by_key(|&k| (duration(k), k));
        let slowest_kept = duration(by_time[9]);
        assert_eq!(r.sim_duration, slowest_kept);
        for &k in &by_time[10..] {
            assert!(duration(k) >= slowest_kept);
        }
    }
    // Reproducible, and parallel equals sequential.
    let (again, same) = run(config.clone());
    assert_eq!(same, weights);
    let sequential = FedConfigBuilder::from(config)
        .parallel(false)
        .build()
        .unwrap();
    let (seq, seq_weights) = run(sequential);
    assert_eq!(seq_weights, weights);
    let show = |rs: &[RoundReport]| rs.iter().map(decided).collect::<Vec<_>>();
    assert_eq!(show(&seq), show(&reports));
    assert_eq!(show(&again), show(&reports));
}

#[test]
fn a_resumed_run_with_stragglers_continues_bit_for_bit() {
    let config = settings()
        .stragglers(StragglerPolicy::PartialWork)
        .over_selection(1.3)
        .availability(Availability::Bernoulli(0.7))
        .build()
        .unwrap();
    let clients = population();
    let mut straight = Simulation::new(Small::with_seed(0), config.clone());
    let all = straight.run(&clients, |_| {}).unwrap();

    let mut first = Simulation::new(Small::with_seed(0), config.clone());
    first.run_round(&clients).unwrap();
    first.run_round(&clients).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.safetensors");
    first.save_checkpoint(&path).unwrap();
    let mut resumed = Simulation::new(Small::with_seed(5), config);
    resumed.restore_checkpoint(&path).unwrap();
    let rest = resumed.run(&clients, |_| {}).unwrap();
    assert_eq!(
        rest.iter().map(decided).collect::<Vec<_>>(),
        all[2..].iter().map(decided).collect::<Vec<_>>()
    );
    assert_eq!(
        bits(resumed.global_weights()),
        bits(straight.global_weights())
    );
    // Every round sampled only clients available in it.
    let availability = Availability::Bernoulli(0.7);
    for r in &all {
        assert!(r
            .clients
            .iter()
            .all(|&c| availability.is_available(17, r.round - 1, c)));
    }
}

#[test]
fn speeds_from_a_trace_file_decide_who_misses_the_deadline() {
    // Clients 0..15 take 5 ms a step, 15..30 take 60 ms: with a 100 ms deadline,
    // 2 to 6 steps each, exactly the slow half misses it.
    let steps: Vec<SimDuration> = (0..30)
        .map(|k| SimDuration::from_millis(if k < 15 { 5 } else { 60 }))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("speeds.txt");
    SpeedTrace::new(steps)
        .unwrap()
        .write_to_file(&path)
        .unwrap();
    let trace = SpeedTrace::from_file(&path).unwrap();
    let config = settings()
        .speed(SpeedModel::Trace(trace.clone()))
        .round_deadline(Duration::from_millis(100))
        .build()
        .unwrap();
    let (reports, _) = run(config.clone());
    for r in &reports {
        let mut failed: Vec<usize> = r.failures.iter().map(|(k, _)| *k).collect();
        failed.sort_unstable();
        let slow: Vec<usize> = r.clients.iter().copied().filter(|&k| k >= 15).collect();
        assert_eq!(failed, slow, "round {}", r.round);
        assert_eq!(r.counts.stragglers_dropped, slow.len());
    }

    // A trace shorter than the population is refused before the round trains.
    let short = SpeedTrace::parse("0.1\n0.2\n").unwrap();
    let mut sim = Simulation::new(
        Small::with_seed(0),
        FedConfigBuilder::from(config)
            .speed(SpeedModel::Trace(short))
            .build()
            .unwrap(),
    );
    let err = sim.run_round(&population()).unwrap_err();
    assert_eq!(
        err,
        FeddxError::Config(ConfigError::SpeedTraceTooShort {
            clients: 2,
            population: 30
        })
    );
    assert_eq!(sim.rounds_completed(), 0);
}
