"""Writes the own_data example's sample files (numpy, seeded; rerunning gives the same
bytes): plants.csv, 600 plants with 6 measurements and one of 3 species (Gaussian
clusters that overlap a little); yields.csv, the same measurements with a yield that
is a linear function of them plus noise, coefficients in the header comment of this
script; new_plants.csv, 5 rows to predict.

Usage: python3 make_samples.py   (from this directory)
"""
import numpy as np

rng = np.random.default_rng(2026)
names = ["height", "width", "leaf_length", "leaf_width", "stem", "roots"]
centres = rng.normal(0.0, 2.0, size=(3, 6))
species = rng.integers(0, 3, size=600)
x = centres[species] + rng.normal(0.0, 1.2, size=(600, 6))

# yield = 1.5 h - 2 w + 0.5 ll + 0 lw + 1 s - 0.75 r + 3 + noise(0.1)
coefficients = np.array([1.5, -2.0, 0.5, 0.0, 1.0, -0.75])
yields = x @ coefficients + 3.0 + rng.normal(0.0, 0.1, size=600)

def write(path, header, rows):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for row in rows:
            f.write(",".join(row) + "\n")

fmt = lambda v: f"{v:.4f}"
write("plants.csv", names + ["species"], ([fmt(v) for v in r] + [str(s)] for r, s in zip(x, species)))
write("yields.csv", names + ["yield"], ([fmt(v) for v in r] + [fmt(y)] for r, y in zip(x, yields)))
new = centres[[0, 1, 2, 0, 2]] + rng.normal(0.0, 0.5, size=(5, 6))
write("new_plants.csv", names, ([fmt(v) for v in r] for r in new))
