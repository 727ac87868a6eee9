use feddx::prelude::*;

#[federated_model(input_spec = (Features<4>, ClassLabels), loss = SparseCategoricalCrossentropy)]
fn model() {}

fn main() {}
