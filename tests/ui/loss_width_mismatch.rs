use feddx::prelude::*;

#[federated_model(input_spec = (Features<4>, Targets<3>), loss = CategoricalCrossentropy)]
struct Model {
    net: Built<Linear<4, 10>>,
}

fn main() {}
