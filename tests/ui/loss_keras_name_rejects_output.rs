use feddx::prelude::*;

#[federated_model(
    input_spec = (Features<4>, ClassLabels),
    loss = "binary_crossentropy",
    metrics = ["accuracy", "mse"],
)]
struct Model {
    net: Built<Linear<4, 10>>,
}

fn main() {}
