//! Short names for the dfdx types feddx works with.
//!
//! feddx runs on dfdx's CPU device with `f32` elements; these aliases keep
//! signatures readable.

use dfdx::prelude::{BuildOnDevice, Const, Cpu, NoneTape, OwnedTape, Tensor};

/// The device feddx computes on.
pub type Device = Cpu;

/// A batch of `N`-wide rows: `Tensor<(usize, Const<N>), f32, Cpu, T>`.
pub type Batch<const N: usize, T = NoneTape> = Tensor<(usize, Const<N>), f32, Cpu, T>;

/// A scalar, such as a loss: `Tensor<(), f32, Cpu, T>`.
pub type Scalar<T = NoneTape> = Tensor<(), f32, Cpu, T>;

/// The tape that records a training forward pass for backpropagation.
pub type Traced = OwnedTape<f32, Cpu>;

/// The module a dfdx builder type builds on the CPU with `f32` weights:
/// `Built<(Linear<4, 8>, ReLU, Linear<8, 2>)>`.
pub type Built<M> = <M as BuildOnDevice<Cpu, f32>>::Built;
