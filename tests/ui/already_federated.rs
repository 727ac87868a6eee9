use feddx::prelude::*;

#[federated_model(input_spec = (Features<4>, ClassLabels), loss = SparseCategoricalCrossentropy)]
struct Inner {
    net: Built<Linear<4, 3>>,
}

#[federated_model(input_spec = (Features<4>, ClassLabels), loss = SparseCategoricalCrossentropy)]
struct Outer {
    inner: Inner,
}

fn main() {}
