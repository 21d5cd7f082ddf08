#!/usr/bin/env bash
# Chooses the SVI learning-rate schedule on validation rows only: runs the benchmark's SVI
# settings with a constant rate and with cosine decay on the last 20 % of the training rows of
# splits 0–4 of each data set (0–1 for protein), writes the per-split scores to
# bench/uci/validation/svi_decay_{none,cosine}/, and prints the comparison with
# bench/uci/choose_prior.py --svi-decay.
#
# Usage: bench/uci/choose_svi_decay.sh [DATA_DIR]   (default ../shared/data/uci)
set -euo pipefail
cd "$(dirname "$0")/../.."
data="${1:-../shared/data/uci}"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
cargo build --release --quiet --example uci
for d in yacht bostonHousing energy concrete wine-quality-red kin8nm power-plant \
    naval-propulsion-plant protein-tertiary-structure; do
    splits=5
    [ "$d" = protein-tertiary-structure ] && splits=2
    for decay in none cosine; do
        target/release/examples/uci --data-dir "$data" --dataset "$d" --engine svi \
            --splits "$splits" --validate --decay "$decay" \
            --out "bench/uci/validation/svi_decay_$decay" > /dev/null
    done
done
python3 bench/uci/choose_prior.py --svi-decay
