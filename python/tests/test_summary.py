"""ArviZ's summary of Python's draws agrees with the table `bnnppl summary` prints for the
CLI's run with the same seed: means, standard deviations, MCSE, quantiles, bulk and tail ESS
and R-hat, each to the precision printed (issue 17)."""

from __future__ import annotations

import arviz as az
import numpy as np

import bnnppl

from conftest import MODELS


def _printed_table(text: str) -> dict[str, dict[str, str]]:
    """The rows of the printed summary table, by name, as printed."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["name", "mean"])
    header = lines[start].split()
    rows = {}
    for line in lines[start + 1 :]:
        cells = line.split()
        if len(cells) != len(header):
            break
        rows[cells[0]] = dict(zip(header[1:], cells[1:], strict=True))
    return rows


def _half_unit(printed: str) -> float:
    """Half a unit in the last printed digit: '0.0596' → 5e-5, '1486' → 0.5, '4.36' → 5e-3."""
    mantissa = printed.lower().split("e")[0]
    exponent = int(printed.lower().split("e")[1]) if "e" in printed.lower() else 0
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return 0.5 * 10.0 ** (exponent - decimals)


def test_arviz_summary_agrees_with_bnnppl_summary(cli, tmp_path):
    post = bnnppl.Model.from_file(MODELS / "eight_schools.bnn").bind(MODELS / "eight_schools.json")
    idata = post.sample(seed=21)  # 4 chains, 1000 warmup, 1000 draws, as the CLI's defaults
    cli("sample", MODELS / "eight_schools.bnn", "--seed", 21, "--output", tmp_path, "--quiet")
    printed = _printed_table(cli("summary", tmp_path).stdout)

    ours = az.summary(idata, kind="all", round_to="none")
    ours_lp = az.summary(idata, group="sample_stats", var_names=["lp"], kind="all",
                         round_to="none")  # fmt: skip
    checked = 0
    for name, row in printed.items():
        if name == "lp__":
            label, source, values = "lp", ours_lp, idata.sample_stats["lp"].values
        else:
            var, *index = name.split(".")
            label = var + (f"[{', '.join(str(int(i) - 1) for i in index)}]" if index else "")
            source = ours
            values = idata.posterior[var].values[
                (slice(None), slice(None), *[int(i) - 1 for i in index])
            ]
        expected = {
            "mean": source.loc[label, "mean"],
            "sd": source.loc[label, "sd"],
            "mcse_mean": source.loc[label, "mcse_mean"],
            "ess_bulk": source.loc[label, "ess_bulk"],
            "ess_tail": source.loc[label, "ess_tail"],
            "rhat": source.loc[label, "r_hat"],
            # Type-7 quantiles of all draws, as NumPy's default.
            "q5": np.quantile(values, 0.05),
            "q50": np.quantile(values, 0.5),
            "q95": np.quantile(values, 0.95),
        }
        for column, value in expected.items():
            shown = row[column]
            tolerance = _half_unit(shown) * (1 + 1e-9)
            assert abs(float(shown) - value) <= tolerance, (
                f"{name} {column}: bnnppl summary prints {shown}, ArviZ gives {value!r}"
            )
            checked += 1
    # lp__, mu, tau, theta_raw.1–8, theta.1–8 and y_rep.1–8: every printed row was compared.
    assert len(printed) == 1 + 2 + 3 * 8
    assert checked == len(printed) * 9
