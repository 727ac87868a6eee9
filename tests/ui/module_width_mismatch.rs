use feddx::prelude::*;

#[federated_model(input_spec = (Features<64>, ClassLabels), loss = SparseCategoricalCrossentropy)]
struct Model {
    net: Built<(Linear<32, 10>, ReLU)>,
}

fn main() {}
