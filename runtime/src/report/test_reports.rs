//! Round reports made by hand for the tests of the reports.

use std::time::Duration;

use crate::federated::{NoiseSource, PrivacySpent, RoundCounts, RoundReport};
use crate::metrics::MetricValues;
use crate::privacy::Neighbours;

/// Metric values from `(name, value)` pairs, in order.
pub(crate) fn values(pairs: &[(&str, f64)]) -> MetricValues {
    let mut v = MetricValues::default();
    for &(n, x) in pairs {
        v.push(n, x);
    }
    v
}

/// Two rounds of a model with an accuracy metric; the second is evaluated.
pub(crate) fn two_rounds() -> Vec<RoundReport> {
    let report = |round: usize, train: MetricValues, eval: Option<MetricValues>| RoundReport {
        round,
        clients: vec![4, 1, 2],
        num_examples: 30 + round as u64,
        train,
        eval,
        wall_time: Duration::from_millis(1500 * round as u64),
        client_time: Duration::from_millis(1000),
        aggregation_time: Duration::from_millis(100),
        eval_time: Duration::ZERO,
        // The second round: a client failed, an update was zeroed, 2 were clipped.
        counts: RoundCounts {
            sampled: 3,
            succeeded: 4 - round,
            failed: round - 1,
            zeroed: round - 1,
            clipped: 2 * (round - 1),
            ..RoundCounts::default()
        },
        clip_norm: (round == 2).then_some(0.5),
        privacy: (round == 2).then_some(PrivacySpent {
            epsilon: 1.25,
            delta: 1e-5,
            order: 12.0,
            rounds: 2,
            neighbours: Neighbours::ReplaceOne,
            sensitivity: 2.0,
            noise_multiplier: 1.0,
            mechanism_noise_multiplier: 0.5,
            noise_source: NoiseSource::Os,
        }),
        ..RoundReport::default()
    };
    vec![
        report(
            1,
            values(&[
                ("loss", 1.25),
                ("num_examples", 31.0),
                ("sparse_categorical_accuracy", 0.5),
            ]),
            None,
        ),
        report(
            2,
            values(&[
                ("loss", 0.75),
                ("num_examples", 32.0),
                ("sparse_categorical_accuracy", 0.625),
            ]),
            Some(values(&[
                ("loss", 0.875),
                ("num_examples", 10.0),
                ("sparse_categorical_accuracy", 0.6),
            ])),
        ),
    ]
}
