use feddx::prelude::*;

#[federated_model(input_spec = (Features<4>, ClassLabels), loss = SparseCategoricalCrossentropy)]
struct Model {
    #[model]
    net: Built<Linear<4, 3>>,
    #[model]
    other: Built<Linear<4, 3>>,
}

fn main() {}
