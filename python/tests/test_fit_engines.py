"""Python's ``fit(method=...)`` and the SG-MCMC engines of ``sample`` give the CLI's draws for
the same settings and seed, value for value, and the fit summary the CLI writes (its trace
files and ``fit.json``, ``swag.json``, ``laplace.json``); bad settings raise naming the
setting (issue 17)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import bnnppl

from conftest import MODELS, assert_same_draws, read_cmdstan_csv

REGRESSION = MODELS / "regression_1d.bnn"


@pytest.fixture(scope="module")
def regression():
    return bnnppl.Model.from_file(REGRESSION).bind(MODELS / "regression_1d.json")


def flags(settings: dict) -> list[str]:
    """Python keywords as the CLI's flags: ``swag_lr=0.01`` is ``--swag-lr 0.01``,
    ``noise_estimate=True`` is ``--noise-estimate``."""
    out: list[str] = []
    for name, value in settings.items():
        out.append("--" + name.replace("_", "-"))
        if value is not True:
            out.append(str(value))
    return out


def assert_same_lp(result, chain_files) -> None:
    """lp__, the one statistic a fitting or SG-MCMC engine keeps, equals the chain files'."""
    for c, path in enumerate(chain_files):
        np.testing.assert_array_equal(
            result.sample_stats["lp"].values[c], read_cmdstan_csv(path)["lp__"]
        )


def trace_file(path) -> tuple[np.ndarray, np.ndarray]:
    """A trace CSV's objective and smoothed columns."""
    rows = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return rows[:, 1], rows[:, 2]


# Each method with small settings; the ensembles and MultiSWAG with two members.
FITS = {
    "map": {"steps": 150, "batch_size": 20},
    "ensemble": {"steps": 80, "members": 2, "decay": "cosine"},
    "anchored-ensemble": {"steps": 80, "members": 2},
    "swag": {"steps": 100, "batch_size": 20, "swag_steps": 60, "swag_rank": 5, "draws": 30},
    "multiswag": {"steps": 60, "batch_size": 20, "members": 2, "swag_steps": 40,
                  "swag_schedule": "cyclical:4", "swag_rank": 3, "draws": 10},
    "svgd": {"steps": 100, "batch_size": 20, "svgd_particles": 6, "clip": 50.0},
    "laplace": {"steps": 100, "hessian": "diag", "draws": 25, "optimizer": "lbfgs"},
}  # fmt: skip

#: The file of the method's summary in the CLI's directory.
SUMMARY_FILE = {"swag": "swag.json", "multiswag": "swag.json", "laplace": "laplace.json"}

#: The methods whose summary is `fit.json`'s of MAP fits.
MAP_FITS = ("map", "ensemble", "anchored-ensemble")

#: The summary's names in the fit group, where they differ from `fit.json`'s.
RENAMED = {"log_density": "map_log_density", "grad_norm": "map_grad_norm",
           "steps": "map_steps", "converged": "map_converged"}  # fmt: skip


@pytest.mark.parametrize("method", list(FITS))
def test_fit_draws_and_summary_equal_the_clis_for_the_same_seed(cli, tmp_path, regression, method):
    settings = {**FITS[method], "seed": 7}
    idata = regression.fit(method, **settings, progress=False)
    cli("fit", REGRESSION, "--method", method, *flags(settings), "--output", tmp_path, "--quiet")
    members = settings.get("members", 1)
    chains = [tmp_path / f"chain_{k}.csv" for k in range(1, members + 1)]
    assert_same_draws(idata, chains, stats=False)
    assert_same_lp(idata, chains)
    fit = idata.fit
    by_member = "member" in fit.dims
    assert by_member == (method in ("ensemble", "anchored-ensemble", "multiswag"))

    # The trace: log_density.csv, or log_density_K.csv per member.
    for k in range(members):
        name = f"log_density_{k + 1}.csv" if by_member else "log_density.csv"
        value, smoothed = trace_file(tmp_path / name)
        ours = fit.isel(member=k) if by_member else fit
        n = len(value)
        np.testing.assert_array_equal(ours["log_density"].values[:n], value)
        np.testing.assert_array_equal(ours["log_density_smoothed"].values[:n], smoothed)
        assert np.isnan(ours["log_density"].values[n:]).all()

    # How each fit ended, as the JSON file says it.
    summary = json.loads((tmp_path / SUMMARY_FILE.get(method, "fit.json")).read_text())
    for k, entry in enumerate(summary["fits"]):
        for key, want in entry.items():
            if key in ("member", "particles", "coordinates", "mean_sd", "swa_distance_from_map"):
                continue
            name = RENAMED.get(key, key) if method in MAP_FITS else key
            if method == "laplace" and key == "log_marginal_likelihood":
                assert fit.attrs[key] == want
                continue
            got = fit[name].values[k] if by_member else fit.attrs[name]
            assert got == want, (key, got, want)


def test_a_laplace_fit_carries_its_gaussian(cli, tmp_path, regression):
    # Last layer, Gauss-Newton: a dense precision over the output layer's 51 coordinates.
    settings = {"steps": 60, "hessian": "last-layer:ggn", "draws": 20, "seed": 3}
    idata = regression.fit("laplace", **settings, progress=False)
    cli("fit", REGRESSION, "--method", "laplace", *flags(settings), "--output", tmp_path,
        "--quiet")  # fmt: skip
    assert_same_draws(idata, [tmp_path / "chain_1.csv"], stats=False)
    summary = json.loads((tmp_path / "laplace.json").read_text())["fits"][0]
    fit = idata.fit
    assert fit.attrs["log_marginal_likelihood"] == summary["log_marginal_likelihood"]
    assert fit.attrs["log_det_precision"] == summary["log_det_precision"]
    k = summary["coordinates"]
    assert fit["coordinates"].shape == (k,) and fit["covariance"].shape == (k, k)
    cov = fit["covariance"].values
    np.testing.assert_allclose(cov, cov.T, rtol=1e-9, atol=1e-15)
    np.testing.assert_array_equal(np.diag(cov), fit["variance"].values)
    assert np.linalg.eigvalsh(cov).min() > 0
    # Outside the covered coordinates every draw sits at the mode.
    sigma = idata.posterior["sigma"].values
    assert (sigma == sigma[0, 0]).all()
    plain = regression.fit("laplace", **settings, progress=False, return_inferencedata=False)
    np.testing.assert_array_equal(plain["fit"]["covariance"], cov)
    assert plain["fit"]["map_theta"].shape == (regression.dim,)


def test_mc_dropout_draws_and_its_objective_equal_the_clis(cli, tmp_path):
    model = MODELS / "uci_dropout.bnn"
    post = bnnppl.Model.from_file(model).bind(MODELS / "uci_dropout.json")
    settings = {"steps": 60, "batch_size": 32, "draws": 15, "seed": 2}
    idata = post.fit("mc-dropout", **settings, progress=False)
    cli("fit", model, "--method", "mc-dropout", *flags(settings), "--output", tmp_path, "--quiet")
    assert_same_draws(idata, [tmp_path / "chain_1.csv"], stats=False)
    assert_same_lp(idata, [tmp_path / "chain_1.csv"])
    value, smoothed = trace_file(tmp_path / "dropout_objective.csv")
    np.testing.assert_array_equal(idata.fit["dropout_objective"].values, value)
    np.testing.assert_array_equal(idata.fit["dropout_objective_smoothed"].values, smoothed)
    entry = json.loads((tmp_path / "fit.json").read_text())["fits"][0]
    assert idata.fit.attrs["map_log_density"] == entry["log_density"]
    assert idata.fit.attrs["gradients"] == entry["gradients"]


SG = {
    "sgld": {"step_size": 1e-4, "batch_size": 20},
    "psgld": {"step_size": 1e-3, "batch_size": 20, "thin": 2, "burn_in": 40},
    "sghmc": {"step_size": 1e-4, "batch_size": 20, "friction": 0.2, "noise_estimate": True,
              "schedule": "cyclical:2", "exploration": 0.3},
}  # fmt: skip


@pytest.mark.parametrize("engine", list(SG))
def test_sgmcmc_draws_equal_the_clis_for_the_same_seed(cli, tmp_path, regression, engine):
    settings = SG[engine]
    idata = regression.sample(chains=2, warmup=60, draws=40, seed=5, engine=engine,
                              **settings, progress=False)  # fmt: skip
    cli("sample", REGRESSION, "--engine", engine, "--chains", 2, "--warmup", 60, "--draws", 40,
        "--seed", 5, *flags(settings), "--output", tmp_path, "--quiet")  # fmt: skip
    chains = [tmp_path / "chain_1.csv", tmp_path / "chain_2.csv"]
    assert list(idata.sample_stats.data_vars) == ["lp"]
    assert_same_draws(idata, chains, stats=False)
    assert_same_lp(idata, chains)
    assert idata.posterior.attrs["engine"] == engine


def test_bad_fit_settings_raise_naming_the_setting(regression):
    fit = regression.fit
    svi = r"method must be 'map', .* \(or use \.svi\(\)\), got 'svi'"
    with pytest.raises(ValueError, match=svi):
        fit("svi")
    with pytest.raises(ValueError, match="optimizer: expected adam, lbfgs, or lbfgs:M"):
        fit("map", optimizer="sgd")
    with pytest.raises(ValueError, match="decay: expected none, cosine, or exp:RATE"):
        fit("svgd", decay="linear")
    with pytest.raises(ValueError, match="swag_schedule: expected constant, or cyclical:M"):
        fit("swag", swag_schedule="cyclical")
    with pytest.raises(ValueError, match="hessian: expected full, diag or last-layer"):
        fit("laplace", hessian="block")
    with pytest.raises(ValueError, match="members must be at least 1"):
        fit("ensemble", members=0)
    with pytest.raises(bnnppl.EngineError, match="the learning rate must be positive, got -1"):
        fit("map", lr=-1.0)
    with pytest.raises(bnnppl.EngineError, match="SWAG needs a rank K of at least 2"):
        fit("swag", swag_rank=1, batch_size=20)
    with pytest.raises(ValueError, match=r"regression_1d\.bnn has no dropout layer"):
        fit("mc-dropout")
    schools = bnnppl.Model.from_file(MODELS / "eight_schools.bnn").bind(
        MODELS / "eight_schools.json"
    )
    with pytest.raises(ValueError, match="no dense layer, so hessian='last-layer'"):
        schools.fit("laplace", hessian="last-layer")


def test_bad_sgmcmc_settings_raise_naming_the_setting(regression):
    sample = regression.sample
    engines = r"engine must be 'nuts', 'hmc', 'sgld', 'psgld' or 'sghmc'"
    with pytest.raises(ValueError, match=engines):
        sample(engine="langevin")
    with pytest.raises(ValueError, match="schedule: expected constant, or cyclical:M"):
        sample(engine="sgld", schedule="cosine")
    with pytest.raises(bnnppl.EngineError, match=r"the friction must be in \(0, 1\], got 2"):
        sample(engine="sghmc", friction=2.0)
    with pytest.raises(bnnppl.EngineError, match="the step size must be positive, got 0"):
        sample(engine="psgld", step_size=0.0)
    with pytest.raises(bnnppl.EngineError, match="thinning keeps every K-th step"):
        sample(engine="sgld", thin=0)


def test_predict_takes_a_fits_draws(regression):
    # An ensemble's members are its chains, one draw each: predict pools all of them.
    idata = regression.fit("ensemble", members=3, steps=40, seed=4, progress=False)
    pred = regression.predict(idata)
    assert pred.attrs["draws"] == 3
    plain = regression.fit("ensemble", members=3, steps=40, seed=4, progress=False,
                           return_inferencedata=False)  # fmt: skip
    np.testing.assert_array_equal(regression.predict(plain)["mean"].values, pred["mean"].values)
    np.testing.assert_array_equal(plain["fit"]["member"], [0, 1, 2])
    assert plain["fit"]["map_steps"].tolist() == [40, 40, 40]


def test_pathfinder_draws_and_paths_equal_the_clis(cli, tmp_path, regression):
    settings = {"paths": 2, "draws": 40, "max_iters": 60, "elbo_draws": 5, "seed": 4}
    idata = regression.fit("pathfinder", **settings, progress=False)
    cli("fit", REGRESSION, "--method", "pathfinder", *flags(settings), "--output", tmp_path,
        "--quiet")  # fmt: skip
    assert_same_draws(idata, [tmp_path / "chain_1.csv"], stats=False)
    assert_same_lp(idata, [tmp_path / "chain_1.csv"])
    summary = json.loads((tmp_path / "pathfinder.json").read_text())["fits"][0]
    fit = idata.fit
    paths = summary["paths"]
    assert fit["path_iterations"].values.tolist() == [p["iterations"] for p in paths]
    assert fit["path_best_iteration"].values.tolist() == [p["best_iteration"] or 0 for p in paths]
    assert fit["path_gradients"].values.tolist() == [p["gradients"] for p in paths]
    np.testing.assert_array_equal(fit["path_elbo"].values, [p["elbo"] for p in paths])
    want_k = summary["pareto_k"]
    got_k = fit.attrs["pareto_k"]
    assert (np.isnan(got_k) and want_k is None) or got_k == want_k
