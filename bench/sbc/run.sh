#!/usr/bin/env bash
# Simulation-based calibration (Talts et al. 2018) of bnnppl's engines; the table in
# BENCHMARKS.md comes from this script's output (bench/sbc/results.txt).
#   NUTS on three studies: scale (a line with a half-normal noise scale), eight_schools
#   (hierarchical, half-Cauchy tau) and bnn (1 -> 3 tanh -> 1, its predictions mu ranked);
#   every approximate engine on bnn (MC dropout on bnn_dropout, whose posterior is bnn's).
# REPS (default 200) replications each; ranks among 99 thinned draws, 20 bins (ensembles:
# ranks among their members' 10 modes, 10 bins).
# Usage: bench/sbc/run.sh   (from the repository root; about a minute on one core)
set -euo pipefail
cd "$(dirname "$0")/../.."
REPS=${REPS:-200}
cargo build --release --example sbc
SBC=target/release/examples/sbc
OUT=bench/sbc/results.txt
: > "$OUT"
for study in scale eight_schools bnn; do
  "$SBC" "$study" --engine nuts --reps "$REPS" >> "$OUT"
done
for engine in svi svi-full-rank swag; do
  "$SBC" bnn --engine "$engine" --reps "$REPS" >> "$OUT"
done
for engine in ensemble anchored-ensemble; do
  "$SBC" bnn --engine "$engine" --reps "$REPS" --members 10 --thin-to 9 --bins 10 >> "$OUT"
done
"$SBC" bnn_dropout --engine mc-dropout --reps "$REPS" >> "$OUT"
cat "$OUT"
