//! What the training-step benchmarks share: the two models, their batch, and a
//! step of each written with `#[federated_model]` and by hand in dfdx.
#![allow(dead_code)]

use std::hint::black_box;

use feddx::data::datasets;
use feddx::prelude::*;
use feddx::weights::flat_weights;

pub type Mlp = (Linear<64, 32>, ReLU, Linear<32, 10>);
pub type TwoHeadNet = (
    (Linear<64, 32>, ReLU),
    SplitInto<(Linear<32, 10>, Linear<32, 1>)>,
);

/// The conv net of the `digits_cnn` example, on the digits as 1x8x8 images.
pub type Cnn = (
    (Conv2D<1, 16, 3, 1, 1>, ReLU, MaxPool2D<2, 2>),
    Flatten2D,
    Linear<256, 64>,
    ReLU,
    Linear<64, 10>,
);

/// A batch of 1x8x8 images.
pub type ImageBatch = Tensor<(usize, Const<1>, Const<8>, Const<8>), f32, Cpu>;

/// The digit classifier of the examples.
#[federated_model(
    input_spec = (Features<64>, ClassLabels),
    loss = SparseCategoricalCrossentropy,
    metrics = [SparseCategoricalAccuracy],
)]
pub struct Digits {
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
pub struct DigitParity {
    net: Built<TwoHeadNet>,
}

/// The conv-net digit classifier of the `digits_cnn` example.
#[federated_model(
    input_spec = (Images<1, 8, 8>, ClassLabels),
    loss = SparseCategoricalCrossentropy,
    metrics = [SparseCategoricalAccuracy],
)]
pub struct DigitsCnn {
    net: Built<Cnn>,
}

pub const BATCH: usize = 32;
pub const SEED: u64 = 0;

pub fn sgd_config() -> SgdConfig {
    SgdConfig {
        lr: 0.1,
        momentum: None,
        weight_decay: None,
    }
}

/// The first `BATCH` examples of the digits training split.
pub fn digits_batch(dev: &Cpu) -> (Batch<64>, Vec<usize>) {
    let (train, _) = datasets::digits()
        .and_then(|d| d.train_test_split(0.2, SEED))
        .expect("the bundled digits load");
    let rows: Vec<usize> = (0..BATCH).collect();
    train.to_client_data().batch_of(&rows, dev)
}

/// The same batch as 1x8x8 images.
pub fn digits_image_batch(dev: &Cpu) -> (ImageBatch, Vec<usize>) {
    let (train, _) = datasets::digits()
        .and_then(|d| d.train_test_split(0.2, SEED))
        .expect("the bundled digits load");
    let rows: Vec<usize> = (0..BATCH).collect();
    train.to_image_client_data::<1, 8, 8>().batch_of(&rows, dev)
}

/// The same batch with the parity of each digit as a second label.
pub fn two_head_batch(dev: &Cpu) -> (Batch<64>, (Vec<usize>, Batch<1>)) {
    let (x, digits) = digits_batch(dev);
    let parity: Vec<f32> = digits.iter().map(|&d| (d % 2) as f32).collect();
    let parity = dev.tensor_from_vec(parity, (BATCH, Const::<1>));
    (x, (digits, parity))
}

pub fn bits(w: &[f32]) -> Vec<u32> {
    w.iter().map(|v| v.to_bits()).collect()
}

/// A `#[federated_model]`, its optimiser and the gradients kept between steps.
pub struct Generated<M: FederatedModel> {
    pub model: M,
    opt: Sgd<M::Module, f32, Cpu>,
    grads: Option<Gradients<f32, Cpu>>,
}

impl<M> Generated<M>
where
    M: FederatedModel,
    M::Module: TensorCollection<f32, Cpu>,
{
    pub fn new(model: M) -> Self {
        Generated {
            opt: Sgd::new(model.module(), sgd_config()),
            grads: Some(model.module().alloc_grads()),
            model,
        }
    }

    /// A step on `training_loss`: the loss alone.
    pub fn step(&mut self, x: &FeatureBatch<M::Features>, y: &LabelBatch<M>) {
        let grads = self.grads.take().expect("gradients are put back");
        let loss = self
            .model
            .training_loss(x.clone().traced(grads), y)
            .expect("a valid batch");
        self.finish_step(loss);
    }

    /// A step on `forward_pass`, which also keeps the predictions (for metrics).
    pub fn step_keeping_predictions(&mut self, x: &FeatureBatch<M::Features>, y: &LabelBatch<M>) {
        let grads = self.grads.take().expect("gradients are put back");
        let out = self
            .model
            .forward_pass(x.clone().traced(grads), y)
            .expect("a valid batch");
        black_box(&out.predictions);
        self.finish_step(out.loss);
    }

    fn finish_step(&mut self, loss: Scalar<Traced>) {
        let mut grads = loss.backward();
        self.opt
            .update(self.model.module_mut(), &grads)
            .expect("every weight has a gradient");
        self.model.module().zero_grads(&mut grads);
        self.grads = Some(grads);
    }

    pub fn weights(&self) -> Vec<u32> {
        bits(&self.model.weights_vec())
    }
}

/// A dfdx module, its optimiser and the gradients kept between steps.
pub struct HandWritten<Net> {
    net: Net,
    opt: Sgd<Net, f32, Cpu>,
    grads: Option<Gradients<f32, Cpu>>,
}

impl<Net: TensorCollection<f32, Cpu>> HandWritten<Net> {
    pub fn new(net: Net) -> Self {
        HandWritten {
            opt: Sgd::new(&net, sgd_config()),
            grads: Some(net.alloc_grads()),
            net,
        }
    }

    /// One step on the loss that `loss` computes from the module and the gradients
    /// to trace into.
    pub fn step(&mut self, loss: impl Fn(&Net, Gradients<f32, Cpu>) -> Scalar<Traced>) {
        let grads = self.grads.take().expect("gradients are put back");
        let mut grads = loss(&self.net, grads).backward();
        self.opt
            .update(&mut self.net, &grads)
            .expect("every weight has a gradient");
        self.net.zero_grads(&mut grads);
        self.grads = Some(grads);
    }

    pub fn weights(&self) -> Vec<u32> {
        bits(&flat_weights(&self.net))
    }
}

/// The hand-written loss of the MLP: sparse categorical cross-entropy, with the
/// index tensor made from the batch's labels as every step must.
pub fn mlp_loss<'a>(
    dev: &'a Cpu,
    x: &'a Batch<64>,
    y: &'a [usize],
) -> impl Fn(&Built<Mlp>, Gradients<f32, Cpu>) -> Scalar<Traced> + 'a {
    move |net, grads| {
        let labels = dev.tensor_from_vec(y.to_vec(), (BATCH,));
        net.forward(x.clone().traced(grads))
            .log_softmax::<Axis<1>>()
            .select(labels)
            .mean()
            .negate()
    }
}

/// The hand-written loss of the conv net: sparse categorical cross-entropy, as
/// [`mlp_loss`].
pub fn cnn_loss<'a>(
    dev: &'a Cpu,
    x: &'a ImageBatch,
    y: &'a [usize],
) -> impl Fn(&Built<Cnn>, Gradients<f32, Cpu>) -> Scalar<Traced> + 'a {
    move |net, grads| {
        let labels = dev.tensor_from_vec(y.to_vec(), (BATCH,));
        net.forward(x.clone().traced(grads))
            .log_softmax::<Axis<1>>()
            .select(labels)
            .mean()
            .negate()
    }
}

/// The hand-written loss of the two heads: `CE(digit) + 0.5 BCE(parity)`.
pub fn two_heads_loss<'a>(
    dev: &'a Cpu,
    x: &'a Batch<64>,
    y: &'a (Vec<usize>, Batch<1>),
) -> impl Fn(&Built<TwoHeadNet>, Gradients<f32, Cpu>) -> Scalar<Traced> + 'a {
    move |net, grads| {
        let labels = dev.tensor_from_vec(y.0.clone(), (BATCH,));
        let (digit, odd) = net.forward(x.clone().traced(grads));
        let l0 = digit
            .log_softmax::<Axis<1>>()
            .select(labels)
            .mean()
            .negate();
        let l1 = binary_cross_entropy_with_logits_loss(odd, y.1.clone());
        l0 + l1 * 0.5
    }
}

/// The generated model built by `build` and the same module by hand, from one
/// seeded device; checks that they start equal and stay equal after one step each.
pub fn same_start<M, Net>(
    build: fn(&Cpu) -> M,
    loss: impl Fn(&Net, Gradients<f32, Cpu>) -> Scalar<Traced>,
    x: &FeatureBatch<M::Features>,
    y: &LabelBatch<M>,
) -> (Generated<M>, HandWritten<Net>)
where
    M: FederatedModel<Module = Net>,
    Net: TensorCollection<f32, Cpu> + Clone,
{
    let mut generated = Generated::new(build(&Cpu::seed_from_u64(SEED)));
    let mut hand_written = HandWritten::new(generated.model.module().clone());
    assert_eq!(
        generated.weights(),
        hand_written.weights(),
        "same initial weights"
    );
    generated.step(x, y);
    hand_written.step(loss);
    assert_eq!(
        generated.weights(),
        hand_written.weights(),
        "one step of each gives the same weights"
    );
    (generated, hand_written)
}
