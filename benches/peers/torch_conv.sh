#!/usr/bin/env bash
# PyTorch's CPU conv2d on the shapes of `cargo bench --bench conv` (2 threads).
#
#   benches/peers/torch_conv.sh [--seconds S]
#   benches/peers/torch_conv.sh --setup-only    (makes the virtualenv, times nothing)
#
# `benches/peers/conv_vs_torch.sh` runs it right after feddx's side and prints the
# ratio; that ratio, not this script's times alone, is the figure to quote.
#
# Uses the virtualenv TORCH_VENV names, else target/bench-venv when it already has
# torch (benches/flower_round.sh makes it), else makes target/torch-venv with the
# pinned torch below from PyPI (the only index this needs). PyPI's Linux wheel is the
# CUDA build: `pip install --no-deps torch` does not import without its nvidia-*
# wheels (torch 2.15.0 preloads libcublasLt), so this installs it with its
# dependencies, ~5.6 GB, a few minutes; only the CPU code paths run.
set -euo pipefail
cd "$(dirname "$0")/../.."
TORCH_VERSION=2.15.0
target="${CARGO_TARGET_DIR:-target}"
venv="${TORCH_VENV:-}"
if [ -z "$venv" ]; then
    if "$target/bench-venv/bin/python" -c "import torch" 2>/dev/null; then
        venv="$target/bench-venv"
    else
        venv="$target/torch-venv"
        if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
            echo "making $venv with torch==$TORCH_VERSION from PyPI (~5.6 GB)" >&2
            python3 -m venv "$venv"
            "$venv/bin/pip" install --quiet --disable-pip-version-check "torch==$TORCH_VERSION"
        fi
    fi
fi
if [ "${1:-}" = --setup-only ]; then
    exit 0
fi
exec "$venv/bin/python" benches/peers/torch_conv.py --threads 2 "$@"
