use feddx::prelude::*;

#[federated_model(
    input_spec = (Features<4>, ClassLabels),
    loss = "sparse_crossentropy",
)]
struct Model {
    net: Built<Linear<4, 10>>,
}

fn main() {}
