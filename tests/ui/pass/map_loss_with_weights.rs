use feddx::prelude::*;

#[federated_model(
    input_spec = (Features<4>, (ClassLabels, Targets<1>)),
    outputs(digit, parity),
    loss(parity = BinaryCrossentropy, digit = SparseCategoricalCrossentropy),
    loss_weights(parity = 0.5),
)]
struct Model {
    net: Built<SplitInto<(Linear<4, 10>, Linear<4, 1>)>>,
}

fn main() {
    // Map order does not matter; an output left out of `loss_weights` weighs 1.0.
    assert_eq!(Model::OUTPUTS, ["digit", "parity"]);
    assert_eq!(Model::LOSS_WEIGHTS, [1.0, 0.5]);

    let mut model = Model::with_seed(0);
    model
        .set_weights_vec(&vec![0.0; model.num_trainable_params()])
        .unwrap();
    let dev = Cpu::default();
    let x: Batch<4> = dev.tensor_from_vec(vec![1.0; 8], (2, Const::<4>));
    let y = (
        vec![3, 7],
        dev.tensor_from_vec(vec![1.0, 0.0], (2, Const::<1>)),
    );
    let loss = model.evaluate_batch(x, &y).unwrap().loss.array();
    assert!(
        (loss - (10f32.ln() + 0.5 * 2f32.ln())).abs() < 1e-5,
        "{loss}"
    );
}
