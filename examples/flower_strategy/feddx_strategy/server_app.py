"""The app's ServerApp: Flower's legacy Strategy API, unchanged, over feddx nodes.

`ServerApp(server_fn=...)` with a `flwr.server.strategy` strategy, as most Flower
baselines and tutorials write it. The initial parameters come from the Rust model
(`flower_node export-initial`). Each round prints one JSON line per stage,
`{"round": 1, "stage": "fit", "results": 3, "failures": 0, "errors": []}`, and writes the
aggregated model to `save-dir/round-N/` if asked.
"""

import json
import pathlib

import numpy as np
from flwr.app import Context
from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays
from flwr.server import ServerAppComponents, ServerConfig
from flwr.server.strategy import (
    DifferentialPrivacyClientSideAdaptiveClipping,
    DifferentialPrivacyClientSideFixedClipping,
    FedAdam,
    FedAvg,
    FedMedian,
    FedProx,
    Krum,
    Strategy,
)
from flwr.serverapp import ServerApp


class Logged(Strategy):
    """`inner`, reporting the results and failures of each round and saving the
    aggregated parameters."""

    def __init__(self, inner: Strategy, names, save_dir):
        self.inner, self.names, self.save_dir = inner, names, save_dir

    def __repr__(self) -> str:
        return f"Logged({self.inner!r})"

    @staticmethod
    def _log(server_round, stage, results, failures):
        line = {"round": server_round, "stage": stage, "results": len(results)}
        line["failures"] = len(failures)
        # A failure is an error reply (an exception) or a reply with a bad status.
        line["errors"] = [
            str(f) if isinstance(f, BaseException) else f[1].status.message
            for f in failures
        ]
        print(json.dumps(line), flush=True)

    def initialize_parameters(self, client_manager):
        return self.inner.initialize_parameters(client_manager)

    def configure_fit(self, server_round, parameters, client_manager):
        instructions = self.inner.configure_fit(server_round, parameters, client_manager)
        # What each reply's update is measured against, and the clipping norm a
        # client-side DP wrapper asked for (if any).
        self.sent = parameters_to_ndarrays(parameters)
        self.clipping_norm = next(
            (ins.config.get("clipping_norm") for _, ins in instructions), None
        )
        return instructions

    def aggregate_fit(self, server_round, results, failures):
        self._log(server_round, "fit", results, failures)
        # Each reply's update norm as the server receives it (before any wrapper).
        norms = [
            float(np.sqrt(sum(
                float(np.sum((np.asarray(new, dtype=np.float64) - old) ** 2))
                for new, old in zip(parameters_to_ndarrays(res.parameters), self.sent)
            )))
            for _, res in results
        ]
        line = {"round": server_round, "update_norms": norms}
        line["clipping_norm"] = self.clipping_norm
        print(json.dumps(line), flush=True)
        parameters, metrics = self.inner.aggregate_fit(server_round, results, failures)
        if parameters is not None and self.save_dir is not None:
            out = self.save_dir / f"round-{server_round}"
            out.mkdir(parents=True, exist_ok=True)
            for i, array in enumerate(parameters_to_ndarrays(parameters)):
                # FedOpt strategies average in float64; the model is float32.
                np.save(out / f"{i}.npy", array.astype(np.float32))
            (out / "names.json").write_text(json.dumps(self.names))
        return parameters, metrics

    def configure_evaluate(self, server_round, parameters, client_manager):
        return self.inner.configure_evaluate(server_round, parameters, client_manager)

    def aggregate_evaluate(self, server_round, results, failures):
        self._log(server_round, "evaluate", results, failures)
        return self.inner.aggregate_evaluate(server_round, results, failures)

    def evaluate(self, server_round, parameters):
        return self.inner.evaluate(server_round, parameters)


def server_fn(context: Context) -> ServerAppComponents:
    cfg = context.run_config
    if not cfg["initial-arrays"]:
        raise SystemExit(
            "set initial-arrays: `flower_node export-initial --out DIR`, then "
            "`flwr run . --run-config \"initial-arrays='DIR'\"`"
        )
    initial = pathlib.Path(str(cfg["initial-arrays"]))
    names = json.loads((initial / "names.json").read_text())
    parameters = ndarrays_to_parameters(
        [np.load(initial / f"{i}.npy") for i in range(len(names))]
    )

    def fit_config(server_round: int):
        # feddx nodes read these keys (and FedProx's own `proximal_mu`).
        return {
            "server-round": server_round,
            "lr": float(cfg["lr"]),
            "local-epochs": int(cfg["local-epochs"]),
            "batch-size": int(cfg["batch-size"]),
        }

    min_nodes = int(cfg["min-nodes"])
    common = dict(
        fraction_fit=1.0,
        fraction_evaluate=1.0 if cfg["evaluate"] else 0.0,
        min_fit_clients=min_nodes,
        min_evaluate_clients=min_nodes if cfg["evaluate"] else 0,
        min_available_clients=min_nodes,
        on_fit_config_fn=fit_config,
        initial_parameters=parameters,
    )
    name = str(cfg["strategy"])
    strategies = {
        "fedavg": lambda: FedAvg(**common),
        "fedprox": lambda: FedProx(**common, proximal_mu=float(cfg["proximal-mu"])),
        "fedadam": lambda: FedAdam(**common),
        "fedmedian": lambda: FedMedian(**common),
        "krum": lambda: Krum(**common, num_malicious_clients=0),
    }
    if name not in strategies:
        raise SystemExit(f"strategy {name!r}: choose one of {', '.join(strategies)}")
    inner = strategies[name]()
    # Central DP with client-side clipping: the wrapper sends `clipping_norm`, each
    # node clips its update (feddx nodes do; Python nodes need Flower's mods).
    client_dp = str(cfg["client-dp"])
    if client_dp == "fixed":
        inner = DifferentialPrivacyClientSideFixedClipping(
            inner,
            noise_multiplier=float(cfg["noise-multiplier"]),
            clipping_norm=float(cfg["clipping-norm"]),
            num_sampled_clients=min_nodes,
        )
    elif client_dp == "adaptive":
        inner = DifferentialPrivacyClientSideAdaptiveClipping(
            inner,
            noise_multiplier=float(cfg["noise-multiplier"]),
            num_sampled_clients=min_nodes,
            initial_clipping_norm=float(cfg["clipping-norm"]),
        )
    elif client_dp:
        raise SystemExit(f"client-dp {client_dp!r}: choose '', 'fixed' or 'adaptive'")
    save_dir = pathlib.Path(str(cfg["save-dir"])) if cfg["save-dir"] else None
    strategy = Logged(inner, names, save_dir)
    config = ServerConfig(
        num_rounds=int(cfg["num-server-rounds"]), round_timeout=float(cfg["round-timeout"])
    )
    return ServerAppComponents(strategy=strategy, config=config)


app = ServerApp(server_fn=server_fn)
