//! The generated training step against the same model written by hand in dfdx, bit
//! for bit: `training_loss` (the loss alone, which lets the loss ops reuse the
//! outputs' buffers) and `forward_pass` (which keeps the predictions for metrics)
//! give the hand-written loss and the hand-written gradients of every tensor.
//!
//! The models and hand-written losses are those of `benches/train_step.rs`, which
//! times the same comparison; here `cargo test` checks it.

use feddx::prelude::*;

#[path = "../benches/common/mod.rs"]
mod bench;
mod common;

use bench::{
    digits_batch, mlp_loss, same_start, two_head_batch, two_heads_loss, DigitParity, Digits,
    TwoHeadNet, BATCH,
};
use common::assert_same_gradients;

/// Digit and a regression target from the same pixels, both losses weighted (neither
/// by 1, so each output's loss goes through the generated `l * w`).
#[federated_model(
    input_spec = (Features<64>, (ClassLabels, Targets<1>)),
    outputs(digit, value),
    loss(digit = SparseCategoricalCrossentropy, value = Huber { delta: 0.5 }),
    loss_weights(digit = 0.25, value = 2.0),
)]
struct WeightedHeads {
    net: Built<TwoHeadNet>,
}

/// The hand-written loss of [`WeightedHeads`]: `0.25 CE(digit) + 2 Huber_0.5(value)`.
fn weighted_heads_loss<'a>(
    dev: &'a Cpu,
    x: &'a Batch<64>,
    y: &'a (Vec<usize>, Batch<1>),
) -> impl Fn(&Built<TwoHeadNet>, Gradients<f32, Cpu>) -> Scalar<Traced> + 'a {
    move |net, grads| {
        let labels = dev.tensor_from_vec(y.0.clone(), (BATCH,));
        let (digit, value) = net.forward(x.clone().traced(grads));
        let l0 = digit
            .log_softmax::<Axis<1>>()
            .select(labels)
            .mean()
            .negate();
        let l1 = huber_loss(value, y.1.clone(), 0.5);
        l0 * 0.25 + l1 * 2.0
    }
}

/// The batch of the two-head benchmark with the digit over 9 as the regression target.
fn weighted_heads_batch(dev: &Cpu) -> (Batch<64>, (Vec<usize>, Batch<1>)) {
    let (x, digits) = digits_batch(dev);
    let value: Vec<f32> = digits.iter().map(|&d| d as f32 / 9.0).collect();
    let value = dev.tensor_from_vec(value, (BATCH, Const::<1>));
    (x, (digits, value))
}

/// Checks `training_loss` and `forward_pass` of `model` against `hand_written` on one
/// batch: the same loss bits and the same gradient bits for every trainable tensor;
/// and the predictions `forward_pass` keeps against the module's plain forward pass.
fn check_against_hand_written<M, Net>(
    model: &M,
    hand_written: impl Fn(&Net, Gradients<f32, Cpu>) -> Scalar<Traced>,
    x: &FeatureBatch<M::Features>,
    y: &LabelBatch<M>,
    same_predictions: impl Fn(&M::Predictions, &M::Predictions) -> bool,
) where
    M: FederatedModel<Module = Net>,
    Net: TensorCollection<f32, Cpu>,
{
    let net = model.module();

    let by_hand = hand_written(net, net.alloc_grads());
    let loss_bits = by_hand.array().to_bits();
    let by_hand = by_hand.backward();

    let loss = model
        .training_loss(x.clone().traced(net.alloc_grads()), y)
        .expect("a valid batch");
    assert_eq!(loss.array().to_bits(), loss_bits, "training_loss: the loss");
    assert_same_gradients(net, &loss.backward(), &by_hand, "training_loss");

    let out = model
        .forward_pass(x.clone().traced(net.alloc_grads()), y)
        .expect("a valid batch");
    assert_eq!(
        out.loss.array().to_bits(),
        loss_bits,
        "forward_pass: the loss"
    );
    assert_eq!(out.num_examples, BATCH);
    assert!(
        same_predictions(&out.predictions, &model.predict_on_batch(x.clone())),
        "forward_pass: the predictions are the module's outputs"
    );
    assert_same_gradients(net, &out.loss.backward(), &by_hand, "forward_pass");

    // Without a tape, the evaluation pass computes the same loss.
    let eval = model.evaluate_batch(x.clone(), y).expect("a valid batch");
    assert_eq!(
        eval.loss.array().to_bits(),
        loss_bits,
        "evaluate_batch: the loss"
    );
}

fn bits<S: Shape>(t: &Tensor<S, f32, Cpu>) -> Vec<u32> {
    t.as_vec().iter().map(|v| v.to_bits()).collect()
}

fn same_pair(a: &(Batch<10>, Batch<1>), b: &(Batch<10>, Batch<1>)) -> bool {
    bits(&a.0) == bits(&b.0) && bits(&a.1) == bits(&b.1)
}

#[test]
fn single_output_loss_and_gradients_equal_the_hand_written_model() {
    let dev = Cpu::seed_from_u64(0);
    let (x, y) = digits_batch(&dev);
    let model = Digits::build(&Cpu::seed_from_u64(1));
    check_against_hand_written(&model, mlp_loss(&dev, &x, &y), &x, &y, |a, b| {
        bits(a) == bits(b)
    });
}

#[test]
fn two_outputs_with_a_loss_weight_give_the_hand_written_loss_and_gradients() {
    let dev = Cpu::seed_from_u64(0);
    let (x, y) = two_head_batch(&dev);
    let model = DigitParity::build(&Cpu::seed_from_u64(2));
    assert_eq!(DigitParity::LOSS_WEIGHTS, [1.0, 0.5]);
    check_against_hand_written(&model, two_heads_loss(&dev, &x, &y), &x, &y, same_pair);
}

#[test]
fn two_outputs_both_weighted_give_the_hand_written_loss_and_gradients() {
    let dev = Cpu::seed_from_u64(0);
    let (x, y) = weighted_heads_batch(&dev);
    let model = WeightedHeads::build(&Cpu::seed_from_u64(3));
    assert_eq!(WeightedHeads::LOSS_WEIGHTS, [0.25, 2.0]);
    let loss = weighted_heads_loss(&dev, &x, &y);
    check_against_hand_written(&model, &loss, &x, &y, same_pair);

    // The weights matter: the unweighted sum is another loss.
    let net = model.module();
    let weighted = loss(net, net.alloc_grads()).array();
    let (digit, value) = net.forward(x.clone());
    let labels = dev.tensor_from_vec(y.0.clone(), (BATCH,));
    let unweighted = digit
        .log_softmax::<Axis<1>>()
        .select(labels)
        .mean()
        .negate()
        + huber_loss(value, y.1.clone(), 0.5);
    assert_ne!(weighted, unweighted.array());
}

/// Two SGD steps of each side, reusing the gradients' buffers between steps as a
/// training loop does; the benches' own start check runs the first.
#[test]
fn sgd_steps_on_the_generated_losses_keep_the_hand_written_weights() {
    let dev = Cpu::seed_from_u64(0);
    let (x, y) = digits_batch(&dev);
    let loss = mlp_loss(&dev, &x, &y);
    let (mut generated, mut hand_written) = same_start(Digits::build, &loss, &x, &y);
    generated.step_keeping_predictions(&x, &y);
    hand_written.step(&loss);
    assert_eq!(generated.weights(), hand_written.weights(), "two steps");

    let (x, y) = two_head_batch(&dev);
    let loss = two_heads_loss(&dev, &x, &y);
    let (mut generated, mut hand_written) = same_start(DigitParity::build, &loss, &x, &y);
    let start = generated.weights();
    generated.step(&x, &y);
    hand_written.step(&loss);
    assert_eq!(generated.weights(), hand_written.weights(), "two steps");
    assert_ne!(generated.weights(), start, "the steps move the weights");
}
