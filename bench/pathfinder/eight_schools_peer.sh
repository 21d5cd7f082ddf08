#!/usr/bin/env bash
# Pathfinder on posteriordb's eight_schools_noncentered, bnnppl's (`fit --method pathfinder`,
# Stan's defaults) beside blackjax's run by Stan's recipe, five seeds each: one Markdown table of
# mu and tau against the reference draws (eight_schools_peer.py says how blackjax is run), and
# full-rank SVI run to convergence: the best Gaussian, which the paths' Gaussians fall short of.
# Usage: bench/pathfinder/eight_schools_peer.sh      (from the repository root)
# Environment: VENV, a virtual environment with jax[cpu], arviz and blackjax; created and filled
# when missing (default ${TMPDIR:-/tmp}/bnnppl-jaxref-venv, the JAX comparison's, plus blackjax).
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${VENV:-${TMPDIR:-/tmp}/bnnppl-jaxref-venv}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "jax[cpu]" numpyro arviz
fi
"$venv/bin/python" -c "import blackjax" 2>/dev/null || "$venv/bin/pip" install --quiet blackjax
cargo build --release --quiet --bin bnnppl
model=tests/posteriordb/eight_schools-eight_schools_noncentered.bnn
out=$(mktemp -d)
dirs=()
for seed in 20240528 1 2 3 4; do
    target/release/bnnppl fit --method pathfinder "$model" --seed "$seed" --quiet \
        --output "$out/$seed" >/dev/null 2>&1
    dirs+=("$out/$seed")
done
# The Gaussian with the best ELBO, fitted to convergence, for comparison with the paths' best.
target/release/bnnppl svi "$model" --guide full-rank --steps 50000 --quiet --output "$out/svi" \
    >/dev/null 2>&1
dirs+=("$out/svi")
"$venv/bin/python" bench/pathfinder/eight_schools_peer.py 5 "${dirs[@]}" 2>/dev/null
rm -rf "$out"
