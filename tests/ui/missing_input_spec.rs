use feddx::prelude::*;

#[federated_model(loss = SparseCategoricalCrossentropy)]
struct Model {
    net: Built<Linear<4, 3>>,
}

fn main() {}
