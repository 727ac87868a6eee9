#!/usr/bin/env bash
# Runs a script of this folder with the pinned dp-accounting, installed in a venv
# under the cargo target directory (never system-wide):
#
#   benches/peers/dp_accounting/run.sh > /tmp/grid.rs   # grid.py: the accountant's
#                                                       # grid in runtime/tests/privacy.rs
#   benches/peers/dp_accounting/run.sh dp_fedavg.py     # DP-FedAvg runs as the
#                                                       # simulation reports them
#   benches/peers/dp_accounting/run.sh dp_fedavg.py --table   # the README's table
set -euo pipefail

DP_ACCOUNTING_VERSION=0.6.0
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
venv="${CARGO_TARGET_DIR:-$root/target}/dp-venv"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" >&2
fi
if ! "$venv/bin/python" -c "import dp_accounting, sys; from importlib.metadata import version; sys.exit(version('dp-accounting') != '$DP_ACCOUNTING_VERSION')" 2>/dev/null; then
    "$venv/bin/pip" install --quiet "dp-accounting==$DP_ACCOUNTING_VERSION" >&2
fi
script="${1:-grid.py}"
shift || true
exec "$venv/bin/python" "$here/$script" "$@"
