//! Variational fits of a posterior as named draws: [`Posterior::fit_svi`] runs the SVI engine on
//! a model bound to data, and [`SviFit::draws`] turns draws from the fitted guide into the same
//! [`Draws`] that MCMC returns.
//!
//! ```
//! use bnnppl::api::Model;
//! use bnnppl::engine::Svi;
//!
//! let model = Model::from_str("mean.bnn", r#"
//!     data { y: vector[N] }
//!     param { mu: real }
//!     prior { mu ~ normal(0, 10) }
//!     likelihood { y ~ normal(mu, 1) }
//! "#)?;
//! let posterior = model.bind_json(r#"{"N": 4, "y": [1.0, 2.0, 3.0, 2.0]}"#)?;
//! let fit = posterior.fit_svi(&Svi { steps: 2000, lr: 0.05, ..Svi::default() })?;
//! let draws = fit.draws(500, 1);
//! let mu = draws.summary().into_iter().find(|r| r.name == "mu").unwrap();
//! assert!((mu.mean - 2.0).abs() < 0.2, "{}", mu.mean);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::density::Density;
use crate::draws::{columns, ChainDraws, Draws, Expander, Save};
use crate::engine::rng::chain_rng;
use crate::engine::svi::ElboPoint;
use crate::engine::{DrawStats, EngineError, Svi, SviResult};
use crate::posterior::Posterior;

/// The stream of [`chain_rng`] that draws θ from a fitted guide (the fit itself uses stream 0
/// of its own seed).
const GUIDE_DRAW_CHAIN: usize = 1;

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

impl Posterior {
    /// Fits a Gaussian guide by SVI with these settings.
    pub fn fit_svi(&self, svi: &Svi) -> Result<SviFit, EngineError> {
        self.fit_svi_with(svi, &mut |_| true)
    }

    /// Fits a Gaussian guide, calling `on_step` after every step (return false to stop).
    pub fn fit_svi_with(
        &self,
        svi: &Svi,
        on_step: &mut dyn FnMut(&ElboPoint) -> bool,
    ) -> Result<SviFit, EngineError> {
        let mut eval = self.evaluator();
        let result = svi.fit_with(&mut eval, on_step)?;
        Ok(SviFit {
            posterior: self.clone(),
            settings: svi.clone(),
            result,
        })
    }
}

impl SviFit {
    /// Draws `n` values of θ from the guide and calls `each(lp, row)` with log p(θ) (the full
    /// log-density, as NUTS's `lp__`; NaN where it is not finite) and the stored quantities in
    /// CmdStan column order. `seed` drives θ (stream 1 of `chain_rng(seed, ·)`) and the predict
    /// block's draws (as chain 0 of `sample` with that seed).
    pub fn for_each_draw<E>(
        &self,
        n: usize,
        seed: u64,
        save: Save,
        mut each: impl FnMut(f64, &[f64]) -> Result<(), E>,
    ) -> Result<(), E> {
        let guide = &self.result.guide;
        let mut rng = chain_rng(seed, GUIDE_DRAW_CHAIN);
        let mut eval = self.posterior.evaluator();
        let mut expander = Expander::new(&self.posterior, save, seed, 0);
        let mut row = vec![0.0; expander.width()];
        let mut theta = vec![0.0; guide.dim];
        let mut noise = vec![0.0; guide.kind.noise_len(guide.dim)];
        for _ in 0..n {
            guide.sample(&mut rng, &mut noise, &mut theta);
            let lp = eval.log_density(&theta).unwrap_or(f64::NAN);
            expander.expand(&theta, &mut row);
            each(lp, &row)?;
        }
        Ok(())
    }

    /// `n` draws from the guide as named draws (one chain; sampler statistics other than
    /// `lp` are 0).
    pub fn draws(&self, n: usize, seed: u64) -> Draws {
        let (cols, _) = columns(&self.posterior, Save::All);
        let mut chain = ChainDraws::default();
        let _ = self.for_each_draw::<std::convert::Infallible>(n, seed, Save::All, |lp, row| {
            chain.values.extend_from_slice(row);
            chain.stats.push(DrawStats {
                lp,
                accept_stat: 0.0,
                step_size: 0.0,
                tree_depth: 0,
                n_leapfrog: 0,
                divergent: false,
                energy: 0.0,
                warmup: false,
            });
            Ok(())
        });
        Draws {
            columns: cols,
            chains: vec![chain],
        }
    }
}
