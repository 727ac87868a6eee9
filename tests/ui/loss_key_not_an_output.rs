use feddx::prelude::*;

#[federated_model(
    input_spec = (Features<4>, (ClassLabels, Targets<1>)),
    outputs(digit, parity),
    loss(digti = SparseCategoricalCrossentropy, parity = BinaryCrossentropy),
)]
struct Model {
    net: Built<(Linear<4, 8>, SplitInto<(Linear<8, 10>, Linear<8, 1>)>)>,
}

fn main() {}
