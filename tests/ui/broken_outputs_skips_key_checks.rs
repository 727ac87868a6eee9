use feddx::prelude::*;

type Net = ((Linear<64, 32>, ReLU), SplitInto<(Linear<32, 10>, Linear<32, 1>)>);

// `outputs` and `digit` swapped: the output names went unread, so the keys that
// name outputs are not checked against a default output (one error, not eight).
#[federated_model(
    input_spec = (Features<64>, (ClassLabels, Targets<1>)),
    digit(outputs, parity),
    loss(digit = SparseCategoricalCrossentropy, parity = BinaryCrossentropy),
    loss_weights(digit = 1.0, parity = 0.5),
    metrics(digit = [SparseCategoricalAccuracy], parity = [BinaryAccuracy::default()]),
)]
struct DigitModel {
    net: Built<Net>,
}

fn main() {}
