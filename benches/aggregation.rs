//! The weighted mean of 100 client vectors of 1M `f32` each, next to what the
//! machine's memory can deliver, and the Byzantine-robust aggregators on the same
//! vectors.
//!
//! ```text
//! cargo bench --bench aggregation
//! ```
//!
//! Every benchmark reads the same 100 x 4 MB = 400 MB and reports its throughput
//! over those 400 MB (`Throughput::Bytes`, so criterion prints GiB/s):
//!
//! - `weighted_mean`: [`federated::weighted_mean`], which allocates its output;
//! - `weighted_mean_into`: [`federated::weighted_mean_into`] into a reused output;
//! - `read_sum/N_threads`: the bandwidth ceiling for reading, a sum of every vector
//!   with 16 independent accumulators (so it vectorises), on rayon's `N` threads
//!   (the pool the mean runs on, one thread per core) or on one thread;
//! - `iter_sum/1_thread`: the same sum as `iter().sum::<f32>()`, one dependent add
//!   after another, which the compiler may not reorder;
//! - `copy/N_threads`: `copy_from_slice` of every vector into a second set of 400 MB
//!   (reads 400 MB and writes 400 MB).
//!
//! The mean is memory-bound: it reads each input once and keeps its output chunk in
//! cache, so it should run close to `read_sum` on the same number of threads.
//!
//! The robust aggregators ([`federated::aggregators`]), each to compare with
//! `weighted_mean_into`:
//!
//! - `median`: [`coordinate_median_into`](federated::aggregators::coordinate_median_into);
//! - `trimmed_mean/beta_0.1`: [`trimmed_mean_into`](federated::aggregators::trimmed_mean_into),
//!   10 values trimmed from each side of every coordinate;
//! - `pairwise_squared_distances`: the 4950 distances of 1M coordinates, Krum's cost;
//! - `krum_scores/f_10`: [`krum_scores`](federated::aggregators::krum_scores), the
//!   distances and the scores from them;
//! - `bulyan/f_10`: [`bulyan_into`](federated::aggregators::bulyan_into), the
//!   distances, 80 Krum selections and a coordinate-wise step over the 80 selected.
//!
//! - `dp_mean/clip_1_z_1`: DP-FedAvg's whole chain
//!   ([`Aggregation`](federated::aggregators::Aggregation) with a fixed clip of 1 and
//!   noise multiplier 1): every update's norm checked (non-finite, zeroing), norms
//!   again and scaling for the clip, the unweighted sum, and 1M Gaussian draws; the
//!   updates it takes by value are cloned outside the timing.
//!
//! The coordinate-wise kernels read the 400 MB once, like the mean, but select in
//! each coordinate instead of adding; the distances do `n (n - 1) / 2 * d` = 4.95e9
//! subtract-square-adds on data read once from memory and then from the cache.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode, Throughput};
use feddx::federated;
use feddx::federated::aggregators::{
    self, Aggregation, Clipping, Contribution, RoundContext, Tally,
};
use feddx::federated::NoiseKey;
use rayon::prelude::*;

const CLIENTS: usize = 100;
const LEN: usize = 1_000_000;
const BYTES: u64 = (CLIENTS * LEN * std::mem::size_of::<f32>()) as u64;
const LANES: usize = 16;
/// Byzantine clients the robust aggregators tolerate: a tenth, as the trimmed mean's beta.
const BYZANTINE: usize = 10;

/// 100 distinct deterministic vectors of values in `[-0.5, 0.5)`.
fn client_vectors() -> Vec<Vec<f32>> {
    (0..CLIENTS)
        .map(|k| {
            (0..LEN)
                .map(|i| ((i * 31 + k * 7) % 101) as f32 / 101.0 - 0.5)
                .collect()
        })
        .collect()
}

/// Sum of `v` over `LANES` independent accumulators.
fn lane_sum(v: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let mut chunks = v.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (a, x) in acc.iter_mut().zip(chunk) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

fn aggregation(c: &mut Criterion) {
    let threads = rayon::current_num_threads();
    let vectors = client_vectors();
    let refs: Vec<&[f32]> = vectors.iter().map(Vec::as_slice).collect();
    let weights: Vec<f64> = (1..=CLIENTS).map(|k| (k * 10) as f64).collect();
    let mut out = vec![0.0f32; LEN];
    let mut copies: Vec<Vec<f32>> = vec![vec![0.0; LEN]; CLIENTS];

    let mean = federated::weighted_mean(&refs, &weights).expect("valid inputs");
    federated::weighted_mean_into(&refs, &weights, &mut out).expect("valid inputs");
    assert_eq!(mean, out);

    let mut group = c.benchmark_group("aggregation/100_clients_x_1M_f32");
    group
        .throughput(Throughput::Bytes(BYTES))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));

    group.bench_function("weighted_mean", |b| {
        b.iter(|| federated::weighted_mean(black_box(&refs), black_box(&weights)))
    });
    group.bench_function("weighted_mean_into", |b| {
        b.iter(|| federated::weighted_mean_into(black_box(&refs), black_box(&weights), &mut out))
    });
    group.bench_function(format!("read_sum/{threads}_threads"), |b| {
        b.iter(|| {
            vectors
                .par_iter()
                .map(|v| lane_sum(black_box(v)))
                .sum::<f32>()
        })
    });
    group.bench_function("read_sum/1_thread", |b| {
        b.iter(|| vectors.iter().map(|v| lane_sum(black_box(v))).sum::<f32>())
    });
    group.bench_function("iter_sum/1_thread", |b| {
        b.iter(|| {
            vectors
                .iter()
                .map(|v| black_box(v).iter().sum::<f32>())
                .sum::<f32>()
        })
    });
    group.bench_function(format!("copy/{threads}_threads"), |b| {
        b.iter(|| {
            copies
                .par_iter_mut()
                .zip(&vectors)
                .for_each(|(dst, src)| dst.copy_from_slice(src));
            black_box(&copies);
        })
    });
    group.bench_function("median", |b| {
        b.iter(|| aggregators::coordinate_median_into(black_box(&refs), &mut out))
    });
    group.bench_function("trimmed_mean/beta_0.1", |b| {
        b.iter(|| aggregators::trimmed_mean_into(black_box(&refs), 0.1, &mut out))
    });
    group.bench_function("pairwise_squared_distances", |b| {
        b.iter(|| aggregators::pairwise_squared_distances(black_box(&refs)))
    });
    group.bench_function(format!("krum_scores/f_{BYZANTINE}"), |b| {
        b.iter(|| aggregators::krum_scores(black_box(&refs), BYZANTINE))
    });
    group.bench_function(format!("bulyan/f_{BYZANTINE}"), |b| {
        b.iter(|| aggregators::bulyan_into(black_box(&refs), BYZANTINE, &mut out))
    });
    let contributions: Vec<Contribution> = vectors
        .iter()
        .enumerate()
        .map(|(client, v)| Contribution {
            client,
            delta: v.clone(),
            weight: 1.0,
        })
        .collect();
    let dp = Aggregation {
        clipping: Some(Clipping::Fixed { norm: 1.0 }),
        noise_multiplier: Some(1.0),
        ..Aggregation::default()
    };
    let mut chain = dp.build();
    let round = RoundContext {
        round: 1,
        sampled: CLIENTS,
        expected_clients: CLIENTS as f64,
        min_updates: 1,
        failed: 0,
        // A fresh key from the operating system, as a private run draws each round.
        noise_key: NoiseKey::from_os(),
    };
    group.bench_function("dp_mean/clip_1_z_1", |b| {
        b.iter_batched(
            || contributions.clone(),
            |updates| {
                let mut tally = Tally::default();
                chain
                    .aggregate(&round, updates, &mut out, &mut tally)
                    .expect("valid inputs");
                tally
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, aggregation);
criterion_main!(benches);
