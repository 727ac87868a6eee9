use feddx::prelude::*;

// Not generic over the tape: it cannot take the traced predictions of a training step.
fn squared_error(pred: Batch<1>, y: &Batch<1>) -> Scalar {
    (pred - y.clone()).square().mean()
}

#[federated_model(input_spec = (Features<4>, Targets<1>), loss = squared_error)]
struct Model {
    net: Built<Linear<4, 1>>,
}

fn main() {}
