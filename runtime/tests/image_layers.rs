//! `Conv2D`, `MaxPool2D` and `Flatten2D` against plain f64 loops: forward values and
//! the gradients of the input, the weight and the bias, for several shapes.

use feddx_runtime::layers::sizes::ConvOutput;
use feddx_runtime::prelude::*;
use feddx_runtime::weights::{flat_weights, named_weights, num_trainable, set_flat_weights};

/// `(B, C, H, W)` images.
type Images<const C: usize, const H: usize, const W: usize, T = NoneTape> =
    Tensor<(usize, Const<C>, Const<H>, Const<W>), f32, Cpu, T>;

/// Relative closeness: `|a - b| <= 1e-4 * max(1, |b|)`, value by value.
fn assert_close(what: &str, actual: &[f32], expected: &[f64]) {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let tol = 1e-4 * e.abs().max(1.0);
        assert!(
            (f64::from(a) - e).abs() <= tol,
            "{what}[{i}]: got {a}, expected {e}"
        );
    }
}

/// Row-major index of `(a, b, c, d)` in a tensor of dims `[_, nb, nc, nd]`.
fn at(dims: [usize; 4], a: usize, b: usize, c: usize, d: usize) -> usize {
    ((a * dims[1] + b) * dims[2] + c) * dims[3] + d
}

/// The input `(iy, ix)` that output `(oy, ox)` reads at kernel offset `(ky, kx)`, if
/// it is not padding.
fn source(
    (oy, ox, ky, kx): (usize, usize, usize, usize),
    stride: usize,
    padding: usize,
    (h, w): (usize, usize),
) -> Option<(usize, usize)> {
    let iy = (oy * stride + ky).checked_sub(padding)?;
    let ix = (ox * stride + kx).checked_sub(padding)?;
    (iy < h && ix < w).then_some((iy, ix))
}

/// Forward and backward of `Conv2D<I, O, K, S, P>` on `batch` images `H`x`W`, against
/// the f64 reference; the loss is `sum(y * r)` for random `r`, so `dL/dy = r`.
fn check_conv<
    const I: usize,
    const O: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const H: usize,
    const W: usize,
>(
    batch: usize,
    seed: u64,
) where
    Const<H>: ConvOutput<K, S, P>,
    Const<W>: ConvOutput<K, S, P>,
{
    let dev = Cpu::seed_from_u64(seed);
    let conv = dev.build_module::<Conv2D<I, O, K, S, P>, f32>();
    let x: Images<I, H, W> = dev.sample_normal_like(&(batch, Const, Const, Const));
    let y = conv.forward(x.leaky_trace());
    let out_dims = y.shape().concrete();
    let (oh, ow) = (out_dims[2], out_dims[3]);
    assert_eq!(oh, (H + 2 * P - K) / S + 1, "output height");
    assert_eq!(ow, (W + 2 * P - K) / S + 1, "output width");
    assert_eq!(out_dims, [batch, O, oh, ow]);
    let r = dev.sample_normal_like(y.shape());
    let y_values = y.as_vec();
    let grads = (y * r.clone()).sum().backward();

    let xs: Vec<f64> = x.as_vec().into_iter().map(f64::from).collect();
    let ws: Vec<f64> = conv.weight.as_vec().into_iter().map(f64::from).collect();
    let bs: Vec<f64> = conv.bias.as_vec().into_iter().map(f64::from).collect();
    let rs: Vec<f64> = r.as_vec().into_iter().map(f64::from).collect();
    let x_dims = [batch, I, H, W];
    let w_dims = [O, I, K, K];
    let mut y_ref = vec![0.0; batch * O * oh * ow];
    let mut gx = vec![0.0; xs.len()];
    let mut gw = vec![0.0; ws.len()];
    let mut gb = vec![0.0; O];
    for b in 0..batch {
        for o in 0..O {
            for oy in 0..oh {
                for ox in 0..ow {
                    let yi = at(out_dims, b, o, oy, ox);
                    let mut sum = bs[o];
                    gb[o] += rs[yi];
                    for c in 0..I {
                        for ky in 0..K {
                            for kx in 0..K {
                                let Some((iy, ix)) = source((oy, ox, ky, kx), S, P, (H, W)) else {
                                    continue;
                                };
                                let xi = at(x_dims, b, c, iy, ix);
                                let wi = at(w_dims, o, c, ky, kx);
                                sum += ws[wi] * xs[xi];
                                gx[xi] += rs[yi] * ws[wi];
                                gw[wi] += rs[yi] * xs[xi];
                            }
                        }
                    }
                    y_ref[yi] = sum;
                }
            }
        }
    }
    let name = format!("Conv2D<{I}, {O}, {K}, {S}, {P}> on {batch}x{I}x{H}x{W}");
    assert_close(&format!("{name} output"), &y_values, &y_ref);
    assert_close(&format!("{name} input grad"), &grads.get(&x).as_vec(), &gx);
    assert_close(
        &format!("{name} weight grad"),
        &grads.get(&conv.weight).as_vec(),
        &gw,
    );
    assert_close(
        &format!("{name} bias grad"),
        &grads.get(&conv.bias).as_vec(),
        &gb,
    );
}

#[test]
fn conv_matches_the_reference_forward_and_backward() {
    check_conv::<1, 2, 3, 1, 0, 5, 6>(2, 0);
    check_conv::<2, 3, 3, 1, 1, 8, 8>(3, 1);
    check_conv::<2, 3, 3, 2, 1, 7, 7>(2, 2);
    check_conv::<3, 4, 2, 2, 0, 6, 8>(2, 3);
    check_conv::<2, 2, 5, 1, 2, 8, 8>(1, 4);
    check_conv::<1, 3, 1, 1, 0, 4, 4>(2, 5);
    check_conv::<2, 3, 3, 3, 1, 9, 5>(2, 6);
    check_conv::<1, 2, 7, 4, 3, 13, 11>(2, 7);
    check_conv::<4, 5, 3, 2, 0, 10, 12>(3, 8);
    // A larger batch, and larger images.
    check_conv::<2, 3, 3, 1, 1, 8, 8>(21, 9);
    check_conv::<1, 2, 3, 1, 0, 26, 26>(3, 10);
}

#[test]
fn conv_takes_a_const_batch_and_a_traced_non_contiguous_input() {
    let dev = Cpu::seed_from_u64(9);
    let conv = dev.build_module::<Conv2D<2, 3, 3, 1, 1>, f32>();
    // The same values as a permuted (non-contiguous) tensor and as a contiguous one.
    let x: Tensor<Rank4<2, 2, 5, 5>, f32, Cpu> = dev.sample_normal();
    let t: Tensor<Rank4<2, 2, 5, 5>, f32, Cpu> =
        x.clone().permute::<_, Axes4<0, 1, 3, 2>>().contiguous();
    let permuted = t
        .leaky_trace()
        .permute::<Rank4<2, 2, 5, 5>, Axes4<0, 1, 3, 2>>();
    let y1 = conv.forward(permuted);
    let y2: Tensor<Rank4<2, 3, 5, 5>, f32, Cpu> = conv.forward(x.clone());
    assert_eq!(y1.as_vec(), y2.as_vec());
    let grads = y1.sum().backward();
    let g = grads
        .get(&t)
        .permute::<Rank4<2, 2, 5, 5>, Axes4<0, 1, 3, 2>>();
    let x_grads = conv.forward(x.leaky_trace()).sum().backward();
    assert_eq!(g.as_vec(), x_grads.get(&x).as_vec());
}

/// The output and the input's, weight's and bias's gradients of `Conv2D<2, 5, 3, 1, 1>`
/// on 9 images, computed on a rayon pool of `threads` threads.
fn conv_bits_on(threads: usize) -> [Vec<f32>; 4] {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool for a test")
        .install(|| {
            let dev = Cpu::seed_from_u64(11);
            let conv = dev.build_module::<Conv2D<2, 5, 3, 1, 1>, f32>();
            let x: Images<2, 12, 12> = dev.sample_normal_like(&(9, Const, Const, Const));
            let y = conv.forward(x.leaky_trace());
            let r = dev.sample_normal_like(y.shape());
            let out = y.as_vec();
            let grads = (y * r).sum().backward();
            [
                out,
                grads.get(&x).as_vec(),
                grads.get(&conv.weight).as_vec(),
                grads.get(&conv.bias).as_vec(),
            ]
        })
}

#[test]
fn conv_gives_the_same_bits_on_any_number_of_threads() {
    let one = conv_bits_on(1);
    for threads in [2, 3, 4] {
        let many = conv_bits_on(threads);
        for (what, (a, b)) in ["output", "input grad", "weight grad", "bias grad"]
            .iter()
            .zip(one.iter().zip(&many))
        {
            let (a, b): (Vec<u32>, Vec<u32>) = (
                a.iter().map(|v| v.to_bits()).collect(),
                b.iter().map(|v| v.to_bits()).collect(),
            );
            assert_eq!(a, b, "{what} on 1 and {threads} threads");
        }
    }
}

/// Forward and backward of `MaxPool2D<K, S, P>` against the f64 reference.
fn check_pool<
    const C: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const H: usize,
    const W: usize,
>(
    batch: usize,
    seed: u64,
) where
    Const<H>: ConvOutput<K, S, P>,
    Const<W>: ConvOutput<K, S, P>,
{
    let dev = Cpu::seed_from_u64(seed);
    let x: Images<C, H, W> = dev.sample_normal_like(&(batch, Const, Const, Const));
    let y = MaxPool2D::<K, S, P>.forward(x.leaky_trace());
    let out_dims = y.shape().concrete();
    let (oh, ow) = (out_dims[2], out_dims[3]);
    assert_eq!(
        out_dims,
        [batch, C, (H + 2 * P - K) / S + 1, (W + 2 * P - K) / S + 1]
    );
    let r = dev.sample_normal_like(y.shape());
    let y_values = y.as_vec();
    let grads = (y * r.clone()).sum().backward();

    let xs = x.as_vec();
    let rs = r.as_vec();
    let x_dims = [batch, C, H, W];
    let mut y_ref = vec![f64::NEG_INFINITY; y_values.len()];
    let mut gx = vec![0.0; xs.len()];
    for b in 0..batch {
        for c in 0..C {
            for oy in 0..oh {
                for ox in 0..ow {
                    let yi = at(out_dims, b, c, oy, ox);
                    let mut arg = None;
                    for ky in 0..K {
                        for kx in 0..K {
                            if let Some((iy, ix)) = source((oy, ox, ky, kx), S, P, (H, W)) {
                                let xi = at(x_dims, b, c, iy, ix);
                                if f64::from(xs[xi]) > y_ref[yi] {
                                    y_ref[yi] = f64::from(xs[xi]);
                                    arg = Some(xi);
                                }
                            }
                        }
                    }
                    gx[arg.expect("every window holds an input")] += f64::from(rs[yi]);
                }
            }
        }
    }
    let name = format!("MaxPool2D<{K}, {S}, {P}> on {batch}x{C}x{H}x{W}");
    assert_close(&format!("{name} output"), &y_values, &y_ref);
    assert_close(&format!("{name} input grad"), &grads.get(&x).as_vec(), &gx);
}

#[test]
fn max_pool_matches_the_reference_forward_and_backward() {
    check_pool::<2, 2, 2, 0, 8, 8>(3, 10);
    check_pool::<1, 2, 2, 0, 7, 9>(2, 11);
    check_pool::<3, 3, 1, 1, 5, 6>(2, 12);
    check_pool::<2, 3, 2, 1, 9, 8>(2, 13);
    check_pool::<1, 2, 1, 0, 4, 4>(1, 14);
    check_pool::<2, 5, 3, 2, 11, 10>(2, 15);
}

#[test]
fn max_pool_sends_a_tied_window_gradient_to_its_first_maximum() {
    let dev = Cpu::default();
    let x: Images<1, 2, 2> =
        dev.tensor_from_vec(vec![1.0, 1.0, 0.0, 1.0], (1, Const, Const, Const));
    let y = MaxPool2D::<2, 2>.forward(x.leaky_trace());
    assert_eq!(y.as_vec(), [1.0]);
    let grads = y.sum().backward();
    assert_eq!(grads.get(&x).as_vec(), [1.0, 0.0, 0.0, 0.0]);
}

#[test]
fn flatten_is_row_major_channel_row_column_and_passes_gradients_through() {
    let dev = Cpu::default();
    let values: Vec<f32> = (0..2 * 3 * 4 * 4).map(|i| i as f32).collect();
    let x: Images<3, 4, 4> = dev.tensor_from_vec(values.clone(), (2, Const, Const, Const));
    let y: Tensor<(usize, Const<48>), f32, Cpu, _> = Flatten2D.forward(x.leaky_trace());
    assert_eq!(y.as_vec(), values);
    // Element (b, c, h, w) lands at column c * 16 + h * 4 + w of row b.
    let a = x.array_at(1, 2, 3, 1);
    assert_eq!(y.as_vec()[48 + 2 * 16 + 3 * 4 + 1], a);
    let weights: Vec<f32> = (0..96).map(|i| (i % 7) as f32).collect();
    let r = dev.tensor_from_vec(weights.clone(), (2, Const::<48>));
    let grads = (y * r).sum().backward();
    assert_eq!(grads.get(&x).as_vec(), weights);
}

/// Reads `(b, c, h, w)` of a contiguous batch.
trait ArrayAt {
    fn array_at(&self, b: usize, c: usize, h: usize, w: usize) -> f32;
}

impl<const C: usize, const H: usize, const W: usize> ArrayAt for Images<C, H, W> {
    fn array_at(&self, b: usize, c: usize, h: usize, w: usize) -> f32 {
        self.as_vec()[at([0, C, H, W], b, c, h, w)]
    }
}

type Cnn = (
    Conv2D<1, 4, 3, 1, 1>,
    ReLU,
    MaxPool2D<2, 2>,
    Flatten2D,
    Linear<64, 10>,
);

#[test]
fn a_conv_net_has_named_weights_that_round_trip_as_one_vector() {
    let dev = Cpu::seed_from_u64(0);
    let mut net = dev.build_module::<Cnn, f32>();
    let named = named_weights(&net);
    let described: Vec<(&str, &[usize])> = named
        .iter()
        .map(|t| (t.name.as_str(), t.shape.as_slice()))
        .collect();
    assert_eq!(
        described,
        [
            ("0.weight", &[4, 1, 3, 3][..]),
            ("0.bias", &[4][..]),
            ("4.weight", &[10, 64][..]),
            ("4.bias", &[10][..]),
        ]
    );
    assert_eq!(num_trainable(&net), 4 * 9 + 4 + 640 + 10);
    // PyTorch's initialisation: within ±1/sqrt(fan_in), and not all equal.
    let bound = 1.0 / 9f32.sqrt();
    assert!(named[0].values.iter().all(|v| v.abs() <= bound));
    assert!(named[0]
        .values
        .iter()
        .any(|v| (v - named[0].values[0]).abs() > 1e-6));
    let new: Vec<f32> = (0..num_trainable(&net)).map(|i| i as f32).collect();
    set_flat_weights(&mut net, &new).unwrap();
    assert_eq!(flat_weights(&net), new);
    assert_eq!(net.0.bias.as_vec(), [36.0, 37.0, 38.0, 39.0]);
}

#[test]
fn a_conv_net_trains_with_sgd() {
    let dev = Cpu::seed_from_u64(1);
    let mut net = dev.build_module::<Cnn, f32>();
    let mut opt = Sgd::new(
        &net,
        SgdConfig {
            lr: 0.1,
            momentum: None,
            weight_decay: None,
        },
    );
    let x: Images<1, 8, 8> = dev.sample_normal_like(&(16, Const, Const, Const));
    let labels: Vec<usize> = (0..16).map(|i| i % 10).collect();
    let mut grads = net.alloc_grads();
    let mut losses = Vec::new();
    for _ in 0..30 {
        let targets = dev.tensor_from_vec(labels.clone(), (16,));
        let loss = net
            .forward(x.clone().traced(grads))
            .log_softmax::<Axis<1>>()
            .select(targets)
            .mean()
            .negate();
        losses.push(loss.array());
        grads = loss.backward();
        opt.update(&mut net, &grads).unwrap();
        net.zero_grads(&mut grads);
    }
    assert!(
        losses[29] < 0.5 * losses[0],
        "the loss should fall on a fixed batch: {losses:?}"
    );
}
