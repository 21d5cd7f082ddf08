#!/usr/bin/env bash
# SVI optimizer steps per second for each guide on the bundled BNNs (full batch) and on the
# 13-100-100-1 network of mlp13.bnn (500 rows, batch 100). Each cell is the median of 3 runs of
# `bnnppl svi` (seed 1, 1 particle, lr 0.01, random init); the rate is the command's own
# "steps per second" (fit wall time: init + steps, not the draws or the files).
# Usage: bench/svi/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --quiet
out=target/bench-svi
mkdir -p "$out"
rate() { # model data steps guide extra...
  local model=$1 data=$2 steps=$3 guide=$4; shift 4
  for rep in 1 2 3; do
    ./target/release/bnnppl svi "$model" --data "$data" --guide "$guide" --steps "$steps" \
      --draws 10 --save predictive-only --quiet --output "$out/run" "$@" \
      | sed -n 's/.*(\([0-9]*\) steps per second.*/\1/p'
  done | sort -n | sed -n 2p
}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-16s %6s %10s %12s %12s %12s\n" model d batch mean-field low-rank:10 full-rank
for m in regression_1d heteroscedastic classifier bnn_toy; do
  d=$(./target/release/bnnppl check "models/$m.bnn" --data "models/$m.json" | sed -n 's/^total: \([0-9]*\) parameters.*/\1/p')
  printf "%-16s %6s %10s %12s %12s %12s\n" "$m" "$d" all \
    "$(rate models/$m.bnn models/$m.json 5000 mean-field)" \
    "$(rate models/$m.bnn models/$m.json 5000 low-rank:10)" \
    "$(rate models/$m.bnn models/$m.json 5000 full-rank)"
done
printf "%-16s %6s %10s %12s %12s %12s\n" mlp13 11602 100 \
  "$(rate bench/svi/mlp13.bnn bench/svi/mlp13.json 1000 mean-field --batch-size 100)" \
  "$(rate bench/svi/mlp13.bnn bench/svi/mlp13.json 1000 low-rank:10 --batch-size 100)" \
  "n/a (d > 2000)"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
