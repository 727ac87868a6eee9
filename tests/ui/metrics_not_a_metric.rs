use feddx::prelude::*;

#[federated_model(
    input_spec = (Features<4>, ClassLabels),
    loss = SparseCategoricalCrossentropy,
    metrics = [42],
)]
struct Model {
    net: Built<Linear<4, 3>>,
}

fn main() {}
