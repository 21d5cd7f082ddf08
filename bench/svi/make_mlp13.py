#!/usr/bin/env python3
"""Writes mlp13.json: 500 rows, 13 inputs, for the 13-100-100-1 SVI benchmark (seeded, stdlib only).

x_ij ~ normal(0, 1); y = sin(x0) + 0.5 x1 x2 - 0.3 x3^2 + (x4 + ... + x12) / 6 + normal(0, 0.1).
Run: python3 bench/svi/make_mlp13.py > bench/svi/mlp13.json  (same bytes every run: seed 13,
Python's Mersenne Twister, six decimals).
"""
import random

rng = random.Random(13)
N, D = 500, 13
rows, ys = [], []
for _ in range(N):
    x = [rng.gauss(0.0, 1.0) for _ in range(D)]
    y = (__import__("math").sin(x[0]) + 0.5 * x[1] * x[2] - 0.3 * x[3] ** 2
         + sum(x[4:]) / 6.0 + rng.gauss(0.0, 0.1))
    rows.append(x)
    ys.append(y)
f = lambda v: f"{v:.6f}"
print("{")
print(f'  "N": {N},')
print(f'  "D": {D},')
print('  "x": [')
print(",\n".join("    [" + ", ".join(f(v) for v in r) + "]" for r in rows))
print("  ],")
print('  "y": [' + ", ".join(f(v) for v in ys) + "]")
print("}")
