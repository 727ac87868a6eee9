#!/usr/bin/env bash
# The README's DP-FedAvg table: the digits example over 300 clients, 100 a round, clip 1,
# 50 rounds, for each noise multiplier and both samplings, three private runs each (the
# noise comes from the operating system, so the accuracy varies from run to run; the
# epsilon does not). Compare the epsilons with
# `benches/peers/dp_accounting/run.sh dp_fedavg.py --table`.
#
#   bash benches/dp_table.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --example digits --quiet
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for z in 0.3 0.5 1 2; do
    for sampling in "" "--poisson"; do
        for run in 1 2 3; do
            # shellcheck disable=SC2086 # $sampling is one flag or none
            line=$(./target/release/examples/digits --clients 300 --clients-per-round 100 \
                --clip 1 --noise-multiplier "$z" $sampling --out "$out" \
                | grep -E '^final|^epsilon:' | tr '\n' ' ')
            echo "z=$z ${sampling:-fixed} run=$run $line"
        done
    done
done
