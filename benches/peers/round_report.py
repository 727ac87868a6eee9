#!/usr/bin/env python3
"""The table of `benches/flower_round.sh`: reads its work directory (each run's
`meta.json`, `flwr-run.log`, the proxy's `calls.jsonl`, and `sim.log`) and prints the
round times and the bytes per node. Standard library only.

    round_report.py WORK_DIR
"""

import json
import pathlib
import platform
import re
import statistics
import sys

PARAMETERS = 64 * 64 + 64 + 64 * 10 + 10
RAW_BYTES = 4 * PARAMETERS
IDLE_PULL_BODY = 0  # a pull that found no message answers with an empty body


def calls_of(run_dir):
    """The proxy's call records and connection totals."""
    calls, conns = [], []
    with open(run_dir / "calls.jsonl", encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            if rec.get("kind") == "conn":
                conns.append(rec)
            elif "path" in rec:
                calls.append(rec)
    return calls, conns


def endpoint(call):
    return call["path"].rsplit("/", 1)[-1]


def is_idle(call):
    """Heartbeats, and pulls that found no message."""
    name = endpoint(call)
    if name == "send-node-heartbeat":
        return True
    return name == "pull-messages" and call["resp_body"] <= IDLE_PULL_BODY


def sent(call):
    return call["req_head"] + call["req_body"]


def received(call):
    return call["resp_head"] + call["resp_body"]


def node_round(calls, t_start, t_end):
    """One node's round: its calls while `flwr run` ran, split into the message
    exchange and idle polling, with the exchange's timeline."""
    during = [c for c in calls if c["t0"] >= t_start and c["t0"] <= t_end]
    work = [c for c in during if not is_idle(c)]
    idle = [c for c in during if is_idle(c)]
    pulls = [c for c in work if endpoint(c) == "pull-messages"]
    pushes = [c for c in work if endpoint(c) == "push-messages"]
    out = {
        "sent": sum(map(sent, work)),
        "received": sum(map(received, work)),
        "sent_body": sum(c["req_body"] for c in work),
        "received_body": sum(c["resp_body"] for c in work),
        "calls": len(work),
        "call_s": statistics.median(c["t1"] - c["t0"] for c in work) if work else None,
        "by_endpoint": {},
        "idle_calls": len(idle),
        "idle_sent": sum(map(sent, idle)),
        "idle_received": sum(map(received, idle)),
    }
    for c in work:
        e = out["by_endpoint"].setdefault(endpoint(c), [0, 0, 0])
        e[0] += 1
        e[1] += sent(c)
        e[2] += received(c)
    if pulls and pushes:
        t_msg = pulls[0]["t1"]
        t_reply = pushes[0]["t0"]
        before = [c["t1"] for c in work if c["t0"] < t_reply]
        t_fetched = max(before)
        t_done = max(c["t1"] for c in work)
        out.update(
            t_msg=t_msg,
            t_done=t_done,
            fetch=t_fetched - t_msg,
            compute=t_reply - t_fetched,
            push=t_done - t_reply,
            busy=t_done - t_msg,
        )
    return out


def flower_run(run_dir):
    meta = json.loads((run_dir / "meta.json").read_text())
    log = (run_dir / "flwr-run.log").read_text(errors="replace")
    m = re.search(r"Strategy execution finished in ([0-9.]+)s", log)
    meta["strategy_s"] = float(m.group(1)) if m else None
    m = re.search(r"Aggregated MetricRecord: (\{[^}]*\})", log)
    meta["train_metrics"] = {}
    if m:
        for k, v in re.findall(r"'([^']+)': ([-0-9.e]+)", m.group(1)):
            meta["train_metrics"][k] = float(v)
    calls, conns = calls_of(run_dir)
    t0, t1 = meta["flwr_run_start"], meta["flwr_run_end"]
    nodes = sorted({c["node"] for c in calls})
    meta["nodes"] = {n: node_round([c for c in calls if c["node"] == n], t0, t1) for n in nodes}
    # The calls account for every byte on the wire.
    wire = sum(c["up"] + c["down"] for c in conns)
    framed = sum(sent(c) + received(c) for c in calls)
    meta["unframed_bytes"] = wire - framed
    meta["wall_s"] = t1 - t0
    meta["counters_agree"] = node_counters(run_dir, calls)
    done = [v["t_done"] for v in meta["nodes"].values() if "t_done" in v]
    got = [v["t_msg"] for v in meta["nodes"].values() if "t_msg" in v]
    meta["nodes_span_s"] = max(done) - min(got) if done and got else None
    meta["to_first_message_s"] = min(got) - t0 if got else None
    meta["after_last_reply_s"] = t1 - max(done) if done else None
    return meta


def node_counters(run_dir, calls):
    """For feddx nodes: whether the node's own byte counters (the protobuf bodies of
    its whole session, printed when it leaves) equal the proxy's, per node."""
    out = []
    for log in sorted(run_dir.glob("node-*.log")):
        m = re.search(r"(\d+) bytes sent, (\d+) received", log.read_text(errors="replace"))
        if not m:
            continue
        mine = [c for c in calls if c["node"] == log.stem]
        proxy = (sum(c["req_body"] for c in mine), sum(c["resp_body"] for c in mine))
        out.append((int(m.group(1)), int(m.group(2))) == proxy)
    return out


def simulation(work):
    """Criterion's estimates (ms) from sim.log, and its partition line."""
    text = (work / "sim.log").read_text(errors="replace")
    out = {"info": ""}
    m = re.search(r"flower_round_sim: (.*)", text)
    if m:
        out["info"] = m.group(1)
    unit = {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1e3}
    for name in ("parallel", "sequential"):
        m = re.search(
            rf"flower_round_sim/whole_round/{name}\s+time:\s+\[([0-9.]+) (\S+) ([0-9.]+) (\S+) ([0-9.]+) (\S+)\]",
            text,
        )
        if m:
            out[name] = float(m.group(3)) * unit[m.group(4)]
    return out


def spread(values, fmt):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def machine():
    cpu = ""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(
            int(line.split()[1]) for line in open("/proc/meminfo", encoding="utf-8")
            if line.startswith("MemTotal")
        )
    except (OSError, StopIteration):
        mem = 0
    import os

    return f"{os.cpu_count()} cores, {cpu}, {mem / 2**20:.0f} GiB, {platform.system()} {platform.release()}"


def main():
    work = pathlib.Path(sys.argv[1])
    runs = {"feddx": [], "torch": []}
    for d in sorted(work.iterdir()):
        if d.is_dir() and (d / "meta.json").exists():
            m = flower_run(d)
            runs[m["kind"]].append(m)
    sim = simulation(work)

    def per_node(kind, key):
        return [v.get(key) for m in runs[kind] for v in m["nodes"].values()]

    def per_run(kind, fn):
        return [fn(m) for m in runs[kind]]

    cols = ("feddx nodes", "PyTorch SuperNodes", "feddx simulation")
    rows = []

    def row(label, a, b, c=""):
        rows.append((label, a, b, c))

    n_runs = max(len(runs["feddx"]), len(runs["torch"]))
    row("round: FedAvg's own time",
        spread(per_run("feddx", lambda m: m["strategy_s"]), "{:.2f} s"),
        spread(per_run("torch", lambda m: m["strategy_s"]), "{:.2f} s"),
        f"{sim['parallel']:.1f} ms (clients in parallel)" if "parallel" in sim else "-")
    row("  nodes' span: first message in -> last reply stored",
        spread(per_run("feddx", lambda m: m["nodes_span_s"]), "{:.2f} s"),
        spread(per_run("torch", lambda m: m["nodes_span_s"]), "{:.2f} s"),
        f"{sim['sequential']:.1f} ms (in turn)" if "sequential" in sim else "")
    row("  per node: message in -> reply stored",
        spread(per_node("feddx", "busy"), "{:.3f} s"),
        spread(per_node("torch", "busy"), "{:.3f} s"))
    row("    fetching the message (pull objects)",
        spread(per_node("feddx", "fetch"), "{:.3f} s"),
        spread(per_node("torch", "fetch"), "{:.3f} s"))
    row("    between fetch and reply (training, process start)",
        spread(per_node("feddx", "compute"), "{:.3f} s"),
        spread(per_node("torch", "compute"), "{:.3f} s"))
    row("    pushing the reply (message + objects)",
        spread(per_node("feddx", "push"), "{:.3f} s"),
        spread(per_node("torch", "push"), "{:.3f} s"))
    tm = [m["train_metrics"] for m in runs["torch"]]
    keys = ("torch-import-s", "data-load-s", "setup-s", "train-s")
    if tm and all(k in t for t in tm for k in keys):
        row("      in the ClientApp: import torch+flwr / data / model+optimizer / SGD loop",
            "",
            " / ".join(spread([t[k] for t in tm], "{:.2f}") for k in keys) + " s")
        row("      SGD loop's CPU time (PyTorch: mean of the nodes)",
            "",
            spread([t["train-cpu-s"] for t in tm], "{:.3f} s")
            + f", {spread([t['torch-threads'] for t in tm], '{:.0f}')} thread(s)")
    row("  ServerApp: round - nodes' span (push, 3 s reply polls, pull, FedAvg)",
        spread(per_run("feddx", lambda m: m["strategy_s"] - m["nodes_span_s"]), "{:.2f} s"),
        spread(per_run("torch", lambda m: m["strategy_s"] - m["nodes_span_s"]), "{:.2f} s"))
    row("flwr run: command to exit",
        spread(per_run("feddx", lambda m: m["wall_s"]), "{:.2f} s"),
        spread(per_run("torch", lambda m: m["wall_s"]), "{:.2f} s"))
    row("  from the command to the first node having the message",
        spread(per_run("feddx", lambda m: m["to_first_message_s"]), "{:.2f} s"),
        spread(per_run("torch", lambda m: m["to_first_message_s"]), "{:.2f} s"))
    row("  from the last reply stored to the command's exit",
        spread(per_run("feddx", lambda m: m["after_last_reply_s"]), "{:.2f} s"),
        spread(per_run("torch", lambda m: m["after_last_reply_s"]), "{:.2f} s"))
    row("bytes sent per node per round",
        spread(per_node("feddx", "sent"), "{:.0f}"),
        spread(per_node("torch", "sent"), "{:.0f}"),
        f"0 (weights in memory)")
    row("  of which HTTP bodies (protobuf)",
        spread(per_node("feddx", "sent_body"), "{:.0f}"),
        spread(per_node("torch", "sent_body"), "{:.0f}"))
    row(f"  ratio to the raw weights ({RAW_BYTES} B)",
        spread([v / RAW_BYTES for v in per_node("feddx", "sent")], "{:.3f}"),
        spread([v / RAW_BYTES for v in per_node("torch", "sent")], "{:.3f}"))
    row("bytes received per node per round",
        spread(per_node("feddx", "received"), "{:.0f}"),
        spread(per_node("torch", "received"), "{:.0f}"))
    row(f"  ratio to the raw weights ({RAW_BYTES} B)",
        spread([v / RAW_BYTES for v in per_node("feddx", "received")], "{:.3f}"),
        spread([v / RAW_BYTES for v in per_node("torch", "received")], "{:.3f}"))
    row("HTTP calls per node for the round",
        spread(per_node("feddx", "calls"), "{:.0f}"),
        spread(per_node("torch", "calls"), "{:.0f}"))
    row("  median time of one call (proxy: request in -> response out)",
        spread(per_node("feddx", "call_s"), "{:.3f} s"),
        spread(per_node("torch", "call_s"), "{:.3f} s"))
    row("idle polling per node while `flwr run` ran",
        spread([v["idle_calls"] / m["wall_s"] for m in runs["feddx"] for v in m["nodes"].values()],
               "{:.1f} calls/s"),
        spread([v["idle_calls"] / m["wall_s"] for m in runs["torch"] for v in m["nodes"].values()],
               "{:.2f} calls/s"))
    row("  bytes (sent + received) of idle polling",
        spread([(v["idle_sent"] + v["idle_received"]) / m["wall_s"]
                for m in runs["feddx"] for v in m["nodes"].values()], "{:.0f} B/s"),
        spread([(v["idle_sent"] + v["idle_received"]) / m["wall_s"]
                for m in runs["torch"] for v in m["nodes"].values()], "{:.0f} B/s"))
    row("test accuracy of the round's model (feddx's test split)",
        spread(per_run("feddx", lambda m: m["test_accuracy"]), "{:.4f}"),
        spread(per_run("torch", lambda m: m["test_accuracy"]), "{:.4f}"))

    print()
    print(f"One FedAvg round, 3 nodes, digits MLP ({PARAMETERS} parameters), Flower 1.42.0 "
          f"on loopback; {n_runs} run(s) each, median (min-max) over runs and nodes")
    print(f"machine: {machine()}")
    polls = ", ".join(str(p) for p in sorted({m["poll_interval"] for m in runs["feddx"]}))
    print(f"feddx nodes: release flower_node, --poll-interval {polls} s; PyTorch SuperNodes: "
          f"Flower's defaults, torch {spread([m['train_metrics'].get('torch-threads') for m in runs['torch']], '{:.0f}')} thread(s)")
    if sim["info"]:
        print(f"simulation: {sim['info']}")
    width = [max(len(r[i]) for r in rows + [("",) + cols]) for i in range(4)]
    print()
    print("  ".join(s.ljust(w) for s, w in zip(("",) + cols, width)).rstrip())
    for r in rows:
        print("  ".join(s.ljust(w) for s, w in zip(r, width)).rstrip())

    print()
    print("bytes per node for the round, by Fleet API call (first run; sent / received, calls):")
    for kind in ("feddx", "torch"):
        if not runs[kind]:
            continue
        node = next(iter(runs[kind][0]["nodes"].values()))
        parts = ", ".join(
            f"{name} {s}/{r} B x{n}" for name, (n, s, r) in sorted(node["by_endpoint"].items())
        )
        print(f"  {kind}: {parts}")
    unframed = [m["unframed_bytes"] for k in runs for m in runs[k]]
    if any(unframed):
        print(f"note: {unframed} bytes on the wire were not attributed to a call")
    agree = [a for m in runs["feddx"] for a in m["counters_agree"]]
    if agree:
        print(f"feddx nodes' own byte counters (protobuf bodies of the whole session) equal "
              f"the proxy's: {sum(agree)} of {len(agree)} nodes")
    print("""
Notes:
- round: "Strategy execution finished in" of Flower's FedAvg; with no evaluator that is
  round 1 only. Its ServerApp (flwr/superlink/grid/http_grid.py, send_and_receive)
  pushes the messages, then looks for replies every 3 s, so a round takes a whole
  number of 3 s sleeps plus the pushes and pulls, however fast the nodes are.
- nodes' span and per node: from the proxy's timestamps; "message in" is the end of
  the pull that brought the train message, "reply stored" the end of the last push
  of its objects. A Python SuperNode pulls every 3 s when idle, and its SuperExec
  looks for ClientApp work every 1 s; each train message starts a new ClientApp
  process, which imports torch and Flower, and its first optimizer imports
  torch._dynamo.
- bytes: every TCP payload byte between the node and the SuperLink (HTTP/1.1 heads
  and bodies; no TLS, --insecure) for the round's calls: pull the message, get the
  run (and the FAB, Python only), pull its objects, confirm, push the reply and its
  objects. Each call's head is ~800 B, 515 B of them the node's signed identity
  (flwr-public-key, flwr-signature, flwr-timestamp), sent even without node
  authentication. Raw weights: 4 x 4810 float32 = 19240 B. The proxy (Python asyncio)
  is one more hop on every call, for both kinds of node alike.
- the machine runs everything: SuperLink, ServerApp, 3 nodes, the proxy; times vary
  with its load, bytes do not.
- test accuracy: `flower_node evaluate` of the round's global model on feddx's
  held-out 20%. The PyTorch nodes train on slices of their own (IID, stratified)
  split, which overlaps that test set, and feddx's partitions are Dirichlet(0.5)
  label-skewed: only a check that both trained, not a comparison.""")


if __name__ == "__main__":
    main()
