"""dp-accounting's epsilon for DP-FedAvg runs, as feddx's simulation reports it.

A DP-FedAvg round adds Gaussian noise of standard deviation z * C to the sum of
client updates clipped to norm C. The sum's L2 sensitivity depends on the
neighbouring relation:

- Poisson sampling, add-or-remove-one neighbours: one client joins or leaves the
  sum, which moves by at most C. The mechanism's noise multiplier is z
  (`PoissonSampledDpEvent(q, GaussianDpEvent(z))`).
- Fixed-size sampling (m of n without replacement), replace-one neighbours: one
  client's update is swapped for another's, which moves the sum by up to 2C. The
  mechanism's noise multiplier is z / 2
  (`SampledWithoutReplacementDpEvent(n, m, GaussianDpEvent(z / 2))`).

Prints, for `--table`, the README's epsilon column (100 of 300 clients and Poisson
q = 1/3, 50 rounds, delta 1e-5), and by default the rows of `DP_FEDAVG` in
tests/dp_noise.rs:

    (poisson(q) | fixed(m, n), z, rounds, delta, epsilon),

and, with `--table`, the README's table of epsilons.

Run through run.sh, which installs the pinned dp-accounting:

    benches/peers/dp_accounting/run.sh dp_fedavg.py [--table]
"""

import argparse
from importlib.metadata import version

from absl import logging
from dp_accounting import dp_event
from dp_accounting.rdp import rdp_privacy_accountant as rdp


def epsilon(sampling, z, rounds, delta):
    """Epsilon at `delta` of `rounds` DP-FedAvg rounds with noise multiplier `z`."""
    if sampling[0] == "poisson":
        relation = rdp.NeighborRel.ADD_OR_REMOVE_ONE
        event = dp_event.PoissonSampledDpEvent(sampling[1], dp_event.GaussianDpEvent(z))
    else:
        relation = rdp.NeighborRel.REPLACE_ONE
        m, n = sampling[1], sampling[2]
        event = dp_event.SampledWithoutReplacementDpEvent(
            n, m, dp_event.GaussianDpEvent(z / 2)
        )
    accountant = rdp.RdpAccountant(neighboring_relation=relation)
    accountant.compose(dp_event.SelfComposedDpEvent(event, rounds))
    return float(accountant.get_epsilon(delta))


# The runs the tests pin: tests/dp_noise.rs (a small simulation of each sampling,
# also the examples' flags), tests/robust.rs (DP-FedAvg over the digits' 300 clients)
# and the README's `--noise-multiplier 1` run of the digits example.
PINNED = [
    (("fixed", 10, 30), 1.0, 3, 1e-5),
    (("poisson", 1 / 3), 1.0, 3, 1e-5),
    (("fixed", 100, 300), 0.5, 50, 1e-5),
    (("poisson", 1 / 3), 0.5, 50, 1e-5),
    (("fixed", 100, 300), 1.0, 50, 1e-5),
]


def rust(sampling):
    if sampling[0] == "poisson":
        return f"poisson({sampling[1]!r})"
    return f"fixed({sampling[1]}, {sampling[2]})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", action="store_true", help="the README's epsilon columns")
    args = parser.parse_args()
    if args.table:
        print(f"dp-accounting {version('dp-accounting')}: 50 rounds, delta 1e-5")
        print("| z | epsilon, 100 of 300 (replace-one, z/2) | epsilon, Poisson q = 1/3 (add-or-remove-one, z) |")
        for z in [0.3, 0.5, 1.0, 2.0]:
            fixed = epsilon(("fixed", 100, 300), z, 50, 1e-5)
            poisson = epsilon(("poisson", 1 / 3), z, 50, 1e-5)
            print(f"| {z} | {fixed!r} | {poisson!r} |")
        return
    print(f"    // dp-accounting {version('dp-accounting')}; "
          "benches/peers/dp_accounting/run.sh dp_fedavg.py")
    for sampling, z, rounds, delta in PINNED:
        print(f"    ({rust(sampling)}, {z!r}, {rounds}, {delta!r}, "
              f"{epsilon(sampling, z, rounds, delta)!r}),")


if __name__ == "__main__":
    # dp-accounting warns about each fractional order whose series does not converge
    # (it leaves them out); the figures are the same with or without the warnings.
    logging.set_verbosity(logging.ERROR)
    main()
