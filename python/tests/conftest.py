"""Shared helpers of the Python package's tests: the repository, the CLI binary the Python
results are compared with, and CmdStan CSV read back exactly."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"

#: CmdStan's sampler columns and the names ArviZ gives them.
STAT_NAMES = {
    "lp__": "lp",
    "accept_stat__": "acceptance_rate",
    "stepsize__": "step_size",
    "treedepth__": "tree_depth",
    "n_leapfrog__": "n_steps",
    "divergent__": "diverging",
    "energy__": "energy",
}


@pytest.fixture(scope="session")
def cli():
    """Runs the CLI (``BNNPPL_CLI``, else ``target/release/bnnppl``, built first) from the
    repository root and returns the completed process."""
    exe = os.environ.get("BNNPPL_CLI")
    if not exe:
        subprocess.run(
            ["cargo", "build", "--release", "--quiet", "--bin", "bnnppl"], cwd=ROOT, check=True
        )
        exe = str(ROOT / "target" / "release" / "bnnppl")

    def run(*args: object, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([exe, *map(str, args)], cwd=ROOT, capture_output=True, text=True)
        if ok and done.returncode != 0:
            raise AssertionError(f"bnnppl {args} exited {done.returncode}:\n{done.stderr}")
        return done

    return run


def read_cmdstan_csv(path: Path) -> dict[str, np.ndarray]:
    """A chain file's columns; the CLI prints each double in shortest round-trip form, so
    ``float`` reads back exactly the value it wrote."""
    lines = [
        line.strip()
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    header = lines[0].split(",")
    values = np.array([[float(x) for x in line.split(",")] for line in lines[1:]])
    values = values.reshape(len(lines) - 1, len(header))
    return {name: values[:, j] for j, name in enumerate(header)}


def cmdstan_view(result) -> dict[str, np.ndarray]:
    """A Python result's draws under the chain files' column names, each (chain, draw):
    ``theta.3`` is ``posterior["theta"][:, :, 2]``, ``w.2.1`` is ``[:, :, 1, 0]``."""
    if isinstance(result, dict):
        post, stats = result["posterior"], result["sample_stats"]
        names = list(post)
        get = post.__getitem__
        stat = stats.__getitem__
        stat_names = set(stats)
    else:
        post, stats = result.posterior, result.sample_stats
        names = list(post.data_vars)
        get = lambda n: post[n].values  # noqa: E731
        stat = lambda n: stats[n].values  # noqa: E731
        stat_names = set(stats.data_vars)
    out = {}
    for name in names:
        arr = np.asarray(get(name))
        for idx in np.ndindex(*arr.shape[2:]):
            column = name + "".join(f".{i + 1}" for i in idx)
            out[column] = arr[(slice(None), slice(None)) + idx]
    for column, name in STAT_NAMES.items():
        if name in stat_names:
            out[column] = np.asarray(stat(name), dtype=np.float64)
    return out


def assert_same_draws(result, chain_files: list[Path], stats: bool = True) -> None:
    """Every column of every chain file equals the Python result's, value for value."""
    ours = cmdstan_view(result)
    for c, path in enumerate(chain_files):
        theirs = read_cmdstan_csv(path)
        expected = set(theirs) if stats else set(theirs) - set(STAT_NAMES)
        assert expected <= set(ours), sorted(expected - set(ours))
        assert set(ours) - set(STAT_NAMES) == set(theirs) - set(STAT_NAMES)
        for column in sorted(expected):
            got = ours[column][c]
            want = theirs[column]
            assert got.shape == want.shape, (column, got.shape, want.shape)
            mismatch = np.flatnonzero(~((got == want) | (np.isnan(got) & np.isnan(want))))
            assert mismatch.size == 0, (
                f"chain {c + 1}, {column}: draw {mismatch[0]} is {got[mismatch[0]]!r} from "
                f"Python, {want[mismatch[0]]!r} in {path.name}"
            )
