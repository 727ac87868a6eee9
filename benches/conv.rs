//! `Conv2D<1, 32, 3>` (stride 1, no padding) on a batch of 64 1x28x28 images: the
//! forward pass alone, and forward plus backward. `benches/peers/conv_vs_torch.sh`
//! runs it and PyTorch's CPU `conv2d` on the same shapes back to back, and prints the
//! ratio.
//!
//! ```text
//! cargo bench --bench conv
//! ```
//!
//! Forward plus backward traces the input, sums the 64x32x26x26 output and runs
//! `backward`, which computes the gradients of the input, the weight and the bias
//! (PyTorch's side does the same: its input requires grad); the gradients are
//! allocated once and zeroed after each step, as in training.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use feddx::prelude::*;

type Images = Tensor<(usize, Const<1>, Const<28>, Const<28>), f32, Cpu>;

const BATCH: usize = 64;

fn conv(c: &mut Criterion) {
    let dev = Cpu::seed_from_u64(0);
    let net = dev.build_module::<Conv2D<1, 32, 3>, f32>();
    let x: Images = dev.sample_normal_like(&(BATCH, Const, Const, Const));
    let mut group = c.benchmark_group("conv2d_1_32_3x3_batch_64_28x28");
    group.bench_function("forward", |b| b.iter(|| black_box(net.forward(x.clone()))));
    let mut grads = Some(net.alloc_grads());
    group.bench_function("forward_backward", |b| {
        b.iter(|| {
            let traced = x
                .clone()
                .traced(grads.take().expect("gradients are put back"));
            let mut g = net.forward(traced).sum().backward();
            black_box(g.get(&net.weight));
            net.zero_grads(&mut g);
            grads = Some(g);
        })
    });
    group.finish();
}

criterion_group!(benches, conv);
criterion_main!(benches);
