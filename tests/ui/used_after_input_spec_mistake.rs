use feddx::federated::{FedConfig, Simulation};
use feddx::prelude::*;

#[federated_model(
    input_spec = (Features<4>, ClassLabels, Targets<1>),
    loss = SparseCategoricalCrossentropy,
)]
struct Model {
    net: Built<Linear<4, 3>>,
}

fn main() {
    let model = Model::with_seed(0);
    let config = FedConfig::builder().build().unwrap();
    let _ = Simulation::new(model, config);
}
