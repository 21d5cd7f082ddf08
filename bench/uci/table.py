#!/usr/bin/env python3
"""Builds BENCHMARKS.md's UCI tables from bench/uci/results/*.csv beside the published numbers.

Usage: python3 bench/uci/table.py [--fit] [RESULTS_DIR]   (default bench/uci/results; standard library only)

--fit prints the tables of the methods of bench/uci/run_fit.sh and run_sgmcmc.sh instead: MAP,
the deep and anchored ensembles, SWAG, MultiSWAG, MC dropout, cyclical SGHMC and SVGD beside the
published deep-ensemble and MC-dropout columns, and their seconds per split.

Our columns are mean ± standard error over the splits run (sample SD / sqrt(n)). The published
columns are copied from ../shared/data/uci/PUBLISHED_RESULTS.md: VI, PBP and MC dropout (Gal &
Ghahramani 2016, Table 1 and its 10x-epochs Table 2) and the 2018 grid-search re-run are ± SE;
Deep Ensembles (Lakshminarayanan et al. 2017) prints NLL with a ± that is probably an SD, shown
here as LL = -NLL with its ± as printed.
"""
import csv
import math
import os
import sys

DATASETS = [
    ("yacht", "Yacht"),
    ("bostonHousing", "Boston"),
    ("energy", "Energy"),
    ("concrete", "Concrete"),
    ("wine-quality-red", "Wine (red)"),
    ("kin8nm", "Kin8nm"),
    ("power-plant", "Power"),
    ("naval-propulsion-plant", "Naval"),
    ("protein-tertiary-structure", "Protein"),
]

# (VI, PBP, dropout paper, dropout 10x epochs, dropout grid search 2018, deep ensembles)
PUBLISHED_LL = {
    "yacht": ("-3.43 ± 0.16", "-1.63 ± 0.02", "-1.55 ± 0.03", "-1.38 ± 0.01", "-1.25 ± 0.01", "-1.18 ± 0.21"),
    "bostonHousing": ("-2.90 ± 0.07", "-2.57 ± 0.09", "-2.46 ± 0.06", "-2.39 ± 0.05", "-2.40 ± 0.04", "-2.41 ± 0.25"),
    "energy": ("-2.39 ± 0.03", "-2.04 ± 0.02", "-1.99 ± 0.02", "-1.72 ± 0.02", "-1.21 ± 0.01", "-1.38 ± 0.22"),
    "concrete": ("-3.39 ± 0.02", "-3.16 ± 0.02", "-3.04 ± 0.02", "-2.94 ± 0.02", "-2.93 ± 0.02", "-3.06 ± 0.18"),
    "wine-quality-red": ("-0.98 ± 0.01", "-0.97 ± 0.01", "-0.93 ± 0.01", "-0.92 ± 0.01", "-0.93 ± 0.01", "-0.94 ± 0.12"),
    "kin8nm": ("0.90 ± 0.01", "0.90 ± 0.01", "0.95 ± 0.01", "0.97 ± 0.01", "1.14 ± 0.01", "1.20 ± 0.02"),
    "power-plant": ("-2.89 ± 0.01", "-2.84 ± 0.01", "-2.80 ± 0.01", "-2.79 ± 0.01", "-2.80 ± 0.01", "-2.79 ± 0.04"),
    "naval-propulsion-plant": ("3.73 ± 0.12", "3.73 ± 0.01", "3.80 ± 0.01", "3.92 ± 0.01", "4.45 ± 0.00", "5.63 ± 0.05"),
    "protein-tertiary-structure": ("-2.99 ± 0.01", "-2.97 ± 0.00", "-2.89 ± 0.00", "-2.87 ± 0.00", "-2.87 ± 0.00", "-2.83 ± 0.02"),
}
PUBLISHED_RMSE = {
    "yacht": ("6.89 ± 0.67", "1.02 ± 0.05", "1.11 ± 0.09", "0.72 ± 0.06", "0.67 ± 0.05", "1.58 ± 0.48"),
    "bostonHousing": ("4.32 ± 0.29", "3.01 ± 0.18", "2.97 ± 0.19", "2.80 ± 0.19", "2.90 ± 0.18", "3.28 ± 1.00"),
    "energy": ("2.65 ± 0.08", "1.80 ± 0.05", "1.66 ± 0.04", "1.09 ± 0.05", "0.54 ± 0.06", "2.09 ± 0.29"),
    "concrete": ("7.19 ± 0.12", "5.67 ± 0.09", "5.23 ± 0.12", "4.81 ± 0.14", "4.82 ± 0.16", "6.03 ± 0.58"),
    "wine-quality-red": ("0.65 ± 0.01", "0.64 ± 0.01", "0.62 ± 0.01", "0.61 ± 0.01", "0.62 ± 0.01", "0.64 ± 0.04"),
    "kin8nm": ("0.10 ± 0.00", "0.10 ± 0.00", "0.10 ± 0.00", "0.09 ± 0.00", "0.08 ± 0.00", "0.09 ± 0.00"),
    "power-plant": ("4.33 ± 0.04", "4.12 ± 0.03", "4.02 ± 0.04", "4.00 ± 0.04", "4.01 ± 0.04", "4.11 ± 0.17"),
    "naval-propulsion-plant": ("0.01 ± 0.00", "0.01 ± 0.00", "0.01 ± 0.00", "0.00 ± 0.00", "0.00 ± 0.00", "0.00 ± 0.00"),
    "protein-tertiary-structure": ("4.84 ± 0.03", "4.73 ± 0.01", "4.36 ± 0.01", "4.27 ± 0.01", "4.27 ± 0.01", "4.71 ± 0.06"),
}
HEAD = "| VI ±SE | PBP ±SE | MC dropout ±SE | dropout 10× ±SE | dropout grid 2018 ±SE | deep ens. (±SD?) |"


def read(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return rows or None


def mean_se(v):
    m = sum(v) / len(v)
    if len(v) < 2:
        return m, float("nan")
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1))
    return m, sd / math.sqrt(len(v))


def cell(rows, key, digits):
    if rows is None:
        return "not run"
    values = [float(r[key]) for r in rows]
    # A sampler whose chain blew up (finite but astronomically large weights) has no meaningful
    # RMSE mean: say so rather than print a 140-digit number.
    blown = sum(1 for v in values if not math.isfinite(v) or abs(v) > 1e6)
    if blown:
        return f"blew up on {blown} of {len(values)} splits"
    m, se = mean_se(values)
    return f"{m:.{digits}f} ± {se:.{digits}f} ({len(rows)})"


def digits_for(name):
    return 4 if name == "naval-propulsion-plant" else (3 if name == "kin8nm" else 2)


FIT_METHODS = [
    ("map", "MAP"),
    ("ensemble", "deep ens."),
    ("anchored-ensemble", "anchored ens."),
    ("swag", "SWAG"),
    ("multiswag", "MultiSWAG"),
    ("mc-dropout", "MC dropout"),
    ("sghmc", "SGHMC (cyclical)"),
    ("svgd", "SVGD"),
]
# Indices into the published tuples: MC dropout paper, dropout 10x epochs, deep ensembles.
FIT_PUBLISHED = [(2, "MC dropout [S1] ±SE"), (3, "dropout 10× [S2] ±SE"), (5, "deep ens. [S7] (±SD?)")]


def fit_tables(out):
    for title, key, published in (("Test log-likelihood (higher is better)", "ll", PUBLISHED_LL),
                                  ("Test RMSE (lower is better)", "rmse", PUBLISHED_RMSE)):
        print(f"**{title}**, mean ± SE over splits (number of splits run):\n")
        ours = " | ".join(f"bnnppl {label}" for _, label in FIT_METHODS)
        theirs = " | ".join(label for _, label in FIT_PUBLISHED)
        print(f"| data set | {ours} | {theirs} |")
        print("|---" * (1 + len(FIT_METHODS) + len(FIT_PUBLISHED)) + "|")
        for name, label in DATASETS:
            d = digits_for(name) if key == "rmse" else 2
            cells = [cell(read(os.path.join(out, f"{name}_{m}.csv")), key, d) for m, _ in FIT_METHODS]
            pub = [published[name][i] for i, _ in FIT_PUBLISHED]
            print(f"| {label} | " + " | ".join(cells + pub) + " |")
        print()
    print("**Seconds per split** (mean over splits; every member of a split, its draws and the "
          "scoring of its test rows):\n")
    print("| data set | " + " | ".join(label for _, label in FIT_METHODS) + " |")
    print("|---" + "|---:" * len(FIT_METHODS) + "|")
    for name, label in DATASETS:
        cells = []
        for m, _ in FIT_METHODS:
            rows = read(os.path.join(out, f"{name}_{m}.csv"))
            cells.append("–" if rows is None else
                         f"{sum(float(r['seconds']) for r in rows) / len(rows):.1f}")
        print(f"| {label} | " + " | ".join(cells) + " |")


def main():
    args = sys.argv[1:]
    fit = "--fit" in args
    args = [a for a in args if a != "--fit"]
    out = args[0] if args else "bench/uci/results"
    if fit:
        fit_tables(out)
        return
    for title, key, published in (("Test log-likelihood (higher is better)", "ll", PUBLISHED_LL),
                                  ("Test RMSE (lower is better)", "rmse", PUBLISHED_RMSE)):
        print(f"**{title}**, mean ± SE over splits (number of splits run):\n")
        print("| data set | bnnppl NUTS | bnnppl SVI " + HEAD)
        print("|---|---|---|---|---|---|---|---|---|")
        for name, label in DATASETS:
            nuts = read(os.path.join(out, f"{name}_nuts.csv"))
            svi = read(os.path.join(out, f"{name}_svi.csv"))
            d = digits_for(name) if key == "rmse" else 2
            if name == "naval-propulsion-plant" and key == "ll":
                d = 2
            pub = " | ".join(published[name])
            print(f"| {label} | {cell(nuts, key, d)} | {cell(svi, key, d)} | {pub} |")
        print()
    print("**Cost and convergence of the NUTS runs** (means over splits):\n")
    print("| data set | splits | seconds per split | mean tree depth | leapfrog steps per draw | "
          "divergences per split | max R̂ of test predictions (median over splits) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, label in DATASETS:
        rows = read(os.path.join(out, f"{name}_nuts.csv"))
        if rows is None:
            continue
        n = len(rows)
        sec = sum(float(r["seconds"]) for r in rows) / n
        depth = sum(float(r["mean_tree_depth"]) for r in rows) / n
        div = sum(int(r["divergences"]) for r in rows) / n
        rh = sorted(float(r["max_rhat_pred"]) for r in rows)[n // 2]
        # gradients counts the leapfrog steps of the draws kept (not warmup): 2 chains x 500.
        lf = sum(int(r["gradients"]) for r in rows) / n / 1000.0
        print(f"| {label} | {n} | {sec:.1f} | {depth:.2f} | {lf:.0f} | {div:.1f} | {rh:.2f} |")


if __name__ == "__main__":
    main()
