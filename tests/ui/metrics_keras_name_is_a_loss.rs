use feddx::prelude::*;

#[federated_model(
    input_spec = (Features<4>, Targets<1>),
    loss = "binary_crossentropy",
    metrics = ["binary_crossentropy"],
)]
struct Model {
    net: Built<Linear<4, 1>>,
}

fn main() {}
