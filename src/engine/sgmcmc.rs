//! Stochastic-gradient MCMC on minibatches as one engine: SGLD, preconditioned SGLD and SGHMC
//! (friction and the gradient-noise estimate), with a constant or cyclical step size.
//!
//! Each step uses the seam's minibatch gradient ĝ = ∇log prior(θ) + (N/B) Σ_batch ∇log lik,
//! an unbiased estimate of ∇log p(θ), over the shared epoch order ([`Batches`]). There is no
//! Metropolis correction: the chain's stationary distribution is the posterior only as the step
//! size goes to 0, and its bias grows with the step (the tests show it).
//!
//! - [WT11] Welling & Teh, Bayesian Learning via Stochastic Gradient Langevin Dynamics,
//!   ICML 2011, eq. 4.
//! - [LCCC16] Li, Chen, Carlson & Carin, Preconditioned Stochastic Gradient Langevin Dynamics
//!   for Deep Neural Networks, AAAI 2016, Algorithm 1.
//! - [CFG14] Chen, Fox & Guestrin, Stochastic Gradient Hamiltonian Monte Carlo, ICML 2014,
//!   eq. 15 (the SGD-with-momentum form) and §3.2 (the noise estimate B̂ = ½ ε V̂).
//! - [ZLCW20] Zhang, Li, Chen, Wilson & Gordon Wilson, Cyclical Stochastic Gradient MCMC for
//!   Bayesian Deep Learning, ICLR 2020, eq. 1 and Algorithm 1 (exploration, then sampling, in
//!   each cycle).

use rand::{Rng, RngExt};
use rand_distr::StandardNormal;

use super::batches::Batches;
use super::descent::MAX_FAILED_STEPS;
use super::init::{start_sampler, Init};
use super::optim::Decay;
use super::rng::chain_rng;
use super::{ChainOutput, DrawSink, DrawStats, Engine, EngineError, Header};
use crate::density::{Density, DensityError};

/// The dynamics of each step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dynamics {
    /// SGLD [WT11, eq. 4]: θ ← θ + (ε/2) ĝ + N(0, ε I).
    Sgld,
    /// pSGLD [LCCC16, Algorithm 1]: SGLD preconditioned by G = diag(1 / (λ + √V)), V a moving
    /// average of the squared per-row gradient ḡ = ĝ / N.
    Psgld {
        /// Weight a of the old V in V ← a V + (1 − a) ḡ ⊙ ḡ, in [0, 1).
        decay: f64,
        /// λ, which keeps G bounded where V is near 0.
        lambda: f64,
    },
    /// SGHMC [CFG14, eq. 15]: v ← v + η ĝ − α v + N(0, 2 (α − β̂) η), θ ← θ + v.
    Sghmc {
        /// Friction α in (0, 1]: the fraction of the velocity lost per step (1 − momentum);
        /// α = 1 is SGLD with ε = 2η.
        friction: f64,
        /// Subtract the estimated gradient noise: β̂ = ½ η V̂ per coordinate, clamped to
        /// [0, α], with V̂ a moving average of ½ (ĝ_t − ĝ_{t−1})² (two consecutive estimates
        /// at nearly the same θ differ by the minibatch noise). Off by default, as in
        /// [CFG14]'s experiments: batches in epoch order tile the rows, so their noise sums to
        /// 0 over an epoch and diffuses far less than its per-step variance says; subtracting
        /// that variance leaves the chain too narrow (tests/sgmcmc.rs prints how much).
        noise_estimate: bool,
    },
}

impl Dynamics {
    /// The engine's name, as `sample --engine` spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Dynamics::Sgld => "sgld",
            Dynamics::Psgld { .. } => "psgld",
            Dynamics::Sghmc { .. } => "sghmc",
        }
    }
}

/// Weight of the newest estimate in the moving average V̂ of SGHMC's noise estimate: about
/// the last 100 steps.
const NOISE_WEIGHT: f64 = 0.01;

/// Stochastic-gradient MCMC: `chains` chains of minibatch steps, each `burn_in` steps, then
/// `draws` kept draws, one every `thin` steps (constant schedule) or in the sampling stage of
/// each cycle (cyclical schedule).
#[derive(Debug, Clone, PartialEq)]
pub struct Sgmcmc {
    /// SGLD, pSGLD or SGHMC.
    pub dynamics: Dynamics,
    /// Number of chains, run in parallel threads.
    pub chains: usize,
    /// Steps at the base step size before the schedule starts; nothing is kept from them.
    pub burn_in: usize,
    /// Draws kept per chain.
    pub draws: usize,
    /// Steps per kept draw: a draw is kept after every `thin`-th sampling step.
    pub thin: usize,
    /// Base step size: ε of SGLD and pSGLD (the injected noise's variance), the learning
    /// rate η of SGHMC; on the scale of θ with the full-data (N/B-scaled) gradient.
    pub step_size: f64,
    /// Rows per minibatch; `None` (or ≥ N) uses every row at every step.
    pub batch_size: Option<usize>,
    /// [`Decay::None`] (constant step size) or [`Decay::Cyclical`] with M cycles [ZLCW20]:
    /// each cycle's step size falls from the base to 0 along a cosine; its first
    /// `exploration` fraction runs without injected noise (optimization) and keeps nothing, the
    /// rest samples and keeps its share of the draws.
    pub schedule: Decay,
    /// The fraction β of each cycle that explores [ZLCW20], in [0, 1).
    pub exploration: f64,
    /// Seed; chain c uses stream c + 1 of it (start, batches and noise).
    pub seed: u64,
    /// Where chains start.
    pub init: Init,
}

impl Default for Sgmcmc {
    fn default() -> Self {
        Sgmcmc {
            dynamics: Dynamics::Sgld,
            chains: 4,
            burn_in: 1000,
            draws: 1000,
            thin: 1,
            step_size: 1e-3,
            batch_size: None,
            schedule: Decay::None,
            exploration: 0.5,
            seed: 1,
            init: Init::default(),
        }
    }
}

/// One cycle of a run's schedule: steps that explore, then steps that sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cycle {
    /// Steps without injected noise at the cycle's start (none without cycles).
    pub explore: usize,
    /// Draws the cycle keeps, one every `thin` steps after its exploration.
    pub draws: usize,
}

impl Sgmcmc {
    fn validate(&self, n_rows: usize) -> Result<(), EngineError> {
        let bad = |m: String| Err(EngineError::Settings(m));
        if !(self.step_size > 0.0 && self.step_size.is_finite()) {
            return bad(format!(
                "the step size must be positive, got {}",
                self.step_size
            ));
        }
        if self.batch_size == Some(0) {
            return bad("the batch size must be at least 1".into());
        }
        if self.batch_size.is_some_and(|b| b < n_rows) && n_rows == 0 {
            return bad("minibatches need a likelihood over rows".into());
        }
        if self.chains == 0 {
            return bad("at least one chain is needed".into());
        }
        if self.thin == 0 {
            return bad("thinning keeps every K-th step: K must be at least 1".into());
        }
        match self.dynamics {
            Dynamics::Sgld => {}
            Dynamics::Psgld { decay, lambda } => {
                if !(0.0..1.0).contains(&decay) {
                    return bad(format!("pSGLD's decay must be in [0, 1), got {decay}"));
                }
                if !(lambda > 0.0 && lambda.is_finite()) {
                    return bad(format!("pSGLD's lambda must be positive, got {lambda}"));
                }
            }
            Dynamics::Sghmc { friction, .. } => {
                if !(friction > 0.0 && friction <= 1.0) {
                    return bad(format!("the friction must be in (0, 1], got {friction}"));
                }
            }
        }
        if !(0.0..1.0).contains(&self.exploration) {
            return bad(format!(
                "the exploration fraction must be in [0, 1), got {}",
                self.exploration
            ));
        }
        match self.schedule {
            Decay::None => Ok(()),
            Decay::Cyclical { cycles: 0 } => {
                bad("a cyclical schedule needs at least one cycle".into())
            }
            Decay::Cyclical { cycles } if cycles > self.draws => bad(format!(
                "{cycles} cycles do not fit in {} draws: each cycle keeps at least one draw",
                self.draws
            )),
            Decay::Cyclical { .. } => Ok(()),
            Decay::Cosine | Decay::Exponential { .. } => {
                bad("the step-size schedule must be constant or cyclical:M".into())
            }
        }
    }

    /// The cycles after burn-in: one cycle without exploration for a constant step size;
    /// for M cycles, draws split as evenly as they go (⌊D(c+1)/M⌋ − ⌊Dc/M⌋), each cycle's
    /// exploration the fraction β of its length: E = round(β/(1 − β) · draws · thin).
    pub fn cycles(&self) -> Vec<Cycle> {
        match self.schedule {
            Decay::Cyclical { cycles } if cycles > 0 => (0..cycles)
                .map(|c| {
                    let draws = self.draws * (c + 1) / cycles - self.draws * c / cycles;
                    let sampling = (draws * self.thin) as f64;
                    let explore =
                        (self.exploration / (1.0 - self.exploration) * sampling).round() as usize;
                    Cycle { explore, draws }
                })
                .collect(),
            Decay::None | Decay::Cyclical { .. } | Decay::Cosine | Decay::Exponential { .. } => {
                vec![Cycle {
                    explore: 0,
                    draws: self.draws,
                }]
            }
        }
    }

    /// Steps per chain, burn-in included.
    pub fn total_steps(&self) -> usize {
        self.burn_in
            + self
                .cycles()
                .iter()
                .map(|c| c.explore + c.draws * self.thin)
                .sum::<usize>()
    }

    /// The step size at step `t` (from 0) of a cycle of `len` steps: the base without cycles,
    /// else ½ ε (1 + cos(π t / len)) [ZLCW20, eq. 1].
    fn step_size_at(&self, t: usize, len: usize) -> f64 {
        match self.schedule {
            Decay::Cyclical { .. } => Decay::Cosine.lr_at(self.step_size, t, len),
            Decay::None | Decay::Cosine | Decay::Exponential { .. } => self.step_size,
        }
    }

    fn note(&self) -> &'static str {
        "no Metropolis step: lp__ is log p(theta) on the full data at the draw; stepsize__ is \
         the step size of the draw's step; n_leapfrog__ counts the minibatch gradients since the \
         previous draw; divergent__ is 1 when a step since then landed where the density is not \
         finite, and the chain went back to the previous draw; accept_stat__, treedepth__ and energy__ are 0"
    }
}

/// A chain's state and the dynamics' buffers.
pub struct Chain {
    /// Position θ.
    pub theta: Vec<f64>,
    /// SGHMC's velocity v (empty for SGLD).
    velocity: Vec<f64>,
    /// pSGLD's V, or SGHMC's noise estimate V̂ (empty when unused).
    moments: Vec<f64>,
    /// The previous gradient estimate, for SGHMC's noise estimate.
    previous: Vec<f64>,
    /// Whether `previous` holds an estimate yet.
    has_previous: bool,
    /// θ at the chain's last kept draw (its start before the first): a step whose landing
    /// point has a non-finite density returns here, with the velocity zeroed. Not the last
    /// finite point: a step size too large for the curvature grows θ geometrically, and the
    /// points just before the overflow are finite but astronomically far out.
    anchor: Vec<f64>,
    /// log p at `anchor` on the full data.
    anchor_lp: f64,
    /// The highest log p at the start and the kept draws: the level [`blew_up`] measures a
    /// draw's fall from (the last draw's would ratchet down with a slow blow-up).
    best_lp: f64,
    /// Scratch for the gradient estimate ĝ.
    grad: Vec<f64>,
    /// pSGLD's steps taken (for the bias correction of V).
    steps: i32,
}

impl Chain {
    /// A chain at `theta`, whose log-density is `lp`, with empty buffers for `dynamics`.
    pub fn new(theta: Vec<f64>, lp: f64, dynamics: &Dynamics) -> Chain {
        let d = theta.len();
        let (velocity, moments, previous) = match dynamics {
            Dynamics::Sgld => (0, 0, 0),
            Dynamics::Psgld { .. } => (0, d, 0),
            Dynamics::Sghmc { noise_estimate, .. } => {
                let k = if *noise_estimate { d } else { 0 };
                (d, k, k)
            }
        };
        Chain {
            anchor: theta.clone(),
            anchor_lp: lp,
            best_lp: lp,
            theta,
            velocity: vec![0.0; velocity],
            moments: vec![0.0; moments],
            previous: vec![0.0; previous],
            has_previous: false,
            grad: vec![0.0; d],
            steps: 0,
        }
    }

    /// Returns θ to the last kept draw (or the start) and stops the velocity.
    pub fn revert(&mut self) {
        self.theta.copy_from_slice(&self.anchor);
        self.velocity.fill(0.0);
        self.has_previous = false;
    }

    /// Makes the current θ, whose log-density is `lp`, the point a later divergent step
    /// returns to (a kept draw).
    pub fn keep(&mut self, lp: f64) {
        self.anchor.copy_from_slice(&self.theta);
        self.anchor_lp = lp;
        self.best_lp = self.best_lp.max(lp);
    }

    /// One step with step size `eps` from the gradient estimate on `rows` (all rows when
    /// `None`); `noise` false drops the injected noise (a cycle's exploration stage, plain
    /// SGD or SGD with momentum). `n_rows` is N, for pSGLD's per-row gradient.
    ///
    /// The gradient is evaluated where the previous step landed; when it is not finite there,
    /// θ returns to the last kept draw ([`Chain::keep`]; the velocity is zeroed), no move is
    /// made, and the error is returned for the caller to count.
    #[allow(clippy::too_many_arguments)]
    pub fn step<D: Density + ?Sized, R: Rng + ?Sized>(
        &mut self,
        density: &mut D,
        dynamics: &Dynamics,
        eps: f64,
        noise: bool,
        rows: Option<&[usize]>,
        n_rows: usize,
        rng: &mut R,
    ) -> Result<(), DensityError> {
        if let Err(e) = stochastic_grad(density, &self.theta, rows, &mut self.grad) {
            if e.is_recoverable() {
                self.revert();
            }
            return Err(e);
        }
        let mut normal = || -> f64 { rng.sample(StandardNormal) };
        match *dynamics {
            Dynamics::Sgld => {
                // [WT11, eq. 4]: Δθ = (ε/2) ĝ + η, η ~ N(0, ε).
                let sd = if noise { eps.sqrt() } else { 0.0 };
                for (x, g) in self.theta.iter_mut().zip(&self.grad) {
                    *x += 0.5 * eps * g + sd * normal();
                }
            }
            Dynamics::Psgld { decay, lambda } => {
                // [LCCC16, Algorithm 1]: V ← a V + (1 − a) ḡ ⊙ ḡ, G = diag(1 / (λ + √V)),
                // Δθ = (ε/2) G ĝ + N(0, ε G); the Γ(θ) term is left out, as the paper's
                // experiments do (it is O(1 − a) and costly). V is bias-corrected like Adam's
                // second moment, so the first steps are not preconditioned by V ≈ 0.
                self.steps += 1;
                let scale = 1.0 / n_rows.max(1) as f64;
                let correction = 1.0 - decay.powi(self.steps);
                for ((x, g), v) in self.theta.iter_mut().zip(&self.grad).zip(&mut self.moments) {
                    let row = g * scale;
                    *v = decay * *v + (1.0 - decay) * row * row;
                    let precondition = 1.0 / (lambda + (*v / correction).sqrt());
                    let sd = if noise {
                        (eps * precondition).sqrt()
                    } else {
                        0.0
                    };
                    *x += 0.5 * eps * precondition * g + sd * normal();
                }
            }
            Dynamics::Sghmc {
                friction,
                noise_estimate,
            } => {
                // [CFG14, eq. 15]: Δv = η ĝ − α v + N(0, 2 (α − β̂) η), Δθ = v.
                if noise_estimate && self.has_previous {
                    for ((v, g), p) in self.moments.iter_mut().zip(&self.grad).zip(&self.previous) {
                        let half_sq = 0.5 * (g - p) * (g - p);
                        *v += NOISE_WEIGHT * (half_sq - *v);
                    }
                }
                if noise_estimate {
                    self.previous.copy_from_slice(&self.grad);
                    self.has_previous = true;
                }
                for i in 0..self.theta.len() {
                    // [CFG14, §3.2] β̂ = ε B̂ = ½ η V̂ with η = ε², kept in [0, α] so the
                    // injected variance stays non-negative.
                    let beta = if noise_estimate {
                        (0.5 * eps * self.moments[i]).clamp(0.0, friction)
                    } else {
                        0.0
                    };
                    let sd = if noise {
                        (2.0 * (friction - beta) * eps).sqrt()
                    } else {
                        0.0
                    };
                    let v = &mut self.velocity[i];
                    *v += eps * self.grad[i] - friction * *v + sd * normal();
                    self.theta[i] += *v;
                }
            }
        }
        Ok(())
    }
}

/// Whether a draw whose log-density (on the full data) is `lp` lies more than
/// max(1000, 10 |best|) below `best`, the highest log-density of the chain's start and kept
/// draws: a divergence, like NUTS's energy error over 1,000. A step size too large for the
/// local curvature grows θ geometrically, and the points it passes through before the overflow
/// are finite but astronomically far out. Only draws are tested, on the full data: a
/// minibatch's estimate of log p is too noisy on nearly noise-free data (naval's) to tell a
/// blow-up from an unlucky batch.
pub fn blew_up(lp: f64, best: f64) -> bool {
    lp < best - best.abs().max(1000.0)
}

/// The gradient estimate every step of these engines uses: ∇log prior(θ) + (N/B) Σ_rows
/// ∇log lik(θ) through the seam's [`Density::minibatch_grad`], or the full-data gradient when
/// `rows` is `None`; returns the matching estimate of log p(θ).
pub fn stochastic_grad<D: Density + ?Sized>(
    density: &mut D,
    theta: &[f64],
    rows: Option<&[usize]>,
    grad: &mut [f64],
) -> Result<f64, DensityError> {
    match rows {
        Some(rows) => density
            .minibatch_grad(theta, rows, grad)
            .map(|s| s.prior + s.likelihood),
        None => density.log_density_grad(theta, grad),
    }
}

/// The minibatch schedule of a run over `n` rows with `batch_size`; `None` uses every row.
pub(crate) fn batches(batch_size: Option<usize>, n: usize) -> Option<Batches> {
    match batch_size {
        Some(b) if b < n => Some(Batches::new(n, b)),
        _ => None,
    }
}

impl Engine for Sgmcmc {
    type Fit = ();

    fn check_settings(&self, _dim: usize, n_rows: usize) -> Result<(), EngineError> {
        self.validate(n_rows)
    }
    fn name(&self) -> &'static str {
        self.dynamics.name()
    }
    fn chains(&self) -> usize {
        self.chains
    }
    fn warmup(&self) -> usize {
        0
    }
    fn draws(&self) -> usize {
        self.draws
    }
    /// A Markov chain, but without the sampler diagnostics of HMC (no trajectories, no
    /// energy): the summary says so and keeps R-hat and ESS.
    fn is_markov_chain(&self) -> bool {
        false
    }
    fn header(&self) -> Header {
        let schedule = match self.schedule {
            Decay::Cyclical { cycles } => format!("cyclical:{cycles}"),
            Decay::None | Decay::Cosine | Decay::Exponential { .. } => "constant".into(),
        };
        let mut run: Vec<(String, String)> = vec![
            ("method".into(), self.name().into()),
            ("note".into(), self.note().into()),
            ("seed".into(), self.seed.to_string()),
            ("chains".into(), self.chains.to_string()),
            ("burn_in".into(), self.burn_in.to_string()),
            ("num_samples".into(), self.draws.to_string()),
            ("thin".into(), self.thin.to_string()),
            ("step_size".into(), self.step_size.to_string()),
            (
                "batch_size".into(),
                self.batch_size
                    .map_or_else(|| "all".to_string(), |b| b.to_string()),
            ),
            ("schedule".into(), schedule),
        ];
        if let Decay::Cyclical { .. } = self.schedule {
            run.push(("exploration".into(), self.exploration.to_string()));
        }
        let tuning = match self.dynamics {
            Dynamics::Sgld => Vec::new(),
            Dynamics::Psgld { decay, lambda } => vec![
                ("precondition_decay".into(), decay.to_string()),
                ("precondition_lambda".into(), lambda.to_string()),
            ],
            Dynamics::Sghmc {
                friction,
                noise_estimate,
            } => vec![
                ("friction".into(), friction.to_string()),
                ("noise_estimate".into(), (noise_estimate as u8).to_string()),
            ],
        };
        Header { run, tuning }
    }

    fn run_chain<D: Density, S: DrawSink>(
        &self,
        mut density: D,
        chain: usize,
        out: &mut ChainOutput<'_, S>,
    ) -> Result<(), EngineError> {
        let n = density.n_rows();
        self.validate(n)?;
        let mut rng = chain_rng(self.seed, chain);
        let start = start_sampler(&mut density, &self.init, &mut rng, false, chain)?;
        let mut state = Chain::new(start.theta, start.log_density, &self.dynamics);
        let mut stepper = Stepper {
            engine: self,
            batches: batches(self.batch_size, n),
            rows: Vec::new(),
            n_rows: n,
            chain,
            step: 0,
            failed_in_row: 0,
            gradients: 0,
            skipped: false,
        };
        for _ in 0..self.burn_in {
            if out.stop_requested() {
                return Ok(());
            }
            stepper.advance(&mut state, &mut density, &mut rng, self.step_size, true)?;
        }
        for cycle in self.cycles() {
            let len = cycle.explore + cycle.draws * self.thin;
            for t in 0..len {
                if out.stop_requested() {
                    return Ok(());
                }
                let eps = self.step_size_at(t, len);
                let sampling = t >= cycle.explore;
                stepper.advance(&mut state, &mut density, &mut rng, eps, sampling)?;
                if sampling && (t + 1 - cycle.explore).is_multiple_of(self.thin) {
                    let fatal = |source| EngineError::Density {
                        chain,
                        draw: out.next_draw(),
                        source,
                    };
                    // A step that landed where the density is not finite, or that blew up, is
                    // rejected: the draw repeats the previous one (or the start).
                    let lp = match density.log_density(&state.theta) {
                        Ok(lp) if !blew_up(lp, state.best_lp) => lp,
                        Ok(_) => {
                            state.revert();
                            stepper.skipped = true;
                            state.anchor_lp
                        }
                        Err(e) if e.is_recoverable() => {
                            state.revert();
                            stepper.skipped = true;
                            state.anchor_lp
                        }
                        Err(source) => return Err(fatal(source)),
                    };
                    state.keep(lp);
                    out.draw(
                        &state.theta,
                        &DrawStats {
                            lp,
                            accept_stat: 0.0,
                            step_size: eps,
                            tree_depth: 0,
                            n_leapfrog: std::mem::take(&mut stepper.gradients),
                            divergent: std::mem::take(&mut stepper.skipped),
                            energy: 0.0,
                            warmup: false,
                        },
                    )?;
                }
            }
        }
        Ok(())
    }
}

/// A chain's step loop: the batch order, and the counts the draws report.
struct Stepper<'a> {
    engine: &'a Sgmcmc,
    batches: Option<Batches>,
    /// The current batch's rows (reused).
    rows: Vec<usize>,
    n_rows: usize,
    chain: usize,
    /// Steps taken, burn-in included.
    step: usize,
    failed_in_row: usize,
    /// Gradients since the previous draw.
    gradients: u64,
    /// Whether a step since the previous draw was skipped.
    skipped: bool,
}

impl Stepper<'_> {
    /// One step on the next batch. A step whose density is not finite is skipped (θ stays);
    /// after [`MAX_FAILED_STEPS`] in a row, or on a fatal error, the chain fails.
    fn advance<D: Density, R: Rng + ?Sized>(
        &mut self,
        state: &mut Chain,
        density: &mut D,
        rng: &mut R,
        eps: f64,
        noise: bool,
    ) -> Result<(), EngineError> {
        let rows = match self.batches.as_mut() {
            Some(b) => {
                self.rows.clear();
                self.rows.extend_from_slice(b.next(rng));
                Some(self.rows.as_slice())
            }
            None => None,
        };
        let result = state.step(
            density,
            &self.engine.dynamics,
            eps,
            noise,
            rows,
            self.n_rows,
            rng,
        );
        self.step += 1;
        self.gradients += 1;
        match result {
            Ok(()) => self.failed_in_row = 0,
            Err(e) if e.is_recoverable() && self.failed_in_row + 1 < MAX_FAILED_STEPS => {
                self.failed_in_row += 1;
                self.skipped = true;
            }
            Err(source) => {
                return Err(EngineError::Density {
                    chain: self.chain,
                    draw: self.step - 1,
                    source,
                })
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::density::FnDensity;

    fn settings(schedule: Decay, draws: usize, thin: usize) -> Sgmcmc {
        Sgmcmc {
            burn_in: 10,
            draws,
            thin,
            schedule,
            exploration: 0.8,
            ..Sgmcmc::default()
        }
    }

    #[test]
    fn cycles_split_the_draws_and_explore_the_stated_fraction() {
        // 10 draws in 3 cycles: ⌊10·1/3⌋ − 0 = 3, ⌊20/3⌋ − 3 = 3, 10 − 6 = 4; thin 2 gives
        // sampling stages of 6, 6, 8 steps, and β = 0.8 explorations of 4 × that: 24, 24, 32.
        let s = settings(Decay::Cyclical { cycles: 3 }, 10, 2);
        let c = s.cycles();
        assert_eq!(
            c.iter().map(|c| (c.explore, c.draws)).collect::<Vec<_>>(),
            [(24, 3), (24, 3), (32, 4)]
        );
        assert_eq!(s.total_steps(), 10 + 30 + 30 + 40);
        // Constant: one stage of 10 · 2 sampling steps after the burn-in.
        assert_eq!(settings(Decay::None, 10, 2).total_steps(), 30);
    }

    #[test]
    fn bad_settings_are_refused_with_what_is_wrong() {
        let msg = |s: Sgmcmc| match s.validate(100) {
            Err(EngineError::Settings(m)) => m,
            other => panic!("{other:?}"),
        };
        let base = settings(Decay::None, 10, 1);
        assert_eq!(
            msg(Sgmcmc {
                step_size: 0.0,
                ..base.clone()
            }),
            "the step size must be positive, got 0"
        );
        assert_eq!(
            msg(Sgmcmc {
                batch_size: Some(0),
                ..base.clone()
            }),
            "the batch size must be at least 1"
        );
        assert_eq!(
            msg(settings(Decay::Cyclical { cycles: 11 }, 10, 1)),
            "11 cycles do not fit in 10 draws: each cycle keeps at least one draw"
        );
        assert!(settings(Decay::Cyclical { cycles: 10 }, 10, 1)
            .validate(100)
            .is_ok());
    }

    #[test]
    fn sgld_without_noise_is_gradient_ascent_with_half_the_step() {
        // log p = −½ θ², ĝ = −θ: θ ← θ − (ε/2) θ = 0.9 θ for ε = 0.2.
        let mut density = FnDensity::new(1, |x: &[f64], g: &mut [f64]| {
            g[0] = -x[0];
            -0.5 * x[0] * x[0]
        });
        let mut rng = chain_rng(1, 0);
        let mut c = Chain::new(vec![1.0], -0.5, &Dynamics::Sgld);
        c.step(&mut density, &Dynamics::Sgld, 0.2, false, None, 0, &mut rng)
            .expect("finite");
        assert!((c.theta[0] - 0.9).abs() < 1e-15);
    }

    #[test]
    fn sghmc_without_noise_is_sgd_with_momentum() {
        // ĝ = −θ, η = 0.1, α = 0.5, from θ = 1, v = 0: v₁ = −0.1, θ₁ = 0.9;
        // v₂ = −0.1 − 0.09 + 0.05 = −0.14, θ₂ = 0.76.
        let dynamics = Dynamics::Sghmc {
            friction: 0.5,
            noise_estimate: false,
        };
        let mut density = FnDensity::new(1, |x: &[f64], g: &mut [f64]| {
            g[0] = -x[0];
            -0.5 * x[0] * x[0]
        });
        let mut rng = chain_rng(1, 0);
        let mut c = Chain::new(vec![1.0], -0.5, &dynamics);
        for _ in 0..2 {
            c.step(&mut density, &dynamics, 0.1, false, None, 0, &mut rng)
                .expect("finite");
        }
        assert!((c.theta[0] - 0.76).abs() < 1e-15, "{}", c.theta[0]);
    }

    #[test]
    fn psgld_first_step_moves_by_half_the_step_per_unit_gradient() {
        // After one step V̂ = ḡ² (bias-corrected), so G ĝ = ĝ / (λ + |ĝ|/N) ≈ N sign(ĝ) with
        // N = 0 rows counted as 1: Δθ = (ε/2) · ĝ/(λ + |ĝ|) ≈ ε/2 · sign(ĝ) = −0.05.
        let dynamics = Dynamics::Psgld {
            decay: 0.99,
            lambda: 1e-8,
        };
        let mut density = FnDensity::new(1, |x: &[f64], g: &mut [f64]| {
            g[0] = -3.0 * x[0];
            -1.5 * x[0] * x[0]
        });
        let mut rng = chain_rng(1, 0);
        let mut c = Chain::new(vec![1.0], -0.5, &dynamics);
        c.step(&mut density, &dynamics, 0.1, false, None, 0, &mut rng)
            .expect("finite");
        assert!((c.theta[0] - 0.95).abs() < 1e-8, "{}", c.theta[0]);
    }

    #[test]
    fn a_step_into_a_non_finite_density_is_rejected() {
        // log p = −½ θ² for θ < 1.5, NaN beyond. SGLD at ε = 1 jumps past 1.5 often; every such
        // landing point is left for the last point with a finite gradient, so every draw is
        // below 1.5 with a finite lp, and the skipped steps are flagged.
        let target = FnDensity::new(1, |x: &[f64], g: &mut [f64]| {
            g[0] = -x[0];
            if x[0] < 1.5 {
                -0.5 * x[0] * x[0]
            } else {
                f64::NAN
            }
        });
        let s = Sgmcmc {
            chains: 1,
            burn_in: 0,
            draws: 2000,
            step_size: 1.0,
            init: Init::User(vec![0.0]),
            ..Sgmcmc::default()
        };
        let trace = s.sample(&target).expect("runs");
        let c = &trace.chains[0];
        assert_eq!(c.len(), 2000);
        assert!(c.theta.iter().all(|x| *x < 1.5));
        assert!(c.stats.iter().all(|s| s.lp.is_finite()));
        assert!(c.stats.iter().any(|s| s.divergent));
    }

    #[test]
    fn a_chain_that_blows_up_goes_back_to_its_previous_draw() {
        // log p = −½ θ²: SGD with momentum is stable for η < 2 (2 − α) = 3.8 at α = 0.1, so
        // η = 4 grows |θ| geometrically until it overflows. The points just before the
        // overflow are finite but astronomically far out; the chain must go back to its
        // previous draw, not to them, and flag the draws after such a step.
        let target = FnDensity::new(1, |x: &[f64], g: &mut [f64]| {
            g[0] = -x[0];
            -0.5 * x[0] * x[0]
        });
        let s = Sgmcmc {
            dynamics: Dynamics::Sghmc {
                friction: 0.1,
                noise_estimate: false,
            },
            chains: 1,
            burn_in: 0,
            draws: 50,
            thin: 100,
            step_size: 4.0,
            init: Init::User(vec![0.5]),
            ..Sgmcmc::default()
        };
        let trace = s.sample(&target).expect("runs");
        let c = &trace.chains[0];
        assert!(c.stats.iter().any(|s| s.divergent));
        assert!(c.theta.iter().all(|x| x.abs() < 100.0), "{:?}", c.theta);
    }

    #[test]
    fn the_step_size_follows_the_cosine_within_each_cycle() {
        // [ZLCW20, eq. 1]: ½ ε (1 + cos(π t / len)): ε at t = 0, ε/2 at the middle.
        let s = Sgmcmc {
            step_size: 0.2,
            ..settings(Decay::Cyclical { cycles: 2 }, 10, 1)
        };
        assert_eq!(s.step_size_at(0, 10), 0.2);
        assert!((s.step_size_at(5, 10) - 0.1).abs() < 1e-15);
        assert_eq!(settings(Decay::None, 10, 1).step_size_at(5, 10), 1e-3);
    }
}
