//! The loop every fitting engine runs: steps of Adam (or SGD with momentum) ascending an
//! objective estimated on minibatches, with the shared learning-rate schedule and clipping, a
//! smoothed trace, and the stopping rules (steps, a flat smoothed value, or the caller's test).
//!
//! The engines differ only in the objective they hand it — SVI the ELBO of its guide's
//! parameters, MAP and the ensembles log p(θ), MC dropout log p at masked weights — so the
//! optimizer's behaviour (and its bugs) is one thing to test.

use rand::Rng;

use super::batches::Batches;
use super::optim::{clip, Adam, Decay};
use crate::density::DensityError;

/// Consecutive steps whose objective could not be evaluated before the fit gives up.
pub const MAX_FAILED_STEPS: usize = 100;

/// The update rule of each step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// Adam [KB15, Algorithm 1] with β₁, β₂ and ε.
    Adam {
        /// β₁ and β₂.
        betas: (f64, f64),
        /// ε.
        eps: f64,
    },
    /// Stochastic gradient ascent with heavy-ball momentum μ: v ← μ v + g, φ ← φ + α v.
    Sgd {
        /// Momentum μ in [0, 1).
        momentum: f64,
    },
}

/// Settings of the loop.
#[derive(Debug, Clone, PartialEq)]
pub struct Descent {
    /// The update rule.
    pub rule: Rule,
    /// Maximum number of steps.
    pub steps: usize,
    /// Base learning rate α.
    pub lr: f64,
    /// How α changes over the steps.
    pub decay: Decay,
    /// Rescale the gradient to this Euclidean norm when it is longer.
    pub clip: Option<f64>,
    /// Stop when the smoothed objective changes by less than `tol` (relative to
    /// max(|value|, 1)) over `window` steps; 0 never does.
    pub tol: f64,
    /// Steps of the `tol` test; the moving average's weight is 2 / (window + 1).
    pub window: usize,
}

/// One step of the trace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Step, from 1.
    pub step: usize,
    /// The step's estimate of the objective.
    pub value: f64,
    /// Exponential moving average of the estimates.
    pub smoothed: f64,
}

/// Why a step's objective could not be used.
#[derive(Debug, Clone, PartialEq)]
pub enum StepError {
    /// Skip the step without an update (a non-finite value at this draw or batch); after
    /// [`MAX_FAILED_STEPS`] in a row the fit ends with this error.
    Skip(DensityError),
    /// End the fit at once.
    Fail(DensityError),
    /// The objective is at its optimum at these parameters (the caller's rule, e.g. a small
    /// gradient): end the fit there, without an update, recording this value.
    Converged(f64),
}

impl From<DensityError> for StepError {
    fn from(e: DensityError) -> StepError {
        if e.is_recoverable() {
            StepError::Skip(e)
        } else {
            StepError::Fail(e)
        }
    }
}

/// A step's objective: `(params, rows, rng, grad)` → the estimate, its gradient written.
pub type Objective<'a, R> =
    dyn FnMut(&[f64], Option<&[usize]>, &mut R, &mut [f64]) -> Result<f64, StepError> + 'a;

/// The caller's test after a step: `(point, params, gradient before clipping)` → what next.
pub type After<'a> = dyn FnMut(&Point, &[f64], &[f64]) -> Flow + 'a;

/// What the caller's test after a step decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on.
    Continue,
    /// Stop: the fit has converged by the caller's rule.
    Converged,
    /// Stop: interrupted (Ctrl-C, a hook, a sink that failed).
    Stop,
}

/// How the loop ended.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    /// One point per step made.
    pub trace: Vec<Point>,
    /// Whether a stopping rule (the flat smoothed value, or the caller's) ended it.
    pub converged: bool,
    /// Whether the caller stopped it.
    pub interrupted: bool,
    /// Steps skipped because the objective could not be evaluated.
    pub skipped: usize,
}

impl Descent {
    /// Runs the loop on `params`. Each step draws its rows from `batches` (all rows when
    /// `None`), then calls `objective(params, rows, rng, grad)`, which returns the estimate and
    /// writes its gradient (or says the optimum is reached, ending the loop without an update);
    /// the update follows, then the trace point, then `after(point, params, grad)` — with the
    /// gradient as the objective wrote it, before clipping.
    ///
    /// A failure is returned with the index (from 0) of the step it ended.
    pub fn run<R: Rng + ?Sized>(
        &self,
        params: &mut [f64],
        mut batches: Option<&mut Batches>,
        rng: &mut R,
        objective: &mut Objective<'_, R>,
        after: &mut After<'_>,
    ) -> Result<Outcome, (usize, DensityError)> {
        let n = params.len();
        let mut adam = Adam::new(match self.rule {
            Rule::Adam { .. } => n,
            Rule::Sgd { .. } => 0,
        });
        let mut velocity = vec![
            0.0;
            match self.rule {
                Rule::Sgd { .. } => n,
                Rule::Adam { .. } => 0,
            }
        ];
        let mut grad = vec![0.0; n];
        let mut raw = vec![0.0; n];
        let window = self.window.max(1);
        let alpha = 2.0 / (window as f64 + 1.0);
        // Smoothed values of the last `window` steps, a ring buffer for the `tol` test.
        let mut ring = vec![f64::NAN; window];
        let mut smoothed = f64::NAN;
        let mut out = Outcome {
            trace: Vec::with_capacity(self.steps),
            ..Outcome::default()
        };
        let mut failed_in_row = 0usize;
        for t in 0..self.steps {
            let rows = batches.as_mut().map(|b| b.next(rng));
            let value = match objective(params, rows, rng, &mut grad) {
                Ok(v) => v,
                Err(StepError::Converged(value)) => {
                    smoothed = if smoothed.is_nan() {
                        value
                    } else {
                        smoothed + alpha * (value - smoothed)
                    };
                    let point = Point {
                        step: t + 1,
                        value,
                        smoothed,
                    };
                    out.trace.push(point);
                    out.converged = true;
                    if after(&point, params, &grad) == Flow::Stop {
                        out.interrupted = true;
                    }
                    break;
                }
                Err(StepError::Skip(e)) => {
                    out.skipped += 1;
                    failed_in_row += 1;
                    if failed_in_row >= MAX_FAILED_STEPS {
                        return Err((t, e));
                    }
                    continue;
                }
                Err(StepError::Fail(e)) => return Err((t, e)),
            };
            failed_in_row = 0;
            raw.copy_from_slice(&grad);
            clip(&mut grad, self.clip);
            let lr = self.decay.lr_at(self.lr, t, self.steps);
            match self.rule {
                Rule::Adam { betas, eps } => adam.step(params, &grad, lr, betas, eps),
                Rule::Sgd { momentum } => {
                    for ((p, v), g) in params.iter_mut().zip(&mut velocity).zip(&grad) {
                        *v = momentum * *v + g;
                        *p += lr * *v;
                    }
                }
            }
            smoothed = if smoothed.is_nan() {
                value
            } else {
                smoothed + alpha * (value - smoothed)
            };
            let point = Point {
                step: t + 1,
                value,
                smoothed,
            };
            out.trace.push(point);
            let before = std::mem::replace(&mut ring[t % window], smoothed);
            if self.tol > 0.0
                && before.is_finite()
                && (smoothed - before).abs() < self.tol * smoothed.abs().max(1.0)
            {
                out.converged = true;
            }
            match after(&point, params, &raw) {
                Flow::Continue => {}
                Flow::Converged => out.converged = true,
                Flow::Stop => {
                    out.interrupted = true;
                    break;
                }
            }
            if out.converged {
                break;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::chain_rng;

    /// log p = −½ Σ (φ_i − c_i)², its gradient c − φ.
    fn quadratic(c: &'static [f64]) -> Box<Objective<'static, rand_chacha::ChaCha8Rng>> {
        Box::new(move |phi, _rows, _rng, g| {
            let mut v = 0.0;
            for i in 0..phi.len() {
                g[i] = c[i] - phi[i];
                v -= 0.5 * g[i] * g[i];
            }
            Ok(v)
        })
    }

    fn settings(rule: Rule, steps: usize, lr: f64) -> Descent {
        Descent {
            rule,
            steps,
            lr,
            decay: Decay::None,
            clip: None,
            tol: 0.0,
            window: 10,
        }
    }

    #[test]
    fn sgd_with_momentum_takes_the_heavy_ball_step() {
        // φ = 0, c = 1: g = 1 each step while φ stays far; v₁ = 1, φ₁ = 0.1; g₂ = 0.9,
        // v₂ = 0.5·1 + 0.9 = 1.4, φ₂ = 0.1 + 0.14 = 0.24.
        let mut phi = [0.0];
        let mut rng = chain_rng(1, 0);
        let d = settings(Rule::Sgd { momentum: 0.5 }, 2, 0.1);
        d.run(
            &mut phi,
            None,
            &mut rng,
            &mut *quadratic(&[1.0]),
            &mut |_, _, _| Flow::Continue,
        )
        .expect("runs");
        assert!((phi[0] - 0.24).abs() < 1e-15, "{}", phi[0]);
    }

    #[test]
    fn adam_and_sgd_reach_the_maximum_and_the_callers_rule_stops_the_loop() {
        for rule in [
            Rule::Adam {
                betas: (0.9, 0.999),
                eps: 1e-8,
            },
            Rule::Sgd { momentum: 0.9 },
        ] {
            let mut phi = [0.0, 0.0];
            let mut rng = chain_rng(1, 0);
            let d = settings(rule, 100_000, 0.01);
            let out = d
                .run(
                    &mut phi,
                    None,
                    &mut rng,
                    &mut *quadratic(&[3.0, -2.0]),
                    // Stop once the gradient at the step's point is below 1e-9.
                    &mut |_, _, g| {
                        if g.iter().map(|x| x * x).sum::<f64>().sqrt() < 1e-9 {
                            Flow::Converged
                        } else {
                            Flow::Continue
                        }
                    },
                )
                .expect("runs");
            assert!(out.converged && out.trace.len() < 100_000, "{rule:?}");
            assert!(
                (phi[0] - 3.0).abs() < 1e-8 && (phi[1] + 2.0).abs() < 1e-8,
                "{phi:?}"
            );
        }
    }

    #[test]
    fn non_finite_steps_are_skipped_then_give_up() {
        let mut phi = [0.0];
        let mut rng = chain_rng(1, 0);
        let d = settings(Rule::Sgd { momentum: 0.0 }, 500, 0.1);
        let mut calls = 0;
        let err = d
            .run(
                &mut phi,
                None,
                &mut rng,
                &mut |_, _, _, _| {
                    calls += 1;
                    Err(StepError::from(DensityError::NonFiniteValue {
                        value: f64::NAN,
                        term: None,
                    }))
                },
                &mut |_, _, _| Flow::Continue,
            )
            .expect_err("gives up");
        assert_eq!(err.0, MAX_FAILED_STEPS - 1);
        assert_eq!(calls, MAX_FAILED_STEPS);
        assert_eq!(phi[0], 0.0);
    }
}
