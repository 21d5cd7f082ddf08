//! Draws from the language's distributions with concrete arguments: the predict block's `~`
//! statements and the posterior predictive use them.

use super::Distribution;
use crate::math;
use rand::RngExt;
use rand_distr::Distribution as _;

impl Distribution {
    /// One draw from the distribution with the given (f64) arguments, in the order the
    /// language takes them; NaN where the arguments are outside the distribution's domain.
    /// Categorical draws take a row of logits: [`draw_categorical`].
    pub fn sample(self, a: &[f64], rng: &mut dyn rand::Rng) -> f64 {
        use rand_distr as rd;
        let nan = f64::NAN;
        match self {
            Distribution::Normal => rd::Normal::new(a[0], a[1])
                .map(|d| d.sample(rng))
                .unwrap_or(nan),
            Distribution::StudentT => rd::StudentT::new(a[0])
                .map(|d| a[1] + a[2] * d.sample(rng))
                .unwrap_or(nan),
            Distribution::Cauchy => rd::Cauchy::new(a[0], a[1])
                .map(|d| d.sample(rng))
                .unwrap_or(nan),
            Distribution::Laplace => {
                // Inverse CDF: x = mu − b·sign(v)·ln(1 − 2|v|), v uniform on (−1/2, 1/2).
                let v: f64 = rng.random::<f64>() - 0.5;
                a[0] - a[1] * v.signum() * (1.0 - 2.0 * v.abs()).ln()
            }
            Distribution::Logistic => {
                let v: f64 = rng.random::<f64>();
                a[0] + a[1] * (v / (1.0 - v)).ln()
            }
            Distribution::Gamma => rd::Gamma::new(a[0], 1.0 / a[1])
                .map(|d| d.sample(rng))
                .unwrap_or(nan),
            Distribution::InvGamma => rd::Gamma::new(a[0], 1.0 / a[1])
                .map(|d| 1.0 / d.sample(rng))
                .unwrap_or(nan),
            Distribution::Exponential => rd::Exp::new(a[0]).map(|d| d.sample(rng)).unwrap_or(nan),
            Distribution::LogNormal => rd::LogNormal::new(a[0], a[1])
                .map(|d| d.sample(rng))
                .unwrap_or(nan),
            Distribution::Beta => rd::Beta::new(a[0], a[1])
                .map(|d| d.sample(rng))
                .unwrap_or(nan),
            Distribution::Uniform => a[0] + (a[1] - a[0]) * rng.random::<f64>(),
            Distribution::BernoulliLogit => {
                let p = math::activation::sigmoid(a[0]);
                f64::from(u8::from(rng.random::<f64>() < p))
            }
            Distribution::PoissonLog => rd::Poisson::new(a[0].exp())
                .map(|d| d.sample(rng))
                .unwrap_or(nan),
            Distribution::BinomialLogit => {
                let p = math::activation::sigmoid(a[1]);
                rd::Binomial::new(a[0].max(0.0) as u64, p)
                    .map(|d| d.sample(rng) as f64)
                    .unwrap_or(nan)
            }
            Distribution::CategoricalLogit => {
                unreachable!("internal: categorical draws use draw_categorical")
            }
        }
    }
}

/// ln Σⱼ exp(z(j)) over j < k: `math::special::log_sum_exp` step for step (same bits), for
/// values read by index, as a row of column-major logits is strided.
#[inline]
pub fn log_sum_exp_by(k: usize, z: impl Fn(usize) -> f64) -> f64 {
    if k == 0 {
        return f64::NEG_INFINITY;
    }
    let mut max = z(0);
    for j in 1..k {
        let x = z(j);
        if x > max {
            max = x;
        }
    }
    if max.is_infinite() {
        return max;
    }
    let sum: f64 = (0..k).map(|j| (z(j) - max).exp()).sum();
    max + sum.ln()
}

/// One label drawn from softmax(logits), 0-based, for `k` logits read by `logit(j)`.
pub fn draw_categorical(k: usize, logit: impl Fn(usize) -> f64, rng: &mut dyn rand::Rng) -> f64 {
    let lse = log_sum_exp_by(k, &logit);
    let mut v: f64 = rng.random::<f64>();
    for j in 0..k {
        v -= (logit(j) - lse).exp();
        if v <= 0.0 {
            return j as f64;
        }
    }
    (k - 1) as f64
}
