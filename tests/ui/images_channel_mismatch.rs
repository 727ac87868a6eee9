use feddx::prelude::*;

// Three-channel images into a convolution that takes one channel.
#[federated_model(input_spec = (Images<3, 8, 8>, ClassLabels), loss = SparseCategoricalCrossentropy)]
struct Model {
    net: Built<(Conv2D<1, 4, 3, 1, 1>, ReLU, Flatten2D, Linear<256, 10>)>,
}

fn main() {}
