//! `Conv2D`: a 2d convolution with bias over batches of images, on stable Rust.

use dfdx::prelude::*;
use rand_distr::uniform::SampleUniform;
use rand_distr::Uniform;

use super::cpu_op::{self, CpuErr, CpuTensor, Windows};
use super::sizes::ConvOutput;

pub mod builder {
    //! The builder type of [`Conv2D`](super::Conv2D).

    /// A 2d convolution with bias: `IN` channels in, `OUT` channels out, square
    /// `KERNEL`×`KERNEL` filters moved by `STRIDE` over images zero-padded by
    /// `PADDING` on every side. The module it builds is
    /// [`layers::modules::Conv2D`](crate::layers::modules::Conv2D).
    ///
    /// PyTorch's `torch.nn.Conv2d(IN, OUT, KERNEL, stride=STRIDE, padding=PADDING)`,
    /// with the same weight layout `(OUT, IN, KERNEL, KERNEL)` and the same
    /// initialisation: weight and bias uniform in `±1/sqrt(IN * KERNEL * KERNEL)`.
    ///
    /// It takes batches `Tensor<(B, Const<IN>, Const<H>, Const<W>), f32, Cpu, T>`
    /// and returns `(B, Const<OUT>, Const<H'>, Const<W'>)` with
    /// `H' = (H + 2 * PADDING - KERNEL) / STRIDE + 1`, computed by the lookup traits of
    /// [`layers::sizes`](crate::layers::sizes): sides up to 128, kernels up to 7,
    /// strides up to 4, padding up to 3. An image of other than `IN` channels, or a
    /// size outside those tables, is a compile error (the layer is not a module for
    /// that input).
    ///
    /// ```
    /// use feddx_runtime::prelude::*;
    ///
    /// type Net = (Conv2D<1, 4, 3, 1, 1>, ReLU, MaxPool2D<2, 2>, Flatten2D, Linear<64, 10>);
    /// let dev = Cpu::seed_from_u64(0);
    /// let net = dev.build_module::<Net, f32>();
    /// let x: Tensor<(usize, Const<1>, Const<8>, Const<8>), f32, _> = dev.zeros_like(&(5, Const, Const, Const));
    /// let y: Tensor<(usize, Const<10>), f32, _> = net.forward(x);
    /// assert_eq!(y.shape().0, 5);
    /// ```
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct Conv2D<
        const IN: usize,
        const OUT: usize,
        const KERNEL: usize,
        const STRIDE: usize = 1,
        const PADDING: usize = 0,
    >;
}

impl<const I: usize, const O: usize, const K: usize, const S: usize, const P: usize, E, D>
    BuildOnDevice<D, E> for builder::Conv2D<I, O, K, S, P>
where
    E: Dtype,
    D: Device<E>,
    Conv2D<I, O, K, S, P, E, D>: BuildModule<D, E>,
{
    type Built = Conv2D<I, O, K, S, P, E, D>;
}

/// A built 2d convolution with bias (see the builder
/// [`layers::builders::Conv2D`](crate::layers::builders::Conv2D) for what it computes).
///
/// Its trainable tensors are `weight`, of shape `(OUT, IN, KERNEL, KERNEL)` as in
/// PyTorch, and `bias`, of shape `(OUT,)`: they are named, averaged, checkpointed and
/// optimised like a `Linear`'s.
///
/// The forward pass gathers each window of the padded input into a column, with a
/// final 1 for the bias (`im2col`, a CPU op recorded on dfdx's tape whose backward
/// scatters the columns' gradients back onto the input), and multiplies the columns
/// by the weight and bias side by side (`concat_along`) with dfdx's batched `matmul`:
/// the weight and bias gradients come from dfdx's own backward ops. The module runs
/// on `Cpu` with `f32`.
#[derive(Debug, Clone)]
pub struct Conv2D<
    const IN: usize,
    const OUT: usize,
    const KERNEL: usize,
    const STRIDE: usize,
    const PADDING: usize,
    E: Dtype,
    D: Storage<E>,
> {
    /// The filters, `(OUT, IN, KERNEL, KERNEL)`.
    pub weight: Tensor<Rank4<OUT, IN, KERNEL, KERNEL>, E, D>,
    /// One bias per output channel.
    pub bias: Tensor<Rank1<OUT>, E, D>,
}

impl<const I: usize, const O: usize, const K: usize, const S: usize, const P: usize, E, D>
    NonMutableModule for Conv2D<I, O, K, S, P, E, D>
where
    E: Dtype,
    D: Storage<E>,
{
}

impl<const I: usize, const O: usize, const K: usize, const S: usize, const P: usize, E, D>
    TensorCollection<E, D> for Conv2D<I, O, K, S, P, E, D>
where
    E: Dtype + SampleUniform,
    D: Device<E>,
{
    type To<E2: Dtype, D2: Device<E2>> = Conv2D<I, O, K, S, P, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::tensor(
                    "weight",
                    |s| &s.weight,
                    |s| &mut s.weight,
                    TensorOptions::reset_with(|t| t.try_fill_with_distr(uniform::<I, K, E>())),
                ),
                Self::tensor(
                    "bias",
                    |s| &s.bias,
                    |s| &mut s.bias,
                    TensorOptions::reset_with(|t| t.try_fill_with_distr(uniform::<I, K, E>())),
                ),
            ),
            |(weight, bias)| Conv2D { weight, bias },
        )
    }
}

/// PyTorch's initialisation of a convolution's weight and bias: uniform in
/// `±1/sqrt(fan_in)` with `fan_in = I * K * K`.
fn uniform<const I: usize, const K: usize, E: Dtype + SampleUniform>() -> Uniform<E> {
    let bound = 1.0 / ((I * K * K).max(1) as f64).sqrt();
    let b = E::from_f64(bound).unwrap_or(E::ONE);
    Uniform::new(E::default() - b, b)
}

impl<
        const I: usize,
        const O: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        B: Dim,
        const H: usize,
        const W: usize,
        T: Tape<f32, Cpu>,
    > Module<Tensor<(B, Const<I>, Const<H>, Const<W>), f32, Cpu, T>>
    for Conv2D<I, O, K, S, P, f32, Cpu>
where
    Const<H>: ConvOutput<K, S, P>,
    Const<W>: ConvOutput<K, S, P>,
{
    type Output = Tensor<
        (
            B,
            Const<O>,
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
        x: Tensor<(B, Const<I>, Const<H>, Const<W>), f32, Cpu, T>,
    ) -> Result<Self::Output, CpuErr> {
        let batch = x.shape().0;
        let out_h = <<Const<H> as ConvOutput<K, S, P>>::Out as ConstDim>::SIZE;
        let out_w = <<Const<W> as ConvOutput<K, S, P>>::Out as ConstDim>::SIZE;
        let windows = Windows {
            batch: batch.size(),
            channels: I,
            height: H,
            width: W,
            kernel: K,
            stride: S,
            padding: P,
            out_height: out_h,
            out_width: out_w,
        };
        let cols = im2col(x, windows)?;
        let (n, rows, _) = *cols.shape();
        // The bias is the weight of the columns' last row, all ones.
        let weight = self
            .weight
            .retaped::<T>()
            .try_reshape_like(&(Const::<O>, rows - 1))?;
        let bias = self
            .bias
            .retaped::<T>()
            .try_reshape_like(&(Const::<O>, 1))?;
        let weight = (weight, bias)
            .try_concat_along(Axis::<1>)?
            .try_broadcast_like::<_, Axis<0>>(&(n, Const::<O>, rows))?;
        weight.try_matmul(cols)?.try_reshape_like(&(
            batch,
            Const::<O>,
            Default::default(),
            Default::default(),
        ))
    }
}

/// The windows of `x` as columns, and a row of ones: `(B, C * K * K + 1, OH * OW)`,
/// row `c * K * K + ky * K + kx` of image `b` holding input
/// `(c, oy * S + ky - P, ox * S + kx - P)` at column `oy * OW + ox` (zero where that
/// falls in the padding), and the last row 1 (for the bias).
fn im2col<S: Shape, T: Tape<f32, Cpu>>(
    x: Tensor<S, f32, Cpu, T>,
    w: Windows,
) -> Result<CpuTensor<(usize, usize, usize), T>, CpuErr> {
    let (x, data) = cpu_op::values(x)?;
    let kk = w.kernel * w.kernel;
    let rows = w.channels * kk + 1;
    let positions = w.positions();
    let shape = (w.batch, rows, positions);
    let mut cols = vec![0.0; shape.num_elements()];
    for ones in cols.chunks_exact_mut(rows * positions) {
        ones[(rows - 1) * positions..].fill(1.0);
    }
    let row_of = move |plane: usize, ky: usize, kx: usize| {
        let (b, c) = (plane / w.channels, plane % w.channels);
        (b * rows + c * kk + ky * w.kernel + kx) * positions
    };
    let image = w.height * w.width;
    w.for_each_row(|plane, ky, kx, oy, iy, (first, end)| {
        let src = &data[plane * image + iy * w.width..][..w.width];
        let dst = &mut cols[row_of(plane, ky, kx) + oy * w.out_width..][..w.out_width];
        gather_row(dst, src, kx, w.stride, w.padding, first, end);
    });
    cpu_op::unary(x, shape, cols, move |grad_cols, grad_x| {
        w.for_each_row(|plane, ky, kx, oy, iy, (first, end)| {
            let src = &grad_cols[row_of(plane, ky, kx) + oy * w.out_width..][..w.out_width];
            let dst = &mut grad_x[plane * image + iy * w.width..][..w.width];
            scatter_row(dst, src, kx, w.stride, w.padding, first, end);
        });
    })
}

/// `dst[o] = src[o * stride + k - padding]` for `o` in `first..end`.
#[inline]
fn gather_row(
    dst: &mut [f32],
    src: &[f32],
    k: usize,
    stride: usize,
    padding: usize,
    first: usize,
    end: usize,
) {
    if first >= end {
        return;
    }
    let start = first * stride + k - padding;
    if stride == 1 {
        dst[first..end].copy_from_slice(&src[start..start + (end - first)]);
    } else {
        for (d, s) in dst[first..end]
            .iter_mut()
            .zip(src[start..].iter().step_by(stride))
        {
            *d = *s;
        }
    }
}

/// `dst[o * stride + k - padding] += src[o]` for `o` in `first..end`.
#[inline]
fn scatter_row(
    dst: &mut [f32],
    src: &[f32],
    k: usize,
    stride: usize,
    padding: usize,
    first: usize,
    end: usize,
) {
    if first >= end {
        return;
    }
    let start = first * stride + k - padding;
    if stride == 1 {
        for (d, s) in dst[start..start + (end - first)]
            .iter_mut()
            .zip(&src[first..end])
        {
            *d += *s;
        }
    } else {
        for (d, s) in dst[start..]
            .iter_mut()
            .step_by(stride)
            .zip(&src[first..end])
        {
            *d += *s;
        }
    }
}
