"""bnnppl from Python: `.bnn` models, data from NumPy and pandas, draws as ArviZ data.

The Rust library does all the work (parsing, checking, binding, the engines, prediction);
this module turns Python data into what the library reads and the library's draws into NumPy
arrays and, when ArviZ is importable, ``arviz.InferenceData``::

    import bnnppl, arviz as az
    model = bnnppl.Model.from_file("models/regression_1d.bnn")
    posterior = model.bind("models/regression_1d.json")   # or a dict, or a DataFrame
    idata = posterior.sample(chains=4, draws=1000, seed=1)
    print(az.summary(idata, var_names=["sigma"]))

Draws for the same settings and seed equal the CLI's chain files (``bnnppl sample``) value for
value. Errors raise :class:`ModelError`, :class:`DataError`, :class:`EngineError` or
:class:`PredictError` (all :class:`BnnpplError`) with the located diagnostic the CLI prints.

Ctrl-C while sampling stops every chain after its current draw and raises ``KeyboardInterrupt``
with the draws made so far attached as its ``draws`` attribute (each chain cut to the shortest
chain's length; ``None`` when no chain had left warmup)::

    try:
        idata = posterior.sample()
    except KeyboardInterrupt as stop:
        idata = stop.draws
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeGuard, Union

import numpy as np

from . import _native
from ._native import (
    BnnpplError,
    DataError,
    EngineError,
    ModelError,
    PredictError,
    __version__,
)

__all__ = [
    "BnnpplError",
    "Data",
    "DataError",
    "DataWarning",
    "Draws",
    "EngineError",
    "Model",
    "ModelError",
    "ModelWarning",
    "Posterior",
    "PredictError",
    "Predictions",
    "Progress",
    "__version__",
]

if TYPE_CHECKING:
    import arviz
    import pandas
    import xarray

#: Data as :meth:`Model.bind` takes it: a path to a JSON or CSV file, a mapping of field names
#: to NumPy arrays, lists or numbers, or a pandas DataFrame in the CSV layout.
Data = Union[str, "os.PathLike[str]", Mapping[str, Any], "pandas.DataFrame"]

#: What :meth:`Posterior.sample`, :meth:`Posterior.svi` and :meth:`Posterior.fit` return.
Draws = Union["arviz.InferenceData", dict[str, Any]]

#: What :meth:`Posterior.predict` returns.
Predictions = Union["xarray.Dataset", dict[str, Any]]

#: ``progress``: ``None`` shows a tqdm bar where a terminal or notebook shows one, ``True``
#: always (when tqdm is installed), ``False`` never; a callable gets
#: ``(done, total, divergences)`` a few times a second.
Progress = bool | None | Callable[[int, int, int], Any]

#: Stan's sampler statistics in the order the engine reports them, with the names ArviZ's
#: ``from_cmdstan`` gives them.
_STATS = ("lp", "acceptance_rate", "step_size", "tree_depth", "n_steps", "diverging", "energy")


class ModelWarning(UserWarning):
    """The model checker warned about something legal but suspicious."""


class DataWarning(UserWarning):
    """Binding the data warned (a field the model does not declare)."""


def _warn(text: str, category: type[Warning]) -> None:
    if text:
        warnings.warn(text.rstrip("\n"), category, stacklevel=3)


def _has_arviz() -> bool:
    try:
        import arviz  # noqa: F401
    except ImportError:
        return False
    return True


def _has_xarray() -> bool:
    try:
        import xarray  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Data in: what the library's JSON and CSV readers read.


def _nonfinite_as_text(x: Any) -> Any:
    """Non-finite floats as the strings CmdStan writes, which the reader reports by element."""
    if isinstance(x, list):
        return [_nonfinite_as_text(y) for y in x]
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if x != x else ("inf" if x > 0 else "-inf")
    return x


def _json_value(value: Any) -> Any:
    """A field's value as JSON-ready Python: numbers, nested lists (a matrix as rows)."""
    try:
        a = np.asarray(value)
    except ValueError:
        # Ragged nesting: the reader says which row is short.
        return value
    if a.dtype.kind in "iu":
        return a.astype(np.int64).tolist()
    if a.dtype.kind == "b":
        return a.astype(np.int64).tolist()
    if a.dtype.kind == "f":
        listed = a.astype(np.float64).tolist()
        return listed if np.isfinite(a).all() else _nonfinite_as_text(listed)
    return value


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    return str(x)


def _data_json(data: Mapping[str, Any]) -> str:
    import json

    fields = {str(k): _json_value(v) for k, v in data.items()}
    return json.dumps(fields, allow_nan=False, default=_json_default)


def _is_dataframe(data: Any) -> bool:
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(data, pandas.DataFrame)


def _data_text(data: Any) -> tuple[str, str]:
    """In-memory data as (text, format) for the library's readers."""
    if _is_dataframe(data):
        # The CSV layout: vector y is column y, matrix x is columns x.0, x.1, ...; floats are
        # written in shortest round-trip form, so the reader gets the same doubles.
        return data.to_csv(index=False), "csv"
    if isinstance(data, Mapping):
        return _data_json(data), "json"
    raise TypeError(
        "data must be a path to a .json or .csv file, a dict of arrays, lists or numbers, "
        f"or a pandas DataFrame; got {type(data).__name__}"
    )


def _is_path(data: Any) -> TypeGuard[str | os.PathLike[str]]:
    return isinstance(data, (str, os.PathLike))


# ---------------------------------------------------------------------------------------------
# Draws out: (chain, draw, ...) arrays, and ArviZ InferenceData.


def _f64(b: bytes) -> np.ndarray:
    return np.frombuffer(b, dtype=np.float64)


def _unstack(block: np.ndarray, dims: list[int]) -> np.ndarray:
    """(chain, draw, columns) in CmdStan's column-major order → (chain, draw, *dims)."""
    chains, draws = block.shape[:2]
    arr = block.reshape((chains, draws) + tuple(reversed(dims)))
    order = (0, 1) + tuple(range(1 + len(dims), 1, -1))
    return np.ascontiguousarray(arr.transpose(order))


def _run_result(
    native: _native.Posterior,
    raw: dict[str, Any],
    seed: int,
    as_idata: bool | None,
    members: bool = False,
) -> Draws:
    """A run's chains as a dict of (chain, draw, ...) arrays or as InferenceData; with
    ``members`` the fit summary has one entry per chain along ``member``."""
    chains = raw["chains"]
    n = min((c["draws"] for c in chains), default=0)
    columns = native.columns()
    width = len(columns)
    values = np.stack([_f64(c["values"]).reshape(c["draws"], width)[:n] for c in chains])
    stats = np.stack([_f64(c["stats"]).reshape(c["draws"], 7)[:n] for c in chains])
    posterior: dict[str, np.ndarray] = {}
    offset = 0
    for name, dims in native.outputs():
        size = int(np.prod(dims, dtype=np.int64))
        posterior[name] = _unstack(values[:, :, offset : offset + size], list(dims))
        offset += size
    sample_stats: dict[str, np.ndarray] = {"lp": np.ascontiguousarray(stats[..., 0])}
    if raw["markov"]:
        for k, name in enumerate(_STATS[1:], start=1):
            sample_stats[name] = np.ascontiguousarray(stats[..., k])
        sample_stats["tree_depth"] = sample_stats["tree_depth"].astype(np.int64)
        sample_stats["n_steps"] = sample_stats["n_steps"].astype(np.int64)
        sample_stats["diverging"] = sample_stats["diverging"] != 0.0
    attrs: dict[str, Any] = {
        "created_by": "bnnppl",
        "bnnppl_version": __version__,
        "model": native.model_name,
        "engine": raw["engine"],
        "seed": seed,
    }
    step_sizes = [c["step_size"] for c in chains if "step_size" in c]
    if raw["markov"] and len(step_sizes) == len(chains):
        attrs["step_size"] = step_sizes
    fits = [f for f in raw["fits"] if f]
    fit = _fit_result(fits, [c["chain"] for c in chains], members) if fits else None

    if as_idata is None:
        as_idata = _has_arviz()
    if not as_idata:
        out: dict[str, Any] = {
            "posterior": posterior,
            "sample_stats": sample_stats,
            "attrs": attrs,
        }
        if fit is not None:
            out["fit"] = {name: v[1] if isinstance(v, tuple) else v for name, v in fit.items()}
        return out

    import arviz as az

    with warnings.catch_warnings():
        # An ensemble has one draw per member (chain): not the mistake ArviZ warns about.
        warnings.filterwarnings("ignore", "More chains", UserWarning)
        idata: arviz.InferenceData = az.from_dict(
            posterior=posterior,
            sample_stats=sample_stats,
            posterior_attrs=attrs,
            sample_stats_attrs=attrs,
        )
    if fit is not None:
        # "fit" is not one of InferenceData's schema groups; that is intended.
        idata.add_groups({"fit": _fit_dataset(fit)}, warn_on_custom_groups=False)
    return idata


def _fit_array(entry: tuple[Any, Any, Any]) -> tuple[tuple[str, ...], np.ndarray]:
    """A native fit array ``(dims, shape, data)`` as (dims, NumPy array)."""
    dims, shape, data = entry
    if isinstance(data, bytes):
        return tuple(dims), _f64(data).reshape(shape).copy()
    return tuple(dims), np.asarray(data, dtype=np.int64).reshape(shape)


def _padded(arrays: list[np.ndarray]) -> np.ndarray:
    """Arrays of one rank stacked along a new first axis, each padded to the largest shape
    (NaN for floats, -1 for ints): members' traces end at different steps."""
    shape = tuple(max(a.shape[k] for a in arrays) for k in range(arrays[0].ndim))
    fill = -1 if arrays[0].dtype.kind == "i" else np.nan
    out = np.full((len(arrays),) + shape, fill, dtype=arrays[0].dtype)
    for m, a in enumerate(arrays):
        out[(m,) + tuple(slice(0, n) for n in a.shape)] = a
    return out


def _fit_result(
    fits: list[dict[str, Any]], chains: list[int], members: bool
) -> dict[str, Any]:
    """The fit summary: each array as ``(dims, array)``, each scalar as itself; with
    ``members``, every entry stacked over the chains along a first dimension ``member``."""
    if not members:
        return {
            name: _fit_array(v) if isinstance(v, tuple) else v for name, v in fits[0].items()
        }
    out: dict[str, Any] = {}
    for name, first in fits[0].items():
        if isinstance(first, tuple):
            parts = [_fit_array(f[name]) for f in fits]
            out[name] = (("member",) + parts[0][0], _padded([a for _, a in parts]))
        else:
            out[name] = (("member",), np.array([f[name] for f in fits]))
    out["member"] = (("member",), np.array(chains, dtype=np.int64))
    return out


def _fit_dataset(fit: dict[str, Any]) -> xarray.Dataset:
    """The fit summary as the InferenceData group ``fit``: arrays as variables (traces over
    ``step``, counted from 1), scalars as attributes."""
    import xarray as xr

    variables = {name: v for name, v in fit.items() if isinstance(v, tuple)}
    coords: dict[str, Any] = {}
    for dims, a in variables.values():
        if "step" in dims:
            coords["step"] = np.arange(1, a.shape[dims.index("step")] + 1)
    if "member" in variables:
        coords["member"] = variables.pop("member")[1]
    attrs = {name: v for name, v in fit.items() if not isinstance(v, tuple)}
    return xr.Dataset(variables, coords=coords, attrs=attrs)


class _Bar:
    """A tqdm bar fed by the run's progress callback, when one is wanted and can be shown."""

    def __init__(self, progress: Progress, desc: str, unit: str = "draw") -> None:
        self.callback: Callable[[int, int, int], Any] | None = None
        self.bar: Any = None
        if callable(progress):
            self.callback = progress
            return
        if progress is False:
            return
        shown = sys.stderr is not None and sys.stderr.isatty()
        if progress is None and not (shown or "ipykernel" in sys.modules):
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        self.bar = tqdm(total=0, desc=desc, unit=unit)
        self.callback = self._update

    def _update(self, done: int, total: int, divergences: int) -> None:
        bar = self.bar
        if bar.total != total:
            bar.total = total
        if divergences:
            bar.set_postfix(divergent=divergences, refresh=False)
        bar.update(done - bar.n)

    def close(self, finished: bool) -> None:
        if self.bar is not None:
            if finished:
                self.bar.update(self.bar.total - self.bar.n)
            self.bar.close()


# ---------------------------------------------------------------------------------------------
# The API.


class Model:
    """A parsed and checked ``.bnn`` model. Make one with :meth:`from_file` or
    :meth:`from_string`; bind data to it with :meth:`bind`."""

    def __init__(self, native: _native.Model) -> None:
        self._native = native
        _warn(native.warnings, ModelWarning)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Model:
        """Reads and checks a ``.bnn`` file; raises :class:`ModelError` with every diagnostic
        (``file:line:column``, the line, a caret and a hint) when it has errors."""
        return cls(_native.Model.from_file(os.fspath(path)))

    @classmethod
    def from_string(cls, text: str, name: str = "<string>") -> Model:
        """Checks a model given as text; ``name`` stands for the file in diagnostics."""
        return cls(_native.Model.from_string(text, name))

    @property
    def name(self) -> str:
        """The name diagnostics show (the path as given, or the name passed with the text)."""
        return self._native.name

    @property
    def source(self) -> str:
        """The model's text."""
        return self._native.source

    @property
    def data_fields(self) -> list[str]:
        """The data block's fields, in declaration order."""
        return self._native.data_fields()

    def bind(self, data: Data) -> Posterior:
        """Binds data and returns the posterior.

        ``data`` is a path to a JSON or CSV file; a dict of field names to NumPy arrays, lists
        or numbers (a matrix as a 2-D array, or a list of rows); or a pandas DataFrame in the
        CSV layout (vector ``y`` is column ``y``, matrix ``x`` is columns ``x.0``, ``x.1``, …).
        Raises :class:`DataError` naming each field and index, located in the data block;
        fields the model does not declare are reported as a :class:`DataWarning`.
        """
        if _is_path(data):
            native = self._native.bind_file(os.fspath(data))
        else:
            native = self._native.bind_text(*_data_text(data))
        _warn(native.warnings, DataWarning)
        return Posterior(self, native)

    def __repr__(self) -> str:
        return f"bnnppl.Model({self.name!r})"


class Posterior:
    """A model bound to data: the log-density over the unconstrained parameters θ, and what
    the engines sample. Made by :meth:`Model.bind`."""

    def __init__(self, model: Model, native: _native.Posterior) -> None:
        self._model = model
        self._native = native

    @property
    def model(self) -> Model:
        """The model."""
        return self._model

    @property
    def dim(self) -> int:
        """Dimension of θ."""
        return self._native.dim

    @property
    def params(self) -> dict[str, tuple[int, ...]]:
        """Each parameter's shape, in θ order."""
        return {name: tuple(dims) for name, dims in self._native.params()}

    @property
    def data(self) -> dict[str, np.ndarray]:
        """The bound data, field by field (int fields as int64)."""
        fields, _ = self._native.data()
        out = {}
        for name, (shape, values, is_int) in fields.items():
            a = _f64(values).reshape(shape)
            out[name] = a.astype(np.int64) if is_int else a.copy()
        return out

    @property
    def sizes(self) -> dict[str, int]:
        """The size bound to each dimension symbol (``N``, ``D``, …)."""
        return dict(self._native.data()[1])

    def log_density(self, theta: Any) -> float:
        """log p(θ) up to a constant, at θ on the unconstrained scale."""
        return self._native.log_density(np.asarray(theta, dtype=np.float64).tolist())

    def log_density_grad(self, theta: Any) -> tuple[float, np.ndarray]:
        """log p(θ) and its gradient with respect to θ."""
        lp, grad = self._native.log_density_grad(np.asarray(theta, dtype=np.float64).tolist())
        return lp, _f64(grad).copy()

    def sample(
        self,
        chains: int = 4,
        draws: int = 1000,
        warmup: int = 1000,
        seed: int = 1,
        engine: str = "nuts",
        *,
        max_depth: int = 10,
        target_accept: float = 0.8,
        mass_matrix: str = "diag",
        steps: int = 16,
        init: Any = None,
        map_steps: int = 300,
        threads: int | None = None,
        threads_per_chain: int | None = None,
        batch_size: int | None = None,
        step_size: float = 1e-4,
        schedule: str = "constant",
        exploration: float = 0.5,
        burn_in: int | None = None,
        thin: int = 1,
        friction: float = 0.1,
        noise_estimate: bool = False,
        progress: Progress = None,
        return_inferencedata: bool | None = None,
    ) -> Draws:
        """Draws from the posterior with NUTS (``engine="nuts"``), static HMC
        (``engine="hmc"``, ``steps`` leapfrog steps per trajectory) or stochastic-gradient
        MCMC on minibatches (``"sgld"``, ``"psgld"``, ``"sghmc"``), as ``bnnppl sample``
        does with the same settings and seed.

        The SG-MCMC engines take ``batch_size`` (rows per minibatch, default all),
        ``step_size`` (SGLD's ε, SGHMC's learning rate η), ``schedule`` (``"constant"`` or
        ``"cyclical:M"``), ``exploration`` (the fraction of each cycle that explores),
        ``burn_in`` (steps before the schedule starts, default ``warmup``), ``thin`` (keep one
        draw every ``thin`` steps), and for SGHMC ``friction`` and ``noise_estimate``; they
        have no Metropolis step, so ``sample_stats`` holds only ``lp``. NUTS and HMC ignore
        them, as the SG-MCMC engines ignore ``max_depth``, ``target_accept``,
        ``mass_matrix`` and ``steps``.

        ``threads``: worker threads for the chains (default one per chain, at most the number
        of cores). ``threads_per_chain``: threads each chain splits its gradient over (a
        large data set's blocks of rows, or a large layer's matrix work); the draws are the
        same bits for any number. Default, as ``bnnppl sample``:
        with 10,000 rows or more, the cores left over when every chain running at once has
        one; otherwise 1.

        ``init``: ``None`` (uniform(−2, 2) on the unconstrained scale), ``0`` (θ = 0),
        ``"map"`` (``map_steps`` Adam steps towards the mode first) or a dict of constrained
        values by parameter name. Returns ``arviz.InferenceData`` (posterior: every parameter
        and predict quantity, shaped (chain, draw, ...); sample_stats: lp, acceptance_rate,
        step_size, tree_depth, n_steps, diverging, energy) when ArviZ is importable and
        ``return_inferencedata`` is not False, else a dict with the same arrays under
        ``"posterior"`` and ``"sample_stats"``.
        """
        init = _init_arg(init)
        sg = {
            "batch_size": batch_size, "step_size": step_size, "schedule": schedule,
            "exploration": exploration, "burn_in": burn_in, "thin": thin, "friction": friction,
            "noise_estimate": noise_estimate,
        }  # fmt: skip
        bar = _Bar(progress, engine)
        return self._run(
            bar, seed, return_inferencedata,
            lambda: self._native.sample(
                engine, chains, warmup, draws, max_depth, target_accept, mass_matrix, steps,
                seed, init, map_steps, threads, threads_per_chain, sg, bar.callback,
            ),
        )  # fmt: skip

    def svi(
        self,
        *,
        guide: str = "mean-field",
        steps: int = 5000,
        lr: float = 0.01,
        particles: int = 1,
        batch_size: int | None = None,
        tol: float = 0.0,
        decay: str | None = None,
        clip: float | None = None,
        init: Any = "auto",
        map_steps: int = 300,
        init_scale: float = 0.1,
        draws: int = 1000,
        seed: int = 1,
        progress: Progress = None,
        return_inferencedata: bool | None = None,
    ) -> Draws:
        """Fits a Gaussian guide by SVI (Bayes by Backprop, minibatches of ``batch_size``
        rows) and draws ``draws`` times from it, as ``bnnppl svi`` does with the same
        settings and seed.

        ``guide``: ``"mean-field"``, ``"low-rank:K"`` or ``"full-rank"``; ``decay``: ``None``,
        ``"cosine"`` or ``"exp:RATE"``; ``init``: ``"auto"`` (mean field: random; full and
        low rank: a mean-field fit, then the better of it and the Laplace start, refined at a
        smaller rate, as ``bnnppl svi``'s default), ``"laplace"``, ``"random"``, ``"map"``,
        ``0`` or a dict of values. Returns what :meth:`sample` returns, with one chain and only ``lp`` among the
        statistics, plus the fit (ELBO trace over ``step``, the guide's loc and scales on the
        unconstrained scale) as the group (or key) ``"fit"``.
        """
        init = _init_arg(init)
        bar = _Bar(progress, "svi", "step")
        return self._run(
            bar, seed, return_inferencedata,
            lambda: self._native.svi(
                guide, steps, lr, particles, batch_size, tol, decay, clip, init, map_steps,
                init_scale, draws, seed, bar.callback,
            ),
        )  # fmt: skip

    def fit(
        self,
        method: str = "map",
        *,
        optimizer: str | None = None,
        steps: int = 5000,
        lr: float = 0.01,
        batch_size: int | None = None,
        decay: str | None = None,
        clip: float | None = None,
        grad_tol: float = 1e-3,
        members: int = 5,
        threads: int | None = None,
        threads_per_chain: int | None = None,
        swag_steps: int = 1000,
        swag_lr: float = 0.002,
        swag_schedule: str = "constant",
        swag_collect_every: int | None = None,
        swag_momentum: float = 0.9,
        swag_rank: int = 20,
        svgd_particles: int = 50,
        hessian: str = "full",
        paths: int = 4,
        history: int = 5,
        elbo_draws: int = 25,
        max_iters: int = 1000,
        tol: float | None = None,
        draws: int = 1000,
        seed: int = 1,
        progress: Progress = None,
        return_inferencedata: bool | None = None,
    ) -> Draws:
        """Runs an optimization-based method, as ``bnnppl fit --method METHOD`` does with the
        same settings and seed (each keyword is the flag of that name, ``_`` for ``-``, with
        its default; a keyword a method does not use is ignored, as the CLI ignores the flag).

        ``method``:

        - ``"map"``: the posterior mode (``optimizer`` ``"adam"``, the default, on
          minibatches of ``batch_size`` rows, or ``"lbfgs"``/``"lbfgs:M"`` on the full data),
          stopping at ``steps`` or when the gradient norm falls below ``grad_tol``; one draw.
        - ``"ensemble"``, ``"anchored-ensemble"``: ``members`` MAP fits from independent
          starts (anchored: each on its own randomized objective), one chain and one draw each.
        - ``"swag"``: the MAP fit, then ``swag_steps`` SGD steps (``swag_lr``,
          ``swag_momentum``, ``swag_schedule`` ``"constant"`` or ``"cyclical:M"``, collecting
          every ``swag_collect_every`` steps, default once per epoch) and ``draws`` draws from
          the Gaussian of the iterates (diagonal plus rank ``swag_rank``); give
          ``batch_size``.
        - ``"multiswag"``: SWAG on each of ``members`` members, ``draws`` each.
        - ``"mc-dropout"``: the weights fitted with a fresh mask of the model's dropout layers
          each step, then ``draws`` draws, each the weights with one mask folded in.
        - ``"svgd"``: ``svgd_particles`` particles moved by Adam along the Stein direction;
          the particles are the draws.
        - ``"laplace"``: the MAP fit (``optimizer`` defaults to ``"lbfgs"`` here, or
          ``"adam"`` with ``batch_size``), then ``draws`` draws from the Gaussian whose
          precision is the curvature there (``hessian``: ``"full"``, ``"diag"`` or
          ``"last-layer"``, each optionally ``":ggn"``), and the log marginal likelihood.
        - ``"pathfinder"``: ``paths`` L-BFGS paths (at most ``max_iters`` iterations, ``history``
          pairs, stopping when log p changes by less than ``tol`` relative in five iterations in
          a row), the local Gaussian with the
          best ELBO (``elbo_draws`` draws per iterate) on each, ``draws`` draws per path, then
          Pareto-smoothed importance resampling to ``draws``.

        SVI is :meth:`svi`. ``decay``: ``None``, ``"cosine"`` or ``"exp:RATE"``; ``threads``:
        worker threads for the members; ``threads_per_chain``: as in :meth:`sample`. Returns what :meth:`sample` returns (one chain per
        member, only ``lp`` among the statistics), plus the fit summary as the group (or key)
        ``"fit"``: the trace ``log_density`` (with ``log_density_smoothed``, over ``step``;
        MC dropout's is ``dropout_objective``, the masked objective) and
        the MAP fit's end (``map_log_density``, ``map_grad_norm``, ``map_steps``,
        ``map_converged``, the mode ``map_theta`` on the unconstrained scale); SWAG's moments
        (``swa_mean``, ``swa_variance``, ``swa_deviations``, ``swa_log_density``, …); SVGD's
        ``bandwidth``; Laplace's ``log_marginal_likelihood``, ``log_det_precision``, the
        covered ``coordinates`` of θ with their ``variance`` (and ``covariance`` for a dense
        precision); Pathfinder's per-``path`` ``path_iterations``, ``path_best_iteration``,
        ``path_elbo``, ``path_gradients`` and ``pareto_k``. For the ensembles and MultiSWAG every
        entry runs over ``member``.
        """
        settings = {
            "optimizer": optimizer, "steps": steps, "lr": lr, "batch_size": batch_size,
            "decay": decay, "clip": clip, "grad_tol": grad_tol, "members": members,
            "swag_steps": swag_steps, "swag_lr": swag_lr, "swag_schedule": swag_schedule,
            "swag_collect_every": swag_collect_every, "swag_momentum": swag_momentum,
            "swag_rank": swag_rank, "svgd_particles": svgd_particles, "hessian": hessian,
            "paths": paths, "history": history, "elbo_draws": elbo_draws,
            "max_iters": max_iters, "tol": tol, "draws": draws, "seed": seed, "threads": threads,
            "threads_per_chain": threads_per_chain,
        }  # fmt: skip
        bar = _Bar(progress, method, "step")
        return self._run(
            bar, seed, return_inferencedata,
            lambda: self._native.fit(method, settings, bar.callback),
            members=method in ("ensemble", "anchored-ensemble", "multiswag"),
        )  # fmt: skip

    def _run(
        self,
        bar: _Bar,
        seed: int,
        as_idata: bool | None,
        run: Callable[[], dict[str, Any]],
        members: bool = False,
    ) -> Draws:
        """Runs the native call, then keeps its draws; a Python exception raised while the
        chains ran (Ctrl-C) is raised again with the draws so far attached."""
        try:
            raw = run()
        except BaseException:
            bar.close(False)
            raise
        raised = raw["raised"]
        bar.close(raised is None)
        if raised is None:
            return _run_result(self._native, raw, seed, as_idata, members)
        kept = min((c["draws"] for c in raw["chains"]), default=0)
        raised.draws = (
            _run_result(self._native, raw, seed, as_idata, members) if kept > 0 else None
        )
        if hasattr(raised, "add_note"):
            raised.add_note(
                f"bnnppl: the run was interrupted; {kept} draws per chain are kept in this "
                "exception's .draws attribute"
            )
        raise raised

    def predict(
        self,
        draws: Any,
        new_data: Data | None = None,
        *,
        seed: int = 1,
        chunk: int = 1000,
        convergence_rows: int = 20,
        as_dataset: bool | None = None,
    ) -> Predictions:
        """The posterior predictive at every row of ``new_data`` (default: the data bound
        here), from ``draws`` (what :meth:`sample`, :meth:`svi` or :meth:`fit` returned, or a
        dict of (chain, draw, ...) arrays with every parameter), as ``bnnppl predict``
        computes it.

        Returns per row: ``mean``, ``sd``, ``quantiles`` (at ``quantile_levels``), the
        variance split ``aleatoric`` + ``epistemic`` = ``total`` (normal and student_t
        likelihoods), or class probabilities ``probs`` with ``entropy`` = ``expected_entropy``
        (aleatoric) + ``mutual_info`` (epistemic) for classifiers; ``lpd`` and ``y`` when the
        inputs have the observed field; ``rhat`` and ``ess_bulk`` of the per-draw mean at
        ``convergence_rows`` evenly spaced rows. An ``xarray.Dataset`` when xarray is
        importable and ``as_dataset`` is not False, else a dict of NumPy arrays.
        """
        if new_data is None:
            inputs = self._native.training_inputs()
        elif _is_path(new_data):
            inputs = self._model._native.inputs_file(os.fspath(new_data))
        else:
            inputs = self._model._native.inputs_text(*_data_text(new_data))
        _warn(inputs.warnings, DataWarning)
        post = _posterior_group(draws)
        blocks = []
        for name, dims in inputs.params():
            if name not in post:
                raise PredictError(
                    f"the draws have no variable '{name}': predict needs every parameter's "
                    "draws (sample with every parameter saved)"
                )
            a = _chain_draw(post[name])
            if a.ndim != 2 + len(dims) or tuple(a.shape[2:]) != tuple(dims):
                want = ", ".join(["chain", "draw"] + [str(d) for d in dims])
                raise PredictError(
                    f"the draws of '{name}' have shape {tuple(a.shape)}; expected ({want})"
                )
            blocks.append(a.reshape(a.shape[0], a.shape[1], -1))
        if not blocks:
            raise PredictError("the model has no parameters to predict from")
        if len({b.shape[:2] for b in blocks}) != 1:
            raise PredictError("the parameters' draws differ in their numbers of chains or draws")
        values = np.ascontiguousarray(np.concatenate(blocks, axis=2), dtype=np.float64)
        chains, n = values.shape[:2]
        raw = inputs.predict(values.tobytes(), chains, n, seed, chunk, convergence_rows)
        targets = inputs.targets()
        return _predictions(raw, None if targets is None else _f64(targets), as_dataset)

    def __repr__(self) -> str:
        return f"bnnppl.Posterior(model={self._model.name!r}, dim={self.dim})"


def _init_arg(init: Any) -> Any:
    """``init`` for the native layer: dict values flattened row-major into lists."""
    if isinstance(init, Mapping):
        return {str(k): np.asarray(v, dtype=np.float64).ravel().tolist() for k, v in init.items()}
    return init


def _posterior_group(draws: Any) -> Any:
    if hasattr(draws, "posterior"):
        return draws.posterior
    if isinstance(draws, Mapping) and "posterior" in draws:
        return draws["posterior"]
    if isinstance(draws, Mapping):
        return draws
    raise TypeError(
        "draws must be what sample(), svi() or fit() returned (InferenceData or dict), or a dict "
        f"of (chain, draw, ...) arrays; got {type(draws).__name__}"
    )


def _chain_draw(x: Any) -> np.ndarray:
    """A variable's draws as a float64 array with chain and draw first."""
    dims = getattr(x, "dims", None)
    if dims is not None and "chain" in dims and "draw" in dims:
        x = x.transpose("chain", "draw", ...)
    return np.asarray(x, dtype=np.float64)


def _predictions(
    raw: dict[str, Any], targets: np.ndarray | None, as_dataset: bool | None
) -> Predictions:
    rows = raw["rows"]
    levels = np.asarray(raw["quantile_levels"], dtype=np.float64)
    out: dict[str, Any] = {}
    per_row = ("mean", "sd", "aleatoric", "epistemic", "total", "prob_var", "entropy",
               "expected_entropy", "mutual_info", "lpd")  # fmt: skip
    for name in per_row:
        if name in raw:
            out[name] = _f64(raw[name]).copy()
    if "quantiles" in raw:
        out["quantiles"] = _f64(raw["quantiles"]).reshape(len(levels), rows).T.copy()
    if "probs" in raw:
        out["probs"] = _f64(raw["probs"]).reshape(rows, raw["classes"]).copy()
    if targets is not None:
        out["y"] = targets.copy()
    conv = raw["convergence"]
    conv_rows = np.array([c[0] for c in conv], dtype=np.int64)
    rhat = np.array([c[1] for c in conv], dtype=np.float64)
    ess = np.array([c[2] for c in conv], dtype=np.float64)
    attrs = {"family": raw["family"], "draws": raw["draws"], "rows": rows}

    if as_dataset is None:
        as_dataset = _has_xarray()
    if not as_dataset:
        out["quantile_levels"] = levels
        out["rhat"], out["ess_bulk"], out["rhat_rows"] = rhat, ess, conv_rows
        out.update(attrs)
        return out

    import xarray as xr

    variables: dict[str, Any] = {}
    for name, v in out.items():
        if name == "quantiles":
            variables[name] = (("row", "quantile"), v)
        elif name == "probs":
            variables[name] = (("row", "class"), v)
        else:
            variables[name] = (("row",), v)
    variables["rhat"] = (("checked_row",), rhat)
    variables["ess_bulk"] = (("checked_row",), ess)
    coords: dict[str, Any] = {
        "row": np.arange(rows),
        "quantile": levels,
        "checked_row": conv_rows,
    }
    if "probs" in out:
        coords["class"] = np.arange(raw["classes"])
    return xr.Dataset(variables, coords=coords, attrs=attrs)
