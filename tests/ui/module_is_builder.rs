use feddx::prelude::*;

#[federated_model(input_spec = (Features<8>, ClassLabels), loss = SparseCategoricalCrossentropy)]
struct Model {
    net: (Linear<8, 8>, ReLU, Linear<8, 3>),
}

fn main() {}
