#!/usr/bin/env bash
# The optimization methods on the UCI benchmark: per data set, chooses the Adam epochs of each
# MAP fit on validation rows only (the last 20 % of the training rows of splits 0 and 1, a
# 5-member ensemble, higher mean validation log-likelihood wins), then runs every split with
# MAP, the deep and the anchored ensemble, SWAG and MultiSWAG at that choice. MC dropout chooses
# its rate (0.05 or 0.005, Gal & Ghahramani's two; models/uci_dropout.bnn and a copy at 0.005)
# and its epochs together, the same way, alone (one network), then runs every split.
# SWAG's SGD rate is chosen the same way (1e-3 down to 1e-6 per row, at the chosen epochs;
# a rate whose SGD diverges scores -inf): above the edge of stability the iterates blow up,
# below it the Gaussian shrinks to the MAP point.
# A data set whose choice is already recorded keeps it (delete its row to choose again).
#
# Validation scores go to bench/uci/validation/fit_epochs<E>/, the choice to
# bench/uci/validation/fit_epochs.csv (MC dropout: fit_dropout*/, fit_dropout.csv), the test
# scores to bench/uci/results/<data>_<method>.csv.
#
# Usage: bench/uci/run_fit.sh [DATA_DIR] [DATA SET ...]   (default ../shared/data/uci, all nine)
# METHODS="swag multiswag" (say) runs only those methods (the epochs are still chosen first).
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
schoices=bench/uci/validation/fit_swag_lr.csv
[ -f "$schoices" ] || echo "dataset,swag_lr,validation_ll" > "$schoices"
dchoices=bench/uci/validation/fit_dropout.csv
[ -f "$dchoices" ] || echo "dataset,rate,epochs,validation_ll" > "$dchoices"
mkdir -p target/uci
sed 's/dropout(0.05)/dropout(0.005)/' models/uci_dropout.bnn > target/uci/uci_dropout_0.005.bnn
dropout_model() {
    case "$1" in
        0.05) echo models/uci_dropout.bnn ;;
        *) echo "target/uci/uci_dropout_$1.bnn" ;;
    esac
}
source bench/uci/choose.sh
methods="${METHODS:-map ensemble anchored-ensemble swag multiswag mc-dropout}"
wanted() { [[ " $methods " == *" $1 "* ]]; }
for d in "${sets[@]}"; do
    # Fewer epochs for the large sets: an epoch there is hundreds of steps.
    case "$d" in
        kin8nm|power-plant|naval-propulsion-plant) candidates=(40 100 400) ;;
        protein-tertiary-structure) candidates=(10 40 100) ;;
        *) candidates=(400 1000 4000) ;;
    esac
    best=$(awk -F, -v d="$d" '$1 == d {print $2}' "$choices")
    best_ll=""
    [ -n "$best" ] || for e in "${candidates[@]}"; do
        ll=$(validate "epochs $e" "bench/uci/validation/fit_epochs$e" --engine ensemble \
            --epochs "$e")
        if [ -z "$best" ] || better "$ll" "$best_ll"; then
            best=$e
            best_ll=$ll
        fi
    done
    if [ -n "$best_ll" ]; then
        echo "$d,$best,$best_ll" >> "$choices"
    fi
    for m in map ensemble anchored-ensemble; do
        wanted "$m" || continue
        "$uci" --data-dir "$data" --dataset "$d" --engine "$m" --epochs "$best" 2>/dev/null \
            || echo "$d $m: a split failed"
    done
    slr=$(awk -F, -v d="$d" '$1 == d {print $2}' "$schoices")
    if [ -z "$slr" ] && { wanted swag || wanted multiswag; }; then
        sbest_ll=""
        for lr in 0.001 0.0003 0.0001 0.00003 0.00001 0.000003 0.000001; do
            ll=$(validate "swag lr $lr" "bench/uci/validation/fit_swag_lr$lr" --engine swag \
                --epochs "$best" --swag-lr "$lr")
            if [ -z "$slr" ] || better "$ll" "$sbest_ll"; then
                slr=$lr
                sbest_ll=$ll
            fi
        done
        echo "$d,$slr,$sbest_ll" >> "$schoices"
    fi
    for m in swag multiswag; do
        wanted "$m" || continue
        "$uci" --data-dir "$data" --dataset "$d" --engine "$m" --epochs "$best" \
            --swag-lr "$slr" 2>/dev/null || echo "$d $m: a split failed"
    done
    wanted mc-dropout || continue
    # MC dropout: rate and epochs chosen together.
    drate=$(awk -F, -v d="$d" '$1 == d {print $2}' "$dchoices")
    depochs=$(awk -F, -v d="$d" '$1 == d {print $3}' "$dchoices")
    if [ -z "$drate" ]; then
        dbest_ll=""
        for p in 0.05 0.005; do
            for e in "${candidates[@]}"; do
                ll=$(validate "dropout $p epochs $e" \
                    "bench/uci/validation/fit_dropout${p}_epochs$e" --engine mc-dropout \
                    --model "$(dropout_model "$p")" --epochs "$e")
                if [ -z "$drate" ] || better "$ll" "$dbest_ll"; then
                    drate=$p
                    depochs=$e
                    dbest_ll=$ll
                fi
            done
        done
        echo "$d,$drate,$depochs,$dbest_ll" >> "$dchoices"
    fi
    "$uci" --data-dir "$data" --dataset "$d" --engine mc-dropout \
        --model "$(dropout_model "$drate")" --epochs "$depochs" 2>/dev/null \
        || echo "$d mc-dropout: a split failed"
done
