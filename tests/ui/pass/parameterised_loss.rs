use feddx::prelude::*;

#[federated_model(input_spec = (Features<4>, Targets<1>), loss = Huber { delta: 2.0 })]
struct Model {
    net: Built<Linear<4, 1>>,
}

fn main() {
    let mut model = Model::with_seed(0);
    model
        .set_weights_vec(&vec![0.0; model.num_trainable_params()])
        .unwrap();
    let dev = Cpu::default();
    let x: Batch<4> = dev.tensor_from_vec(vec![1.0; 8], (2, Const::<4>));
    let y: Batch<1> = dev.tensor_from_vec(vec![1.0, 4.0], (2, Const::<1>));
    // Errors 1 and 4 with delta 2: 0.5 * 1^2 = 0.5 and 2 * (4 - 0.5 * 2) = 6.
    let loss = model.evaluate_batch(x, &y).unwrap().loss.array();
    assert!((loss - 3.25).abs() < 1e-6, "{loss}");
}
