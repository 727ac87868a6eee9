use feddx::prelude::*;

type Net = ((Linear<64, 32>, ReLU), SplitInto<(Linear<32, 10>, Linear<32, 1>)>);

// Each mistake inside a group is one error at its token, not also syn's
// "unexpected token, expected `)`" (or `]`) there once the attribute is read.
#[federated_model(
    input_spec = (Features<64>, (ClassLabels, Targets<1>)),
    outputs(digit, parity),
    loss(digit = SparseCategoricalCrossentropy, parity = BinaryCrossentropy),
    loss_weights(digit = 1.0 1.0, parity = 0.5),
    metrics(digit = [SparseCategoricalAccuracy SparseCategoricalAccuracy], parity = [BinaryAccuracy::default()]),
)]
struct DigitModel {
    net: Built<Net>,
}

fn main() {}
