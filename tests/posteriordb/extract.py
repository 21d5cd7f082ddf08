#!/usr/bin/env python3
"""Regenerate tests/posteriordb/reference.json from the shared posteriordb snapshot.

Reads `reference_summary.json` of the snapshot (default: ../shared/data/posteriordb relative to
the repository root, i.e. /work/shared/data/posteriordb) and keeps, for every posterior that
bnnppl can express (COVERED below) and every parameter, the reference mean, sd, MCSE of the mean
and MCSE of the sd; for the two posteriors whose references were computed for bnnppl
(wells_data-wells_dist, radon_mn-radon_pooled) also the exact quadrature mean and sd. Parameter
names are rewritten to bnnppl's CmdStan-CSV column names: Stan's `beta[1]` becomes `beta.1`
(1-based, as in our CSV), a scalar keeps its name.

    python3 tests/posteriordb/extract.py                  # writes tests/posteriordb/reference.json
    python3 tests/posteriordb/extract.py --prior-shift    # prints the flat-prior substitution table

`--prior-shift` reads the reference draws (never copied into the repository) and prints, for each
model where a flat prior was replaced by normal(0, s), how far that can move each posterior mean
and sd, in units of the reference MCSE. For a near-Gaussian posterior with covariance Sigma, adding
the log-prior -sum_F theta_F^2 / (2 s^2) over the substituted parameters F moves the mean to first
order by Sigma * grad = -Sigma[:, F] mu_F / s^2 (linear response), and the variance by
-(Sigma[:, F] Sigma[F, :])_ii / s^2, i.e. the sd by that over 2 sd_i. For a positive parameter the
same holds on the constrained scale: Stan's flat prior on (0, inf) and our half-normal both get the
log-Jacobian of the log transform, so only the -sigma^2 / (2 s^2) term differs.

Standard library only (zipfile, json).
"""

import argparse
import json
import os
import re
import sys
import zipfile

# Posteriors with a model in tests/posteriordb/<name>.bnn. arK-arK (lagged indexing) and
# low_dim_gauss_mix-low_dim_gauss_mix (ordered vector, mixture) cannot be written yet.
COVERED = [
    "kidiq-kidscore_momiq",
    "kidiq-kidscore_interaction",
    "earnings-logearn_height",
    "mesquite-logmesquite_logvolume",
    "nes1972-nes",
    "sblrc-blr",
    "kilpisjarvi_mod-kilpisjarvi",
    "eight_schools-eight_schools_noncentered",
    "wells_data-wells_dist",
    "radon_mn-radon_pooled",
]

# Flat (improper) priors of the reference models replaced by normal(0, scale) (half-normal for a
# positive parameter): posterior -> (scale, Stan names of the substituted parameters).
SUBSTITUTIONS = {
    "kidiq-kidscore_momiq": (1e3, ["beta[1]", "beta[2]"]),
    "kidiq-kidscore_interaction": (1e4, ["beta[1]", "beta[2]", "beta[3]", "beta[4]"]),
    "earnings-logearn_height": (1e3, ["beta[1]", "beta[2]", "sigma"]),
    "mesquite-logmesquite_logvolume": (1e3, ["beta[1]", "beta[2]", "sigma"]),
    "nes1972-nes": (1e3, ["beta[%d]" % i for i in range(1, 10)] + ["sigma"]),
    "kilpisjarvi_mod-kilpisjarvi": (1e3, ["sigma"]),
    "wells_data-wells_dist": (1e3, ["beta[1]", "beta[2]"]),
}

KEPT = ["mean", "sd", "mcse_mean", "mcse_sd", "exact_mean", "exact_sd"]

PROVENANCE = (
    "posteriordb (stan-dev/posteriordb, main at commit 28f8d3d, 'Merge pull request #288 from "
    "stan-dev/v1.0'): 10 chains x 1,000 thinned rstan NUTS draws per posterior; "
    "wells_data-wells_dist and radon_mn-radon_pooled: exact i.i.d. draws and grid-quadrature "
    "moments computed for bnnppl. Numbers from reference_summary.json of the shared snapshot "
    "(/work/shared/data/posteriordb), selected by tests/posteriordb/extract.py."
)


def csv_name(stan_name):
    """Stan's `beta[1]` or `x[2,3]` -> CmdStan CSV column `beta.1` or `x.2.3`; scalars unchanged."""
    m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)\[([0-9, ]+)\]", stan_name)
    if m is None:
        return stan_name
    return m.group(1) + "." + ".".join(i.strip() for i in m.group(2).split(","))


def reference(src):
    with open(os.path.join(src, "reference_summary.json")) as f:
        summary = json.load(f)
    out = {"provenance": PROVENANCE, "posteriors": {}}
    for name in COVERED:
        params = {}
        for stan_name, stats in summary[name]["params"].items():
            params[csv_name(stan_name)] = {k: stats[k] for k in KEPT if k in stats}
        out["posteriors"][name] = params
    return out


def draws(src, name):
    """Reference draws of one posterior pooled over chains: {stan_name: [float]}."""
    with zipfile.ZipFile(os.path.join(src, name, "reference_draws.json.zip")) as z:
        chains = json.loads(z.read(z.namelist()[0]))
    return {k: [x for c in chains for x in c[k]] for k in chains[0]}


def prior_shift(src):
    with open(os.path.join(src, "reference_summary.json")) as f:
        summary = json.load(f)
    print("posterior                           scale  worst |mean shift|/MCSE   worst |sd shift|/MCSE_sd")
    for name, (scale, flat) in SUBSTITUTIONS.items():
        d = draws(src, name)
        names = list(d)
        m = len(d[names[0]])
        mu = {k: sum(v) / m for k, v in d.items()}
        cov = {
            (a, b): sum((x - mu[a]) * (y - mu[b]) for x, y in zip(d[a], d[b])) / (m - 1)
            for a in names
            for b in names
        }
        lam = 1.0 / scale**2
        worst_mean, worst_sd = (0.0, ""), (0.0, "")
        for a in names:
            ref = summary[name]["params"][a]
            shift = -lam * sum(cov[(a, f)] * mu[f] for f in flat)
            dvar = -lam * sum(cov[(a, f)] * cov[(f, a)] for f in flat)
            dsd = dvar / (2.0 * cov[(a, a)] ** 0.5)
            r_mean = abs(shift) / ref["mcse_mean"]
            r_sd = abs(dsd) / ref["mcse_sd"]
            if r_mean > worst_mean[0]:
                worst_mean = (r_mean, csv_name(a))
            if r_sd > worst_sd[0]:
                worst_sd = (r_sd, csv_name(a))
        print(
            "%-35s %5.0e  %9.1e (%-8s)         %9.1e (%s)"
            % (name, scale, worst_mean[0], worst_mean[1], worst_sd[0], worst_sd[1])
        )


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--src",
        default=os.path.join(root, "..", "shared", "data", "posteriordb"),
        help="the posteriordb snapshot folder (default: ../shared/data/posteriordb)",
    )
    ap.add_argument("--out", default=os.path.join(here, "reference.json"))
    ap.add_argument("--prior-shift", action="store_true", help="print the substitution table")
    args = ap.parse_args()
    if args.prior_shift:
        prior_shift(args.src)
        return
    with open(args.out, "w") as f:
        json.dump(reference(args.src), f, indent=1)
        f.write("\n")
    print("wrote", args.out, file=sys.stderr)


if __name__ == "__main__":
    main()
