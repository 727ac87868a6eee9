use feddx::prelude::*;

#[federated_model(
    input_spec = (Features<4>, (ClassLabels, Targets<1>)),
    outputs(class, flag),
    loss(class = SparseCategoricalCrossentropy, flag = BinaryCrossentropy),
)]
struct TwoHeads {
    net: Built<((Linear<4, 8>, ReLU), SplitInto<(Linear<8, 3>, Linear<8, 1>)>)>,
}

fn main() {
    let model = TwoHeads::with_seed(0);
    let _ = model.predict_proba(&[[0.0; 4]]);
}
