"""The ClientApp that Python SuperNodes run: the digits MLP trained in NumPy
(`numpy_mlp.py`, as in the other apps) behind Flower's `secaggplus_mod`, so Python
nodes take part in the same SecAgg+ rounds as feddx nodes (which never run this
file). The node's data come from its `--node-config` (`data-file`, `partition`,
`partitions`).
"""

from flwr.app import Context
from flwr.client import ClientApp, NumPyClient
from flwr.client.mod import secaggplus_mod

from secagg_app import numpy_mlp

# The metrics feddx nodes send, so that every reply has the same.
ACCURACY = "sparse_categorical_accuracy"


class DigitsClient(NumPyClient):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def fit(self, parameters, config):
        trained, loss, accuracy = numpy_mlp.train(
            parameters,
            self.x,
            self.y,
            lr=float(config.get("lr", 0.1)),
            epochs=int(config.get("local-epochs", 1)),
            batch_size=int(config.get("batch-size", 20)),
            seed=int(config.get("server-round", 0)),
        )
        return trained, len(self.y), {"loss": loss, ACCURACY: accuracy}

    def evaluate(self, parameters, config):
        loss, accuracy = numpy_mlp.evaluate(parameters, self.x, self.y)
        return loss, len(self.y), {"loss": loss, ACCURACY: accuracy}


def client_fn(context: Context):
    return DigitsClient(*numpy_mlp.node_data(context.node_config)).to_client()


app = ClientApp(client_fn=client_fn, mods=[secaggplus_mod])
