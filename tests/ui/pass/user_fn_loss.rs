use feddx::prelude::*;

fn squared_error<T: Tape<f32, Cpu>>(pred: Batch<1, T>, y: &Batch<1>) -> Scalar<T> {
    (pred - y.clone()).square().mean()
}

#[federated_model(input_spec = (Features<4>, Targets<1>), loss = squared_error)]
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
    let y: Batch<1> = dev.tensor_from_vec(vec![1.0, 3.0], (2, Const::<1>));

    // Predictions are 0: the loss is the mean of the squared targets, (1 + 9) / 2.
    assert_eq!(
        model.evaluate_batch(x.clone(), &y).unwrap().loss.array(),
        5.0
    );

    // The same function runs on the training tape.
    let grads = model.module().alloc_grads();
    let traced = model.forward_pass(x.traced(grads), &y).unwrap();
    assert_eq!(traced.loss.array(), 5.0);
}
