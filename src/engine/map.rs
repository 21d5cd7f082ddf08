//! The posterior mode as an engine, and deep ensembles of it: Adam on the (minibatch,
//! N/B-scaled) log-density with the shared schedule and clipping, or L-BFGS on the full data;
//! each run stops on the full-data gradient norm or its step budget and writes the mode it
//! reached as its one draw.
//!
//! The prior is the regularizer, as the model states it: there is no separate weight decay.
//! [`Ensemble`] runs M such fits as M chains — independent random starts and data orders, one
//! draw each [LPB17] — so a member is a chain: it runs alone with `--member K` (chain id K − 1)
//! and gives the same bits as in a full run, and `summary` merges member directories as it
//! merges chains.
//!
//! - [LPB17] Lakshminarayanan, Pritzel & Blundell, Simple and Scalable Predictive Uncertainty
//!   Estimation using Deep Ensembles, NeurIPS 2017.

use super::batches::Batches;
use super::descent::{Descent, Flow, Point, Rule, StepError};
use super::init::{find_start, Init, Start};
use super::lbfgs::lbfgs;
use super::optim::{validate_clip, Decay};
use super::output::{FitStep, FitSummary};
use super::rng::chain_rng;
use super::{ChainOutput, DrawSink, DrawStats, Engine, EngineError, Header};
use crate::density::{Density, DensityError};

/// How the mode is searched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Optimizer {
    /// Adam on minibatches (or the full data), with the learning-rate schedule and clipping.
    Adam,
    /// L-BFGS with this many (s, y) pairs, on the full data only.
    Lbfgs {
        /// Pairs kept (m).
        memory: usize,
    },
}

/// Parses `adam`, `lbfgs` (10 pairs) or `lbfgs:M`, as `bnnppl fit --optimizer` takes it.
impl std::str::FromStr for Optimizer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "adam" => Ok(Optimizer::Adam),
            "lbfgs" => Ok(Optimizer::Lbfgs { memory: 10 }),
            _ => match s.strip_prefix("lbfgs:").map(str::parse::<usize>) {
                Some(Ok(memory)) if memory > 0 => Ok(Optimizer::Lbfgs { memory }),
                _ => Err("expected adam, lbfgs, or lbfgs:M with M ≥ 1 pairs".into()),
            },
        }
    }
}

impl std::fmt::Display for Optimizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Optimizer::Adam => write!(f, "adam"),
            Optimizer::Lbfgs { memory } => write!(f, "lbfgs:{memory}"),
        }
    }
}

/// Settings of a MAP fit.
#[derive(Debug, Clone, PartialEq)]
pub struct Map {
    /// Adam or L-BFGS.
    pub optimizer: Optimizer,
    /// Maximum optimizer steps (Adam: one minibatch each; L-BFGS: iterations).
    pub steps: usize,
    /// Adam's base step size α.
    pub lr: f64,
    /// Adam's β₁ and β₂.
    pub betas: (f64, f64),
    /// Adam's ε.
    pub eps: f64,
    /// Learning-rate schedule (Adam).
    pub decay: Decay,
    /// Rescale the gradient to this Euclidean norm when it is longer (Adam).
    pub clip: Option<f64>,
    /// Rows per minibatch; `None` (or ≥ N) uses every row at every step. L-BFGS needs `None`.
    pub batch_size: Option<usize>,
    /// Stop when the full-data gradient norm ‖∇ log p(θ)‖ falls below this; 0 never stops.
    pub grad_tol: f64,
    /// With minibatches, steps between full-data gradient checks; 0 checks once per epoch.
    pub check_every: usize,
    /// Steps of the trace's moving average (weight 2 / (window + 1)).
    pub window: usize,
    /// Seed; chain (member) c uses stream c + 1 of it for its start and its batch order.
    pub seed: u64,
    /// Where each fit starts ([`Init::Map`] is a random start here: this is the MAP fit).
    pub init: Init,
}

impl Default for Map {
    fn default() -> Self {
        Map {
            optimizer: Optimizer::Adam,
            steps: 5000,
            lr: 0.01,
            betas: (0.9, 0.999),
            eps: 1e-8,
            decay: Decay::None,
            clip: None,
            batch_size: None,
            grad_tol: 1e-3,
            check_every: 0,
            window: 100,
            seed: 1,
            init: Init::default(),
        }
    }
}

/// A mode found by one fit, and how the fit went.
#[derive(Debug, Clone, PartialEq)]
pub struct MapResult {
    /// θ at the end.
    pub theta: Vec<f64>,
    /// log p(θ) at the end (full data).
    pub log_density: f64,
    /// ‖∇ log p(θ)‖ at the end (full data).
    pub grad_norm: f64,
    /// Steps (Adam) or iterations (L-BFGS) made.
    pub steps: usize,
    /// Whether the gradient norm fell below the tolerance.
    pub converged: bool,
    /// Whether the run was stopped (Ctrl-C) before either rule.
    pub interrupted: bool,
    /// The objective per step: minibatch estimates of log p for Adam, log p for L-BFGS.
    pub trace: Vec<Point>,
    /// Gradient evaluations of the density, start and checks included.
    pub gradients: u64,
    /// Steps skipped because the log-density was not finite there.
    pub skipped_steps: usize,
}

/// The name of the objective MAP's trace records (its file is `log_density.csv`).
pub const OBJECTIVE: &str = "log_density";

impl Map {
    pub(crate) fn validate(&self, n_rows: usize) -> Result<(), EngineError> {
        let bad = |m: String| Err(EngineError::Settings(m));
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad(format!(
                "the learning rate must be positive, got {}",
                self.lr
            ));
        }
        if self.batch_size == Some(0) {
            return bad("the batch size must be at least 1".into());
        }
        let minibatch = self.batch_size.is_some_and(|b| b < n_rows);
        if self.batch_size.is_some_and(|b| b < n_rows) && n_rows == 0 {
            return bad("minibatches need a likelihood over rows".into());
        }
        if let Optimizer::Lbfgs { memory } = self.optimizer {
            if minibatch {
                return bad("L-BFGS needs the full data: leave out the batch size".into());
            }
            if memory == 0 {
                return bad("L-BFGS needs at least one (s, y) pair".into());
            }
        }
        if !(self.grad_tol >= 0.0 && self.grad_tol.is_finite()) {
            return bad(format!(
                "the gradient tolerance must be 0 or positive, got {}",
                self.grad_tol
            ));
        }
        self.decay.validate().or_else(bad)?;
        validate_clip(self.clip).or_else(bad)
    }

    /// The header lines of a run of these settings, after `method` and `members`.
    pub(crate) fn header_lines(&self) -> Vec<(String, String)> {
        vec![
            (
                "note".into(),
                "each chain is one fit; its draw is the mode it reached; lp__ is log p(theta) \
                 there; the other sampler columns are 0"
                    .into(),
            ),
            ("optimizer".into(), self.optimizer.to_string()),
            ("seed".into(), self.seed.to_string()),
            ("steps".into(), self.steps.to_string()),
            ("lr".into(), self.lr.to_string()),
            (
                "batch_size".into(),
                self.batch_size
                    .map_or_else(|| "all".to_string(), |b| b.to_string()),
            ),
            ("grad_tol".into(), self.grad_tol.to_string()),
            ("num_samples".into(), "1".into()),
        ]
    }

    /// Chain `chain`'s random stream and the start the fit takes from it: the user's θ, or a
    /// random start ([`Init::Map`] is one here: this is the MAP fit).
    pub(crate) fn start<D: Density>(
        &self,
        density: &mut D,
        chain: usize,
    ) -> Result<(rand_chacha::ChaCha8Rng, Start), EngineError> {
        let mut rng = chain_rng(self.seed, chain);
        let init = match &self.init {
            Init::Map { .. } => Init::default(),
            other => other.clone(),
        };
        let start = find_start(density, &init, &mut rng, false).map_err(|e| EngineError::Init {
            chain,
            attempts: e.attempts,
            reason: e.reason,
        })?;
        Ok((rng, start))
    }

    /// The minibatch schedule over `n` rows; `None` uses every row at every step.
    pub(crate) fn batches(&self, n: usize) -> Option<Batches> {
        match self.batch_size {
            Some(b) if b < n => Some(Batches::new(n, b)),
            _ => None,
        }
    }

    /// The Adam loop of these settings; only the caller's rules stop it before its steps.
    pub(crate) fn adam(&self) -> Descent {
        Descent {
            rule: Rule::Adam {
                betas: self.betas,
                eps: self.eps,
            },
            steps: self.steps,
            lr: self.lr,
            decay: self.decay,
            clip: self.clip,
            tol: 0.0,
            window: self.window,
        }
    }

    /// Finds a mode from chain `chain`'s start, streaming the trace to `out` and stopping when
    /// the run is interrupted. `density` may be any density of the seam (a perturbed one for
    /// anchored ensembles); the chain's random stream drives the start and the batch order.
    pub fn fit_mode<D: Density, S: DrawSink>(
        &self,
        density: &mut D,
        chain: usize,
        out: &mut ChainOutput<'_, S>,
    ) -> Result<MapResult, EngineError> {
        let n = density.n_rows();
        self.validate(n)?;
        let (mut rng, start) = self.start(density, chain)?;
        let mut theta = start.theta;
        let mut gradients = start.attempts as u64;
        let fail = |draw: usize, source: DensityError| EngineError::Density {
            chain,
            draw,
            source,
        };
        let mut sink_error = None;
        let (steps, converged, interrupted, trace, skipped) = match self.optimizer {
            Optimizer::Lbfgs { memory } => {
                let mut trace = Vec::new();
                let outcome = lbfgs(
                    density,
                    &mut theta,
                    self.steps,
                    memory,
                    self.grad_tol,
                    &mut |k, lp, _| {
                        let point = Point {
                            step: k,
                            value: lp,
                            smoothed: lp,
                        };
                        trace.push(point);
                        if let Err(e) = out.fit_step(&fit_step(&point)) {
                            sink_error = Some(e);
                            return false;
                        }
                        !out.stop_requested()
                    },
                )
                .map_err(|(t, e)| fail(t, e))?;
                gradients += outcome.evaluations;
                (
                    outcome.iterations,
                    outcome.converged,
                    outcome.interrupted,
                    trace,
                    0,
                )
            }
            Optimizer::Adam => {
                let mut batches = self.batches(n);
                let check_every = match (&batches, self.check_every) {
                    (Some(b), 0) => (n / b.batch_size()).max(1),
                    (_, k) => k.max(1),
                };
                let descent = self.adam();
                let mut full = vec![0.0; theta.len()];
                // The objective counts its evaluations; the gradient-norm test is its own:
                // on the full data the step's gradient, with minibatches a full-data gradient
                // at the start of every `check_every`-th step.
                let evaluations = std::cell::Cell::new(0u64);
                let calls = std::cell::Cell::new(0usize);
                let outcome = descent
                    .run(
                        &mut theta,
                        batches.as_mut(),
                        &mut rng,
                        &mut |theta, rows, _, grad| {
                            calls.set(calls.get() + 1);
                            evaluations.set(evaluations.get() + 1);
                            let check = self.grad_tol > 0.0;
                            match rows {
                                Some(rows) => {
                                    // Now and then, the full-data gradient at this point.
                                    if check && calls.get().is_multiple_of(check_every) {
                                        evaluations.set(evaluations.get() + 1);
                                        if let Ok(lp) = density.log_density_grad(theta, &mut full) {
                                            if norm(&full) < self.grad_tol {
                                                return Err(StepError::Converged(lp));
                                            }
                                        }
                                    }
                                    density
                                        .minibatch_grad(theta, rows, grad)
                                        .map(|s| s.prior + s.likelihood)
                                        .map_err(StepError::from)
                                }
                                None => {
                                    let lp = density.log_density_grad(theta, grad)?;
                                    if check && norm(grad) < self.grad_tol {
                                        return Err(StepError::Converged(lp));
                                    }
                                    Ok(lp)
                                }
                            }
                        },
                        &mut |point, _, _| stream_step(out, &fit_step(point), &mut sink_error),
                    )
                    .map_err(|(t, e)| fail(t, e))?;
                gradients += evaluations.get();
                let interrupted = outcome.interrupted;
                (
                    outcome.trace.len(),
                    outcome.converged,
                    interrupted,
                    outcome.trace,
                    outcome.skipped,
                )
            }
        };
        if let Some(e) = sink_error {
            return Err(e);
        }
        gradients += 1;
        let (log_density, grad_norm) = end_point(density, &theta, chain, steps)?;
        Ok(MapResult {
            theta,
            log_density,
            grad_norm,
            steps,
            converged: converged || grad_norm < self.grad_tol,
            interrupted: interrupted && !converged,
            trace,
            gradients,
            skipped_steps: skipped,
        })
    }

    /// Reports a finished fit and writes its mode as the chain's one draw.
    pub fn write_mode<S: DrawSink>(
        result: &MapResult,
        out: &mut ChainOutput<'_, S>,
    ) -> Result<(), EngineError> {
        out.fit_done(&FitSummary {
            steps: result.steps,
            converged: result.converged,
        })?;
        out.draw(&result.theta, &mode_stats(result.log_density))
    }
}

/// After an optimizer step: the step to the sink (a failed write is kept in `sink_error` and
/// stops the fit), then a stop when the run is interrupted.
pub(crate) fn stream_step<S: DrawSink>(
    out: &mut ChainOutput<'_, S>,
    step: &FitStep,
    sink_error: &mut Option<EngineError>,
) -> Flow {
    if let Err(e) = out.fit_step(step) {
        *sink_error = Some(e);
        return Flow::Stop;
    }
    if out.stop_requested() {
        Flow::Stop
    } else {
        Flow::Continue
    }
}

/// log p(θ) and ‖∇ log p(θ)‖ where a fit ended, on the full data: NaN where they are not
/// finite; a fatal density error fails the chain at draw `steps`.
pub(crate) fn end_point<D: Density>(
    density: &mut D,
    theta: &[f64],
    chain: usize,
    steps: usize,
) -> Result<(f64, f64), EngineError> {
    let mut grad = vec![0.0; theta.len()];
    match density.log_density_grad(theta, &mut grad) {
        Ok(lp) => Ok((lp, norm(&grad))),
        Err(e) if e.is_recoverable() => Ok((f64::NAN, f64::NAN)),
        Err(source) => Err(EngineError::Density {
            chain,
            draw: steps,
            source,
        }),
    }
}

/// The statistics of a draw that is a mode: `lp__` and nothing else.
pub(crate) fn mode_stats(lp: f64) -> DrawStats {
    DrawStats {
        lp,
        accept_stat: 0.0,
        step_size: 0.0,
        tree_depth: 0,
        n_leapfrog: 0,
        divergent: false,
        energy: 0.0,
        warmup: false,
    }
}

fn norm(g: &[f64]) -> f64 {
    g.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// An optimizer step of log p(θ) as the sink and the progress hook take it.
pub(crate) fn fit_step(p: &Point) -> FitStep {
    FitStep {
        objective: OBJECTIVE,
        step: p.step,
        value: p.value,
        smoothed: p.smoothed,
    }
}

impl Engine for Map {
    type Fit = MapResult;

    fn check_settings(&self, _dim: usize, n_rows: usize) -> Result<(), EngineError> {
        self.validate(n_rows)
    }

    fn name(&self) -> &'static str {
        "map"
    }
    fn chains(&self) -> usize {
        1
    }
    fn warmup(&self) -> usize {
        0
    }
    fn draws(&self) -> usize {
        1
    }
    fn fit_steps(&self) -> usize {
        self.steps
    }
    fn is_markov_chain(&self) -> bool {
        false
    }
    fn header(&self) -> Header {
        let mut run = vec![("method".to_string(), "map".to_string())];
        run.extend(self.header_lines());
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
    ) -> Result<MapResult, EngineError> {
        let result = self.fit_mode(&mut density, chain, out)?;
        Map::write_mode(&result, out)?;
        Ok(result)
    }
}

/// A deep ensemble [LPB17]: `members` MAP fits from independent random starts and data
/// orders, run as chains (in parallel threads); each member is one draw.
///
/// Anchored [PZGN20] (randomize-then-optimize): each member first draws its own randomized
/// objective through the seam's [`Density::perturb`] — every normal prior re-centred at a draw
/// from itself (the member's anchor), every normal likelihood's observations shifted by fresh
/// noise of their own scale — and finds that objective's mode. For a linear model with known
/// noise and a normal prior each member is then an exact, independent posterior draw; for a
/// network it is the randomized MAP the method is named for. Terms of other families keep their
/// form.
///
/// - [PZGN20] Pearce, Zaki, Brintrup & Neely, Uncertainty in Neural Networks: Approximately
///   Bayesian Ensembling, AISTATS 2020.
#[derive(Debug, Clone, PartialEq)]
pub struct Ensemble {
    /// Number of members M.
    pub members: usize,
    /// How each member is fitted; member k uses chain k's random stream of `map.seed`.
    pub map: Map,
    /// Anchored: each member fits its own randomized objective (see the type's doc).
    pub anchored: bool,
}

impl Default for Ensemble {
    fn default() -> Self {
        Ensemble {
            members: 5,
            map: Map::default(),
            anchored: false,
        }
    }
}

/// Mixed into the seed of a member's anchor draws, so they are a stream of their own.
const ANCHOR_SALT: u64 = 0x5bd1_e995_a3c4_7b21;

impl Engine for Ensemble {
    type Fit = MapResult;

    fn check_settings(&self, _dim: usize, n_rows: usize) -> Result<(), EngineError> {
        if self.members == 0 {
            return Err(EngineError::Settings(
                "an ensemble needs at least one member".into(),
            ));
        }
        self.map.validate(n_rows)
    }

    fn name(&self) -> &'static str {
        if self.anchored {
            "anchored-ensemble"
        } else {
            "ensemble"
        }
    }
    fn chains(&self) -> usize {
        self.members
    }
    fn warmup(&self) -> usize {
        0
    }
    fn draws(&self) -> usize {
        1
    }
    fn fit_steps(&self) -> usize {
        self.map.steps
    }
    fn is_markov_chain(&self) -> bool {
        false
    }
    fn header(&self) -> Header {
        let mut run = vec![
            ("method".to_string(), self.name().to_string()),
            ("members".to_string(), self.members.to_string()),
        ];
        run.extend(self.map.header_lines());
        if self.anchored {
            // lp__ is the member's own randomized objective at its mode.
            if let Some((_, note)) = run.iter_mut().find(|(k, _)| k == "note") {
                *note = "each chain is one member; its draw is the mode of its own randomized \
                         (anchored) objective; lp__ is that objective there; the other sampler \
                         columns are 0"
                    .into();
            }
        }
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
    ) -> Result<MapResult, EngineError> {
        if self.anchored {
            let mut rng = chain_rng(self.map.seed ^ ANCHOR_SALT, chain);
            if density.perturb(&mut rng) == 0 {
                return Err(EngineError::Settings(
                    "an anchored ensemble needs a normal prior or a normal likelihood to \
                     randomize, and this density has none"
                        .into(),
                ));
            }
        }
        let result = self.map.fit_mode(&mut density, chain, out)?;
        Map::write_mode(&result, out)?;
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::density::FnDensity;
    use crate::engine::{RunControl, TraceFactory};

    /// log p = −½ Σ a_i (θ_i − m_i)²: mode m, Hessian diag(−a).
    fn gaussian() -> FnDensity<impl FnMut(&[f64], &mut [f64]) -> f64 + Clone> {
        const M: [f64; 3] = [1.0, -2.0, 0.5];
        const A: [f64; 3] = [1.0, 4.0, 0.25];
        FnDensity::new(3, |t: &[f64], g: &mut [f64]| {
            let mut lp = 0.0;
            for i in 0..3 {
                g[i] = -A[i] * (t[i] - M[i]);
                lp -= 0.5 * A[i] * (t[i] - M[i]).powi(2);
            }
            lp
        })
    }

    #[test]
    fn optimizer_spellings_parse() {
        for o in [Optimizer::Adam, Optimizer::Lbfgs { memory: 7 }] {
            assert_eq!(o.to_string().parse::<Optimizer>(), Ok(o));
        }
        assert_eq!("lbfgs".parse(), Ok(Optimizer::Lbfgs { memory: 10 }));
        assert!("lbfgs:0".parse::<Optimizer>().is_err() && "sgd".parse::<Optimizer>().is_err());
    }

    #[test]
    fn both_optimizers_reach_the_mode_and_write_it_as_the_draw() {
        for optimizer in [Optimizer::Adam, Optimizer::Lbfgs { memory: 5 }] {
            let map = Map {
                optimizer,
                steps: 20_000,
                lr: 0.05,
                grad_tol: 1e-9,
                ..Map::default()
            };
            let report = map
                .run(
                    &gaussian(),
                    &TraceFactory::default(),
                    &RunControl::default(),
                )
                .expect("fits");
            let fit = report.chains[0].fit.clone();
            assert!(
                fit.converged && fit.grad_norm < 1e-9,
                "{optimizer}: {fit:?}"
            );
            // ‖∇‖ < 1e-9 with curvatures ≥ 1/4 puts θ within 4e-9 of the mode.
            for (t, m) in fit.theta.iter().zip([1.0, -2.0, 0.5]) {
                assert!((t - m).abs() < 4e-9, "{optimizer}: {t} vs {m}");
            }
            let trace = report.into_trace();
            assert_eq!(trace.chains[0].len(), 1);
            assert_eq!(trace.chains[0].draw(0), &fit.theta[..]);
        }
    }

    #[test]
    fn ensemble_members_differ_and_each_alone_equals_itself_in_the_group() {
        let ensemble = Ensemble {
            members: 3,
            map: Map {
                steps: 3,
                grad_tol: 0.0,
                ..Map::default()
            },
            anchored: false,
        };
        let all = ensemble
            .run(
                &gaussian(),
                &TraceFactory::default(),
                &RunControl::default(),
            )
            .expect("fits");
        assert_ne!(all.chains[0].fit.theta, all.chains[1].fit.theta);
        let alone = ensemble
            .run(
                &gaussian(),
                &TraceFactory::default(),
                &RunControl {
                    chain_ids: Some(vec![2]),
                    ..RunControl::default()
                },
            )
            .expect("fits");
        assert_eq!(alone.chains[0].fit, all.chains[2].fit);
    }

    #[test]
    fn lbfgs_refuses_minibatches() {
        let map = Map {
            optimizer: Optimizer::Lbfgs { memory: 5 },
            batch_size: Some(10),
            ..Map::default()
        };
        // A density with rows: FnDensity has none, so give one through a wrapper.
        struct Rows<D>(D);
        impl<D: Density> Density for Rows<D> {
            fn dim(&self) -> usize {
                self.0.dim()
            }
            fn log_density(&mut self, t: &[f64]) -> Result<f64, DensityError> {
                self.0.log_density(t)
            }
            fn log_density_grad(&mut self, t: &[f64], g: &mut [f64]) -> Result<f64, DensityError> {
                self.0.log_density_grad(t, g)
            }
            fn n_rows(&self) -> usize {
                100
            }
        }
        let e = map
            .validate(Rows(gaussian()).n_rows())
            .expect_err("refused");
        assert!(e.to_string().contains("L-BFGS needs the full data"), "{e}");
    }
}
