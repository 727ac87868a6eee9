"""dp-accounting's epsilon over a grid of DP-FedAvg settings, as Rust table rows.

For each (sampling, noise multiplier, rounds, delta), composes `rounds` rounds of the
subsampled Gaussian mechanism in dp-accounting's `RdpAccountant` (default orders) and
prints `get_epsilon_and_optimal_order(delta)` as one row of `GRID` in
runtime/tests/privacy.rs:

    (poisson(q) | fixed(m, n), sigma, rounds, delta, epsilon, order),

Poisson sampling is accounted with add-or-remove-one neighbours
(`PoissonSampledDpEvent`), fixed-size sampling without replacement with replace-one
neighbours (`SampledWithoutReplacementDpEvent`), as dp-accounting requires.
Run through run.sh, which installs the pinned dp-accounting.
"""

from importlib.metadata import version

from absl import logging
import dp_accounting
from dp_accounting import dp_event
from dp_accounting.rdp import rdp_privacy_accountant as rdp

SIGMAS = [0.3, 0.5, 1.0, 2.0]
ROUNDS = [1, 10, 100, 1000]
DELTAS = [1e-5, 1e-6]
# Poisson probabilities, and the fixed-size samples (m of n) with the same ratio:
# 1/3 is 100 of 300 clients.
POISSON = [0.01, 0.1, 1 / 3, 1.0]
FIXED = [(10, 1000), (10, 100), (100, 300), (300, 300)]


def grid():
    """Latin squares over (q, sigma): every q meets every sigma once per sampling,
    and every rounds count once per q and per sigma; plus a few typical runs."""
    points = []
    for i, q in enumerate(POISSON):
        for j, sigma in enumerate(SIGMAS):
            points.append((("poisson", q), sigma, ROUNDS[(i + j) % 4], DELTAS[j % 2]))
    for i, (m, n) in enumerate(FIXED):
        for j, sigma in enumerate(SIGMAS):
            points.append(
                (("fixed", m, n), sigma, ROUNDS[(i + j + 2) % 4], DELTAS[(j + 1) % 2])
            )
    # DP-FedAvg as McMahan et al. (2018) run it, and a few more.
    points += [
        (("poisson", 0.01), 1.0, 1000, 1e-5),
        (("poisson", 0.1), 1.0, 100, 1e-6),
        (("poisson", 1 / 3), 2.0, 1000, 1e-5),
        (("fixed", 100, 300), 1.0, 100, 1e-5),
        (("fixed", 10, 1000), 0.5, 1000, 1e-6),
        (("fixed", 10, 100), 2.0, 10, 1e-5),
    ]
    return points


def epsilon(sampling, sigma, rounds, delta):
    gaussian = dp_event.GaussianDpEvent(sigma)
    if sampling[0] == "poisson":
        relation = rdp.NeighborRel.ADD_OR_REMOVE_ONE
        event = dp_event.PoissonSampledDpEvent(sampling[1], gaussian)
    else:
        relation = rdp.NeighborRel.REPLACE_ONE
        event = dp_event.SampledWithoutReplacementDpEvent(sampling[2], sampling[1], gaussian)
    accountant = rdp.RdpAccountant(neighboring_relation=relation)
    accountant.compose(dp_event.SelfComposedDpEvent(event, rounds))
    return accountant.get_epsilon_and_optimal_order(delta)


def rust(sampling):
    if sampling[0] == "poisson":
        return f"poisson({sampling[1]!r})"
    return f"fixed({sampling[1]}, {sampling[2]})"


def main():
    print(f"        // dp-accounting {version('dp-accounting')}, default orders "
          f"({len(rdp.DEFAULT_RDP_ORDERS)}); benches/peers/dp_accounting/grid.py")
    for sampling, sigma, rounds, delta in grid():
        eps, order = epsilon(sampling, sigma, rounds, delta)
        print(f"        ({rust(sampling)}, {sigma!r}, {rounds}, {delta!r}, {float(eps)!r}, {float(order)!r}),")


if __name__ == "__main__":
    assert dp_accounting is not None
    # dp-accounting warns about each fractional order whose series does not converge
    # (it leaves them out); the figures are the same with or without the warnings.
    logging.set_verbosity(logging.ERROR)
    main()
