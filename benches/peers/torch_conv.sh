#!/usr/bin/env bash
# PyTorch's CPU conv2d on the shapes of `cargo bench --bench conv` (2 threads).
#
#   benches/peers/torch_conv.sh
#
# Uses the virtualenv TORCH_VENV names, else target/bench-venv when it already has
# torch, else makes target/torch-venv with the pinned CPU wheel below.
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
            python3 -m venv "$venv"
            "$venv/bin/pip" install --quiet "torch==$TORCH_VERSION" \
                --index-url https://download.pytorch.org/whl/cpu
        fi
    fi
fi
exec "$venv/bin/python" benches/peers/torch_conv.py --threads 2 "$@"
