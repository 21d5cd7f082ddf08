#!/usr/bin/env bash
# Warmup gradient evaluations of NUTS (4 chains, no sampling draws) on the bundled networks,
# from random inits (Stan's 1000 warmup draws) and from --init pathfinder (its default 925:
# Stan's schedule without the 75-draw initial buffer), for seeds 1-3; prints a Markdown table.
# Usage: bench/pathfinder/warmup_gradients.sh [MODEL...]   (from the repository root)
set -euo pipefail
B=target/release/bnnppl
out=$(mktemp -d)
models=("$@")
[ ${#models[@]} -eq 0 ] && models=(bnn_toy regression_1d classifier heteroscedastic hierarchical_bnn)
seeds=(1 2 3)
grads() { sed -n 's/.*(\([0-9]*\) gradient evaluations.*/\1/p' | head -1; }
echo "| model | seed | warmup, random init (1000) | warmup, --init pathfinder (925) | Pathfinder gradients | Pathfinder log-densities | warmup + Pathfinder gradients | change |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for m in "${models[@]}"; do
  for s in "${seeds[@]}"; do
    a=$($B sample models/$m.bnn --draws 0 --seed $s --quiet --output "$out/$m-$s-a" 2>/dev/null | grep Sampled | grads)
    log=$($B sample models/$m.bnn --draws 0 --seed $s --init pathfinder --quiet --output "$out/$m-$s-b" 2>&1)
    b=$(echo "$log" | grep Sampled | grads)
    pg=$(echo "$log" | sed -n 's/Pathfinder init: \([0-9]*\) gradient.*/\1/p')
    pl=$(echo "$log" | sed -n 's/.* \([0-9]*\) log-density evaluations/\1/p')
    tot=$((b + pg))
    pct=$(awk -v a="$a" -v t="$tot" 'BEGIN { printf "%+.1f %%", 100 * (t - a) / a }')
    echo "| $m | $s | $a | $b | $pg | $pl | $tot | $pct |"
  done
done
rm -rf "$out"
