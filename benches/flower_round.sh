#!/usr/bin/env bash
# One federated round over a real Flower 1.42.0 SuperLink on loopback, three ways,
# with its time and the bytes each node sends and receives. Not part of CI.
#
#   benches/flower_round.sh            # one measurement of each (a, b, c)
#   REPEATS=3 benches/flower_round.sh  # a and b three times each (fresh processes)
#
# Settings (environment): REPEATS (1); POLL_INTERVAL of the feddx nodes (0.05 s);
# TORCH_THREADS of each PyTorch ClientApp (1; 0 for torch's default, one per core:
# with 3 nodes on 2 cores that oversubscribes the machine and the SGD loop gets some
# 15 times slower); SKIP_BUILD=1 to use the binaries already built. Logs and the proxy's
# records stay in target/tmp/flower-round.*/; the table is printed at the end
# (benches/peers/round_report.py WORK_DIR prints it again).
#
# a. feddx: 3 `flower_node` (release) nodes, one Dirichlet(0.5) partition of the
#    digits' 80% training split each (`--partitions 3 --seed 0`), polling every
#    $POLL_INTERVAL s (0.05), + `flower-superlink` + `flwr run examples/flower`.
# b. PyTorch: 3 Python `flower-supernode`s running the ClientApp of
#    benches/peers/flower_torch/ (the same MLP 64-64-10, the same local training:
#    SGD lr 0.1, 5 epochs, batch 20, cross-entropy, on partitions of the same sizes as
#    a's) + `flower-superlink` + `flwr run` of that app, whose ServerApp is
#    examples/flower's, copied in unchanged (Flower's FedAvg).
# c. the same round as a in feddx's simulation (`cargo bench --bench flower_round_sim`):
#    no network, no processes.
#
# Both a and b run `num-server-rounds=1 min-nodes=3` from the same initial arrays
# (`flower_node export-initial --seed 0`), with `evaluator=''`: no server-side
# evaluation, so Flower's round is only train messages out, local training, replies
# in, FedAvg. The final arrays are evaluated afterwards, outside every timing, by
# `flower_node evaluate` on feddx's held-out 20% (a sanity check that both trained;
# b's split differs from feddx's, so its number is only indicative).
#
# What is measured, per run:
# - round: Flower's own "Strategy execution finished in X s" (FedAvg.start: from
#   sampling the nodes to the aggregated result; with no evaluator that is round 1 and
#   nothing else, it starts once all 3 nodes are connected);
# - flwr run: wall time of `flwr run --stream`, from the command to its exit (building
#   and uploading the FAB, the SuperLink starting the ServerApp process, the round, the
#   run's end);
# - per node, from the calls the counting proxy saw (benches/peers/count_proxy.py: each
#   node talks to the SuperLink through its own proxy port): the time from the train
#   message reaching the node to its reply being stored, and the HTTP bytes (heads +
#   bodies, i.e. every TCP payload byte) the node sent and received for the round: every
#   call except the idle ones (heartbeats, and pulls that found no message), which are
#   counted apart as idle polling. Ratio = bytes sent / raw weight bytes (4 x 4810
#   parameters = 19240 bytes).
#
# Flower's defaults are kept on the Python side (a SuperNode pulls every 3 s when idle,
# its SuperExec looks for ClientApp work every 1 s): those are what a user gets.
#
# Requirements: Python 3 with venv, PyPI. Virtualenvs, made when missing:
# - $FEDDX_FLWR_VENV (target/flwr-venv): flwr==1.42.0 (SuperLink, `flwr`), as the tests;
# - $FEDDX_BENCH_VENV (target/bench-venv): flwr==1.42.0 and torch (the Python SuperNodes).
#   torch: plain `pip install flwr==1.42.0 torch` from PyPI worked: torch 2.15.0 with its
#   CUDA wheels (nvidia-*, triton), 5.6 GB, in 4 min 19 s on the bench machine (2-core
#   VM). Where that is too slow, `pip install torch --no-deps` plus filelock,
#   typing-extensions, sympy, networkx, jinja2 and fsspec also runs the CPU code paths;
#   set BENCH_TORCH_NO_DEPS=1 for that route.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
FLWR_VENV="${FEDDX_FLWR_VENV:-$TARGET/flwr-venv}"
BENCH_VENV="${FEDDX_BENCH_VENV:-$TARGET/bench-venv}"
REPEATS="${REPEATS:-1}"
POLL_INTERVAL="${POLL_INTERVAL:-0.05}"
TORCH_THREADS="${TORCH_THREADS:-1}"
PARTITIONS=3
SEED=0
PEERS="$ROOT/benches/peers"
NODE="$TARGET/release/examples/flower_node"
FLWR="flwr==1.42.0"

# shellcheck source=benches/flower_lib.sh
source "$ROOT/benches/flower_lib.sh"

mkdir -p "$TARGET/tmp"
WORK="$(mktemp -d "$TARGET/tmp/flower-round.XXXXXX")"
echo "work directory (logs, proxy records): $WORK"

# ---------------------------------------------------------------------------
# Builds and virtualenvs.
# SKIP_BUILD=1: use the binaries already built (while the tree does not build).
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    (
        cd "$ROOT"
        cargo build --release -p feddx-flower --example flower_node
        cargo bench --bench flower_round_sim --no-run
    )
fi

ensure_flwr_venv
if [[ ! -x "$BENCH_VENV/bin/flower-supernode" ]] || ! "$BENCH_VENV/bin/python" -c 'import torch' 2>/dev/null; then
    echo "making $BENCH_VENV with $FLWR and torch (PyPI; several minutes, ~5.6 GB)"
    started=$SECONDS
    python3 -m venv "$BENCH_VENV"
    if [[ "${BENCH_TORCH_NO_DEPS:-0}" == 1 ]]; then
        "$BENCH_VENV/bin/pip" install --quiet --disable-pip-version-check "$FLWR" \
            filelock typing-extensions sympy networkx jinja2 fsspec
        "$BENCH_VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps torch
    else
        "$BENCH_VENV/bin/pip" install --quiet --disable-pip-version-check "$FLWR" torch
    fi
    echo "installed in $((SECONDS - started)) s"
fi

INITIAL="$WORK/initial"
"$NODE" export-initial --seed "$SEED" --out "$INITIAL" >/dev/null

# ---------------------------------------------------------------------------
# One Flower run: KIND is feddx or torch; the run's files go to $WORK/KIND-REP.
PARTITION_SIZES=""

flower_round() {
    local kind=$1 rep=$2
    local dir="$WORK/$kind-$rep"
    mkdir -p "$dir"
    start_link_and_proxy "$dir" "$PARTITIONS"
    local k home="$LINK_HOME"

    for ((k = 0; k < PARTITIONS; k++)); do
        local log="$dir/node-$k.log"
        if [[ $kind == feddx ]]; then
            start_feddx_node "$log" "${PROXY_PORTS[k]}" "$k" "$PARTITIONS" "$SEED" "$POLL_INTERVAL"
        else
            mkdir -p "$dir/supernode-$k"
            start "$log" env FLWR_HOME="$dir/supernode-$k" PATH="$BENCH_VENV/bin:$PATH" \
                "$BENCH_VENV/bin/flower-supernode" --insecure \
                --superlink "127.0.0.1:${PROXY_PORTS[k]}" --port "$(free_port)" \
                --node-config "data-path=\"$ROOT/runtime/data/digits.csv.gz\" partition-id=$k num-partitions=$PARTITIONS partition-sizes=\"$PARTITION_SIZES\" seed=$SEED torch-threads=$TORCH_THREADS"
        fi
    done
    for ((k = 0; k < PARTITIONS; k++)); do
        wait_connected "$kind" "$dir/node-$k.log"
    done
    if [[ $kind == feddx ]]; then
        # The partition sizes, for the PyTorch nodes to train on as many examples.
        PARTITION_SIZES="$(for ((k = 0; k < PARTITIONS; k++)); do
            sed -n 's/^partition [0-9]*\/[0-9]*: \([0-9]*\) examples.*/\1/p' "$dir/node-$k.log"
        done | paste -sd, -)"
    fi

    # The app, from a scratch copy.
    local app="$dir/app"
    if [[ $kind == feddx ]]; then
        scratch_app "$ROOT/examples/flower" "$app"
    else
        scratch_app "$PEERS/flower_torch" "$app"
        cp "$ROOT/examples/flower/feddx_app/server_app.py" "$app/torch_app/server_app.py"
    fi

    local config="num-server-rounds=1 min-nodes=$PARTITIONS round-timeout=120.0 initial-arrays='$INITIAL' save-dir='$dir/rounds' evaluator=''"
    local t0 t1 rc=0
    t0="$(now)"
    (cd "$dir" && env FLWR_HOME="$home" PATH="$FLWR_VENV/bin:$PATH" timeout 300 \
        "$FLWR_VENV/bin/flwr" run "$app" local --stream --run-config "$config") \
        >"$dir/flwr-run.log" 2>&1 || rc=$?
    t1="$(now)"
    if ((rc != 0)) || ! grep -q "Strategy execution finished" "$dir/flwr-run.log"; then
        echo "flwr run ($kind) failed (exit $rc); end of its log:" >&2
        tail -n 60 "$dir/flwr-run.log" >&2
        for ((k = 0; k < PARTITIONS; k++)); do
            echo "---- node $k ----" >&2
            tail -n 20 "$dir/node-$k.log" >&2
        done
        exit 1
    fi
    stop_all

    local accuracy
    accuracy="$("$NODE" evaluate --seed "$SEED" --arrays "$dir/rounds/final" |
        sed -n 's/.*"sparse_categorical_accuracy": \([0-9.]*\).*/\1/p')"
    printf '{"kind": "%s", "rep": %s, "flwr_run_start": %s, "flwr_run_end": %s, "test_accuracy": %s, "poll_interval": %s}\n' \
        "$kind" "$rep" "$t0" "$t1" "${accuracy:-null}" "$POLL_INTERVAL" >"$dir/meta.json"
    echo "$kind run $rep: flwr run $(python3 -c "print(f'{$t1 - $t0:.2f}')") s, $(grep -o 'Strategy execution finished in [0-9.]*s' "$dir/flwr-run.log")"
}

for ((rep = 1; rep <= REPEATS; rep++)); do
    flower_round feddx "$rep"
    flower_round torch "$rep"
done

# ---------------------------------------------------------------------------
# c. The simulation.
if [[ "${SKIP_BUILD:-0}" == 1 ]]; then
    sim=("$(ls -t "$TARGET"/release/deps/flower_round_sim-* | grep -v '\.d$' | head -n 1)" --bench)
else
    sim=(cargo bench --bench flower_round_sim)
fi
(cd "$ROOT" && "${sim[@]}") >"$WORK/sim.log" 2>&1 || {
    tail -n 40 "$WORK/sim.log" >&2
    exit 1
}

python3 "$PEERS/round_report.py" "$WORK"
