#!/usr/bin/env bash
# The gradient against JAX on the five benchmark networks of issue 15, one run, one thread each:
# for each network `bnnppl bench` (median of its samples) and then the JAX reference's
# jit(value_and_grad) on the same data and model (float64, median of 7 timed loops), right after
# one another, and one Markdown table of the two and bnnppl's lead (JAX time / bnnppl time), with
# the gradient's floor (bnnppl bench's: its flops at a large dgemm's rate plus its transcendentals at
# the tanh kernel's, measured in the same run) and issue 15's target: 2× faster than JAX, or within
# 1.25× of the floor where 2× JAX would beat the floor (JAX time / 2 < floor).
#
# Usage: bench/compare_jax.sh [SECONDS]          (bnnppl's time budget per network, default 3)
# Environment:
#   JAXREF   the JAX reference script (default ../shared/bench/jax_reference.py)
#   VENV     a virtual environment with jax[cpu], numpyro and arviz; created and filled when
#            missing (default ${TMPDIR:-/tmp}/bnnppl-jaxref-venv)
#   BNNPPL_SIMD  caps bnnppl's SIMD path as for any command (the table says which was taken)
#   PIN      the command both programs run under (default `taskset -c 0` where taskset exists):
#            XLA's one-thread flags do not keep it on one core (its softmax gradient loop used
#            168 % of a CPU with them, BENCHMARKS.md), so both are held to the same single CPU
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-3}"
jaxref="${JAXREF:-../shared/bench/jax_reference.py}"
venv="${VENV:-${TMPDIR:-/tmp}/bnnppl-jaxref-venv}"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
if [ -z "${PIN+set}" ]; then
    if command -v taskset >/dev/null; then PIN="taskset -c 0"; else PIN=""; fi
fi
[ -f "$jaxref" ] || { echo "error: no JAX reference at $jaxref (set JAXREF)" >&2; exit 66; }
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "jax[cpu]" numpyro arviz
fi

cargo build --release --quiet --bin bnnppl --example make_bench_data
target/release/examples/make_bench_data bench/ >/dev/null

# "<gradient> <floor>" in microseconds from bnnppl bench's "gradient  <median> <unit> ..." and
# "floor  <time> <unit> ..." lines.
bench_us() {
    awk 'function us(v, u) {
             if (u == "ns") return v / 1000; if (u == "ms") return v * 1000; if (u == "s") return v * 1e6
             return v
         }
         ($1 == "gradient" || $1 == "floor") && $2 ~ /^[0-9.]+$/ {t[$1] = us($2, $3)}
         END {printf "%.3f %.3f\n", t["gradient"], t["floor"]}'
}
bnnppl_us() {
    $PIN target/release/bnnppl bench "$1" --data "$2" --seconds "$seconds" | bench_us
}
simd_path() {
    target/release/bnnppl bench models/bnn_toy.bnn --reps 1 | sed -n 's/^1 thread; SIMD path \([a-z0-9]*\).*/\1/p'
}
# Microseconds: the last number on the reference's grad line.
jax_us() {
    $PIN "$venv/bin/python" "$jaxref" "$@" --threads 1 | awk '/us per gradient/ {print $(NF - 3)}'
}

echo "commit $(git rev-parse --short HEAD), $(date -u '+%Y-%m-%d %H:%M UTC'), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs"
echo "both run under: ${PIN:-(no pinning)}"
echo "bnnppl SIMD path: $(simd_path); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| network (rows) | bnnppl gradient | JAX, 1 thread | bnnppl's lead | floor | target | met |"
echo "|---|---:|---:|---:|---:|---:|:---:|"
# One table row from the name and the times in microseconds (bnnppl, its floor, JAX): the target
# is JAX / 2 unless that is below the floor, then 1.25 × the floor.
table_row() {
    awk -v n="$1" -v a="$2" -v f="$3" -v b="$4" '
        function t(us) { us += 0; return us >= 1000 ? sprintf("%.2f ms", us / 1000) : sprintf("%.2f µs", us) }
        BEGIN {
            a += 0; f += 0; b += 0
            if (b / 2 >= f) { goal = b / 2; rule = "2× JAX" } else { goal = 1.25 * f; rule = "1.25× floor" }
            printf "| %s | %s | %s | %.2f× | %s | %s (%s) | %s |\n",
                n, t(a), t(b), b / a, t(f), t(goal), rule, a <= goal ? "yes" : "no"
        }'
}
row() {
    local name=$1 bnn=$2 data=$3
    shift 3
    local ours floor theirs
    read -r ours floor <<<"$(bnnppl_us "$bnn" "$data")"
    theirs=$(jax_us "$@")
    table_row "$name" "$ours" "$floor" "$theirs"
}
row "bnn_toy 3-5-5-1 (100)" models/bnn_toy.bnn models/bnn_toy.json grad-toy models/bnn_toy.json
row "bnn_mlp50 10-50-1 (397)" bench/bnn_mlp50.bnn bench/bnn_mlp50.json grad bench/bnn_mlp50.json 50,1
row "13-100-100-1 (500)" bench/mlp_13_100_100_1.bnn bench/mlp_13_100_100_1.json \
    grad bench/mlp_13_100_100_1.json 100,100,1
row "784-100-10 softmax (1,000)" bench/softmax_784_100_10.bnn bench/softmax_784_100_10.json \
    grad bench/softmax_784_100_10.json 100,10 --classify
row "9-100-1 on 45,000 rows (protein's shape)" bench/mlp_9_100_1.bnn bench/mlp_9_100_1.json \
    grad bench/mlp_9_100_1.json 100,1
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
