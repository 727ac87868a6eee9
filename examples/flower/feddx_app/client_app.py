"""The app's ClientApp, for Python SuperNodes that join feddx nodes' federation.

feddx nodes answer `train` and `evaluate` in Rust and never run this file. A
`flower-supernode` does: it trains the same MLP in NumPy (`numpy_mlp.py`) on the
partition its `--node-config` names, and answers in the Message API's records.
"""

from collections import OrderedDict

from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from feddx_app import numpy_mlp

app = ClientApp()

# The metrics feddx nodes send: Flower's strategies need every reply to have the same.
ACCURACY = "sparse_categorical_accuracy"


def _arrays(msg: Message):
    record = msg.content["arrays"]
    names = list(record.keys())
    return names, [record[name].numpy() for name in names]


@app.train()
def train(msg: Message, context: Context) -> Message:
    x, y = numpy_mlp.node_data(context.node_config)
    names, arrays = _arrays(msg)
    config = msg.content["config"]
    trained, loss, accuracy = numpy_mlp.train(
        arrays,
        x,
        y,
        lr=float(config.get("lr", 0.1)),
        epochs=int(config.get("local-epochs", 1)),
        batch_size=int(config.get("batch-size", 20)),
        seed=int(config.get("server-round", 0)),
    )
    content = RecordDict(
        {
            "arrays": ArrayRecord(OrderedDict(zip(names, map(Array, trained)))),
            "metrics": MetricRecord(
                {"num-examples": len(y), "loss": loss, ACCURACY: accuracy}
            ),
        }
    )
    return Message(content, reply_to=msg)


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    x, y = numpy_mlp.node_data(context.node_config)
    _, arrays = _arrays(msg)
    loss, accuracy = numpy_mlp.evaluate(arrays, x, y)
    metrics = MetricRecord({"num-examples": len(y), "loss": loss, ACCURACY: accuracy})
    return Message(RecordDict({"metrics": metrics}), reply_to=msg)
