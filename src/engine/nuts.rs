//! NUTS on nuts-rs 0.19: our settings with Stan's defaults, an adapter from the density seam to
//! nuts-rs's `CpuLogpFunc`, and the draw loop that streams θ and Stan's sampler statistics.
//!
//! The algorithm is multinomial NUTS [Bet17, App. A] as nuts-rs (the core of nutpie) implements
//! it: the U-turn criterion of [HG14, eq. 9] on mass-whitened positions and velocities, checked
//! across the merged subtrees as in Stan. What we decide here, and why:
//!
//! - **Defaults are Stan's**, set explicitly because nuts-rs's differ: target acceptance 0.8,
//!   maximum tree depth 10, diagonal mass matrix, 1000 + 1000 draws, 4 chains.
//! - **Warmup windows follow Stan's shape** (75-draw initial buffer, slow windows from 25
//!   doubling, 50-draw terminal buffer, shrunk to 15% / 75% / 10% below 150 draws), mapped onto
//!   nuts-rs's options. nuts-rs's estimator is its own [nutpie]: M⁻¹ = √(Var θ / Var ∇log p)
//!   per component (exact for a Gaussian, and it needs fewer draws than Var θ alone), refreshed
//!   every draw from the current window and already during the initial buffer, where Stan keeps
//!   M⁻¹ = I; the step size is dual averaging [HG14, Alg. 5] toward 0.8 (toward a symmetrized
//!   acceptance statistic once the last window has begun), not restarted after each window.
//! - **Step-size jitter is off** (Stan's `stepsize_jitter = 0`). nuts-rs jitters by ±10% on every
//!   draw by default, after warmup too; that keeps the chain valid but makes the post-warmup step
//!   size vary, which Stan users read as adaptation not having ended. [`Nuts::step_size_jitter`]
//!   turns it back on (the jitter then also applies after warmup, as in Stan).
//! - **Initialization is ours**: uniform(−2, 2) per component, up to 100 attempts, as Stan does.
//!   nuts-rs's first inverse mass matrix is 1/|∇log p(θ₀)|, so it rejects a start with an
//!   exactly zero gradient component; a random start retries, a user start reports it.
//! - **No gradient clipping** (nuts-rs soft-clips at 1e10 by default): the sampler sees the
//!   density's gradient as is; a non-finite value is a divergence.
//!
//! - [HG14] M. D. Hoffman & A. Gelman, The No-U-Turn Sampler, JMLR 15, 2014.
//! - [Bet17] M. Betancourt, A Conceptual Introduction to Hamiltonian Monte Carlo, 2017.
//! - [nutpie] A. Seyboldt and PyMC developers, nutpie and nuts-rs, github.com/pymc-devs/nutpie:
//!   the diagonal mass matrix from draw and gradient variances.

use std::collections::HashMap;
use std::error::Error;

use nuts_rs::{
    Chain, CpuLogpFunc, CpuMath, CpuMathError, DiagAdaptExpSettings, DiagNutsSettings,
    EuclideanAdaptOptions, FlowNutsSettings, FlowSettings, HasDims, KineticEnergyKind, LogpError,
    LowRankNutsSettings, LowRankSettings, Math, NutsError, Settings, StepSizeAdaptMethod,
};

use super::adapt::WarmupWindows;
use super::checkpoint::{ChainState, RngState};
use super::init::{start_sampler, Init, InitFailure};
use super::rng::chain_rng;
use super::{
    validate_step_size, Adaptation, ChainOutput, DrawSink, DrawStats, Engine, EngineError, Header,
};
use crate::density::{Density, DensityError};

/// Which mass matrix warmup adapts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MassMatrix {
    /// Diagonal M⁻¹ (Stan's `diag_e`).
    #[default]
    Diagonal,
    /// Diagonal plus a low-rank correction from the leading eigenvectors of the draw and
    /// gradient covariances (nutpie's `low_rank_modified_mass_matrix`).
    LowRank,
}

/// The No-U-Turn sampler, with Stan's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Nuts {
    /// Number of chains.
    pub chains: usize,
    /// Warmup (adaptation) draws per chain; they are not posterior draws.
    pub warmup: usize,
    /// Sampling draws per chain, made with the adapted step size and mass matrix.
    pub draws: usize,
    /// Maximum tree depth: a trajectory has at most 2^max_depth − 1 leapfrog steps.
    pub max_depth: u32,
    /// Target mean acceptance statistic δ of step-size adaptation, in (0, 1).
    pub target_accept: f64,
    /// Which mass matrix warmup adapts.
    pub mass_matrix: MassMatrix,
    /// Seed of the run; chain c uses stream c + 1 of it.
    pub seed: u64,
    /// Where chains start.
    pub init: Init,
    /// Uniform jitter of the step size, as a fraction in [0, 1): each draw uses
    /// ε · u, u ~ uniform(1 − jitter, 1 + jitter). 0 (Stan's default) turns it off.
    pub step_size_jitter: f64,
    /// Step size the initial search starts from (Stan's `stepsize`), on the scale of θ.
    pub initial_step_size: f64,
    /// Sampling draws between the resume points a chain hands its sink
    /// ([`crate::engine::DrawSink::checkpoint`]), besides the end of warmup and a stop; 0 hands
    /// none.
    pub checkpoint_every: usize,
}

impl Default for Nuts {
    fn default() -> Self {
        Nuts {
            chains: 4,
            warmup: 1000,
            draws: 1000,
            max_depth: 10,
            target_accept: 0.8,
            mass_matrix: MassMatrix::Diagonal,
            seed: 0,
            init: Init::default(),
            step_size_jitter: 0.0,
            initial_step_size: 1.0,
            checkpoint_every: 0,
        }
    }
}

impl Nuts {
    fn validate(&self) -> Result<(), EngineError> {
        let bad = |m: String| Err(EngineError::Settings(m));
        if !(1..=30).contains(&self.max_depth) {
            return bad(format!(
                "max_depth must be between 1 and 30, got {}",
                self.max_depth
            ));
        }
        validate_step_size(
            self.target_accept,
            self.step_size_jitter,
            self.initial_step_size,
        )
    }

    /// nuts-rs adaptation options carrying Stan's schedule and our step-size settings.
    fn adapt_options<S: std::fmt::Debug + Default>(&self, mass: S) -> EuclideanAdaptOptions<S> {
        let mut o = EuclideanAdaptOptions::<S> {
            mass_matrix_options: mass,
            ..Default::default()
        };
        o.step_size_settings.target_accept = self.target_accept;
        o.step_size_settings.initial_step = self.initial_step_size;
        o.step_size_settings.jitter =
            (self.step_size_jitter > 0.0).then_some(self.step_size_jitter);
        if self.warmup == 0 {
            return o;
        }
        let windows = WarmupWindows::for_start(self.warmup, &self.init);
        // nuts-rs takes the buffers as fractions and floors fraction · warmup; the half draw
        // makes the floor land exactly on Stan's counts.
        let fraction = |n: usize| (n as f64 + 0.5) / self.warmup as f64;
        if windows.base_window == 0 {
            // Too short to estimate a mass matrix: adapt the step size only, throughout.
            o.early_window = 0.0;
            o.step_size_window = 1.0;
        } else {
            o.early_window = fraction(windows.init_buffer);
            o.step_size_window = fraction(windows.term_buffer).min(1.0);
            o.mass_matrix_switch_freq = windows.base_window as u64;
            o.mass_matrix_window_growth = 2.0;
        }
        o
    }

    fn settings<A: std::fmt::Debug + Copy + Default + serde::Serialize>(
        &self,
        mut s: nuts_rs::NutsSettings<A>,
        adapt_options: A,
    ) -> nuts_rs::NutsSettings<A> {
        s.num_tune = self.warmup as u64;
        s.num_draws = self.draws as u64;
        s.maxdepth = self.max_depth as u64;
        s.mindepth = 0;
        s.num_chains = self.chains;
        s.seed = self.seed;
        // Stan's divergence threshold on the energy error.
        s.max_energy_error = 1000.0;
        s.store_divergences = false;
        s.store_gradient = false;
        s.store_unconstrained = false;
        s.store_transformed = false;
        s.check_turning = true;
        s.target_integration_time = None;
        s.extra_doublings = 0;
        s.gradient_clipping = None;
        s.walnuts = None;
        s.max_leapfrog_steps = None;
        // Euclidean kinetic energy ½ vᵀv in the whitened space (nuts-rs's flow settings default
        // to its exact-normal dynamics, which a resumed chain must not take).
        s.trajectory_kind = KineticEnergyKind::Euclidean;
        s.adapt_options = adapt_options;
        s
    }

    /// The exact nuts-rs settings a diagonal run uses (for benchmarks that compare against
    /// nuts-rs alone; not part of the stable API).
    #[doc(hidden)]
    pub fn nuts_rs_settings(&self) -> DiagNutsSettings {
        self.diagonal_settings()
    }

    fn diagonal_settings(&self) -> DiagNutsSettings {
        let mass = DiagAdaptExpSettings {
            // Needed to report M⁻¹ at the end of warmup; costs a copy when M changes.
            store_mass_matrix: true,
            ..DiagAdaptExpSettings::default()
        };
        self.settings(DiagNutsSettings::default(), self.adapt_options(mass))
    }

    fn low_rank_settings(&self) -> LowRankNutsSettings {
        let mass = LowRankSettings {
            store_mass_matrix: true,
            ..LowRankSettings::default()
        };
        let mut options = self.adapt_options(mass);
        // nuts-rs recomputes the eigendecomposition every 20 draws for low rank (its default).
        options.mass_matrix_update_freq = 20;
        self.settings(LowRankNutsSettings::default(), options)
    }

    /// Settings that continue a chain from `state` with adaptation frozen: no tuning draws, the
    /// saved step size fixed (jittered as the original run was), and the saved M⁻¹ as a fixed
    /// whitening θ ↦ θ/σ that nuts-rs takes through its external-transformation ("flow") hook,
    /// the one way its API accepts a mass matrix from outside. The leapfrog then runs on θ/σ
    /// with unit mass, which is the dynamics of M⁻¹ = diag(σ²) on θ.
    fn frozen_settings(&self, state: &ChainState) -> FlowNutsSettings {
        let mut options = FlowSettings::default();
        options.step_size_settings.target_accept = self.target_accept;
        options.step_size_settings.initial_step = state.step_size;
        options.step_size_settings.jitter =
            (self.step_size_jitter > 0.0).then_some(self.step_size_jitter);
        options.step_size_settings.adapt_options.method =
            StepSizeAdaptMethod::Fixed(state.step_size);
        let mut s = self.settings(FlowNutsSettings::default(), options);
        s.num_tune = 0;
        s.num_draws = (self.warmup + self.draws).saturating_sub(state.next_draw) as u64;
        s
    }

    /// Continues chain `chain` from its saved state: the draws after `state.next_draw`, with the
    /// step size and mass matrix of `state` (see [`Nuts::frozen_settings`]).
    pub(crate) fn resume_chain<D: Density, S: DrawSink>(
        &self,
        density: D,
        chain: usize,
        state: &ChainState,
        out: &mut ChainOutput<'_, S>,
    ) -> Result<(), EngineError> {
        self.validate()?;
        if state.next_draw < self.warmup || state.theta.len() != density.dim() {
            return Err(EngineError::Settings(format!(
                "chain {}: the saved state (draw {}, dimension {}) does not continue a run of \
                 {} warmup draws in dimension {}",
                chain + 1,
                state.next_draw,
                state.theta.len(),
                self.warmup,
                density.dim()
            )));
        }
        self.run_with(
            self.frozen_settings(state),
            density,
            chain,
            Some(state),
            out,
        )
    }

    fn run_with<F: Flavor, D: Density, S: DrawSink>(
        &self,
        settings: F,
        mut density: D,
        chain: usize,
        resume: Option<&ChainState>,
        out: &mut ChainOutput<'_, S>,
    ) -> Result<(), EngineError> {
        let bad_state = || EngineError::Settings(format!("chain {}: bad saved state", chain + 1));
        let (start, mut rng, from) = match resume {
            None => {
                let mut rng = chain_rng(self.seed, chain);
                let start = start_sampler(&mut density, &self.init, &mut rng, true, chain)?;
                (start.theta, rng, 0)
            }
            Some(state) => {
                let rng = state.rng.resumed(state.next_draw).ok_or_else(bad_state)?;
                (state.theta.clone(), rng, state.next_draw)
            }
        };
        let dim = density.dim();
        let whitening = resume.map(|s| Whitening::new(&s.inv_mass));
        let math = CpuMath::new(Adapter { density, whitening });
        let mut sampler = settings
            .new_chain(chain as u64, math, &mut rng)
            .map_err(|e| EngineError::Settings(format!("{e:#}")))?;
        // The generator's state once it has seeded nuts-rs: what every resume point refers to.
        let base = match resume {
            None => RngState::capture(&rng),
            Some(state) => state.rng.clone(),
        };
        out.resume_at(from);
        sampler
            .set_position(&start)
            .map_err(|e| match seam_error(&*e) {
                Some(source) => EngineError::Init {
                    chain,
                    attempts: 1,
                    reason: InitFailure::Density(source),
                },
                None => EngineError::Internal {
                    chain,
                    message: format!("nuts-rs could not start: {}", error_chain(&*e)),
                },
            })?;

        let total = self.warmup + self.draws;
        let mut stds: Option<Vec<f64>> =
            resume.map(|s| s.inv_mass.iter().map(|v| v.sqrt()).collect());
        let mut previous_step_size = resume.map(|s| s.step_size);
        // The resume point after the last draw, once warmup has ended.
        let mut last: Option<ChainState> = None;
        for i in from..total {
            if out.stop_requested() {
                if self.checkpoint_every > 0 {
                    if let Some(state) = &last {
                        out.checkpoint(Some(state))?;
                    }
                }
                return Ok(());
            }
            let draw = F::next(&mut sampler).map_err(|e| match e {
                Failure::Density(source) => EngineError::Density {
                    chain,
                    draw: i,
                    source,
                },
                Failure::Other(message) => EngineError::Internal {
                    chain,
                    message: format!("nuts-rs failed at draw {i}: {message}"),
                },
            })?;
            if draw.stds.is_some() {
                stds = draw.stds;
            }
            // nuts-rs reports the step size after this draw's adaptation update, i.e. the one
            // for the next draw; Stan's `stepsize__` is the one this draw used, which is the
            // previous draw's. The first draw of a chain has no previous one and reports its
            // own update (only during warmup can the two differ).
            let step_size = previous_step_size.unwrap_or(draw.step_size_next);
            previous_step_size = Some(draw.step_size_next);
            let adaptation = || Adaptation {
                step_size: draw.step_size_bar,
                inv_mass: match &stds {
                    // nuts-rs whitens θ by θ/σ, so M⁻¹ = diag(σ²).
                    Some(s) => s.iter().map(|s| s * s).collect(),
                    None => vec![1.0; dim],
                },
            };
            if i == 0 && self.warmup == 0 {
                out.adaptation_done(&adaptation())?;
            }
            out.draw(
                &draw.theta,
                &DrawStats {
                    lp: draw.lp,
                    accept_stat: draw.accept_stat,
                    step_size,
                    tree_depth: draw.depth as u32,
                    n_leapfrog: draw.n_leapfrog,
                    divergent: draw.divergent,
                    // Stan's energy__ = −log p(θ) + ½ pᵀM⁻¹p; nuts-rs's own `energy` also
                    // subtracts log|det| of its whitening transform, so rebuild it.
                    energy: draw.kinetic_energy - draw.lp,
                    warmup: i < self.warmup,
                },
            )?;
            if i + 1 == self.warmup {
                out.adaptation_done(&adaptation())?;
            }
            if self.checkpoint_every > 0 && i + 1 >= self.warmup {
                let state = ChainState {
                    next_draw: i + 1,
                    step_size: draw.step_size_bar,
                    inv_mass: adaptation().inv_mass,
                    theta: draw.theta.to_vec(),
                    rng: base.clone(),
                };
                if (i + 1 - self.warmup).is_multiple_of(self.checkpoint_every) {
                    out.checkpoint(Some(&state))?;
                }
                last = Some(state);
            }
        }
        if self.checkpoint_every > 0 {
            out.checkpoint(None)?;
        }
        Ok(())
    }
}

/// The run settings NUTS and static HMC both write, in CmdStan's words.
pub(crate) fn mcmc_run_header(
    seed: u64,
    chains: usize,
    warmup: usize,
    draws: usize,
    target_accept: f64,
) -> Vec<(String, String)> {
    [
        ("seed", seed.to_string()),
        ("chains", chains.to_string()),
        ("num_warmup", warmup.to_string()),
        ("num_samples", draws.to_string()),
        ("save_warmup", "0".to_string()),
        ("thin", "1".to_string()),
        ("target_accept", target_accept.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

impl Engine for Nuts {
    type Fit = ();

    fn check_settings(&self, _dim: usize, _n_rows: usize) -> Result<(), EngineError> {
        self.validate()
    }

    fn name(&self) -> &'static str {
        "nuts"
    }
    fn header(&self) -> Header {
        let metric = match self.mass_matrix {
            MassMatrix::Diagonal => "diag_e",
            MassMatrix::LowRank => "low_rank",
        };
        Header {
            run: mcmc_run_header(
                self.seed,
                self.chains,
                self.warmup,
                self.draws,
                self.target_accept,
            ),
            tuning: vec![
                ("max_depth".into(), self.max_depth.to_string()),
                ("metric".into(), metric.into()),
            ],
        }
    }
    fn chains(&self) -> usize {
        self.chains
    }
    fn warmup(&self) -> usize {
        self.warmup
    }
    fn draws(&self) -> usize {
        self.draws
    }

    fn run_chain<D: Density, S: DrawSink>(
        &self,
        density: D,
        chain: usize,
        out: &mut ChainOutput<'_, S>,
    ) -> Result<(), EngineError> {
        self.validate()?;
        match self.mass_matrix {
            MassMatrix::Diagonal => {
                self.run_with(self.diagonal_settings(), density, chain, None, out)
            }
            MassMatrix::LowRank => {
                self.run_with(self.low_rank_settings(), density, chain, None, out)
            }
        }
    }
}

/// A density error carried through nuts-rs, so it can be recovered on the way out.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct SeamError(DensityError);

impl LogpError for SeamError {
    fn is_recoverable(&self) -> bool {
        self.0.is_recoverable()
    }
}

/// Our density as nuts-rs's `CpuLogpFunc`; nuts-rs calls `logp` (value + gradient), and the
/// transformation methods only for a resumed chain, whose fixed whitening they apply.
struct Adapter<D> {
    density: D,
    /// The frozen mass matrix of a resumed chain.
    whitening: Option<Whitening>,
}

/// A fixed diagonal whitening z = θ ⊙ σ⁻¹ with σ² = M⁻¹: the mass matrix a resumed chain keeps.
#[derive(Debug, Clone)]
struct Whitening {
    /// σ, per component of θ.
    stds: Vec<f64>,
    /// σ⁻¹.
    inv_stds: Vec<f64>,
    /// log |det ∂z/∂θ| = Σ log σ⁻¹ (nuts-rs adds it to log p; constant, so it cancels).
    logdet: f64,
}

impl Whitening {
    fn new(inv_mass: &[f64]) -> Whitening {
        let stds: Vec<f64> = inv_mass.iter().map(|v| v.sqrt()).collect();
        let inv_stds: Vec<f64> = stds.iter().map(|s| s.recip()).collect();
        let logdet = inv_stds.iter().map(|s| s.ln()).sum();
        Whitening {
            stds,
            inv_stds,
            logdet,
        }
    }

    /// z = θ ⊙ σ⁻¹ and ∇_z = ∇_θ ⊙ σ.
    fn forward(&self, theta: &[f64], grad: &[f64], z: &mut [f64], grad_z: &mut [f64]) {
        for j in 0..theta.len() {
            z[j] = theta[j] * self.inv_stds[j];
            grad_z[j] = grad[j] * self.stds[j];
        }
    }
}

impl<D> Adapter<D> {
    fn whitening(&self) -> &Whitening {
        self.whitening
            .as_ref()
            .expect("internal: only resumed chains use the external transformation")
    }
}

impl<D: Density> HasDims for Adapter<D> {
    fn dim_sizes(&self) -> HashMap<String, u64> {
        HashMap::from([(
            "unconstrained_parameter".to_string(),
            self.density.dim() as u64,
        )])
    }
}

impl<D: Density> CpuLogpFunc for Adapter<D> {
    type LogpError = SeamError;
    // Only a resumed chain's fixed whitening; the transformation is held by the adapter.
    type FlowParameters = ();
    // Nothing is expanded: the caller's sink turns θ into named quantities.
    type ExpandedVector = ();

    fn dim(&self) -> usize {
        self.density.dim()
    }

    fn logp(&mut self, position: &[f64], gradient: &mut [f64]) -> Result<f64, SeamError> {
        // The seam's contract: a density reports non-finite values itself, so nothing is
        // checked twice on the hot path. (A density that broke it would still diverge:
        // nuts-rs treats a non-finite energy as a divergence.)
        self.density
            .log_density_grad(position, gradient)
            .map_err(SeamError)
    }

    fn expand_vector<R>(&mut self, _rng: &mut R, _array: &[f64]) -> Result<(), CpuMathError>
    where
        R: rand::Rng + ?Sized,
    {
        Ok(())
    }

    // The transformation hooks of a resumed chain (nuts-rs's external transformation): a fixed
    // whitening, never updated (a resumed chain has no tuning draws). Our settings turn
    // gradient clipping off, so `clip` is always `None`.

    fn inv_transform_normalize(
        &mut self,
        _params: &(),
        theta: &[f64],
        grad: &[f64],
        z: &mut [f64],
        grad_z: &mut [f64],
    ) -> Result<f64, SeamError> {
        let w = self.whitening();
        w.forward(theta, grad, z, grad_z);
        Ok(w.logdet)
    }

    fn init_from_untransformed_position(
        &mut self,
        _params: &(),
        theta: &[f64],
        grad: &mut [f64],
        z: &mut [f64],
        grad_z: &mut [f64],
        _clip: Option<f64>,
    ) -> Result<(f64, f64), SeamError> {
        let lp = self.logp(theta, grad)?;
        let w = self.whitening();
        w.forward(theta, grad, z, grad_z);
        Ok((lp, w.logdet))
    }

    fn init_from_transformed_position(
        &mut self,
        _params: &(),
        theta: &mut [f64],
        grad: &mut [f64],
        z: &[f64],
        grad_z: &mut [f64],
        _clip: Option<f64>,
    ) -> Result<(f64, f64), SeamError> {
        let w = self.whitening();
        for (j, t) in theta.iter_mut().enumerate() {
            *t = z[j] * w.stds[j];
        }
        let lp = self.logp(theta, grad)?;
        let w = self.whitening();
        for (j, g) in grad_z.iter_mut().enumerate() {
            *g = grad[j] * w.stds[j];
        }
        Ok((lp, w.logdet))
    }

    fn update_transformation<'a, R: rand::Rng + ?Sized>(
        &'a mut self,
        _rng: &mut R,
        _positions: impl ExactSizeIterator<Item = &'a [f64]>,
        _gradients: impl ExactSizeIterator<Item = &'a [f64]>,
        _logp: impl ExactSizeIterator<Item = &'a f64>,
        _params: &'a mut (),
    ) -> Result<(), SeamError> {
        // Frozen: the whitening stays what warmup settled on.
        Ok(())
    }

    fn init_transformation<R: rand::Rng + ?Sized>(
        &mut self,
        _rng: &mut R,
        _theta: &[f64],
        _grad: &[f64],
        _chain: u64,
    ) -> Result<(), SeamError> {
        Ok(())
    }

    fn new_transformation<R: rand::Rng + ?Sized>(
        &mut self,
        _rng: &mut R,
        _dim: usize,
        _chain: u64,
    ) -> Result<(), SeamError> {
        Ok(())
    }

    fn transformation_id(&self, _params: &()) -> Result<i64, SeamError> {
        // One transformation for the chain's whole life.
        Ok(0)
    }
}

/// Finds our density error inside a nuts-rs error, if that is what it is.
fn seam_error(e: &(dyn Error + Send + Sync + 'static)) -> Option<DensityError> {
    match e.downcast_ref::<NutsError>()? {
        NutsError::LogpFailure(inner) | NutsError::BadInitGrad(inner) => inner
            .downcast_ref::<SeamError>()
            .map(|SeamError(source)| source.clone()),
        _ => None,
    }
}

/// One draw as nuts-rs reports it, in the terms we need.
struct NutsDraw {
    theta: Box<[f64]>,
    lp: f64,
    kinetic_energy: f64,
    accept_stat: f64,
    depth: u64,
    n_leapfrog: u64,
    divergent: bool,
    /// Step size after this draw's adaptation update.
    step_size_next: f64,
    /// Dual-averaging iterate ε̄ (the post-warmup step size once warmup ends).
    step_size_bar: f64,
    /// Per-component scale σ of the whitening transform, when it changed on this draw.
    stds: Option<Vec<f64>>,
}

/// A nuts-rs failure: our density's error, or nuts-rs's own message.
enum Failure {
    Density(DensityError),
    Other(String),
}

impl Failure {
    /// Sorts a nuts-rs error (an `anyhow::Error`, seen through its `Deref`).
    fn from_nuts(e: &(dyn Error + Send + Sync + 'static)) -> Self {
        match seam_error(e) {
            Some(source) => Failure::Density(source),
            None => Failure::Other(error_chain(e)),
        }
    }
}

/// "outer: inner: …" for an error and its sources.
fn error_chain(e: &(dyn Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The nuts-rs settings types we use; each knows where its statistics live.
trait Flavor: Settings {
    fn next<M: Math>(chain: &mut Self::Chain<M>) -> Result<NutsDraw, Failure>;
}

/// The chain types differ only in where the mass matrix statistics are stored; a resumed
/// chain's (the fixed whitening) nuts-rs does not report.
macro_rules! flavor {
    (@stds $stats:ident, $stds:ident) => {
        $stats.hamiltonian.transformation.$stds
    };
    (@stds $stats:ident) => {
        None
    };
    ($settings:ty $(, $stds:ident)?) => {
        impl Flavor for $settings {
            fn next<M: Math>(chain: &mut Self::Chain<M>) -> Result<NutsDraw, Failure> {
                let (theta, _expanded, stats, _progress) =
                    chain.expanded_draw().map_err(|e| Failure::from_nuts(&*e))?;
                Ok(NutsDraw {
                    theta,
                    lp: stats.point.logp,
                    kinetic_energy: stats.point.kinetic_energy,
                    accept_stat: stats.adapt.step_size.mean_tree_accept,
                    depth: stats.depth,
                    n_leapfrog: stats.adapt.step_size.n_steps,
                    divergent: stats.divergence.diverging,
                    step_size_next: stats.hamiltonian.step_size,
                    step_size_bar: stats.adapt.step_size.step_size_bar,
                    stds: flavor!(@stds stats $(, $stds)?),
                })
            }
        }
    };
}

flavor!(DiagNutsSettings, mass_matrix_inv);
flavor!(LowRankNutsSettings, mass_matrix_stds);
flavor!(FlowNutsSettings);
