//! One training step of a `#[federated_model]` against the same model written by hand
//! in dfdx.
//!
//! ```text
//! cargo bench --bench train_step
//! ```
//!
//! A step is a forward pass over a traced batch of 32 digits (64 pixels each, or one
//! 8x8 channel for the conv net of the `digits_cnn` example), the loss, `backward`, an SGD update and `zero_grads`. Both sides of a group have the
//! same module type, the same initial weights (built from one seeded device), the same
//! batch (built once and cloned per step, which clones an `Arc`) and the same
//! optimiser, and neither updates metrics: the generated side steps on
//! `FederatedModel::training_loss`. Both start each step from the batch's
//! integer labels (`Vec<usize>`) and make the index tensor that `select` needs, as a
//! training loop over changing batches must. What the generated side adds is what
//! its `training_loss` does besides the hand-written ops: the batch-size and
//! label-range checks. A third line, `generated_keeping_predictions`, steps on
//! `forward_pass`, which keeps a tape-free handle on the outputs for metrics: the
//! loss ops then cannot reuse the outputs' buffer and copy it.
//!
//! Before timing, one step of each side is checked to give the same weights, bit for
//! bit, so the two do the same arithmetic.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use feddx::prelude::*;

mod common;
use common::*;

/// One group: the generated step, the hand-written one, and `forward_pass`'s.
fn compare<M, Net>(
    c: &mut Criterion,
    name: &str,
    build: fn(&Cpu) -> M,
    loss: impl Fn(&Net, Gradients<f32, Cpu>) -> Scalar<Traced>,
    x: &FeatureBatch<M::Features>,
    y: &LabelBatch<M>,
) where
    M: FederatedModel<Module = Net>,
    Net: TensorCollection<f32, Cpu> + Clone,
{
    let (mut generated, mut hand_written) = same_start(build, &loss, x, y);
    let mut group = c.benchmark_group(name);
    group.bench_function("generated", |b| b.iter(|| generated.step(x, y)));
    group.bench_function("hand_written", |b| b.iter(|| hand_written.step(&loss)));
    group.bench_function("generated_keeping_predictions", |b| {
        b.iter(|| generated.step_keeping_predictions(x, y))
    });
    group.finish();
    black_box((generated.weights(), hand_written.weights()));
}

fn mlp(c: &mut Criterion) {
    let dev = Cpu::seed_from_u64(SEED);
    let (x, y) = digits_batch(&dev);
    let loss = mlp_loss(&dev, &x, &y);
    compare(
        c,
        "train_step/mlp_64_32_10_batch_32",
        Digits::build,
        loss,
        &x,
        &y,
    );
}

fn cnn(c: &mut Criterion) {
    let dev = Cpu::seed_from_u64(SEED);
    let (x, y) = digits_image_batch(&dev);
    let loss = cnn_loss(&dev, &x, &y);
    let name = "train_step/cnn_conv16_pool_256_64_10_batch_32";
    compare(c, name, DigitsCnn::build, loss, &x, &y);
}

fn two_heads(c: &mut Criterion) {
    let dev = Cpu::seed_from_u64(SEED);
    let (x, y) = two_head_batch(&dev);
    let loss = two_heads_loss(&dev, &x, &y);
    let name = "train_step/two_heads_64_32_10_and_1_batch_32";
    compare(c, name, DigitParity::build, loss, &x, &y);
}

criterion_group!(benches, mlp, two_heads, cnn);
criterion_main!(benches);
