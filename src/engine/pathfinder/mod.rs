//! Pathfinder [ZCGV22]: L-BFGS paths on −log p from random starts, the local Gaussian at every
//! iterate, the one with the best Monte Carlo ELBO per path, and the paths' draws pooled and
//! resampled by Pareto-smoothed importance weights (as Stan 2.33+ runs it); also the starting
//! points it gives NUTS and HMC chains (`sample --init pathfinder`).
//!
//! One path [ZCGV22, Alg. 1]: from a start, L-BFGS ([`super::lbfgs::lbfgs_path`]) records the
//! iterates (θₗ, ∇log p(θₗ)), l = 0..L; at each l ≥ 1 the history of the last J pairs gives the
//! Gaussian qₗ = N(μₗ, Hₗ) ([`gaussian`]), and K draws from it estimate
//! ELBO(qₗ) = E_q[log p(θ) − log q(θ)]. The qₗ with the largest estimate gives the path's M draws
//! with their log ratios log p − log q. Multi-path [ZCGV22, Alg. 5]: P paths, their P·M draws
//! pooled, Pareto-smoothed importance weights from the log ratios ([`psis`]), and the output
//! resampled with replacement by those weights; one path is returned as drawn.
//!
//! The defaults are Stan's (CmdStan 2.33 `pathfinder`): P = 4 paths, history J = 5, K = 25 ELBO
//! draws, M = 1000 draws per path and 1000 after resampling, at most 1000 L-BFGS iterations.
//! (The paper's own experiments used J = 6 and K = 5.)
//!
//! Path p draws from [`chain_rng`]`(seed ^ PATH_SALT, p)` and the resampling from its own
//! stream, so a seed fixes every draw whatever runs beside it.
//!
//! - [ZCGV22] Zhang, Carpenter, Gelman & Vehtari, Pathfinder: Parallel quasi-Newton variational
//!   inference, JMLR 23(306), 2022.

pub mod gaussian;
pub mod psis;

use super::init::{find_start, Guarded, Init, InitFailure};
use super::lbfgs::lbfgs_path;
use super::map::mode_stats;
use super::output::FitSummary;
use super::rng::chain_rng;
use super::{ChainOutput, DrawSink, Engine, EngineError, Header};
use crate::density::{Density, DensityError, Target};
use gaussian::{History, LocalGaussian};

/// Mixed into the seed of the paths, so they are streams of their own (not a sampler's).
const PATH_SALT: u64 = 0x5bd1_e995_27d4_eb2f;
/// Iterations in a row whose change in log p is below the relative tolerance before a path
/// stops. Stan stops at the first; on a long ridge (kilpisjarvi's intercept and slope, correlated
/// at −0.99999) one iteration can change log p by 10⁻¹³ relative while L-BFGS is still learning
/// the ridge's curvature, dozens of iterations and 2 posterior sds short of the mode, and the
/// path's Gaussians there are 60 times too narrow. At a true optimum the gradient test or the
/// next iterations' changes, all at the rounding of log p, end the path a few iterations later.
pub const STALLED_ITERATIONS: usize = 5;
/// Mixed into the seed of the resampling.
const RESAMPLE_SALT: u64 = 0x94d0_49bb_1331_11eb;

/// Pathfinder settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Pathfinder {
    /// Number of paths P (Stan's `num_paths`).
    pub paths: usize,
    /// Draws per path M, and draws after resampling (Stan's `num_draws`, `num_psis_draws`).
    pub draws: usize,
    /// Pairs J kept by L-BFGS and by the inverse-Hessian estimate (Stan's `history_size`).
    pub history: usize,
    /// Draws K per iterate for the ELBO estimate (Stan's `num_elbo_draws`).
    pub elbo_draws: usize,
    /// L-BFGS iterations per path at most (Stan's `max_lbfgs_iters`).
    pub max_iters: usize,
    /// L-BFGS stops when log p changes by less than `tol`·max(1, |log p|) in each of
    /// [`STALLED_ITERATIONS`] iterations in a row.
    pub tol: f64,
    /// L-BFGS stops when ‖∇log p‖ falls below this (Stan's `tol_grad`).
    pub grad_tol: f64,
    /// Seed of the starts, the ELBO draws, the draws and the resampling.
    pub seed: u64,
    /// Where each path starts ([`Init::Random`]: each its own point).
    pub init: Init,
}

impl Default for Pathfinder {
    fn default() -> Self {
        Pathfinder {
            paths: 4,
            draws: 1000,
            history: 5,
            elbo_draws: 25,
            max_iters: 1000,
            tol: 1e-12,
            grad_tol: 1e-8,
            seed: 1,
            init: Init::default(),
        }
    }
}

/// How one path went.
#[derive(Debug, Clone, PartialEq)]
pub struct PathSummary {
    /// Path index, from 0.
    pub path: usize,
    /// L-BFGS iterations made.
    pub iterations: usize,
    /// The iterate whose Gaussian had the best ELBO (from 1), if any did.
    pub best_iteration: Option<usize>,
    /// That ELBO estimate (up to the density's constant).
    pub elbo: f64,
    /// Gradient evaluations (start search and L-BFGS).
    pub gradients: u64,
    /// Log-density evaluations without the gradient (ELBO estimates and draws).
    pub log_densities: u64,
    /// Why the path was dropped, if it was.
    pub failure: Option<String>,
    /// The best iterate's Gaussian.
    pub gaussian: Option<LocalGaussian>,
}

/// What a Pathfinder run leaves besides its draws.
#[derive(Debug, Clone, PartialEq)]
pub struct PathfinderResult {
    /// Every path, dropped ones included.
    pub paths: Vec<PathSummary>,
    /// The Pareto k̂ of the pooled importance ratios (`None`: one path, or a tail too short).
    pub pareto_k: Option<f64>,
    /// The output draws, row after row (`draws × d`).
    pub theta: Vec<f64>,
    /// log p of each output draw.
    pub log_density: Vec<f64>,
}

impl PathfinderResult {
    /// Gradient evaluations over all paths.
    pub fn gradients(&self) -> u64 {
        self.paths.iter().map(|p| p.gradients).sum()
    }

    /// Log-density evaluations without the gradient over all paths.
    pub fn log_densities(&self) -> u64 {
        self.paths.iter().map(|p| p.log_densities).sum()
    }

    /// The paths dropped, with their reasons.
    pub fn dropped(&self) -> impl Iterator<Item = &PathSummary> {
        self.paths.iter().filter(|p| p.failure.is_some())
    }
}

/// The draws of all surviving paths, before resampling.
struct Pool {
    /// Every path's summary.
    paths: Vec<PathSummary>,
    /// Draws, row after row.
    theta: Vec<f64>,
    /// log p of each draw.
    log_p: Vec<f64>,
    /// log p − log q of each draw.
    log_ratio: Vec<f64>,
}

/// log p at θ, −∞ where the density fails recoverably (a non-finite value).
fn log_p_or_neg_inf<D: Density>(density: &mut D, theta: &[f64]) -> Result<f64, DensityError> {
    match density.log_density(theta) {
        Ok(lp) if lp.is_finite() => Ok(lp),
        Ok(_) => Ok(f64::NEG_INFINITY),
        Err(e) if e.is_recoverable() => Ok(f64::NEG_INFINITY),
        Err(e) => Err(e),
    }
}

/// A path's draws from its best Gaussian.
struct PathDraws {
    /// Row after row.
    theta: Vec<f64>,
    /// log p.
    log_p: Vec<f64>,
    /// log q.
    log_q: Vec<f64>,
}

impl Pathfinder {
    fn fatal(chain: usize, draw: usize) -> impl Fn(DensityError) -> EngineError {
        move |source| EngineError::Density {
            chain,
            draw,
            source,
        }
    }

    /// One path: its summary, and its draws unless it was dropped. `stop` is asked between
    /// iterations and draws; a stopped path keeps what it has.
    fn path<D: Density>(
        &self,
        density: &mut D,
        path: usize,
        chain: usize,
        stop: &mut dyn FnMut() -> bool,
    ) -> Result<(PathSummary, Option<PathDraws>), EngineError> {
        let d = density.dim();
        let mut rng = chain_rng(self.seed ^ PATH_SALT, path);
        let mut summary = PathSummary {
            path,
            iterations: 0,
            best_iteration: None,
            elbo: f64::NEG_INFINITY,
            gradients: 0,
            log_densities: 0,
            failure: None,
            gaussian: None,
        };
        let start = match find_start(density, &self.init, &mut rng, false) {
            Ok(start) => start,
            Err(e) => {
                summary.gradients = e.attempts as u64;
                if let InitFailure::Density(source) = &e.reason {
                    if !source.is_recoverable() {
                        return Err(Self::fatal(chain, 0)(source.clone()));
                    }
                }
                summary.failure = Some(format!(
                    "no starting point after {} attempt(s): {}",
                    e.attempts, e.reason
                ));
                return Ok((summary, None));
            }
        };
        summary.gradients = start.attempts as u64;
        // The path: (θₗ, ∇log p(θₗ)), l = 0..L.
        let mut thetas = vec![start.theta.clone()];
        let mut grads = vec![start.grad.clone()];
        let mut theta = start.theta;
        let mut last = start.log_density;
        let mut stalled = 0;
        let tol = self.tol;
        let outcome = lbfgs_path(
            density,
            &mut theta,
            self.max_iters,
            self.history,
            self.grad_tol,
            &mut |it| {
                thetas.push(it.theta.to_vec());
                grads.push(it.grad.to_vec());
                let small = (it.log_density - last).abs() < tol * it.log_density.abs().max(1.0);
                last = it.log_density;
                stalled = if small { stalled + 1 } else { 0 };
                stalled < STALLED_ITERATIONS && !stop()
            },
        )
        .map_err(|(k, e)| Self::fatal(chain, k)(e))?;
        summary.gradients += outcome.evaluations;
        summary.iterations = outcome.iterations;

        // [ZCGV22, Alg. 1]: the Gaussian at every iterate, the best ELBO kept.
        let mut history = History::new(d, self.history);
        let mut best: Option<(f64, usize, LocalGaussian)> = None;
        let mut draw = vec![0.0; d];
        for l in 1..thetas.len() {
            history.push(&thetas[l - 1], &grads[l - 1], &thetas[l], &grads[l]);
            let Some(q) = LocalGaussian::new(&thetas[l], &grads[l], &history) else {
                continue;
            };
            let mut sum = 0.0;
            for _ in 0..self.elbo_draws {
                let log_q = q.sample(&mut rng, &mut draw);
                summary.log_densities += 1;
                sum += log_p_or_neg_inf(density, &draw).map_err(Self::fatal(chain, l))? - log_q;
            }
            let elbo = sum / self.elbo_draws as f64;
            if elbo.is_finite() && best.as_ref().is_none_or(|(b, _, _)| elbo > *b) {
                best = Some((elbo, l, q));
            }
        }
        let Some((elbo, l, q)) = best else {
            summary.failure = Some(if summary.iterations == 0 {
                "L-BFGS made no step from its start".to_string()
            } else {
                format!(
                    "the ELBO estimate is not finite at any of its {} iterate(s)",
                    summary.iterations
                )
            });
            return Ok((summary, None));
        };
        summary.best_iteration = Some(l);
        summary.elbo = elbo;
        let mut draws = PathDraws {
            theta: Vec::with_capacity(self.draws * d),
            log_p: Vec::with_capacity(self.draws),
            log_q: Vec::with_capacity(self.draws),
        };
        for k in 0..self.draws {
            if stop() {
                break;
            }
            let log_q = q.sample(&mut rng, &mut draw);
            summary.log_densities += 1;
            let log_p = log_p_or_neg_inf(density, &draw).map_err(Self::fatal(chain, k))?;
            draws.theta.extend_from_slice(&draw);
            draws.log_p.push(log_p);
            draws.log_q.push(log_q);
        }
        summary.gaussian = Some(q);
        Ok((summary, Some(draws)))
    }

    /// Every path, pooled; an error when every path was dropped.
    fn pool<D: Density>(
        &self,
        density: &mut D,
        chain: usize,
        stop: &mut dyn FnMut() -> bool,
    ) -> Result<Pool, EngineError> {
        let mut pool = Pool {
            paths: Vec::with_capacity(self.paths),
            theta: Vec::new(),
            log_p: Vec::new(),
            log_ratio: Vec::new(),
        };
        for p in 0..self.paths {
            let (summary, draws) = self.path(density, p, chain, stop)?;
            if let Some(draws) = draws {
                pool.theta.extend(draws.theta);
                pool.log_ratio
                    .extend(draws.log_p.iter().zip(&draws.log_q).map(|(p, q)| p - q));
                pool.log_p.extend(draws.log_p);
            }
            pool.paths.push(summary);
        }
        if pool.paths.iter().all(|p| p.failure.is_some()) {
            let reasons: Vec<String> = pool
                .paths
                .iter()
                .map(|p| {
                    format!(
                        "path {}: {}",
                        p.path + 1,
                        p.failure.as_deref().unwrap_or_default()
                    )
                })
                .collect();
            return Err(EngineError::NoPath {
                chain,
                message: format!("every Pathfinder path failed ({})", reasons.join("; ")),
            });
        }
        Ok(pool)
    }

    /// The multi-path fit: the pooled draws resampled by their Pareto-smoothed weights to
    /// [`Pathfinder::draws`] (one path: its draws as drawn). Fails with
    /// [`EngineError::NoPath`] when every path was dropped.
    pub fn fit<D: Density>(
        &self,
        density: &mut D,
        chain: usize,
        stop: &mut dyn FnMut() -> bool,
    ) -> Result<PathfinderResult, EngineError> {
        let pool = self.pool(density, chain, stop)?;
        let d = density.dim();
        let (weights, pareto_k) = psis::psis_weights(&pool.log_ratio);
        let picks: Vec<usize> = if self.paths == 1 || pool.log_p.is_empty() {
            (0..pool.log_p.len().min(self.draws)).collect()
        } else {
            let mut rng = chain_rng(self.seed ^ RESAMPLE_SALT, chain);
            psis::resample(&weights, self.draws, &mut rng)
        };
        let mut theta = Vec::with_capacity(picks.len() * d);
        for &i in &picks {
            theta.extend_from_slice(&pool.theta[i * d..(i + 1) * d]);
        }
        Ok(PathfinderResult {
            paths: pool.paths,
            pareto_k: (self.paths > 1).then_some(pareto_k).flatten(),
            log_density: picks.iter().map(|&i| pool.log_p[i]).collect(),
            theta,
        })
    }

    /// Starting points for `chains` chains: distinct draws from the pooled paths, each drawn by
    /// the Pareto-smoothed weights of those not yet drawn, on the target's own evaluator (its
    /// panics caught). The result's `theta` holds the starts.
    pub fn starts<T: Target>(
        &self,
        target: &T,
        chains: usize,
    ) -> Result<(Init, PathfinderResult), EngineError> {
        let mut density = Guarded(target.evaluator());
        let pool = self.pool(&mut density, 0, &mut || false)?;
        let d = density.dim();
        let (weights, pareto_k) = psis::psis_weights(&pool.log_ratio);
        let mut rng = chain_rng(self.seed ^ RESAMPLE_SALT, 0);
        let picks = psis::resample_distinct(&weights, chains, &mut rng);
        if picks.is_empty() {
            return Err(EngineError::NoPath {
                chain: 0,
                message: "no Pathfinder draw has a finite log density".into(),
            });
        }
        let starts: Vec<Vec<f64>> = picks
            .iter()
            .map(|&i| pool.theta[i * d..(i + 1) * d].to_vec())
            .collect();
        let result = PathfinderResult {
            paths: pool.paths,
            pareto_k: (self.paths > 1).then_some(pareto_k).flatten(),
            log_density: picks.iter().map(|&i| pool.log_p[i]).collect(),
            theta: starts.concat(),
        };
        Ok((Init::Pathfinder(starts), result))
    }

    /// The settings as `# key = value` tuning lines (Stan's names).
    fn tuning(&self) -> Vec<(String, String)> {
        vec![
            ("num_paths".into(), self.paths.to_string()),
            ("history_size".into(), self.history.to_string()),
            ("num_elbo_draws".into(), self.elbo_draws.to_string()),
            ("max_lbfgs_iters".into(), self.max_iters.to_string()),
            ("tol_rel_obj".into(), self.tol.to_string()),
            ("tol_grad".into(), self.grad_tol.to_string()),
        ]
    }
}

/// The note of a multi-path Pathfinder output's header.
const NOTE: &str = "draws from Pathfinder's local Gaussians, resampled by Pareto-smoothed \
                    importance weights; lp__ is log p(theta) at the draw; the other sampler \
                    columns are 0";

/// The note of a single-path Pathfinder output's header.
const NOTE_ONE_PATH: &str = "draws from the local Gaussian with the best ELBO on one Pathfinder \
                             path; lp__ is log p(theta) at the draw; the other sampler columns \
                             are 0";

impl Engine for Pathfinder {
    type Fit = PathfinderResult;

    fn name(&self) -> &'static str {
        "pathfinder"
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
    fn check_settings(&self, _dim: usize, _n_rows: usize) -> Result<(), EngineError> {
        let positive = [
            ("--paths", self.paths),
            ("--draws", self.draws),
            ("--history", self.history),
            ("--elbo-draws", self.elbo_draws),
            ("--max-iters", self.max_iters),
        ];
        if let Some((flag, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(EngineError::Settings(format!(
                "pathfinder: {flag} must be at least 1"
            )));
        }
        if !(self.tol >= 0.0 && self.tol.is_finite()) {
            return Err(EngineError::Settings(format!(
                "pathfinder: --tol must be a finite number ≥ 0, got {}",
                self.tol
            )));
        }
        Ok(())
    }
    fn header(&self) -> Header {
        Header {
            run: vec![
                ("method".into(), "pathfinder".into()),
                (
                    "note".into(),
                    if self.paths == 1 { NOTE_ONE_PATH } else { NOTE }.into(),
                ),
                ("seed".into(), self.seed.to_string()),
                ("num_samples".into(), self.draws.to_string()),
            ],
            tuning: self.tuning(),
        }
    }
    fn run_chain<D: Density, S: DrawSink>(
        &self,
        mut density: D,
        chain: usize,
        out: &mut ChainOutput<'_, S>,
    ) -> Result<PathfinderResult, EngineError> {
        let result = self.fit(&mut density, chain, &mut || out.stop_requested())?;
        out.fit_done(&FitSummary {
            steps: result.paths.iter().map(|p| p.iterations).sum(),
            converged: true,
        })?;
        let d = density.dim();
        for (row, lp) in result.theta.chunks(d.max(1)).zip(&result.log_density) {
            if out.stop_requested() {
                break;
            }
            out.draw(row, &mode_stats(*lp))?;
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests;
