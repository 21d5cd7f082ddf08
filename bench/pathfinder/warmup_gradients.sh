#!/usr/bin/env bash
# Warmup gradient evaluations of NUTS (4 chains × 1000 warmup, seed 1, no sampling draws) on the
# bundled networks, from random inits and from --init pathfinder; prints a Markdown table.
# Usage: bench/pathfinder/warmup_gradients.sh [MODEL...]   (from the repository root)
set -euo pipefail
B=target/release/bnnppl
out=$(mktemp -d)
models=("$@")
[ ${#models[@]} -eq 0 ] && models=(bnn_toy regression_1d classifier heteroscedastic hierarchical_bnn)
grads() { sed -n 's/.*(\([0-9]*\) gradient evaluations.*/\1/p' | head -1; }
echo "| model | warmup, random init | warmup, --init pathfinder | Pathfinder gradients | Pathfinder log-densities | warmup + Pathfinder gradients | change |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for m in "${models[@]}"; do
  a=$($B sample models/$m.bnn --draws 0 --seed 1 --quiet --output "$out/$m-a" 2>/dev/null | grep Sampled | grads)
  log=$($B sample models/$m.bnn --draws 0 --seed 1 --init pathfinder --quiet --output "$out/$m-b" 2>&1)
  b=$(echo "$log" | grep Sampled | grads)
  pg=$(echo "$log" | sed -n 's/Pathfinder init: \([0-9]*\) gradient.*/\1/p')
  pl=$(echo "$log" | sed -n 's/.* \([0-9]*\) log-density evaluations/\1/p')
  tot=$((b + pg))
  pct=$(awk -v a="$a" -v t="$tot" 'BEGIN { printf "%+.1f %%", 100 * (t - a) / a }')
  echo "| $m | $a | $b | $pg | $pl | $tot | $pct |"
done
rm -rf "$out"
