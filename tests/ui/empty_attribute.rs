use feddx::prelude::*;

#[federated_model]
struct Model {
    net: Built<Linear<4, 3>>,
}

fn main() {}
