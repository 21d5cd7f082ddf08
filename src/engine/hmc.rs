//! Static HMC: a fixed number of leapfrog steps and a Metropolis accept, with Stan's warmup
//! (dual-averaged step size, windowed diagonal mass matrix).
//!
//! - [Neal11] R. M. Neal, MCMC using Hamiltonian dynamics, Handbook of MCMC, 2011, §5.3.
//! - [HG14] M. D. Hoffman & A. Gelman, The No-U-Turn Sampler, JMLR 15, 2014, Alg. 4–5.
//! - [Stan] stan/mcmc/hmc/base_hmc.hpp (`init_stepsize`), base_static_hmc.hpp.

use rand::{Rng, RngExt};

use super::adapt::{DualAveraging, WarmupWindows, WindowedVariance};
use super::init::{start_sampler, Init};
use super::leapfrog::{draw_momentum, kinetic_energy, leapfrog};
use super::rng::chain_rng;
use super::{
    validate_step_size, Adaptation, ChainOutput, DrawSink, DrawStats, Engine, EngineError, Header,
};
use crate::density::{Density, DensityError};

/// An energy error above this ends a trajectory as a divergence (Stan's NUTS threshold).
const MAX_ENERGY_ERROR: f64 = 1000.0;

/// Static Hamiltonian Monte Carlo with Stan's warmup.
#[derive(Debug, Clone, PartialEq)]
pub struct Hmc {
    /// Number of chains.
    pub chains: usize,
    /// Warmup (adaptation) draws per chain; they are not posterior draws.
    pub warmup: usize,
    /// Sampling draws per chain, made with the adapted step size and mass matrix.
    pub draws: usize,
    /// Leapfrog steps L per trajectory; the integration time is L · ε.
    pub n_leapfrog: usize,
    /// Target Metropolis acceptance probability δ of step-size adaptation, in (0, 1).
    pub target_accept: f64,
    /// Seed of the run; chain c uses stream c + 1 of it.
    pub seed: u64,
    /// Where chains start.
    pub init: Init,
    /// Uniform jitter of the step size, as a fraction in [0, 1): each trajectory uses
    /// ε · (1 + jitter · (2u − 1)), u ~ uniform(0, 1) (Stan's `stepsize_jitter`). Jitter
    /// breaks the periodic orbits a fixed L · ε can lock into.
    pub step_size_jitter: f64,
    /// Step size the initial search starts from (Stan's `stepsize`), on the scale of θ.
    pub initial_step_size: f64,
}

impl Default for Hmc {
    fn default() -> Self {
        Hmc {
            chains: 4,
            warmup: 1000,
            draws: 1000,
            n_leapfrog: 16,
            target_accept: 0.8,
            seed: 0,
            init: Init::default(),
            step_size_jitter: 0.0,
            initial_step_size: 1.0,
        }
    }
}

impl Hmc {
    fn validate(&self) -> Result<(), EngineError> {
        let bad = |m: String| Err(EngineError::Settings(m));
        if self.n_leapfrog == 0 {
            return bad("n_leapfrog must be at least 1".to_string());
        }
        validate_step_size(
            self.target_accept,
            self.step_size_jitter,
            self.initial_step_size,
        )
    }
}

impl Engine for Hmc {
    type Fit = ();

    fn check_settings(&self, _dim: usize, _n_rows: usize) -> Result<(), EngineError> {
        self.validate()
    }

    fn name(&self) -> &'static str {
        "hmc"
    }
    fn header(&self) -> Header {
        Header {
            run: super::nuts::mcmc_run_header(
                self.seed,
                self.chains,
                self.warmup,
                self.draws,
                self.target_accept,
            ),
            tuning: vec![("steps".into(), self.n_leapfrog.to_string())],
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
        mut density: D,
        chain: usize,
        out: &mut ChainOutput<'_, S>,
    ) -> Result<(), EngineError> {
        self.validate()?;
        let mut rng = chain_rng(self.seed, chain);
        let start = start_sampler(&mut density, &self.init, &mut rng, false, chain)?;
        let dim = density.dim();
        let mut state = State {
            theta: start.theta,
            log_density: start.log_density,
            grad: start.grad,
        };
        let mut scratch = Scratch::new(dim);
        let mut inv_mass = vec![1.0; dim];
        let fatal = |draw: usize| {
            move |source: DensityError| EngineError::Density {
                chain,
                draw,
                source,
            }
        };

        let mut step_size = find_step_size(
            &mut density,
            &state,
            &inv_mass,
            self.initial_step_size,
            &mut rng,
            &mut scratch,
        )
        .map_err(fatal(0))?;
        let mut dual = DualAveraging::new(self.target_accept, step_size);
        let mut windows = WindowedVariance::new(
            self.warmup,
            WarmupWindows::for_start(self.warmup, &self.init),
            dim,
        );

        if self.warmup == 0 {
            out.adaptation_done(&Adaptation {
                step_size,
                inv_mass: inv_mass.clone(),
            })?;
        }
        for i in 0..self.warmup + self.draws {
            if out.stop_requested() {
                return Ok(());
            }
            let warmup = i < self.warmup;
            // [Stan] base_hmc::sample_stepsize: ε (1 + jitter (2u − 1)).
            let used_step_size = if self.step_size_jitter > 0.0 {
                let u: f64 = rng.random();
                step_size * (1.0 + self.step_size_jitter * (2.0 * u - 1.0))
            } else {
                step_size
            };
            let t = transition(
                &mut density,
                &mut state,
                &inv_mass,
                used_step_size,
                self.n_leapfrog,
                &mut rng,
                &mut scratch,
            )
            .map_err(fatal(i))?;

            if warmup {
                // [HG14, Alg. 5] adapt ε toward δ with this transition's acceptance probability.
                step_size = dual.update(t.accept_stat);
                // [Stan] var_adaptation: at the end of a slow window M⁻¹ changes, so the step
                // size is searched again and dual averaging restarts from μ = log(10 ε).
                if windows.learn(&state.theta, &mut inv_mass) {
                    step_size = find_step_size(
                        &mut density,
                        &state,
                        &inv_mass,
                        step_size,
                        &mut rng,
                        &mut scratch,
                    )
                    .map_err(fatal(i))?;
                    dual.restart(step_size);
                }
            }
            out.draw(
                &state.theta,
                &DrawStats {
                    lp: state.log_density,
                    accept_stat: t.accept_stat,
                    step_size: used_step_size,
                    tree_depth: 0,
                    n_leapfrog: t.n_leapfrog,
                    divergent: t.divergent,
                    energy: t.energy,
                    warmup,
                },
            )?;
            if i + 1 == self.warmup {
                // [HG14, Alg. 5] after warmup, ε = ε̄.
                step_size = dual.final_step_size();
                out.adaptation_done(&Adaptation {
                    step_size,
                    inv_mass: inv_mass.clone(),
                })?;
            }
        }
        Ok(())
    }
}

/// The current point of the chain.
#[derive(Debug, Clone)]
struct State {
    /// Position θ.
    theta: Vec<f64>,
    /// log p(θ).
    log_density: f64,
    /// ∇ log p(θ).
    grad: Vec<f64>,
}

/// Per-chain buffers for the proposal, reused so a transition allocates nothing.
struct Scratch {
    theta: Vec<f64>,
    momentum: Vec<f64>,
    grad: Vec<f64>,
}

impl Scratch {
    fn new(dim: usize) -> Self {
        Scratch {
            theta: vec![0.0; dim],
            momentum: vec![0.0; dim],
            grad: vec![0.0; dim],
        }
    }
}

/// What one transition did.
struct Transition {
    /// Metropolis acceptance probability min(1, exp(H₀ − H₁)); 0 after a divergence.
    accept_stat: f64,
    /// Whether the trajectory diverged (non-finite density or energy error > 1000).
    divergent: bool,
    /// Leapfrog steps taken.
    n_leapfrog: u64,
    /// H at the state the chain is in after the transition.
    energy: f64,
}

/// Integrates `n_steps` leapfrog steps from θ with fresh momentum and proposes the end point.
///
/// Recoverable density failures stop the trajectory and reject it as a divergence; fatal ones
/// are returned.
fn transition<D: Density, R: Rng + ?Sized>(
    density: &mut D,
    state: &mut State,
    inv_mass: &[f64],
    step_size: f64,
    n_steps: usize,
    rng: &mut R,
    scratch: &mut Scratch,
) -> Result<Transition, DensityError> {
    draw_momentum(rng, inv_mass, &mut scratch.momentum);
    let h0 = -state.log_density + kinetic_energy(inv_mass, &scratch.momentum);
    scratch.theta.copy_from_slice(&state.theta);
    scratch.grad.copy_from_slice(&state.grad);
    let mut log_density = state.log_density;
    let mut divergent = false;
    let mut taken = 0;
    for _ in 0..n_steps {
        taken += 1;
        match leapfrog(
            density,
            &mut scratch.theta,
            &mut scratch.momentum,
            &mut scratch.grad,
            inv_mass,
            step_size,
        ) {
            Ok(lp) => log_density = lp,
            Err(e) if e.is_recoverable() => {
                divergent = true;
                break;
            }
            Err(e) => return Err(e),
        }
        let h = -log_density + kinetic_energy(inv_mass, &scratch.momentum);
        if !h.is_finite() || h - h0 > MAX_ENERGY_ERROR {
            divergent = true;
            break;
        }
    }
    let h1 = -log_density + kinetic_energy(inv_mass, &scratch.momentum);
    // [Neal11, eq. 5.22] accept with probability min(1, exp(H₀ − H₁)); the final momentum
    // negation that makes the proposal an involution does not change K, so it is skipped.
    let accept_stat = if divergent {
        0.0
    } else {
        (h0 - h1).exp().min(1.0)
    };
    let u: f64 = rng.random();
    let accept = u < accept_stat;
    if accept {
        state.theta.copy_from_slice(&scratch.theta);
        state.grad.copy_from_slice(&scratch.grad);
        state.log_density = log_density;
    }
    Ok(Transition {
        accept_stat,
        divergent,
        n_leapfrog: taken,
        energy: if accept { h1 } else { h0 },
    })
}

/// Stan's `init_stepsize` heuristic [HG14, Alg. 4 with Stan's threshold 0.8]: double or halve ε
/// until the acceptance of one leapfrog step from θ crosses 0.8, starting from `step_size`.
///
/// Stan throws when ε leaves (0, 1e7); we stop there instead and let dual averaging and the
/// divergence count tell the user (an improper posterior runs away, it does not crash).
fn find_step_size<D: Density, R: Rng + ?Sized>(
    density: &mut D,
    state: &State,
    inv_mass: &[f64],
    step_size: f64,
    rng: &mut R,
    scratch: &mut Scratch,
) -> Result<f64, DensityError> {
    let mut step_size = step_size;
    if !(step_size > 0.0 && step_size <= 1e7) {
        return Ok(step_size);
    }
    let threshold = 0.8f64.ln();
    // ΔH = H₀ − H₁ after one leapfrog step from θ with fresh momentum; −∞ if it failed.
    let mut delta_h =
        |step_size: f64, rng: &mut R, scratch: &mut Scratch| -> Result<f64, DensityError> {
            draw_momentum(rng, inv_mass, &mut scratch.momentum);
            let h0 = -state.log_density + kinetic_energy(inv_mass, &scratch.momentum);
            scratch.theta.copy_from_slice(&state.theta);
            scratch.grad.copy_from_slice(&state.grad);
            match leapfrog(
                density,
                &mut scratch.theta,
                &mut scratch.momentum,
                &mut scratch.grad,
                inv_mass,
                step_size,
            ) {
                Ok(lp) => {
                    let h1 = -lp + kinetic_energy(inv_mass, &scratch.momentum);
                    Ok(if h1.is_nan() {
                        f64::NEG_INFINITY
                    } else {
                        h0 - h1
                    })
                }
                Err(e) if e.is_recoverable() => Ok(f64::NEG_INFINITY),
                Err(e) => Err(e),
            }
        };
    let up = delta_h(step_size, rng, scratch)? > threshold;
    for _ in 0..200 {
        let dh = delta_h(step_size, rng, scratch)?;
        // Stan stops when ΔH crosses log 0.8; a NaN comparison counts as crossed.
        let keep_going = if up { dh > threshold } else { dh < threshold };
        if !keep_going {
            break;
        }
        let next = if up { step_size * 2.0 } else { step_size * 0.5 };
        if !(next > 1e-300 && next <= 1e7) {
            break;
        }
        step_size = next;
    }
    Ok(step_size)
}
