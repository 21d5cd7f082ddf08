#!/usr/bin/env bash
# Builds bnnppl in release mode, generates the benchmark data, and times the log-density and the
# gradient of every bundled model (models/) and every benchmark network (bench/) with
# `bnnppl bench`, then the hand-written nalgebra forward pass against bnnppl's log-density.
#
# Usage: bench/run.sh [SECONDS]     (time budget per measurement, default 2)
# Environment: CARGO_BUILD_JOBS (default 1, the machine is shared).
# Results for BENCHMARKS.md: keep the whole output; it starts with the commit, date, CPU and load.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-2}"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"

cargo build --release --quiet --bin bnnppl --example make_bench_data --example handwritten_forward
# Regenerates the committed data byte for byte, and softmax_784_100_10.json (3.5 MB, not committed).
target/release/examples/make_bench_data bench/ >/dev/null

dirty=""
git diff --quiet HEAD -- src examples bench Cargo.toml || dirty=" (with uncommitted changes)"
echo "commit:  $(git rev-parse --short HEAD)${dirty}"
echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "cpu:     $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs"
echo "rustc:   $(rustc --version)"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) before the runs"
echo

for model in models/*.bnn bench/*.bnn; do
    echo "== $model"
    target/release/bnnppl bench "$model" --seconds "$seconds"
    echo "   load $(cut -d' ' -f1 /proc/loadavg)"
    echo
done

echo "== hand-written nalgebra forward pass vs bnnppl's log-density (medians)"
target/release/examples/handwritten_forward "$seconds"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) after the runs"
