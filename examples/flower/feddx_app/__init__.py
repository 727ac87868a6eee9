"""A Flower app whose clients are feddx nodes (Rust); see README.md beside it."""
