//! What the round benchmarks share: whole rounds of a simulation, timed from the
//! same start each time, with the clients in parallel and in turn.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::BenchmarkGroup;
use feddx::federated::{ClientDataOf, RoundReport, Simulation};
use feddx::FederatedModel;

/// Benches `whole_round/parallel` and `whole_round/sequential`: `simulation(parallel)`
/// runs one round over `clients` from its initial state, again and again. The first
/// round's report goes to `check` and its own time split to stderr.
pub fn whole_rounds<M: FederatedModel>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    simulation: impl Fn(bool) -> Simulation<M>,
    clients: &[ClientDataOf<M>],
    check: impl Fn(&RoundReport),
) {
    for (name, parallel) in [
        ("whole_round/parallel", true),
        ("whole_round/sequential", false),
    ] {
        let mut sim = simulation(parallel);
        let start = sim.state();
        let report = sim.run_round(clients).expect("the round runs");
        check(&report);
        eprintln!(
            "{name}: one round's own split: wall {:?}, clients {:?}, aggregation {:?}",
            report.wall_time, report.client_time, report.aggregation_time
        );
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    sim.restore(start.clone()).expect("the initial state fits");
                    let t = Instant::now();
                    black_box(sim.run_round(clients).expect("the round runs"));
                    total += t.elapsed();
                }
                total
            })
        });
    }
}
