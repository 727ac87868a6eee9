//! Every built-in loss against values worked out here in plain f64 arithmetic.

use feddx_runtime::prelude::*;

/// Asserts `actual` is within 1e-5 relative (1e-6 absolute near zero) of `expected`.
fn assert_close(actual: f32, expected: f64) {
    let tol = 1e-5 * expected.abs().max(0.1);
    assert!(
        (f64::from(actual) - expected).abs() <= tol,
        "actual {actual}, expected {expected}"
    );
}

fn assert_all_close(actual: &[f32], expected: &[f64]) {
    assert_eq!(actual.len(), expected.len());
    for (a, e) in actual.iter().zip(expected) {
        assert_close(*a, *e);
    }
}

fn batch<const C: usize>(values: &[f64]) -> Batch<C> {
    let data: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    Cpu::default().tensor_from_vec(data, (values.len() / C, Const::<C>))
}

/// `ln(sum_j e^{z_j})` the naive way: f64 does not overflow for |z| up to ~700.
fn ln_sum_exp(row: &[f64]) -> f64 {
    row.iter().map(|z| z.exp()).sum::<f64>().ln()
}

/// `ln(sigmoid(z)) = -ln(1 + e^{-z})`, exact in f64 for |z| up to ~700.
fn ln_sigmoid(z: f64) -> f64 {
    -(-z).exp().ln_1p()
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = values.collect();
    v.iter().sum::<f64>() / v.len() as f64
}

/// Mean over rows of `-sum_c y_c (z_c - ln sum e^z)`.
fn expected_crossentropy<const C: usize>(logits: &[f64], targets: &[f64]) -> f64 {
    mean(logits.chunks(C).zip(targets.chunks(C)).map(|(z, y)| {
        let lse = ln_sum_exp(z);
        -z.iter().zip(y).map(|(zc, yc)| yc * (zc - lse)).sum::<f64>()
    }))
}

const P: [f64; 6] = [0.5, -1.25, 2.0, 3.5, -0.75, 0.0];
const Y: [f64; 6] = [1.0, 0.25, -1.0, 0.5, 0.5, 2.0];

#[test]
fn mean_squared_error_is_mean_square_over_every_element() {
    let expected = mean(P.iter().zip(&Y).map(|(p, y)| (p - y) * (p - y)));
    let l = Loss::<2, NoneTape, Targets<2>>::loss(&MeanSquaredError, batch(&P), &batch(&Y));
    assert_close(l.unwrap().array(), expected);
}

#[test]
fn mean_absolute_error_is_mean_absolute_over_every_element() {
    let expected = mean(P.iter().zip(&Y).map(|(p, y)| (p - y).abs()));
    let l = Loss::<3, NoneTape, Targets<3>>::loss(&MeanAbsoluteError, batch(&P), &batch(&Y));
    assert_close(l.unwrap().array(), expected);
}

#[test]
fn huber_is_quadratic_inside_delta_and_linear_beyond() {
    let huber = Huber { delta: 1.5 };
    // (error, hand value): inside delta = 1.5, exactly at it, beyond it
    let cases = [
        (0.5, 0.125),
        (-1.0, 0.5),
        (1.5, 1.125),
        (2.5, 1.5 * 1.75),
        (-4.0, 1.5 * 3.25),
    ];
    for (e, expected) in cases {
        let l = Loss::<1, NoneTape, Targets<1>>::loss(&huber, batch(&[e + 1.0]), &batch(&[1.0]));
        assert_close(l.unwrap().array(), expected);
    }
    let errors: Vec<f64> = cases.iter().map(|c| c.0).collect();
    let l = Loss::<1, NoneTape, Targets<1>>::loss(&huber, batch(&errors), &batch(&[0.0; 5]));
    assert_close(l.unwrap().array(), mean(cases.iter().map(|c| c.1)));
}

#[test]
fn huber_default_has_delta_one() {
    assert_eq!(Huber::default().delta, 1.0);
    // errors 0.5 (quadratic) and -3.0 (linear)
    let expected = (0.5 * 0.25 + (3.0 - 0.5)) / 2.0;
    let l = Loss::<1, NoneTape, Targets<1>>::loss(
        &Huber::default(),
        batch(&[1.5, -1.0]),
        &batch(&[1.0, 2.0]),
    );
    assert_close(l.unwrap().array(), expected);
}

#[test]
fn binary_crossentropy_is_mean_negative_log_likelihood_of_sigmoid() {
    let z = [0.3, -1.2, 2.5, -0.4, 0.0, 4.0];
    let y = [1.0, 0.0, 0.25, 1.0, 0.5, 0.0];
    let expected = mean(
        z.iter()
            .zip(&y)
            .map(|(z, y)| -(y * ln_sigmoid(*z) + (1.0 - y) * ln_sigmoid(-z))),
    );
    let l = Loss::<2, NoneTape, Targets<2>>::loss(&BinaryCrossentropy, batch(&z), &batch(&y));
    assert_close(l.unwrap().array(), expected);
}

#[test]
fn binary_crossentropy_is_finite_and_right_for_large_logits() {
    let z = [50.0, -50.0];
    let right =
        Loss::<2, NoneTape, Targets<2>>::loss(&BinaryCrossentropy, batch(&z), &batch(&[1.0, 0.0]));
    let right = right.unwrap().array();
    assert!(right.is_finite() && (0.0..1e-6).contains(&right), "{right}");
    let wrong =
        Loss::<2, NoneTape, Targets<2>>::loss(&BinaryCrossentropy, batch(&z), &batch(&[0.0, 1.0]));
    assert_close(wrong.unwrap().array(), -ln_sigmoid(-50.0));
}

#[test]
fn categorical_crossentropy_with_one_hot_targets_is_mean_negative_log_softmax() {
    let z = [1.0, 2.0, 0.5, -1.0, 0.0, 3.0];
    let y = [0.0, 1.0, 0.0, 1.0, 0.0, 0.0];
    let expected = (ln_sum_exp(&z[..3]) - 2.0 + ln_sum_exp(&z[3..]) + 1.0) / 2.0;
    let l = Loss::<3, NoneTape, Targets<3>>::loss(&CategoricalCrossentropy, batch(&z), &batch(&y));
    assert_close(l.unwrap().array(), expected);
}

#[test]
fn categorical_crossentropy_with_soft_targets_sums_each_row() {
    let z = [1.0, 2.0, 0.5, -1.0, 0.0, 3.0, 0.2, 0.2, 0.2];
    let y = [0.2, 0.7, 0.1, 0.5, 0.25, 0.25, 0.0, 0.0, 1.0];
    let l = Loss::<3, NoneTape, Targets<3>>::loss(&CategoricalCrossentropy, batch(&z), &batch(&y));
    assert_close(l.unwrap().array(), expected_crossentropy::<3>(&z, &y));
}

#[test]
fn sparse_categorical_crossentropy_is_mean_negative_log_softmax_of_label() {
    let z = [1.0, 2.0, 0.5, -1.0, 0.0, 3.0, 0.2, -0.7, 1.1];
    let labels = vec![1, 0, 2];
    let expected = mean(
        z.chunks(3)
            .zip(&labels)
            .map(|(row, &l)| ln_sum_exp(row) - row[l]),
    );
    let l =
        Loss::<3, NoneTape, ClassLabels>::loss(&SparseCategoricalCrossentropy, batch(&z), &labels);
    assert_close(l.unwrap().array(), expected);
}

#[test]
fn sparse_categorical_crossentropy_is_finite_and_right_for_large_logits() {
    let z = [100.0, -100.0, 0.0, 100.0, -100.0, 0.0];
    // row 0 is confidently right (~0), row 1 confidently wrong (~200)
    let expected = (ln_sum_exp(&z[..3]) - 100.0 + ln_sum_exp(&z[3..]) + 100.0) / 2.0;
    let l = Loss::<3, NoneTape, ClassLabels>::loss(
        &SparseCategoricalCrossentropy,
        batch(&z),
        &vec![0, 1],
    );
    let l = l.unwrap().array();
    assert!(l.is_finite());
    assert_close(l, expected);
}

#[test]
fn sparse_categorical_crossentropy_gradient_is_softmax_minus_one_hot_over_batch() {
    let z = [1.0, 2.0, 0.5, -1.0, 0.0, 3.0];
    let labels = vec![2, 1];
    let pred = batch::<3>(&z);
    let l = Loss::<3, Traced, ClassLabels>::loss(
        &SparseCategoricalCrossentropy,
        pred.leaky_trace(),
        &labels,
    );
    let grads = l.unwrap().backward();
    let expected: Vec<f64> = z
        .chunks(3)
        .zip(&labels)
        .flat_map(|(row, &label)| {
            let lse = ln_sum_exp(row);
            (0..3).map(move |c| ((row[c] - lse).exp() - f64::from(u8::from(c == label))) / 2.0)
        })
        .collect();
    assert_all_close(&grads.get(&pred).as_vec(), &expected);
}

#[test]
fn categorical_crossentropy_gradient_is_softmax_minus_target_over_batch() {
    let z = [0.5, -0.5, 1.5, 2.0, 0.0, -2.0];
    let y = [0.2, 0.3, 0.5, 0.0, 1.0, 0.0];
    let pred = batch::<3>(&z);
    let l = Loss::<3, Traced, Targets<3>>::loss(
        &CategoricalCrossentropy,
        pred.leaky_trace(),
        &batch(&y),
    );
    let grads = l.unwrap().backward();
    let expected: Vec<f64> = z
        .chunks(3)
        .zip(y.chunks(3))
        .flat_map(|(row, t)| {
            let lse = ln_sum_exp(row);
            (0..3).map(move |c| ((row[c] - lse).exp() - t[c]) / 2.0)
        })
        .collect();
    assert_all_close(&grads.get(&pred).as_vec(), &expected);
}

#[test]
fn mean_squared_error_gradient_is_twice_error_over_numel() {
    let pred = batch::<3>(&P);
    let l = Loss::<3, Traced, Targets<3>>::loss(&MeanSquaredError, pred.leaky_trace(), &batch(&Y));
    let grads = l.unwrap().backward();
    let expected: Vec<f64> = P.iter().zip(&Y).map(|(p, y)| 2.0 * (p - y) / 6.0).collect();
    assert_all_close(&grads.get(&pred).as_vec(), &expected);
}

#[test]
fn binary_crossentropy_gradient_is_sigmoid_minus_target_over_numel_even_for_large_logits() {
    let z = [0.3, -1.2, 50.0, -50.0];
    let y = [1.0, 0.25, 0.0, 0.0];
    let pred = batch::<2>(&z);
    let l =
        Loss::<2, Traced, Targets<2>>::loss(&BinaryCrossentropy, pred.leaky_trace(), &batch(&y));
    let grads = l.unwrap().backward();
    let expected: Vec<f64> = z
        .iter()
        .zip(&y)
        .map(|(z, y)| (ln_sigmoid(*z).exp() - y) / 4.0)
        .collect();
    assert_all_close(&grads.get(&pred).as_vec(), &expected);
}

// Residuals `p - y`, all exact in f32: 0.75 and -0.25 inside Huber's delta 1.5,
// exactly 0, exactly at delta (1.5), and -2.5 and 4 beyond it.
const P_EDGE: [f64; 6] = [1.75, -2.0, 0.5, 2.0, -0.25, 3.0];
const Y_EDGE: [f64; 6] = [1.0, 0.5, 0.5, 0.5, 0.0, -1.0];
const DELTA: f64 = 1.5;

/// The sign of `e`, and 0 for a zero residual: the subgradient of `|e|` at 0 that
/// dfdx (and TensorFlow) take. Not `f64::signum`, which gives 1 for +0.
fn sign_or_zero(e: f64) -> f64 {
    if e == 0.0 {
        0.0
    } else {
        e.signum()
    }
}

/// Huber's value for one residual: `0.5 e^2` inside `delta`, `delta (|e| - delta / 2)` beyond.
fn huber_value(e: f64, delta: f64) -> f64 {
    if e.abs() <= delta {
        0.5 * e * e
    } else {
        delta * (e.abs() - 0.5 * delta)
    }
}

/// Huber's derivative for one residual: `e` inside `delta` (0 at 0), `delta sign(e)` beyond.
fn huber_slope(e: f64, delta: f64) -> f64 {
    if e.abs() <= delta {
        e
    } else {
        delta * e.signum()
    }
}

fn residuals() -> impl Iterator<Item = f64> {
    P_EDGE.iter().zip(&Y_EDGE).map(|(p, y)| p - y)
}

#[test]
fn mean_absolute_error_gradient_is_sign_over_numel_and_zero_at_zero_residual() {
    let pred = batch::<3>(&P_EDGE);
    let l = Loss::<3, Traced, Targets<3>>::loss(
        &MeanAbsoluteError,
        pred.leaky_trace(),
        &batch(&Y_EDGE),
    )
    .unwrap();
    assert_close(l.array(), mean(residuals().map(f64::abs)));
    let grads = l.backward().get(&pred).as_vec();
    let expected: Vec<f64> = residuals().map(|e| sign_or_zero(e) / 6.0).collect();
    assert_all_close(&grads, &expected);
    // The zero residual (element 2) gets no gradient at all, not +-1/6.
    assert_eq!(grads[2], 0.0);
    assert_eq!(expected.iter().filter(|g| **g == 0.0).count(), 1);
}

#[test]
fn huber_gradient_is_residual_inside_delta_and_delta_sign_beyond() {
    let huber = Huber {
        delta: DELTA as f32,
    };
    let pred = batch::<2>(&P_EDGE);
    let l =
        Loss::<2, Traced, Targets<2>>::loss(&huber, pred.leaky_trace(), &batch(&Y_EDGE)).unwrap();
    assert_close(l.array(), mean(residuals().map(|e| huber_value(e, DELTA))));
    let grads = l.backward().get(&pred).as_vec();
    let expected: Vec<f64> = residuals().map(|e| huber_slope(e, DELTA) / 6.0).collect();
    // inside: 0.75, 0 and -0.25; at delta: 1.5; beyond: -1.5 (not -2.5) and 1.5 (not 4)
    assert_eq!(
        residuals()
            .map(|e| huber_slope(e, DELTA))
            .collect::<Vec<_>>(),
        [0.75, -1.5, 0.0, 1.5, -0.25, 1.5]
    );
    assert_all_close(&grads, &expected);
    assert_eq!(grads[2], 0.0);
}

#[test]
fn huber_default_gradient_clips_at_one() {
    // residuals 0.5 (quadratic) and -3.0 (linear), delta 1
    let pred = batch::<1>(&[1.5, -1.0]);
    let l = Loss::<1, Traced, Targets<1>>::loss(
        &Huber::default(),
        pred.leaky_trace(),
        &batch(&[1.0, 2.0]),
    )
    .unwrap();
    let grads = l.backward().get(&pred).as_vec();
    assert_all_close(&grads, &[0.5 / 2.0, -1.0 / 2.0]);
}

/// The error a `Targets<2>` loss gives for 2 prediction rows against `label_rows` rows.
fn targets_error<L: Loss<2, NoneTape, Targets<2>>>(
    loss: &L,
    pred_rows: usize,
    label_rows: usize,
) -> Option<FeddxError> {
    let p = batch::<2>(&vec![0.5; 2 * pred_rows]);
    let y = batch::<2>(&vec![1.0; 2 * label_rows]);
    loss.loss(p, &y).err()
}

#[test]
fn row_mismatch_is_prediction_label_mismatch_for_every_loss() {
    let mismatch = Some(FeddxError::PredictionLabelMismatch {
        predictions: 3,
        labels: 2,
    });
    assert_eq!(targets_error(&MeanSquaredError, 3, 2), mismatch);
    assert_eq!(targets_error(&MeanAbsoluteError, 3, 2), mismatch);
    assert_eq!(targets_error(&Huber::default(), 3, 2), mismatch);
    assert_eq!(targets_error(&BinaryCrossentropy, 3, 2), mismatch);
    assert_eq!(targets_error(&CategoricalCrossentropy, 3, 2), mismatch);
    let sparse = Loss::<2, NoneTape, ClassLabels>::loss(
        &SparseCategoricalCrossentropy,
        batch(&[0.0; 6]),
        &vec![0, 1],
    );
    assert_eq!(sparse.err(), mismatch);
}

#[test]
fn empty_batch_is_empty_batch_error_for_every_loss() {
    let empty = Some(FeddxError::EmptyBatch);
    assert_eq!(targets_error(&MeanSquaredError, 0, 0), empty);
    assert_eq!(targets_error(&MeanAbsoluteError, 0, 0), empty);
    assert_eq!(targets_error(&Huber::default(), 0, 0), empty);
    assert_eq!(targets_error(&BinaryCrossentropy, 0, 0), empty);
    assert_eq!(targets_error(&CategoricalCrossentropy, 0, 0), empty);
    let sparse =
        Loss::<2, NoneTape, ClassLabels>::loss(&SparseCategoricalCrossentropy, batch(&[]), &vec![]);
    assert_eq!(sparse.err(), empty);
}

#[test]
fn class_label_at_or_above_classes_is_label_out_of_range_with_first_bad_row() {
    let l = Loss::<3, NoneTape, ClassLabels>::loss(
        &SparseCategoricalCrossentropy,
        batch(&[0.0; 12]),
        &vec![0, 2, 3, 7],
    );
    assert_eq!(
        l.err(),
        Some(FeddxError::LabelOutOfRange {
            label: 3,
            row: 2,
            classes: 3
        })
    );
}

fn half_squared_error<T: Tape<f32, Cpu>>(pred: Batch<2, T>, y: &Batch<2>) -> Scalar<T> {
    ((pred - y.clone()).square() * 0.5).mean()
}

#[test]
fn user_function_is_a_loss_with_and_without_tape() {
    let expected = mean(P.iter().zip(&Y).map(|(p, y)| 0.5 * (p - y) * (p - y)));
    let l = Loss::<2, NoneTape, Targets<2>>::loss(&half_squared_error, batch(&P), &batch(&Y));
    assert_close(l.unwrap().array(), expected);
    let pred = batch::<2>(&P);
    let l =
        Loss::<2, Traced, Targets<2>>::loss(&half_squared_error, pred.leaky_trace(), &batch(&Y));
    let grads = l.unwrap().backward();
    let expected: Vec<f64> = P.iter().zip(&Y).map(|(p, y)| (p - y) / 6.0).collect();
    assert_all_close(&grads.get(&pred).as_vec(), &expected);
}
