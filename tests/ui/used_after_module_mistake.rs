use feddx::federated::{FedConfig, Simulation};
use feddx::prelude::*;

#[federated_model(input_spec = (Features<4>, ClassLabels), loss = SparseCategoricalCrossentropy)]
struct Model {
    net: Built<Linear<8, 3>>,
}

fn main() {
    let model = Model::with_seed(0);
    let _ = model.predict_class(&[[0.0; 4]]);
    let config = FedConfig::builder().build().unwrap();
    let _ = Simulation::new(model, config);
}
