use feddx::prelude::*;

type Labels = (ClassLabels, Targets<1>);

#[federated_model(
    input_spec = (Features<4>, Labels),
    outputs(digit, parity),
    loss = [SparseCategoricalCrossentropy, BinaryCrossentropy],
    metrics(digit = [SparseCategoricalAccuracy]),
)]
struct Model {
    net: Built<SplitInto<(Linear<4, 10>, Linear<4, 1>)>>,
}

fn main() {
    assert_eq!(
        Model::input_spec().to_string(),
        "(x: f32[?, 4], y: (usize[?], f32[?, 1]))"
    );
    let model = Model::with_seed(0);
    let dev = Cpu::default();
    let x: Batch<4> = dev.tensor_from_vec(vec![1.0; 8], (2, Const::<4>));
    let y: LabelBatch<Model> = (
        vec![3, 7],
        dev.tensor_from_vec(vec![1.0, 0.0], (2, Const::<1>)),
    );
    let mut state = model.metrics_state();
    model.evaluate_into(&mut state, x, &y).unwrap();
    let values = model.finalize_metrics(&state);
    assert!(values.get("digit/sparse_categorical_accuracy").is_some());
}
