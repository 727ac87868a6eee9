#!/usr/bin/env bash
# feddx's Conv2D<1, 32, 3> against PyTorch's Conv2d(1, 32, 3), back to back on this
# machine, both on 2 threads: prints each side's median and the ratio torch / feddx
# for the forward pass and for forward + backward (a ratio above 1: feddx is faster).
#
#   benches/peers/conv_vs_torch.sh
#
# Shapes (both sides): stride 1, no padding, with bias, a batch of 64 1x28x28 images;
# the forward pass alone (untraced; under no_grad), and forward plus backward of the
# output's sum with the input's, the weight's and the bias's gradients.
# feddx's side is `cargo bench --bench conv` (criterion's median, read from
# target/criterion), with rayon on 2 threads; PyTorch's is benches/peers/torch_conv.sh
# (torch 2.15.0 from PyPI in a virtualenv under target/, made on first use, 2 threads,
# the median of single calls over 5 s). On a machine shared with other work, only the
# ratio of one run means something; run it a few times and quote the spread.
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${CARGO_TARGET_DIR:-target}"
group=conv2d_1_32_3x3_batch_64_28x28

# Build and set up first, so that the two measurements follow each other directly.
cargo bench --bench conv --no-run --quiet
benches/peers/torch_conv.sh --setup-only

torch_out="$(mktemp)"
trap 'rm -f "$torch_out"' EXIT
echo "feddx: cargo bench --bench conv (RAYON_NUM_THREADS=2)" >&2
RAYON_NUM_THREADS=2 cargo bench --bench conv --quiet -- --warm-up-time 1 --measurement-time 5 >&2
echo "torch: benches/peers/torch_conv.sh" >&2
benches/peers/torch_conv.sh --seconds 5 | tee "$torch_out" >&2

python3 - "$target/criterion/$group" "$torch_out" <<'EOF'
import json
import re
import sys

criterion_dir, torch_out = sys.argv[1], sys.argv[2]
torch = {}
for line in open(torch_out):
    found = re.search(r"/(\w+): median ([0-9.]+) us", line)
    if found:
        torch[found.group(1)] = float(found.group(2)) / 1e3
print(f"{'':18} {'feddx ms':>9} {'torch ms':>9} {'torch/feddx':>12}")
for name in ["forward", "forward_backward"]:
    with open(f"{criterion_dir}/{name}/new/estimates.json") as f:
        feddx = json.load(f)["median"]["point_estimate"] / 1e6
    print(f"{name:18} {feddx:9.3f} {torch[name]:9.3f} {torch[name] / feddx:12.2f}")
EOF
