//! Running any engine on a posterior in memory: named draws plus each chain's fit, and the
//! SVI conveniences (a fit with a step hook, draws from a fitted guide) on the same road.

use super::{columns, Draws, MemoryFactory, Save};
use crate::engine::svi::ElboPoint;
use crate::engine::{
    run_one, Engine, EngineError, GuideDraws, Nuts, ProgressEvent, RunControl, SinkFactory, Stop,
    Svi, SviResult, TraceFactory,
};
use crate::posterior::Posterior;
use std::sync::atomic::{AtomicBool, Ordering};

/// A run's named draws and what each chain's engine left besides them ([`Engine::Fit`]).
#[derive(Debug, Clone)]
pub struct Run<X> {
    /// The draws of every chain.
    pub draws: Draws,
    /// One per chain, in chain-id order.
    pub fits: Vec<X>,
}

impl Posterior {
    /// Runs any engine (all chains on all cores) and returns the named draws (every parameter
    /// and predict quantity) with each chain's [`Engine::Fit`]. `seed` drives the predict
    /// block's draws.
    pub fn run<E: Engine>(&self, engine: &E, seed: u64) -> Result<Run<E::Fit>, EngineError> {
        let factory = MemoryFactory {
            posterior: self.clone(),
            save: Save::All,
            seed,
        };
        let report = engine.run(self, &factory, &RunControl::default())?;
        let (columns, _) = columns(self, Save::All);
        let (chains, fits) = report
            .chains
            .into_iter()
            .map(|c| (c.sink.draws, c.fit))
            .unzip();
        Ok(Run {
            draws: Draws { columns, chains },
            fits,
        })
    }

    /// Samples with any engine and returns the named draws; see [`Posterior::run`].
    pub fn sample_with<E: Engine>(&self, engine: &E, seed: u64) -> Result<Draws, EngineError> {
        Ok(self.run(engine, seed)?.draws)
    }

    /// Samples with NUTS and returns the named draws.
    pub fn sample(&self, nuts: &Nuts) -> Result<Draws, EngineError> {
        self.sample_with(nuts, nuts.seed)
    }

    /// Fits a Gaussian guide by SVI with these settings (no draws are made; see
    /// [`SviFit::draws`]).
    pub fn fit_svi(&self, svi: &Svi) -> Result<SviFit, EngineError> {
        self.fit_svi_with(svi, &mut |_| true)
    }

    /// Fits a Gaussian guide as chain 0 of an [`Engine::run`] would, calling `on_step` after
    /// every step (return false to stop).
    pub fn fit_svi_with(
        &self,
        svi: &Svi,
        on_step: &mut dyn FnMut(&ElboPoint) -> bool,
    ) -> Result<SviFit, EngineError> {
        let fit_only = Svi {
            draws: 0,
            ..svi.clone()
        };
        let interrupt = AtomicBool::new(false);
        let abort = AtomicBool::new(false);
        let hook = std::cell::RefCell::new(on_step);
        let progress = |e: &ProgressEvent| {
            if let Some(step) = e.fit {
                let point = ElboPoint {
                    step: step.step,
                    elbo: step.value,
                    smoothed: step.smoothed,
                };
                if !(hook.borrow_mut())(&point) {
                    interrupt.store(true, Ordering::Relaxed);
                }
            }
        };
        let sink = TraceFactory::default()
            .sink(0, self.layout().dim())
            .map_err(|source| EngineError::Sink { chain: 0, source })?;
        let stop = Stop {
            interrupt: &interrupt,
            abort: &abort,
        };
        let report = run_one(&fit_only, self, sink, 0, stop, Some(&progress))?;
        Ok(SviFit {
            posterior: self.clone(),
            settings: svi.clone(),
            result: report.fit,
        })
    }
}

/// A guide fitted to a posterior.
#[derive(Debug, Clone)]
pub struct SviFit {
    /// The posterior the guide approximates.
    pub posterior: Posterior,
    /// The settings of the fit.
    pub settings: Svi,
    /// The fitted guide, ELBO trace and counts.
    pub result: SviResult,
}

impl SviFit {
    /// `n` draws from the guide as named draws (one chain; sampler statistics other than
    /// `lp` are 0), as [`GuideDraws`] makes them: `seed` drives θ (the stream an SVI run with
    /// that seed draws from) and the predict block's draws.
    pub fn draws(&self, n: usize, seed: u64) -> Draws {
        let engine = GuideDraws {
            guide: self.result.guide.clone(),
            draws: n,
            seed,
        };
        self.posterior
            .sample_with(&engine, seed)
            .expect("internal: the guide was fitted to this posterior")
    }
}
