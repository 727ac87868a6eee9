use feddx::prelude::*;

#[federated_model(
    input_spec = (Features<4>, (ClassLabels, Targets<1>)),
    outputs(digit, parity),
    loss = ["sparse_categorical_crossentropy", "binary_crossentropy"],
    metrics(digit = ["acuracy"], parity = ["binary_accuracy", "Recall"]),
)]
struct Model {
    net: Built<SplitInto<(Linear<4, 10>, Linear<4, 1>)>>,
}

fn main() {}
