//! `MaxPool2D`: the maximum of each window of each channel, on stable Rust.

use dfdx::prelude::*;

use super::cpu_op::{self, CpuErr, Windows};
use super::sizes::ConvOutput;

/// Max pooling over `KERNEL`×`KERNEL` windows moved by `STRIDE`, with `PADDING` on
/// every side that never wins (as PyTorch's `torch.nn.MaxPool2d(KERNEL, STRIDE, PADDING)`,
/// whose implicit padding is `-inf`). The defaults are dfdx's: stride 1, no padding;
/// `MaxPool2D<2, 2>` halves each side.
///
/// It takes batches `Tensor<(B, Const<C>, Const<H>, Const<W>), f32, Cpu, T>` and
/// returns `(B, Const<C>, Const<H'>, Const<W'>)` with
/// `H' = (H + 2 * PADDING - KERNEL) / STRIDE + 1`, from the lookup traits of
/// [`layers::sizes`](crate::layers::sizes) (sides up to 128, kernels up to 7, strides
/// up to 4, padding up to 3); a size outside them is a compile error. As in PyTorch,
/// the padding must be at most half the kernel, so that every window holds an input:
/// a larger padding fails to compile (a constant evaluation error).
///
/// The gradient of each output goes to the input that was its window's maximum (the
/// first one on ties), as in PyTorch. The layer has no weights.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MaxPool2D<const KERNEL: usize, const STRIDE: usize = 1, const PADDING: usize = 0>;

impl<const K: usize, const S: usize, const P: usize> ZeroSizedModule for MaxPool2D<K, S, P> {}
impl<const K: usize, const S: usize, const P: usize> NonMutableModule for MaxPool2D<K, S, P> {}

impl<
        const K: usize,
        const S: usize,
        const P: usize,
        B: Dim,
        const C: usize,
        const H: usize,
        const W: usize,
        T: Tape<f32, Cpu>,
    > Module<Tensor<(B, Const<C>, Const<H>, Const<W>), f32, Cpu, T>> for MaxPool2D<K, S, P>
where
    Const<H>: ConvOutput<K, S, P>,
    Const<W>: ConvOutput<K, S, P>,
{
    type Output = Tensor<
        (
            B,
            Const<C>,
            <Const<H> as ConvOutput<K, S, P>>::Out,
            <Const<W> as ConvOutput<K, S, P>>::Out,
        ),
        f32,
        Cpu,
        T,
    >;
    type Error = CpuErr;

    fn try_forward(
        &self,
        x: Tensor<(B, Const<C>, Const<H>, Const<W>), f32, Cpu, T>,
    ) -> Result<Self::Output, CpuErr> {
        const {
            assert!(
                2 * P <= K,
                "MaxPool2D: the padding must be at most half the kernel"
            )
        };
        let batch = x.shape().0;
        let windows = Windows::of::<C, H, W, K, S, P>(batch.size());
        let (x, data) = cpu_op::values(x)?;
        let (out, argmax) = max_pool(&data, windows);
        let shape = (batch, Const::<C>, Default::default(), Default::default());
        cpu_op::unary(x, shape, out, move |grad_out, grad_x| {
            for (&i, &g) in argmax.iter().zip(grad_out) {
                grad_x[i] += g;
            }
        })
    }
}

/// The maximum of each window, row-major `(B, C, OH, OW)`, and the index in `x` of the
/// input it came from (the first maximum; NaN wins, as in PyTorch).
fn max_pool(x: &[f32], w: Windows) -> (Vec<f32>, Vec<usize>) {
    let outputs = w.batch * w.channels * w.positions();
    let mut out = vec![f32::NEG_INFINITY; outputs];
    let mut argmax = vec![usize::MAX; outputs];
    let image = w.height * w.width;
    w.for_each_row(|plane, _ky, kx, oy, iy, (first, end)| {
        let row = plane * image + iy * w.width;
        let base = plane * w.positions() + oy * w.out_width;
        for ox in first..end {
            let i = row + ox * w.stride + kx - w.padding;
            let (best, at) = (&mut out[base + ox], &mut argmax[base + ox]);
            let v = x[i];
            // Windows are visited in (ky, kx) order, so `>` keeps the first maximum.
            if *at == usize::MAX || v > *best || (v.is_nan() && !best.is_nan()) {
                *best = v;
                *at = i;
            }
        }
    });
    (out, argmax)
}
