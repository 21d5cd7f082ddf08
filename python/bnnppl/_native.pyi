"""Type stubs of the native half of bnnppl (the Rust extension); use the classes of
``bnnppl`` rather than these. Numbers cross as native-endian float64 ``bytes``."""

from collections.abc import Callable
from typing import Any, TypedDict, final

__all__ = [
    "BnnpplError",
    "DataError",
    "EngineError",
    "Inputs",
    "Model",
    "ModelError",
    "Posterior",
    "PredictError",
    "__version__",
]

__version__: str

class BnnpplError(Exception):
    """Base class of every error bnnppl raises."""

class ModelError(BnnpplError):
    """The model has syntax or semantic errors; the message is every diagnostic, located."""

class DataError(BnnpplError):
    """The data do not fit the model; the message names each field and index, located in the
    model's data block."""

class EngineError(BnnpplError):
    """An engine could not run: bad settings, no valid start, or a density failure."""

class PredictError(BnnpplError):
    """A prediction could not be made from these draws and inputs."""

_Progress = Callable[[int, int, int], Any] | None

class _SgSettings(TypedDict):
    """``sample``'s SG-MCMC settings, named as ``bnnppl sample``'s flags."""

    batch_size: int | None
    step_size: float
    schedule: str
    exploration: float
    burn_in: int | None
    thin: int
    friction: float
    noise_estimate: bool

class _FitSettings(TypedDict):
    """``fit``'s settings, named as ``bnnppl fit``'s flags."""

    optimizer: str | None
    steps: int
    lr: float
    batch_size: int | None
    decay: str | None
    clip: float | None
    grad_tol: float
    members: int
    swag_steps: int
    swag_lr: float
    swag_schedule: str
    swag_collect_every: int | None
    swag_momentum: float
    swag_rank: int
    svgd_particles: int
    hessian: str
    paths: int
    history: int
    elbo_draws: int
    max_iters: int
    tol: float | None
    draws: int
    seed: int
    threads: int | None
    threads_per_chain: int | None

@final
class Model:
    @staticmethod
    def from_file(path: str) -> Model: ...
    @staticmethod
    def from_string(text: str, name: str) -> Model: ...
    @property
    def name(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def warnings(self) -> str: ...
    def data_fields(self) -> list[str]: ...
    def bind_file(self, path: str) -> Posterior: ...
    def bind_text(self, text: str, format: str) -> Posterior: ...
    def inputs_file(self, path: str) -> Inputs: ...
    def inputs_text(self, text: str, format: str) -> Inputs: ...

@final
class Posterior:
    @property
    def warnings(self) -> str: ...
    @property
    def dim(self) -> int: ...
    @property
    def model_name(self) -> str: ...
    def params(self) -> list[tuple[str, list[int]]]: ...
    def outputs(self) -> list[tuple[str, list[int]]]: ...
    def columns(self) -> list[str]: ...
    def networks(self) -> list[str]: ...
    def data(self) -> tuple[dict[str, tuple[list[int], bytes, bool]], dict[str, int]]: ...
    def log_density(self, theta: list[float]) -> float: ...
    def log_density_grad(self, theta: list[float]) -> tuple[float, bytes]: ...
    def training_inputs(self) -> Inputs: ...
    def sample(
        self,
        engine: str,
        chains: int,
        warmup: int,
        draws: int,
        max_depth: int,
        target_accept: float,
        mass_matrix: str,
        steps: int,
        seed: int,
        init: Any,
        map_steps: int,
        threads: int | None,
        threads_per_chain: int | None,
        sg: _SgSettings,
        progress: _Progress,
    ) -> dict[str, Any]: ...
    def svi(
        self,
        guide: str,
        steps: int,
        lr: float,
        particles: int,
        batch_size: int | None,
        tol: float,
        decay: str | None,
        clip: float | None,
        init: Any,
        map_steps: int,
        init_scale: float,
        draws: int,
        seed: int,
        progress: _Progress,
    ) -> dict[str, Any]: ...
    def fit(self, method: str, settings: _FitSettings, progress: _Progress) -> dict[str, Any]: ...

@final
class Inputs:
    @property
    def rows(self) -> int: ...
    @property
    def warnings(self) -> str: ...
    def targets(self) -> bytes | None: ...
    def params(self) -> list[tuple[str, list[int]]]: ...
    def predict(
        self,
        values: bytes,
        chains: int,
        draws: int,
        seed: int,
        chunk: int,
        convergence_rows: int,
    ) -> dict[str, Any]: ...
