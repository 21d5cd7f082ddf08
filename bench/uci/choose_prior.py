#!/usr/bin/env python3
"""Prints the per-data-set NUTS prior choice from bench/uci/validation/{fan_in,neal}/*.csv:
mean validation log-likelihood over the splits run, higher wins (standard library only)."""
import csv
import os

ROOT = os.path.join(os.path.dirname(__file__), "validation")
DATASETS = ["yacht", "bostonHousing", "energy", "concrete", "wine-quality-red"]
MODELS = ["fan_in", "neal"]


def mean_ll(model, dataset):
    path = os.path.join(ROOT, model, f"{dataset}_nuts_validate.csv")
    if not os.path.exists(path):
        return None, 0, None
    with open(path) as f:
        rows = list(csv.DictReader(f))
    lls = [float(r["ll"]) for r in rows]
    secs = sum(float(r["seconds"]) for r in rows) / len(rows)
    return sum(lls) / len(lls), len(lls), secs


print("| data set | fan_in, floor: validation LL | Neal, floor: validation LL | s/split (fan_in / Neal) | choice |")
print("|---|---:|---:|---:|---|")
for d in DATASETS:
    cells, scores, secs = [], {}, []
    for m in MODELS:
        ll, n, s = mean_ll(m, d)
        cells.append("not run" if ll is None else f"{ll:.3f} ({n} splits)")
        secs.append("–" if s is None else f"{s:.0f}")
        if ll is not None:
            scores[m] = ll
    choice = max(scores, key=scores.get) if len(scores) == len(MODELS) else "–"
    print(f"| {d} | {cells[0]} | {cells[1]} | {' / '.join(secs)} | {choice} |")
