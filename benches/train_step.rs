//! One training step of a `#[federated_model]` against the same model written by hand
//! in dfdx.
//!
//! ```text
//! cargo bench --bench train_step
//! ```
//!
//! A step is a forward pass over a traced batch of 32 digits (64 pixels each), the
//! loss, `backward`, an SGD update and `zero_grads`. Both sides of a group have the
//! same module type, the same initial weights (built from one seeded device), the same
//! batch (built once and cloned per step, which clones an `Arc`) and the same
//! optimiser, and neither updates metrics. Both start each step from the batch's
//! integer labels (`Vec<usize>`) and make the index tensor that `select` needs, as a
//! training loop over changing batches must. What the generated side adds is what
//! its `forward_pass` does besides the hand-written ops: the batch-size and
//! label-range checks, and the detached predictions.
//!
//! Before timing, one step of each side is checked to give the same weights, bit for
//! bit, so the two do the same arithmetic.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use feddx::data::datasets;
use feddx::prelude::*;
use feddx::weights::flat_weights;

type Mlp = (Linear<64, 32>, ReLU, Linear<32, 10>);
type TwoHeadNet = (
    (Linear<64, 32>, ReLU),
    SplitInto<(Linear<32, 10>, Linear<32, 1>)>,
);

/// The digit classifier of the examples.
#[federated_model(
    input_spec = (Features<64>, ClassLabels),
    loss = SparseCategoricalCrossentropy,
    metrics = [SparseCategoricalAccuracy],
)]
struct Digits {
    net: Built<Mlp>,
}

/// Digit and parity from the same pixels, the parity loss weighing half.
#[federated_model(
    input_spec = (Features<64>, (ClassLabels, Targets<1>)),
    outputs(digit, parity),
    loss(digit = SparseCategoricalCrossentropy, parity = BinaryCrossentropy),
    loss_weights(digit = 1.0, parity = 0.5),
    metrics(digit = [SparseCategoricalAccuracy], parity = [BinaryAccuracy::default()]),
)]
struct DigitParity {
    net: Built<TwoHeadNet>,
}

const BATCH: usize = 32;
const SEED: u64 = 0;

fn sgd_config() -> SgdConfig {
    SgdConfig {
        lr: 0.1,
        momentum: None,
        weight_decay: None,
    }
}

/// The first `BATCH` examples of the digits training split.
fn digits_batch(dev: &Cpu) -> (Batch<64>, Vec<usize>) {
    let (train, _) = datasets::digits()
        .and_then(|d| d.train_test_split(0.2, SEED))
        .expect("the bundled digits load");
    let rows: Vec<usize> = (0..BATCH).collect();
    train.to_client_data().batch_of(&rows, dev)
}

/// The same batch with the parity of each digit as a second label.
fn two_head_batch(dev: &Cpu) -> (Batch<64>, (Vec<usize>, Batch<1>)) {
    let (x, digits) = digits_batch(dev);
    let parity: Vec<f32> = digits.iter().map(|&d| (d % 2) as f32).collect();
    let parity = dev.tensor_from_vec(parity, (BATCH, Const::<1>));
    (x, (digits, parity))
}

fn bits(w: &[f32]) -> Vec<u32> {
    w.iter().map(|v| v.to_bits()).collect()
}

/// A `#[federated_model]`, its optimiser and the gradients kept between steps.
struct Generated<M: FederatedModel> {
    model: M,
    opt: Sgd<M::Module, f32, Cpu>,
    grads: Option<Gradients<f32, Cpu>>,
}

impl<M> Generated<M>
where
    M: FederatedModel,
    M::Module: TensorCollection<f32, Cpu>,
{
    fn new(model: M) -> Self {
        Generated {
            opt: Sgd::new(model.module(), sgd_config()),
            grads: Some(model.module().alloc_grads()),
            model,
        }
    }

    fn step(&mut self, x: &FeatureBatch<M::Features>, y: &LabelBatch<M>) {
        let grads = self.grads.take().expect("gradients are put back");
        let out = self
            .model
            .forward_pass(x.clone().traced(grads), y)
            .expect("a valid batch");
        let mut grads = out.loss.backward();
        self.opt
            .update(self.model.module_mut(), &grads)
            .expect("every weight has a gradient");
        self.model.module().zero_grads(&mut grads);
        self.grads = Some(grads);
    }

    fn weights(&self) -> Vec<u32> {
        bits(&self.model.weights_vec())
    }
}

/// A dfdx module, its optimiser and the gradients kept between steps.
struct HandWritten<Net> {
    net: Net,
    opt: Sgd<Net, f32, Cpu>,
    grads: Option<Gradients<f32, Cpu>>,
}

impl<Net: TensorCollection<f32, Cpu>> HandWritten<Net> {
    fn new(net: Net) -> Self {
        HandWritten {
            opt: Sgd::new(&net, sgd_config()),
            grads: Some(net.alloc_grads()),
            net,
        }
    }

    /// One step on the loss that `loss` computes from the module and the gradients
    /// to trace into.
    fn step(&mut self, loss: impl FnOnce(&Net, Gradients<f32, Cpu>) -> Scalar<Traced>) {
        let grads = self.grads.take().expect("gradients are put back");
        let mut grads = loss(&self.net, grads).backward();
        self.opt
            .update(&mut self.net, &grads)
            .expect("every weight has a gradient");
        self.net.zero_grads(&mut grads);
        self.grads = Some(grads);
    }

    fn weights(&self) -> Vec<u32> {
        bits(&flat_weights(&self.net))
    }
}

fn mlp(c: &mut Criterion) {
    let dev = Cpu::seed_from_u64(SEED);
    let (x, y) = digits_batch(&dev);
    let loss = |net: &Built<Mlp>, grads| {
        let labels = dev.tensor_from_vec(y.clone(), (BATCH,));
        net.forward(x.clone().traced(grads))
            .log_softmax::<Axis<1>>()
            .select(labels)
            .mean()
            .negate()
    };

    let mut generated = Generated::new(Digits::build(&Cpu::seed_from_u64(SEED)));
    let mut hand_written = HandWritten::new(Cpu::seed_from_u64(SEED).build_module::<Mlp, f32>());
    assert_eq!(
        generated.weights(),
        hand_written.weights(),
        "same initial weights"
    );
    generated.step(&x, &y);
    hand_written.step(loss);
    assert_eq!(
        generated.weights(),
        hand_written.weights(),
        "one step of each gives the same weights"
    );

    let mut group = c.benchmark_group("train_step/mlp_64_32_10_batch_32");
    group.bench_function("generated", |b| b.iter(|| generated.step(&x, &y)));
    group.bench_function("hand_written", |b| b.iter(|| hand_written.step(loss)));
    group.finish();
    black_box((generated.weights(), hand_written.weights()));
}

fn two_heads(c: &mut Criterion) {
    let dev = Cpu::seed_from_u64(SEED);
    let (x, y) = two_head_batch(&dev);
    let loss = |net: &Built<TwoHeadNet>, grads| {
        let labels = dev.tensor_from_vec(y.0.clone(), (BATCH,));
        let (digit, odd) = net.forward(x.clone().traced(grads));
        let l0 = digit
            .log_softmax::<Axis<1>>()
            .select(labels)
            .mean()
            .negate();
        let l1 = binary_cross_entropy_with_logits_loss(odd, y.1.clone());
        l0 + l1 * 0.5
    };

    let mut generated = Generated::new(DigitParity::build(&Cpu::seed_from_u64(SEED)));
    let mut hand_written =
        HandWritten::new(Cpu::seed_from_u64(SEED).build_module::<TwoHeadNet, f32>());
    assert_eq!(
        generated.weights(),
        hand_written.weights(),
        "same initial weights"
    );
    generated.step(&x, &y);
    hand_written.step(loss);
    assert_eq!(
        generated.weights(),
        hand_written.weights(),
        "one step of each gives the same weights"
    );

    let mut group = c.benchmark_group("train_step/two_heads_64_32_10_and_1_batch_32");
    group.bench_function("generated", |b| b.iter(|| generated.step(&x, &y)));
    group.bench_function("hand_written", |b| b.iter(|| hand_written.step(loss)));
    group.finish();
    black_box((generated.weights(), hand_written.weights()));
}

criterion_group!(benches, mlp, two_heads);
criterion_main!(benches);
