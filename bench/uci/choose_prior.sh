#!/usr/bin/env bash
# Chooses the NUTS prior per data set on validation rows only: runs the two floored candidates,
# `fan_in` (models/uci_nuts.bnn) and Neal's per-layer precisions (models/uci_nuts_neal.bnn),
# at maximum depth 8 on the last 20 % of the training rows of splits 0 and 1 of each NUTS data
# set, writes the per-split scores to bench/uci/validation/, and prints the choice (higher mean
# validation log-likelihood) with bench/uci/choose_prior.py.
#
# Usage: bench/uci/choose_prior.sh [DATA_DIR]   (default ../shared/data/uci)
set -euo pipefail
cd "$(dirname "$0")/../.."
data="${1:-../shared/data/uci}"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
cargo build --release --quiet --example uci
for d in yacht bostonHousing energy concrete wine-quality-red; do
    for m in fan_in:models/uci_nuts.bnn neal:models/uci_nuts_neal.bnn; do
        out="bench/uci/validation/${m%%:*}"
        target/release/examples/uci --data-dir "$data" --dataset "$d" --engine nuts \
            --splits 2 --validate --model "${m#*:}" --out "$out" > /dev/null
    done
done
python3 bench/uci/choose_prior.py
