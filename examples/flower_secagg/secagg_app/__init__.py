"""Flower's SecAgg+ over the digits MLP: feddx nodes and Python nodes in one run."""
