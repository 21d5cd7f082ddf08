//! The native half of the `bnnppl` Python package: models, posteriors, engine runs and
//! predictions through the bnnppl library, each error raised as a Python exception carrying
//! the library's located diagnostic text. The Python half (`bnnppl/__init__.py`) turns what
//! this returns into NumPy arrays and ArviZ data.

mod bytes;
mod predict;
mod run;

use bnnppl::api::{BindInputsError, DataBindError, Model, ModelError as LibModelError};
use bnnppl::data::DataFormat;
use bnnppl::density::Density;
use bnnppl::draws::{columns, Save};
use bnnppl::engine::laplace::{parse_hessian, Structure};
use bnnppl::engine::mc_dropout;
use bnnppl::engine::svi::Start;
use bnnppl::engine::swag::parse_schedule;
use bnnppl::engine::{
    Decay, Dynamics, Engine, EngineError as LibEngineError, Ensemble, GuideKind, Hmc, Init,
    Laplace, Map, MassMatrix, McDropout, MultiSwag, Nuts, Optimizer, Pathfinder, Sgmcmc, Svgd, Svi,
    Swag,
};
use bnnppl::posterior::{Posterior, UnconstrainError};
use bytes::f64_bytes;
use predict::NativeInputs;
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyFileNotFoundError, PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use run::{chains_to_py, run_watched, FitToPy, Threads};
use std::collections::HashMap;
use std::path::PathBuf;

create_exception!(
    bnnppl,
    BnnpplError,
    PyException,
    "Base class of every error bnnppl raises."
);
create_exception!(
    bnnppl,
    ModelError,
    BnnpplError,
    "The model has syntax or semantic errors; the message is every diagnostic, located."
);
create_exception!(
    bnnppl,
    DataError,
    BnnpplError,
    "The data do not fit the model; the message names each field and index, located in the model's data block."
);
create_exception!(
    bnnppl,
    EngineError,
    BnnpplError,
    "An engine could not run: bad settings, no valid start, or a density failure."
);
create_exception!(
    bnnppl,
    PredictError,
    BnnpplError,
    "A prediction could not be made from these draws and inputs."
);

/// A model's load error as a Python exception.
fn model_error(e: LibModelError) -> PyErr {
    match e {
        LibModelError::Io { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            PyFileNotFoundError::new_err(e.to_string())
        }
        LibModelError::Io { .. } => PyOSError::new_err(e.to_string()),
        LibModelError::Invalid { rendered, .. } => ModelError::new_err(rendered),
        other => BnnpplError::new_err(other.to_string()),
    }
}

/// A data binding error as a Python exception: the located diagnostics.
fn data_error(e: DataBindError) -> PyErr {
    DataError::new_err(e.rendered)
}

/// An input binding error for prediction as a Python exception.
fn inputs_error(e: BindInputsError) -> PyErr {
    match e {
        BindInputsError::Data(e) => data_error(e),
        other => PredictError::new_err(other.to_string()),
    }
}

/// An engine failure as a Python exception.
fn engine_error(e: LibEngineError) -> PyErr {
    EngineError::new_err(e.to_string())
}

/// The format named by the Python half (`"json"` or `"csv"`).
fn data_format(format: &str) -> PyResult<DataFormat> {
    match format {
        "json" => Ok(DataFormat::Json),
        "csv" => Ok(DataFormat::Csv),
        other => Err(PyValueError::new_err(format!(
            "unknown data format '{other}'; use 'json' or 'csv'"
        ))),
    }
}

/// A parsed and checked `.bnn` model.
#[pyclass(frozen, module = "bnnppl._native", name = "Model")]
struct NativeModel {
    model: Model,
}

#[pymethods]
impl NativeModel {
    /// Reads and checks a `.bnn` file.
    #[staticmethod]
    fn from_file(py: Python<'_>, path: PathBuf) -> PyResult<NativeModel> {
        let model = py.detach(|| Model::from_file(&path)).map_err(model_error)?;
        Ok(NativeModel { model })
    }

    /// Checks a model given as text; `name` is shown in diagnostics.
    #[staticmethod]
    fn from_string(text: &str, name: &str) -> PyResult<NativeModel> {
        let model = Model::from_str(name, text).map_err(model_error)?;
        Ok(NativeModel { model })
    }

    /// The name diagnostics show (the path as given, or the name passed with the text).
    #[getter]
    fn name(&self) -> &str {
        &self.model.source.name
    }

    /// The model's source text.
    #[getter]
    fn source(&self) -> &str {
        &self.model.source.text
    }

    /// The checker's warnings, rendered against the source (empty when there are none).
    #[getter]
    fn warnings(&self) -> String {
        self.model.rendered_warnings()
    }

    /// The data block's fields, in declaration order.
    fn data_fields(&self) -> Vec<String> {
        self.model
            .checked
            .data
            .iter()
            .map(|d| d.name.clone())
            .collect()
    }

    /// Binds a data file (JSON or CSV, by extension).
    fn bind_file(&self, py: Python<'_>, path: PathBuf) -> PyResult<NativePosterior> {
        let posterior = py
            .detach(|| self.model.bind_file(&path))
            .map_err(data_error)?;
        Ok(self.posterior(posterior))
    }

    /// Binds data given as text in `format` (`"json"` or `"csv"`).
    fn bind_text(&self, py: Python<'_>, text: &str, format: &str) -> PyResult<NativePosterior> {
        let format = data_format(format)?;
        let posterior = py
            .detach(|| self.model.bind_str(text, format))
            .map_err(data_error)?;
        Ok(self.posterior(posterior))
    }

    /// Binds a file of inputs for prediction (the likelihood's observed field optional).
    fn inputs_file(&self, path: PathBuf) -> PyResult<NativeInputs> {
        let inputs = self.model.bind_inputs(&path).map_err(inputs_error)?;
        Ok(NativeInputs::new(inputs))
    }

    /// Binds inputs for prediction given as text in `format`.
    fn inputs_text(&self, text: &str, format: &str) -> PyResult<NativeInputs> {
        let inputs = self
            .model
            .bind_inputs_str(text, data_format(format)?)
            .map_err(inputs_error)?;
        Ok(NativeInputs::new(inputs))
    }
}

impl NativeModel {
    fn posterior(&self, posterior: Posterior) -> NativePosterior {
        NativePosterior {
            model: self.model.clone(),
            posterior,
        }
    }
}

/// A model bound to data: the log-density over θ and the engines' target.
#[pyclass(frozen, module = "bnnppl._native", name = "Posterior")]
struct NativePosterior {
    model: Model,
    posterior: Posterior,
}

/// `init` as the Python half passes it: `None` (uniform(−2, 2) on the unconstrained scale),
/// `0` (θ = 0), `"map"` (a random start then `map_steps` Adam steps towards the mode), or a
/// dict of constrained values by parameter name, each flattened row-major.
fn parse_init(
    posterior: &Posterior,
    init: Option<&Bound<'_, PyAny>>,
    map_steps: usize,
) -> PyResult<Init> {
    let Some(init) = init else {
        return Ok(Init::default());
    };
    if let Ok(s) = init.extract::<String>() {
        return match s.as_str() {
            "map" => Ok(Init::Map { steps: map_steps }),
            "random" => Ok(Init::default()),
            other => Err(PyValueError::new_err(format!(
                "init must be None, 0, 'random', 'map' or a dict of values by parameter name, got '{other}'"
            ))),
        };
    }
    if let Ok(0) = init.extract::<i64>() {
        return Ok(Init::User(vec![0.0; posterior.layout().dim()]));
    }
    let values: HashMap<String, Vec<f64>> = init.extract().map_err(|_| {
        PyValueError::new_err(
            "init must be None, 0, 'random', 'map' or a dict of values by parameter name",
        )
    })?;
    let theta = posterior
        .layout()
        .unconstrain(|p| values.get(&p.name).map(Vec::as_slice))
        .map_err(|e| match e {
            UnconstrainError::Missing { param } => {
                PyValueError::new_err(format!("init has no value for parameter '{param}'"))
            }
            e => PyValueError::new_err(format!("init: {e}")),
        })?;
    Ok(Init::User(theta))
}

/// The SG-MCMC settings of `sample` (`bnnppl sample`'s "Stochastic gradient" flags), as the
/// Python half passes them: a dict by these names.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct SgSettings {
    batch_size: Option<usize>,
    step_size: f64,
    schedule: String,
    exploration: f64,
    burn_in: Option<usize>,
    thin: usize,
    friction: f64,
    noise_estimate: bool,
}

/// The settings of `fit`, named as `bnnppl fit`'s flags (`swag_lr` is `--swag-lr`), as the
/// Python half passes them: a dict by these names.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct FitSettings {
    optimizer: Option<String>,
    steps: usize,
    lr: f64,
    batch_size: Option<usize>,
    decay: Option<String>,
    clip: Option<f64>,
    grad_tol: f64,
    members: usize,
    swag_steps: usize,
    swag_lr: f64,
    swag_schedule: String,
    swag_collect_every: Option<usize>,
    swag_momentum: f64,
    swag_rank: usize,
    svgd_particles: usize,
    hessian: String,
    paths: usize,
    history: usize,
    elbo_draws: usize,
    max_iters: usize,
    tol: Option<f64>,
    draws: usize,
    seed: u64,
    threads: Option<usize>,
    threads_per_chain: Option<usize>,
}

impl FitSettings {
    /// `threads` and `threads_per_chain`, checked as the CLI checks its flags.
    fn threads(&self) -> PyResult<Threads> {
        Ok(Threads {
            workers: self.threads,
            per_chain: per_chain_setting(self.threads_per_chain)?,
        })
    }
}

/// `threads_per_chain`: `None` (the command line's default) or at least 1.
fn per_chain_setting(threads_per_chain: Option<usize>) -> PyResult<Option<usize>> {
    match threads_per_chain {
        Some(0) => Err(PyValueError::new_err(
            "threads_per_chain must be at least 1, got 0",
        )),
        t => Ok(t),
    }
}

/// A setting's text parsed as the CLI parses its flag; a failure raises `ValueError` naming it.
fn setting<T>(name: &str, text: &str, parse: impl Fn(&str) -> Result<T, String>) -> PyResult<T> {
    parse(text).map_err(|e| PyValueError::new_err(format!("{name}: {e}")))
}

/// `decay`: `None` (constant), `"cosine"` or `"exp:RATE"`.
fn parse_decay(decay: Option<&str>) -> PyResult<Decay> {
    decay
        .map(|d| setting("decay", d, str::parse::<Decay>))
        .transpose()
        .map(Option::unwrap_or_default)
}

impl FitSettings {
    /// The MAP settings every method starts from, as `bnnppl fit` builds them.
    fn map(&self) -> PyResult<Map> {
        Ok(Map {
            optimizer: self.optimizer()?.unwrap_or(Optimizer::Adam),
            steps: self.steps,
            lr: self.lr,
            batch_size: self.batch_size,
            decay: parse_decay(self.decay.as_deref())?,
            clip: self.clip,
            grad_tol: self.grad_tol,
            seed: self.seed,
            ..Map::default()
        })
    }

    /// `optimizer`: `None` (the method's default) or the optimizer named.
    fn optimizer(&self) -> PyResult<Option<Optimizer>> {
        self.optimizer
            .as_deref()
            .map(|o| setting("optimizer", o, str::parse::<Optimizer>))
            .transpose()
    }

    /// The SWAG settings of `swag` and of each `multiswag` member.
    fn swag(&self) -> PyResult<Swag> {
        Ok(Swag {
            map: self.map()?,
            steps: self.swag_steps,
            lr: self.swag_lr,
            momentum: self.swag_momentum,
            schedule: setting("swag_schedule", &self.swag_schedule, parse_schedule)?,
            collect_every: self.swag_collect_every.unwrap_or(0),
            rank: self.swag_rank,
            draws: self.draws,
        })
    }

    /// The ensemble's members M, at least 1.
    fn members(&self) -> PyResult<usize> {
        match self.members {
            0 => Err(PyValueError::new_err("members must be at least 1")),
            m => Ok(m),
        }
    }
}

/// Runs `engine` watched (GIL released, Ctrl-C, progress) and packs its chains and fits.
fn run_to_py<'py, E>(
    py: Python<'py>,
    engine: &E,
    posterior: &Posterior,
    seed: u64,
    threads: Threads,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>>
where
    E: Engine,
    E::Fit: FitToPy,
{
    let watched = run_watched(py, engine, posterior, seed, threads, progress);
    // A Ctrl-C that arrived while the run was failing is dropped: the failure is the news.
    let report = watched.report.map_err(engine_error)?;
    let raised = watched.raised;
    let out = PyDict::new(py);
    out.set_item("engine", engine.name())?;
    out.set_item("markov", engine.is_markov_chain())?;
    out.set_item("chains", chains_to_py(py, &report)?)?;
    let fits = report
        .chains
        .iter()
        .map(|c| c.fit.to_py(py))
        .collect::<PyResult<Vec<_>>>()?;
    out.set_item("fits", fits)?;
    out.set_item("raised", raised.map(|e| e.into_value(py)))?;
    Ok(out)
}

#[pymethods]
impl NativePosterior {
    /// Data warnings (fields the model does not declare), rendered; empty when there are none.
    #[getter]
    fn warnings(&self) -> &str {
        self.posterior.rendered_warnings()
    }

    /// Dimension d of the unconstrained parameter vector θ.
    #[getter]
    fn dim(&self) -> usize {
        self.posterior.layout().dim()
    }

    /// The model's name as diagnostics show it.
    #[getter]
    fn model_name(&self) -> &str {
        &self.model.source.name
    }

    /// Parameters in θ order: name and concrete dimensions.
    fn params(&self) -> Vec<(String, Vec<usize>)> {
        self.posterior
            .layout()
            .params
            .iter()
            .map(|p| (p.name.clone(), p.dims.clone()))
            .collect()
    }

    /// Stored quantities (parameters, then predict quantities) with their dimensions.
    fn outputs(&self) -> Vec<(String, Vec<usize>)> {
        self.posterior.output_shapes()
    }

    /// The stored columns, CmdStan names in CmdStan order, as the chain files have them.
    fn columns(&self) -> Vec<String> {
        columns(&self.posterior, Save::All).0
    }

    /// The networks of the model, whose weights the CLI's summary leaves out.
    fn networks(&self) -> Vec<String> {
        self.posterior
            .model()
            .networks
            .iter()
            .map(|n| n.name.clone())
            .collect()
    }

    /// The bound data: per field its shape, its values (row-major float64 bytes) and whether
    /// it is an int field; and every dimension symbol's size.
    fn data<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyDict>)> {
        let data = self.posterior.data();
        let fields = PyDict::new(py);
        for (name, v) in &data.fields {
            let entry = PyTuple::new(
                py,
                [
                    v.shape.clone().into_pyobject(py)?.into_any(),
                    f64_bytes(py, &v.values).into_any(),
                    v.is_int.into_pyobject(py)?.to_owned().into_any(),
                ],
            )?;
            fields.set_item(name, entry)?;
        }
        let dims = PyDict::new(py);
        for (sym, n) in &data.dims {
            dims.set_item(sym, n)?;
        }
        Ok((fields, dims))
    }

    /// log p(θ) up to a constant, on the unconstrained scale.
    fn log_density(&self, theta: Vec<f64>) -> PyResult<f64> {
        self.check_dim(&theta)?;
        self.posterior
            .evaluator()
            .log_density(&theta)
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// log p(θ) and its gradient with respect to θ.
    fn log_density_grad<'py>(
        &self,
        py: Python<'py>,
        theta: Vec<f64>,
    ) -> PyResult<(f64, Bound<'py, pyo3::types::PyBytes>)> {
        self.check_dim(&theta)?;
        let mut grad = vec![0.0; theta.len()];
        let lp = self
            .posterior
            .evaluator()
            .log_density_grad(&theta, &mut grad)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok((lp, f64_bytes(py, &grad)))
    }

    /// The training data as inputs for prediction (targets from the observed field).
    fn training_inputs(&self) -> PyResult<NativeInputs> {
        NativeInputs::training(&self.model, &self.posterior)
    }

    /// NUTS (`engine = "nuts"`), static HMC (`"hmc"`, `steps` leapfrog steps per trajectory)
    /// or SG-MCMC (`"sgld"`, `"psgld"`, `"sghmc"`, on minibatches) with these settings; see
    /// `bnnppl sample`.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (engine, chains, warmup, draws, max_depth, target_accept, mass_matrix, steps, seed, init, map_steps, threads, threads_per_chain, sg, progress))]
    fn sample<'py>(
        &self,
        py: Python<'py>,
        engine: &str,
        chains: usize,
        warmup: usize,
        draws: usize,
        max_depth: u32,
        target_accept: f64,
        mass_matrix: &str,
        steps: usize,
        seed: u64,
        init: Option<&Bound<'py, PyAny>>,
        map_steps: usize,
        threads: Option<usize>,
        threads_per_chain: Option<usize>,
        sg: SgSettings,
        progress: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let init = parse_init(&self.posterior, init, map_steps)?;
        let post = &self.posterior;
        let threads = Threads {
            workers: threads,
            per_chain: per_chain_setting(threads_per_chain)?,
        };
        match engine {
            "nuts" => {
                let mass_matrix = match mass_matrix {
                    "diag" => MassMatrix::Diagonal,
                    "low-rank" => MassMatrix::LowRank,
                    other => {
                        return Err(PyValueError::new_err(format!(
                            "mass_matrix must be 'diag' or 'low-rank', got '{other}'"
                        )))
                    }
                };
                let nuts = Nuts {
                    chains,
                    warmup,
                    draws,
                    max_depth,
                    target_accept,
                    mass_matrix,
                    seed,
                    init,
                    ..Nuts::default()
                };
                run_to_py(py, &nuts, post, seed, threads, progress)
            }
            "hmc" => {
                let hmc = Hmc {
                    chains,
                    warmup,
                    draws,
                    n_leapfrog: steps,
                    target_accept,
                    seed,
                    init,
                    ..Hmc::default()
                };
                run_to_py(py, &hmc, post, seed, threads, progress)
            }
            "sgld" | "psgld" | "sghmc" => {
                let dynamics = match engine {
                    "psgld" => Dynamics::Psgld {
                        decay: 0.99,
                        lambda: 1e-5,
                    },
                    "sghmc" => Dynamics::Sghmc {
                        friction: sg.friction,
                        noise_estimate: sg.noise_estimate,
                    },
                    _ => Dynamics::Sgld,
                };
                let engine = Sgmcmc {
                    dynamics,
                    chains,
                    burn_in: sg.burn_in.unwrap_or(warmup),
                    draws,
                    thin: sg.thin,
                    step_size: sg.step_size,
                    batch_size: sg.batch_size,
                    schedule: parse_schedule(&sg.schedule)
                        .map_err(|e| PyValueError::new_err(format!("schedule: {e}")))?,
                    exploration: sg.exploration,
                    seed,
                    init,
                };
                run_to_py(py, &engine, post, seed, threads, progress)
            }
            other => Err(PyValueError::new_err(format!(
                "engine must be 'nuts', 'hmc', 'sgld', 'psgld' or 'sghmc' (or use .svi() or \
                 .fit()), got '{other}'"
            ))),
        }
    }

    /// SVI with these settings, then draws from the fitted guide; see `bnnppl svi`.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (guide, steps, lr, particles, batch_size, tol, decay, clip, init, map_steps, init_scale, draws, seed, progress))]
    fn svi<'py>(
        &self,
        py: Python<'py>,
        guide: &str,
        steps: usize,
        lr: f64,
        particles: usize,
        batch_size: Option<usize>,
        tol: f64,
        decay: Option<&str>,
        clip: Option<f64>,
        init: Option<&Bound<'py, PyAny>>,
        map_steps: usize,
        init_scale: f64,
        draws: usize,
        seed: u64,
        progress: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let guide: GuideKind = guide
            .parse()
            .map_err(|e| PyValueError::new_err(format!("guide: {e}")))?;
        let decay = parse_decay(decay)?;
        // "auto" and "laplace" say how the guide starts (as `bnnppl svi --init`); every other
        // init is a point the guide's loc starts at.
        let named = init.and_then(|i| i.extract::<String>().ok());
        let (init, start) = match named.as_deref() {
            Some("auto") => (Init::default(), Start::Auto),
            Some("laplace") => (Init::default(), Start::Laplace),
            _ => (parse_init(&self.posterior, init, map_steps)?, Start::Point),
        };
        let engine = Svi {
            guide,
            steps,
            lr,
            particles,
            batch_size,
            tol,
            seed,
            decay,
            clip,
            init,
            start,
            init_scale,
            draws,
            ..Svi::default()
        };
        run_to_py(
            py,
            &engine,
            &self.posterior,
            seed,
            Threads::default(),
            progress,
        )
    }

    /// An optimization-based method (`method` as `bnnppl fit --method` spells it; SVI is
    /// `svi`) with these settings; see `bnnppl fit`.
    fn fit<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        settings: FitSettings,
        progress: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let s = &settings;
        let post = &self.posterior;
        match method {
            "map" => run_to_py(py, &s.map()?, post, s.seed, s.threads()?, progress),
            "ensemble" | "anchored-ensemble" => {
                let ensemble = Ensemble {
                    members: s.members()?,
                    map: s.map()?,
                    anchored: method == "anchored-ensemble",
                };
                run_to_py(py, &ensemble, post, s.seed, s.threads()?, progress)
            }
            "swag" => run_to_py(py, &s.swag()?, post, s.seed, s.threads()?, progress),
            "multiswag" => {
                let multiswag = MultiSwag {
                    members: s.members()?,
                    swag: s.swag()?,
                };
                run_to_py(py, &multiswag, post, s.seed, s.threads()?, progress)
            }
            "mc-dropout" => {
                if post.dropout_sites().is_empty() {
                    return Err(PyValueError::new_err(format!(
                        "{} has no dropout layer, so method 'mc-dropout' has no units to drop; \
                         write e.g. dropout(0.1) before a dense layer of a network",
                        self.model.source.name
                    )));
                }
                let mc = McDropout {
                    map: s.map()?,
                    draws: s.draws,
                    members: 1,
                };
                let out = run_to_py(py, &mc, post, s.seed, s.threads()?, progress)?;
                // Its fit is MAP's, but the objective it traces is the masked one.
                let fits = out
                    .get_item("fits")?
                    .expect("internal: run_to_py sets fits");
                for fit in fits.try_iter()? {
                    let fit = fit?;
                    for (from, to) in [("log_density", ""), ("log_density_smoothed", "_smoothed")] {
                        let trace = fit.get_item(from)?;
                        fit.del_item(from)?;
                        fit.set_item(format!("{}{to}", mc_dropout::OBJECTIVE), trace)?;
                    }
                }
                Ok(out)
            }
            "svgd" => {
                let svgd = Svgd {
                    particles: s.svgd_particles,
                    steps: s.steps,
                    lr: s.lr,
                    decay: parse_decay(s.decay.as_deref())?,
                    clip: s.clip,
                    batch_size: s.batch_size,
                    seed: s.seed,
                    ..Svgd::default()
                };
                run_to_py(py, &svgd, post, s.seed, s.threads()?, progress)
            }
            "laplace" => {
                let (structure, curvature) = setting("hessian", &s.hessian, parse_hessian)?;
                if structure == Structure::LastLayer && post.evaluator().last_layer().is_empty() {
                    return Err(PyValueError::new_err(format!(
                        "{} has no dense layer, so hessian='last-layer' has no layer to cover; \
                         use hessian='full' or 'diag'",
                        self.model.source.name
                    )));
                }
                let laplace = Laplace {
                    map: Map {
                        optimizer: s
                            .optimizer()?
                            .unwrap_or(Laplace::default_optimizer(s.batch_size)),
                        ..s.map()?
                    },
                    structure,
                    curvature,
                    draws: s.draws,
                };
                run_to_py(py, &laplace, post, s.seed, s.threads()?, progress)
            }
            "pathfinder" => {
                let pathfinder = Pathfinder {
                    paths: s.paths,
                    draws: s.draws,
                    history: s.history,
                    elbo_draws: s.elbo_draws,
                    max_iters: s.max_iters,
                    tol: s.tol.unwrap_or(Pathfinder::default().tol),
                    seed: s.seed,
                    ..Pathfinder::default()
                };
                run_to_py(py, &pathfinder, post, s.seed, s.threads()?, progress)
            }
            other => Err(PyValueError::new_err(format!(
                "method must be 'map', 'ensemble', 'anchored-ensemble', 'swag', 'multiswag', \
                 'mc-dropout', 'svgd', 'laplace' or 'pathfinder' (or use .svi()), got '{other}'"
            ))),
        }
    }
}

impl NativePosterior {
    fn check_dim(&self, theta: &[f64]) -> PyResult<()> {
        let d = self.posterior.layout().dim();
        if theta.len() == d {
            Ok(())
        } else {
            Err(PyValueError::new_err(format!(
                "theta has length {}, but the posterior's dimension is {d}",
                theta.len()
            )))
        }
    }
}

/// The native module `bnnppl._native`.
#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<NativeModel>()?;
    m.add_class::<NativePosterior>()?;
    m.add_class::<NativeInputs>()?;
    m.add("BnnpplError", py.get_type::<BnnpplError>())?;
    m.add("ModelError", py.get_type::<ModelError>())?;
    m.add("DataError", py.get_type::<DataError>())?;
    m.add("EngineError", py.get_type::<EngineError>())?;
    m.add("PredictError", py.get_type::<PredictError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
