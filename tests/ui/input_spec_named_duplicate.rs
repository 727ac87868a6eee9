use feddx::prelude::*;

#[federated_model(
    input_spec(x = Features<4>, y = ClassLabels, x = Features<4>),
    loss = SparseCategoricalCrossentropy,
)]
struct Model {
    net: Built<Linear<4, 3>>,
}

fn main() {}
