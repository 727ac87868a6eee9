//! Image layers on stable Rust: [`Conv2D`](builders::Conv2D),
//! [`MaxPool2D`](builders::MaxPool2D) and [`Flatten2D`](builders::Flatten2D).
//!
//! dfdx 0.13 has these layers only with its `nightly` feature, because their output
//! sizes are const expressions over their generics. These compute the sizes with the
//! lookup traits of [`sizes`] instead, within the limits listed there, and run on the
//! CPU with `f32`, forward and backward (see [`modules::Conv2D`] for how).
//!
//! They follow dfdx's pattern: the builder types of [`builders`] (re-exported by
//! `feddx::prelude`) go in a network type, `Built<Net>` holds the built modules of
//! [`modules`], and a tuple of layers is a module when each layer takes what the
//! previous one returns:
//!
//! ```
//! use feddx_runtime::prelude::*;
//!
//! // 1x8x8 images: 16 channels of 8x8, pooled to 4x4, flattened to 256.
//! type Cnn = (Conv2D<1, 16, 3, 1, 1>, ReLU, MaxPool2D<2, 2>, Flatten2D, Linear<256, 10>);
//! let net: Built<Cnn> = Cpu::seed_from_u64(0).build_module::<Cnn, f32>();
//! assert_eq!(net.0.weight.shape().concrete(), [16, 1, 3, 3]);
//! ```
//!
//! A network whose sizes do not fit, such as `Linear<255, 10>` after that
//! `Flatten2D`, or a `Conv2D<3, ...>` on one-channel images, is not a module for the
//! images: a compile error.

mod conv2d;
mod conv_kernels;
mod cpu_op;
mod flatten2d;
mod max_pool2d;
pub mod sizes;

pub mod builders {
    //! The layer types that go in a network type (re-exported by `feddx::prelude`).
    pub use super::conv2d::builder::Conv2D;
    pub use super::flatten2d::Flatten2D;
    pub use super::max_pool2d::MaxPool2D;
}

pub mod modules {
    //! The built layers, as held by `Built<Net>`; the weight-free layers are their own
    //! builders.
    pub use super::conv2d::Conv2D;
    pub use super::flatten2d::Flatten2D;
    pub use super::max_pool2d::MaxPool2D;
}
