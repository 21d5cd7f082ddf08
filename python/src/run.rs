//! Runs an engine off the Python thread: the GIL is released while the chains run, Python's
//! signal handlers (Ctrl-C) run at every poll and set the run's interrupt flag, and a Python
//! progress callback is fed from counters the chains update.

use crate::bytes::f64_bytes;
use bnnppl::draws::{MemoryFactory, MemorySink, Save};
use bnnppl::engine::descent::Point;
use bnnppl::engine::laplace::Factor;
use bnnppl::engine::{
    Engine, EngineError, LaplaceResult, MapResult, PathfinderResult, Phase, ProgressEvent,
    RunControl, RunReport, SvgdResult, SviResult, SwagResult,
};
use bnnppl::posterior::Posterior;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Longest wait between two checks of Python's signals and two progress reports.
const POLL: Duration = Duration::from_millis(50);

/// Work done per chain (warmup and sampling draws, plus optimizer steps for a fitting engine)
/// and divergences so far, written by the chains' progress hook.
struct Counters {
    done: Vec<AtomicUsize>,
    divergences: Vec<AtomicUsize>,
}

impl Counters {
    fn sums(&self) -> (usize, usize) {
        let sum = |v: &[AtomicUsize]| v.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        (sum(&self.done), sum(&self.divergences))
    }
}

/// What a watched run returns.
pub struct Watched<X> {
    /// The engine's report, or why it failed.
    pub report: Result<RunReport<MemorySink, X>, EngineError>,
    /// The Python exception raised while the chains ran (`KeyboardInterrupt` from Ctrl-C, or
    /// one from the progress callback); the chains were interrupted because of it.
    pub raised: Option<PyErr>,
}

/// How many threads a run uses: worker threads for the chains (`None`: one per chain, at most
/// the number of cores) and threads per chain for a large layer's matrix work (`None`: as the
/// command line chooses, [`Posterior::auto_threads_per_chain`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Threads {
    /// Worker threads for the chains.
    pub workers: Option<usize>,
    /// Threads each chain's gradient uses.
    pub per_chain: Option<usize>,
}

/// Runs `engine` on `posterior` keeping every parameter and predict quantity in memory, with
/// the predict block's draws seeded by `seed` — what the CLI's runs write to their chain files.
/// `progress(done, total, divergences)` is called from this thread about every [`POLL`].
pub fn run_watched<E: Engine>(
    py: Python<'_>,
    engine: &E,
    posterior: &Posterior,
    seed: u64,
    threads: Threads,
    progress: Option<&Bound<'_, PyAny>>,
) -> Watched<E::Fit> {
    let chains = engine.chains();
    let fit_total = engine.fit_steps();
    let total = chains * (fit_total + engine.warmup() + engine.draws());
    let counters = Arc::new(Counters {
        done: (0..chains).map(|_| AtomicUsize::new(0)).collect(),
        divergences: (0..chains).map(|_| AtomicUsize::new(0)).collect(),
    });
    let hook_counters = counters.clone();
    let hook = Arc::new(move |e: &ProgressEvent| {
        // A fitting engine's draws come after its optimizer steps.
        let done = match e.phase {
            Phase::Fitting => e.draw + 1,
            Phase::Warmup | Phase::Sampling => fit_total + e.draw + 1,
        };
        if let (Some(d), Some(v)) = (
            hook_counters.done.get(e.chain),
            hook_counters.divergences.get(e.chain),
        ) {
            d.store(done, Ordering::Relaxed);
            v.store(e.divergences, Ordering::Relaxed);
        }
    });
    let interrupt = Arc::new(AtomicBool::new(false));
    let control = RunControl {
        threads: threads.workers,
        chain_ids: None,
        interrupt: interrupt.clone(),
        progress: Some(hook),
    };
    // As the command line does by default: a large data set's gradient uses the cores the
    // running chains leave over (the draws are the same bits for any number of threads).
    let per_chain = threads
        .per_chain
        .unwrap_or_else(|| posterior.auto_threads_per_chain(threads.workers, chains));
    let posterior = &posterior.with_threads_per_chain(per_chain);
    let factory = MemoryFactory {
        posterior: posterior.clone(),
        save: Save::All,
        seed,
    };
    let mut raised: Option<PyErr> = None;
    let waiter = std::thread::current();
    let report = std::thread::scope(|scope| {
        let handle = scope.spawn(|| {
            let report = engine.run(posterior, &factory, &control);
            waiter.unpark();
            report
        });
        while !handle.is_finished() {
            py.detach(|| std::thread::park_timeout(POLL));
            if raised.is_some() {
                continue;
            }
            // Signal handlers run only on Python's main thread; elsewhere this is a no-op and
            // Ctrl-C reaches the run when it returns.
            let mut checked = py.check_signals();
            if let (Ok(()), Some(callback)) = (&checked, progress) {
                let (done, divergences) = counters.sums();
                checked = callback.call1((done, total, divergences)).map(drop);
            }
            if let Err(e) = checked {
                interrupt.store(true, Ordering::SeqCst);
                raised = Some(e);
            }
        }
        handle
            .join()
            .unwrap_or_else(|payload| std::panic::resume_unwind(payload))
    });
    Watched { report, raised }
}

/// A run's chains as Python values: per chain its draw count, its stored values (draws ×
/// columns, row-major), its sampler statistics (draws × 7 in Stan's column order), whether it
/// was interrupted, and the adapted step size and inverse mass diagonal once warmup ended.
pub fn chains_to_py<'py, X>(
    py: Python<'py>,
    report: &RunReport<MemorySink, X>,
) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for c in &report.chains {
        let d = &c.sink.draws;
        let stats: Vec<f64> = d
            .stats
            .iter()
            .flat_map(|s| {
                [
                    s.lp,
                    s.accept_stat,
                    s.step_size,
                    f64::from(s.tree_depth),
                    s.n_leapfrog as f64,
                    f64::from(u8::from(s.divergent)),
                    s.energy,
                ]
            })
            .collect();
        let chain = PyDict::new(py);
        chain.set_item("chain", d.chain)?;
        chain.set_item("draws", d.stats.len())?;
        chain.set_item("values", f64_bytes(py, &d.values))?;
        chain.set_item("stats", f64_bytes(py, &stats))?;
        chain.set_item(
            "interrupted",
            c.status == bnnppl::engine::ChainStatus::Interrupted,
        )?;
        if let Some(a) = &d.adaptation {
            chain.set_item("step_size", a.step_size)?;
            chain.set_item("inv_mass", f64_bytes(py, &a.inv_mass))?;
        }
        list.append(chain)?;
    }
    Ok(list)
}

/// What an engine's chain leaves besides its draws, as a Python value: a dict of scalars (Python
/// numbers, bools and strings) and arrays, each `(dims, shape, data)` with its dimension names,
/// its shape and its values (row-major float64 bytes, or a list of ints). Traces run over the
/// dimension `step` in the order of the CLI's trace file.
pub trait FitToPy {
    /// `None` for samplers; a dict for a fitting engine.
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>>;
}

impl FitToPy for () {
    fn to_py<'py>(&self, _py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        Ok(None)
    }
}

/// A fit summary being filled in, in the form [`FitToPy`] describes.
struct FitDict<'py> {
    py: Python<'py>,
    dict: Bound<'py, PyDict>,
}

impl<'py> FitDict<'py> {
    fn new(py: Python<'py>) -> FitDict<'py> {
        FitDict {
            py,
            dict: PyDict::new(py),
        }
    }

    /// A Python number, bool or string.
    fn scalar<T: IntoPyObject<'py>>(&self, name: &str, value: T) -> PyResult<()> {
        self.dict.set_item(name, value)
    }

    /// A float64 array of `shape` over `dims`, its values row-major.
    fn array(&self, name: &str, dims: &[&str], shape: &[usize], values: &[f64]) -> PyResult<()> {
        let data = f64_bytes(self.py, values).into_any();
        self.put(name, dims, shape, data)
    }

    /// An int vector over `dim`.
    fn ints(&self, name: &str, dim: &str, values: &[usize]) -> PyResult<()> {
        let data = values.into_pyobject(self.py)?.into_any();
        self.put(name, &[dim], &[values.len()], data)
    }

    fn put(
        &self,
        name: &str,
        dims: &[&str],
        shape: &[usize],
        data: Bound<'py, PyAny>,
    ) -> PyResult<()> {
        let entry = PyTuple::new(
            self.py,
            [
                dims.into_pyobject(self.py)?.into_any(),
                shape.into_pyobject(self.py)?.into_any(),
                data,
            ],
        )?;
        self.dict.set_item(name, entry)
    }

    /// An objective's trace as `name` and `name_smoothed` over `step`.
    fn trace<'a>(&self, name: &str, points: impl Iterator<Item = &'a Point>) -> PyResult<()> {
        let (values, smoothed): (Vec<f64>, Vec<f64>) =
            points.map(|p| (p.value, p.smoothed)).unzip();
        self.array(name, &["step"], &[values.len()], &values)?;
        self.array(
            &format!("{name}_smoothed"),
            &["step"],
            &[smoothed.len()],
            &smoothed,
        )
    }

    /// How a MAP fit ended, named as `swag.json` and `laplace.json` name it (`map_log_density`,
    /// …), and the mode θ (`map_theta`).
    fn map_end(&self, map: &MapResult) -> PyResult<()> {
        self.scalar("map_log_density", map.log_density)?;
        self.scalar("map_grad_norm", map.grad_norm)?;
        self.scalar("map_steps", map.steps)?;
        self.scalar("map_converged", map.converged)?;
        let d = map.theta.len();
        self.array("map_theta", &["theta"], &[d], &map.theta)
    }

    fn done(self) -> PyResult<Option<Bound<'py, PyDict>>> {
        Ok(Some(self.dict))
    }
}

impl FitToPy for SviResult {
    /// The ELBO trace, how the fit ended, and the guide on the unconstrained scale θ (its
    /// kind, loc and marginal scales).
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let fit = FitDict::new(py);
        let (elbo, smoothed): (Vec<f64>, Vec<f64>) =
            self.trace.iter().map(|p| (p.elbo, p.smoothed)).unzip();
        fit.array("elbo", &["step"], &[elbo.len()], &elbo)?;
        fit.array("elbo_smoothed", &["step"], &[smoothed.len()], &smoothed)?;
        let loc = self.guide.loc();
        fit.array("guide_loc", &["theta"], &[loc.len()], loc)?;
        let scale = self.guide.scale();
        fit.array("guide_scale", &["theta"], &[scale.len()], &scale)?;
        fit.scalar("guide", self.guide.kind.to_string())?;
        fit.scalar("steps", self.trace.len())?;
        fit.scalar("converged", self.converged)?;
        fit.scalar("skipped_steps", self.skipped_steps)?;
        fit.scalar("gradients", self.gradients)?;
        fit.scalar("seconds", self.elapsed.as_secs_f64())?;
        fit.done()
    }
}

impl FitToPy for MapResult {
    /// A MAP fit (or an ensemble member's, or MC dropout's): the log-density trace, the mode θ
    /// and how the fit ended, as `fit.json` has it.
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let fit = FitDict::new(py);
        fit.trace("log_density", self.trace.iter())?;
        fit.map_end(self)?;
        fit.scalar("gradients", self.gradients)?;
        fit.scalar("skipped_steps", self.skipped_steps)?;
        fit.done()
    }
}

impl FitToPy for SwagResult {
    /// A SWAG fit: the log-density trace of the MAP fit then SGD, the SWAG Gaussian's moments
    /// on θ (mean, diagonal variance, the K deviations of its low-rank part), and how the
    /// MAP and SGD phases ended, as `swag.json` has it.
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let fit = FitDict::new(py);
        fit.trace("log_density", self.map.trace.iter().chain(&self.trace))?;
        let g = &self.gaussian;
        let d = g.mean.len();
        fit.array("swa_mean", &["theta"], &[d], &g.mean)?;
        fit.array("swa_variance", &["theta"], &[d], &g.variance)?;
        let deviations: Vec<f64> = g.deviations.iter().flatten().copied().collect();
        let shape = [g.deviations.len(), d];
        fit.array("swa_deviations", &["rank", "theta"], &shape, &deviations)?;
        fit.scalar("snapshots", self.snapshots)?;
        fit.scalar("rank", g.deviations.len())?;
        fit.scalar("swa_log_density", self.swa_log_density)?;
        fit.scalar("sgd_steps", self.steps)?;
        fit.scalar("skipped_steps", self.skipped_steps)?;
        fit.scalar("gradients", self.gradients)?;
        fit.map_end(&self.map)?;
        fit.done()
    }
}

impl FitToPy for SvgdResult {
    /// An SVGD fit: the trace of the particles' mean log-density and how the fit ended (the
    /// particles are the draws).
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let fit = FitDict::new(py);
        fit.trace("log_density", self.trace.iter())?;
        fit.scalar("steps", self.steps)?;
        fit.scalar("skipped_steps", self.skipped_steps)?;
        fit.scalar("gradients", self.gradients)?;
        fit.scalar("bandwidth", self.bandwidth)?;
        fit.done()
    }
}

impl FitToPy for PathfinderResult {
    /// A Pathfinder run: per path its L-BFGS iterations, the iterate whose Gaussian had the
    /// best ELBO (0: none, the path was dropped), that ELBO and its gradient evaluations, and
    /// the Pareto k̂ of the pooled importance ratios (NaN when there is none), as
    /// `pathfinder.json` has them.
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let fit = FitDict::new(py);
        let n = self.paths.len();
        let iterations: Vec<usize> = self.paths.iter().map(|p| p.iterations).collect();
        let best: Vec<usize> = self
            .paths
            .iter()
            .map(|p| p.best_iteration.unwrap_or(0))
            .collect();
        let elbo: Vec<f64> = self.paths.iter().map(|p| p.elbo).collect();
        let gradients: Vec<usize> = self.paths.iter().map(|p| p.gradients as usize).collect();
        fit.ints("path_iterations", "path", &iterations)?;
        fit.ints("path_best_iteration", "path", &best)?;
        fit.array("path_elbo", &["path"], &[n], &elbo)?;
        fit.ints("path_gradients", "path", &gradients)?;
        fit.scalar("pareto_k", self.pareto_k.unwrap_or(f64::NAN))?;
        fit.done()
    }
}

impl FitToPy for LaplaceResult {
    /// A Laplace fit: the MAP fit's trace and end, the log marginal likelihood, and the
    /// Gaussian over the covered coordinates of θ (their indices, marginal variances and, for
    /// a dense precision, the covariance), as `laplace.json` has it.
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let fit = FitDict::new(py);
        fit.trace("log_density", self.map.trace.iter())?;
        fit.scalar("log_marginal_likelihood", self.log_evidence)?;
        fit.scalar("log_det_precision", self.log_det_precision)?;
        fit.scalar("hessian_vector_products", self.hessian_vector_products)?;
        fit.scalar("gradients", self.map.gradients)?;
        fit.map_end(&self.map)?;
        fit.ints("coordinates", "coordinate", &self.coordinates)?;
        let k = self.coordinates.len();
        match &self.factor {
            Factor::Diagonal(p) => {
                let variance: Vec<f64> = p.iter().map(|x| 1.0 / x).collect();
                fit.array("variance", &["coordinate"], &[k], &variance)?;
            }
            Factor::Dense(_) => {
                let cov = self.covariance();
                let variance: Vec<f64> = cov.diagonal().iter().copied().collect();
                fit.array("variance", &["coordinate"], &[k], &variance)?;
                let dims = ["coordinate", "coordinate2"];
                // Row-major: the transpose's column-major storage.
                fit.array("covariance", &dims, &[k, k], cov.transpose().as_slice())?;
            }
        }
        fit.done()
    }
}
