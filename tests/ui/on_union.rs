use feddx::prelude::*;

#[federated_model(input_spec = (Features<4>, ClassLabels), loss = SparseCategoricalCrossentropy)]
union Model {
    weights: [f32; 4],
}

fn main() {}
