//! Inference engines over the density seam — NUTS (on nuts-rs), static HMC and SVI — and the
//! one chain runner that drives every engine in parallel threads.
//!
//! Engines see only [`crate::density`]: a [`Target`] hands each chain its own evaluator (value,
//! gradient, and minibatch gradient with its prior/likelihood split), and the chain streams θ and
//! statistics into a [`DrawSink`] made by the caller's [`SinkFactory`] — sampling draws, warmup
//! draws, and a fitting engine's optimizer steps alike. Chain `c` draws from
//! [`rng::chain_rng`]`(seed, c)` (a fitting engine from streams derived from `c`), so its draws
//! do not depend on which other chains run or on the number of threads.
//!
//! The pieces engines share live here too: one [`Init`] and one start finder, the optimizer
//! ([`optim`]: Adam, schedules, clipping) and the minibatch epoch order ([`batches`]).
//!
//! ```
//! use bnnppl::density::FnDensity;
//! use bnnppl::engine::{Engine, Nuts};
//!
//! // A 2-D standard normal.
//! let target = FnDensity::new(2, |x: &[f64], g: &mut [f64]| {
//!     g[0] = -x[0];
//!     g[1] = -x[1];
//!     -0.5 * (x[0] * x[0] + x[1] * x[1])
//! });
//! let nuts = Nuts { chains: 2, warmup: 200, draws: 200, seed: 1, ..Nuts::default() };
//! let trace = nuts.sample(&target).unwrap();
//! assert_eq!(trace.chains.len(), 2);
//! assert_eq!(trace.chains[0].len(), 200);
//! ```

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::density::{Density, DensityError, Target};

mod adapt;
pub mod batches;
pub mod checkpoint;
pub mod descent;
pub mod hmc;
mod init;
pub mod laplace;
pub mod lbfgs;
pub mod leapfrog;
pub mod map;
pub mod mc_dropout;
pub mod nuts;
pub mod optim;
pub mod output;
pub mod pathfinder;
pub mod rng;
pub mod sgmcmc;
pub mod svgd;
pub mod svi;
pub mod swag;

pub use checkpoint::{ChainState, Resume, RngState};
pub use hmc::Hmc;
pub use init::{Init, InitFailure, MAX_INIT_ATTEMPTS, STAN_INIT_BUFFER, STAN_WARMUP};
pub use laplace::{Laplace, LaplaceResult};
pub use map::{Ensemble, Map, MapResult, Optimizer};
pub use mc_dropout::McDropout;
pub use nuts::{MassMatrix, Nuts};
pub use optim::Decay;
pub use output::{
    Adaptation, ChainTrace, DrawSink, DrawStats, FitStep, FitSummary, Phase, ProgressEvent,
    ProgressFn, SinkError, SinkFactory, Trace, TraceFactory, TraceSink,
};
pub use pathfinder::{Pathfinder, PathfinderResult};
pub use sgmcmc::{Dynamics, Sgmcmc};
pub use svgd::{Svgd, SvgdResult};
pub use svi::{GuideDraws, GuideKind, Svi, SviResult};
pub use swag::{MultiSwag, Swag, SwagGaussian, SwagResult};

/// Why a run failed. Recoverable density failures never get here: they are divergences.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// No valid starting point was found.
    #[error("chain {chain}: initialization failed after {attempts} attempt(s): {reason}")]
    Init {
        /// Chain id.
        chain: usize,
        /// Starting points tried.
        attempts: usize,
        /// Why the last one failed.
        reason: InitFailure,
    },
    /// The density failed in a way sampling cannot continue through (a panic, a fatal error).
    #[error("chain {chain}: the density failed at draw {draw}: {source}")]
    Density {
        /// Chain id.
        chain: usize,
        /// Index of the draw being made, warmup included, from 0.
        draw: usize,
        /// The density's error.
        source: DensityError,
    },
    /// The sink could not take a draw.
    #[error("chain {chain}: could not write the output: {source}")]
    Sink {
        /// Chain id.
        chain: usize,
        /// The sink's error.
        source: SinkError,
    },
    /// The settings cannot be run.
    #[error("invalid sampler settings: {0}")]
    Settings(String),
    /// A fitted approximation does not exist where the fit ended (a Laplace precision that is
    /// not positive definite): the model's or the data's doing, not a bug.
    #[error("chain {chain}: {message}")]
    Approximation {
        /// Chain id.
        chain: usize,
        /// What is wrong, naming the parameters.
        message: String,
    },
    /// Every Pathfinder path was dropped: no iterate of any path gave a local Gaussian with a
    /// finite ELBO estimate (or no path found a start).
    #[error("chain {chain}: {message}")]
    NoPath {
        /// Chain id.
        chain: usize,
        /// Each path's reason.
        message: String,
    },
    /// The sampler itself failed (a bug in an engine or in nuts-rs, including a panic).
    #[error("chain {chain}: internal sampler error: {message}")]
    Internal {
        /// Chain id.
        chain: usize,
        /// What went wrong.
        message: String,
    },
}

impl EngineError {
    /// The chain the error belongs to, if any.
    pub fn chain(&self) -> Option<usize> {
        match self {
            EngineError::Init { chain, .. }
            | EngineError::Density { chain, .. }
            | EngineError::Sink { chain, .. }
            | EngineError::Approximation { chain, .. }
            | EngineError::NoPath { chain, .. }
            | EngineError::Internal { chain, .. } => Some(*chain),
            EngineError::Settings(_) => None,
        }
    }
}

/// Checks the step-size settings NUTS and static HMC share: the target acceptance in (0, 1),
/// the jitter in [0, 1) and a positive, finite initial step size.
pub(crate) fn validate_step_size(
    target_accept: f64,
    jitter: f64,
    initial: f64,
) -> Result<(), EngineError> {
    let bad = |m: String| Err(EngineError::Settings(m));
    if !(target_accept > 0.0 && target_accept < 1.0) {
        return bad(format!(
            "target_accept must be in (0, 1), got {target_accept}"
        ));
    }
    if !(0.0..1.0).contains(&jitter) {
        return bad(format!("step_size_jitter must be in [0, 1), got {jitter}"));
    }
    if !(initial.is_finite() && initial > 0.0) {
        return bad(format!(
            "initial_step_size must be positive and finite, got {initial}"
        ));
    }
    Ok(())
}

/// How a run is executed: threads, which chains, interruption and progress.
#[derive(Clone, Default)]
pub struct RunControl {
    /// Worker threads; `None` uses one per chain, at most the number of available cores.
    pub threads: Option<usize>,
    /// Which chain ids to run; `None` runs `0..chains`. Chain `k` gives the same draws whether
    /// it runs alone or among others.
    pub chain_ids: Option<Vec<usize>>,
    /// Set to true (e.g. from a Ctrl-C handler) to stop every chain after its current draw;
    /// what was written stays written and the report says `Interrupted`.
    pub interrupt: Arc<AtomicBool>,
    /// Called after every draw of every chain, from the chain's thread.
    pub progress: Option<ProgressFn>,
}

impl std::fmt::Debug for RunControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunControl")
            .field("threads", &self.threads)
            .field("chain_ids", &self.chain_ids)
            .field("interrupt", &self.interrupt.load(Ordering::Relaxed))
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// How a chain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainStatus {
    /// All warmup and sampling draws were made.
    Finished,
    /// The interrupt flag (or another chain's failure) stopped the chain early.
    Interrupted,
}

/// What one chain did, with its sink and what the engine left besides draws.
#[derive(Debug)]
pub struct ChainReport<S, X = ()> {
    /// Chain id.
    pub chain: usize,
    /// Finished or interrupted.
    pub status: ChainStatus,
    /// Warmup draws made.
    pub warmup_draws: usize,
    /// Sampling draws made.
    pub draws: usize,
    /// Divergent transitions among the sampling draws.
    pub divergences: usize,
    /// Divergent transitions during warmup.
    pub warmup_divergences: usize,
    /// Leapfrog steps (gradient evaluations in trajectories), warmup included.
    pub n_leapfrog: u64,
    /// Optimizer steps of a fitting engine (0 for samplers).
    pub fit_steps: usize,
    /// Wall-clock time of the chain.
    pub elapsed: Duration,
    /// The chain's sink, with whatever it kept.
    pub sink: S,
    /// What the engine left besides draws ([`Engine::Fit`]): nothing for samplers, the fitted
    /// guide for SVI.
    pub fit: X,
}

/// What a run did, one report per chain in the order of the chain ids.
#[derive(Debug)]
pub struct RunReport<S, X = ()> {
    /// Per-chain reports.
    pub chains: Vec<ChainReport<S, X>>,
}

impl<S, X> RunReport<S, X> {
    /// Whether any chain was interrupted.
    pub fn interrupted(&self) -> bool {
        self.chains
            .iter()
            .any(|c| c.status == ChainStatus::Interrupted)
    }
}

impl<X> RunReport<TraceSink, X> {
    /// The in-memory draws of all chains.
    pub fn into_trace(self) -> Trace {
        let interrupted = self.interrupted();
        Trace {
            chains: self.chains.into_iter().map(|c| c.sink.trace).collect(),
            interrupted,
        }
    }
}

/// The per-chain view of the run an engine writes into: sink, progress, interruption, counts.
pub struct ChainOutput<'a, S> {
    chain: usize,
    sink: &'a mut S,
    interrupt: &'a AtomicBool,
    abort: &'a AtomicBool,
    progress: Option<&'a dyn Fn(&ProgressEvent)>,
    warmup: usize,
    total: usize,
    fit_total: usize,
    warmup_draws: usize,
    draws: usize,
    divergences: usize,
    warmup_divergences: usize,
    n_leapfrog: u64,
    fit_steps: usize,
    interrupted: bool,
}

impl<S: DrawSink> ChainOutput<'_, S> {
    /// Chain id.
    pub fn chain(&self) -> usize {
        self.chain
    }

    /// Index of the next draw, warmup included.
    pub fn next_draw(&self) -> usize {
        self.warmup_draws + self.draws
    }

    /// True when the chain must stop before its next draw; engines call this between draws.
    pub fn stop_requested(&mut self) -> bool {
        if self.interrupt.load(Ordering::Relaxed) || self.abort.load(Ordering::Relaxed) {
            self.interrupted = true;
        }
        self.interrupted
    }

    /// Starts the counts at draw `next_draw` (warmup included) for a chain resumed there, whose
    /// earlier draws are already written.
    pub fn resume_at(&mut self, next_draw: usize) {
        self.warmup_draws = next_draw.min(self.warmup);
        self.draws = next_draw - self.warmup_draws;
    }

    /// Passes the chain's resume point to the sink (`None`: the chain is complete).
    pub fn checkpoint(&mut self, state: Option<&ChainState>) -> Result<(), EngineError> {
        self.sink
            .checkpoint(state)
            .map_err(|source| EngineError::Sink {
                chain: self.chain,
                source,
            })
    }

    /// Reports the end of warmup to the sink.
    pub fn adaptation_done(&mut self, adaptation: &Adaptation) -> Result<(), EngineError> {
        self.sink
            .adaptation_done(adaptation)
            .map_err(|source| EngineError::Sink {
                chain: self.chain,
                source,
            })
    }

    /// Passes one draw to the sink and the progress hook, and counts it.
    pub fn draw(&mut self, theta: &[f64], stats: &DrawStats) -> Result<(), EngineError> {
        let index = self.next_draw();
        debug_assert_eq!(stats.warmup, index < self.warmup);
        self.sink
            .draw(theta, stats)
            .map_err(|source| EngineError::Sink {
                chain: self.chain,
                source,
            })?;
        self.n_leapfrog += stats.n_leapfrog;
        let phase = if stats.warmup {
            self.warmup_draws += 1;
            self.warmup_divergences += stats.divergent as usize;
            Phase::Warmup
        } else {
            self.draws += 1;
            self.divergences += stats.divergent as usize;
            Phase::Sampling
        };
        if let Some(progress) = self.progress {
            progress(&ProgressEvent {
                chain: self.chain,
                draw: index,
                total: self.total,
                phase,
                divergences: self.divergences + self.warmup_divergences,
                fit: None,
            });
        }
        Ok(())
    }

    /// Passes one optimizer step of a fitting engine to the sink and the progress hook.
    pub fn fit_step(&mut self, step: &FitStep) -> Result<(), EngineError> {
        self.sink
            .fit_step(step)
            .map_err(|source| EngineError::Sink {
                chain: self.chain,
                source,
            })?;
        self.fit_steps += 1;
        if let Some(progress) = self.progress {
            progress(&ProgressEvent {
                chain: self.chain,
                draw: step.step.saturating_sub(1),
                total: self.fit_total,
                phase: Phase::Fitting,
                divergences: 0,
                fit: Some(*step),
            });
        }
        Ok(())
    }

    /// Reports the end of a fitting engine's fit to the sink, before its first draw.
    pub fn fit_done(&mut self, fit: &FitSummary) -> Result<(), EngineError> {
        self.sink.fit_done(fit).map_err(|source| EngineError::Sink {
            chain: self.chain,
            source,
        })
    }
}

/// An engine's settings as the `# key = value` configuration lines of its output, in two groups
/// so every engine's header has the same frame: `run` is written after the model's identity
/// (seed, draws, the engine's main settings), `tuning` after the model's network list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Header {
    /// Run settings (`seed`, `num_samples`, …).
    pub run: Vec<(String, String)>,
    /// Algorithm details written last (`max_depth`, `metric`, …).
    pub tuning: Vec<(String, String)>,
}

/// An inference engine that runs chains over a [`Target`]: a sampler (NUTS, HMC) or a fitting
/// method whose chain optimizes then draws (SVI). Every engine runs through [`Engine::run`]:
/// one panic guard, one way to stop, one sink per chain.
pub trait Engine: Sync {
    /// What one chain leaves besides its draws: `()` for samplers, the fitted guide for SVI.
    type Fit: Send + std::fmt::Debug;

    /// The engine's name in the output's configuration (`nuts`, `hmc`, `svi`).
    fn name(&self) -> &'static str;
    /// Number of chains run when [`RunControl::chain_ids`] is `None`.
    fn chains(&self) -> usize;
    /// Warmup draws per chain.
    fn warmup(&self) -> usize;
    /// Sampling draws per chain.
    fn draws(&self) -> usize;
    /// Optimizer steps a chain may run before its draws; 0 for samplers.
    fn fit_steps(&self) -> usize {
        0
    }
    /// Whether successive draws form a Markov chain with sampler diagnostics (divergences,
    /// tree depth, E-BFMI); false for independent draws from a fitted approximation.
    fn is_markov_chain(&self) -> bool {
        true
    }
    /// Whether the engine drops units of the density's dropout sites (MC dropout); every other
    /// engine runs a dropout layer as the identity, as the density computes it.
    fn drops_units(&self) -> bool {
        false
    }
    /// The settings for the output's configuration lines.
    fn header(&self) -> Header;
    /// Checks the settings against a density of dimension `dim` with `n_rows` likelihood rows,
    /// before anything runs (a command checks before it creates its output); [`Engine::run`]
    /// checks again in every chain.
    fn check_settings(&self, dim: usize, n_rows: usize) -> Result<(), EngineError>;

    /// Runs chain `chain` on its own evaluator, writing into `out` and checking
    /// [`ChainOutput::stop_requested`] between draws (and optimizer steps). Called by
    /// [`Engine::run`], which guards the density against panics; call `run` rather than this.
    fn run_chain<D: Density, S: DrawSink>(
        &self,
        density: D,
        chain: usize,
        out: &mut ChainOutput<'_, S>,
    ) -> Result<Self::Fit, EngineError>;

    /// Runs the chains in parallel threads, each writing into its own sink.
    ///
    /// If a chain fails, the others stop after their current draw and the error of the
    /// lowest-numbered failed chain is returned; sinks are finished (flushed) either way.
    fn run<T: Target, F: SinkFactory>(
        &self,
        target: &T,
        sinks: &F,
        control: &RunControl,
    ) -> Result<RunReport<F::Sink, Self::Fit>, EngineError>
    where
        Self: Sized,
    {
        run_chains(self, target, sinks, control)
    }

    /// Runs all chains on all available cores and keeps the sampling draws in memory.
    fn sample<T: Target>(&self, target: &T) -> Result<Trace, EngineError>
    where
        Self: Sized,
    {
        let report = self.run(target, &TraceFactory::default(), &RunControl::default())?;
        Ok(report.into_trace())
    }
}

/// The shared chain runner behind [`Engine::run`].
fn run_chains<E: Engine, T: Target, F: SinkFactory>(
    engine: &E,
    target: &T,
    sinks: &F,
    control: &RunControl,
) -> Result<RunReport<F::Sink, E::Fit>, EngineError> {
    let ids: Vec<usize> = match &control.chain_ids {
        Some(ids) => ids.clone(),
        None => (0..engine.chains()).collect(),
    };
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return Err(EngineError::Settings(format!(
            "chain ids must be distinct, got {ids:?}"
        )));
    }
    let threads = control
        .threads
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
        .clamp(1, ids.len().max(1));

    let next = AtomicUsize::new(0);
    let abort = AtomicBool::new(false);
    type Slot<S, X> = Option<Result<ChainReport<S, X>, EngineError>>;
    let results: Mutex<Vec<Slot<F::Sink, E::Fit>>> =
        Mutex::new((0..ids.len()).map(|_| None).collect());

    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::SeqCst);
                if k >= ids.len() {
                    break;
                }
                if abort.load(Ordering::SeqCst) {
                    continue;
                }
                let chain = ids[k];
                let result = sinks
                    .sink(chain, target.dim())
                    .map_err(|source| EngineError::Sink { chain, source })
                    .and_then(|sink| {
                        let progress = control.progress.as_deref().map(|p| p as _);
                        let stop = Stop {
                            interrupt: &control.interrupt,
                            abort: &abort,
                        };
                        run_one(engine, target, sink, chain, stop, progress)
                    });
                if result.is_err() {
                    abort.store(true, Ordering::SeqCst);
                }
                results.lock().expect("internal: results lock")[k] = Some(result);
            });
        }
    });

    let results = results.into_inner().expect("internal: results lock");
    let mut chains = Vec::with_capacity(ids.len());
    let mut first_error = None;
    for result in results.into_iter().flatten() {
        match result {
            Ok(report) => chains.push(report),
            Err(e) => {
                let chain = e.chain().unwrap_or(usize::MAX);
                let replace = match &first_error {
                    None => true,
                    Some((c, _)) => chain < *c,
                };
                if replace {
                    first_error = Some((chain, e));
                }
            }
        }
    }
    match first_error {
        Some((_, e)) => Err(e),
        None => Ok(RunReport { chains }),
    }
}

/// The two flags that stop a chain after its current draw: the caller's interrupt and the run's
/// abort (another chain failed).
#[derive(Clone, Copy)]
pub struct Stop<'a> {
    /// Set by the caller (Ctrl-C, a library hook).
    pub interrupt: &'a AtomicBool,
    /// Set by the runner when another chain fails.
    pub abort: &'a AtomicBool,
}

/// Runs one chain in the calling thread: its evaluator behind the panic guard, the given sink,
/// its report. [`Engine::run`] calls this on its worker threads; a library caller that needs a
/// progress hook borrowing local state (not `'static`) calls it directly.
pub fn run_one<E: Engine, T: Target, S: DrawSink>(
    engine: &E,
    target: &T,
    mut sink: S,
    chain: usize,
    stop: Stop<'_>,
    progress: Option<&dyn Fn(&ProgressEvent)>,
) -> Result<ChainReport<S, E::Fit>, EngineError> {
    let start = Instant::now();
    let evaluator = catch_unwind(AssertUnwindSafe(|| target.evaluator())).map_err(|payload| {
        EngineError::Density {
            chain,
            draw: 0,
            source: DensityError::Panicked(init::panic_message(&*payload)),
        }
    })?;
    let warmup = engine.warmup();
    let mut out = ChainOutput {
        chain,
        sink: &mut sink,
        interrupt: stop.interrupt,
        abort: stop.abort,
        progress,
        warmup,
        total: warmup + engine.draws(),
        fit_total: engine.fit_steps(),
        warmup_draws: 0,
        draws: 0,
        divergences: 0,
        warmup_divergences: 0,
        n_leapfrog: 0,
        fit_steps: 0,
        interrupted: false,
    };
    // The guard catches panics in the density; this one catches panics in the engine itself
    // (nuts-rs asserts, our own bugs), so a chain never takes the process down.
    let result = catch_unwind(AssertUnwindSafe(|| {
        engine.run_chain(init::Guarded(evaluator), chain, &mut out)
    }))
    .unwrap_or_else(|payload| {
        Err(EngineError::Internal {
            chain,
            message: format!("panic: {}", init::panic_message(&*payload)),
        })
    });
    let status = if out.interrupted {
        ChainStatus::Interrupted
    } else {
        ChainStatus::Finished
    };
    let (warmup_draws, draws, divergences, warmup_divergences, n_leapfrog, fit_steps) = (
        out.warmup_draws,
        out.draws,
        out.divergences,
        out.warmup_divergences,
        out.n_leapfrog,
        out.fit_steps,
    );
    let finished = sink.finish();
    let fit = result?;
    finished.map_err(|source| EngineError::Sink { chain, source })?;
    Ok(ChainReport {
        chain,
        status,
        warmup_draws,
        draws,
        divergences,
        warmup_divergences,
        n_leapfrog,
        fit_steps,
        elapsed: start.elapsed(),
        sink,
        fit,
    })
}
