"""Python's draws equal the CLI's chain files for the same settings and seed, value for
value: every parameter, every predict quantity and every sampler statistic, for NUTS, static
HMC and SVI (issue 17)."""

from __future__ import annotations

import json

import arviz as az
import numpy as np
import pytest

import bnnppl

from conftest import MODELS, assert_same_draws, read_cmdstan_csv


def test_nuts_draws_equal_the_cli_for_the_same_seed(cli, tmp_path):
    # Data from Python (a dict read from the JSON file), the CLI reading the file.
    data = json.loads((MODELS / "eight_schools.json").read_text())
    post = bnnppl.Model.from_file(MODELS / "eight_schools.bnn").bind(data)
    idata = post.sample(chains=3, warmup=200, draws=150, seed=11)
    assert isinstance(idata, az.InferenceData)
    assert idata.posterior["theta_raw"].shape == (3, 150, 8)
    assert idata.posterior["theta_raw"].dims == ("chain", "draw", "theta_raw_dim_0")
    cli("sample", MODELS / "eight_schools.bnn", "--chains", 3, "--warmup", 200, "--draws", 150,
        "--seed", 11, "--output", tmp_path, "--quiet")  # fmt: skip
    assert_same_draws(idata, [tmp_path / f"chain_{k}.csv" for k in (1, 2, 3)])


def test_a_networks_weight_matrices_come_back_in_place(cli, tmp_path):
    # regression_1d: f.0.weight is 50 × 1 and f.1.weight 1 × 50, stored column-major in the
    # chain files (f.1.weight.1.2 is row 0, column 1), row-major (chain, draw, out, in) here.
    post = bnnppl.Model.from_file(MODELS / "regression_1d.bnn").bind(MODELS / "regression_1d.json")
    idata = post.sample(chains=2, warmup=60, draws=40, seed=4)
    assert idata.posterior["f.0.weight"].shape == (2, 40, 50, 1)
    assert idata.posterior["f.1.weight"].shape == (2, 40, 1, 50)
    cli("sample", MODELS / "regression_1d.bnn", "--chains", 2, "--warmup", 60, "--draws", 40,
        "--seed", 4, "--output", tmp_path, "--quiet")  # fmt: skip
    assert_same_draws(idata, [tmp_path / "chain_1.csv", tmp_path / "chain_2.csv"])
    chain = read_cmdstan_csv(tmp_path / "chain_2.csv")
    np.testing.assert_array_equal(
        idata.posterior["f.1.weight"].values[1, :, 0, 1], chain["f.1.weight.1.2"]
    )


def test_hmc_draws_equal_the_cli_for_the_same_seed(cli, tmp_path):
    post = bnnppl.Model.from_file(MODELS / "eight_schools.bnn").bind(MODELS / "eight_schools.json")
    idata = post.sample(chains=2, warmup=150, draws=100, seed=5, engine="hmc", steps=8)
    cli("sample", MODELS / "eight_schools.bnn", "--engine", "hmc", "--steps", 8, "--chains", 2,
        "--warmup", 150, "--draws", 100, "--seed", 5, "--output", tmp_path, "--quiet")  # fmt: skip
    assert_same_draws(idata, [tmp_path / "chain_1.csv", tmp_path / "chain_2.csv"])


def test_svi_draws_and_elbo_equal_the_cli_for_the_same_seed(cli, tmp_path):
    post = bnnppl.Model.from_file(MODELS / "regression_1d.bnn").bind(MODELS / "regression_1d.json")
    idata = post.svi(steps=300, draws=80, seed=9, decay="cosine", batch_size=20)
    cli("svi", MODELS / "regression_1d.bnn", "--steps", 300, "--draws", 80, "--seed", 9,
        "--decay", "cosine", "--batch-size", 20, "--output", tmp_path, "--quiet")  # fmt: skip
    # The CLI writes SVI's sampler columns as zeros; Python keeps only lp.
    assert list(idata.sample_stats.data_vars) == ["lp"]
    assert_same_draws(idata, [tmp_path / "chain_1.csv"], stats=False)
    np.testing.assert_array_equal(
        idata.sample_stats["lp"].values[0], read_cmdstan_csv(tmp_path / "chain_1.csv")["lp__"]
    )
    elbo = np.loadtxt(tmp_path / "elbo.csv", delimiter=",", skiprows=1)
    np.testing.assert_array_equal(idata.fit["elbo"].values, elbo[:, 1])
    np.testing.assert_array_equal(idata.fit["elbo_smoothed"].values, elbo[:, 2])
    guide = json.loads((tmp_path / "guide.json").read_text())
    np.testing.assert_array_equal(idata.fit["guide_loc"].values, guide["loc"])
    assert idata.fit.attrs["guide"] == guide["guide"]


def test_without_arviz_the_same_arrays_come_as_a_dict():
    post = bnnppl.Model.from_file(MODELS / "eight_schools.bnn").bind(MODELS / "eight_schools.json")
    idata = post.sample(chains=2, warmup=100, draws=50, seed=2)
    plain = post.sample(chains=2, warmup=100, draws=50, seed=2, return_inferencedata=False)
    assert set(plain) == {"posterior", "sample_stats", "attrs"}
    assert plain["posterior"]["theta"].shape == (2, 50, 8)
    for name, arr in plain["posterior"].items():
        np.testing.assert_array_equal(arr, idata.posterior[name].values)
    for name, arr in plain["sample_stats"].items():
        np.testing.assert_array_equal(arr, idata.sample_stats[name].values)
    assert plain["sample_stats"]["diverging"].dtype == np.bool_
    assert plain["sample_stats"]["tree_depth"].dtype == np.int64
    assert plain["attrs"]["engine"] == "nuts"


@pytest.mark.parametrize("init", [0, {"mu": 1.0, "tau": 2.0, "theta_raw": [0.1] * 8}])
def test_initial_values_start_the_chains_where_the_clis_do(cli, tmp_path, init):
    # --init 0 and --init FILE.json (constrained values by name) against init=0 and a dict.
    post = bnnppl.Model.from_file(MODELS / "eight_schools.bnn").bind(MODELS / "eight_schools.json")
    idata = post.sample(chains=2, warmup=50, draws=30, seed=3, init=init)
    arg = "0"
    if isinstance(init, dict):
        arg = tmp_path / "init.json"
        arg.write_text(json.dumps(init))
    out = tmp_path / "out"
    cli("sample", MODELS / "eight_schools.bnn", "--chains", 2, "--warmup", 50, "--draws", 30,
        "--seed", 3, "--init", arg, "--output", out, "--quiet")  # fmt: skip
    assert_same_draws(idata, [out / "chain_1.csv", out / "chain_2.csv"])


def test_a_map_start_for_svi_is_the_clis(cli, tmp_path):
    post = bnnppl.Model.from_file(MODELS / "eight_schools.bnn").bind(MODELS / "eight_schools.json")
    idata = post.svi(steps=200, draws=30, seed=8, init="map")
    cli("svi", MODELS / "eight_schools.bnn", "--steps", 200, "--draws", 30, "--seed", 8,
        "--init", "map", "--output", tmp_path, "--quiet")  # fmt: skip
    assert_same_draws(idata, [tmp_path / "chain_1.csv"], stats=False)


@pytest.mark.parametrize("init", ["auto", "random", "laplace"])
def test_a_full_rank_guide_starts_where_the_clis_does(cli, tmp_path, init):
    # "auto" is the default of both: a mean-field fit, then the better of it and the Laplace
    # start; "random" and "laplace" start the full-rank guide there directly.
    post = bnnppl.Model.from_file(MODELS / "eight_schools.bnn").bind(MODELS / "eight_schools.json")
    kwargs = {} if init == "auto" else {"init": init}
    idata = post.svi(guide="full-rank", steps=150, draws=20, seed=4, **kwargs)
    flags = [] if init == "auto" else ["--init", init]
    cli("svi", MODELS / "eight_schools.bnn", "--guide", "full-rank", "--steps", 150,
        "--draws", 20, "--seed", 4, *flags, "--output", tmp_path, "--quiet")  # fmt: skip
    assert_same_draws(idata, [tmp_path / "chain_1.csv"], stats=False)


# 9 → 110 tanh → 8 tanh → 1 on 2,600 rows: large enough that a chain's gradient is split over
# threads (tests/threads_per_chain.rs uses the same shape).
WIDE = """
data { x: matrix[N, D]  y: vector[N] }
network f { dense(110, tanh) dense(8, tanh) dense(1) }
param { sigma: real<lower=0> }
prior { f.weight ~ normal(0, 1)  f.bias ~ normal(0, 1)  sigma ~ normal(0, 1) }
likelihood { y ~ normal(f(x), sigma) }
"""


def test_threads_per_chain_gives_the_same_draws_and_zero_is_refused():
    rng = np.random.default_rng(15)
    x = rng.uniform(-2.0, 2.0, size=(2600, 9))
    y = np.sin(x[:, 0]) + 0.3 * x[:, 1] + rng.uniform(-0.1, 0.1, size=2600)
    post = bnnppl.Model.from_string(WIDE, name="wide.bnn").bind({"x": x, "y": y})
    runs = [
        post.sample(chains=1, warmup=20, draws=10, seed=3, max_depth=3, threads_per_chain=t,
                    return_inferencedata=False)
        for t in (1, 2)
    ]  # fmt: skip
    for key in ("f.0.weight", "sigma"):
        np.testing.assert_array_equal(runs[0]["posterior"][key], runs[1]["posterior"][key])
    with pytest.raises(ValueError, match="threads_per_chain must be at least 1"):
        post.sample(chains=1, warmup=2, draws=2, threads_per_chain=0)
    with pytest.raises(ValueError, match="threads_per_chain must be at least 1"):
        post.fit("map", steps=2, threads_per_chain=0)
