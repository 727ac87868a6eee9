use feddx::prelude::*;

#[federated_model(
    input_spec = (Features<4>, (ClassLabels, ClassLabels)),
    outputs(heads::digit, parity),
    loss = SparseCategoricalCrossentropy,
)]
struct Model {
    net: Built<SplitInto<(Linear<4, 10>, Linear<4, 2>)>>,
}

fn main() {}
