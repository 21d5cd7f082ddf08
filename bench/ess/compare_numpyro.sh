#!/usr/bin/env bash
# NUTS ESS per second against NumPyro on the two reference BNNs, one run: for each network,
# bnnppl on seeds 1, 2, 3 (bench/ess/run.sh: 2 chains x 1000 warmup x 1000 draws, min bulk ESS
# of the predictive mean at the 5 test inputs over the wall time), then the JAX reference's
# `nuts-toy` / `nuts-mlp50` on 3 seeds (same protocol, compile excluded), and one Markdown table
# of the medians and bnnppl's lead (bnnppl's median ESS/s over NumPyro's).
#
# Usage: bench/ess/compare_numpyro.sh
# Environment:
#   JAXREF  the JAX reference script (default ../shared/bench/jax_reference.py)
#   BENCHDATA  its data (default ../shared/data/bench)
#   VENV    a virtual environment with jax[cpu], numpyro and arviz; created and filled when
#           missing (default ${TMPDIR:-/tmp}/bnnppl-jaxref-venv)
set -euo pipefail
cd "$(dirname "$0")/../.."
jaxref="${JAXREF:-../shared/bench/jax_reference.py}"
data="${BENCHDATA:-../shared/data/bench}"
venv="${VENV:-${TMPDIR:-/tmp}/bnnppl-jaxref-venv}"
[ -f "$jaxref" ] || { echo "error: no JAX reference at $jaxref (set JAXREF)" >&2; exit 66; }
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "jax[cpu]" numpyro arviz
fi
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
cargo build --release --quiet --bin bnnppl

echo "commit $(git rev-parse --short HEAD), $(date -u '+%Y-%m-%d %H:%M UTC'), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
rows=()
for pair in "bnn_toy_test nuts-toy" "bnn_mlp50_test nuts-mlp50"; do
    set -- $pair
    ours=()
    for seed in 1 2 3; do
        line=$(bench/ess/run.sh "$seed" | grep "^$1:")
        echo "bnnppl seed $seed: $line"
        ours+=("$(sed -n 's/.*ESS\/s \([0-9.]*\).*/\1/p' <<<"$line")")
    done
    theirs=()
    while read -r line; do
        echo "numpyro: $line"
        theirs+=("$(sed -n 's/.*ESS\/s \([0-9.]*\).*/\1/p' <<<"$line")")
    done < <("$venv/bin/python" "$jaxref" "$2" "$data" --seeds 3 | grep "ESS/s")
    a=$(printf '%s\n' "${ours[@]}" | median)
    b=$(printf '%s\n' "${theirs[@]}" | median)
    rows+=("$(awk -v n="$1" -v a="$a" -v b="$b" -v ao="${ours[*]}" -v bo="${theirs[*]}" \
        'BEGIN {printf "| %s | %.1f (%s) | %.1f (%s) | %.2f× |", n, a, ao, b, bo, a / b}')")
done
echo
echo "| network | bnnppl ESS/s, median (seeds 1 2 3) | NumPyro ESS/s, median (its 3 seeds) | bnnppl's lead |"
echo "|---|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
