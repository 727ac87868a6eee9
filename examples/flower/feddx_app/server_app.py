"""The app's ServerApp: Flower's own FedAvg, unchanged, over a model it never sees.

The initial arrays come from the Rust model (`flower_node export-initial`), and the
server-side evaluation of each round's global model is done by the Rust evaluator
(`flower_node evaluate`), so Python only moves named NumPy arrays around.
"""

import json
import pathlib
import subprocess
import tempfile
from collections import OrderedDict

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, MetricRecord
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

from feddx_app import client_dp

app = ServerApp()


def load_arrays(directory: pathlib.Path) -> ArrayRecord:
    """Arrays in the order and under the names of `names.json`."""
    names = json.loads((directory / "names.json").read_text())
    return ArrayRecord(
        OrderedDict(
            (name, Array(np.load(directory / f"{i}.npy"))) for i, name in enumerate(names)
        )
    )


def save_arrays(directory: pathlib.Path, arrays: ArrayRecord) -> None:
    """Writes `names.json` and one `.npy` per array, as `load_arrays` reads them."""
    directory.mkdir(parents=True, exist_ok=True)
    names = list(arrays.keys())
    for i, name in enumerate(names):
        np.save(directory / f"{i}.npy", arrays[name].numpy())
    (directory / "names.json").write_text(json.dumps(names))


@app.main()
def main(grid: Grid, context: Context) -> None:
    cfg = context.run_config
    if not cfg["initial-arrays"]:
        raise SystemExit(
            "set initial-arrays: `flower_node export-initial --out DIR`, then "
            "`flwr run . --run-config \"initial-arrays='DIR'\"`"
        )
    initial = load_arrays(pathlib.Path(str(cfg["initial-arrays"])))
    save_dir = pathlib.Path(str(cfg["save-dir"])) if cfg["save-dir"] else None
    evaluator = str(cfg["evaluator"])

    def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord | None:
        """Saves the round's global model and asks the Rust evaluator for its metrics."""
        if save_dir is not None:
            save_arrays(save_dir / f"round-{server_round}", arrays)
        if not evaluator:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            save_arrays(pathlib.Path(tmp), arrays)
            out = subprocess.run(
                evaluator.split() + [tmp], check=True, capture_output=True, text=True
            ).stdout
        metrics = json.loads(out.strip().splitlines()[-1])
        print(f"round {server_round}: test accuracy {metrics['sparse_categorical_accuracy']:.4f}")
        return MetricRecord({k: float(v) for k, v in metrics.items()})

    min_nodes = int(cfg["min-nodes"])
    strategy = FedAvg(
        fraction_train=1.0,
        fraction_evaluate=0.0,
        min_train_nodes=min_nodes,
        min_available_nodes=min_nodes,
    )
    strategy = client_dp.wrap(strategy, cfg, min_nodes)
    result = strategy.start(
        grid=grid,
        initial_arrays=initial,
        num_rounds=int(cfg["num-server-rounds"]),
        timeout=float(cfg["round-timeout"]),
        train_config=ConfigRecord(
            {
                "lr": float(cfg["lr"]),
                "local-epochs": int(cfg["local-epochs"]),
                "batch-size": int(cfg["batch-size"]),
            }
        ),
        evaluate_fn=evaluate,
    )
    if save_dir is not None:
        save_arrays(save_dir / "final", result.arrays)
    rounds = result.evaluate_metrics_serverapp
    if rounds:
        last = max(rounds)
        print(f"final test accuracy: {rounds[last]['sparse_categorical_accuracy']:.4f}")
