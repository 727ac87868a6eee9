use feddx::prelude::*;

// Named elements may come in any order.
#[federated_model(
    input_spec(y = ClassLabels, x = Features<4>),
    loss = SparseCategoricalCrossentropy,
)]
struct Model {
    net: Built<Linear<4, 3>>,
}

fn main() {
    assert_eq!(
        Model::input_spec().to_string(),
        "(x: f32[?, 4], y: usize[?])"
    );
}
