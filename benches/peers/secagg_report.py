#!/usr/bin/env python3
"""The table of `benches/flower_secagg.sh`: reads its work directory (each run's
`meta.json`, `flwr-run.log`, the proxy's `calls.jsonl`, the nodes' logs) and prints
the round times, the time of each SecAgg+ stage and the bytes per node. Standard
library only; shares its counting with `round_report.py` (same directory).

    secagg_report.py WORK_DIR
"""

import json
import pathlib
import re
import statistics
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the tree for round_report

from round_report import (  # noqa: E402 - after the line above
    PARAMETERS,
    RAW_BYTES,
    calls_of,
    endpoint,
    is_idle,
    machine,
    node_counters,
    received,
    sent,
    spread,
)

CONFIGS = ("feddx-secagg", "python-secagg", "feddx-plain", "python-plain")
COLUMNS = {
    "feddx-secagg": "feddx, SecAgg+",
    "python-secagg": "Python, SecAgg+",
    "feddx-plain": "feddx, plain fit",
    "python-plain": "Python, plain fit",
}
SECAGG_STAGES = ("setup", "share_keys", "collect_masked_vectors", "unmask")
PLAIN_STAGES = ("train",)


def is_message(call):
    """A pull that brought a message: the start of one of the node's exchanges."""
    return endpoint(call) == "pull-messages" and not is_idle(call)


def exchanges(work, stages):
    """A node's round split at each message it pulled: per message, when it arrived
    (end of its pull), when the node's last call before the next message ended (its
    reply stored), and the bytes of all those calls."""
    out = []
    for call in sorted(work, key=lambda c: c["t0"]):
        if is_message(call):
            out.append({"t_msg": call["t1"], "t_done": call["t1"], "sent": 0, "received": 0})
        if not out:
            continue  # a call before the round's first message (none expected)
        ex = out[-1]
        ex["t_done"] = max(ex["t_done"], call["t1"])
        ex["sent"] += sent(call)
        ex["received"] += received(call)
    names = stages if len(out) == len(stages) else tuple(f"message {i + 1}" for i in range(len(out)))
    for name, ex in zip(names, out):
        ex["stage"] = name
        ex["busy"] = ex["t_done"] - ex["t_msg"]
    return out


def node_round(calls, t_start, t_end, stages):
    """One node's round: its calls while `flwr run` ran, without idle polling."""
    during = [c for c in calls if t_start <= c["t0"] <= t_end]
    work = [c for c in during if not is_idle(c)]
    idle = [c for c in during if is_idle(c)]
    return {
        "sent": sum(map(sent, work)),
        "received": sum(map(received, work)),
        "sent_body": sum(c["req_body"] for c in work),
        "calls": len(work),
        "idle_calls": len(idle),
        "idle_bytes": sum(sent(c) + received(c) for c in idle),
        "exchanges": exchanges(work, stages),
    }


def flower_run(run_dir):
    meta = json.loads((run_dir / "meta.json").read_text())
    log = (run_dir / "flwr-run.log").read_text(errors="replace")
    m = re.search(r"Run finished 1 round\(s\) in ([0-9.]+)s", log)
    meta["round_s"] = float(m.group(1)) if m else None
    meta["wall_s"] = meta["flwr_run_end"] - meta["flwr_run_start"]
    stages = SECAGG_STAGES if meta["secagg"] else PLAIN_STAGES
    calls, _ = calls_of(run_dir)
    t0, t1 = meta["flwr_run_start"], meta["flwr_run_end"]
    nodes = sorted({c["node"] for c in calls})
    meta["nodes"] = {
        n: node_round([c for c in calls if c["node"] == n], t0, t1, stages) for n in nodes
    }
    meta["counters_agree"] = node_counters(run_dir, calls)
    # Per stage, over the nodes: from the first node having the stage's message to the
    # first node having the next stage's (the last stage: to its last reply stored).
    meta["stages"] = {}
    by_stage = {}
    for v in meta["nodes"].values():
        for ex in v["exchanges"]:
            by_stage.setdefault(ex["stage"], []).append(ex)
    names = list(by_stage)
    for i, name in enumerate(names):
        start = min(ex["t_msg"] for ex in by_stage[name])
        if i + 1 < len(names):
            end = min(ex["t_msg"] for ex in by_stage[names[i + 1]])
        else:
            end = max(ex["t_done"] for ex in by_stage[name])
        meta["stages"][name] = end - start
    firsts = [ex["t_msg"] for exs in by_stage.values() for ex in exs]
    lasts = [ex["t_done"] for exs in by_stage.values() for ex in exs]
    meta["to_first_message_s"] = min(firsts) - t0 if firsts else None
    meta["nodes_span_s"] = max(lasts) - min(firsts) if firsts else None
    meta["after_last_reply_s"] = t1 - max(lasts) if lasts else None
    return meta


def partition_sizes(run_dir, kind):
    """Training examples of each node: from feddx nodes' logs; for Python nodes the
    app's split (every third row of the 1797 digits)."""
    if kind == "feddx":
        sizes = []
        for log in sorted(run_dir.glob("node-*.log")):
            m = re.search(r"partition \d+/\d+: (\d+) examples", log.read_text(errors="replace"))
            if m:
                sizes.append(m.group(1))
        return ",".join(sizes)
    return "599,599,599"


def main():
    work = pathlib.Path(sys.argv[1])
    runs = {c: [] for c in CONFIGS}
    dirs = {}
    for d in sorted(work.iterdir()):
        if d.is_dir() and (d / "meta.json").exists():
            m = flower_run(d)
            runs[m["config"]].append(m)
            dirs.setdefault(m["config"], d)
    configs = [c for c in CONFIGS if runs[c]]

    def cells(fn, fmt, per="run"):
        out = []
        for c in configs:
            if per == "run":
                values = [fn(m) for m in runs[c]]
            else:
                values = [fn(v) for m in runs[c] for v in m["nodes"].values()]
            out.append(spread(values, fmt))
        return out

    def stage_cells(stage, fn, fmt):
        out = []
        for c in configs:
            values = [fn(m, ex) for m in runs[c] for v in m["nodes"].values()
                      for ex in v["exchanges"] if ex["stage"] == stage]
            out.append(spread(values, fmt) if values else "")
        return out

    rows = []
    rows.append(["round: Flower's \"Run finished 1 round(s) in\""]
                + cells(lambda m: m["round_s"], "{:.2f} s"))
    rows.append(["  nodes' span: first message in -> last reply stored"]
                + cells(lambda m: m["nodes_span_s"], "{:.2f} s"))
    for stage in SECAGG_STAGES + PLAIN_STAGES:
        label = f"    {stage}: stage / per node, message in -> reply stored"
        stage_s = []
        for c in configs:
            values = [m["stages"].get(stage) for m in runs[c]]
            stage_s.append(spread(values, "{:.2f} s") if any(v is not None for v in values) else "")
        busy = stage_cells(stage, lambda m, ex: ex["busy"], "{:.2f} s")
        if any(stage_s):
            rows.append([label] + [f"{a} / {b}" if a else "" for a, b in zip(stage_s, busy)])
    rows.append(["flwr run: command to exit"] + cells(lambda m: m["wall_s"], "{:.2f} s"))
    rows.append(["  from the command to the first node having a message"]
                + cells(lambda m: m["to_first_message_s"], "{:.2f} s"))
    rows.append(["  from the last reply stored to the command's exit"]
                + cells(lambda m: m["after_last_reply_s"], "{:.2f} s"))
    rows.append(["bytes sent per node for the round"] + cells(lambda v: v["sent"], "{:.0f}", "node"))
    rows.append(["  of which HTTP bodies (protobuf)"]
                + cells(lambda v: v["sent_body"], "{:.0f}", "node"))
    rows.append([f"  ratio to the raw weights ({RAW_BYTES} B)"]
                + cells(lambda v: v["sent"] / RAW_BYTES, "{:.3f}", "node"))
    rows.append(["bytes received per node for the round"]
                + cells(lambda v: v["received"], "{:.0f}", "node"))
    rows.append([f"  ratio to the raw weights ({RAW_BYTES} B)"]
                + cells(lambda v: v["received"] / RAW_BYTES, "{:.3f}", "node"))
    for stage in SECAGG_STAGES + PLAIN_STAGES:
        s = stage_cells(stage, lambda m, ex: ex["sent"], "{:.0f}")
        r = stage_cells(stage, lambda m, ex: ex["received"], "{:.0f}")
        if any(s):
            rows.append([f"  {stage}: sent / received"]
                        + [f"{a} / {b}" if a else "" for a, b in zip(s, r)])
    rows.append(["HTTP calls per node for the round"] + cells(lambda v: v["calls"], "{:.0f}", "node"))
    rows.append(["idle polling per node while `flwr run` ran (calls/s, B/s)"]
                + [spread([v["idle_calls"] / m["wall_s"] for m in runs[c] for v in m["nodes"].values()],
                          "{:.2f}")
                   + ", "
                   + spread([v["idle_bytes"] / m["wall_s"] for m in runs[c] for v in m["nodes"].values()],
                            "{:.0f}")
                   for c in configs])
    rows.append(["training examples per node"]
                + [partition_sizes(dirs[c], runs[c][0]["kind"]) for c in configs])
    rows.append(["test accuracy after the round (feddx's test split)"]
                + cells(lambda m: m["test_accuracy"], "{:.4f}"))

    n_runs = max(len(runs[c]) for c in configs)
    print()
    print(f"One round of Flower's legacy FedAvg (DefaultWorkflow), SecAggPlusWorkflow "
          f"(num_shares 3, reconstruction_threshold 2) or the plain fit, 3 nodes, digits MLP "
          f"({PARAMETERS} parameters), Flower 1.42.0 on loopback; {n_runs} run(s) each, "
          f"median (min-max) over runs and nodes")
    print(f"machine: {machine()}")
    polls = ", ".join(str(p) for p in sorted({m["poll_interval"] for c in configs for m in runs[c]
                                              if m["kind"] == "feddx"}))
    print(f"feddx nodes: release flower_node, --poll-interval {polls or '-'} s; Python nodes: "
          f"flower-supernode with Flower's defaults, the app's NumPy ClientApp behind "
          f"secaggplus_mod (without it in the plain fit)")
    header = [""] + [COLUMNS[c] for c in configs]
    width = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    print()
    print("  ".join(s.ljust(w) for s, w in zip(header, width)).rstrip())
    for r in rows:
        print("  ".join(s.ljust(w) for s, w in zip(r, width)).rstrip())

    agree = [a for c in configs for m in runs[c] if m["kind"] == "feddx" for a in m["counters_agree"]]
    if agree:
        print()
        print(f"feddx nodes' own byte counters (protobuf bodies of the whole session) equal "
              f"the proxy's: {sum(agree)} of {len(agree)} nodes")
    odd = [f"{c} run {m['rep']}" for c in configs for m in runs[c]
           for v in m["nodes"].values()
           if len(v["exchanges"]) != (4 if m["secagg"] else 1)]
    if odd:
        print(f"note: unexpected number of messages per node in {sorted(set(odd))}")
    print("""
Notes:
- round: DefaultWorkflow's "Run finished 1 round(s) in X s": from the start of round 1
  (after the nodes registered and the initial parameters were set) to its end: the fit
  (SecAggPlusWorkflow's four stages, or one train message) and an empty evaluation.
  Each stage, like the plain fit, pushes one message per node and then looks for the
  replies every 3 s (flwr/superlink/grid/http_grid.py, send_and_receive), so a
  SecAgg+ round takes at least four such 3 s waits where a plain fit takes one.
- stages: from the proxy's timestamps. A stage is counted from the first node having
  its message (end of the pull that brought it) to the first node having the next
  stage's (the last stage: to its last reply stored); "message in -> reply stored"
  is one node's part: fetching the message's objects, the work, pushing the reply.
  The ServerApp's own time (its 3 s polls, pushing, the masks' removal) is the rest.
- Python nodes: a SuperNode pulls every 3 s when idle, and its SuperExec looks for
  ClientApp work every 1 s; every message (each stage) starts a new ClientApp
  process, which imports Flower and NumPy; the ClientApp trains (and loads its data)
  in collect_masked_vectors only.
- bytes: every TCP payload byte between the node and the SuperLink (HTTP/1.1 heads
  and bodies, no TLS) for the round's calls, idle polling excluded (heartbeats, pulls
  that found no message), counted by benches/peers/count_proxy.py. Each call's head
  is ~800 B, of which 515 B are the node's signed identity (flower_round.sh's notes).
  The masked vector goes as 8-byte integers (int64 .npy: the weights quantised to
  2^22 levels, masked mod 2^32), twice the float32 weights; collect_masked_vectors
  also brings the global model (float32 .npy) and the others' encrypted shares.
- test accuracy: `flower_node evaluate` of the round's model on feddx's held-out
  20%. The Python nodes train on every third row of all the digits (IID, overlapping
  that test set), the feddx nodes on Dirichlet(0.5) label-skewed partitions of the
  80% training split: only a check that each trained, not a comparison.""")


if __name__ == "__main__":
    main()
