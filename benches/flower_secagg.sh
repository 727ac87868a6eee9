#!/usr/bin/env bash
# One SecAgg+ round (Flower's SecAggPlusWorkflow) over a real Flower 1.42.0 SuperLink on
# loopback, with 3 feddx nodes and with 3 Python SuperNodes, and the same round without
# SecAgg+ for scale: its time and the bytes each node sends and receives. Not part of CI.
#
#   benches/flower_secagg.sh             # one measurement of each configuration
#   REPEATS=3 benches/flower_secagg.sh   # each three times (fresh processes)
#
# Settings (environment): REPEATS (1); POLL_INTERVAL of the feddx nodes (0.05 s, as
# benches/flower_round.sh); CONFIGS, the configurations to run, in order (default
# "feddx-secagg python-secagg feddx-plain python-plain"); SKIP_BUILD=1 to use the
# `flower_node` already built. Logs and the proxy's records stay in
# target/tmp/flower-secagg.*/; the table is printed at the end
# (benches/peers/secagg_report.py WORK_DIR prints it again).
#
# Every configuration runs the app examples/flower_secagg/ (Flower's legacy FedAvg in
# DefaultWorkflow) with `num-server-rounds=1 min-nodes=3 num-shares=3
# reconstruction-threshold=2 evaluator=''` from the same initial arrays
# (`flower_node export-initial --seed 0`), and `stage-timeout=60.0` (the app's 30 s
# would drop a Python node whose ClientApp starts slowly on a loaded machine; it
# bounds each stage's wait, it does not add to it):
# - feddx-secagg (a): `secagg=true`, 3 release `flower_node`s, one Dirichlet(0.5)
#   partition of the digits' 80% training split each (`--partitions 3 --seed 0`),
#   polling every $POLL_INTERVAL s;
# - python-secagg (b): `secagg=true`, 3 Python `flower-supernode`s (of $FEDDX_FLWR_VENV:
#   flwr and numpy, no torch) running the app's ClientApp, the same MLP in NumPy behind
#   Flower's `secaggplus_mod`, each on every third row of the digits
#   (`--node-config "data-file=... partition=K partitions=3"`), with Flower's defaults;
# - feddx-plain (c): `secagg=false` over 3 feddx nodes as in a: what SecAgg+ costs;
# - python-plain: `secagg=false` over 3 Python SuperNodes as in b, whose ClientApp
#   runs without `secaggplus_mod` (the mod fails a train message without SecAgg+).
# Local training is the same everywhere (SGD lr 0.1, 5 epochs, batch 20; the app's run
# config), on partitions of different sizes (printed with the table).
#
# What is measured, per run (details in the report's notes):
# - round: Flower's own "Run finished 1 round(s) in X s" (DefaultWorkflow: from the
#   start of round 1 to its end, i.e. the fit, whether SecAggPlusWorkflow's four
#   stages or the plain fit, and an empty evaluation); it is logged the same way
#   whichever the nodes and whether SecAgg+ runs;
# - per node, from the counting proxy (benches/peers/count_proxy.py, one port per
#   node): each message the node got (4 with SecAgg+: setup, share_keys,
#   collect_masked_vectors, unmask; 1 without), the time from its arrival to the
#   reply being stored, and the HTTP bytes sent and received for the round,
#   excluding idle polling (heartbeats, pulls that found no message) as
#   benches/flower_round.sh counts; ratio = bytes sent / raw float32 weights
#   (4 x 4810 = 19240 B).
#
# Requirements: Python 3 with venv, PyPI once: $FEDDX_FLWR_VENV (target/flwr-venv)
# with flwr==1.42.0 (and numpy, which flwr pulls in), made when missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
FLWR_VENV="${FEDDX_FLWR_VENV:-$TARGET/flwr-venv}"
REPEATS="${REPEATS:-1}"
POLL_INTERVAL="${POLL_INTERVAL:-0.05}"
CONFIGS="${CONFIGS:-feddx-secagg python-secagg feddx-plain python-plain}"
NODES=3
SEED=0
NODE="$TARGET/release/examples/flower_node"
FLWR="flwr==1.42.0"

# shellcheck source=benches/flower_lib.sh
source "$ROOT/benches/flower_lib.sh"

for config in $CONFIGS; do
    case $config in
    feddx-secagg | python-secagg | feddx-plain | python-plain) ;;
    *)
        echo "unknown configuration '$config' in CONFIGS" >&2
        exit 2
        ;;
    esac
done

mkdir -p "$TARGET/tmp"
WORK="$(mktemp -d "$TARGET/tmp/flower-secagg.XXXXXX")"
echo "work directory (logs, proxy records): $WORK"

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    (cd "$ROOT" && cargo build --release -p feddx-flower --example flower_node)
fi
ensure_flwr_venv

INITIAL="$WORK/initial"
"$NODE" export-initial --seed "$SEED" --out "$INITIAL" >/dev/null

# secagg_round CONFIG REP: one Flower run of CONFIG (kind-mode); files in $WORK/CONFIG-REP.
secagg_round() {
    local config=$1 rep=$2
    local kind=${config%-*} mode=${config#*-}
    local dir="$WORK/$config-$rep"
    mkdir -p "$dir"
    start_link_and_proxy "$dir" "$NODES"

    local k
    for ((k = 0; k < NODES; k++)); do
        local log="$dir/node-$k.log"
        if [[ $kind == feddx ]]; then
            start_feddx_node "$log" "${PROXY_PORTS[k]}" "$k" "$NODES" "$SEED" "$POLL_INTERVAL"
        else
            mkdir -p "$dir/supernode-$k"
            start "$log" env -C "$dir" FLWR_HOME="$dir/supernode-$k" PATH="$FLWR_VENV/bin:$PATH" \
                "$FLWR_VENV/bin/flower-supernode" --insecure \
                --superlink "127.0.0.1:${PROXY_PORTS[k]}" --host 127.0.0.1 --port "$(free_port)" \
                --node-config "data-file='$ROOT/runtime/data/digits.csv.gz' partition=$k partitions=$NODES"
        fi
    done
    for ((k = 0; k < NODES; k++)); do
        wait_connected "$kind" "$dir/node-$k.log"
    done

    local app="$dir/app"
    scratch_app "$ROOT/examples/flower_secagg" "$app"
    if [[ $config == python-plain ]]; then
        # Flower's secaggplus_mod fails every train message without SecAgg+'s configs
        # (KeyError 'secaggplus_configs'), so the plain fit's Python nodes run the
        # same ClientApp without the mod.
        sed -i 's/mods=\[secaggplus_mod\]/mods=[]/' "$app/secagg_app/client_app.py"
        grep -q 'mods=\[\]' "$app/secagg_app/client_app.py"
    fi
    local secagg=true
    [[ $mode == secagg ]] || secagg=false
    local run_config="num-server-rounds=1 min-nodes=$NODES secagg=$secagg num-shares=3 reconstruction-threshold=2 stage-timeout=60.0 initial-arrays='$INITIAL' save-dir='$dir/rounds' evaluator=''"
    local t0 t1 rc=0
    t0="$(now)"
    (cd "$dir" && env FLWR_HOME="$LINK_HOME" PATH="$FLWR_VENV/bin:$PATH" timeout 300 \
        "$FLWR_VENV/bin/flwr" run "$app" local --stream --run-config "$run_config") \
        >"$dir/flwr-run.log" 2>&1 || rc=$?
    t1="$(now)"
    local ok=1
    grep -q '{"round": 1, "results": 3, "failures": 0}' "$dir/flwr-run.log" || ok=0
    grep -q "Run finished 1 round(s)" "$dir/flwr-run.log" || ok=0
    if [[ $mode == secagg ]] && ! grep -q "Secure aggregation completed" "$dir/flwr-run.log"; then
        ok=0
    fi
    if ((rc != 0 || ok == 0)); then
        echo "flwr run ($config) failed (exit $rc) or did not aggregate 3 results; end of its log:" >&2
        tail -n 60 "$dir/flwr-run.log" >&2
        for ((k = 0; k < NODES; k++)); do
            echo "---- node $k ----" >&2
            tail -n 20 "$dir/node-$k.log" >&2
        done
        exit 1
    fi
    stop_all

    local accuracy
    accuracy="$("$NODE" evaluate --seed "$SEED" --arrays "$dir/rounds/round-1" |
        sed -n 's/.*"sparse_categorical_accuracy": \([0-9.]*\).*/\1/p')"
    printf '{"config": "%s", "kind": "%s", "secagg": %s, "rep": %s, "flwr_run_start": %s, "flwr_run_end": %s, "test_accuracy": %s, "poll_interval": %s}\n' \
        "$config" "$kind" "$secagg" "$rep" "$t0" "$t1" "${accuracy:-null}" "$POLL_INTERVAL" >"$dir/meta.json"
    echo "$config run $rep: flwr run $(python3 -c "print(f'{$t1 - $t0:.2f}')") s, $(grep -o 'Run finished 1 round(s) in [0-9.]*s' "$dir/flwr-run.log")"
}

for ((rep = 1; rep <= REPEATS; rep++)); do
    for config in $CONFIGS; do
        secagg_round "$config" "$rep"
    done
done

python3 "$ROOT/benches/peers/secagg_report.py" "$WORK"
