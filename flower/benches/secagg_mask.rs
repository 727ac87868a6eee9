//! The masked vector a SecAgg+ node uploads ([`masked_parameters`]), with 2 neighbours:
//! scaling, quantisation with stochastic rounding (draws from `StdRng`, the
//! cryptographic generator a node passes), the private mask and two pairwise masks
//! from numpy's `RandomState`, the modulus and the `.npy` bytes.
//!
//! ```text
//! cargo bench -p feddx-flower --bench secagg_mask
//! ```
//!
//! - `digits_mlp`: the digits example's MLP, `Linear<64, 32>` and `Linear<32, 10>`:
//!   2,410 weights;
//! - `1m_weights`: a 1000 x 1000 matrix and its 1000 biases: 1,001,000 weights.
//!
//! Criterion reports weights per second (`Throughput::Elements`).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use feddx_flower::secagg::masking::{masked_parameters, MaskSettings};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The arrays of a model with these shapes, filled with small random weights.
fn model(shapes: &[&[usize]], rng: &mut StdRng) -> Vec<(Vec<usize>, Vec<f32>)> {
    shapes
        .iter()
        .map(|shape| {
            let count = shape.iter().product();
            let values = (0..count).map(|_| rng.gen_range(-0.5f32..0.5)).collect();
            (shape.to_vec(), values)
        })
        .collect()
}

fn secagg_mask(c: &mut Criterion) {
    // SecAggPlusWorkflow's defaults.
    let settings = MaskSettings {
        clipping_range: 8.0,
        target_range: 1 << 22,
        mod_range: 1 << 32,
        max_weight: 1000.0,
    };
    let mut rng = StdRng::seed_from_u64(0);
    let rd_seed: Vec<u8> = (0..32).map(|_| rng.gen()).collect();
    // Flower's pairwise keys are 44 bytes: a url-safe base64 Fernet key.
    let pairwise: Vec<(u64, Vec<u8>)> = [5, 1 << 62]
        .into_iter()
        .map(|id| (id, (0..44).map(|_| rng.gen()).collect()))
        .collect();
    let own_id = 1 << 40;

    let mut group = c.benchmark_group("secagg_mask");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4));
    let digits: &[&[usize]] = &[&[32, 64], &[32], &[10, 32], &[10]];
    let big: &[&[usize]] = &[&[1000, 1000], &[1000]];
    for (name, shapes) in [("digits_mlp", digits), ("1m_weights", big)] {
        let params = model(shapes, &mut rng);
        let weights: usize = params.iter().map(|(_, v)| v.len()).sum();
        group.throughput(Throughput::Elements(weights as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                masked_parameters(
                    &params, 120, &settings, own_id, &rd_seed, &pairwise, &mut rng,
                )
                .expect("valid settings")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, secagg_mask);
criterion_main!(benches);
