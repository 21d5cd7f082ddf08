//! Stochastic variational inference over θ as an engine: Gaussian guides fitted by Adam on a
//! reparameterized, optionally minibatched ELBO (Bayes by Backprop), then draws from the guide.
//!
//! The objective is ELBO(φ) = E_q[log p(θ)] + H[q] [BCKW15, eq. 1; KW14]: the expectation is
//! estimated with `particles` draws of the noise and differentiated by the reparameterization
//! trick through the seam's gradient g = ∇_θ log p(θ); the entropy H is in closed form
//! ([`guide`]). With minibatches, log p is replaced by [`Density::minibatch_grad`]'s prior +
//! (N/B)·Σ over B rows, an unbiased estimate because every batch is a uniform random B-subset
//! ([`Batches`]).
//!
//! As an [`Engine`], a chain is one fit followed by [`Svi::draws`] independent draws from the
//! fitted guide: the optimizer steps stream to the sink as [`FitStep`]s (the ELBO trace), the
//! draws as rows of θ like any sampler's, and the fitted guide comes back as the chain's
//! [`Engine::Fit`]. [`GuideDraws`] is the draw phase alone, for a guide fitted earlier.
//!
//! References:
//! - [KW14] Kingma & Welling, Auto-Encoding Variational Bayes, ICLR 2014.
//! - [BCKW15] Blundell, Cornebise, Kavukcuoglu & Wierstra, Weight Uncertainty in Neural
//!   Networks, ICML 2015.
//! - [KB15] Kingma & Ba, Adam: A Method for Stochastic Optimization, ICLR 2015 (Algorithm 1).
//! - [RMW14] Rezende, Mohamed & Wierstra, Stochastic Backpropagation, ICML 2014 (low-rank
//!   Gaussian).
//! - [RWD17] Roeder, Wu & Duvenaud, Sticking the Landing: Simple, Lower-Variance Gradient
//!   Estimators for Variational Inference, NeurIPS 2017.

pub mod guide;

use rand::Rng;

use super::batches::Batches;
use super::descent::{Descent, Flow, Rule, StepError};
use super::init::find_start;
use super::optim::{ascend, validate_clip, Ascent};
use super::output::{FitStep, FitSummary};
use super::rng::chain_rng;
use super::{ChainOutput, DrawSink, DrawStats, Engine, EngineError, Header};
use crate::density::{Curvature, Density, DensityError};

pub use super::optim::Decay;
pub use super::Init;
pub use guide::{Estimator, Guide, GuideKind, Scratch};

/// Settings of a variational fit.
#[derive(Debug, Clone, PartialEq)]
pub struct Svi {
    /// Covariance family of the Gaussian guide.
    pub guide: GuideKind,
    /// Maximum number of optimizer steps (one minibatch each).
    pub steps: usize,
    /// Adam's base step size α [KB15].
    pub lr: f64,
    /// Adam's β₁ and β₂ [KB15].
    pub betas: (f64, f64),
    /// Adam's ε [KB15].
    pub eps: f64,
    /// Monte Carlo draws of θ per step for the ELBO and its gradient.
    pub particles: usize,
    /// Rows per minibatch; `None` (or ≥ N) uses every row at every step.
    pub batch_size: Option<usize>,
    /// Stop when the smoothed ELBO changes by less than `tol` (relative to max(|ELBO|, 1))
    /// over `window` steps; 0 runs all `steps`.
    pub tol: f64,
    /// Steps over which the relative change of the smoothed ELBO is measured; the EMA's
    /// weight is 2 / (window + 1).
    pub window: usize,
    /// Seed of the initial point, the batches, the noise and the draws.
    pub seed: u64,
    /// Learning-rate schedule.
    pub decay: Decay,
    /// Rescale the gradient with respect to the guide parameters to this Euclidean norm when it
    /// is longer; `None` never clips.
    pub clip: Option<f64>,
    /// Where the guide's loc starts. [`Init::Map`] ascends with this fit's learning rate,
    /// clipping and minibatches; [`Init::User`] starts the loc at the given θ.
    pub init: Init,
    /// Initial guide scale (every softplus scale, and the diagonal of L), as NumPyro's
    /// `init_scale`.
    pub init_scale: f64,
    /// Draws from the fitted guide made by each chain after its fit.
    pub draws: usize,
    /// How the guide's parameters start (the loc's point comes from `init`).
    pub start: Start,
    /// The KL weight and the gradient estimator.
    pub estimator: Estimator,
    /// Start from this guide (of this fit's family and dimension) instead of building one.
    pub warm_start: Option<Guide>,
}

impl Default for Svi {
    fn default() -> Self {
        Svi {
            guide: GuideKind::MeanField,
            steps: 5000,
            lr: 0.01,
            betas: (0.9, 0.999),
            eps: 1e-8,
            particles: 1,
            batch_size: None,
            tol: 0.0,
            window: 100,
            seed: 1,
            decay: Decay::None,
            clip: None,
            init: Init::default(),
            init_scale: 0.1,
            draws: 1000,
            start: Start::Auto,
            estimator: Estimator::default(),
            warm_start: None,
        }
    }
}

/// How a fit's guide starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The loc at the `init` point, every diagonal scale `init_scale`, the factor at zero
    /// (full rank) or small (low rank).
    Point,
    /// A Laplace approximation: L-BFGS from the `init` point to the mode, then the guide of the
    /// family nearest N(mode, P⁻¹), P the curvature of −log p there (the Gauss-Newton matrix,
    /// or the Hessian where that is not positive definite).
    Laplace,
    /// Mean field: [`Start::Point`]. Full and low rank: a mean-field guide is fitted first with
    /// the same settings (its steps come first in the trace); the richer guide then starts at
    /// whichever of that fit and the Laplace start has the higher ELBO (estimated on
    /// [`START_ELBO_DRAWS`] draws, the same for both), and runs its steps at the rate of
    /// [`GuideKind::refine_lr`]; above d = [`MAX_FULL_RANK_DIM`] the Laplace start is not
    /// tried (its d × d factor). A richer family contains mean field, so starting at mean
    /// field's optimum and refining slowly cannot end much below it. At Adam's mean-field
    /// rate the factor's entries random-walk on the gradient noise and drag the ELBO down
    /// (measured on regression_1d, d = 152: from mean field's optimum, −114, the full-rank fit
    /// ends at −909 at lr 0.01, −191 at 0.001, −114 at 0.0001). On a Gaussian posterior the
    /// Laplace start is exact and wins.
    Auto,
}

/// The largest d a full-rank guide (and [`Start::Auto`]'s Laplace start) is built for.
pub const MAX_FULL_RANK_DIM: usize = 2000;

/// Draws of the ELBO estimates that choose [`Start::Auto`]'s start.
pub const START_ELBO_DRAWS: usize = 200;

/// One point of the ELBO trace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ElboPoint {
    /// Optimizer step, from 1.
    pub step: usize,
    /// The step's ELBO estimate (noisy: `particles` draws, one minibatch).
    pub elbo: f64,
    /// Exponential moving average of the estimates, weight 2 / (window + 1).
    pub smoothed: f64,
}

impl From<ElboPoint> for FitStep {
    fn from(p: ElboPoint) -> FitStep {
        FitStep {
            objective: "elbo",
            step: p.step,
            value: p.elbo,
            smoothed: p.smoothed,
        }
    }
}

/// A fitted guide and how the fit went.
#[derive(Debug, Clone)]
pub struct SviResult {
    /// The fitted guide.
    pub guide: Guide,
    /// ELBO per step.
    pub trace: Vec<ElboPoint>,
    /// Whether the run stopped on `tol` before `steps`.
    pub converged: bool,
    /// Whether the caller's step hook stopped the run (e.g. Ctrl-C).
    pub interrupted: bool,
    /// Steps whose ELBO could not be evaluated (a non-finite value at a particle) and were
    /// skipped without an update.
    pub skipped_steps: usize,
    /// Gradient evaluations of the density, initialization and MAP warm start included.
    pub gradients: u64,
    /// Wall-clock time of the fit (the draws after it not included).
    pub elapsed: std::time::Duration,
}

impl SviResult {
    /// One draw θ ~ q into `theta`, using `noise` (length d, or d + k for low rank) as scratch.
    pub fn sample(&self, rng: &mut impl Rng, noise: &mut [f64], theta: &mut [f64]) {
        self.guide.sample(rng, noise, theta);
    }

    /// `n` draws of θ from the guide, row-major (n × d).
    pub fn draws(&self, n: usize, rng: &mut impl Rng) -> Vec<f64> {
        let d = self.guide.dim;
        let mut noise = vec![0.0; self.guide.kind.noise_len(d)];
        let mut out = vec![0.0; n * d];
        for row in out.chunks_mut(d.max(1)).take(n) {
            self.guide.sample(rng, &mut noise, row);
        }
        out
    }
}

/// The random stream of chain `chain`'s fit: stream 2c of the seed's [`chain_rng`] family, so
/// chain 0 fits on stream 0 and draws on stream 1.
fn fit_rng(seed: u64, chain: usize) -> rand_chacha::ChaCha8Rng {
    chain_rng(seed, 2 * chain)
}

/// The random stream of chain `chain`'s draws from its fitted guide: stream 2c + 1.
fn draw_rng(seed: u64, chain: usize) -> rand_chacha::ChaCha8Rng {
    chain_rng(seed, 2 * chain + 1)
}

impl Svi {
    fn validate(&self, d: usize, n_rows: usize) -> Result<(), EngineError> {
        let bad = |m: String| Err(EngineError::Settings(m));
        if self.particles == 0 {
            return bad("particles must be at least 1".into());
        }
        if let Some(g) = &self.warm_start {
            if g.kind != self.guide || g.dim != d || g.params.len() != 2 * d + g.kind.factor_len(d)
            {
                return bad(format!(
                    "the warm-start guide is a {} guide over {} coordinates; this fit needs a {} \
                     guide over {d}",
                    g.kind, g.dim, self.guide
                ));
            }
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad(format!(
                "the learning rate must be positive, got {}",
                self.lr
            ));
        }
        if !(self.init_scale > 0.0 && self.init_scale.is_finite()) {
            return bad(format!(
                "the initial scale must be positive, got {}",
                self.init_scale
            ));
        }
        if let Some(0) = self.batch_size {
            return bad("the batch size must be at least 1".into());
        }
        let beta = self.estimator.kl_weight;
        if !(beta > 0.0 && beta.is_finite()) {
            return bad(format!("the KL weight must be positive, got {beta}"));
        }
        if self.batch_size.is_some_and(|b| b < n_rows) && n_rows == 0 {
            return bad("minibatches need a likelihood over rows".into());
        }
        if let GuideKind::LowRank { rank } = self.guide {
            if rank == 0 {
                return bad("the low-rank guide needs rank at least 1".into());
            }
        }
        self.decay.validate().or_else(bad)?;
        validate_clip(self.clip).or_else(bad)?;
        if self.guide == GuideKind::FullRank && d > MAX_FULL_RANK_DIM {
            return bad(format!(
                "the full-rank guide has d(d+3)/2 parameters; d = {d} is too many, use low-rank"
            ));
        }
        Ok(())
    }

    /// Fits the guide to `density` as chain 0 does; see [`Svi::fit_with`].
    pub fn fit<D: Density + ?Sized>(&self, density: &mut D) -> Result<SviResult, EngineError> {
        self.fit_with(density, 0, &mut |_| true)
    }

    /// Fits the guide to `density` for chain `chain`, calling `on_step` after every step; it
    /// returns false to stop (the guide so far is returned with `interrupted` set).
    ///
    /// One seeded stream, stream 2·chain of [`chain_rng`]`(seed, ·)`, drives the initial point,
    /// the batch shuffles and the noise, in that order, so a seed fixes the trace and the
    /// guide. This is the fit an [`Engine::run`] chain makes; call it directly only on a
    /// density of your own (it has no panic guard).
    pub fn fit_with<D: Density + ?Sized>(
        &self,
        density: &mut D,
        chain: usize,
        on_step: &mut dyn FnMut(&ElboPoint) -> bool,
    ) -> Result<SviResult, EngineError> {
        if self.start == Start::Auto
            && self.guide != GuideKind::MeanField
            && self.warm_start.is_none()
        {
            return self.fit_from_mean_field(density, chain, on_step);
        }
        self.fit_once(density, chain, on_step)
    }

    /// [`Start::Auto`] for a richer guide: the mean-field fit, the better start, the refining
    /// steps; one trace, numbered on from the mean-field steps.
    fn fit_from_mean_field<D: Density + ?Sized>(
        &self,
        density: &mut D,
        chain: usize,
        on_step: &mut dyn FnMut(&ElboPoint) -> bool,
    ) -> Result<SviResult, EngineError> {
        let started = std::time::Instant::now();
        self.validate(density.dim(), density.n_rows())?;
        let mean_field = Svi {
            guide: GuideKind::MeanField,
            start: Start::Point,
            ..self.clone()
        }
        .fit_once(density, chain, on_step)?;
        let mut gradients = mean_field.gradients;
        if mean_field.interrupted {
            return Ok(SviResult {
                guide: embed(&mean_field.guide, self.guide),
                gradients,
                elapsed: started.elapsed(),
                ..mean_field
            });
        }
        let from_mean_field = embed(&mean_field.guide, self.guide);
        let mut rng = fit_rng(self.seed, chain);
        // The Laplace start needs d Hessian-vector products and a d × d Cholesky factor: above
        // the full-rank guide's limit, a low-rank guide starts from mean field alone.
        let laplace = if density.dim() <= MAX_FULL_RANK_DIM {
            laplace_guide(density, self.guide, mean_field.guide.loc().to_vec(), chain).ok()
        } else {
            None
        };
        let guide = match laplace {
            Some((guide, evaluations)) => {
                gradients += evaluations + 2 * START_ELBO_DRAWS as u64;
                let a = elbo_estimate(&from_mean_field, density, START_ELBO_DRAWS, &mut rng).0;
                let b = elbo_estimate(&guide, density, START_ELBO_DRAWS, &mut rng).0;
                if b > a {
                    guide
                } else {
                    from_mean_field
                }
            }
            None => from_mean_field,
        };
        let offset = mean_field.trace.len();
        let refined = Svi {
            lr: self.guide.refine_lr(self.lr, density.dim()),
            warm_start: Some(guide),
            ..self.clone()
        }
        .fit_once(density, chain, &mut |p| {
            on_step(&ElboPoint {
                step: p.step + offset,
                ..*p
            })
        })?;
        let mut trace = mean_field.trace;
        trace.extend(refined.trace.iter().map(|p| ElboPoint {
            step: p.step + offset,
            ..*p
        }));
        Ok(SviResult {
            trace,
            skipped_steps: mean_field.skipped_steps + refined.skipped_steps,
            gradients: gradients + refined.gradients,
            elapsed: started.elapsed(),
            ..refined
        })
    }

    /// One fit of this guide from this start.
    fn fit_once<D: Density + ?Sized>(
        &self,
        density: &mut D,
        chain: usize,
        on_step: &mut dyn FnMut(&ElboPoint) -> bool,
    ) -> Result<SviResult, EngineError> {
        let started = std::time::Instant::now();
        let d = density.dim();
        let n = density.n_rows();
        self.validate(d, n)?;
        let mut rng = fit_rng(self.seed, chain);
        let fail = |draw: usize, source: DensityError| EngineError::Density {
            chain,
            draw,
            source,
        };

        // A full batch is `None`, so the seam's fast full-data path is used.
        let mut batches = match self.batch_size {
            Some(b) if b < n => Some(Batches::new(n, b)),
            _ => None,
        };

        let start =
            find_start(&mut Unsized(density), &self.init, &mut rng, false).map_err(|e| {
                EngineError::Init {
                    chain,
                    attempts: e.attempts,
                    reason: e.reason,
                }
            })?;
        let mut gradients = start.attempts as u64;
        let mut loc = start.theta;
        if let Init::Map { steps } = self.init {
            // The warm start ascends log p with this fit's rate, clipping and batches; the
            // batch order then carries on into the fit.
            let ascent = Ascent {
                lr: self.lr,
                betas: self.betas,
                eps: self.eps,
                clip: self.clip,
            };
            let mut grad = vec![0.0; d];
            ascend(
                density,
                &mut loc,
                steps,
                &ascent,
                batches.as_mut(),
                &mut rng,
                &mut grad,
            )
            .map_err(|(t, e)| fail(t, e))?;
            gradients += steps as u64;
        }

        let mut guide = if let Some(g) = &self.warm_start {
            g.clone()
        } else if self.start == Start::Laplace {
            let (guide, evaluations) = laplace_guide(density, self.guide, loc, chain)?;
            gradients += evaluations;
            guide
        } else {
            Guide::new(self.guide, &loc, self.init_scale, &mut rng)
        };
        // The loop updates φ in place; the objective evaluates a copy of the guide at the φ it
        // is given (one copy of φ per step, nothing next to a gradient's cost).
        let mut at = guide.clone();
        let mut scratch = Scratch::new(self.guide, d);
        let mut noises = vec![vec![0.0; self.guide.noise_len(d)]; self.particles];
        let descent = Descent {
            rule: Rule::Adam {
                betas: self.betas,
                eps: self.eps,
            },
            steps: self.steps,
            lr: self.lr,
            decay: self.decay,
            clip: self.clip,
            tol: self.tol,
            window: self.window,
        };
        let particles = self.particles as u64;
        let outcome = descent
            .run(
                &mut guide.params,
                batches.as_mut(),
                &mut rng,
                &mut |phi, rows, rng, grad_phi| {
                    at.params.copy_from_slice(phi);
                    for noise in noises.iter_mut() {
                        at.draw_noise(rng, noise);
                    }
                    gradients += particles;
                    match at.elbo_grad_with(
                        density,
                        &noises,
                        rows,
                        &mut scratch,
                        grad_phi,
                        self.estimator,
                    ) {
                        Ok(v) if v.is_finite() => Ok(v),
                        Ok(value) => Err(StepError::Fail(DensityError::NonFiniteValue {
                            value,
                            term: Some("the guide's entropy".into()),
                        })),
                        Err(e) => Err(StepError::from(e)),
                    }
                },
                &mut |p, _, _| {
                    let point = ElboPoint {
                        step: p.step,
                        elbo: p.value,
                        smoothed: p.smoothed,
                    };
                    if on_step(&point) {
                        Flow::Continue
                    } else {
                        Flow::Stop
                    }
                },
            )
            .map_err(|(t, e)| fail(t, e))?;
        Ok(SviResult {
            guide,
            trace: outcome
                .trace
                .iter()
                .map(|p| ElboPoint {
                    step: p.step,
                    elbo: p.value,
                    smoothed: p.smoothed,
                })
                .collect(),
            converged: outcome.converged,
            interrupted: outcome.interrupted,
            skipped_steps: outcome.skipped,
            gradients,
            elapsed: started.elapsed(),
        })
    }
}

/// The guide of family `kind` at the Laplace approximation from `start`: L-BFGS (10 pairs, at
/// most 1000 iterations, to ‖∇ log p‖ < 1e-8) to the mode, then the covariance P⁻¹ of the
/// Gauss-Newton matrix there, or of the Hessian when that is not positive definite. The GGN
/// comes first because on the bundled BNNs the Hessian at the mode has directions of almost
/// no curvature whose huge variances wreck the fit that follows (measured on regression_1d,
/// full rank with --stl: smoothed ELBO −2.2e7 from the Hessian, −3.5e6 from the GGN); for a
/// linear model the two are equal.
/// Returns the guide and the gradient evaluations (a Hessian-vector product counted as one).
fn laplace_guide<D: Density + ?Sized>(
    density: &mut D,
    kind: GuideKind,
    mut theta: Vec<f64>,
    chain: usize,
) -> Result<(Guide, u64), EngineError> {
    let fail = |draw: usize, source: DensityError| EngineError::Density {
        chain,
        draw,
        source,
    };
    let outcome = super::lbfgs::lbfgs(density, &mut theta, 1000, 10, 1e-8, &mut |_, _, _| true)
        .map_err(|(t, e)| fail(t, e))?;
    let d = theta.len();
    let all: Vec<usize> = (0..d).collect();
    let mut evaluations = outcome.evaluations;
    for curvature in [Curvature::GaussNewton, Curvature::Hessian] {
        let p = super::laplace::precision(&mut Unsized(density), &theta, &all, curvature)
            .map_err(|e| fail(0, e))?;
        evaluations += d as u64;
        if let Some(chol) = nalgebra::Cholesky::new(p) {
            let cov = chol.inverse();
            return Ok((Guide::from_gaussian(kind, &theta, &cov), evaluations));
        }
    }
    Err(EngineError::Approximation {
        chain,
        message: "--init laplace: neither the Hessian nor the Gauss-Newton matrix of −log p \
                  is positive definite at the mode L-BFGS reached"
            .into(),
    })
}

/// Lets the start finder, which takes a sized density, evaluate a `?Sized` one.
struct Unsized<'a, D: ?Sized>(&'a mut D);

impl<D: Density + ?Sized> Density for Unsized<'_, D> {
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn log_density(&mut self, theta: &[f64]) -> Result<f64, DensityError> {
        self.0.log_density(theta)
    }
    fn log_density_grad(&mut self, theta: &[f64], grad: &mut [f64]) -> Result<f64, DensityError> {
        self.0.log_density_grad(theta, grad)
    }
    fn hessian_vector(
        &mut self,
        theta: &[f64],
        v: &[f64],
        curvature: Curvature,
        hv: &mut [f64],
    ) -> Result<(), DensityError> {
        self.0.hessian_vector(theta, v, curvature, hv)
    }
}

/// A mean-field guide as a guide of family `kind` with the same distribution: the scales on
/// the diagonal, no correlations.
fn embed(mean_field: &Guide, kind: GuideKind) -> Guide {
    Guide::from_diagonal(kind, mean_field.loc(), &mean_field.scale())
}

/// The ELBO of `guide`, E_q[log p] + H[q], estimated on `n` draws θ ~ q on the full data, and
/// the estimate's Monte Carlo standard error (sd of log p over the draws / √n); draws where
/// log p is not finite count as −∞.
pub fn elbo_estimate<D: Density + ?Sized>(
    guide: &Guide,
    density: &mut D,
    n: usize,
    rng: &mut impl Rng,
) -> (f64, f64) {
    let mut theta = vec![0.0; guide.dim];
    let mut noise = vec![0.0; guide.kind.noise_len(guide.dim)];
    let (mut sum, mut sum_sq) = (0.0, 0.0);
    for _ in 0..n {
        guide.sample(rng, &mut noise, &mut theta);
        let lp = density.log_density(&theta).unwrap_or(f64::NEG_INFINITY);
        sum += lp;
        sum_sq += lp * lp;
    }
    let n = n.max(1) as f64;
    let mean = sum / n;
    let se = ((sum_sq / n - mean * mean).max(0.0) / n).sqrt();
    let entropy = guide.entropy(&mut Scratch::new(guide.kind, guide.dim), None);
    (mean + entropy, se)
}

/// Writes `n` draws from `guide` as chain `chain`'s sampling draws, θ from `rng`; `lp__` is
/// log p(θ) at the draw (NaN where it is not finite) and every sampler statistic is 0.
fn draw_from<D: Density, S: DrawSink>(
    guide: &Guide,
    density: &mut D,
    n: usize,
    rng: &mut impl Rng,
    out: &mut ChainOutput<'_, S>,
) -> Result<(), EngineError> {
    let mut theta = vec![0.0; guide.dim];
    let mut noise = vec![0.0; guide.kind.noise_len(guide.dim)];
    for _ in 0..n {
        guide.sample(rng, &mut noise, &mut theta);
        let lp = density.log_density(&theta).unwrap_or(f64::NAN);
        out.draw(
            &theta,
            &DrawStats {
                lp,
                accept_stat: 0.0,
                step_size: 0.0,
                tree_depth: 0,
                n_leapfrog: 0,
                divergent: false,
                energy: 0.0,
                warmup: false,
            },
        )?;
    }
    Ok(())
}

/// The header lines every guide-draw output shares, after the engine-specific ones.
fn guide_header(kind: GuideKind, seed: u64) -> Vec<(String, String)> {
    vec![
        ("method".into(), "variational".into()),
        (
            "note".into(),
            "draws from the fitted guide; lp__ is log p(theta) at the draw; accept_stat__ \
             stepsize__ treedepth__ n_leapfrog__ divergent__ energy__ are 0 (no sampler)"
                .into(),
        ),
        ("guide".into(), kind.to_string()),
        ("seed".into(), seed.to_string()),
    ]
}

impl Engine for Svi {
    type Fit = SviResult;

    fn check_settings(&self, dim: usize, n_rows: usize) -> Result<(), EngineError> {
        self.validate(dim, n_rows)
    }

    fn name(&self) -> &'static str {
        "svi"
    }
    /// One fit per run (chain ids other than 0 fit again on their own streams).
    fn chains(&self) -> usize {
        1
    }
    fn warmup(&self) -> usize {
        0
    }
    fn draws(&self) -> usize {
        self.draws
    }
    fn fit_steps(&self) -> usize {
        match (self.start, self.guide) {
            (Start::Auto, GuideKind::FullRank | GuideKind::LowRank { .. })
                if self.warm_start.is_none() =>
            {
                2 * self.steps
            }
            _ => self.steps,
        }
    }
    fn is_markov_chain(&self) -> bool {
        false
    }
    fn header(&self) -> Header {
        let mut run = guide_header(self.guide, self.seed);
        run.extend([
            ("steps".to_string(), self.steps.to_string()),
            ("lr".to_string(), self.lr.to_string()),
            ("particles".to_string(), self.particles.to_string()),
            (
                "batch_size".to_string(),
                self.batch_size
                    .map_or_else(|| "all".to_string(), |b| b.to_string()),
            ),
            ("num_samples".to_string(), self.draws.to_string()),
        ]);
        // Lines only for settings away from the defaults, so earlier outputs keep their bytes.
        let mut tuning = Vec::new();
        match (self.start, self.guide) {
            (Start::Laplace, _) => tuning.push(("init".to_string(), "laplace".to_string())),
            (Start::Auto, GuideKind::FullRank | GuideKind::LowRank { .. }) => tuning.push((
                "init".to_string(),
                "auto: a mean-field fit, then the better of it and the Laplace start, refined \
                 at lr / max(100, factor entries per row)"
                    .to_string(),
            )),
            (Start::Point, _) | (Start::Auto, GuideKind::MeanField) => {}
        }
        if self.estimator.stl {
            tuning.push(("gradient_estimator".to_string(), "stl".to_string()));
        }
        if self.estimator.kl_weight != 1.0 {
            tuning.push((
                "kl_weight".to_string(),
                self.estimator.kl_weight.to_string(),
            ));
            tuning.push((
                "kl_weight_note".to_string(),
                "a tempered ELBO: the fitted guide does not approximate the posterior".to_string(),
            ));
        }
        Header { run, tuning }
    }

    /// Fits (stopping early when the run is interrupted), reports the fit, then draws from the
    /// guide — also after an interruption, so the guide reached so far is kept as draws.
    fn run_chain<D: Density, S: DrawSink>(
        &self,
        mut density: D,
        chain: usize,
        out: &mut ChainOutput<'_, S>,
    ) -> Result<SviResult, EngineError> {
        let mut sink_error = None;
        let result = self.fit_with(&mut density, chain, &mut |p| {
            if let Err(e) = out.fit_step(&FitStep::from(*p)) {
                sink_error = Some(e);
                return false;
            }
            !out.stop_requested()
        })?;
        if let Some(e) = sink_error {
            return Err(e);
        }
        out.fit_done(&FitSummary {
            steps: result.trace.len(),
            converged: result.converged,
        })?;
        let mut rng = draw_rng(self.seed, chain);
        draw_from(&result.guide, &mut density, self.draws, &mut rng, out)?;
        Ok(result)
    }
}

/// Draws from a guide fitted earlier, as an engine: SVI's draw phase alone. Chain c draws θ
/// from the stream an SVI run with this seed draws from, so a fit's draws can be remade.
#[derive(Debug, Clone, PartialEq)]
pub struct GuideDraws {
    /// The fitted guide.
    pub guide: Guide,
    /// Draws per chain.
    pub draws: usize,
    /// Seed of the draws.
    pub seed: u64,
}

impl Engine for GuideDraws {
    type Fit = ();

    fn check_settings(&self, dim: usize, _n_rows: usize) -> Result<(), EngineError> {
        if dim != self.guide.dim {
            return Err(EngineError::Settings(format!(
                "the guide has dimension {}, but θ has dimension {dim}",
                self.guide.dim
            )));
        }
        Ok(())
    }

    fn name(&self) -> &'static str {
        "svi"
    }
    fn chains(&self) -> usize {
        1
    }
    fn warmup(&self) -> usize {
        0
    }
    fn draws(&self) -> usize {
        self.draws
    }
    fn is_markov_chain(&self) -> bool {
        false
    }
    fn header(&self) -> Header {
        let mut run = guide_header(self.guide.kind, self.seed);
        run.push(("num_samples".into(), self.draws.to_string()));
        Header {
            run,
            tuning: Vec::new(),
        }
    }
    fn run_chain<D: Density, S: DrawSink>(
        &self,
        mut density: D,
        chain: usize,
        out: &mut ChainOutput<'_, S>,
    ) -> Result<(), EngineError> {
        self.check_settings(density.dim(), density.n_rows())?;
        let mut rng = draw_rng(self.seed, chain);
        draw_from(&self.guide, &mut density, self.draws, &mut rng, out)
    }
}
