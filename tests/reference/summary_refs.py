"""Reference values for tests/summary_reference.rs, from ArviZ; also writes the draws for summary_refs.R.

Run: python summary_refs.py OUTDIR   (needs arviz; tested with arviz 0.23.4, numpy 2.4, scipy 1.17)
The generator below is bit-for-bit the one in tests/summary_reference.rs: SplitMix64, uniforms
(z >> 11) * 2**-53, noise = sum of 12 uniforms - 6, AR(1) x_t = phi * x_{t-1} + noise.
"""
import sys

import numpy as np
import arviz as az
from arviz.stats.diagnostics import _mcse_quantile, _rhat, _split_chains, _z_scale

MASK = (1 << 64) - 1


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


def noise(state):
    s = 0.0
    for _ in range(12):
        state, z = splitmix64(state)
        s += (z >> 11) * 2.0**-53
    return state, s - 6.0


def ar1(seed, chains, draws, phi, offsets=None):
    """AR(1) draws, shape (chains, draws); chain c starts from state seed * 1000 + c."""
    offsets = offsets or [0.0] * chains
    out = np.empty((chains, draws))
    for c in range(chains):
        state = seed * 1000 + c
        state, x = noise(state)
        for t in range(draws):
            if t > 0:
                state, e = noise(state)
                x = phi * x + e
            out[c, t] = offsets[c] + x
    return out


DATASETS = {
    "ar1": ar1(1, 4, 200, 0.7),
    "shifted": ar1(2, 4, 200, 0.3, [0.0, 0.5, 1.0, 3.0]),
    "anti": ar1(3, 4, 200, -0.3),
    "odd": ar1(4, 3, 101, 0.5),
    "ties": np.floor(ar1(5, 4, 100, 0.5) * 2.0) / 2.0,
    "single": ar1(6, 1, 300, 0.8),
    "constant": np.full((4, 100), 2.5),
    "short": ar1(9, 4, 8, 0.2),
}


def report(name, x):
    print(f"== {name}")
    if name not in ("single", "short"):
        s = az.summary(x, kind="all", round_to="none", stat_focus="mean")
        for col in ["mean", "sd", "mcse_mean", "mcse_sd", "ess_bulk", "ess_tail", "r_hat"]:
            print(f"az.summary(x)['{col}'] = {float(s[col].iloc[0])!r}")
    print(f"az.rhat(x) = {float(az.rhat(x))!r}")
    print(f"az.ess(x, method='bulk') = {float(az.ess(x, method='bulk'))!r}")
    print(f"az.ess(x, method='tail') = {float(az.ess(x, method='tail'))!r}")
    print(f"az.ess(x, method='mean') = {float(az.ess(x, method='mean'))!r}")
    print(f"az.mcse(x, method='mean') = {float(az.mcse(x, method='mean'))!r}")
    print(f"az.mcse(x, method='sd') = {float(az.mcse(x, method='sd'))!r}")
    for p in (0.05, 0.5):
        print(f"_mcse_quantile(x, {p}) = {float(_mcse_quantile(x, p))!r}")
    for p in (0.05, 0.5, 0.95):
        print(f"np.quantile(x, {p}) = {float(np.quantile(x, p))!r}")
    if name == "single":
        # az.rhat needs two chains; this is its rank R-hat formula applied to the split halves.
        bulk = _rhat(_z_scale(_split_chains(x)))
        folded = np.abs(x - np.median(x))
        tail = _rhat(_z_scale(_split_chains(folded)))
        print(f"max(bulk, tail) = {float(max(bulk, tail))!r}")


def energies():
    calm = ar1(7, 1, 500, 0.0)[0]
    sticky = ar1(8, 1, 500, 0.9)[0]
    print("== ebfmi")
    print(f"az.bfmi(np.stack([calm, sticky])) = {az.bfmi(np.stack([calm, sticky])).tolist()!r}")


if __name__ == "__main__":
    outdir = sys.argv[1] if len(sys.argv) > 1 else "."
    for name, x in DATASETS.items():
        # One column per chain, 17 significant digits: R reads back the same doubles.
        np.savetxt(f"{outdir}/{name}.csv", x.T, delimiter=",", fmt="%.17g")
        report(name, x)
    energies()
