"""The app's ClientApp. Its nodes are feddx nodes, which answer `train` and
`evaluate` in Rust and never run this file; a Python SuperNode that does gets a
clear error instead of a silent wrong answer."""

from flwr.app import Context, Message
from flwr.clientapp import ClientApp

app = ClientApp()


@app.train()
def train(msg: Message, context: Context) -> Message:
    raise RuntimeError(
        "this app's clients are feddx nodes: run `cargo run --release -p feddx-flower "
        "--example flower_node -- --superlink HOST:PORT ...` instead of flower-supernode"
    )
