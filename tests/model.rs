//! The generated model: losses, gradients, metrics and weights against the same
//! model written by hand in dfdx.

use feddx::prelude::*;

mod common;

type Trunk = (Linear<4, 8>, ReLU);
type Net = (Trunk, SplitInto<(Linear<8, 3>, Linear<8, 1>)>);

#[federated_model(
    input_spec = (Features<4>, (ClassLabels, Targets<1>)),
    outputs(class, flag),
    loss(class = SparseCategoricalCrossentropy, flag = BinaryCrossentropy),
    loss_weights(class = 1.0, flag = 0.5),
    metrics(class = [SparseCategoricalAccuracy], flag = [BinaryAccuracy::default(), Precision::default()]),
)]
struct TwoHeads {
    net: Built<Net>,
}

#[federated_model(
    input_spec = (Features<4>, ClassLabels),
    loss = SparseCategoricalCrossentropy,
    metrics = [SparseCategoricalAccuracy],
)]
struct OneHead {
    #[model]
    net: Built<(Linear<4, 8>, ReLU, Linear<8, 3>)>,
    runs: usize,
}

const ROWS: usize = 6;

fn features(dev: &Cpu) -> Batch<4> {
    let v: Vec<f32> = (0..ROWS * 4)
        .map(|i| ((i * 7 % 11) as f32 - 5.0) / 4.0)
        .collect();
    dev.tensor_from_vec(v, (ROWS, Const::<4>))
}

fn classes() -> Vec<usize> {
    vec![0, 2, 1, 1, 0, 2]
}

fn flags(dev: &Cpu) -> Batch<1> {
    dev.tensor_from_vec(vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0], (ROWS, Const::<1>))
}

/// Mean over rows of `-log softmax(z)[label]`, in f64.
fn sparse_ce(logits: &[f32], labels: &[usize], c: usize) -> f64 {
    let rows = logits.chunks(c).zip(labels).map(|(z, &y)| {
        let lse = z.iter().map(|&v| f64::from(v).exp()).sum::<f64>().ln();
        lse - f64::from(z[y])
    });
    rows.sum::<f64>() / labels.len() as f64
}

/// Mean of `ln(1 + e^z) - z y`, in f64.
fn bce(logits: &[f32], targets: &[f32]) -> f64 {
    let terms = logits.iter().zip(targets).map(|(&z, &y)| {
        let z = f64::from(z);
        (1.0 + z.exp()).ln() - z * f64::from(y)
    });
    terms.sum::<f64>() / logits.len() as f64
}

#[test]
fn reported_loss_is_the_weighted_sum_of_output_losses() {
    let dev = Cpu::seed_from_u64(1);
    let model = TwoHeads::build(&dev);
    let (x, y) = (features(&dev), (classes(), flags(&dev)));
    let out = model.evaluate_batch(x.clone(), &y).unwrap();
    let (class_logits, flag_logits) = model.predict_on_batch(x);
    let expected = sparse_ce(&class_logits.as_vec(), &y.0, 3)
        + 0.5 * bce(&flag_logits.as_vec(), &y.1.as_vec());
    assert!(
        (f64::from(out.loss.array()) - expected).abs() < 1e-5,
        "{} vs {expected}",
        out.loss.array()
    );
    assert_eq!(out.num_examples, ROWS);
    assert_eq!(TwoHeads::OUTPUTS, ["class", "flag"]);
    assert_eq!(TwoHeads::LOSS_WEIGHTS, [1.0, 0.5]);
}

#[test]
fn gradients_equal_the_hand_written_model() {
    let dev = Cpu::seed_from_u64(2);
    let model = TwoHeads::build(&dev);
    let (x, y) = (features(&dev), (classes(), flags(&dev)));

    let generated = {
        let grads = model.module().alloc_grads();
        let out = model.forward_pass(x.clone().traced(grads), &y).unwrap();
        out.loss.backward()
    };
    let by_hand = {
        let net = model.module();
        let grads = net.alloc_grads();
        let (class, flag) = net.forward(x.traced(grads));
        let labels = dev.tensor_from_vec(y.0.clone(), (ROWS,));
        let l0 = class
            .log_softmax::<Axis<1>>()
            .select(labels)
            .mean()
            .negate();
        let l1 = binary_cross_entropy_with_logits_loss(flag, y.1.clone());
        (l0 + l1 * 0.5).backward()
    };
    // All six tensors: the trunk's weight and bias, and each head's weight and bias.
    let net = model.module();
    let names: Vec<String> = common::named_gradients(net, &generated)
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(
        names,
        [
            "0.0.weight",
            "0.0.bias",
            "1.0.0.weight",
            "1.0.0.bias",
            "1.0.1.weight",
            "1.0.1.bias"
        ]
    );
    common::assert_same_gradients(net, &generated, &by_hand, "forward_pass");
}

#[test]
fn metrics_merged_over_two_halves_equal_the_whole() {
    let dev = Cpu::seed_from_u64(3);
    let model = TwoHeads::build(&dev);
    let (x, y) = (features(&dev), (classes(), flags(&dev)));
    let mut whole = model.metrics_state();
    model.evaluate_into(&mut whole, x.clone(), &y).unwrap();

    let xs = x.as_vec();
    let half = |range: std::ops::Range<usize>| {
        let n = range.len();
        let x = dev.tensor_from_vec(xs[range.start * 4..range.end * 4].to_vec(), (n, Const::<4>));
        let flags = dev.tensor_from_vec(y.1.as_vec()[range.clone()].to_vec(), (n, Const::<1>));
        (x, (y.0[range].to_vec(), flags))
    };
    let mut merged = model.metrics_state();
    for range in [0..2, 2..ROWS] {
        let (hx, hy) = half(range);
        let mut client = model.metrics_state();
        model.evaluate_into(&mut client, hx, &hy).unwrap();
        merged.merge(&client).unwrap();
    }
    let (a, b) = (
        model.finalize_metrics(&whole),
        model.finalize_metrics(&merged),
    );
    let names: Vec<&str> = a.names().collect();
    assert_eq!(
        names,
        [
            "loss",
            "num_examples",
            "num_batches",
            "class/sparse_categorical_accuracy",
            "flag/binary_accuracy",
            "flag/precision"
        ]
    );
    for name in [
        "num_examples",
        "class/sparse_categorical_accuracy",
        "flag/binary_accuracy",
        "flag/precision",
    ] {
        assert_eq!(a.get(name), b.get(name), "{name}");
    }
    assert!((a.get("loss").unwrap() - b.get("loss").unwrap()).abs() < 1e-6);
    assert_eq!(b.get("num_batches"), Some(2.0));
}

#[test]
fn single_output_model_builds_other_fields_by_default_and_names_metrics_plainly() {
    let dev = Cpu::seed_from_u64(4);
    let model = OneHead::build(&dev);
    assert_eq!(model.runs, 0);
    assert_eq!(OneHead::OUTPUTS, ["output"]);
    let mut state = model.metrics_state();
    model
        .evaluate_into(&mut state, features(&dev), &classes())
        .unwrap();
    let values = model.finalize_metrics(&state);
    assert!(values.get("sparse_categorical_accuracy").is_some());
    assert_eq!(values.get("num_examples"), Some(ROWS as f64));
}

#[test]
fn flat_weights_round_trip_through_the_model() {
    let mut model = OneHead::with_seed(5);
    let n = model.num_trainable_params();
    assert_eq!(n, 4 * 8 + 8 + 8 * 3 + 3);
    let new: Vec<f32> = (0..n).map(|i| i as f32 / 100.0).collect();
    model.set_weights_vec(&new).unwrap();
    assert_eq!(model.weights_vec(), new);
    assert_eq!(model.trainable_weights()[0].name, "0.weight");
    let err = model.set_weights_vec(&new[1..]).unwrap_err();
    assert_eq!(
        err,
        FeddxError::WeightLengthMismatch {
            expected: n,
            actual: n - 1
        }
    );
}

#[test]
fn value_errors_are_typed_not_panics() {
    let dev = Cpu::seed_from_u64(6);
    let model = TwoHeads::build(&dev);
    let short = (
        vec![0, 1],
        dev.tensor_from_vec(vec![1.0, 0.0], (2, Const::<1>)),
    );
    let err = model.evaluate_batch(features(&dev), &short).unwrap_err();
    assert_eq!(
        err,
        FeddxError::BatchSizeMismatch {
            output: "class",
            features: ROWS,
            labels: 2
        }
    );
    let bad_class = (vec![0, 1, 2, 3, 0, 0], flags(&dev));
    let err = model
        .evaluate_batch(features(&dev), &bad_class)
        .unwrap_err();
    assert_eq!(
        err,
        FeddxError::LabelOutOfRange {
            label: 3,
            row: 3,
            classes: 3
        }
    );
    let empty_x: Batch<4> = dev.tensor_from_vec(vec![], (0, Const::<4>));
    let empty_y = (vec![], dev.tensor_from_vec(vec![], (0, Const::<1>)));
    assert_eq!(
        model.evaluate_batch(empty_x, &empty_y).unwrap_err(),
        FeddxError::EmptyBatch
    );
}
