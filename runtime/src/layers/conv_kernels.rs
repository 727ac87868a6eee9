//! The loops of [`Conv2D`](super::modules::Conv2D): forward and backward over a batch,
//! one image at a time on rayon's pool.
//!
//! Each image's windows are gathered into columns (`im2col`, `R = C * K * K` rows of
//! `P = OH * OW` positions) in a per-thread scratch buffer, so no batch-sized column
//! matrix is ever built. The forward pass is then one small matrix product per image,
//! `out = W · cols + bias`; the backward pass, from the output's gradient `G` of that
//! image, computes the weight's gradient `G · colsᵀ`, the bias's (the row sums of `G`)
//! and the columns' gradient `Wᵀ · G`, which it scatters back onto the image's gradient
//! (`col2im`). The products are blocked over `ROWS` x `LANES` values, so the compiler
//! keeps the accumulators in vector registers; on x86-64 CPUs with AVX2 (checked at run
//! time) the per-image loops run compiled for it, the only `unsafe` here besides the
//! output buffer's initialisation.
//!
//! The result does not depend on the number of threads: each image is computed by the
//! same sequential code whichever thread runs it, and the weight and bias gradients are
//! per-image partial sums added up in image order afterwards.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::cpu_op::Windows;

/// Positions computed together in the blocked loops (two AVX registers). Every value's
/// sum runs in the same order whatever the vector width, so SSE2 and AVX2 give the
/// same bits.
const LANES: usize = 16;

/// Rows computed together in the blocked loops: independent accumulators, so that the
/// adds do not wait on each other.
const ROWS: usize = 4;

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
    let len = x.len() / image_len * out_len;
    // Not zeroed for the whole batch up front (a pass over memory of the output's
    // size): each image's part is zeroed by its thread, in the cache, then written.
    let mut out = Vec::with_capacity(len);
    out.spare_capacity_mut()[..len]
        .par_chunks_mut(out_len)
        .zip(x.par_chunks(image_len))
        .for_each_init(
            || shape.cols(),
            |cols, (out, x)| {
                out.fill(MaybeUninit::new(0.0));
                // SAFETY: every value of `out` was initialised just above, and
                // `MaybeUninit<f32>` has the layout of `f32`.
                let out = unsafe { &mut *(out as *mut [MaybeUninit<f32>] as *mut [f32]) };
                forward_image(shape, x, weight, bias, cols, out);
            },
        );
    // SAFETY: the chunks above cover `..len`, and each was initialised in full.
    unsafe { out.set_len(len) };
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
                let scratch = Scratch { cols, grad_cols };
                backward_image(shape, x, &weight_t, grad_out, scratch, partial, grad_x);
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

/// [`forward`] on one image: `out = weight · im2col(x) + bias`, `cols` for scratch.
fn forward_image(
    shape: ConvShape,
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    cols: &mut [f32],
    out: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { forward_image_avx2(shape, x, weight, bias, cols, out) };
    }
    forward_image_body(shape, x, weight, bias, cols, out);
}

/// [`forward_image_body`] compiled for AVX2 (8 lanes, against SSE2's 4).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn forward_image_avx2(
    shape: ConvShape,
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    cols: &mut [f32],
    out: &mut [f32],
) {
    forward_image_body(shape, x, weight, bias, cols, out);
}

/// The loops of [`forward_image`], inlined into each compiled version.
#[inline(always)]
fn forward_image_body(
    shape: ConvShape,
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    cols: &mut [f32],
    out: &mut [f32],
) {
    im2col(shape, x, cols);
    product(weight, shape.rows(), cols, Some(bias), out);
}

/// Per-thread scratch of the backward pass: an image's columns and their gradient.
struct Scratch<'a> {
    cols: &'a mut [f32],
    grad_cols: &'a mut [f32],
}

/// [`backward`] on one image: writes the image's weight and bias gradients to
/// `partial` and adds its input's gradient to `grad_x`.
fn backward_image(
    shape: ConvShape,
    x: &[f32],
    weight_t: &[f32],
    grad_out: &[f32],
    scratch: Scratch<'_>,
    partial: &mut [f32],
    grad_x: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe {
            backward_image_avx2(shape, x, weight_t, grad_out, scratch, partial, grad_x)
        };
    }
    backward_image_body(shape, x, weight_t, grad_out, scratch, partial, grad_x);
}

/// [`backward_image_body`] compiled for AVX2.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn backward_image_avx2(
    shape: ConvShape,
    x: &[f32],
    weight_t: &[f32],
    grad_out: &[f32],
    scratch: Scratch<'_>,
    partial: &mut [f32],
    grad_x: &mut [f32],
) {
    backward_image_body(shape, x, weight_t, grad_out, scratch, partial, grad_x);
}

/// The loops of [`backward_image`], inlined into each compiled version.
#[inline(always)]
fn backward_image_body(
    shape: ConvShape,
    x: &[f32],
    weight_t: &[f32],
    grad_out: &[f32],
    scratch: Scratch<'_>,
    partial: &mut [f32],
    grad_x: &mut [f32],
) {
    let (rows, positions) = (shape.rows(), shape.positions());
    im2col(shape, x, scratch.cols);
    let (grad_w, grad_b) = partial.split_at_mut(shape.out_channels * rows);
    for ((g, grad_w), grad_b) in grad_out
        .chunks_exact(positions)
        .zip(grad_w.chunks_exact_mut(rows))
        .zip(grad_b)
    {
        *grad_b = sum(g);
        dots(g, scratch.cols, grad_w);
    }
    product(
        weight_t,
        shape.out_channels,
        grad_out,
        None,
        scratch.grad_cols,
    );
    col2im_add(shape, scratch.grad_cols, grad_x);
}

/// Row-major `out[i, p] = init[i] + Σ_j a[i, j] · b[j, p]` (`init` 0 when `None`),
/// for `a` of `inner` columns and `b` of `out`'s width (`b.len() / inner`). Each value
/// is summed in the order of `j`; rows go `ROWS` at a time, and the last few together.
#[inline(always)]
fn product(a: &[f32], inner: usize, b: &[f32], init: Option<&[f32]>, out: &mut [f32]) {
    let width = b.len() / inner;
    let starts = |i: usize, n: usize| -> [f32; ROWS] {
        let mut starts = [0.0; ROWS];
        if let Some(init) = init {
            starts[..n].copy_from_slice(&init[i..i + n]);
        }
        starts
    };
    let mut outs = out.chunks_exact_mut(ROWS * width);
    let mut a_rows = a.chunks_exact(ROWS * inner);
    let mut i = 0;
    for (out, a) in (&mut outs).zip(&mut a_rows) {
        product_rows::<ROWS>(a, b, width, starts(i, ROWS), out);
        i += ROWS;
    }
    let (out, a) = (outs.into_remainder(), a_rows.remainder());
    let start = starts(i, out.len() / width);
    match out.len() / width {
        1 => product_rows::<1>(a, b, width, start, out),
        2 => product_rows::<2>(a, b, width, start, out),
        3 => product_rows::<3>(a, b, width, start, out),
        _ => {}
    }
}

/// [`product`] on `N` rows at once (`N <= ROWS`), `N` x `LANES` sums in flight.
#[inline(always)]
fn product_rows<const N: usize>(
    a: &[f32],
    b: &[f32],
    width: usize,
    start: [f32; ROWS],
    out: &mut [f32],
) {
    let inner = a.len() / N;
    let blocked = width - width % LANES;
    for p in (0..blocked).step_by(LANES) {
        let mut acc = [[0.0f32; LANES]; N];
        for (acc, &start) in acc.iter_mut().zip(&start) {
            *acc = [start; LANES];
        }
        for (j, b) in b.chunks_exact(width).enumerate() {
            let b = &b[p..p + LANES];
            for (r, acc) in acc.iter_mut().enumerate() {
                let a = a[r * inner + j];
                for (acc, &b) in acc.iter_mut().zip(b) {
                    *acc += a * b;
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            out[r * width + p..][..LANES].copy_from_slice(acc);
        }
    }
    for r in 0..N {
        let (a, out) = (&a[r * inner..][..inner], &mut out[r * width..][..width]);
        for (p, out) in out.iter_mut().enumerate().skip(blocked) {
            let mut acc = start[r];
            for (&a, b) in a.iter().zip(b.chunks_exact(width)) {
                acc += a * b[p];
            }
            *out = acc;
        }
    }
}

/// `out[r] = Σ_p g[p] · cols[r, p]` for each row `r` of `cols` (of `g`'s length), each
/// summed in `LANES` partial sums added in a fixed order; rows go `ROWS` at a time, and
/// the last few together.
#[inline(always)]
fn dots(g: &[f32], cols: &[f32], out: &mut [f32]) {
    let width = g.len();
    let mut outs = out.chunks_exact_mut(ROWS);
    let mut col_rows = cols.chunks_exact(ROWS * width);
    for (out, cols) in (&mut outs).zip(&mut col_rows) {
        dots_rows::<ROWS>(g, cols, out);
    }
    let (out, cols) = (outs.into_remainder(), col_rows.remainder());
    match out.len() {
        1 => dots_rows::<1>(g, cols, out),
        2 => dots_rows::<2>(g, cols, out),
        3 => dots_rows::<3>(g, cols, out),
        _ => {}
    }
}

/// [`dots`] on `N` rows at once (`N <= ROWS`).
#[inline(always)]
fn dots_rows<const N: usize>(g: &[f32], cols: &[f32], out: &mut [f32]) {
    let width = g.len();
    let blocked = width - width % LANES;
    let mut acc = [[0.0f32; LANES]; N];
    for p in (0..blocked).step_by(LANES) {
        let g = &g[p..p + LANES];
        for (r, acc) in acc.iter_mut().enumerate() {
            let c = &cols[r * width + p..][..LANES];
            for ((acc, &g), &c) in acc.iter_mut().zip(g).zip(c) {
                *acc += g * c;
            }
        }
    }
    for (r, (out, acc)) in out.iter_mut().zip(&acc).enumerate() {
        let c = &cols[r * width + blocked..(r + 1) * width];
        let tail: f32 = g[blocked..].iter().zip(c).map(|(g, c)| g * c).sum();
        *out = acc.iter().sum::<f32>() + tail;
    }
}

/// `Σ a[p]`, in `ROWS` x `LANES` partial sums (independent adds) added in a fixed
/// order.
#[inline(always)]
fn sum(a: &[f32]) -> f32 {
    let mut acc = [[0.0f32; LANES]; ROWS];
    let blocks = a.chunks_exact(ROWS * LANES);
    let tail: f32 = blocks.remainder().iter().sum();
    for a in blocks {
        for (acc, a) in acc.iter_mut().zip(a.chunks_exact(LANES)) {
            for (acc, a) in acc.iter_mut().zip(a) {
                *acc += a;
            }
        }
    }
    acc.iter().flatten().sum::<f32>() + tail
}

/// The windows of one image as columns, `(C * K * K, OH * OW)`: row
/// `c * K * K + ky * K + kx` holds input `(c, oy * S + ky - P, ox * S + kx - P)` at
/// column `oy * OW + ox`, zero where that falls in the padding.
#[inline(always)]
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
#[inline(always)]
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` values in [-1, 1) from a fixed sequence.
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    /// The portable loops (what a CPU without AVX2 runs) give the bits of the
    /// dispatched ones, on shapes with and without tails in both blocked dimensions.
    #[test]
    fn portable_and_dispatched_loops_give_the_same_bits() {
        for (channels, out_channels, side, kernel, stride, padding) in
            [(1, 32, 28, 3, 1, 0), (2, 5, 9, 3, 2, 1), (3, 7, 6, 2, 1, 0)]
        {
            let out_side = (side + 2 * padding - kernel) / stride + 1;
            let shape = ConvShape {
                windows: Windows {
                    batch: 1,
                    channels,
                    height: side,
                    width: side,
                    kernel,
                    stride,
                    padding,
                    out_height: out_side,
                    out_width: out_side,
                },
                out_channels,
            };
            let (rows, positions) = (shape.rows(), shape.positions());
            let x = values(shape.image_len(), 1);
            let weight = values(out_channels * rows, 2);
            let weight_t = values(out_channels * rows, 3);
            let bias = values(out_channels, 4);
            let grad_out = values(shape.out_len(), 5);
            let mut cols = shape.cols();
            let (mut portable, mut dispatched) = (
                vec![0.0; positions * out_channels],
                vec![0.0; positions * out_channels],
            );
            forward_image_body(shape, &x, &weight, &bias, &mut cols, &mut portable);
            forward_image(shape, &x, &weight, &bias, &mut cols, &mut dispatched);
            assert_eq!(bits(&portable), bits(&dispatched), "forward, {shape:?}");
            let per_image = out_channels * rows + out_channels;
            let mut grads = [
                (vec![0.0; per_image], vec![0.0; x.len()]),
                (vec![0.0; per_image], vec![0.0; x.len()]),
            ];
            for (i, (partial, grad_x)) in grads.iter_mut().enumerate() {
                let (mut cols, mut grad_cols) = (shape.cols(), shape.cols());
                let scratch = Scratch {
                    cols: &mut cols,
                    grad_cols: &mut grad_cols,
                };
                if i == 0 {
                    backward_image_body(shape, &x, &weight_t, &grad_out, scratch, partial, grad_x);
                } else {
                    backward_image(shape, &x, &weight_t, &grad_out, scratch, partial, grad_x);
                }
            }
            assert_eq!(
                bits(&grads[0].0),
                bits(&grads[1].0),
                "weight and bias grads, {shape:?}"
            );
            assert_eq!(
                bits(&grads[0].1),
                bits(&grads[1].1),
                "input grad, {shape:?}"
            );
            assert!(grads[0].1.iter().any(|&g| g != 0.0));
        }
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|v| v.to_bits()).collect()
    }
}
