"""Central DP with client-side clipping for the app, switched on by the run config.

`client-dp = "fixed"` or `"adaptive"` wraps the app's FedAvg in Flower's own
`DifferentialPrivacyClientSideFixedClipping` or
`DifferentialPrivacyClientSideAdaptiveClipping`, unchanged: the wrapper sends
`clipping-norm` to the nodes, which clip their updates as Flower's
`fixedclipping_mod` / `adaptiveclipping_mod` would, and adds Gaussian noise of
`noise-multiplier` times the norm to the aggregate.

`update-norms = "FILE"` records, before aggregation, the L2 norm of every update the
nodes sent (a reply's arrays minus the round's global arrays), one JSON line per
reply, so that a test measures the clipping rather than taking the nodes' word.
"""

import json
import math
from collections.abc import Iterable

from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import (
    DifferentialPrivacyClientSideAdaptiveClipping,
    DifferentialPrivacyClientSideFixedClipping,
)
from flwr.serverapp.strategy.strategy import Strategy


class UpdateNormRecorder(Strategy):
    """Delegates to `strategy`, and appends each train reply's update norm to `path`."""

    def __init__(self, strategy: Strategy, path: str) -> None:
        self.strategy = strategy
        self.path = path
        self.global_arrays: dict[int, ArrayRecord] = {}

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        self.global_arrays[server_round] = arrays
        return self.strategy.configure_train(server_round, arrays, config, grid)

    def aggregate_train(self, server_round: int, replies: Iterable[Message]):
        replies = list(replies)
        sent = self.global_arrays.pop(server_round)
        with open(self.path, "a") as out:
            for msg in replies:
                if msg.has_error():
                    line = {"round": server_round, "error": msg.error.reason}
                else:
                    arrays = next(iter(msg.content.array_records.values()))
                    squares = sum(
                        float(((arrays[k].numpy() - sent[k].numpy()) ** 2).sum())
                        for k in sent.keys()
                    )
                    metrics = next(iter(msg.content.metric_records.values()))
                    line = {
                        "round": server_round,
                        "node": msg.metadata.src_node_id,
                        "update_norm": math.sqrt(squares),
                        "norm_bit": metrics.get("norm_bit"),
                    }
                out.write(json.dumps(line) + "\n")
        return self.strategy.aggregate_train(server_round, replies)

    def configure_evaluate(self, server_round, arrays, config, grid):
        return self.strategy.configure_evaluate(server_round, arrays, config, grid)

    def aggregate_evaluate(self, server_round, replies) -> MetricRecord | None:
        return self.strategy.aggregate_evaluate(server_round, replies)

    def summary(self) -> None:
        self.strategy.summary()


def wrap(strategy: Strategy, cfg, num_nodes: int) -> Strategy:
    """`strategy`, wrapped as the run config's `client-dp` and `update-norms` say."""
    mode = str(cfg.get("client-dp", ""))
    if not mode:
        return strategy
    noise = float(cfg.get("noise-multiplier", 0.0))
    norm = float(cfg.get("clipping-norm", 1.0))
    if mode == "fixed":
        strategy = DifferentialPrivacyClientSideFixedClipping(strategy, noise, norm, num_nodes)
    elif mode == "adaptive":
        strategy = DifferentialPrivacyClientSideAdaptiveClipping(
            strategy, noise, num_nodes, initial_clipping_norm=norm
        )
    else:
        raise SystemExit(f"client-dp is `{mode}`: say \"fixed\", \"adaptive\" or \"\" (none)")
    if cfg.get("update-norms", ""):
        # Outside the DP wrapper: it sees every reply, errors included, before the
        # wrapper aggregates (or, on an error, skips the round).
        strategy = UpdateNormRecorder(strategy, str(cfg["update-norms"]))
    return strategy
