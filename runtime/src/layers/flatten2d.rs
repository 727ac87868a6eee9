//! `Flatten2D`: a batch of feature maps as a batch of rows, on stable Rust.

use dfdx::prelude::*;

use super::sizes::Flattened;

/// Flattens a batch of `(C, H, W)` feature maps into rows of `C * H * W` values,
/// row-major (channel, then row, then column, as PyTorch's `torch.nn.Flatten()`), so
/// that a `Linear<{C * H * W}, _>` can follow.
///
/// It takes `Tensor<(B, Const<C>, Const<H>, Const<W>), E, D, T>` and returns
/// `Tensor<(B, Const<N>), E, D, T>` where `N = C * H * W` is given by the lookup trait
/// [`Flattened`]: square maps (`H == W`) of side 1 to 32, with 1 to 64 channels or
/// 96, 128, 192, 256, 384 or 512. Another shape is a compile error, and so is a
/// following `Linear` of another width. The layer has no weights and copies nothing
/// when its input is contiguous.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flatten2D;

impl ZeroSizedModule for Flatten2D {}
impl NonMutableModule for Flatten2D {}

impl<B, const C: usize, const H: usize, const W: usize, E, D, T>
    Module<Tensor<(B, Const<C>, Const<H>, Const<W>), E, D, T>> for Flatten2D
where
    B: Dim,
    E: Dtype,
    D: Device<E>,
    T: Tape<E, D>,
    (Const<C>, Const<H>, Const<W>): Flattened,
{
    type Output = Tensor<(B, <(Const<C>, Const<H>, Const<W>) as Flattened>::Out), E, D, T>;
    type Error = D::Err;

    fn try_forward(
        &self,
        x: Tensor<(B, Const<C>, Const<H>, Const<W>), E, D, T>,
    ) -> Result<Self::Output, D::Err> {
        let batch = x.shape().0;
        x.try_reshape_like(&(batch, Default::default()))
    }
}
