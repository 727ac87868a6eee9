#!/usr/bin/env bash
# Instructions per training step, generated model against hand-written dfdx,
# counted by valgrind's callgrind (repeatable, unlike wall time on a shared machine).
# Cost per step = (instructions of N+1 steps - instructions of 1 step) / N, so the
# set-up (loading the data, building both models) cancels out.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${STEPS:-200}
bin=$(cargo bench --bench step_instructions --no-run --message-format=json 2>/dev/null \
  | grep -o '"executable":"[^"]*step_instructions[^"]*"' | tail -n 1 | cut -d'"' -f4)
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
printf '%-42s %14s\n' variant instructions/step
for prefix in "" two_heads_ cnn_; do
  base=""
  for v in hand_written generated generated_keeping_predictions; do
    name="$prefix$v"
    per=$(( ($(count "$name" $((steps + 1))) - $(count "$name" 1)) / steps ))
    [ -z "$base" ] && base=$per
    ratio=$(awk -v a="$per" -v b="$base" 'BEGIN { printf "%.4f", a / b }')
    printf '%-42s %14d  (x%s of hand_written)\n' "$name" "$per" "$ratio"
  done
done
