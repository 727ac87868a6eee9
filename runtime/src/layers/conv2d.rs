//! `Conv2D`: a 2d convolution with bias over batches of images, on stable Rust.

use dfdx::prelude::*;
use rand_distr::uniform::SampleUniform;
use rand_distr::Uniform;

use super::conv_kernels::{self, ConvShape};
use super::cpu_op::{self, CpuErr, Windows};
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
/// The forward and backward passes are CPU loops recorded on dfdx's tape (see
/// `conv_kernels`): per image, on rayon's pool, the windows are gathered into columns
/// (`im2col`) and multiplied by the weight; the backward pass computes the input's,
/// the weight's and the bias's gradients in one sweep over the output's gradient, with
/// results that do not depend on the number of threads. The module runs on `Cpu` with
/// `f32`, and has at least one input and one output channel (a compile error
/// otherwise).
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
        const {
            assert!(
                I > 0 && O > 0,
                "Conv2D: at least one input and one output channel"
            )
        };
        let batch = x.shape().0;
        let shape = ConvShape {
            windows: Windows::of::<I, H, W, K, S, P>(1),
            out_channels: O,
        };
        let (x, data) = cpu_op::values(x)?;
        let weight = self.weight.as_vec();
        let out = conv_kernels::forward(shape, &data, &weight, &self.bias.as_vec());
        let out_shape = (batch, Const::<O>, Default::default(), Default::default());
        let (weight_ghost, bias_ghost) = (self.weight.ghost(), self.bias.ghost());
        cpu_op::unary_then(
            x,
            out_shape,
            out,
            move |grad_out, grad_x| conv_kernels::backward(shape, &data, &weight, grad_out, grad_x),
            move |grads, weight_and_bias| {
                let (grad_w, grad_b) = weight_and_bias.split_at(O * I * K * K);
                cpu_op::add_into(grads.get_or_alloc_mut(&weight_ghost)?, grad_w);
                cpu_op::add_into(grads.get_or_alloc_mut(&bias_ghost)?, grad_b);
                Ok(())
            },
        )
    }
}
