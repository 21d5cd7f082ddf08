"""Pathfinder on posteriordb's eight_schools_noncentered, bnnppl's beside blackjax's: mu and tau
against the reference, per seed, as one Markdown table.

blackjax runs Stan's recipe (as `fit --method pathfinder` does): 4 paths from uniform(-2, 2) on
the unconstrained scale, history 5, 25 ELBO draws per iterate, the best-ELBO Gaussian of each
path, 1000 draws from each, Pareto-smoothed importance weights over the 4000 (arviz.psislw) and
1000 resampled with replacement. bnnppl's draws are read from the output directories given (a
directory without pathfinder.json is a full-rank SVI run: the best Gaussian, for comparison).

Usage: eight_schools_peer.py SEEDS BNNPPL_DIR...   (SEEDS: how many blackjax seeds, from 0)
"""

import json
import sys

import numpy as np

# posteriordb's reference draws (tests/posteriordb/reference.json)
REF = {"mu": (4.4105183369549295, 3.3092964767263533), "tau": (3.6020595236405932, 3.1984776709766325)}
Y = [28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0]
SIGMA = [15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0]


def row(who, seed, mu, tau, khat):
    cells = [who, str(seed)]
    ok = True
    for name, x in (("mu", mu), ("tau", tau)):
        m, s = REF[name]
        dm = (x.mean() - m) / s
        ds = (x.std(ddof=1) - s) / s
        ok &= abs(dm) < 0.25 and abs(ds) < 0.25
        cells.append(f"{x.mean():.2f} ± {x.std(ddof=1):.2f} ({dm:+.2f} sd, sd {100 * ds:+.0f} %)")
    cells.append("—" if khat is None else f"{khat:.2f}")
    cells.append("yes" if ok else "no")
    print("| " + " | ".join(cells) + " |", flush=True)


def bnnppl_draws(path):
    """mu, tau and the run's seed and k-hat (None for SVI) from a bnnppl output directory."""
    text = open(f"{path}/chain_1.csv").read().splitlines()
    seed = next(l.split("=")[1].strip() for l in text if l.startswith("# seed"))
    lines = [l for l in text if not l.startswith("#")]
    header = lines[0].split(",")
    x = np.array([[float(v) for v in l.split(",")] for l in lines[1:]])
    try:
        khat = json.load(open(f"{path}/pathfinder.json"))["fits"][0]["pareto_k"]
    except FileNotFoundError:
        khat = None
    return seed, x[:, header.index("mu")], x[:, header.index("tau")], khat


def blackjax_rows(seeds):
    import arviz as az
    import blackjax
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    y, sigma = jnp.array(Y), jnp.array(SIGMA)

    def log_p(x):
        # theta_trans ~ N(0, 1), mu ~ N(0, 5), tau ~ half-Cauchy(0, 5) on log tau (+ its
        # Jacobian), y ~ N(mu + tau theta_trans, sigma); constants dropped.
        tt, mu, log_tau = x[:8], x[8], x[9]
        tau = jnp.exp(log_tau)
        return (-0.5 * jnp.sum(tt**2) - 0.5 * (mu / 5) ** 2 - jnp.log1p((tau / 5) ** 2) + log_tau
                - 0.5 * jnp.sum(((y - mu - tau * tt) / sigma) ** 2))

    for seed in range(seeds):
        key = jax.random.PRNGKey(seed)
        draws, log_w = [], []
        for _ in range(4):
            key, k_init, k_fit, k_draw = jax.random.split(key, 4)
            x0 = jax.random.uniform(k_init, (10,), minval=-2.0, maxval=2.0)
            state, _ = blackjax.vi.pathfinder.approximate(
                k_fit, log_p, x0, num_samples=25, maxcor=5, maxiter=1000, ftol=1e-12)
            d, log_q = blackjax.vi.pathfinder.sample(k_draw, state, 1000)
            draws.append(np.asarray(d))
            log_w.append(np.asarray(jax.vmap(log_p)(d) - log_q))
        x, lw = np.concatenate(draws), np.concatenate(log_w)
        smoothed, khat = az.psislw(lw - lw.max())
        w = np.exp(smoothed - smoothed.max())
        pick = np.random.default_rng(seed).choice(len(x), 1000, p=w / w.sum())
        row("blackjax", seed, x[pick, 8], np.exp(x[pick, 9]), float(khat))


def main():
    print("| run | seed | mu (ref 4.41 ± 3.31) | tau (ref 3.60 ± 3.20) | k̂ | within 0.25 sd and 25 % |")
    print("|---|---:|---|---|---:|:---:|")
    for path in sys.argv[2:]:
        seed, mu, tau, khat = bnnppl_draws(path)
        row("bnnppl svi, full rank" if khat is None else "bnnppl", seed, mu, tau, khat)
    blackjax_rows(int(sys.argv[1]))


if __name__ == "__main__":
    main()
