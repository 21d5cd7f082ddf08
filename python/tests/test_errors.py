"""Errors raise a bnnppl exception whose message is the located diagnostic the CLI prints:
a model error and a data error each carry file:line:column (issue 17)."""

from __future__ import annotations

import json
import re
import warnings

import pytest

import bnnppl

from conftest import MODELS

BAD_MODEL = """data { y: vector[N] }
param { mu: real }
prior { mu ~ normal(0, 1) }
likelihood { y ~ normal(mu, sigma) }
"""


def test_a_model_error_raises_the_clis_located_diagnostic(cli, tmp_path):
    path = tmp_path / "bad.bnn"
    path.write_text(BAD_MODEL)
    with pytest.raises(bnnppl.ModelError) as raised:
        bnnppl.Model.from_file(path)
    message = str(raised.value)
    assert f"--> {path}:4:29" in message
    assert "error: 'sigma' is not defined" in message
    checked = cli("check", path, ok=False)
    assert checked.returncode == 65
    assert message.rstrip("\n") == checked.stderr.rstrip("\n")


def test_a_model_given_as_text_is_located_under_its_name():
    with pytest.raises(bnnppl.ModelError, match=r"--> mine\.bnn:4:29") as raised:
        bnnppl.Model.from_string(BAD_MODEL, name="mine.bnn")
    assert isinstance(raised.value, bnnppl.BnnpplError)


def test_a_data_error_raises_the_clis_located_diagnostic(cli, tmp_path):
    data = json.loads((MODELS / "eight_schools.json").read_text())
    data["y"] = data["y"][:7]
    model = bnnppl.Model.from_file(MODELS / "eight_schools.bnn")
    with pytest.raises(bnnppl.DataError) as raised:
        model.bind(data)
    message = str(raised.value)
    assert "error: data field 'y': its length is 7, but J is 8 (the value of 'J')" in message
    assert "--> " + str(MODELS / "eight_schools.bnn") + ":12:3" in message
    # The CLI prints the same diagnostics after a line naming the data file.
    path = tmp_path / "short.json"
    path.write_text(json.dumps(data))
    checked = cli("check", MODELS / "eight_schools.bnn", "--data", path, ok=False)
    assert checked.returncode == 65
    assert checked.stderr.rstrip("\n").endswith(message.rstrip("\n"))


def test_a_value_that_is_not_finite_is_named_by_field_and_index():
    data = json.loads((MODELS / "eight_schools.json").read_text())
    data["y"][3] = float("nan")
    model = bnnppl.Model.from_file(MODELS / "eight_schools.bnn")
    with pytest.raises(bnnppl.DataError, match=r"data field 'y'.*index 3") as raised:
        model.bind(data)
    assert re.search(r"eight_schools\.bnn:\d+:\d+", str(raised.value))


def test_a_field_the_model_does_not_declare_is_a_warning():
    data = json.loads((MODELS / "eight_schools.json").read_text())
    data["unused"] = [1, 2]
    model = bnnppl.Model.from_file(MODELS / "eight_schools.bnn")
    with pytest.warns(bnnppl.DataWarning, match="unused"):
        model.bind(data)


def test_other_mistakes_raise_what_python_users_expect(tmp_path):
    with pytest.raises(FileNotFoundError, match="no-such.bnn"):
        bnnppl.Model.from_file(tmp_path / "no-such.bnn")
    model = bnnppl.Model.from_file(MODELS / "eight_schools.bnn")
    with pytest.raises(TypeError, match="data must be"):
        model.bind(42)
    post = model.bind(MODELS / "eight_schools.json")
    with pytest.raises(ValueError, match="engine must be"):
        post.sample(engine="gibbs")
    with pytest.raises(bnnppl.EngineError, match=r"target_accept must be in \(0, 1\), got 1.5"):
        post.sample(chains=1, warmup=10, draws=10, target_accept=1.5)
    with pytest.raises(ValueError, match="init has no value for parameter 'tau'"):
        post.sample(chains=1, warmup=10, draws=10, init={"mu": 0.0, "theta_raw": [0.0] * 8})
    with pytest.raises(ValueError, match="guide: expected mean-field"):
        post.svi(guide="diagonal", steps=10, draws=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bnnppl.Model.from_file(MODELS / "eight_schools.bnn").bind(MODELS / "eight_schools.json")
