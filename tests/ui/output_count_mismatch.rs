use feddx::prelude::*;

#[federated_model(
    input_spec = (Features<4>, (ClassLabels, ClassLabels, ClassLabels)),
    outputs(a, b, c),
    loss = SparseCategoricalCrossentropy,
)]
struct Model {
    net: Built<SplitInto<(Linear<4, 3>, Linear<4, 3>)>>,
}

fn main() {}
