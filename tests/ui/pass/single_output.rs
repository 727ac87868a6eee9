use feddx::prelude::*;

#[federated_model(
    input_spec = (Features<4>, ClassLabels),
    loss = SparseCategoricalCrossentropy,
    metrics = [SparseCategoricalAccuracy],
)]
struct Model {
    net: Built<(Linear<4, 8>, ReLU, Linear<8, 3>)>,
}

fn main() {
    assert_eq!(Model::OUTPUTS, ["output"]);
    assert_eq!(Model::LOSS_WEIGHTS, [1.0]);
    assert_eq!(
        Model::input_spec().to_string(),
        "(x: f32[?, 4], y: usize[?])"
    );

    let model = Model::with_seed(0);
    assert_eq!(model.num_trainable_params(), 4 * 8 + 8 + 8 * 3 + 3);
    let x: Batch<4> = Cpu::default().tensor_from_vec(vec![0.5; 8], (2, Const::<4>));
    let mut state = model.metrics_state();
    model.evaluate_into(&mut state, x, &vec![0, 2]).unwrap();
    let values = model.finalize_metrics(&state);
    let names: Vec<&str> = values.names().collect();
    assert_eq!(
        names,
        [
            "loss",
            "num_examples",
            "num_batches",
            "sparse_categorical_accuracy"
        ]
    );
    assert_eq!(values.get("num_examples"), Some(2.0));
}
