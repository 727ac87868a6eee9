# Shell functions shared by the Flower benchmarks (benches/flower_round.sh,
# benches/flower_secagg.sh): starting and stopping processes, waiting for readiness by
# polling, the flwr virtualenv, and a SuperLink with one counting proxy port per node.
# Sourced, not run; the sourcing script sets `set -euo pipefail`, ROOT, TARGET,
# FLWR_VENV and FLWR before calling anything here.
#
# Sourcing it installs an EXIT trap that stops every process group started with
# `start`, and makes INT and TERM exit (so that the trap runs).

# ---------------------------------------------------------------------------
# Processes: each long-lived one starts in its own session (setsid), so that it and
# whatever it spawns (the SuperLink's SuperExec and ServerApp, a SuperNode's ClientApp)
# form one process group, stopped by its id on exit.
GROUPS_STARTED=()

group_alive() {
    ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}

stop_group() {
    local pgid=$1
    kill -TERM -- "-$pgid" 2>/dev/null || return 0
    for _ in $(seq 100); do
        group_alive "$pgid" || break
        sleep 0.05
    done
    kill -KILL -- "-$pgid" 2>/dev/null || true
    wait "$pgid" 2>/dev/null || true
}

# Stops the groups in reverse order of start: the nodes leave the federation through
# their proxy while the SuperLink still runs.
stop_all() {
    local i
    for ((i = ${#GROUPS_STARTED[@]} - 1; i >= 0; i--)); do
        stop_group "${GROUPS_STARTED[i]}"
    done
    GROUPS_STARTED=()
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# start LOG COMMAND...: runs COMMAND in the background, output in LOG.
start() {
    local log=$1
    shift
    setsid "$@" >"$log" 2>&1 </dev/null &
    GROUPS_STARTED+=("$!")
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# wait_for WHAT SECONDS LOG COMMAND...: polls COMMAND every 0.05 s; on timeout prints
# the end of LOG and fails.
wait_for() {
    local what=$1 seconds=$2 log=$3
    shift 3
    local deadline=$((SECONDS + seconds))
    until "$@"; do
        if ((SECONDS >= deadline)); then
            echo "timed out after ${seconds}s waiting for $what; end of $log:" >&2
            tail -n 40 "$log" >&2 || true
            exit 1
        fi
        sleep 0.05
    done
}

in_log() {
    grep -q -- "$2" "$1" 2>/dev/null
}

now() {
    date +%s.%N
}

# Makes $FLWR_VENV with $FLWR when it has no SuperLink.
ensure_flwr_venv() {
    if [[ ! -x "$FLWR_VENV/bin/flower-superlink" ]]; then
        echo "making $FLWR_VENV with $FLWR"
        python3 -m venv "$FLWR_VENV"
        "$FLWR_VENV/bin/pip" install --quiet --disable-pip-version-check "$FLWR"
    fi
}

# ---------------------------------------------------------------------------
# start_link_and_proxy DIR NODES: a `flower-superlink` on a free loopback port, with
# its FLWR_HOME (and the `flwr` config naming it "local") in DIR/flwr-home, and the
# counting proxy (benches/peers/count_proxy.py) with one port per node, named node-0
# .. node-(NODES-1), recording every call in DIR/calls.jsonl. Sets LINK_PORT,
# LINK_HOME and PROXY_PORTS (one per node) once both accept connections.
LINK_PORT=""
LINK_HOME=""
PROXY_PORTS=()

start_link_and_proxy() {
    local dir=$1 nodes=$2
    LINK_PORT="$(free_port)"
    LINK_HOME="$dir/flwr-home"
    mkdir -p "$LINK_HOME"
    printf '[superlink]\ndefault = "local"\n\n[superlink.local]\naddress = "127.0.0.1:%s"\ninsecure = true\n' \
        "$LINK_PORT" >"$LINK_HOME/config.toml"

    start "$dir/superlink.log" env -C "$dir" FLWR_HOME="$LINK_HOME" PATH="$FLWR_VENV/bin:$PATH" \
        "$FLWR_VENV/bin/flower-superlink" --insecure --host 127.0.0.1 --port "$LINK_PORT" \
        --disable-runtime-dependency-installation
    wait_for "the SuperLink's port" 90 "$dir/superlink.log" port_open "$LINK_PORT"

    local listen=() k
    PROXY_PORTS=()
    for ((k = 0; k < nodes; k++)); do
        PROXY_PORTS+=("$(free_port)")
        listen+=(--listen "node-$k=${PROXY_PORTS[k]}")
    done
    start "$dir/proxy.log" python3 "$ROOT/benches/peers/count_proxy.py" \
        --upstream "127.0.0.1:$LINK_PORT" "${listen[@]}" --log "$dir/calls.jsonl" \
        --ready-file "$dir/proxy.ready"
    wait_for "the proxy" 30 "$dir/proxy.log" test -e "$dir/proxy.ready"
}

# start_feddx_node LOG PROXY_PORT PARTITION PARTITIONS SEED POLL_INTERVAL: a release
# `flower_node` on one Dirichlet(0.5) partition, through its proxy port.
start_feddx_node() {
    local log=$1 port=$2 partition=$3 partitions=$4 seed=$5 poll=$6
    start "$log" "$TARGET/release/examples/flower_node" --superlink "127.0.0.1:$port" --insecure \
        --partition "$partition" --partitions "$partitions" --seed "$seed" \
        --poll-interval "$poll" --heartbeat-interval 30 --give-up-after 60
}

# wait_connected KIND LOG: waits for a feddx node (KIND feddx) or a Python SuperNode
# (any other KIND) to have joined the federation.
wait_connected() {
    local kind=$1 log=$2
    if [[ $kind == feddx ]]; then
        wait_for "$log to connect" 60 "$log" in_log "$log" "connected as node"
    else
        wait_for "$log to connect" 120 "$log" in_log "$log" "SuperNode ID"
    fi
}

# scratch_app SRC DST: a copy of the Flower app SRC without Python caches.
scratch_app() {
    cp -r "$1" "$2"
    find "$2" -name __pycache__ -prune -exec rm -rf {} +
}
