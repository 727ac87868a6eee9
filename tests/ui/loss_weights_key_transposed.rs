use feddx::prelude::*;

#[federated_model(
    input_spec = (Features<4>, (ClassLabels, Targets<1>)),
    outputs(class, reg),
    loss(class = SparseCategoricalCrossentropy, reg = MeanSquaredError),
    loss_weights(class = 1.0, rge = 0.5),
)]
struct Model {
    net: Built<SplitInto<(Linear<4, 10>, Linear<4, 1>)>>,
}

fn main() {}
