//! The loops of [`Conv2D`](super::modules::Conv2D): forward and backward over a batch,
//! one image at a time on rayon's pool.
//!
//! Each image's windows are gathered into columns (`im2col`, `R = C * K * K` rows of
//! `P = OH * OW` positions) in a per-thread scratch buffer, so no batch-sized column
//! matrix is ever built. The forward pass is then one small matrix product per image,
//! `out = W · cols + bias`; the backward pass, from the output's gradient `G` of that
//! image, computes the weight's gradient `G · colsᵀ`, the bias's (the row sums of `G`)
//! and the columns' gradient `Wᵀ · G`, which it scatters back onto the image's gradient
//! (`col2im`). The products are blocked over `LANES` positions, so the compiler keeps
//! the accumulators in vector registers.
//!
//! The result does not depend on the number of threads: each image is computed by the
//! same sequential code whichever thread runs it, and the weight and bias gradients are
//! per-image partial sums added up in image order afterwards.

use rayon::prelude::*;

use super::cpu_op::Windows;

/// Positions computed together in the matrix products (two SSE registers, one AVX).
const LANES: usize = 8;

/// The shape of a convolution applied to one image: the window geometry (with
/// `batch` 1) and the number of output channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConvShape {
    /// Where the windows fall on one image (`batch` is 1).
    pub windows: Windows,
    /// Output channels.
    pub out_channels: usize,
}

impl ConvShape {
    /// Rows of an image's column matrix: `C * K * K`, a weight row's length.
    fn rows(&self) -> usize {
        self.windows.channels * self.windows.kernel * self.windows.kernel
    }

    /// Output positions of one channel: `OH * OW`.
    fn positions(&self) -> usize {
        self.windows.positions()
    }

    /// Values of one input image: `C * H * W`.
    fn image_len(&self) -> usize {
        self.windows.channels * self.windows.height * self.windows.width
    }

    /// Values of one output image: `O * OH * OW`.
    fn out_len(&self) -> usize {
        self.out_channels * self.positions()
    }

    /// A zeroed column matrix of one image, for scratch.
    fn cols(&self) -> Vec<f32> {
        vec![0.0; self.rows() * self.positions()]
    }
}

/// The convolution of a batch of row-major `(C, H, W)` images `x` by `weight`
/// (`(O, C, K, K)` row-major) plus `bias`: row-major `(B, O, OH, OW)`.
///
/// Needs `C > 0` and `O > 0` (the layer checks it at compile time).
pub(crate) fn forward(shape: ConvShape, x: &[f32], weight: &[f32], bias: &[f32]) -> Vec<f32> {
    let (image_len, out_len) = (shape.image_len(), shape.out_len());
    let mut out = vec![0.0; x.len() / image_len * out_len];
    out.par_chunks_mut(out_len)
        .zip(x.par_chunks(image_len))
        .for_each_init(
            || shape.cols(),
            |cols, (out, x)| {
                im2col(shape, x, cols);
                product(weight, shape.rows(), cols, |o| bias[o], out);
            },
        );
    out
}

/// The backward pass of [`forward`]: adds the input's gradient to `grad_x` (row-major
/// like `x`) and returns the weight's gradient followed by the bias's, summed over the
/// batch (`O * C * K * K + O` values), for the output's gradient `grad_out`.
pub(crate) fn backward(
    shape: ConvShape,
    x: &[f32],
    weight: &[f32],
    grad_out: &[f32],
    grad_x: &mut [f32],
) -> Vec<f32> {
    let (rows, channels) = (shape.rows(), shape.out_channels);
    let (image_len, out_len) = (shape.image_len(), shape.out_len());
    let weights = channels * rows;
    let per_image = weights + channels;
    // `Wᵀ`, `(C * K * K, O)`: the columns' gradient is `Wᵀ · G`.
    let mut weight_t = vec![0.0; weights];
    for (o, row) in weight.chunks_exact(rows).enumerate() {
        for (r, &w) in row.iter().enumerate() {
            weight_t[r * channels + o] = w;
        }
    }
    let mut partials = vec![0.0; x.len() / image_len * per_image];
    partials
        .par_chunks_mut(per_image)
        .zip(grad_x.par_chunks_mut(image_len))
        .zip(x.par_chunks(image_len))
        .zip(grad_out.par_chunks(out_len))
        .for_each_init(
            || (shape.cols(), shape.cols()),
            |(cols, grad_cols), (((partial, grad_x), x), grad_out)| {
                im2col(shape, x, cols);
                let (grad_w, grad_b) = partial.split_at_mut(weights);
                for ((g, grad_w), grad_b) in grad_out
                    .chunks_exact(shape.positions())
                    .zip(grad_w.chunks_exact_mut(rows))
                    .zip(grad_b)
                {
                    *grad_b = sum(g);
                    for (grad_w, c) in grad_w.iter_mut().zip(cols.chunks_exact(shape.positions())) {
                        *grad_w = dot(g, c);
                    }
                }
                product(&weight_t, channels, grad_out, |_| 0.0, grad_cols);
                col2im_add(shape, grad_cols, grad_x);
            },
        );
    let mut total = vec![0.0; per_image];
    for partial in partials.chunks_exact(per_image) {
        for (t, p) in total.iter_mut().zip(partial) {
            *t += p;
        }
    }
    total
}

/// Row-major `out[i, p] = init(i) + Σ_j a[i, j] · b[j, p]`, for `a` of `inner` columns
/// and `b` of `out`'s width (`b.len() / inner`).
fn product(a: &[f32], inner: usize, b: &[f32], init: impl Fn(usize) -> f32, out: &mut [f32]) {
    let width = b.len() / inner;
    let blocked = width - width % LANES;
    for (i, (out, a)) in out
        .chunks_exact_mut(width)
        .zip(a.chunks_exact(inner))
        .enumerate()
    {
        let start = init(i);
        for (p, out) in out[..blocked].chunks_exact_mut(LANES).enumerate() {
            let mut acc = [start; LANES];
            for (&a, b) in a.iter().zip(b.chunks_exact(width)) {
                let b = &b[p * LANES..][..LANES];
                for (acc, &b) in acc.iter_mut().zip(b) {
                    *acc += a * b;
                }
            }
            out.copy_from_slice(&acc);
        }
        for (p, out) in out.iter_mut().enumerate().skip(blocked) {
            let mut acc = start;
            for (&a, b) in a.iter().zip(b.chunks_exact(width)) {
                acc += a * b[p];
            }
            *out = acc;
        }
    }
}

/// `Σ a[p] · b[p]`, in `LANES` partial sums added in a fixed order.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let (a_blocks, b_blocks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_blocks
        .remainder()
        .iter()
        .zip(b_blocks.remainder())
        .map(|(a, b)| a * b)
        .sum();
    for (a, b) in a_blocks.zip(b_blocks) {
        for ((acc, a), b) in acc.iter_mut().zip(a).zip(b) {
            *acc += a * b;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `Σ a[p]`, in `LANES` partial sums added in a fixed order.
fn sum(a: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let blocks = a.chunks_exact(LANES);
    let tail: f32 = blocks.remainder().iter().sum();
    for a in blocks {
        for (acc, a) in acc.iter_mut().zip(a) {
            *acc += a;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// The windows of one image as columns, `(C * K * K, OH * OW)`: row
/// `c * K * K + ky * K + kx` holds input `(c, oy * S + ky - P, ox * S + kx - P)` at
/// column `oy * OW + ox`, zero where that falls in the padding.
fn im2col(shape: ConvShape, image: &[f32], cols: &mut [f32]) {
    let w = shape.windows;
    if w.padding > 0 {
        cols.fill(0.0);
    }
    let plane = w.height * w.width;
    let positions = w.positions();
    w.for_each_row(|c, ky, kx, oy, iy, (first, end)| {
        let src = &image[c * plane + iy * w.width..][..w.width];
        let row = (c * w.kernel + ky) * w.kernel + kx;
        let dst = &mut cols[row * positions + oy * w.out_width..][..w.out_width];
        gather_row(dst, src, kx, w.stride, w.padding, first, end);
    });
}

/// Adds the columns' gradient `cols` (laid out as by [`im2col`]) onto the image's
/// gradient `grad`, each column value onto the input it was gathered from.
fn col2im_add(shape: ConvShape, cols: &[f32], grad: &mut [f32]) {
    let w = shape.windows;
    let plane = w.height * w.width;
    let positions = w.positions();
    w.for_each_row(|c, ky, kx, oy, iy, (first, end)| {
        let row = (c * w.kernel + ky) * w.kernel + kx;
        let src = &cols[row * positions + oy * w.out_width..][..w.out_width];
        let dst = &mut grad[c * plane + iy * w.width..][..w.width];
        scatter_row(dst, src, kx, w.stride, w.padding, first, end);
    });
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
