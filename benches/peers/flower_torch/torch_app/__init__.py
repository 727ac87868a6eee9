"""Bench peer: the feddx digits MLP in PyTorch, for benches/flower_round.sh."""
