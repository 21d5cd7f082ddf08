"""Data from Python binds as the files do: a pandas DataFrame in the CSV layout like the CSV
file, a dict of arrays like the JSON file (issue 17)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import bnnppl

from conftest import MODELS


def _classifier_table() -> tuple[dict, pd.DataFrame]:
    data = json.loads((MODELS / "classifier.json").read_text())
    x = np.asarray(data["x"], dtype=np.float64)
    frame = pd.DataFrame(
        {"x.0": x[:, 0], "x.1": x[:, 1], "y": np.asarray(data["y"]), "K": data["K"]}
    )
    return data, frame


def _same_posterior(a: bnnppl.Posterior, b: bnnppl.Posterior) -> None:
    assert a.sizes == b.sizes
    assert a.data.keys() == b.data.keys()
    for name, values in a.data.items():
        assert values.dtype == b.data[name].dtype, name
        np.testing.assert_array_equal(values, b.data[name], err_msg=name)
    rng = np.random.default_rng(17)
    for _ in range(3):
        theta = rng.uniform(-2, 2, a.dim)
        lp_a, grad_a = a.log_density_grad(theta)
        lp_b, grad_b = b.log_density_grad(theta)
        assert lp_a == lp_b
        np.testing.assert_array_equal(grad_a, grad_b)


def test_a_dataframe_binds_like_the_csv_file(tmp_path):
    # The CSV layout: matrix x is columns x.0, x.1; the int vector y is column y; the scalar
    # K is a column holding the same value in every row. Python's repr is the shortest form
    # that reads back as the same double, so the file holds exactly the frame's values.
    data, frame = _classifier_table()
    path = tmp_path / "classifier.csv"
    lines = ["x.0,x.1,y,K"]
    for (x0, x1), y in zip(data["x"], data["y"], strict=True):
        lines.append(f"{float(x0)!r},{float(x1)!r},{y},{data['K']}")
    path.write_text("\n".join(lines) + "\n")
    model = bnnppl.Model.from_file(MODELS / "classifier.bnn")
    from_file = model.bind(path)
    from_frame = model.bind(frame)
    _same_posterior(from_frame, from_file)
    assert from_frame.sizes == {"D": 2, "K": 3, "N": 180}
    assert from_frame.data["y"].dtype == np.int64
    assert from_frame.data["x"].shape == (180, 2)


def test_a_dict_of_arrays_binds_like_the_json_file():
    data, _ = _classifier_table()
    arrays = {"x": np.asarray(data["x"]), "y": np.asarray(data["y"], dtype=np.int32), "K": 3}
    model = bnnppl.Model.from_file(MODELS / "classifier.bnn")
    _same_posterior(model.bind(arrays), model.bind(MODELS / "classifier.json"))


def test_a_dataframe_without_a_field_is_a_located_data_error():
    _, frame = _classifier_table()
    model = bnnppl.Model.from_file(MODELS / "classifier.bnn")
    with pytest.raises(bnnppl.DataError, match=r"'y'(.|\n)*classifier\.bnn:\d+:\d+"):
        model.bind(frame.drop(columns=["y"]))
