//! Pathfinder's local Gaussian at one iterate of an L-BFGS path: the inverse-Hessian estimate
//! from the path's last J (s, y) pairs as a diagonal plus a low-rank factor [ZCGV22, Alg. 2–4;
//! BNS94, Thm. 2.2], its mean (one quasi-Newton step from the iterate), exact draws and log q.
//!
//! With f = −log p, s = Δθ and y = Δ∇f between iterates, a pair is kept when sᵀy > ε·‖y‖²
//! [ZCGV22, Alg. 1]. The diagonal D = diag(α) starts at I and is updated with every kept pair
//! by [GL89, eq. 4.9]: α ← b / (a/α + y² − (a/c)·(s/α)²), a = yᵀDy, b = yᵀs, c = sᵀD⁻¹s
//! (elementwise; in one dimension it is the secant s/y). With S, Y the last J pairs, R the
//! upper triangle of SᵀY and E its diagonal, the compact form of the inverse Hessian is
//! [BNS94, Thm. 2.2]
//!
//!   H = D + B·M·Bᵀ,  B = [S, D·Y],  M = [[R⁻ᵀ(E + YᵀDY)R⁻¹, −R⁻ᵀ], [−R⁻¹, 0]].
//!
//! The Gaussian is N(μ, H) with μ = θ + H·∇log p(θ). Draws follow [ZCGV22, Alg. 4]: the thin QR
//! D^{-1/2}·B = Q·R̃, the Cholesky factor L of I + R̃·M·R̃ᵀ, then θ = μ + D^{1/2}·(u + Q(L − I)Qᵀu)
//! for u ~ N(0, I), whose covariance is D^{1/2}(I + QR̃MR̃ᵀQᵀ)D^{1/2} = H, and
//! log q = −½(log det H + uᵀu + d·log 2π) with log det H = Σ log α + 2·Σ log Lᵢᵢ.
//!
//! - [ZCGV22] Zhang, Carpenter, Gelman & Vehtari, Pathfinder: Parallel quasi-Newton variational
//!   inference, JMLR 23(306), 2022.
//! - [BNS94] Byrd, Nocedal & Schnabel, Representations of quasi-Newton matrices and their use
//!   in limited memory methods, Mathematical Programming 63, 1994.
//! - [GL89] Gilbert & Lemaréchal, Some numerical experiments with variable-storage quasi-Newton
//!   algorithms, Mathematical Programming 45, 1989.

use std::collections::VecDeque;

use nalgebra::{DMatrix, DVector};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// The curvature test's ε: a pair is kept when sᵀy > ε·‖y‖² [ZCGV22, Alg. 1].
const CURVATURE_EPS: f64 = f64::EPSILON;

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The last J (s, y) pairs of a path and the diagonal D they have updated so far.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// Pairs (s, y), oldest first, at most `size` of them.
    pairs: VecDeque<(Vec<f64>, Vec<f64>)>,
    /// The diagonal α of D, length d.
    alpha: Vec<f64>,
    /// J, the number of pairs kept.
    size: usize,
}

impl History {
    /// An empty history over d coordinates keeping `size` pairs; D = I.
    pub fn new(dim: usize, size: usize) -> History {
        History {
            pairs: VecDeque::with_capacity(size),
            alpha: vec![1.0; dim],
            size,
        }
    }

    /// Pairs kept now.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether no pair is kept.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Offers the step from (θ₀, ∇log p₀) to (θ₁, ∇log p₁); returns whether the pair passed the
    /// curvature test and was kept (updating D first).
    pub fn push(&mut self, theta0: &[f64], grad0: &[f64], theta1: &[f64], grad1: &[f64]) -> bool {
        let s: Vec<f64> = theta1.iter().zip(theta0).map(|(a, b)| a - b).collect();
        // y = Δ∇f = −Δ∇log p.
        let y: Vec<f64> = grad0.iter().zip(grad1).map(|(a, b)| a - b).collect();
        let b = dot(&y, &s);
        // A NaN b fails the test too.
        let curved = b > CURVATURE_EPS * dot(&y, &y);
        if !curved || self.size == 0 {
            return false;
        }
        // [GL89, eq. 4.9].
        let a: f64 = y.iter().zip(&self.alpha).map(|(yi, al)| al * yi * yi).sum();
        let c: f64 = s.iter().zip(&self.alpha).map(|(si, al)| si * si / al).sum();
        let updated: Vec<f64> = self
            .alpha
            .iter()
            .zip(s.iter().zip(&y))
            .map(|(al, (si, yi))| b / (a / al + yi * yi - (a / c) * (si / al).powi(2)))
            .collect();
        // Rounding can break the update's positivity far from a quadratic; D then stays.
        if updated.iter().all(|x| x.is_finite() && *x > 0.0) {
            self.alpha = updated;
        }
        if self.pairs.len() == self.size {
            self.pairs.pop_front();
        }
        self.pairs.push_back((s, y));
        true
    }
}

/// The Gaussian N(μ, H) at one iterate, factored for exact draws and log q.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalGaussian {
    /// The mean μ, length d.
    pub mean: Vec<f64>,
    /// The diagonal α of D.
    alpha: Vec<f64>,
    /// √α.
    sqrt_alpha: Vec<f64>,
    /// Q of the thin QR of D^{-1/2}·B, d × k (k = 0 without pairs).
    q: DMatrix<f64>,
    /// L − I, k × k.
    l_minus_i: DMatrix<f64>,
    /// B (d × 2m) and M (2m × 2m) of the compact form.
    b: DMatrix<f64>,
    /// The middle factor M.
    m: DMatrix<f64>,
    /// log det H.
    pub log_det: f64,
}

impl LocalGaussian {
    /// The Gaussian at θ with gradient ∇log p(θ) from `history`; `None` when the factors are
    /// not a positive definite covariance (rounding on a flat or non-convex stretch).
    pub fn new(theta: &[f64], grad: &[f64], history: &History) -> Option<LocalGaussian> {
        let d = theta.len();
        let m = history.pairs.len();
        let alpha = history.alpha.clone();
        let sqrt_alpha: Vec<f64> = alpha.iter().map(|a| a.sqrt()).collect();
        let s = DMatrix::from_fn(d, m, |i, j| history.pairs[j].0[i]);
        let y = DMatrix::from_fn(d, m, |i, j| history.pairs[j].1[i]);
        let dy = DMatrix::from_fn(d, m, |i, j| alpha[i] * y[(i, j)]);
        // R: the upper triangle of SᵀY; E its diagonal [BNS94, Thm. 2.2].
        let sty = s.transpose() * &y;
        let r = sty.upper_triangle();
        let r_inv = r.clone().try_inverse()?;
        let e = DMatrix::from_diagonal(&sty.diagonal());
        let top_left = r_inv.transpose() * (e + y.transpose() * &dy) * &r_inv;
        let mut mid = DMatrix::zeros(2 * m, 2 * m);
        mid.view_mut((0, 0), (m, m)).copy_from(&top_left);
        mid.view_mut((0, m), (m, m))
            .copy_from(&(-r_inv.transpose()));
        mid.view_mut((m, 0), (m, m)).copy_from(&(-&r_inv));
        let mut b = DMatrix::zeros(d, 2 * m);
        b.view_mut((0, 0), (d, m)).copy_from(&s);
        b.view_mut((0, m), (d, m)).copy_from(&dy);
        // μ = θ + H·∇log p(θ), H·g = D·g + B·M·Bᵀ·g.
        let g = DVector::from_column_slice(grad);
        let low = &b * (&mid * (b.transpose() * &g));
        let mean: Vec<f64> = (0..d)
            .map(|i| theta[i] + alpha[i] * grad[i] + low[i])
            .collect();
        let (q, l_minus_i, log_det_low) = if m == 0 {
            (DMatrix::zeros(d, 0), DMatrix::zeros(0, 0), 0.0)
        } else {
            let scaled = DMatrix::from_fn(d, 2 * m, |i, j| b[(i, j)] / sqrt_alpha[i]);
            let qr = scaled.qr();
            let (q, rt) = (qr.q(), qr.r());
            let k = rt.nrows();
            let inner = DMatrix::identity(k, k) + &rt * &mid * rt.transpose();
            let inner = (&inner + inner.transpose()) * 0.5;
            let l = nalgebra::Cholesky::new(inner)?.l();
            let log_det_low = 2.0 * l.diagonal().iter().map(|x| x.ln()).sum::<f64>();
            (q, l - DMatrix::identity(k, k), log_det_low)
        };
        let log_det = alpha.iter().map(|a| a.ln()).sum::<f64>() + log_det_low;
        if !log_det.is_finite() || mean.iter().any(|x| !x.is_finite()) {
            return None;
        }
        Some(LocalGaussian {
            mean,
            alpha,
            sqrt_alpha,
            q,
            l_minus_i,
            b,
            m: mid,
            log_det,
        })
    }

    /// One draw into `theta`; returns log q(θ).
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R, theta: &mut [f64]) -> f64 {
        let d = self.mean.len();
        let u = DVector::from_iterator(d, (0..d).map(|_| StandardNormal.sample(rng)));
        let mut x = u.clone();
        if self.q.ncols() > 0 {
            x += &self.q * (&self.l_minus_i * (self.q.transpose() * &u));
        }
        for i in 0..d {
            theta[i] = self.mean[i] + self.sqrt_alpha[i] * x[i];
        }
        -0.5 * (self.log_det + u.norm_squared() + d as f64 * (2.0 * std::f64::consts::PI).ln())
    }

    /// The covariance H = D + B·M·Bᵀ as a dense d × d matrix (tests, small d).
    pub fn covariance(&self) -> DMatrix<f64> {
        let mut h = &self.b * &self.m * self.b.transpose();
        for (i, a) in self.alpha.iter().enumerate() {
            h[(i, i)] += a;
        }
        h
    }

    /// The diagonal of H, in O(d·m²).
    pub fn variance(&self) -> Vec<f64> {
        let bm = &self.b * &self.m;
        (0..self.alpha.len())
            .map(|i| self.alpha[i] + bm.row(i).dot(&self.b.row(i)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    /// Feeds exact steps on f = ½θᵀAθ into a history: y = A·s.
    fn quadratic_history(a: &DMatrix<f64>, steps: &[[f64; 2]], size: usize) -> History {
        let mut h = History::new(2, size);
        let mut theta = vec![1.0, -0.5];
        let grad = |t: &[f64]| -> Vec<f64> {
            let v = -(a * DVector::from_column_slice(t));
            v.iter().copied().collect()
        };
        for step in steps {
            let next = vec![theta[0] + step[0], theta[1] + step[1]];
            assert!(h.push(&theta, &grad(&theta), &next, &grad(&next)));
            theta = next;
        }
        h
    }

    #[test]
    fn two_independent_pairs_recover_the_inverse_hessian_of_a_quadratic() {
        // On f = ½θᵀAθ, y = A·s. Two A-conjugate steps (s₁ᵀAs₂ = 0.3·(2·0.18 − 0.9·0.4) = 0)
        // give BFGS the hereditary property H·yⱼ = sⱼ for both, which in two dimensions pins
        // H to A⁻¹ whatever D is.
        let a = DMatrix::from_row_slice(2, 2, &[2.0, 0.9, 0.9, 1.0]);
        let h = quadratic_history(&a, &[[0.3, 0.0], [0.18, -0.4]], 5);
        let g = LocalGaussian::new(&[0.0, 0.0], &[0.0, 0.0], &h).expect("positive definite");
        let exact = a.clone().try_inverse().unwrap();
        assert!(
            (g.covariance() - &exact).amax() < 1e-12,
            "{}",
            g.covariance()
        );
        let var = g.variance();
        assert!((var[0] - exact[(0, 0)]).abs() < 1e-12 && (var[1] - exact[(1, 1)]).abs() < 1e-12);
        // log det A⁻¹ = −ln(2·1 − 0.81) = −ln 1.19.
        assert!((g.log_det + 1.19f64.ln()).abs() < 1e-12, "{}", g.log_det);
    }

    #[test]
    fn the_mean_is_the_newton_step_and_draws_have_the_covariance() {
        // At θ = (1, −0.5) with ∇log p = −Aθ, μ = θ + A⁻¹(−Aθ) = 0.
        let a = DMatrix::from_row_slice(2, 2, &[2.0, 0.9, 0.9, 1.0]);
        let h = quadratic_history(&a, &[[0.3, 0.0], [0.18, -0.4]], 5);
        let theta = [0.7, 0.2];
        let grad: Vec<f64> = (-(&a * DVector::from_column_slice(&theta)))
            .iter()
            .copied()
            .collect();
        let g = LocalGaussian::new(&theta, &grad, &h).expect("positive definite");
        assert!(g.mean.iter().all(|m| m.abs() < 1e-12), "{:?}", g.mean);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let n = 40_000;
        let mut cov = DMatrix::<f64>::zeros(2, 2);
        let mut x = [0.0; 2];
        let exact = a.clone().try_inverse().unwrap();
        for _ in 0..n {
            let lq = g.sample(&mut rng, &mut x);
            // log q by the density formula: −½(xᵀAx + log det A⁻¹ + 2 log 2π).
            let v = DVector::from_column_slice(&x);
            let direct = -0.5
                * ((v.transpose() * &a * &v)[0]
                    + g.log_det
                    + 2.0 * (2.0 * std::f64::consts::PI).ln());
            assert!((lq - direct).abs() < 1e-9, "{lq} vs {direct}");
            cov += &v * v.transpose() / n as f64;
        }
        // Sample covariance entries have sd ≈ √(2/n)·|Σ| ≈ 0.007·0.84: 0.03 is over 4 sd.
        assert!((cov - exact).amax() < 0.03);
    }

    #[test]
    fn a_pair_without_curvature_is_refused_and_the_oldest_pair_drops() {
        let mut h = History::new(1, 2);
        // Gradient rising along the step: sᵀy < 0 (negative curvature of f).
        assert!(!h.push(&[0.0], &[0.0], &[1.0], &[1.0]));
        assert!(h.is_empty());
        for k in 0..3 {
            let t = k as f64;
            // log p = −θ²: ∇log p = −2θ, y = 2s, so α = s/y = 0.5.
            assert!(h.push(&[t], &[-2.0 * t], &[t + 1.0], &[-2.0 * (t + 1.0)]));
        }
        assert_eq!(h.len(), 2);
        assert!((h.alpha[0] - 0.5).abs() < 1e-15);
    }
}
