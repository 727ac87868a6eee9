use feddx::prelude::*;

// 16 channels of 4x4 flatten to 256 values, not 128.
#[federated_model(input_spec = (Images<1, 8, 8>, ClassLabels), loss = SparseCategoricalCrossentropy)]
struct Model {
    net: Built<(Conv2D<1, 16, 3, 1, 1>, ReLU, MaxPool2D<2, 2>, Flatten2D, Linear<128, 10>)>,
}

fn main() {}
