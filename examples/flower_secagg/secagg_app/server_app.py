"""The ServerApp: Flower's legacy FedAvg run by `DefaultWorkflow`, whose fit goes
through `SecAggPlusWorkflow` (run config `secagg = true`) or Flower's plain fit.

Like `examples/flower`, it never sees the model: the initial arrays and the
server-side evaluation come from the Rust `flower_node`. Each round prints one JSON
line, `{"round": R, "results": N, "failures": F}`, which the tests read.
"""

import json
import pathlib
import subprocess
import tempfile

import numpy as np
from flwr.common import Context, ndarrays_to_parameters
from flwr.server import LegacyContext, ServerApp, ServerConfig
from flwr.server.strategy import FedAvg
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow

app = ServerApp()


def load_arrays(directory: pathlib.Path) -> list[np.ndarray]:
    """The arrays of `names.json`, in order (legacy Parameters are positional)."""
    names = json.loads((directory / "names.json").read_text())
    return [np.load(directory / f"{i}.npy") for i in range(len(names))]


def save_arrays(directory: pathlib.Path, arrays: list[np.ndarray], names: list[str]) -> None:
    """Writes `names.json` and one `.npy` per array, as `load_arrays` reads them."""
    directory.mkdir(parents=True, exist_ok=True)
    for i, array in enumerate(arrays):
        np.save(directory / f"{i}.npy", array.astype(np.float32))
    (directory / "names.json").write_text(json.dumps(names))


class CountingFedAvg(FedAvg):
    """Flower's FedAvg, printing how many results and failures each round had."""

    def aggregate_fit(self, server_round, results, failures):
        print(json.dumps({"round": server_round, "results": len(results), "failures": len(failures)}), flush=True)
        return super().aggregate_fit(server_round, results, failures)


@app.main()
def main(grid, context: Context) -> None:
    cfg = context.run_config
    if not cfg["initial-arrays"]:
        raise SystemExit("set initial-arrays: `flower_node export-initial --out DIR`")
    initial_dir = pathlib.Path(str(cfg["initial-arrays"]))
    names = json.loads((initial_dir / "names.json").read_text())
    save_dir = pathlib.Path(str(cfg["save-dir"])) if cfg["save-dir"] else None
    evaluator = str(cfg["evaluator"])

    def evaluate(server_round, ndarrays, _config):
        """Saves the round's global model and asks the Rust evaluator for its metrics."""
        if server_round == 0:
            return None
        if save_dir is not None:
            save_arrays(save_dir / f"round-{server_round}", ndarrays, names)
        if not evaluator:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            save_arrays(pathlib.Path(tmp), ndarrays, names)
            out = subprocess.run(
                evaluator.split() + [tmp], check=True, capture_output=True, text=True
            ).stdout
        metrics = json.loads(out.strip().splitlines()[-1])
        accuracy = metrics["sparse_categorical_accuracy"]
        print(f"round {server_round}: test accuracy {accuracy:.4f}", flush=True)
        return float(metrics.get("loss", 0.0)), {"accuracy": float(accuracy)}

    def fit_config(server_round: int):
        return {
            "lr": float(cfg["lr"]),
            "local-epochs": int(cfg["local-epochs"]),
            "batch-size": int(cfg["batch-size"]),
            "server-round": server_round,
        }

    min_nodes = int(cfg["min-nodes"])
    strategy = CountingFedAvg(
        fraction_fit=1.0,
        fraction_evaluate=0.0,
        min_fit_clients=min_nodes,
        min_evaluate_clients=0,
        min_available_clients=min_nodes,
        initial_parameters=ndarrays_to_parameters(load_arrays(initial_dir)),
        on_fit_config_fn=fit_config,
        evaluate_fn=evaluate,
    )
    legacy = LegacyContext(
        context=context,
        config=ServerConfig(num_rounds=int(cfg["num-server-rounds"])),
        strategy=strategy,
    )
    if bool(cfg["secagg"]):
        fit = SecAggPlusWorkflow(
            num_shares=int(cfg["num-shares"]),
            reconstruction_threshold=int(cfg["reconstruction-threshold"]),
            timeout=float(cfg["stage-timeout"]),
        )
        workflow = DefaultWorkflow(fit_workflow=fit)
    else:
        workflow = DefaultWorkflow()
    workflow(grid, legacy)
