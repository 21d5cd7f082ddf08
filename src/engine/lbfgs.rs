//! L-BFGS on the full data: the limited-memory quasi-Newton ascent of log p(θ) that MAP uses
//! when every step sees every row, and that Pathfinder's paths follow ([`lbfgs_path`] hands
//! each accepted iterate to the caller).
//!
//! Minimizes f(θ) = −log p(θ) with the two-loop recursion for the search direction
//! [NW06, Algorithm 7.4], the initial Hessian scaled by γ = sᵀy / yᵀy [NW06, eq. 7.20], and a
//! line search for the Armijo condition f(θ + αd) ≤ f(θ) + c₁ α ∇fᵀd: backtracking
//! [NW06, Algorithm 3.1], after doubling a full step that meets the condition while the slope
//! along d is still steep (the bracketing phase of [NW06, Algorithm 3.5]). A pair (s, y) is kept
//! only when sᵀy > 0, so the implied inverse Hessian stays positive definite. A non-finite value
//! during the line search counts as a failed trial point.
//!
//! Near the optimum the decrease Armijo's condition asks for is below the rounding of f; a
//! point is then also accepted under Hager & Zhang's approximate Wolfe conditions [HZ05]: f no
//! worse up to its rounding, and the slope along the direction shrunk.
//!
//! - [NW06] Nocedal & Wright, Numerical Optimization, 2nd ed., Springer 2006.
//! - [HZ05] Hager & Zhang, A new conjugate gradient method with guaranteed descent and an
//!   efficient line search, SIAM J. Optimization 16(1), 2005.

use std::collections::VecDeque;

use crate::density::{Density, DensityError};

/// Armijo's sufficient-decrease constant c₁ [NW06, §3.1].
const C1: f64 = 1e-4;
/// Halvings of the step before the line search gives up.
const MAX_HALVINGS: usize = 60;
/// Doublings of the full step at most (2⁴⁰ ≈ 10¹²).
const MAX_DOUBLINGS: usize = 40;
/// Relative size of rounding in f that the approximate Wolfe test forgives.
const F_ROUNDING: f64 = 1e-12;
/// The curvature constant σ of the approximate Wolfe test: the slope along the direction must
/// shrink to σ of its size at the start.
const SIGMA: f64 = 0.9;

/// How an L-BFGS run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct LbfgsOutcome {
    /// Iterations made (accepted steps).
    pub iterations: usize,
    /// Whether the gradient norm fell below the tolerance.
    pub converged: bool,
    /// Whether the caller's hook stopped it.
    pub interrupted: bool,
    /// log p(θ) at the end.
    pub log_density: f64,
    /// ‖∇ log p(θ)‖ at the end.
    pub grad_norm: f64,
    /// Density evaluations (with gradient), line-search trials included.
    pub evaluations: u64,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// One accepted L-BFGS iterate, as [`lbfgs_path`] hands it to its caller.
#[derive(Debug, Clone, Copy)]
pub struct Iterate<'a> {
    /// Iterations made so far (1 for the first accepted step).
    pub iteration: usize,
    /// The position θ reached.
    pub theta: &'a [f64],
    /// log p(θ).
    pub log_density: f64,
    /// ∇ log p(θ).
    pub grad: &'a [f64],
    /// ‖∇ log p(θ)‖.
    pub grad_norm: f64,
}

/// Ascends log p from `theta` (overwritten with the end point) for at most `max_iter`
/// iterations keeping `memory` pairs, until ‖∇ log p‖ < `grad_tol`. `after(iteration, log p,
/// ‖∇ log p‖)` is called after every accepted step and returns false to stop. A density error
/// that is not recoverable ends the run with the iteration it happened in; so does a start
/// where the log-density is not finite.
pub fn lbfgs<D: Density + ?Sized>(
    density: &mut D,
    theta: &mut [f64],
    max_iter: usize,
    memory: usize,
    grad_tol: f64,
    after: &mut dyn FnMut(usize, f64, f64) -> bool,
) -> Result<LbfgsOutcome, (usize, DensityError)> {
    lbfgs_path(density, theta, max_iter, memory, grad_tol, &mut |it| {
        after(it.iteration, it.log_density, it.grad_norm)
    })
}

/// [`lbfgs`], with the whole accepted iterate (θ and ∇ log p besides the values) passed to
/// `after`, for callers that follow the path (Pathfinder).
pub fn lbfgs_path<D: Density + ?Sized>(
    density: &mut D,
    theta: &mut [f64],
    max_iter: usize,
    memory: usize,
    grad_tol: f64,
    after: &mut dyn FnMut(&Iterate<'_>) -> bool,
) -> Result<LbfgsOutcome, (usize, DensityError)> {
    let d = theta.len();
    // f = −log p and its gradient g = −∇ log p.
    let mut g = vec![0.0; d];
    let mut evaluations = 1u64;
    let lp = density
        .log_density_grad(theta, &mut g)
        .map_err(|e| (0, e))?;
    let mut f = -lp;
    g.iter_mut().for_each(|x| *x = -*x);
    let mut pairs: VecDeque<(Vec<f64>, Vec<f64>, f64)> = VecDeque::with_capacity(memory);
    let (mut dir, mut trial, mut g_trial) = (vec![0.0; d], vec![0.0; d], vec![0.0; d]);
    let (mut kept, mut g_kept) = (vec![0.0; d], vec![0.0; d]);
    let mut alphas = vec![0.0; memory.max(1)];
    let mut out = LbfgsOutcome {
        iterations: 0,
        converged: false,
        interrupted: false,
        log_density: lp,
        grad_norm: norm(&g),
        evaluations,
    };
    for k in 0..max_iter {
        if out.grad_norm < grad_tol {
            out.converged = true;
            break;
        }
        // Two-loop recursion: dir = −H g [NW06, Algorithm 7.4].
        dir.copy_from_slice(&g);
        for (i, (s, y, rho)) in pairs.iter().enumerate().rev() {
            alphas[i] = rho * dot(s, &dir);
            dir.iter_mut()
                .zip(y)
                .for_each(|(q, yi)| *q -= alphas[i] * yi);
        }
        let gamma = pairs
            .back()
            .map_or(1.0 / out.grad_norm.max(1.0), |(s, y, _)| {
                dot(s, y) / dot(y, y)
            });
        dir.iter_mut().for_each(|q| *q *= gamma);
        for (i, (s, y, rho)) in pairs.iter().enumerate() {
            let beta = rho * dot(y, &dir);
            dir.iter_mut()
                .zip(s)
                .for_each(|(r, si)| *r += si * (alphas[i] - beta));
        }
        dir.iter_mut().for_each(|x| *x = -*x);
        let mut slope = dot(&g, &dir);
        if slope >= 0.0 {
            // Not a descent direction (rounding after many pairs): restart from −g.
            pairs.clear();
            for (x, gi) in dir.iter_mut().zip(&g) {
                *x = -gi / out.grad_norm.max(1.0);
            }
            slope = dot(&g, &dir);
        }
        // Backtracking for Armijo's condition [NW06, Algorithm 3.1], after an expansion
        // phase: while the full step satisfies Armijo's condition but the slope along the
        // direction is still steeper than σ of its start (the weak Wolfe curvature condition
        // fails), the step is doubled, and the last doubled step that still satisfies Armijo's
        // condition is taken [NW06, §3.5's bracketing phase, without the zoom]. Without it an
        // iterate on a long ridge (a condition number of 10⁸ or more) takes steps γ shrinks to
        // nothing, and log p stalls for dozens of iterations short of the mode.
        let mut alpha = 1.0;
        let mut accepted = None;
        let mut expanding = true;
        let mut doublings = 0;
        // log p at the step held in (`kept`, `g_kept`), the last doubled one.
        let mut kept_lp = None;
        for _ in 0..MAX_HALVINGS + MAX_DOUBLINGS {
            for ((t, x), di) in trial.iter_mut().zip(theta.iter()).zip(&dir) {
                *t = x + alpha * di;
            }
            evaluations += 1;
            let lp_trial = match density.log_density_grad(&trial, &mut g_trial) {
                Ok(lp_trial) => Some(lp_trial),
                Err(e) if e.is_recoverable() => None,
                Err(e) => return Err((k, e)),
            };
            match lp_trial {
                Some(lp_trial) if -lp_trial <= f + C1 * alpha * slope => {
                    // ∇f(θ + αd)ᵀd = −∇log p(θ + αd)ᵀd, compared with σ times the start's.
                    let steep = -dot(&g_trial, &dir) < SIGMA * slope;
                    if expanding && steep && doublings < MAX_DOUBLINGS {
                        kept.copy_from_slice(&trial);
                        g_kept.copy_from_slice(&g_trial);
                        kept_lp = Some(lp_trial);
                        doublings += 1;
                        alpha *= 2.0;
                        continue;
                    }
                    accepted = Some(lp_trial);
                    break;
                }
                _ if kept_lp.is_some() => {
                    // The doubling went too far: take the last step that did not.
                    std::mem::swap(&mut trial, &mut kept);
                    std::mem::swap(&mut g_trial, &mut g_kept);
                    accepted = kept_lp;
                    break;
                }
                // Near the optimum the decrease Armijo asks for falls below the rounding of f:
                // accept a point whose value is no worse up to that rounding and whose slope
                // along the direction has shrunk to σ of its start (after [HZ05]'s approximate
                // Wolfe conditions, with a two-sided slope test).
                Some(lp_trial)
                    if -lp_trial <= f + F_ROUNDING * (1.0 + f.abs())
                        && dot(&g_trial, &dir).abs() <= -SIGMA * slope =>
                {
                    accepted = Some(lp_trial);
                    break;
                }
                _ => {}
            }
            expanding = false;
            alpha *= 0.5;
        }
        out.evaluations = evaluations;
        let Some(lp_new) = accepted else {
            // No decrease along the direction at any step size: θ is as good as it gets at
            // this precision.
            break;
        };
        g_trial.iter_mut().for_each(|x| *x = -*x);
        let s: Vec<f64> = trial.iter().zip(theta.iter()).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g_trial.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-10 * norm(&s) * norm(&y) {
            if pairs.len() == memory {
                pairs.pop_front();
            }
            if memory > 0 {
                pairs.push_back((s, y, 1.0 / sy));
            }
        }
        theta.copy_from_slice(&trial);
        g.copy_from_slice(&g_trial);
        f = -lp_new;
        out.iterations = k + 1;
        out.log_density = lp_new;
        out.grad_norm = norm(&g);
        // The caller sees ∇ log p = −g.
        g_trial.iter_mut().zip(&g).for_each(|(t, gi)| *t = -gi);
        let iterate = Iterate {
            iteration: k + 1,
            theta,
            log_density: lp_new,
            grad: &g_trial,
            grad_norm: out.grad_norm,
        };
        if !after(&iterate) {
            out.interrupted = true;
            break;
        }
    }
    if out.grad_norm < grad_tol {
        out.converged = true;
    }
    out.evaluations = evaluations;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::density::FnDensity;

    #[test]
    fn lbfgs_finds_the_minimum_of_rosenbrock() {
        // log p = −[(1 − x)² + 100 (y − x²)²], maximum at (1, 1), a curved valley that plain
        // gradient steps crawl along.
        let mut density = FnDensity::new(2, |t: &[f64], g: &mut [f64]| {
            let (x, y) = (t[0], t[1]);
            g[0] = 2.0 * (1.0 - x) + 400.0 * x * (y - x * x);
            g[1] = -200.0 * (y - x * x);
            -((1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2))
        });
        let mut theta = [-1.2, 1.0];
        let out = lbfgs(&mut density, &mut theta, 500, 10, 1e-10, &mut |_, _, _| {
            true
        })
        .expect("runs");
        assert!(out.converged, "{out:?}");
        assert!((theta[0] - 1.0).abs() < 1e-9 && (theta[1] - 1.0).abs() < 1e-9);
        assert!(out.iterations < 100, "{}", out.iterations);
    }

    #[test]
    fn a_correlated_gaussian_is_solved_to_the_last_digits() {
        // log p = −½ (θ − m)ᵀ A (θ − m), A = [[2, 0.9], [0.9, 1]]: the mode is m exactly.
        let m = [0.7, -1.3];
        let mut density = FnDensity::new(2, move |t: &[f64], g: &mut [f64]| {
            let (a, b) = (t[0] - m[0], t[1] - m[1]);
            g[0] = -(2.0 * a + 0.9 * b);
            g[1] = -(0.9 * a + b);
            -0.5 * (2.0 * a * a + 1.8 * a * b + b * b)
        });
        let mut theta = [5.0, 5.0];
        let out =
            lbfgs(&mut density, &mut theta, 100, 5, 1e-12, &mut |_, _, _| true).expect("runs");
        assert!(out.converged);
        assert!((theta[0] - m[0]).abs() < 1e-11 && (theta[1] - m[1]).abs() < 1e-11);
    }

    #[test]
    fn a_full_step_that_is_too_short_is_doubled_until_the_slope_has_shrunk() {
        // log p = −(θ − 1000)² / (2·10⁶) from θ = 0: ∇log p = 10⁻³, and the first direction
        // is the gradient over max(‖∇‖, 1), so the full step reaches only θ = 10⁻³. The slope
        // (1000 − θ)/10⁶ falls to σ = 0.9 of its start at θ = 100, so the step α·10⁻³ is
        // doubled until α ≥ 10⁵: α = 2¹⁷ = 131072, θ₁ = 131.072 (Armijo holds there: the
        // decrease 0.122 beats c₁·α·slope = 1.3·10⁻⁵). Backtracking alone would stop at 10⁻³.
        let mut density = FnDensity::new(1, |t: &[f64], g: &mut [f64]| {
            g[0] = -(t[0] - 1000.0) / 1e6;
            -(t[0] - 1000.0).powi(2) / 2e6
        });
        let mut theta = [0.0];
        let mut first = None;
        lbfgs_path(&mut density, &mut theta, 1, 5, 1e-12, &mut |it| {
            first = Some(it.theta[0]);
            true
        })
        .expect("runs");
        assert_eq!(first, Some(131.072));
    }

    #[test]
    fn the_path_hook_sees_each_iterate_with_its_gradient() {
        // log p = −½ (θ − m)ᵀ A (θ − m) with A = diag(1, 4): every iterate handed over must
        // carry ∇ log p = −A (θ − m) at its own θ, and its log p.
        let m = [1.0, -2.0];
        let mut density = FnDensity::new(2, move |t: &[f64], g: &mut [f64]| {
            g[0] = -(t[0] - m[0]);
            g[1] = -4.0 * (t[1] - m[1]);
            -0.5 * ((t[0] - m[0]).powi(2) + 4.0 * (t[1] - m[1]).powi(2))
        });
        let mut theta = [3.0, 3.0];
        let mut seen = 0;
        let out = lbfgs_path(&mut density, &mut theta, 100, 5, 1e-10, &mut |it| {
            seen += 1;
            assert_eq!(it.iteration, seen);
            let (a, b) = (it.theta[0] - m[0], it.theta[1] - m[1]);
            assert_eq!(it.grad, [-a, -4.0 * b]);
            assert_eq!(it.log_density, -0.5 * (a * a + 4.0 * b * b));
            assert!((it.grad_norm - (a * a + 16.0 * b * b).sqrt()).abs() < 1e-12);
            true
        })
        .expect("runs");
        assert!(out.converged && seen == out.iterations && seen > 1);
    }

    #[test]
    fn the_hook_stops_it_and_nan_points_are_stepped_back_from() {
        // log p = −(x − 1.5)², NaN on (0.9, 1.1). From 0 the first direction is +1 (−∇f = 3,
        // scaled by 1/3): the full step lands at 1, inside the hole, so the search halves to
        // 0.5. The secant then gives γ = s/y = 0.5/1 and the exact step to 1.5, over the hole.
        let mut density = FnDensity::new(1, |t: &[f64], g: &mut [f64]| {
            g[0] = -2.0 * (t[0] - 1.5);
            if t[0] > 0.9 && t[0] < 1.1 {
                f64::NAN
            } else {
                -(t[0] - 1.5).powi(2)
            }
        });
        let mut at = Vec::new();
        let mut theta = [0.0];
        let out = lbfgs(&mut density, &mut theta, 100, 3, 1e-12, &mut |_, lp, _| {
            at.push(lp);
            true
        })
        .expect("runs");
        assert!(out.converged && (theta[0] - 1.5).abs() < 1e-12, "{theta:?}");
        // log p(0.5) = −1 after the first iteration, 0 after the second.
        assert_eq!(at, [-1.0, 0.0]);
        assert_eq!(out.evaluations, 4, "start, the NaN trial, 0.5, then 1.5");
        let mut theta = [0.0];
        let out = lbfgs(&mut density, &mut theta, 100, 3, 1e-12, &mut |k, _, _| {
            k < 1
        })
        .expect("runs");
        assert!(out.interrupted && out.iterations == 1);
    }
}
