#!/usr/bin/env python3
"""Prints the choices made on validation rows from bench/uci/validation/ (standard library only):
by default the per-data-set NUTS prior (fan_in/ against neal/), with --svi-decay the SVI
learning-rate schedule (svi_decay_none/ against svi_decay_cosine/). In each, the mean
validation log-likelihood over the splits run decides; higher wins."""
import csv
import os
import sys

ROOT = os.path.join(os.path.dirname(__file__), "validation")
NUTS_DATASETS = ["yacht", "bostonHousing", "energy", "concrete", "wine-quality-red"]
SVI_DATASETS = NUTS_DATASETS + ["kin8nm", "power-plant", "naval-propulsion-plant",
                                "protein-tertiary-structure"]


def mean_ll(folder, dataset, engine):
    path = os.path.join(ROOT, folder, f"{dataset}_{engine}_validate.csv")
    if not os.path.exists(path):
        return None, 0, None
    with open(path) as f:
        rows = list(csv.DictReader(f))
    lls = [float(r["ll"]) for r in rows]
    secs = sum(float(r["seconds"]) for r in rows) / len(rows)
    return sum(lls) / len(lls), len(lls), secs


def table(datasets, engine, candidates):
    """candidates: (label, folder) pairs; prints one row per data set and the winner."""
    head = " | ".join(f"{label}: validation LL" for label, _ in candidates)
    print(f"| data set | {head} | s/split ({' / '.join(l for l, _ in candidates)}) | choice |")
    print("|---|" + "---:|" * (len(candidates) + 1) + "---|")
    for d in datasets:
        cells, scores, secs = [], {}, []
        for label, folder in candidates:
            ll, n, s = mean_ll(folder, d, engine)
            cells.append("not run" if ll is None else f"{ll:.3f} ({n} splits)")
            secs.append("–" if s is None else f"{s:.0f}")
            if ll is not None:
                scores[label] = ll
        choice = max(scores, key=scores.get) if len(scores) == len(candidates) else "–"
        print(f"| {d} | {' | '.join(cells)} | {' / '.join(secs)} | {choice} |")


if "--svi-decay" in sys.argv[1:]:
    table(SVI_DATASETS, "svi", [("constant lr", "svi_decay_none"), ("cosine", "svi_decay_cosine")])
else:
    table(NUTS_DATASETS, "nuts", [("fan_in, floor", "fan_in"), ("Neal, floor", "neal")])
