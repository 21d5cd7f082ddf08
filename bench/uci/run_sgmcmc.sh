#!/usr/bin/env bash
# Cyclical SGHMC and SVGD on the UCI benchmark: every split of the nine data sets (protein's 5),
# at the runner's defaults (examples/uci/runner.rs, FitSettings: minibatches of 32; SGHMC one
# chain, 4 cycles, per-row rate 0.001, 100 draws; SVGD 50 particles, Adam 0.01 with a cosine
# decay), with epochs per data set: an epoch of the large sets is hundreds of steps, and SVGD's
# step costs 50 gradients. Chosen on yacht's and kin8nm's validation rows (BENCHMARKS.md).
# SGHMC's per-row rate is chosen per data set on validation rows (0.001, 0.0003 or 0.0001;
# splits 0 and 1): the highest mean log-likelihood among the rates whose chains had no
# divergent draw (a draw the engine sent back to the previous one because the chain blew up),
# or the rate with the fewest divergent draws if every rate had some; recorded in
# bench/uci/validation/sghmc_lr.csv and kept on later runs. A rate too large for the
# posterior's curvature blows up (naval at 0.001), one too small underfits the large sets.
#
# METHODS="sghmc" (say) runs only those; SVGD_SPLITS=K runs SVGD on the first K splits only.
#
# Test scores go to bench/uci/results/<data>_<sghmc|svgd>.csv, one Markdown row per data set
# and method to standard output.
#
# Usage: bench/uci/run_sgmcmc.sh [DATA_DIR] [DATA SET ...]   (default ../shared/data/uci, all nine)
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
source bench/uci/choose.sh
methods="${METHODS:-sghmc svgd}"
lrs=bench/uci/validation/sghmc_lr.csv
[ -f "$lrs" ] || echo "dataset,sghmc_lr,validation_ll,validation_divergent_draws" > "$lrs"
svgd_splits=()
[ -z "${SVGD_SPLITS:-}" ] || svgd_splits=(--splits "$SVGD_SPLITS")
for d in "${sets[@]}"; do
    # SGHMC epochs, SVGD epochs.
    case "$d" in
        yacht|bostonHousing) e=(4000 2000) ;;
        energy|concrete) e=(4000 1000) ;;
        wine-quality-red) e=(4000 500) ;;
        kin8nm|power-plant|naval-propulsion-plant) e=(400 100) ;;
        protein-tertiary-structure) e=(400 20) ;;
        *) e=(400 100) ;;
    esac
    if [[ " $methods " == *" sghmc "* ]]; then
        lr=$(awk -F, -v d="$d" '$1 == d {print $2}' "$lrs")
        if [ -z "$lr" ]; then
            best_ll=""
            best_div=""
            for r in 0.001 0.0003 0.0001; do
                out="bench/uci/validation/sghmc_lr$r"
                ll=$(validate "sghmc rate $r" "$out" --engine sghmc \
                    --sg-epochs "${e[0]}" --sg-lr "$r")
                # Divergent draws over both splits (a failed run counts as diverging).
                div=$(awk -F, 'NR > 1 {s += $5} END {print (NR > 1 ? s : 1e9)}' \
                    "$out/${d}_sghmc_validate.csv" 2>/dev/null || echo 1e9)
                echo "$d sghmc rate $r: $div divergent validation draws" >&2
                if [ -z "$lr" ] || awk -v a="$div" -v b="$best_div" 'BEGIN {exit !(a < b)}' ||
                    { [ "$div" = "$best_div" ] && better "$ll" "$best_ll"; }; then
                    lr=$r
                    best_ll=$ll
                    best_div=$div
                fi
            done
            echo "$d,$lr,$best_ll,$best_div" >> "$lrs"
        fi
        "$uci" --data-dir "$data" --dataset "$d" --engine sghmc --sg-epochs "${e[0]}" \
            --sg-lr "$lr" 2>/dev/null || echo "$d sghmc: a split failed"
    fi
    if [[ " $methods " == *" svgd "* ]]; then
        "$uci" --data-dir "$data" --dataset "$d" --engine svgd --sg-epochs "${e[1]}" \
            "${svgd_splits[@]}" 2>/dev/null || echo "$d svgd: a split failed"
    fi
done
