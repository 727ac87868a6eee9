use feddx::prelude::*;

#[federated_model(
    input_spec = (Features<4>, (ClassLabels, Targets<1>)),
    outputs(digit, parity),
    loss(digit = SparseCategoricalCrossentropy, parity = BinaryCrossentropy),
    metrics(
        digit = [SparseCategoricalAccuracy],
        parity = [BinaryAccuracy::default(), Precision { threshold: 0.7 }, Mean],
    ),
)]
struct Model {
    net: Built<SplitInto<(Linear<4, 10>, Linear<4, 1>)>>,
}

fn main() {
    let model = Model::with_seed(0);
    let dev = Cpu::default();
    let x: Batch<4> = dev.tensor_from_vec(vec![0.25; 12], (3, Const::<4>));
    let y = (
        vec![1, 2, 3],
        dev.tensor_from_vec(vec![1.0, 0.0, 1.0], (3, Const::<1>)),
    );
    let mut state = model.metrics_state();
    model.evaluate_into(&mut state, x, &y).unwrap();
    let values = model.finalize_metrics(&state);
    let names: Vec<&str> = values.names().collect();
    assert_eq!(
        names,
        [
            "loss",
            "num_examples",
            "num_batches",
            "digit/sparse_categorical_accuracy",
            "parity/binary_accuracy",
            "parity/precision",
            "parity/mean",
        ]
    );
    assert_eq!(values.get("num_examples"), Some(3.0));
}
