use feddx::prelude::*;

// `(Features<4> ClassLabels)` reads as the type `(Features<4>)` with a token left
// over: one error at that token, not also "`input_spec` must be a pair".
#[federated_model(input_spec = (Features<4> ClassLabels), loss = SparseCategoricalCrossentropy)]
struct Model {
    net: Built<Linear<4, 3>>,
}

fn main() {}
