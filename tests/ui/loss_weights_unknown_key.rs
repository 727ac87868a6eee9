use feddx::prelude::*;

#[federated_model(
    input_spec = (Features<4>, (ClassLabels, Targets<1>)),
    outputs(digit, parity),
    loss(digit = SparseCategoricalCrossentropy, parity = BinaryCrossentropy),
    loss_weights(digit = 1.0, parit = 0.5),
)]
struct Model {
    net: Built<SplitInto<(Linear<4, 10>, Linear<4, 1>)>>,
}

fn main() {}
