//! MC dropout [GG16] as an engine: fit the weights with a fresh dropout mask every step, then
//! write S draws, each the fitted θ̂ with one freshly sampled mask folded in.
//!
//! The engine sees the model only through the seam's [`DropoutSite`]s: dropping unit j of a
//! dropout layer's input zeroes column j of the next dense layer's weights, so a mask is a
//! factor per θ entry — 0 for a dropped unit's column, 1/(1 − p) for a kept one (inverted
//! dropout, so the expected masked weight is the weight), 1 elsewhere. The density itself treats
//! every dropout layer as the identity; a draw carries its mask in its weights, so `predict`
//! needs no dropout logic.
//!
//! **The objective** of a step is log prior(θ) + (N/B) Σ_batch log p(yᵢ | xᵢ, θ ⊙ m): the prior
//! at the unmasked θ — it is the regularizer, the weight decay of [GG16]'s dropout objective on
//! the unmasked matrices M — and the likelihood at the masked weights, each through
//! [`Density::minibatch_grad_weighted`]; the likelihood's gradient is chain-ruled through the
//! mask (∂(θ ⊙ m)/∂θ = m). That is two evaluations per step. One mask serves every row of a
//! step's minibatch, where [GG16] draws one per row: the minibatch sum is linear in its rows,
//! so the shared mask's expectation is Σᵢ E_m log p(yᵢ | xᵢ, θ ⊙ m), the same objective as
//! per-row masks, estimated without bias and with more variance (a mask per row could not be
//! folded into one θ).
//!
//! **With every rate 0** there is nothing to mask and the fit is [`Map::fit_mode`] itself — the
//! same start, random stream, one evaluation per step and stopping rule — so it is the `map`
//! fit bit for bit, and every draw is that mode. With a rate above 0 the one-mask gradient is
//! noisy at the optimum and the unmasked log p's gradient does not vanish there, so the fit
//! runs its steps (the gradient tolerance is not used).
//!
//! **Random streams**: member (chain) c fits on [`chain_rng`]`(seed, c)` as a MAP member does
//! (start, batch order, then the step's mask, each step), and its draws' masks come from stream
//! [`DRAW_STREAMS`] + c of the same seed, far from any member's fit stream, so the draws do not
//! depend on how long the fit ran or on how many members there are.
//!
//! - [GG16] Gal & Ghahramani, Dropout as a Bayesian Approximation: Representing Model
//!   Uncertainty in Deep Learning, ICML 2016.

use std::cell::Cell;

use rand::{Rng, RngExt};

use super::descent::{Point, StepError};
use super::map::{end_point, mode_stats, stream_step, Map, MapResult, Optimizer};
use super::output::{FitStep, FitSummary};
use super::rng::chain_rng;
use super::{ChainOutput, DrawSink, Engine, EngineError, Header};
use crate::density::{Density, DensityError, DropoutSite, Weights};

/// The name of the masked objective MC dropout's trace records (its file is
/// `dropout_objective.csv`); with every rate 0 the trace is MAP's `log_density`.
pub const OBJECTIVE: &str = "dropout_objective";

/// Member c's draws use stream `DRAW_STREAMS + c` of [`chain_rng`]'s family; fits use streams
/// below the number of members.
pub const DRAW_STREAMS: usize = 1 << 30;

/// Settings of MC dropout.
#[derive(Debug, Clone, PartialEq)]
pub struct McDropout {
    /// How the weights are fitted: MAP's Adam settings (steps, learning rate, schedule,
    /// clipping, minibatches, seed, start). L-BFGS is refused: a fresh mask per step makes the
    /// objective noisy. The gradient tolerance applies only when every rate is 0.
    pub map: Map,
    /// Draws S per member, each θ̂ with one fresh mask.
    pub draws: usize,
    /// Networks fitted, each a chain with its own start, data order, masks and S draws.
    pub members: usize,
}

impl Default for McDropout {
    fn default() -> Self {
        McDropout {
            map: Map::default(),
            draws: 1000,
            members: 1,
        }
    }
}

/// Writes the mask factors of a fresh mask into `factor` (length d): for each site of rate
/// p > 0, each unit is dropped with probability p (its column's factor 0) or kept (1/(1 − p)).
/// A site of rate 0 keeps every unit and draws no number; entries outside the sites stay 1.
pub fn sample_mask<R: Rng + ?Sized>(sites: &[DropoutSite], rng: &mut R, factor: &mut [f64]) {
    for site in sites.iter().filter(|s| s.p > 0.0) {
        let kept = 1.0 / (1.0 - site.p);
        for unit in &site.units {
            let f = if rng.random::<f64>() < site.p {
                0.0
            } else {
                kept
            };
            for &i in unit {
                factor[i] = f;
            }
        }
    }
}

/// A mask and the scratch a masked evaluation needs, all of length d.
#[derive(Debug, Clone)]
pub struct Masked {
    /// The mask's factor per θ entry: 0 (dropped), 1/(1 − p) (kept) or 1 (no site).
    pub factor: Vec<f64>,
    /// θ ⊙ factor.
    pub theta: Vec<f64>,
    /// ∇ of the likelihood part at the masked θ.
    lik_grad: Vec<f64>,
}

impl Masked {
    /// No unit dropped, for a θ of dimension `d`.
    pub fn new(d: usize) -> Masked {
        Masked {
            factor: vec![1.0; d],
            theta: vec![0.0; d],
            lik_grad: vec![0.0; d],
        }
    }

    /// Draws a fresh mask ([`sample_mask`]) and folds it into `theta`.
    pub fn draw<R: Rng + ?Sized>(&mut self, sites: &[DropoutSite], rng: &mut R, theta: &[f64]) {
        sample_mask(sites, rng, &mut self.factor);
        self.fold(theta);
    }

    /// Folds the current mask into `theta`: self.theta = θ ⊙ factor.
    pub fn fold(&mut self, theta: &[f64]) {
        for ((m, t), f) in self.theta.iter_mut().zip(theta).zip(&self.factor) {
            *m = t * f;
        }
    }

    /// The step's objective under the current mask, folded at `theta`: log prior(θ) + (N/B)
    /// Σ_rows log p(yᵢ | θ ⊙ m), its gradient in θ written into `grad` — the prior's at θ
    /// plus m ⊙ the likelihood's at θ ⊙ m (∂(θ ⊙ m)/∂θ = m).
    pub fn objective<D: Density>(
        &mut self,
        density: &mut D,
        theta: &[f64],
        rows: &[usize],
        grad: &mut [f64],
    ) -> Result<f64, DensityError> {
        let prior_only = Weights {
            prior: 1.0,
            likelihood: 0.0,
        };
        let likelihood_only = Weights {
            prior: 0.0,
            likelihood: 1.0,
        };
        let prior = density
            .minibatch_grad_weighted(theta, rows, prior_only, grad)?
            .prior;
        let likelihood = density
            .minibatch_grad_weighted(&self.theta, rows, likelihood_only, &mut self.lik_grad)?
            .likelihood;
        for ((g, gl), f) in grad.iter_mut().zip(&self.lik_grad).zip(&self.factor) {
            *g += f * gl;
        }
        Ok(prior + likelihood)
    }
}

fn fit_step(p: &Point) -> FitStep {
    FitStep {
        objective: OBJECTIVE,
        step: p.step,
        value: p.value,
        smoothed: p.smoothed,
    }
}

impl McDropout {
    /// Fits member `chain`'s weights: [`Map::fit_mode`] when every rate is 0, else Adam on the
    /// masked objective of the module doc, streaming the trace to `out`.
    pub fn fit<D: Density, S: DrawSink>(
        &self,
        density: &mut D,
        sites: &[DropoutSite],
        chain: usize,
        out: &mut ChainOutput<'_, S>,
    ) -> Result<MapResult, EngineError> {
        if sites.iter().all(|s| s.p == 0.0) {
            return self.map.fit_mode(density, chain, out);
        }
        let (n, d) = (density.n_rows(), density.dim());
        // The start, batch order and stream MAP's member c would take.
        let (mut rng, start) = self.map.start(density, chain)?;
        let mut theta = start.theta;
        let mut batches = self.map.batches(n);
        let all: Vec<usize> = (0..n).collect();
        let mut masked = Masked::new(d);
        let evaluations = Cell::new(start.attempts as u64);
        let mut sink_error = None;
        let outcome = self
            .map
            .adam()
            .run(
                &mut theta,
                batches.as_mut(),
                &mut rng,
                &mut |theta, rows, rng, grad| {
                    masked.draw(sites, rng, theta);
                    evaluations.set(evaluations.get() + 2);
                    masked
                        .objective(density, theta, rows.unwrap_or(&all), grad)
                        .map_err(StepError::from)
                },
                &mut |point, _, _| stream_step(out, &fit_step(point), &mut sink_error),
            )
            .map_err(|(draw, source)| EngineError::Density {
                chain,
                draw,
                source,
            })?;
        if let Some(e) = sink_error {
            return Err(e);
        }
        // The fitted weights, unmasked, on the full data.
        let steps = outcome.trace.len();
        let (log_density, grad_norm) = end_point(density, &theta, chain, steps)?;
        Ok(MapResult {
            theta,
            log_density,
            grad_norm,
            steps,
            converged: false,
            interrupted: outcome.interrupted,
            trace: outcome.trace,
            gradients: evaluations.get() + 1,
            skipped_steps: outcome.skipped,
        })
    }

    /// Writes member `chain`'s S draws: θ̂ with one fresh mask each, from its draw stream;
    /// `lp__` is log p at the masked θ (NaN where it is not finite).
    pub fn write_draws<D: Density, S: DrawSink>(
        &self,
        density: &mut D,
        sites: &[DropoutSite],
        fit: &MapResult,
        chain: usize,
        out: &mut ChainOutput<'_, S>,
    ) -> Result<(), EngineError> {
        out.fit_done(&FitSummary {
            steps: fit.steps,
            converged: fit.converged,
        })?;
        let mut rng = chain_rng(self.map.seed, DRAW_STREAMS + chain);
        let mut masked = Masked::new(fit.theta.len());
        for _ in 0..self.draws {
            masked.draw(sites, &mut rng, &fit.theta);
            let lp = density.log_density(&masked.theta).unwrap_or(f64::NAN);
            out.draw(&masked.theta, &mode_stats(lp))?;
        }
        Ok(())
    }
}

impl Engine for McDropout {
    type Fit = MapResult;

    fn check_settings(&self, dim: usize, n_rows: usize) -> Result<(), EngineError> {
        let bad = |m: &str| Err(EngineError::Settings(m.into()));
        if self.members == 0 {
            return bad("mc-dropout needs at least one member");
        }
        if self.draws == 0 {
            return bad("mc-dropout needs at least one draw");
        }
        if let Optimizer::Lbfgs { .. } = self.map.optimizer {
            return bad(
                "mc-dropout trains with Adam: a fresh dropout mask every step makes the \
                 objective noisy, which L-BFGS's line search cannot follow",
            );
        }
        self.map.check_settings(dim, n_rows)
    }

    fn name(&self) -> &'static str {
        "mc-dropout"
    }
    fn chains(&self) -> usize {
        self.members
    }
    fn warmup(&self) -> usize {
        0
    }
    fn draws(&self) -> usize {
        self.draws
    }
    fn fit_steps(&self) -> usize {
        self.map.steps
    }
    fn is_markov_chain(&self) -> bool {
        false
    }
    fn drops_units(&self) -> bool {
        true
    }
    fn header(&self) -> Header {
        let map = &self.map;
        let run = [
            ("method", "mc-dropout".to_string()),
            ("members", self.members.to_string()),
            (
                "note",
                "each chain is one fitted network; each draw is its weights with one dropout \
                 mask folded in (kept units scaled by 1/(1-p)); lp__ is log p(theta) at the \
                 draw; the other sampler columns are 0"
                    .to_string(),
            ),
            ("optimizer", map.optimizer.to_string()),
            ("seed", map.seed.to_string()),
            ("steps", map.steps.to_string()),
            ("lr", map.lr.to_string()),
            (
                "batch_size",
                map.batch_size
                    .map_or_else(|| "all".to_string(), |b| b.to_string()),
            ),
            ("grad_tol", map.grad_tol.to_string()),
            ("num_samples", self.draws.to_string()),
        ];
        Header {
            run: run.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            tuning: Vec::new(),
        }
    }

    /// Fits, reports the fit, then writes the draws — also after an interruption, so the
    /// weights reached so far are kept as draws (as SVI keeps its guide).
    fn run_chain<D: Density, S: DrawSink>(
        &self,
        mut density: D,
        chain: usize,
        out: &mut ChainOutput<'_, S>,
    ) -> Result<MapResult, EngineError> {
        let sites = density.dropout_sites().to_vec();
        if sites.is_empty() {
            return Err(EngineError::Settings(NO_DROPOUT.into()));
        }
        let fit = self.fit(&mut density, &sites, chain, out)?;
        self.write_draws(&mut density, &sites, &fit, chain, out)?;
        Ok(fit)
    }
}

/// Why MC dropout cannot run on a density without dropout sites.
pub const NO_DROPOUT: &str = "mc-dropout needs a dropout layer in the model: write e.g. \
                              dropout(0.1) before a dense layer of a network";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::density::{Split, Target};
    use crate::engine::{RunControl, TraceFactory};

    const X: [[f64; 2]; 4] = [[1.0, 2.0], [-1.0, 0.5], [0.5, -1.5], [2.0, 1.0]];
    const Y: [f64; 4] = [1.0, -0.5, 0.2, 2.5];

    /// yᵢ ~ normal(w₀ xᵢ₀ + w₁ xᵢ₁ + b, 1) over the 4 rows above, θ = (w₀, w₁, b), each
    /// normal(0, 1) a priori (constants dropped); dropout on the input at rate p, whose units
    /// 0 and 1 feed w₀ and w₁.
    #[derive(Debug, Clone)]
    struct Linear {
        sites: Vec<DropoutSite>,
    }

    impl Linear {
        fn new(p: f64) -> Linear {
            Linear {
                sites: vec![DropoutSite {
                    p,
                    units: vec![vec![0], vec![1]],
                }],
            }
        }
    }

    impl Density for Linear {
        fn dim(&self) -> usize {
            3
        }
        fn log_density(&mut self, t: &[f64]) -> Result<f64, DensityError> {
            let mut g = [0.0; 3];
            self.log_density_grad(t, &mut g)
        }
        fn log_density_grad(&mut self, t: &[f64], g: &mut [f64]) -> Result<f64, DensityError> {
            let s = self.minibatch_grad(t, &[0, 1, 2, 3], g)?;
            Ok(s.prior + s.likelihood)
        }
        fn n_rows(&self) -> usize {
            4
        }
        fn minibatch_grad(
            &mut self,
            t: &[f64],
            rows: &[usize],
            g: &mut [f64],
        ) -> Result<Split, DensityError> {
            let both = Weights {
                prior: 1.0,
                likelihood: 1.0,
            };
            self.minibatch_grad_weighted(t, rows, both, g)
        }
        fn minibatch_grad_weighted(
            &mut self,
            t: &[f64],
            rows: &[usize],
            w: Weights,
            g: &mut [f64],
        ) -> Result<Split, DensityError> {
            let scale = 4.0 / rows.len() as f64;
            let mut split = Split {
                prior: -0.5 * t.iter().map(|v| v * v).sum::<f64>(),
                likelihood: 0.0,
            };
            for (gk, tk) in g.iter_mut().zip(t) {
                *gk = -w.prior * tk;
            }
            for &i in rows {
                let r = Y[i] - (t[0] * X[i][0] + t[1] * X[i][1] + t[2]);
                split.likelihood -= scale * 0.5 * r * r;
                for (gk, xk) in g.iter_mut().zip([X[i][0], X[i][1], 1.0]) {
                    *gk += w.likelihood * scale * r * xk;
                }
            }
            Ok(split)
        }
        fn dropout_sites(&self) -> &[DropoutSite] {
            &self.sites
        }
    }

    impl Target for Linear {
        type Evaluator = Linear;
        fn dim(&self) -> usize {
            3
        }
        fn evaluator(&self) -> Linear {
            self.clone()
        }
    }

    #[test]
    fn the_objective_is_the_prior_at_theta_plus_the_likelihood_at_the_masked_theta() {
        // Unit 0 dropped, unit 1 kept at p = 0.5: m = (0, 2, 1). At θ = (0.3, −0.7, 0.2) the
        // masked θ is (0, −1.4, 0.2); the prior stays at θ: −½(0.09 + 0.49 + 0.04) = −0.31.
        // Rows 1 and 3 (B = 2, scale 2): ŷ₁ = −1.4·0.5 + 0.2 = −0.5, r₁ = 0;
        // ŷ₃ = −1.4·1 + 0.2 = −1.2, r₃ = 3.7; likelihood = −2·½·3.7² = −13.69.
        let mut density = Linear::new(0.5);
        let theta = [0.3, -0.7, 0.2];
        let rows = [1, 3];
        let mut masked = Masked::new(3);
        masked.factor.copy_from_slice(&[0.0, 2.0, 1.0]);
        masked.fold(&theta);
        assert_eq!(masked.theta, [0.0, -1.4, 0.2]);
        let mut grad = [0.0; 3];
        let value = masked
            .objective(&mut density, &theta, &rows, &mut grad)
            .expect("finite");
        assert!((value - (-0.31 - 13.69)).abs() < 1e-12, "{value}");
        // The gradient against central differences of the same objective, mask fixed.
        let h = 1e-6;
        for k in 0..3 {
            let mut at = |d: f64| {
                let mut t = theta;
                t[k] += d;
                masked.fold(&t);
                let mut g = [0.0; 3];
                masked
                    .objective(&mut density, &t, &rows, &mut g)
                    .expect("finite")
            };
            let fd = (at(h) - at(-h)) / (2.0 * h);
            assert!((fd - grad[k]).abs() < 1e-6, "{k}: {fd} vs {}", grad[k]);
        }
        // A dropped unit's weight feels only the prior: ∂/∂w₀ = −w₀ = −0.3.
        assert!((grad[0] + 0.3).abs() < 1e-15, "{}", grad[0]);
    }

    #[test]
    fn masks_drop_at_the_rate_and_keep_the_weights_mean() {
        // 20 000 units at p = 0.3: the share dropped has sd √(0.3·0.7/20 000) = 0.0032; the
        // factors are 0 or 1/0.7, so their mean is 1 in expectation (inverted dropout), with sd
        // (1/0.7)·0.0032 = 0.0046.
        let n = 20_000;
        let sites = [
            DropoutSite {
                p: 0.0,
                units: vec![vec![n]],
            },
            DropoutSite {
                p: 0.3,
                units: (0..n).map(|j| vec![j]).collect(),
            },
        ];
        let mut rng = chain_rng(5, 0);
        let mut factor = vec![7.0; n + 1];
        sample_mask(&sites, &mut rng, &mut factor);
        let dropped = factor[..n].iter().filter(|f| **f == 0.0).count() as f64 / n as f64;
        let mean = factor[..n].iter().sum::<f64>() / n as f64;
        assert!((dropped - 0.3).abs() < 4.0 * 0.0032, "{dropped}");
        assert!((mean - 1.0).abs() < 4.0 * 0.0046, "{mean}");
        assert!(factor[..n].iter().all(|f| *f == 0.0 || *f == 1.0 / 0.7));
        // The rate-0 site is left alone and draws no number: the stream is where n draws put it.
        assert_eq!(factor[n], 7.0);
        let mut again = chain_rng(5, 0);
        for _ in 0..n {
            let _: f64 = again.random();
        }
        assert_eq!(rng.random::<u64>(), again.random::<u64>());
    }

    #[test]
    fn rate_zero_is_the_map_fit_bit_for_bit_and_every_draw_its_mode() {
        let map = Map {
            steps: 300,
            batch_size: Some(2),
            lr: 0.05,
            seed: 9,
            ..Map::default()
        };
        let mc = McDropout {
            map: map.clone(),
            draws: 4,
            members: 1,
        };
        let target = Linear::new(0.0);
        let (sinks, control) = (TraceFactory::default(), RunControl::default());
        let want = map.run(&target, &sinks, &control).expect("fits");
        let got = mc.run(&target, &sinks, &control).expect("fits");
        assert_eq!(got.chains[0].fit, want.chains[0].fit);
        let mode = &want.chains[0].fit.theta;
        let trace = got.into_trace();
        assert_eq!(trace.chains[0].len(), 4);
        for i in 0..4 {
            assert_eq!(trace.chains[0].draw(i), &mode[..]);
        }
    }

    #[test]
    fn draws_fold_one_mask_each_and_members_alone_equal_themselves_in_the_group() {
        let mc = McDropout {
            map: Map {
                steps: 200,
                lr: 0.05,
                ..Map::default()
            },
            draws: 50,
            members: 2,
        };
        let target = Linear::new(0.5);
        let sinks = TraceFactory::default();
        let all = mc
            .run(&target, &sinks, &RunControl::default())
            .expect("fits");
        let alone = mc
            .run(
                &target,
                &sinks,
                &RunControl {
                    chain_ids: Some(vec![1]),
                    ..RunControl::default()
                },
            )
            .expect("fits");
        assert_eq!(alone.chains[0].fit, all.chains[1].fit);
        assert_ne!(all.chains[0].fit.theta, all.chains[1].fit.theta);
        let fit = all.chains[0].fit.clone();
        assert_eq!(alone.into_trace().chains[0], all.into_trace().chains[1]);
        // Every draw is θ̂ with w₀ and w₁ each dropped (0) or kept (2·θ̂); b is untouched.
        let trace = mc
            .run(&target, &sinks, &RunControl::default())
            .expect("fits")
            .into_trace();
        let mut seen = [[false; 2]; 2];
        for i in 0..50 {
            let draw = trace.chains[0].draw(i);
            for k in 0..2 {
                let kept = draw[k] == 2.0 * fit.theta[k];
                assert!(kept || draw[k] == 0.0, "draw {i}: {draw:?}");
                seen[k][kept as usize] = true;
            }
            assert_eq!(draw[2], fit.theta[2]);
        }
        assert_eq!(
            seen, [[true; 2]; 2],
            "both outcomes for both units in 50 draws"
        );
    }

    #[test]
    fn a_density_without_dropout_and_lbfgs_are_refused() {
        let mc = McDropout {
            draws: 1,
            ..McDropout::default()
        };
        let mut target = Linear::new(0.5);
        target.sites.clear();
        let e = mc
            .run(&target, &TraceFactory::default(), &RunControl::default())
            .expect_err("refused");
        assert!(e.to_string().contains("needs a dropout layer"), "{e}");
        let lbfgs = McDropout {
            map: Map {
                optimizer: Optimizer::Lbfgs { memory: 5 },
                ..Map::default()
            },
            ..McDropout::default()
        };
        let e = lbfgs.check_settings(3, 4).expect_err("refused");
        assert!(e.to_string().contains("trains with Adam"), "{e}");
    }
}
