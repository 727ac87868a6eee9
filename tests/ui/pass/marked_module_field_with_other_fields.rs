use feddx::prelude::*;

#[federated_model(input_spec = (Features<4>, ClassLabels), loss = SparseCategoricalCrossentropy)]
struct Model {
    runs: usize,
    #[model]
    net: Built<(Linear<4, 8>, ReLU, Linear<8, 3>)>,
    name: String,
}

fn main() {
    let model = Model::with_seed(0);
    assert_eq!(model.runs, 0);
    assert_eq!(model.name, "");
    assert_eq!(model.num_trainable_params(), 4 * 8 + 8 + 8 * 3 + 3);
    assert_eq!(model.trainable_weights()[0].name, "0.weight");
}
