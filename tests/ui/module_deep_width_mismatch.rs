use feddx::prelude::*;

#[federated_model(input_spec = (Features<5>, ClassLabels), loss = SparseCategoricalCrossentropy)]
struct Model {
    net: Built<(Linear<6, 16>, ReLU, Linear<16, 3>)>,
}

fn main() {}
