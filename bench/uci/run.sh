#!/usr/bin/env bash
# Runs the UCI regression benchmark as BENCHMARKS.md reports it: NUTS on the five small data
# sets and SVI on all nine, each split's scores to bench/uci/results/<dataset>_<engine>.csv and one
# Markdown summary row per run to bench/uci/results/summary.md.
#
# Usage: bench/uci/run.sh [DATA_DIR] [NUTS_SPLITS]
#   DATA_DIR     the UCI folder in the PBP layout (default ../shared/data/uci)
#   NUTS_SPLITS  splits per data set for NUTS (default 20, all of them)
# Environment: CARGO_BUILD_JOBS (default 1).
set -euo pipefail
cd "$(dirname "$0")/../.."
data="${1:-../shared/data/uci}"
nuts_splits="${2:-20}"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
cargo build --release --quiet --example uci
out=bench/uci/results
mkdir -p "$out"
summary="$out/summary.md"
{
    echo "commit $(git rev-parse --short HEAD), $(date -u '+%Y-%m-%d %H:%M UTC')," \
        "$(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs"
    echo
    echo "| data set | engine | splits | RMSE | LL | seconds per split |"
    echo "|---|---|---:|---|---|---:|"
} > "$summary"
for d in yacht bostonHousing energy concrete wine-quality-red kin8nm power-plant \
    naval-propulsion-plant protein-tertiary-structure; do
    target/release/examples/uci --data-dir "$data" --dataset "$d" --engine svi --out "$out" >> "$summary"
done
for d in yacht bostonHousing energy concrete wine-quality-red; do
    target/release/examples/uci --data-dir "$data" --dataset "$d" --engine nuts \
        --splits "$nuts_splits" --out "$out" >> "$summary"
done
