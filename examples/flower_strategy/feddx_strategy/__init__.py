"""A Flower app on the Strategy API whose clients are feddx nodes (Rust)."""
