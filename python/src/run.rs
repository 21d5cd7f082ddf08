//! Runs an engine off the Python thread: the GIL is released while the chains run, Python's
//! signal handlers (Ctrl-C) run at every poll and set the run's interrupt flag, and a Python
//! progress callback is fed from counters the chains update.

use crate::bytes::f64_bytes;
use bnnppl::draws::{MemoryFactory, MemorySink, Save};
use bnnppl::engine::{Engine, EngineError, Phase, ProgressEvent, RunControl, RunReport, SviResult};
use bnnppl::posterior::Posterior;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
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

/// Runs `engine` on `posterior` keeping every parameter and predict quantity in memory, with
/// the predict block's draws seeded by `seed` — what the CLI's runs write to their chain files.
/// `progress(done, total, divergences)` is called from this thread about every [`POLL`].
pub fn run_watched<E: Engine>(
    py: Python<'_>,
    engine: &E,
    posterior: &Posterior,
    seed: u64,
    threads: Option<usize>,
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
        threads,
        chain_ids: None,
        interrupt: interrupt.clone(),
        progress: Some(hook),
    };
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

/// What an engine's chain leaves besides its draws, as a Python value.
pub trait FitToPy {
    /// `None` for samplers; a dict for a fitting engine.
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>>;
}

impl FitToPy for () {
    fn to_py<'py>(&self, _py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        Ok(None)
    }
}

impl FitToPy for SviResult {
    /// The ELBO trace (step, estimate, smoothed), how the fit ended, and the guide on the
    /// unconstrained scale θ (its kind, loc and marginal scales).
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let fit = PyDict::new(py);
        let elbo: Vec<f64> = self.trace.iter().map(|p| p.elbo).collect();
        let smoothed: Vec<f64> = self.trace.iter().map(|p| p.smoothed).collect();
        fit.set_item("elbo", f64_bytes(py, &elbo))?;
        fit.set_item("elbo_smoothed", f64_bytes(py, &smoothed))?;
        fit.set_item("steps", self.trace.len())?;
        fit.set_item("converged", self.converged)?;
        fit.set_item("skipped_steps", self.skipped_steps)?;
        fit.set_item("gradients", self.gradients)?;
        fit.set_item("seconds", self.elapsed.as_secs_f64())?;
        fit.set_item("guide", self.guide.kind.to_string())?;
        fit.set_item("loc", f64_bytes(py, self.guide.loc()))?;
        fit.set_item("scale", f64_bytes(py, &self.guide.scale()))?;
        Ok(Some(fit))
    }
}
