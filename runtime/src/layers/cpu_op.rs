//! A tensor op written as plain loops over CPU buffers, recorded on dfdx's tape.
//!
//! dfdx 0.13 lets code outside the crate add a backward operation to a tape
//! ([`Tape::add_backward_op`]) and reach gradients by tensor
//! ([`Gradients::get_or_alloc_mut`]); that is all an op needs. The image layers use it
//! for what has no stable dfdx op: the convolution (one op with its weight and bias,
//! whose backward gives all three gradients in one sweep, see `conv_kernels`; built from
//! dfdx's `matmul` and a separate `im2col` op, its backward was slower than PyTorch's)
//! and max pooling (whose backward routes each gradient to the input that was the
//! maximum).

use dfdx::prelude::*;

use super::sizes::ConvOutput;

/// The error of a CPU op: an allocation failure.
pub(crate) type CpuErr = <Cpu as HasErr>::Err;

/// A tensor of `f32` on the CPU, on tape `T`.
pub(crate) type CpuTensor<S, T> = Tensor<S, f32, Cpu, T>;

/// `x` as a contiguous tensor (a no-op when it already is), and its values row-major.
pub(crate) fn values<S: Shape, T: Tape<f32, Cpu>>(
    x: Tensor<S, f32, Cpu, T>,
) -> Result<(CpuTensor<S, T>, Vec<f32>), CpuErr> {
    let x = x.try_contiguous()?;
    let mut data = vec![0.0; x.shape().num_elements()];
    x.copy_into(&mut data);
    Ok((x, data))
}

/// The output `out` (of shape `shape`) of an op on the contiguous tensor `x`, on
/// `x`'s tape; when the tape records, `backward(grad_out, grad_x)` adds the op's
/// gradient with respect to `x` to `grad_x`, both row-major.
pub(crate) fn unary<S: Shape, S2: Shape, T: Tape<f32, Cpu>>(
    x: Tensor<S, f32, Cpu, T>,
    shape: S2,
    out: Vec<f32>,
    backward: impl FnOnce(&[f32], &mut [f32]) + 'static,
) -> Result<Tensor<S2, f32, Cpu, T>, CpuErr> {
    unary_then(x, shape, out, backward, |_, ()| Ok(()))
}

/// [`unary`] for an op that also has weights: what `backward` returns goes to
/// `then`, with the gradients, once `x`'s gradient is done (for the op to add its
/// weights' gradients, which it reaches by their tensors' ghosts).
pub(crate) fn unary_then<S: Shape, S2: Shape, T: Tape<f32, Cpu>, R>(
    x: Tensor<S, f32, Cpu, T>,
    shape: S2,
    out: Vec<f32>,
    backward: impl FnOnce(&[f32], &mut [f32]) -> R + 'static,
    then: impl FnOnce(&mut Gradients<f32, Cpu>, R) -> Result<(), CpuErr> + 'static,
) -> Result<Tensor<S2, f32, Cpu, T>, CpuErr> {
    let (x, mut tape) = x.split_tape();
    let out = x.device().try_tensor_from_vec(out, shape)?;
    if T::OWNS_TAPE {
        let x_ghost = x.ghost();
        let out_ghost = out.ghost();
        tape.add_backward_op(move |grads| {
            grads.try_alloc_for(&x_ghost)?;
            // The output's gradient is complete here (its users ran before), and
            // read only: lend it out of the map while `x`'s is borrowed mutably.
            let grad_out = std::mem::take(&mut **grads.get_or_alloc_mut(&out_ghost)?);
            let result = backward(&grad_out, grads.get_or_alloc_mut(&x_ghost)?);
            **grads.get_or_alloc_mut(&out_ghost)? = grad_out;
            then(grads, result)
        });
    }
    Ok(out.put_tape(tape))
}

/// `dst[i] += src[i]`.
pub(crate) fn add_into(dst: &mut [f32], src: &[f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

/// Where a `kernel`-wide window at stride `stride` reads a side of `side` values
/// padded by `padding`: for kernel offset `k`, the first and one-past-last output
/// positions whose input `o * stride + k - padding` falls inside the side.
#[inline]
pub(crate) fn valid_outputs(
    side: usize,
    out_side: usize,
    k: usize,
    stride: usize,
    padding: usize,
) -> (usize, usize) {
    // o * stride + k >= padding  <=>  o >= ceil((padding - k) / stride)
    let first = padding.saturating_sub(k).div_ceil(stride);
    // o * stride + k < side + padding  <=>  o < ceil((side + padding - k) / stride)
    let end = (side + padding).saturating_sub(k).div_ceil(stride);
    (
        first.min(out_side),
        end.min(out_side).max(first.min(out_side)),
    )
}

/// The geometry of a window slid over a batch of images, row-major `(B, C, H, W)`:
/// what `Conv2D` and `MaxPool2D` share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Windows {
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub out_height: usize,
    pub out_width: usize,
}

impl Windows {
    /// The windows of a `K`x`K` kernel at stride `S` and padding `P` over `batch`
    /// images of `C` channels of `H`x`W`, the output's size as the layers' types
    /// compute it ([`ConvOutput`]).
    pub fn of<
        const C: usize,
        const H: usize,
        const W: usize,
        const K: usize,
        const S: usize,
        const P: usize,
    >(
        batch: usize,
    ) -> Self
    where
        Const<H>: ConvOutput<K, S, P>,
        Const<W>: ConvOutput<K, S, P>,
    {
        Windows {
            batch,
            channels: C,
            height: H,
            width: W,
            kernel: K,
            stride: S,
            padding: P,
            out_height: <<Const<H> as ConvOutput<K, S, P>>::Out as ConstDim>::SIZE,
            out_width: <<Const<W> as ConvOutput<K, S, P>>::Out as ConstDim>::SIZE,
        }
    }

    /// Output positions of one channel: `out_height * out_width`.
    pub fn positions(&self) -> usize {
        self.out_height * self.out_width
    }

    /// Calls `each(plane, ky, kx, oy, iy, (ox_first, ox_end))` for every input
    /// row a window offset `(ky, kx)` reads, over every `(image, channel)` plane:
    /// output row `oy` reads input row `iy`, and output columns `ox_first..ox_end`
    /// read inside the image (input column `ox * stride + kx - padding`).
    #[inline]
    pub fn for_each_row(
        &self,
        mut each: impl FnMut(usize, usize, usize, usize, usize, (usize, usize)),
    ) {
        let (k, s, p) = (self.kernel, self.stride, self.padding);
        for plane in 0..self.batch * self.channels {
            for ky in 0..k {
                let (oy_first, oy_end) = valid_outputs(self.height, self.out_height, ky, s, p);
                for kx in 0..k {
                    let xs = valid_outputs(self.width, self.out_width, kx, s, p);
                    for oy in oy_first..oy_end {
                        each(plane, ky, kx, oy, oy * s + ky - p, xs);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_outputs_are_those_inside_the_side() {
        for side in 1..9 {
            for kernel in 1..5 {
                for stride in 1..4 {
                    for padding in 0..3 {
                        if side + 2 * padding < kernel {
                            continue;
                        }
                        let out_side = (side + 2 * padding - kernel) / stride + 1;
                        for k in 0..kernel {
                            let (first, end) = valid_outputs(side, out_side, k, stride, padding);
                            for o in 0..out_side {
                                let i = (o * stride + k) as isize - padding as isize;
                                let inside = i >= 0 && (i as usize) < side;
                                assert_eq!(
                                    inside,
                                    (first..end).contains(&o),
                                    "side {side} kernel {kernel} stride {stride} padding {padding} k {k} o {o}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
