"""PyTorch's CPU conv2d on the shapes of `cargo bench --bench conv`.

Conv2d(1, 32, 3) (stride 1, no padding, with bias) on a batch of 64 1x28x28 images:
the forward pass alone (under no_grad, as feddx's untraced forward), and forward plus
backward of the output's sum, with the input requiring grad so that the input's,
the weight's and the bias's gradients are all computed, as on feddx's side.

Run by benches/peers/torch_conv.sh, which sets up the virtualenv.
"""

import argparse
import statistics
import time

import torch


def timed(step, seconds):
    """Per-call times of `step`, after a warm-up, over about `seconds` seconds."""
    end = time.perf_counter() + 1.0
    while time.perf_counter() < end:
        step()
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(1, 32, 3)
    x = torch.randn(64, 1, 28, 28, requires_grad=True)

    def forward():
        with torch.no_grad():
            conv(x)

    def forward_backward():
        conv(x).sum().backward()
        x.grad = None
        conv.zero_grad(set_to_none=True)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name, step in [("forward", forward), ("forward_backward", forward_backward)]:
        times = timed(step, args.seconds)
        print(
            f"conv2d_1_32_3x3_batch_64_28x28/{name}: median {statistics.median(times) * 1e6:.1f} us, "
            f"mean {statistics.fmean(times) * 1e6:.1f} us over {len(times)} calls"
        )


if __name__ == "__main__":
    main()
