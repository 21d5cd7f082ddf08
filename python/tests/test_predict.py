"""Predictions from Python equal `bnnppl predict` on the CLI's run with the same seed: the
per-row summary and the aleatoric/epistemic split for a regression, class probabilities and
the entropy split for a classifier (issue 17)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

import bnnppl

from conftest import MODELS

SETTINGS = dict(chains=2, warmup=60, draws=40, seed=4)


@pytest.fixture(scope="module")
def regression(cli, tmp_path_factory):
    """regression_1d sampled from Python and by the CLI with the same settings and seed."""
    out = tmp_path_factory.mktemp("regression_1d")
    post = bnnppl.Model.from_file(MODELS / "regression_1d.bnn").bind(MODELS / "regression_1d.json")
    idata = post.sample(**SETTINGS)
    cli("sample", MODELS / "regression_1d.bnn", "--chains", 2, "--warmup", 60, "--draws", 40,
        "--seed", 4, "--output", out, "--quiet")  # fmt: skip
    return post, idata, out


def _cli_predictions(cli, model, draws, out, data=None) -> dict[str, np.ndarray]:
    args = ["predict", MODELS / model, "--draws", draws, "--output", out]
    if data is not None:
        args += ["--data", data]
    cli(*args)
    table = np.genfromtxt(out, delimiter=",", names=True)
    return {name: table[name] for name in table.dtype.names}


def test_a_regressions_predictions_at_new_inputs_equal_the_clis(cli, regression, tmp_path):
    post, idata, draws = regression
    grid = np.linspace(-6, 6, 25)
    path = tmp_path / "grid.json"
    path.write_text(json.dumps({"x": [[float(v)] for v in grid]}))
    pred = post.predict(idata, {"x": grid[:, None]}, as_dataset=False)
    theirs = _cli_predictions(cli, "regression_1d.bnn", draws, tmp_path / "grid.csv", path)
    levels = list(pred["quantile_levels"])
    for ours, column in [
        (pred["mean"], "mean"),
        (pred["sd"], "sd"),
        (pred["quantiles"][:, levels.index(0.05)], "q5"),
        (pred["quantiles"][:, levels.index(0.5)], "q50"),
        (pred["quantiles"][:, levels.index(0.95)], "q95"),
        (pred["aleatoric"], "aleatoric_var"),
        (pred["epistemic"], "epistemic_var"),
        (pred["total"], "total_var"),
    ]:
        np.testing.assert_array_equal(ours, theirs[column], err_msg=column)
    # The law of total variance, as the CLI splits it: total = aleatoric + epistemic.
    np.testing.assert_array_equal(pred["total"], pred["aleatoric"] + pred["epistemic"])
    assert "lpd" not in pred and "y" not in pred


def test_predictions_at_the_training_data_carry_the_lpd(cli, regression, tmp_path):
    post, idata, draws = regression
    pred = post.predict(idata)
    assert isinstance(pred, xr.Dataset)
    assert pred.attrs["family"] == "normal"
    assert pred["quantiles"].dims == ("row", "quantile")
    theirs = _cli_predictions(cli, "regression_1d.bnn", draws, tmp_path / "train.csv")
    np.testing.assert_array_equal(pred["y"].values, theirs["y"])
    np.testing.assert_array_equal(pred["lpd"].values, theirs["lpd"])
    np.testing.assert_array_equal(pred["mean"].values, theirs["mean"])
    # The same draws handed over as a plain dict of arrays give the same predictions.
    plain = {name: idata.posterior[name].values for name in post.params}
    again = post.predict(plain, as_dataset=False)
    np.testing.assert_array_equal(again["lpd"], pred["lpd"].values)


def test_a_classifiers_probabilities_and_entropy_split_equal_the_clis(cli, tmp_path):
    post = bnnppl.Model.from_file(MODELS / "classifier.bnn").bind(MODELS / "classifier.json")
    fit = post.svi(steps=400, draws=60, seed=2, lr=0.05)
    cli("svi", MODELS / "classifier.bnn", "--steps", 400, "--draws", 60, "--seed", 2,
        "--lr", 0.05, "--output", tmp_path / "run", "--quiet")  # fmt: skip
    pred = post.predict(fit, as_dataset=False)
    assert pred["family"] == "categorical_logit"
    assert pred["probs"].shape == (180, 3)
    theirs = _cli_predictions(cli, "classifier.bnn", tmp_path / "run", tmp_path / "p.csv")
    for k in range(3):
        np.testing.assert_array_equal(pred["probs"][:, k], theirs[f"p{k}"])
    for name in ("entropy", "expected_entropy", "mutual_info", "lpd"):
        np.testing.assert_array_equal(pred[name], theirs[name], err_msg=name)
    # H[p̄] = E[H[p_s]] (aleatoric) + I[y; θ] (epistemic), up to rounding.
    np.testing.assert_allclose(
        pred["entropy"], pred["expected_entropy"] + pred["mutual_info"], rtol=1e-12, atol=1e-15
    )


def test_draws_without_a_parameter_cannot_predict(regression):
    post, idata, _ = regression
    plain = {name: idata.posterior[name].values for name in post.params if name != "sigma"}
    with pytest.raises(bnnppl.PredictError, match="no variable 'sigma'"):
        post.predict(plain)
    short = {name: idata.posterior[name].values for name in post.params}
    short["f.0.bias"] = short["f.0.bias"][..., :10]
    with pytest.raises(bnnppl.PredictError, match=r"'f.0.bias' have shape \(2, 40, 10\)"):
        post.predict(short)
