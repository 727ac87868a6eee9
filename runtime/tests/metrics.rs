//! Every built-in metric against hand-computed values, and the mergeability of their sums.

use feddx_runtime::prelude::*;

fn batch<const C: usize>(values: &[f64]) -> Batch<C> {
    let data: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    Cpu::default().tensor_from_vec(data, (values.len() / C, Const::<C>))
}

/// Accumulates every `(predictions, labels)` part into one sums vector and finalises it.
fn finalized<const C: usize, Y: LabelSpec, M: Metric<C, Y>>(
    metric: &M,
    parts: &[(Batch<C>, Y::Batch)],
) -> f64 {
    let mut sums = vec![0.0; metric.num_sums()];
    for (p, y) in parts {
        metric.accumulate(p, y, &mut sums).unwrap();
    }
    metric.finalize(&sums)
}

/// The value of `metric` on predictions `p` against targets `y`.
fn on_targets<const C: usize, M: Metric<C, Targets<C>>>(metric: &M, p: &[f64], y: &[f64]) -> f64 {
    finalized(metric, &[(batch(p), batch(y))])
}

fn assert_close(actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() <= 1e-5 * expected.abs().max(0.1),
        "actual {actual}, expected {expected}"
    );
}

// Class logits (C = 3) and labels; argmaxes are 1, 0, 0 (tie: first), 2, 2.
const CLASS_LOGITS: [f64; 15] = [
    0.1, 0.7, 0.2, //
    2.0, -1.0, 0.5, //
    0.3, 0.3, 0.1, //
    -1.0, -2.0, -0.5, //
    0.0, 0.0, 5.0,
];
const CLASS_LABELS: [usize; 5] = [1, 2, 0, 2, 1];

// Binary logits and 0/1 targets; ln 4 = 1.386294 is the logit of probability 0.8.
const BIN_LOGITS: [f64; 8] = [2.0, 0.5, -1.0, 1.0, -0.5, 3.0, 0.0, 1.3];
const BIN_TARGETS: [f64; 8] = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0];

// Regression predictions and targets, dyadic so that f64 sums are exact.
const P: [f64; 8] = [0.5, -1.25, 2.0, 3.5, -0.75, 0.0, 1.0, 4.0];
const Y: [f64; 8] = [1.0, 0.25, -1.0, 0.5, 0.5, 2.0, 1.0, 0.0];

fn one_hot(labels: &[usize]) -> Vec<f64> {
    labels
        .iter()
        .flat_map(|&l| (0..3).map(move |c| if c == l { 1.0 } else { 0.0 }))
        .collect()
}

#[test]
fn sparse_categorical_accuracy_is_fraction_of_rows_whose_argmax_is_the_label() {
    let parts = [(batch::<3>(&CLASS_LOGITS), CLASS_LABELS.to_vec())];
    // rows 0 (1 = 1), 2 (tie -> 0 = 0) and 3 (2 = 2) are right
    assert_eq!(
        finalized::<3, ClassLabels, _>(&SparseCategoricalAccuracy, &parts),
        0.6
    );
}

#[test]
fn categorical_accuracy_is_fraction_of_rows_whose_argmax_matches_the_one_hot() {
    let acc = on_targets::<3, _>(&CategoricalAccuracy, &CLASS_LOGITS, &one_hot(&CLASS_LABELS));
    assert_eq!(acc, 0.6);
    let soft = [0.1, 0.6, 0.3, 0.4, 0.2, 0.4, 0.5, 0.5, 0.0];
    // soft argmaxes 1, 0 (tie), 0 (tie) against predicted 1, 0, 0
    assert_eq!(
        on_targets::<3, _>(&CategoricalAccuracy, &CLASS_LOGITS[..9], &soft),
        1.0
    );
}

#[test]
fn binary_accuracy_default_counts_sigmoid_above_half_and_logit_zero_as_negative() {
    assert_eq!(BinaryAccuracy::default().threshold, 0.5);
    // predicted positive: 2.0, 0.5, 1.0, 3.0, 1.3 (0.0 has probability exactly 0.5)
    // agreeing with targets: rows 0, 3, 4, 5 -> 4 of 8
    let acc = on_targets::<1, _>(&BinaryAccuracy::default(), &BIN_LOGITS, &BIN_TARGETS);
    assert_eq!(acc, 0.5);
}

#[test]
fn binary_accuracy_threshold_is_on_sigmoid_probability() {
    let ln4 = 4.0f64.ln();
    let z = [1.0, 1.5, ln4 + 0.01, ln4 - 0.01, -3.0, 3.0];
    let y = [1.0, 1.0, 1.0, 1.0, 0.0, 0.0];
    // sigmoid: 0.731, 0.818, >0.8, <0.8, 0.047, 0.953 -> at 0.8: -, +, +, -, -, +
    let at_08 = on_targets::<1, _>(&BinaryAccuracy { threshold: 0.8 }, &z, &y);
    assert_close(at_08, 3.0 / 6.0);
    let at_05 = on_targets::<1, _>(&BinaryAccuracy::default(), &z, &y);
    assert_close(at_05, 5.0 / 6.0);
}

#[test]
fn precision_is_true_positives_over_predicted_positives() {
    // at 0.5: predicted positive 2.0, 0.5, 1.0, 3.0, 1.3; true positives 2.0, 1.0, 3.0
    assert_close(
        on_targets::<1, _>(&Precision::default(), &BIN_LOGITS, &BIN_TARGETS),
        3.0 / 5.0,
    );
    // at 0.8: predicted positive 2.0, 3.0, both true
    let strict = Precision { threshold: 0.8 };
    assert_eq!(on_targets::<1, _>(&strict, &BIN_LOGITS, &BIN_TARGETS), 1.0);
}

#[test]
fn recall_is_true_positives_over_actual_positives() {
    // actual positives: rows 0, 2, 3, 5, 6
    assert_close(
        on_targets::<1, _>(&Recall::default(), &BIN_LOGITS, &BIN_TARGETS),
        3.0 / 5.0,
    );
    assert_close(
        on_targets::<1, _>(&Recall { threshold: 0.8 }, &BIN_LOGITS, &BIN_TARGETS),
        2.0 / 5.0,
    );
    assert_close(
        on_targets::<1, _>(&Recall { threshold: 0.3 }, &BIN_LOGITS, &BIN_TARGETS),
        4.0 / 5.0,
    );
}

#[test]
fn mean_squared_error_metric_is_mean_square_over_every_element() {
    // errors -0.5 -1.5 3 3 -1.25 -2 0 4
    let expected = (0.25 + 2.25 + 9.0 + 9.0 + 1.5625 + 4.0 + 0.0 + 16.0) / 8.0;
    assert_eq!(on_targets::<2, _>(&MeanSquaredError, &P, &Y), expected);
}

#[test]
fn mean_absolute_error_metric_is_mean_absolute_over_every_element() {
    let expected = (0.5 + 1.5 + 3.0 + 3.0 + 1.25 + 2.0 + 0.0 + 4.0) / 8.0;
    assert_eq!(on_targets::<4, _>(&MeanAbsoluteError, &P, &Y), expected);
}

#[test]
fn mean_averages_every_prediction_whatever_the_labels() {
    let expected = (0.5 - 1.25 + 2.0 + 3.5 - 0.75 + 0.0 + 1.0 + 4.0) / 8.0;
    assert_eq!(
        finalized::<2, Targets<2>, _>(&Mean, &[(batch(&P), batch(&Y))]),
        expected
    );
    let parts = [(batch::<2>(&P), vec![0, 1, 2, 3])];
    assert_eq!(finalized::<2, ClassLabels, _>(&Mean, &parts), expected);
}

#[test]
fn accuracy_is_the_accuracy_the_labels_and_width_call_for() {
    let parts = [(batch::<3>(&CLASS_LOGITS), CLASS_LABELS.to_vec())];
    let sparse = finalized::<3, ClassLabels, _>(&SparseCategoricalAccuracy, &parts);
    assert_eq!(finalized::<3, ClassLabels, _>(&Accuracy, &parts), sparse);
    let targets = one_hot(&CLASS_LABELS);
    let categorical = on_targets::<3, _>(&CategoricalAccuracy, &CLASS_LOGITS, &targets);
    assert_eq!(
        on_targets::<3, _>(&Accuracy, &CLASS_LOGITS, &targets),
        categorical
    );
    let binary = on_targets::<1, _>(&BinaryAccuracy::default(), &BIN_LOGITS, &BIN_TARGETS);
    assert_eq!(
        on_targets::<1, _>(&Accuracy, &BIN_LOGITS, &BIN_TARGETS),
        binary
    );
    // Not the categorical accuracy, which is 1 on every one-column row.
    assert_eq!(binary, 0.5);
}

#[test]
fn names_and_num_sums_are_as_declared() {
    let kinds: [(&dyn MetricKind, &str); 9] = [
        (&Accuracy, "accuracy"),
        (&SparseCategoricalAccuracy, "sparse_categorical_accuracy"),
        (&CategoricalAccuracy, "categorical_accuracy"),
        (&BinaryAccuracy::default(), "binary_accuracy"),
        (&Precision::default(), "precision"),
        (&Recall::default(), "recall"),
        (&MeanSquaredError, "mean_squared_error"),
        (&MeanAbsoluteError, "mean_absolute_error"),
        (&Mean, "mean"),
    ];
    for (kind, name) in kinds {
        assert_eq!(kind.name(), name);
        assert_eq!(kind.num_sums(), 2, "{name}");
    }
}

#[test]
fn finalizing_nothing_seen_is_nan() {
    assert!(SparseCategoricalAccuracy.finalize(&[0.0, 0.0]).is_nan());
    assert!(MeanSquaredError.finalize(&[0.0, 0.0]).is_nan());
}

#[test]
fn precision_and_recall_of_nothing_seen_are_zero_as_in_keras() {
    for threshold in [0.5, 0.8] {
        assert_eq!(Precision { threshold }.finalize(&[0.0, 0.0]), 0.0);
        assert_eq!(Recall { threshold }.finalize(&[0.0, 0.0]), 0.0);
    }
}

// Logits all below the 0.5 cut (no predicted positive) and targets all 0 (no
// actual positive), for the empty denominators of precision and recall.
const NEGATIVE_LOGITS: [f64; 4] = [-2.0, -0.5, 0.0, -1.0];
const ONES: [f64; 4] = [1.0; 4];
const ZEROS: [f64; 4] = [0.0; 4];

#[test]
fn precision_without_a_predicted_positive_is_zero_not_nan() {
    let value = on_targets::<1, _>(&Precision::default(), &NEGATIVE_LOGITS, &ONES);
    assert_eq!(value, 0.0);
    // at 0.99 the cut is the logit ln 99 = 4.6, above every one of BIN_LOGITS
    let strict = Precision { threshold: 0.99 };
    assert_eq!(on_targets::<1, _>(&strict, &BIN_LOGITS, &BIN_TARGETS), 0.0);
    // recall of the same batch: 0 true positives over 4 actual positives
    assert_eq!(
        on_targets::<1, _>(&Recall::default(), &NEGATIVE_LOGITS, &ONES),
        0.0
    );
}

#[test]
fn recall_without_an_actual_positive_is_zero_not_nan() {
    assert_eq!(
        on_targets::<1, _>(&Recall::default(), &BIN_LOGITS[..4], &ZEROS),
        0.0
    );
    // precision of the same batch: 0 true positives over 3 predicted positives
    assert_eq!(
        on_targets::<1, _>(&Precision::default(), &BIN_LOGITS[..4], &ZEROS),
        0.0
    );
}

/// A client's state for the metrics `[Precision, Recall]` (threshold 0.5) after one batch.
fn binary_client_state(logits: &[f64], targets: &[f64]) -> MetricsState {
    let mut state = MetricsState::new(4);
    let (p, y) = (batch::<1>(logits), batch::<1>(targets));
    let loss = Loss::<1, NoneTape, Targets<1>>::loss(&BinaryCrossentropy, p.clone(), &y);
    state.record_batch(loss.unwrap().array(), logits.len());
    Metric::<1, Targets<1>>::accumulate(&Precision::default(), &p, &y, &mut state.sums[..2])
        .unwrap();
    Metric::<1, Targets<1>>::accumulate(&Recall::default(), &p, &y, &mut state.sums[2..]).unwrap();
    state
}

/// `(precision, recall)` of a state made by [`binary_client_state`].
fn precision_recall(state: &MetricsState) -> (f64, f64) {
    (
        Precision::default().finalize(&state.sums[..2]),
        Recall::default().finalize(&state.sums[2..]),
    )
}

#[test]
fn precision_and_recall_merged_from_states_are_zero_only_when_every_denominator_is() {
    // Neither client predicts a positive or holds one: both values are 0, not NaN.
    let mut none = binary_client_state(&NEGATIVE_LOGITS, &ZEROS);
    none.merge(&binary_client_state(&NEGATIVE_LOGITS[..2], &ZEROS[..2]))
        .unwrap();
    assert_eq!(none.num_examples, 6);
    assert_eq!(precision_recall(&none), (0.0, 0.0));

    // A client with empty denominators merged with one without: the ratio of the
    // summed counts, not a mean that would count the first client's 0.
    let mut merged = binary_client_state(&NEGATIVE_LOGITS, &ZEROS);
    merged
        .merge(&binary_client_state(&BIN_LOGITS, &BIN_TARGETS))
        .unwrap();
    let alone = binary_client_state(&BIN_LOGITS, &BIN_TARGETS);
    assert_eq!(precision_recall(&alone), (3.0 / 5.0, 3.0 / 5.0));
    assert_eq!(precision_recall(&merged), precision_recall(&alone));

    // With actual positives in the empty-precision client, recall drops: 3 of 9.
    let mut diluted = binary_client_state(&NEGATIVE_LOGITS, &ONES);
    diluted
        .merge(&binary_client_state(&BIN_LOGITS, &BIN_TARGETS))
        .unwrap();
    assert_eq!(precision_recall(&diluted), (3.0 / 5.0, 3.0 / 9.0));
}

/// Predictions and targets of one batch.
type Part<const C: usize> = (Batch<C>, Batch<C>);

/// `[whole]` and `[first `at` rows, the rest]` of C-wide predictions and targets.
fn whole_and_halves<const C: usize>(
    p: &[f64],
    y: &[f64],
    at: usize,
) -> ([Part<C>; 1], [Part<C>; 2]) {
    let k = at * C;
    (
        [(batch(p), batch(y))],
        [
            (batch(&p[..k]), batch(&y[..k])),
            (batch(&p[k..]), batch(&y[k..])),
        ],
    )
}

#[test]
fn accumulating_two_uneven_halves_equals_the_whole_batch_for_every_metric() {
    let (whole, halves) = whole_and_halves::<1>(&BIN_LOGITS, &BIN_TARGETS, 3);
    for m in [BinaryAccuracy::default(), BinaryAccuracy { threshold: 0.8 }] {
        assert_eq!(finalized(&m, &halves), finalized(&m, &whole));
    }
    assert_eq!(
        finalized(&Precision::default(), &halves),
        finalized(&Precision::default(), &whole)
    );
    assert_eq!(
        finalized(&Recall::default(), &halves),
        finalized(&Recall::default(), &whole)
    );

    let (whole, halves) = whole_and_halves::<2>(&P, &Y, 1);
    assert_eq!(
        finalized(&MeanSquaredError, &halves),
        finalized(&MeanSquaredError, &whole)
    );
    assert_eq!(
        finalized(&MeanAbsoluteError, &halves),
        finalized(&MeanAbsoluteError, &whole)
    );
    assert_eq!(
        finalized::<2, Targets<2>, _>(&Mean, &halves),
        finalized::<2, Targets<2>, _>(&Mean, &whole)
    );
    // a mean of the halves' means (1.25 over 2 elements, 6.59375 over 6) would be wrong
    let mean_of_means = (on_targets::<2, _>(&MeanSquaredError, &P[..2], &Y[..2])
        + on_targets::<2, _>(&MeanSquaredError, &P[2..], &Y[2..]))
        / 2.0;
    assert_ne!(mean_of_means, finalized(&MeanSquaredError, &whole));

    let (whole, halves) = whole_and_halves::<3>(&CLASS_LOGITS, &one_hot(&CLASS_LABELS), 2);
    assert_eq!(
        finalized(&CategoricalAccuracy, &halves),
        finalized(&CategoricalAccuracy, &whole)
    );
    let sparse_halves = [
        (batch::<3>(&CLASS_LOGITS[..6]), CLASS_LABELS[..2].to_vec()),
        (batch::<3>(&CLASS_LOGITS[6..]), CLASS_LABELS[2..].to_vec()),
    ];
    assert_eq!(
        finalized::<3, ClassLabels, _>(&SparseCategoricalAccuracy, &sparse_halves),
        0.6
    );
}

/// A client's state for the metrics `[SparseCategoricalAccuracy, Mean]` after the given batches.
fn client_state(batches: &[(Batch<3>, Vec<usize>)]) -> MetricsState {
    let mut state = MetricsState::new(4);
    for (p, y) in batches {
        let loss =
            Loss::<3, NoneTape, ClassLabels>::loss(&SparseCategoricalCrossentropy, p.clone(), y);
        state.record_batch(loss.unwrap().array(), y.len());
        Metric::<3, ClassLabels>::accumulate(
            &SparseCategoricalAccuracy,
            p,
            y,
            &mut state.sums[..2],
        )
        .unwrap();
        Metric::<3, ClassLabels>::accumulate(&Mean, p, y, &mut state.sums[2..]).unwrap();
    }
    state
}

#[test]
fn merging_two_client_states_equals_one_state_over_both_batches() {
    let first = (batch::<3>(&CLASS_LOGITS[..6]), CLASS_LABELS[..2].to_vec());
    let second = (batch::<3>(&CLASS_LOGITS[6..]), CLASS_LABELS[2..].to_vec());
    let mut merged = client_state(std::slice::from_ref(&first));
    merged
        .merge(&client_state(std::slice::from_ref(&second)))
        .unwrap();
    assert_eq!(merged, client_state(&[first, second]));

    assert_eq!(merged.num_examples, 5);
    assert_eq!(merged.num_batches, 2);
    assert_eq!(SparseCategoricalAccuracy.finalize(&merged.sums[..2]), 0.6);
    assert_close(
        Mean.finalize(&merged.sums[2..]),
        CLASS_LOGITS.iter().sum::<f64>() / 15.0,
    );
    let whole = client_state(&[(batch::<3>(&CLASS_LOGITS), CLASS_LABELS.to_vec())]);
    assert_close(merged.mean_loss(), whole.mean_loss());
}

#[test]
fn metric_row_mismatch_and_empty_batch_are_errors() {
    let mut sums = [0.0; 2];
    let err = Metric::<3, ClassLabels>::accumulate(
        &SparseCategoricalAccuracy,
        &batch(&CLASS_LOGITS),
        &vec![0, 1],
        &mut sums,
    );
    assert_eq!(
        err.err(),
        Some(FeddxError::PredictionLabelMismatch {
            predictions: 5,
            labels: 2
        })
    );
    let err = Metric::<1, Targets<1>>::accumulate(
        &Precision::default(),
        &batch(&[0.0; 3]),
        &batch(&[1.0; 4]),
        &mut sums,
    );
    assert_eq!(
        err.err(),
        Some(FeddxError::PredictionLabelMismatch {
            predictions: 3,
            labels: 4
        })
    );
    let err =
        Metric::<1, Targets<1>>::accumulate(&MeanSquaredError, &batch(&[]), &batch(&[]), &mut sums);
    assert_eq!(err.err(), Some(FeddxError::EmptyBatch));
    assert_eq!(sums, [0.0; 2]);
}
