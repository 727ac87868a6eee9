use feddx::prelude::*;

#[federated_model(input_spec = (Features<4>, ClassLabels), loss = SparseCategoricalCrossentropy)]
struct Model {
    #[model(trainable)]
    net: Built<Linear<4, 3>>,
    runs: usize,
}

fn main() {}
