//! What engines emit, draw by draw: θ and sampler statistics into per-chain sinks, the optimizer
//! steps of fitting engines, and progress.
//!
//! The engine never sees a name. A caller that writes CmdStan CSV implements [`DrawSink`] and
//! expands θ into named, constrained quantities itself; the library and the tests use the
//! in-memory [`Trace`].

use std::sync::Arc;

use super::checkpoint::ChainState;

/// Sampler statistics of one draw, in Stan's column order (`lp__`, `accept_stat__`, …).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DrawStats {
    /// log p(θ) of the draw, up to the density's constant (`lp__`).
    pub lp: f64,
    /// Mean Metropolis acceptance probability over the trajectory (`accept_stat__`).
    pub accept_stat: f64,
    /// Leapfrog step size used for this draw (`stepsize__`).
    pub step_size: f64,
    /// Number of trajectory doublings (`treedepth__`); 0 for static HMC.
    pub tree_depth: u32,
    /// Number of leapfrog steps taken (`n_leapfrog__`).
    pub n_leapfrog: u64,
    /// Whether the trajectory diverged (`divergent__`).
    pub divergent: bool,
    /// Hamiltonian −log p(θ) + ½ pᵀM⁻¹p at the draw (`energy__`).
    pub energy: f64,
    /// Whether the draw was made during warmup (adaptation still running).
    pub warmup: bool,
}

/// What warmup settled on, reported once per chain when adaptation ends.
#[derive(Debug, Clone, PartialEq)]
pub struct Adaptation {
    /// Step size used for every draw after warmup.
    pub step_size: f64,
    /// Diagonal of the inverse mass matrix M⁻¹ (length d; the posterior variance estimate).
    /// For a low-rank mass matrix this is its diagonal part, without the low-rank correction.
    pub inv_mass: Vec<f64>,
}

/// Why a sink could not take a draw; ends the chain with a typed error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// Writing failed (disk full, closed pipe, …).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Any other failure, described for the user.
    #[error("{0}")]
    Other(String),
}

/// One optimizer step of a fitting engine (SVI, and every method that optimizes before it
/// draws), as it reaches the sink and the progress hook.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitStep {
    /// Name of the objective, which also names its trace file (`elbo`).
    pub objective: &'static str,
    /// Optimizer step, from 1.
    pub step: usize,
    /// The step's estimate of the objective (noisy with minibatches or Monte Carlo draws).
    pub value: f64,
    /// Exponential moving average of the estimates.
    pub smoothed: f64,
}

/// How a fit ended, reported once by a fitting engine before its first draw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitSummary {
    /// Optimizer steps run (fewer than asked when the fit converged or was interrupted).
    pub steps: usize,
    /// Whether the fit stopped on its convergence test.
    pub converged: bool,
}

/// Receives one chain's output as it is produced.
pub trait DrawSink {
    /// Called once, after the last warmup draw and before the first sampling draw (when warmup
    /// is 0, right before the first sampling draw).
    fn adaptation_done(&mut self, adaptation: &Adaptation) -> Result<(), SinkError>;
    /// Called for every draw, warmup draws included (`stats.warmup` tells them apart).
    /// `theta` is the unconstrained position, length d.
    fn draw(&mut self, theta: &[f64], stats: &DrawStats) -> Result<(), SinkError>;
    /// Called once when the chain stops, finished or interrupted; flush here.
    fn finish(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
    /// Called after every optimizer step of a fitting engine; samplers never call it.
    fn fit_step(&mut self, step: &FitStep) -> Result<(), SinkError> {
        let _ = step;
        Ok(())
    }
    /// Called once by a fitting engine when its fit ends, before the first draw.
    fn fit_done(&mut self, fit: &FitSummary) -> Result<(), SinkError> {
        let _ = fit;
        Ok(())
    }
    /// Called by a sampler that saves resume points: `Some` with the chain's state after its
    /// last draw (at the end of warmup, every few sampling draws and when stopped), `None` once
    /// the chain has made all its draws and needs no resume point. Sinks that keep nothing
    /// ignore it.
    fn checkpoint(&mut self, state: Option<&ChainState>) -> Result<(), SinkError> {
        let _ = state;
        Ok(())
    }
}

/// Makes one sink per chain; shared by the chain threads.
pub trait SinkFactory: Sync {
    /// The per-chain sink.
    type Sink: DrawSink + Send;
    /// The sink of chain `chain` for a density of dimension `dim`.
    fn sink(&self, chain: usize, dim: usize) -> Result<Self::Sink, SinkError>;
}

/// Which part of the run a draw belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Optimizer steps of a fitting engine, before its draws.
    Fitting,
    /// Adaptation of step size and mass matrix; draws are not from the posterior.
    Warmup,
    /// Adaptation is frozen; draws are from the posterior.
    Sampling,
}

/// One progress report, sent after every draw of every chain.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProgressEvent {
    /// Chain id.
    pub chain: usize,
    /// Index of the draw just made, counting warmup and sampling draws from 0; in the
    /// fitting phase, the index of the optimizer step just made, from 0.
    pub draw: usize,
    /// Total number of draws of the chain, warmup included; in the fitting phase, the
    /// number of optimizer steps asked for.
    pub total: usize,
    /// Phase of the draw just made.
    pub phase: Phase,
    /// Divergent transitions of this chain so far, warmup included.
    pub divergences: usize,
    /// The optimizer step just made, in the fitting phase.
    pub fit: Option<FitStep>,
}

/// A progress hook, called from the chain threads (keep it cheap; it runs after every draw).
pub type ProgressFn = Arc<dyn Fn(&ProgressEvent) + Send + Sync>;

/// The draws of one chain, in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainTrace {
    /// Chain id.
    pub chain: usize,
    /// Dimension d of θ.
    pub dim: usize,
    /// Kept draws of θ, row-major: draw i is `theta[i * dim..(i + 1) * dim]`.
    pub theta: Vec<f64>,
    /// Statistics of the kept draws, one per row of `theta`.
    pub stats: Vec<DrawStats>,
    /// Step size and mass matrix warmup settled on, once warmup has finished.
    pub adaptation: Option<Adaptation>,
}

impl ChainTrace {
    /// An empty trace of chain `chain` over θ ∈ ℝ^dim.
    pub fn new(chain: usize, dim: usize) -> Self {
        ChainTrace {
            chain,
            dim,
            theta: Vec::new(),
            stats: Vec::new(),
            adaptation: None,
        }
    }

    /// Number of kept draws.
    pub fn len(&self) -> usize {
        self.stats.len()
    }

    /// Whether no draw was kept.
    pub fn is_empty(&self) -> bool {
        self.stats.is_empty()
    }

    /// θ of kept draw `i`.
    pub fn draw(&self, i: usize) -> &[f64] {
        &self.theta[i * self.dim..(i + 1) * self.dim]
    }

    /// Component `j` of θ over the kept sampling (non-warmup) draws.
    pub fn column(&self, j: usize) -> Vec<f64> {
        assert!(
            j < self.dim,
            "column {j} out of range for dimension {}",
            self.dim
        );
        self.stats
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.warmup)
            .map(|(i, _)| self.theta[i * self.dim + j])
            .collect()
    }

    /// Number of divergent transitions among the kept sampling draws.
    pub fn divergences(&self) -> usize {
        self.stats
            .iter()
            .filter(|s| !s.warmup && s.divergent)
            .count()
    }
}

/// The draws of all chains of a run, in memory, in the order of the chain ids requested.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// One trace per chain.
    pub chains: Vec<ChainTrace>,
    /// Whether the run was interrupted; the chains then hold the draws made before the stop.
    pub interrupted: bool,
}

/// A [`DrawSink`] that keeps the draws in a [`ChainTrace`].
#[derive(Debug, Clone)]
pub struct TraceSink {
    /// Whether warmup draws are kept as well (Stan's `save_warmup`).
    pub keep_warmup: bool,
    /// The draws so far.
    pub trace: ChainTrace,
}

impl DrawSink for TraceSink {
    fn adaptation_done(&mut self, adaptation: &Adaptation) -> Result<(), SinkError> {
        self.trace.adaptation = Some(adaptation.clone());
        Ok(())
    }
    fn draw(&mut self, theta: &[f64], stats: &DrawStats) -> Result<(), SinkError> {
        if stats.warmup && !self.keep_warmup {
            return Ok(());
        }
        self.trace.theta.extend_from_slice(theta);
        self.trace.stats.push(*stats);
        Ok(())
    }
}

/// Makes [`TraceSink`]s.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceFactory {
    /// Whether warmup draws are kept as well (Stan's `save_warmup`).
    pub keep_warmup: bool,
}

impl SinkFactory for TraceFactory {
    type Sink = TraceSink;
    fn sink(&self, chain: usize, dim: usize) -> Result<TraceSink, SinkError> {
        Ok(TraceSink {
            keep_warmup: self.keep_warmup,
            trace: ChainTrace::new(chain, dim),
        })
    }
}
