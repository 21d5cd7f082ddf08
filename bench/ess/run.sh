#!/usr/bin/env bash
# ESS per second of the predictive mean at 5 test inputs, as the peers were measured
# (2 chains x 1000 warmup x 1000 draws, target accept 0.8, max depth 10), for the two reference
# BNNs of ../shared/data/bench. Usage: bench/ess/run.sh [SEED]
set -euo pipefail
cd "$(dirname "$0")/../.."
seed="${1:-1}"
cargo build --release --quiet
mkdir -p target/bench-ess
for m in bnn_toy_test bnn_mlp50_test; do
  out="target/bench-ess/$m"
  start=$(date +%s.%N)
  ./target/release/bnnppl sample "bench/ess/$m.bnn" --chains 2 --seed "$seed" --quiet --output "$out" --overwrite > "$out.log" 2>&1 || { cat "$out.log"; exit 1; }
  end=$(date +%s.%N)
  python3 - "$m" "$out" "$start" "$end" <<'PY'
import csv, sys
m, out, start, end = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
rows = {r["name"]: r for r in csv.DictReader(open(f"{out}/summary.csv"))}
ess = min(float(r["ess_bulk"]) for n, r in rows.items() if n.startswith("mu_test."))
grads = 0
for k in (1, 2):
    for line in open(f"{out}/chain_{k}.csv"):
        if line[0] != "#" and not line.startswith("lp__"):
            grads += int(line.split(",")[4])
wall = end - start
print(f"{m}: wall {wall:.1f} s, min bulk ESS of mu_test {ess:.0f}, ESS/s {ess / wall:.1f}, "
      f"sampling-phase gradients {grads}, rhat(lp__) {float(rows['lp__']['rhat']):.3f}")
PY
done
