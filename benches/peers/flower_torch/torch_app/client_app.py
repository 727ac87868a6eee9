"""The bench's Python peer: a Flower ClientApp that trains the feddx digits MLP in
PyTorch, so that `benches/flower_round.sh` can set Python SuperNodes beside feddx nodes
under the same ServerApp (Flower's FedAvg).

The model is the feddx node's: `nn.Sequential(Linear(64, 64), ReLU(), Linear(64, 10))`,
whose `state_dict` names ("0.weight" [64, 64], "0.bias", "2.weight" [10, 64], "2.bias")
and shapes are those of `flower_node export-initial`, so the same initial arrays and the
same FedAvg serve both. Local training is the feddx node's: plain SGD, mean
cross-entropy, `local-epochs` epochs of shuffled batches of `batch-size` at `lr`, all
three taken from the `train` message's config (0.1, 5, 20 in the bench).

The data are the UCI digits of `runtime/data/digits.csv.gz` (64 pixel counts 0..16,
then the label; no header): pixels / 16, a stratified 80/20 split (round(0.2 * n) of
each class held out, as feddx's `train_test_split`), standardised with the training
statistics, and the training part cut into disjoint partitions. The split is not
feddx's bit for bit, only the same shape of work: with `partition-sizes` in the node
config (the script passes the sizes of the feddx nodes' Dirichlet partitions) each node
trains on exactly as many examples as the feddx node of the same partition.

Node config: `data-path` (the CSV), `partition-id`, `num-partitions`, and optionally
`partition-sizes` ("a,b,c"), `seed` and `torch-threads` (intra-op threads; 0 or absent:
torch's default, one per core). The bench sets 1: three nodes on a 2-core machine with
torch's default of 2 threads each oversubscribe it, and OpenMP's waiting threads then
make the 95-145 small SGD steps some 15 times slower (5.7 s instead of 0.3-0.4 s).
"""

import time

_T0 = time.time()

import gzip  # noqa: E402
import math  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict  # noqa: E402
from flwr.clientapp import ClientApp  # noqa: E402

# Seconds this process spent importing numpy, torch and Flower.
IMPORT_SECONDS = time.time() - _T0

app = ClientApp()


def digit_classifier() -> nn.Module:
    """The feddx `DigitClassifier`: 8x8 pixels in, one logit per digit out."""
    return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


def load_partition(context: Context) -> tuple[torch.Tensor, torch.Tensor]:
    """This node's training examples (standardised features, labels)."""
    cfg = context.node_config
    seed = int(cfg.get("seed", 0))
    part = int(cfg["partition-id"])
    parts = int(cfg["num-partitions"])
    with gzip.open(str(cfg["data-path"]), "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.float32)
    x, y = rows[:, :64] / 16.0, rows[:, 64].astype(np.int64)

    rng = np.random.default_rng(seed)
    train = []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        train.extend(idx[round(len(idx) * 0.2) :])
    train = rng.permutation(np.array(train))
    x_train = x[train]
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std[std == 0] = 1.0
    x_train = (x_train - mean) / std

    sizes_text = str(cfg.get("partition-sizes", ""))
    if sizes_text:
        sizes = [int(s) for s in sizes_text.split(",")]
    else:
        sizes = [len(train) // parts + (k < len(train) % parts) for k in range(parts)]
    if len(sizes) != parts or sum(sizes) > len(train):
        raise ValueError(f"partition-sizes {sizes} do not fit {parts} partitions of {len(train)}")
    start = sum(sizes[:part])
    sl = slice(start, start + sizes[part])
    return torch.from_numpy(x_train[sl]), torch.from_numpy(y[train][sl])


@app.train()
def train(msg: Message, context: Context) -> Message:
    """Local training from the message's arrays; replies with the new arrays."""
    t_start = time.time()
    threads = int(context.node_config.get("torch-threads", 0))
    if threads > 0:
        torch.set_num_threads(threads)
    x, y = load_partition(context)
    t_data = time.time()

    config = msg.content["config"]
    lr = float(config["lr"])
    epochs = int(config["local-epochs"])
    batch = int(config["batch-size"])

    model = digit_classifier()
    model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(
        int(context.node_config.get("seed", 0)) * 1000 + int(context.node_config["partition-id"])
    )
    n = len(y)
    model.train()
    t_setup = time.time()
    cpu_start = time.process_time()
    loss_sum, correct = 0.0, 0
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        loss_sum, correct = 0.0, 0
        for b in range(math.ceil(n / batch)):
            idx = order[b * batch : (b + 1) * batch]
            logits = model(x[idx])
            loss = loss_fn(logits, y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(idx)
            correct += int((logits.argmax(dim=1) == y[idx]).sum())
    t_end = time.time()
    cpu = time.process_time() - cpu_start

    metrics = MetricRecord(
        {
            "num-examples": n,
            "loss": loss_sum / n,
            "sparse_categorical_accuracy": correct / n,
            # Where the ClientApp's time went (seconds), for the bench's report:
            # importing torch and Flower; reading the partition; building the model
            # and the first optimizer (which imports torch._dynamo, some seconds);
            # the SGD loop (wall and CPU time).
            "torch-import-s": IMPORT_SECONDS,
            "data-load-s": t_data - t_start,
            "setup-s": t_setup - t_data,
            "train-s": t_end - t_setup,
            "train-cpu-s": cpu,
            "torch-threads": torch.get_num_threads(),
        }
    )
    content = RecordDict({"arrays": ArrayRecord(model.state_dict()), "metrics": metrics})
    return Message(content=content, reply_to=msg)
