//! The federation the Flower example runs: the digits MLP of the main example, and
//! the embedded UCI digits split 80/20, standardised with training statistics, the
//! training part spread over partitions by a Dirichlet label skew, as
//! `cargo run --example digits` does. Each node holds one partition; the held-out
//! 20% is the ServerApp's test set (`flower_node evaluate`).

use feddx::data::{datasets, partition, Dataset};
use feddx::federated::{Algorithm, BatchSize, LocalTraining};
use feddx::prelude::*;

/// A digit classifier: 8x8 pixels in, one logit per digit out.
#[federated_model(
    input_spec = (Features<64>, ClassLabels),
    loss = SparseCategoricalCrossentropy,
    metrics = [SparseCategoricalAccuracy],
)]
pub struct DigitClassifier {
    net: Built<(Linear<64, 64>, ReLU, Linear<64, 10>)>,
}

/// Local training unless the ServerApp's config says otherwise: FedAvg, 5 epochs of
/// batch 20 at learning rate 0.1, as the `digits` example.
pub const LOCAL_TRAINING: LocalTraining = LocalTraining {
    algorithm: Algorithm::FedAvg,
    local_epochs: 5,
    batch_size: BatchSize::Examples(20),
    learning_rate: 0.1,
};

/// The digits, split for a federation of `partitions` nodes.
pub struct Federation {
    /// The training 80%, standardised.
    pub train: Dataset<64>,
    /// Indices of `train` held by each partition.
    pub parts: Vec<Vec<usize>>,
    /// The held-out 20%, standardised with the training statistics.
    pub test: Dataset<64>,
}

/// Splits the digits for `partitions` nodes with Dirichlet(`alpha`) label skew; the
/// same `seed` gives every node the same split.
pub fn digits(partitions: usize, alpha: f64, seed: u64) -> Result<Federation, feddx::FeddxError> {
    let (mut train, mut test) = datasets::digits()?.train_test_split(0.2, seed)?;
    let (mean, std) = train.feature_stats();
    train.standardize_with(&mean, &std);
    test.standardize_with(&mean, &std);
    let parts = partition::Dirichlet {
        clients: partitions,
        alpha,
        min_size: 2,
        seed,
        classes: Some(train.num_classes),
    }
    .split(&train.labels)?;
    Ok(Federation { train, parts, test })
}
