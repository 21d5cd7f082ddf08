#!/usr/bin/env bash
# The optimization methods on the UCI benchmark: per data set, chooses the Adam epochs of each
# MAP fit on validation rows only (the last 20 % of the training rows of splits 0 and 1, a
# 5-member ensemble, higher mean validation log-likelihood wins), then runs every split with
# MAP, the deep and the anchored ensemble, SWAG and MultiSWAG at that choice.
#
# Validation scores go to bench/uci/validation/fit_epochs<E>/, the choice to
# bench/uci/validation/fit_epochs.csv, the test scores to bench/uci/results/<data>_<method>.csv.
#
# Usage: bench/uci/run_fit.sh [DATA_DIR] [DATA SET ...]   (default ../shared/data/uci, all nine)
set -euo pipefail
cd "$(dirname "$0")/../.."
data="${1:-../shared/data/uci}"
shift || true
sets=("$@")
if [ ${#sets[@]} -eq 0 ]; then
    sets=(yacht bostonHousing energy concrete wine-quality-red kin8nm power-plant
          naval-propulsion-plant protein-tertiary-structure)
fi
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
cargo build --release --quiet --example uci
uci=target/release/examples/uci
choices=bench/uci/validation/fit_epochs.csv
[ -f "$choices" ] || echo "dataset,epochs,validation_ll" > "$choices"
for d in "${sets[@]}"; do
    # Fewer epochs for the large sets: an epoch there is hundreds of steps.
    case "$d" in
        kin8nm|power-plant|naval-propulsion-plant) candidates=(40 100 400) ;;
        protein-tertiary-structure) candidates=(10 40 100) ;;
        *) candidates=(400 1000 4000) ;;
    esac
    best=""
    best_ll=""
    for e in "${candidates[@]}"; do
        row=$("$uci" --data-dir "$data" --dataset "$d" --engine ensemble --epochs "$e" \
            --splits 2 --validate --out "bench/uci/validation/fit_epochs$e" 2>/dev/null)
        ll=$(echo "$row" | awk -F'|' '{split($6, a, " "); print a[1]}')
        echo "$d epochs $e: validation LL $ll"
        if [ -z "$best" ] || awk "BEGIN {exit !($ll > $best_ll)}"; then
            best=$e
            best_ll=$ll
        fi
    done
    grep -v "^$d," "$choices" > "$choices.tmp" || true
    mv "$choices.tmp" "$choices"
    echo "$d,$best,$best_ll" >> "$choices"
    for m in map ensemble anchored-ensemble swag multiswag; do
        "$uci" --data-dir "$data" --dataset "$d" --engine "$m" --epochs "$best" 2>/dev/null
    done
done
