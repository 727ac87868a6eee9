"""The ClientApp that Python SuperNodes run: the digits MLP (64-64-10, ReLU) trained
with NumPy behind Flower's `secaggplus_mod`, so Python nodes take part in the same
SecAgg+ rounds as feddx nodes (which never run this file).

A node reads its data from its node config: `digits` (the path of
`runtime/data/digits.csv.gz`), `partition` and `partitions`; it trains on rows
`partition::partitions` of the first 1,437 (the training split's size).
"""

import gzip

import numpy as np
from flwr.client import ClientApp, NumPyClient
from flwr.client.mod import secaggplus_mod
from flwr.common import Context


def load_digits(path: str, partition: int, partitions: int):
    with gzip.open(path, "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.float32)
    rows = rows[:1437][partition::partitions]
    return rows[:, :64] / 16.0, rows[:, 64].astype(np.int64)


class Mlp(NumPyClient):
    """Full SGD on softmax cross-entropy for the layout of `flower_node`'s model:
    `0.weight` (64, 64), `0.bias` (64), `2.weight` (10, 64), `2.bias` (10)."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def fit(self, parameters, config):
        w0, b0, w1, b1 = (np.array(p, dtype=np.float32) for p in parameters)
        lr = float(config.get("lr", 0.1))
        epochs = int(config.get("local-epochs", 1))
        batch = int(config.get("batch-size", 20)) or len(self.y)
        rng = np.random.default_rng(int(config.get("server-round", 0)))
        for _ in range(epochs):
            order = rng.permutation(len(self.y))
            for start in range(0, len(order), batch):
                i = order[start : start + batch]
                x, y = self.x[i], self.y[i]
                h = np.maximum(x @ w0.T + b0, 0.0)
                logits = h @ w1.T + b1
                p = np.exp(logits - logits.max(axis=1, keepdims=True))
                p /= p.sum(axis=1, keepdims=True)
                p[np.arange(len(y)), y] -= 1.0
                g = p / len(y)
                gh = (g @ w1) * (h > 0)
                w1 -= lr * g.T @ h
                b1 -= lr * g.sum(axis=0)
                w0 -= lr * gh.T @ x
                b0 -= lr * gh.sum(axis=0)
        return [w0, b0, w1, b1], len(self.y), {}

    def evaluate(self, parameters, config):
        return 0.0, len(self.y), {}


def client_fn(context: Context):
    cfg = context.node_config
    x, y = load_digits(str(cfg["digits"]), int(cfg["partition"]), int(cfg["partitions"]))
    return Mlp(x, y).to_client()


app = ClientApp(client_fn=client_fn, mods=[secaggplus_mod])
