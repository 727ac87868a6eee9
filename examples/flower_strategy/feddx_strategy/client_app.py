"""The app's ClientApp, for Python SuperNodes that join feddx nodes' federation.

feddx nodes answer the Strategy API's `fitins`/`evaluateins` in Rust and never run
this file. A `flower-supernode` does: a `NumPyClient` training the same MLP in NumPy
(`numpy_mlp.py`) on the partition its `--node-config` names.
"""

from flwr.app import Context
from flwr.client import ClientApp, NumPyClient

from feddx_strategy import numpy_mlp


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


app = ClientApp(client_fn=client_fn)
