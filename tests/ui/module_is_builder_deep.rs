use feddx::prelude::*;

// A long builder: one error, the fix shortened to a line one can read.
#[federated_model(input_spec = (Features<784>, ClassLabels), loss = SparseCategoricalCrossentropy)]
struct Model {
    net: (Linear<784, 256>, ReLU, Linear<256, 128>, ReLU, Linear<128, 10>),
}

fn main() {}
