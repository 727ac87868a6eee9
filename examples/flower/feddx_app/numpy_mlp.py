"""The digits MLP of feddx's `flower_node` (64 -> 64 -> ReLU -> 10), in NumPy.

A Python SuperNode running this app's ClientApp trains it, so that feddx nodes and
Python nodes can share one federation. The arrays have PyTorch's layout and feddx's
names (`0.weight` is 64x64, out x in). The node's data are every `partitions`-th row
of the digits CSV (`runtime/data/digits.csv.gz`: 64 pixels, then the label),
standardised. `examples/flower/`, `examples/flower_strategy/` and `examples/flower_secagg/` hold
the same file.
"""

import gzip

import numpy as np


def load(path: str, partition: int, partitions: int):
    """Features and labels of one partition of the digits CSV."""
    with gzip.open(path, "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.float32)
    x, y = rows[:, :64], rows[:, 64].astype(np.int64)
    std = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    return x[partition::partitions].astype(np.float32), y[partition::partitions]


def _forward(arrays, x):
    w1, b1, w2, b2 = arrays
    hidden = np.maximum(x @ w1.T + b1, 0.0)
    logits = hidden @ w2.T + b2
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return hidden, exp / exp.sum(axis=1, keepdims=True)


def evaluate(arrays, x, y):
    """Mean cross-entropy and accuracy."""
    _, probs = _forward(arrays, x)
    loss = float(-np.log(probs[np.arange(len(y)), y] + 1e-12).mean())
    return loss, float((probs.argmax(axis=1) == y).mean())


def train(arrays, x, y, lr: float, epochs: int, batch_size: int, seed: int):
    """Mini-batch SGD on the cross-entropy; the trained arrays (float32) and the
    loss and accuracy after training."""
    w1, b1, w2, b2 = (np.array(a, dtype=np.float32) for a in arrays)
    rng = np.random.default_rng(seed)
    batch_size = batch_size or len(y)
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), batch_size):
            rows = order[start : start + batch_size]
            xb, yb = x[rows], y[rows]
            hidden, grad = _forward((w1, b1, w2, b2), xb)
            grad[np.arange(len(rows)), yb] -= 1.0
            grad /= len(rows)
            grad_hidden = (grad @ w2) * (hidden > 0)
            w2 -= lr * (grad.T @ hidden)
            b2 -= lr * grad.sum(axis=0)
            w1 -= lr * (grad_hidden.T @ xb)
            b1 -= lr * grad_hidden.sum(axis=0)
    trained = [a.astype(np.float32) for a in (w1, b1, w2, b2)]
    return (trained, *evaluate(trained, x, y))


def node_data(node_config):
    """The partition a SuperNode's `--node-config` names, or a clear error."""
    if "data-file" not in node_config:
        raise RuntimeError(
            "this Python ClientApp needs `--node-config \"data-file='runtime/data/"
            "digits.csv.gz' partition=K partitions=N\"`; feddx nodes need no Python: "
            "`cargo run --release -p feddx-flower --example flower_node -- --superlink "
            "HOST:PORT ...`"
        )
    return load(
        str(node_config["data-file"]),
        int(node_config.get("partition", 0)),
        int(node_config.get("partitions", 1)),
    )
