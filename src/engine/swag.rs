//! SWAG and MultiSWAG: from a MAP start, SGD at a constant or cyclical rate whose collected
//! iterates give a Gaussian — mean θ_SWA, covariance diagonal plus rank K — to draw from.
//!
//! - [MGI19] Maddox, Garipov, Izmailov, Vetrov & Wilson, A Simple Baseline for Bayesian
//!   Uncertainty in Deep Learning, NeurIPS 2019 (SWAG).
//! - [WI20] Wilson & Izmailov, Bayesian Deep Learning and a Probabilistic Perspective of
//!   Generalization, NeurIPS 2020 (MultiSWAG).
//!
//! What is implemented, in our words (the papers' equation numbers are not cited because they
//! could not be checked here):
//!
//! 1. A MAP fit ([`Map::fit_mode`]) gives the start θ₀.
//! 2. SGD with heavy-ball momentum ascends the N/B-scaled minibatch log-density (the prior is
//!    the weight decay, as in MAP) at a constant rate, or at a cosine rate restarted every
//!    cycle ([`Decay::Cyclical`]).
//! 3. Every c steps (default once per epoch), or at the end of every cycle where the rate is
//!    lowest, the iterate θ_i is collected: it updates the running mean θ̄ (θ_SWA at the end)
//!    and the running diagonal variance, and its deviation θ_i − θ̄_i from the mean that now
//!    includes it is appended to D, which keeps the last K such columns [MGI19].
//! 4. A draw is θ = θ_SWA + (1/√2) Σ_diag^{1/2} z₁ + (1/√(2(K−1))) D z₂ with z₁ ~ N(0, I_d),
//!    z₂ ~ N(0, I_K): the Gaussian whose covariance ½ Σ_diag + D Dᵀ / (2(K−1)) averages the
//!    diagonal and the low-rank estimates [MGI19].
//!
//! MultiSWAG [WI20] is SWAG on each of M ensemble members: member k is chain k, with its own
//! MAP start (chain k's stream, as an [`Ensemble`](super::Ensemble) member), SGD phase and
//! draws, so `--member K` alone gives the bits of member K in a full run.

use std::collections::VecDeque;

use rand::{Rng, RngExt};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::batches::Batches;
use super::descent::{Descent, Flow, Point, Rule, StepError};
use super::map::{mode_stats, Map, MapResult, OBJECTIVE};
use super::optim::Decay;
use super::output::{FitStep, FitSummary};
use super::{ChainOutput, DrawSink, Engine, EngineError, Header};
use crate::density::{Density, DensityError};

/// Settings of a SWAG fit [MGI19].
#[derive(Debug, Clone, PartialEq)]
pub struct Swag {
    /// The MAP fit SWAG starts from; its seed, batch size and start serve the SGD phase too.
    pub map: Map,
    /// SGD steps after the MAP fit, one minibatch each.
    pub steps: usize,
    /// SGD's learning rate per row: a step moves θ by lr/N times the (momentum-averaged)
    /// gradient of the N/B-scaled log p, which is lr times the gradient of the mean log-density
    /// per row — the papers' rate on the mean loss (N = the likelihood's rows, 1 without).
    pub lr: f64,
    /// Heavy-ball momentum μ in [0, 1): v ← μ v + g, θ ← θ + α v.
    pub momentum: f64,
    /// How the rate changes over the SGD steps: constant ([`Decay::None`]) or
    /// [`Decay::Cyclical`], which collects at the end of each cycle.
    pub schedule: Decay,
    /// Without cycles, SGD steps between collected iterates; 0 collects once per epoch (⌊N/B⌋
    /// steps with minibatches, every step on the full data).
    pub collect_every: usize,
    /// Deviations kept for the low-rank part, K ≥ 2.
    pub rank: usize,
    /// Draws S from the fitted Gaussian.
    pub draws: usize,
}

impl Default for Swag {
    /// K = 20 as [MGI19]; momentum 0.9; a constant rate of 0.002 on the mean loss (on
    /// `models/regression_1d` with batches of 20 its draws' sd of f(x) is close to NUTS's,
    /// where 0.01 runs far off the mode and 0.05 diverges); 1000 SGD steps collecting once per
    /// epoch; 1000 draws.
    fn default() -> Self {
        Swag {
            map: Map::default(),
            steps: 1000,
            lr: 0.002,
            momentum: 0.9,
            schedule: Decay::None,
            collect_every: 0,
            rank: 20,
            draws: 1000,
        }
    }
}

/// Parses `constant` or `cyclical:M` (M cycles), as `bnnppl fit --swag-schedule` takes it.
pub fn parse_schedule(s: &str) -> Result<Decay, String> {
    match s {
        "constant" => Ok(Decay::None),
        _ => match s.strip_prefix("cyclical:").map(str::parse::<usize>) {
            Some(Ok(cycles)) if cycles > 0 => Ok(Decay::Cyclical { cycles }),
            _ => Err("expected constant, or cyclical:M with M ≥ 1 cycles".into()),
        },
    }
}

/// A schedule as `parse_schedule` spells it (and the other schedules as `--decay` does).
fn schedule_name(schedule: &Decay) -> String {
    match schedule {
        Decay::None => "constant".into(),
        Decay::Cyclical { cycles } => format!("cyclical:{cycles}"),
        Decay::Cosine => "cosine".into(),
        Decay::Exponential { rate } => format!("exp:{rate}"),
    }
}

/// The random stream of chain `chain`'s SGD phase and draws: stream 2³² + chain + 1 of the
/// seed, apart from every chain's MAP stream (chain + 1, [`super::rng::chain_rng`]).
fn sgd_rng(seed: u64, chain: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream((1u64 << 32) + chain as u64 + 1);
    rng
}

/// The running moments of the collected iterates and the last K deviations [MGI19].
///
/// The variance is kept as Welford's sum of squared deviations, not as the difference of the
/// running means of θ² and θ: late SGD iterates spread little around a mean far from 0, and
/// that difference would cancel most of its digits (or go negative).
#[derive(Debug, Clone, PartialEq)]
pub struct Moments {
    /// Iterates collected, n.
    n: usize,
    /// Running mean θ̄ of the collected iterates.
    mean: Vec<f64>,
    /// Σ over the collected iterates of (θ_i − θ̄_n)², per coordinate.
    m2: Vec<f64>,
    /// The last K deviations θ_i − θ̄_i (θ̄_i the mean including θ_i), oldest first.
    deviations: VecDeque<Vec<f64>>,
    /// K.
    rank: usize,
}

impl Moments {
    /// No iterates yet, for θ of dimension `dim`, keeping `rank` deviations.
    pub fn new(dim: usize, rank: usize) -> Moments {
        Moments {
            n: 0,
            mean: vec![0.0; dim],
            m2: vec![0.0; dim],
            deviations: VecDeque::with_capacity(rank),
            rank,
        }
    }

    /// Iterates collected so far.
    pub fn count(&self) -> usize {
        self.n
    }

    /// Adds θ_i: θ̄ ← θ̄ + (θ_i − θ̄)/n, M2 ← M2 + (θ_i − θ̄_old)(θ_i − θ̄_new) (Welford), and
    /// the deviation θ_i − θ̄_new to D, dropping the oldest column past K.
    pub fn collect(&mut self, theta: &[f64]) {
        self.n += 1;
        let n = self.n as f64;
        let mut column = if self.deviations.len() == self.rank {
            self.deviations.pop_front().unwrap_or_default()
        } else {
            Vec::with_capacity(theta.len())
        };
        column.clear();
        for ((t, m), s) in theta.iter().zip(&mut self.mean).zip(&mut self.m2) {
            let before = t - *m;
            *m += before / n;
            let after = t - *m;
            *s += before * after;
            column.push(after);
        }
        if self.rank > 0 {
            self.deviations.push_back(column);
        }
    }

    /// The Gaussian these moments define: θ_SWA = θ̄, Σ_diag = M2 / n (the papers' θ̄² − θ̄²,
    /// over n), with tiny negative values from rounding clamped to 0, and D.
    pub fn gaussian(&self) -> SwagGaussian {
        let n = self.n.max(1) as f64;
        SwagGaussian {
            mean: self.mean.clone(),
            variance: self.m2.iter().map(|s| (s / n).max(0.0)).collect(),
            deviations: self.deviations.iter().cloned().collect(),
        }
    }
}

/// The SWAG Gaussian: mean θ_SWA, covariance ½ Σ_diag + D Dᵀ / (2(K−1)) [MGI19].
#[derive(Debug, Clone, PartialEq)]
pub struct SwagGaussian {
    /// θ_SWA, the mean of the collected iterates (length d).
    pub mean: Vec<f64>,
    /// The diagonal Σ_diag: the collected iterates' variance per coordinate, ≥ 0 (length d).
    pub variance: Vec<f64>,
    /// D: the last K deviations from the running mean, oldest first (K columns of length d).
    pub deviations: Vec<Vec<f64>>,
}

impl SwagGaussian {
    /// One draw θ = θ_SWA + (1/√2) Σ_diag^{1/2} z₁ + (1/√(2(K−1))) D z₂ into `theta`, z₁ and z₂
    /// standard normal, z₁ drawn first. With fewer than two columns (a run stopped early) the
    /// low-rank term is left out: one column gives no covariance estimate.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R, theta: &mut [f64]) {
        // The diagonal part scales z₁ by the standard deviation √Σ_diag: scaling by the
        // variance is the slip the covariance test is built to catch.
        for ((t, m), v) in theta.iter_mut().zip(&self.mean).zip(&self.variance) {
            let z: f64 = rng.sample(StandardNormal);
            *t = m + std::f64::consts::FRAC_1_SQRT_2 * v.sqrt() * z;
        }
        let k = self.deviations.len();
        if k < 2 {
            return;
        }
        let c = 1.0 / (2.0 * (k - 1) as f64).sqrt();
        for column in &self.deviations {
            let z: f64 = rng.sample(StandardNormal);
            for (t, d) in theta.iter_mut().zip(column) {
                *t += c * z * d;
            }
        }
    }
}

/// What one SWAG fit leaves: the Gaussian, how its SGD phase went, and its MAP start.
#[derive(Debug, Clone, PartialEq)]
pub struct SwagResult {
    /// θ_SWA, Σ_diag and D.
    pub gaussian: SwagGaussian,
    /// Iterates collected, n.
    pub snapshots: usize,
    /// SGD steps made (fewer than asked when interrupted).
    pub steps: usize,
    /// SGD steps skipped because the log-density was not finite there.
    pub skipped_steps: usize,
    /// Whether the run was stopped (Ctrl-C) before the SGD phase ended.
    pub interrupted: bool,
    /// log p(θ_SWA) on the full data (NaN when not finite or not collected).
    pub swa_log_density: f64,
    /// Gradient evaluations, the MAP fit's included.
    pub gradients: u64,
    /// The MAP fit it started from.
    pub map: MapResult,
    /// The SGD phase's objective per step (minibatch estimates of log p), numbered from 1.
    pub trace: Vec<Point>,
}

impl Swag {
    fn validate(&self, dim: usize, n_rows: usize) -> Result<(), EngineError> {
        let bad = |m: String| Err(EngineError::Settings(m));
        self.map.check_settings(dim, n_rows)?;
        if self.rank < 2 {
            return bad(format!(
                "SWAG needs a rank K of at least 2 deviations, got {}",
                self.rank
            ));
        }
        if self.steps == 0 {
            return bad("SWAG needs at least one SGD step".into());
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad(format!(
                "the SGD learning rate must be positive, got {}",
                self.lr
            ));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return bad(format!(
                "the SGD momentum must be in [0, 1), got {}",
                self.momentum
            ));
        }
        if self.draws == 0 {
            return bad("SWAG needs at least one draw".into());
        }
        self.schedule.validate().or_else(bad)?;
        if let Decay::Cyclical { cycles } = self.schedule {
            if cycles > self.steps {
                return bad(format!(
                    "{cycles} cycles do not fit in {} SGD steps: a cycle needs at least one step",
                    self.steps
                ));
            }
        }
        let snapshots = self.planned_snapshots(n_rows);
        if snapshots < 2 {
            return bad(match self.schedule {
                Decay::Cyclical { cycles } => format!(
                    "a cyclical schedule collects one iterate per cycle, and SWAG needs at least \
                     2; got {cycles} cycle(s) in {} SGD steps",
                    self.steps
                ),
                Decay::None | Decay::Cosine | Decay::Exponential { .. } => format!(
                    "{} SGD steps collecting every {} step(s) give {snapshots} iterate(s), and \
                     SWAG needs at least 2: raise the SGD steps or collect more often",
                    self.steps,
                    self.collect_interval(n_rows)
                ),
            });
        }
        Ok(())
    }

    /// SGD steps between collected iterates without cycles: `collect_every`, or one epoch.
    fn collect_interval(&self, n_rows: usize) -> usize {
        match (self.collect_every, self.map.batch_size) {
            (0, Some(b)) if b < n_rows => (n_rows / b).max(1),
            (0, _) => 1,
            (c, _) => c,
        }
    }

    /// Iterates a full SGD phase collects: one per cycle, or one per interval.
    fn planned_snapshots(&self, n_rows: usize) -> usize {
        match self.schedule {
            Decay::Cyclical { cycles } => cycles,
            Decay::None | Decay::Cosine | Decay::Exponential { .. } => {
                self.steps / self.collect_interval(n_rows)
            }
        }
    }

    /// Whether the iterate after SGD step `step` (from 1) is collected: the last step of a
    /// cycle (the next one restarts the rate), or every interval's last step.
    pub fn collects_after(&self, step: usize, n_rows: usize) -> bool {
        match self.schedule {
            Decay::Cyclical { cycles } => {
                step * cycles / self.steps != (step - 1) * cycles / self.steps
            }
            Decay::None | Decay::Cosine | Decay::Exponential { .. } => {
                step.is_multiple_of(self.collect_interval(n_rows))
            }
        }
    }

    /// The SGD phase from `start`, on minibatches (the MAP's batch size) drawn with `rng`:
    /// collects the iterates into [`Moments`] and calls `on_step(point, θ)` after every step
    /// with θ after the update (collected or not); `Flow::Stop` ends the phase there.
    ///
    /// Returns the moments, the trace, the steps skipped, whether it was stopped, and the
    /// gradient evaluations; a fatal density error comes back with its step (from 0).
    pub fn sgd_phase<D: Density, R: Rng + ?Sized>(
        &self,
        density: &mut D,
        start: &[f64],
        rng: &mut R,
        on_step: &mut dyn FnMut(&Point, &[f64]) -> Flow,
    ) -> Result<SgdPhase, (usize, DensityError)> {
        let n = density.n_rows();
        let mut batches = match self.map.batch_size {
            Some(b) if b < n => Some(Batches::new(n, b)),
            _ => None,
        };
        let descent = Descent {
            rule: Rule::Sgd {
                momentum: self.momentum,
            },
            steps: self.steps,
            // The rate per row (see `lr`): the objective is the N/B-scaled log p.
            lr: self.lr / n.max(1) as f64,
            decay: self.schedule,
            clip: None,
            tol: 0.0,
            window: self.map.window,
        };
        let mut theta = start.to_vec();
        let mut moments = Moments::new(start.len(), self.rank);
        let mut gradients = 0u64;
        let outcome = descent.run(
            &mut theta,
            batches.as_mut(),
            rng,
            &mut |theta, rows, _, grad| {
                gradients += 1;
                match rows {
                    Some(rows) => density
                        .minibatch_grad(theta, rows, grad)
                        .map(|s| s.prior + s.likelihood),
                    None => density.log_density_grad(theta, grad),
                }
                .map_err(StepError::from)
            },
            &mut |point, theta, _| {
                if self.collects_after(point.step, n) {
                    moments.collect(theta);
                }
                on_step(point, theta)
            },
        )?;
        Ok(SgdPhase {
            moments,
            trace: outcome.trace,
            skipped_steps: outcome.skipped,
            interrupted: outcome.interrupted,
            gradients,
        })
    }

    /// Chain `chain`: the MAP start, the SGD phase, then S draws. The trace goes on from the
    /// MAP's steps into the SGD phase's in one file; the draws are made when at least two
    /// iterates were collected (also after an interruption, so what was fitted is kept).
    fn run_member<D: Density, S: DrawSink>(
        &self,
        density: &mut D,
        chain: usize,
        out: &mut ChainOutput<'_, S>,
    ) -> Result<SwagResult, EngineError> {
        self.validate(density.dim(), density.n_rows())?;
        let map = self.map.fit_mode(density, chain, out)?;
        let fail = |draw: usize, source: DensityError| EngineError::Density {
            chain,
            draw,
            source,
        };
        let mut result = SwagResult {
            gaussian: Moments::new(map.theta.len(), self.rank).gaussian(),
            snapshots: 0,
            steps: 0,
            skipped_steps: 0,
            interrupted: map.interrupted,
            swa_log_density: f64::NAN,
            gradients: map.gradients,
            trace: Vec::new(),
            map,
        };
        if result.interrupted {
            return Ok(result);
        }
        let offset = result.map.steps;
        let mut rng = sgd_rng(self.map.seed, chain);
        let mut sink_error = None;
        let phase = self
            .sgd_phase(density, &result.map.theta, &mut rng, &mut |p, _| {
                let step = FitStep {
                    objective: OBJECTIVE,
                    step: offset + p.step,
                    value: p.value,
                    smoothed: p.smoothed,
                };
                if let Err(e) = out.fit_step(&step) {
                    sink_error = Some(e);
                    return Flow::Stop;
                }
                if out.stop_requested() {
                    Flow::Stop
                } else {
                    Flow::Continue
                }
            })
            .map_err(|(t, e)| fail(offset + t, e))?;
        if let Some(e) = sink_error {
            return Err(e);
        }
        result.gaussian = phase.moments.gaussian();
        result.snapshots = phase.moments.count();
        result.steps = phase.trace.len() + phase.skipped_steps;
        result.skipped_steps = phase.skipped_steps;
        result.interrupted = phase.interrupted;
        result.gradients += phase.gradients;
        result.trace = phase.trace;
        if result.snapshots < 2 {
            return Ok(result);
        }
        result.swa_log_density = match density.log_density(&result.gaussian.mean) {
            Ok(lp) => lp,
            Err(e) if e.is_recoverable() => f64::NAN,
            Err(e) => return Err(fail(offset + result.steps, e)),
        };
        // The `steps` of the output's header is the MAP start's, as for `map`.
        out.fit_done(&FitSummary {
            steps: result.map.steps,
            converged: result.map.converged,
        })?;
        let mut theta = vec![0.0; result.gaussian.mean.len()];
        for k in 0..self.draws {
            result.gaussian.sample(&mut rng, &mut theta);
            let lp = match density.log_density(&theta) {
                Ok(lp) => lp,
                Err(e) if e.is_recoverable() => f64::NAN,
                Err(e) => return Err(fail(k, e)),
            };
            out.draw(&theta, &mode_stats(lp))?;
        }
        Ok(result)
    }

    /// The header lines after `method` (and `members`).
    fn header_lines(&self, note: &str) -> Header {
        let map = &self.map;
        let run = vec![
            ("note".to_string(), note.to_string()),
            ("optimizer".into(), map.optimizer.to_string()),
            ("seed".into(), map.seed.to_string()),
            ("steps".into(), map.steps.to_string()),
            ("lr".into(), map.lr.to_string()),
            (
                "batch_size".into(),
                map.batch_size
                    .map_or_else(|| "all".to_string(), |b| b.to_string()),
            ),
            ("grad_tol".into(), map.grad_tol.to_string()),
            ("swag_steps".into(), self.steps.to_string()),
            ("swag_lr".into(), self.lr.to_string()),
            ("swag_rank".into(), self.rank.to_string()),
            ("num_samples".into(), self.draws.to_string()),
        ];
        let tuning = vec![
            ("swag_schedule".to_string(), schedule_name(&self.schedule)),
            (
                "swag_collect_every".into(),
                match (self.schedule, self.collect_every) {
                    (Decay::Cyclical { .. }, _) => "cycle".to_string(),
                    (Decay::None | Decay::Cosine | Decay::Exponential { .. }, 0) => {
                        "epoch".to_string()
                    }
                    (Decay::None | Decay::Cosine | Decay::Exponential { .. }, c) => c.to_string(),
                },
            ),
            ("swag_momentum".into(), self.momentum.to_string()),
        ];
        Header { run, tuning }
    }
}

/// What [`Swag::sgd_phase`] leaves.
#[derive(Debug, Clone, PartialEq)]
pub struct SgdPhase {
    /// The collected iterates' moments.
    pub moments: Moments,
    /// The objective per step.
    pub trace: Vec<Point>,
    /// Steps skipped (non-finite log-density).
    pub skipped_steps: usize,
    /// Whether `on_step` stopped it.
    pub interrupted: bool,
    /// Gradient evaluations.
    pub gradients: u64,
}

/// The note of a SWAG output's header.
const NOTE: &str = "draws from the SWAG Gaussian around the mean of SGD iterates after the MAP \
                    fit; lp__ is log p(theta) at the draw; the other sampler columns are 0";

impl Engine for Swag {
    type Fit = SwagResult;

    fn check_settings(&self, dim: usize, n_rows: usize) -> Result<(), EngineError> {
        self.validate(dim, n_rows)
    }
    fn name(&self) -> &'static str {
        "swag"
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
        self.map.steps + self.steps
    }
    fn is_markov_chain(&self) -> bool {
        false
    }
    fn header(&self) -> Header {
        let mut header = self.header_lines(NOTE);
        header
            .run
            .insert(0, ("method".to_string(), "swag".to_string()));
        header
    }
    fn run_chain<D: Density, S: DrawSink>(
        &self,
        mut density: D,
        chain: usize,
        out: &mut ChainOutput<'_, S>,
    ) -> Result<SwagResult, EngineError> {
        self.run_member(&mut density, chain, out)
    }
}

/// MultiSWAG [WI20]: SWAG on each of `members` ensemble members, run as chains (in parallel
/// threads); member k is chain k, from its own MAP start.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiSwag {
    /// Number of members M.
    pub members: usize,
    /// How each member is fitted; member k uses chain k's streams of `swag.map.seed`.
    pub swag: Swag,
}

impl Default for MultiSwag {
    fn default() -> Self {
        MultiSwag {
            members: 5,
            swag: Swag::default(),
        }
    }
}

impl Engine for MultiSwag {
    type Fit = SwagResult;

    fn check_settings(&self, dim: usize, n_rows: usize) -> Result<(), EngineError> {
        if self.members == 0 {
            return Err(EngineError::Settings(
                "MultiSWAG needs at least one member".into(),
            ));
        }
        self.swag.validate(dim, n_rows)
    }
    fn name(&self) -> &'static str {
        "multiswag"
    }
    fn chains(&self) -> usize {
        self.members
    }
    fn warmup(&self) -> usize {
        0
    }
    fn draws(&self) -> usize {
        self.swag.draws
    }
    fn fit_steps(&self) -> usize {
        self.swag.fit_steps()
    }
    fn is_markov_chain(&self) -> bool {
        false
    }
    fn header(&self) -> Header {
        let mut header = self.swag.header_lines(
            "each chain is one member: SWAG from its own MAP start; its draws are from its \
             SWAG Gaussian; lp__ is log p(theta) at the draw; the other sampler columns are 0",
        );
        header.run.splice(
            0..0,
            [
                ("method".to_string(), "multiswag".to_string()),
                ("members".to_string(), self.members.to_string()),
            ],
        );
        header
    }
    fn run_chain<D: Density, S: DrawSink>(
        &self,
        mut density: D,
        chain: usize,
        out: &mut ChainOutput<'_, S>,
    ) -> Result<SwagResult, EngineError> {
        self.swag.run_member(&mut density, chain, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::density::FnDensity;
    use crate::engine::{RunControl, TraceFactory};

    #[test]
    fn schedule_spellings_parse() {
        assert_eq!(parse_schedule("constant"), Ok(Decay::None));
        assert_eq!(
            parse_schedule("cyclical:4"),
            Ok(Decay::Cyclical { cycles: 4 })
        );
        for bad in ["cyclical:0", "cyclical:x", "cyclical", "cosine", ""] {
            assert!(parse_schedule(bad).is_err(), "{bad:?}");
        }
        for s in [Decay::None, Decay::Cyclical { cycles: 3 }] {
            assert_eq!(parse_schedule(&schedule_name(&s)), Ok(s));
        }
    }

    #[test]
    fn moments_keep_the_mean_the_variance_and_the_last_k_deviations() {
        // Iterates 1, 3, 8 with K = 2: running means 1, 2, 4, so the deviations from the mean
        // that includes each are 0, 1, 4, of which the last two are kept; the variance over n
        // is ((1−4)² + (3−4)² + (8−4)²)/3 = 26/3.
        let mut m = Moments::new(1, 2);
        for t in [1.0, 3.0, 8.0] {
            m.collect(&[t]);
        }
        let g = m.gaussian();
        assert_eq!(m.count(), 3);
        assert_eq!(g.mean, vec![4.0]);
        assert!(
            (g.variance[0] - 26.0 / 3.0).abs() < 1e-14,
            "{:?}",
            g.variance
        );
        assert_eq!(g.deviations, vec![vec![1.0], vec![4.0]]);
    }

    #[test]
    fn the_variance_keeps_its_digits_far_from_zero() {
        // Iterates 1e8 + {0, 1, 2}·1e-3: variance ≈ (1e-3)²·2/3 ≈ 6.7e-7 (exactly, that of the
        // offsets t − 1e8 as stored, which the subtraction recovers without rounding). The
        // papers' θ̄² − θ̄² subtracts two numbers near 1e16, whose spacing is 2, and loses it
        // entirely (it gives 0 here); Welford's update is limited only by the rounding of the
        // mean itself (spacing 1.5e-8 near 1e8, 1.5e-5 of the spread): within 1e-4 relative.
        let mut m = Moments::new(1, 2);
        let (mut sum, mut sum_sq) = (0.0, 0.0);
        let mut offsets = Vec::new();
        for k in 0..3 {
            let t = 1e8 + k as f64 * 1e-3;
            m.collect(&[t]);
            sum += t;
            sum_sq += t * t;
            offsets.push(t - 1e8);
        }
        let centre = offsets.iter().sum::<f64>() / 3.0;
        let exact = offsets.iter().map(|o| (o - centre).powi(2)).sum::<f64>() / 3.0;
        let naive = sum_sq / 3.0 - (sum / 3.0) * (sum / 3.0);
        assert!((naive - exact).abs() >= 0.5 * exact, "naive {naive}");
        let welford = m.gaussian().variance[0];
        assert!(
            ((welford - exact) / exact).abs() < 1e-4,
            "{welford} vs {exact}"
        );
    }

    /// log p = −½ Σ (θ_i − 1)², a density without rows.
    fn quadratic() -> FnDensity<impl FnMut(&[f64], &mut [f64]) -> f64 + Clone> {
        FnDensity::new(2, |t: &[f64], g: &mut [f64]| {
            let mut lp = 0.0;
            for i in 0..2 {
                g[i] = 1.0 - t[i];
                lp -= 0.5 * g[i] * g[i];
            }
            lp
        })
    }

    fn small() -> Swag {
        Swag {
            map: Map {
                steps: 50,
                grad_tol: 0.0,
                ..Map::default()
            },
            steps: 40,
            lr: 0.01,
            collect_every: 4,
            rank: 3,
            draws: 7,
            ..Swag::default()
        }
    }

    #[test]
    fn collection_follows_the_interval_or_the_cycles() {
        let swag = small();
        let every_4: Vec<usize> = (1..=40).filter(|&s| swag.collects_after(s, 0)).collect();
        assert_eq!(every_4, (1..=10).map(|k| 4 * k).collect::<Vec<_>>());
        // 40 steps in 3 cycles: the rate restarts at t = 14 and 27 (⌈40k/3⌉), so the cycles
        // end after steps 14, 27 and 40.
        let cyclical = Swag {
            schedule: Decay::Cyclical { cycles: 3 },
            ..small()
        };
        let ends: Vec<usize> = (1..=40)
            .filter(|&s| cyclical.collects_after(s, 0))
            .collect();
        assert_eq!(ends, vec![14, 27, 40]);
        for end in [14, 27] {
            let (last, next) = (end - 1, end);
            assert!(
                Decay::Cyclical { cycles: 3 }.lr_at(1.0, next, 40)
                    > Decay::Cyclical { cycles: 3 }.lr_at(1.0, last, 40),
                "the rate restarts after step {end}"
            );
        }
        // Once per epoch: 80 rows in batches of 20 is every 4 steps; the full data every step.
        let epoch = Swag {
            collect_every: 0,
            map: Map {
                batch_size: Some(20),
                ..Map::default()
            },
            ..small()
        };
        assert_eq!(epoch.collect_interval(80), 4);
        assert_eq!(epoch.collect_interval(20), 1);
    }

    #[test]
    fn a_run_writes_its_draws_and_refuses_what_cannot_run() {
        let swag = small();
        let report = swag
            .run(
                &quadratic(),
                &TraceFactory::default(),
                &RunControl::default(),
            )
            .expect("runs");
        let fit = &report.chains[0].fit;
        assert_eq!(fit.snapshots, 10);
        assert_eq!(fit.gaussian.deviations.len(), 3);
        assert_eq!(fit.steps, 40);
        assert_eq!(report.chains[0].fit_steps, 50 + 40);
        assert_eq!(report.into_trace().chains[0].len(), 7);
        for (bad, says) in [
            (Swag { rank: 1, ..small() }, "rank K of at least 2"),
            (
                Swag {
                    steps: 0,
                    ..small()
                },
                "at least one SGD step",
            ),
            (
                Swag { lr: 0.0, ..small() },
                "learning rate must be positive",
            ),
            (
                Swag {
                    momentum: 1.0,
                    ..small()
                },
                "momentum must be in [0, 1)",
            ),
            (
                Swag {
                    draws: 0,
                    ..small()
                },
                "at least one draw",
            ),
            (
                Swag {
                    collect_every: 21,
                    ..small()
                },
                "give 1 iterate(s), and SWAG needs at least 2",
            ),
            (
                Swag {
                    schedule: Decay::Cyclical { cycles: 1 },
                    ..small()
                },
                "got 1 cycle(s) in 40 SGD steps",
            ),
            (
                Swag {
                    schedule: Decay::Cyclical { cycles: 41 },
                    ..small()
                },
                "41 cycles do not fit in 40 SGD steps",
            ),
        ] {
            let e = bad.check_settings(2, 0).expect_err(says);
            assert!(e.to_string().contains(says), "{e}");
        }
    }

    #[test]
    fn a_multiswag_member_alone_equals_itself_in_the_group() {
        let multi = MultiSwag {
            members: 3,
            swag: small(),
        };
        let all = multi
            .run(
                &quadratic(),
                &TraceFactory::default(),
                &RunControl::default(),
            )
            .expect("runs");
        assert_ne!(all.chains[0].fit.map.theta, all.chains[1].fit.map.theta);
        let alone = multi
            .run(
                &quadratic(),
                &TraceFactory::default(),
                &RunControl {
                    chain_ids: Some(vec![1]),
                    ..RunControl::default()
                },
            )
            .expect("runs");
        assert_eq!(alone.chains[0].fit, all.chains[1].fit);
        let (one, group) = (alone.into_trace(), all.into_trace());
        assert_eq!(one.chains[0], group.chains[1]);
    }
}
