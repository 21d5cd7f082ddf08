//! Normalized log-densities with Stan's names and parameterizations, and log CDFs for truncation.
//!
//! Names follow Stan's `<dist>_lpdf`, `_lpmf`, `_lcdf`, `_lccdf`, with the outcome first:
//! `normal_lpdf(y, mu, sigma)` is Stan's `normal_lpdf(y | mu, sigma)`. Every density is fully
//! normalized (no constants dropped), because the SVI engine's KL term and prior predictive checks
//! read absolute values. Continuous outcomes and all parameters are generic, so the same function
//! serves a prior on a parameter and a likelihood over data.
//!
//! Domains: an outcome outside the support gives −∞ (uniform outside [a, b], a negative gamma
//! draw, a Bernoulli outcome other than 0 or 1). Parameters are not checked (σ > 0, ν > 0, …):
//! the compiler's constraints keep them in their domain, and anything else produces NaN or ±∞,
//! which the density seam reports as a divergence.
//!
//! A division by a parameter is written `x * p.recip()`, not `x / p`: num-dual divides by
//! multiplying with the reciprocal, so written this way the value on f64 (a log-density alone)
//! and the value part on `Dual64` (the same log-density with its gradient) are the same bits.
//! With `/` they differed in the last bit now and then: a data set's log-density in blocks of
//! 256 rows did not equal the value its gradient returned (`tests/blocked_rows.rs`).
//!
//! The `_lcdf`/`_lccdf` functions are what a constrained parameter's prior needs to be
//! normalized: a `normal(mu, sigma)` prior on a `<lower=0>` parameter is a half-normal with log
//! density `normal_lpdf(x, mu, sigma) − normal_lccdf(0, mu, sigma)`. They stay finite in the far
//! tails (log-erfc, atan of the reciprocal, ln_1p of the complement).
//!
//! Reference: [Stan] Stan Functions Reference, version 2.36, chapters "Unbounded Continuous
//! Distributions", "Positive Continuous Distributions", "Binary Distributions", "Bounded Discrete
//! Distributions", "Unbounded Discrete Distributions" (densities quoted at each function).

use std::f64::consts::{FRAC_1_SQRT_2, LN_2, PI};

use super::special::{
    lchoose, lgamma, log1m_exp, log1p_exp, log_half_erfc, log_sigmoid, log_sum_exp,
};
use super::special::{HALF_LN_2PI, LN_PI};
use super::Real;

/// −∞ as a `D`, the log of a zero density.
#[inline]
fn neg_inf<D: Real>() -> D {
    D::from(f64::NEG_INFINITY)
}

/// a·ln(y) with 0·ln 0 = 0, so a density whose exponent is exactly zero stays finite at the edge.
#[inline]
fn xlogy<D: Real>(a: D, y: D) -> D {
    if y == 0.0 && a == 0.0 {
        D::from(0.0)
    } else {
        a * y.ln()
    }
}

/// a·ln(1 + y) with 0·ln 0 = 0 at y = −1.
#[inline]
fn xlog1py<D: Real>(a: D, y: D) -> D {
    if y == -1.0 && a == 0.0 {
        D::from(0.0)
    } else {
        a * y.ln_1p()
    }
}

/// ln(1 + w²) without overflowing w² for |w| > 1e154: 2 ln|w| + ln(1 + w⁻²) when |w| > 1.
#[inline]
fn log1p_square<D: Real>(w: D) -> D {
    let a = w.abs();
    if a > 1.0 {
        a.ln() * 2.0 + (a * a).recip().ln_1p()
    } else {
        (w * w).ln_1p()
    }
}

// ---------------------------------------------------------------------------------------------
// Unbounded continuous

/// Normal(y | μ, σ) = exp(−½((y − μ)/σ)²) / (σ√(2π)).
pub fn normal_lpdf<D: Real>(y: D, mu: D, sigma: D) -> D {
    let z = (y - mu) * sigma.recip();
    -(z * z) * 0.5 - sigma.ln() - HALF_LN_2PI
}

/// ln Φ(z) = ln(erfc(−z/√2)/2) for the standard normal: finite far into the lower tail
/// (ln Φ(−40) = −804.6) and accurate in the upper one (ln Φ(10) = −7.6e-24).
pub fn std_normal_lcdf<D: Real>(z: D) -> D {
    log_half_erfc(-z * FRAC_1_SQRT_2)
}

/// ln(1 − Φ(z)) = ln Φ(−z) for the standard normal.
pub fn std_normal_lccdf<D: Real>(z: D) -> D {
    log_half_erfc(z * FRAC_1_SQRT_2)
}

/// ln Φ((y − μ)/σ).
pub fn normal_lcdf<D: Real>(y: D, mu: D, sigma: D) -> D {
    std_normal_lcdf((y - mu) * sigma.recip())
}

/// ln(1 − Φ((y − μ)/σ)).
pub fn normal_lccdf<D: Real>(y: D, mu: D, sigma: D) -> D {
    std_normal_lccdf((y - mu) * sigma.recip())
}

/// StudentT(y | ν, μ, σ) = Γ((ν+1)/2) / (Γ(ν/2) √(νπ) σ) · (1 + z²/ν)^(−(ν+1)/2), z = (y − μ)/σ.
///
/// For ν beyond ~1e7 the lgamma difference loses digits to cancellation (as Stan's does).
pub fn student_t_lpdf<D: Real>(y: D, nu: D, mu: D, sigma: D) -> D {
    let z = (y - mu) * sigma.recip();
    let half_nu_plus_1 = (nu + 1.0) * 0.5;
    lgamma(half_nu_plus_1)
        - lgamma(nu * 0.5)
        - (nu * PI).ln() * 0.5
        - sigma.ln()
        - half_nu_plus_1 * log1p_square(z * nu.sqrt().recip())
}

/// Cauchy(y | μ, σ) = 1 / (πσ (1 + z²)), z = (y − μ)/σ.
pub fn cauchy_lpdf<D: Real>(y: D, mu: D, sigma: D) -> D {
    let z = (y - mu) * sigma.recip();
    -log1p_square(z) - sigma.ln() - LN_PI
}

/// ln F(z) for the standard Cauchy, F(z) = ½ + atan(z)/π.
fn std_cauchy_lcdf<D: Real>(z: D) -> D {
    if z < -1.0 {
        // For z < 0, ½ + atan(z)/π = atan(−1/z)/π: no cancellation in the lower tail.
        (-z.recip()).atan().ln() - LN_PI
    } else if z <= 1.0 {
        (z.atan() / PI + 0.5).ln()
    } else {
        // For z > 0, F(z) = 1 − atan(1/z)/π.
        (-(z.recip().atan() / PI)).ln_1p()
    }
}

/// ln(½ + atan((y − μ)/σ)/π).
pub fn cauchy_lcdf<D: Real>(y: D, mu: D, sigma: D) -> D {
    std_cauchy_lcdf((y - mu) * sigma.recip())
}

/// ln(½ − atan((y − μ)/σ)/π), by symmetry F̄(z) = F(−z).
pub fn cauchy_lccdf<D: Real>(y: D, mu: D, sigma: D) -> D {
    std_cauchy_lcdf((mu - y) * sigma.recip())
}

/// Laplace(y | μ, b) = exp(−|y − μ|/b) / (2b), Stan's `double_exponential(mu, sigma)`.
pub fn laplace_lpdf<D: Real>(y: D, mu: D, b: D) -> D {
    -(y - mu).abs() * b.recip() - b.ln() - LN_2
}

/// ln F(z) for the standard Laplace: ½eᶻ below 0, 1 − ½e⁻ᶻ above.
fn std_laplace_lcdf<D: Real>(z: D) -> D {
    if z < 0.0 {
        z - LN_2
    } else {
        ((-z).exp() * -0.5).ln_1p()
    }
}

/// ln F((y − μ)/b) for the Laplace distribution.
pub fn laplace_lcdf<D: Real>(y: D, mu: D, b: D) -> D {
    std_laplace_lcdf((y - mu) * b.recip())
}

/// ln(1 − F((y − μ)/b)) for the Laplace distribution, by symmetry.
pub fn laplace_lccdf<D: Real>(y: D, mu: D, b: D) -> D {
    std_laplace_lcdf((mu - y) * b.recip())
}

/// Logistic(y | μ, s) = e⁻ᶻ / (s (1 + e⁻ᶻ)²), z = (y − μ)/s.
pub fn logistic_lpdf<D: Real>(y: D, mu: D, s: D) -> D {
    let z = (y - mu) * s.recip();
    -z - log1p_exp(-z) * 2.0 - s.ln()
}

/// ln σ((y − μ)/s), the logistic CDF.
pub fn logistic_lcdf<D: Real>(y: D, mu: D, s: D) -> D {
    log_sigmoid((y - mu) * s.recip())
}

/// ln σ(−(y − μ)/s).
pub fn logistic_lccdf<D: Real>(y: D, mu: D, s: D) -> D {
    log_sigmoid((mu - y) * s.recip())
}

// ---------------------------------------------------------------------------------------------
// Positive and bounded continuous

/// Gamma(y | α, β) = β^α / Γ(α) · y^(α−1) e^(−βy), β a rate; −∞ for y < 0.
pub fn gamma_lpdf<D: Real>(y: D, alpha: D, beta: D) -> D {
    if y < 0.0 {
        return neg_inf();
    }
    alpha * beta.ln() - lgamma(alpha) + xlogy(alpha - 1.0, y) - beta * y
}

/// InvGamma(y | α, β) = β^α / Γ(α) · y^(−(α+1)) e^(−β/y), β a scale; −∞ for y ≤ 0.
pub fn inv_gamma_lpdf<D: Real>(y: D, alpha: D, beta: D) -> D {
    if y <= 0.0 {
        return neg_inf();
    }
    alpha * beta.ln() - lgamma(alpha) - (alpha + 1.0) * y.ln() - beta * y.recip()
}

/// Exponential(y | λ) = λ e^(−λy), λ a rate; −∞ for y < 0.
pub fn exponential_lpdf<D: Real>(y: D, lambda: D) -> D {
    if y < 0.0 {
        return neg_inf();
    }
    lambda.ln() - lambda * y
}

/// ln(1 − e^(−λy)), kept accurate for small λy by `log1m_exp`; −∞ for y ≤ 0.
pub fn exponential_lcdf<D: Real>(y: D, lambda: D) -> D {
    if y <= 0.0 {
        return neg_inf();
    }
    log1m_exp(-lambda * y)
}

/// −λy, the log survival function; 0 for y < 0.
pub fn exponential_lccdf<D: Real>(y: D, lambda: D) -> D {
    if y < 0.0 {
        return D::from(0.0);
    }
    -lambda * y
}

/// LogNormal(y | μ, σ) = exp(−½((ln y − μ)/σ)²) / (yσ√(2π)); −∞ for y ≤ 0.
pub fn lognormal_lpdf<D: Real>(y: D, mu: D, sigma: D) -> D {
    if y <= 0.0 {
        return neg_inf();
    }
    let log_y = y.ln();
    let z = (log_y - mu) * sigma.recip();
    -(z * z) * 0.5 - sigma.ln() - log_y - HALF_LN_2PI
}

/// ln Φ((ln y − μ)/σ); −∞ for y ≤ 0.
pub fn lognormal_lcdf<D: Real>(y: D, mu: D, sigma: D) -> D {
    if y <= 0.0 {
        return neg_inf();
    }
    normal_lcdf(y.ln(), mu, sigma)
}

/// ln(1 − Φ((ln y − μ)/σ)); 0 for y ≤ 0.
pub fn lognormal_lccdf<D: Real>(y: D, mu: D, sigma: D) -> D {
    if y <= 0.0 {
        return D::from(0.0);
    }
    normal_lccdf(y.ln(), mu, sigma)
}

/// Beta(y | a, b) = Γ(a+b) / (Γ(a)Γ(b)) · y^(a−1) (1−y)^(b−1); −∞ outside [0, 1].
pub fn beta_lpdf<D: Real>(y: D, a: D, b: D) -> D {
    if !(0.0..=1.0).contains(&y.re()) {
        return neg_inf();
    }
    lgamma(a + b) - lgamma(a) - lgamma(b) + xlogy(a - 1.0, y) + xlog1py(b - 1.0, -y)
}

/// Uniform(y | a, b) = 1/(b − a) on [a, b]; −∞ outside.
pub fn uniform_lpdf<D: Real>(y: D, a: D, b: D) -> D {
    if y < a || y > b {
        return neg_inf();
    }
    -(b - a).ln()
}

/// ln((y − a)/(b − a)) on [a, b]; −∞ below a, 0 above b.
pub fn uniform_lcdf<D: Real>(y: D, a: D, b: D) -> D {
    if y < a {
        return neg_inf();
    }
    if y >= b {
        return D::from(0.0);
    }
    (y - a).ln() - (b - a).ln()
}

/// ln((b − y)/(b − a)) on [a, b]; 0 below a, −∞ above b.
pub fn uniform_lccdf<D: Real>(y: D, a: D, b: D) -> D {
    if y <= a {
        return D::from(0.0);
    }
    if y > b {
        return neg_inf();
    }
    (b - y).ln() - (b - a).ln()
}

// ---------------------------------------------------------------------------------------------
// Likelihoods for discrete outcomes

/// BernoulliLogit(y | α) = σ(α)^y σ(−α)^(1−y); −∞ unless y ∈ {0, 1}.
pub fn bernoulli_logit_lpmf<D: Real>(y: i64, alpha: D) -> D {
    match y {
        1 => log_sigmoid(alpha),
        0 => log_sigmoid(-alpha),
        _ => neg_inf(),
    }
}

/// PoissonLog(y | η) = e^(yη − e^η) / y!; −∞ for y < 0.
pub fn poisson_log_lpmf<D: Real>(y: i64, eta: D) -> D {
    if y < 0 {
        return neg_inf();
    }
    if y == 0 {
        // Skips 0·η, which is NaN at η = −∞ where the mass at 0 is 1.
        return -eta.exp();
    }
    let y = y as f64;
    eta * y - eta.exp() - lgamma(y + 1.0)
}

/// BinomialLogit(y | n, α) = C(n, y) σ(α)^y σ(−α)^(n−y); −∞ unless 0 ≤ y ≤ n.
pub fn binomial_logit_lpmf<D: Real>(y: i64, n: i64, alpha: D) -> D {
    if y < 0 || y > n {
        return neg_inf();
    }
    // Zero counts are skipped rather than multiplied, so α = ±∞ gives 0, not NaN.
    let mut lp = D::from(lchoose(n, y));
    if y > 0 {
        lp += log_sigmoid(alpha) * y as f64;
    }
    if n > y {
        lp += log_sigmoid(-alpha) * (n - y) as f64;
    }
    lp
}

/// CategoricalLogit(y | logits) = softmax(logits)_y with 0-based label y; −∞ for y ≥ K.
pub fn categorical_logit_lpmf<D: Real>(y: usize, logits: &[D]) -> D {
    match logits.get(y) {
        Some(&chosen) => chosen - log_sum_exp(logits),
        None => neg_inf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::testutil::{assert_close, check_derivatives, derivative, rng};
    use num_dual::Dual64;
    use rand::RngExt;
    use rand_chacha::ChaCha8Rng;
    use statrs::distribution::{
        Bernoulli, Beta, Binomial, Categorical, Cauchy, Continuous, ContinuousCDF, Discrete, Exp,
        Gamma, InverseGamma, Laplace, LogNormal, Normal, Poisson, StudentsT, Uniform,
    };

    /// Tuples compared per distribution.
    const TUPLES: usize = 40;

    /// log-uniform draw in [lo, hi].
    fn log_uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
        (rng.random_range(lo.ln()..hi.ln())).exp()
    }

    /// A location spread over realistic and extreme magnitudes, either sign.
    fn location(rng: &mut ChaCha8Rng) -> f64 {
        let sign = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
        sign * log_uniform(rng, 1e-3, 1e3)
    }

    /// Agreement of two log-densities: 1e-8 of max(|reference|, 1). Log-densities near 0 are
    /// judged absolutely: an absolute error δ in a log-density is a relative error δ in the
    /// density itself.
    #[track_caller]
    fn agree(ours: f64, reference: f64, what: &str) {
        let err = (ours - reference).abs() / reference.abs().max(1.0);
        assert!(
            err <= 1e-8 || ours == reference,
            "{what}: ours {ours:e}, statrs {reference:e}, error {err:e}"
        );
    }

    /// Draws tuples from `draw` until `TUPLES` of them have a reference statrs computes
    /// accurately (`draw` returns None otherwise), and checks each.
    fn compare(seed: u64, mut draw: impl FnMut(&mut ChaCha8Rng) -> Option<(f64, f64, String)>) {
        let mut r = rng(seed);
        let mut checked = 0;
        for _ in 0..50 * TUPLES {
            if let Some((ours, reference, what)) = draw(&mut r) {
                agree(ours, reference, &what);
                checked += 1;
                if checked == TUPLES {
                    return;
                }
            }
        }
        panic!("only {checked} usable tuples");
    }

    #[test]
    fn normal_agrees_with_statrs() {
        compare(1, |r| {
            let (mu, sigma) = (location(r), log_uniform(r, 1e-4, 1e4));
            let y = mu + sigma * r.random_range(-30.0..30.0);
            let d = Normal::new(mu, sigma).expect("valid");
            Some((
                normal_lpdf(y, mu, sigma),
                d.ln_pdf(y),
                format!("normal({y}|{mu},{sigma})"),
            ))
        });
    }

    #[test]
    fn student_t_agrees_with_statrs() {
        compare(2, |r| {
            let (nu, mu, sigma) = (
                log_uniform(r, 0.1, 1e6),
                location(r),
                log_uniform(r, 1e-4, 1e4),
            );
            let y = mu + sigma * r.random_range(-1e3..1e3);
            let d = StudentsT::new(mu, sigma, nu).expect("valid");
            let what = format!("student_t({y}|{nu},{mu},{sigma})");
            Some((student_t_lpdf(y, nu, mu, sigma), d.ln_pdf(y), what))
        });
    }

    #[test]
    fn cauchy_agrees_with_statrs() {
        compare(3, |r| {
            let (mu, sigma) = (location(r), log_uniform(r, 1e-4, 1e4));
            let y = mu + sigma * r.random_range(-1e4..1e4);
            let d = Cauchy::new(mu, sigma).expect("valid");
            Some((
                cauchy_lpdf(y, mu, sigma),
                d.ln_pdf(y),
                format!("cauchy({y}|{mu},{sigma})"),
            ))
        });
    }

    #[test]
    fn laplace_agrees_with_statrs() {
        // statrs takes ln of the density, which underflows beyond |y − μ|/b ≈ 700: stay inside.
        compare(4, |r| {
            let (mu, b) = (location(r), log_uniform(r, 1e-4, 1e4));
            let y = mu + b * r.random_range(-600.0..600.0);
            let d = Laplace::new(mu, b).expect("valid");
            Some((
                laplace_lpdf(y, mu, b),
                d.ln_pdf(y),
                format!("laplace({y}|{mu},{b})"),
            ))
        });
    }

    #[test]
    fn logistic_agrees_with_its_textbook_form() {
        // statrs has no logistic distribution. Reference: the symmetric form
        // −ln(4s) − 2 ln cosh(z/2), which equals e⁻ᶻ / (s(1 + e⁻ᶻ)²) because
        // (1 + e⁻ᶻ)² eᶻ = (e^(z/2) + e^(−z/2))² = 4 cosh²(z/2).
        compare(5, |r| {
            let (mu, s) = (location(r), log_uniform(r, 1e-4, 1e4));
            let z: f64 = r.random_range(-600.0..600.0);
            let y = mu + s * z;
            let z = (y - mu) / s;
            let reference = -(4.0 * s).ln() - 2.0 * (0.5 * z).cosh().ln();
            Some((
                logistic_lpdf(y, mu, s),
                reference,
                format!("logistic({y}|{mu},{s})"),
            ))
        });
    }

    #[test]
    fn gamma_agrees_with_statrs() {
        compare(6, |r| {
            let (alpha, beta) = (log_uniform(r, 0.05, 1e3), log_uniform(r, 1e-3, 1e3));
            let y = alpha / beta * log_uniform(r, 1e-3, 30.0);
            let d = Gamma::new(alpha, beta).expect("valid");
            Some((
                gamma_lpdf(y, alpha, beta),
                d.ln_pdf(y),
                format!("gamma({y}|{alpha},{beta})"),
            ))
        });
    }

    #[test]
    fn inv_gamma_agrees_with_statrs() {
        // statrs' InverseGamma(shape, rate) has density rate^shape/Γ(shape) x^(−shape−1) e^(−rate/x),
        // so its "rate" is Stan's scale β. It takes ln of the density: keep the density normal.
        compare(7, |r| {
            let (alpha, beta) = (log_uniform(r, 0.05, 100.0), log_uniform(r, 1e-3, 1e3));
            let y = beta / alpha * log_uniform(r, 0.05, 20.0);
            let d = InverseGamma::new(alpha, beta).expect("valid");
            let pdf = d.pdf(y);
            (pdf.is_normal() && pdf.is_finite()).then(|| {
                let what = format!("inv_gamma({y}|{alpha},{beta})");
                (inv_gamma_lpdf(y, alpha, beta), d.ln_pdf(y), what)
            })
        });
    }

    #[test]
    fn exponential_agrees_with_statrs() {
        compare(8, |r| {
            let lambda = log_uniform(r, 1e-4, 1e4);
            let y = log_uniform(r, 1e-6, 50.0) / lambda;
            let d = Exp::new(lambda).expect("valid");
            Some((
                exponential_lpdf(y, lambda),
                d.ln_pdf(y),
                format!("exponential({y}|{lambda})"),
            ))
        });
    }

    #[test]
    fn lognormal_agrees_with_statrs() {
        compare(9, |r| {
            let (mu, sigma) = (r.random_range(-20.0..20.0), log_uniform(r, 1e-3, 10.0));
            let y = (mu + sigma * r.random_range(-20.0..20.0_f64)).exp();
            let d = LogNormal::new(mu, sigma).expect("valid");
            let what = format!("lognormal({y}|{mu},{sigma})");
            Some((lognormal_lpdf(y, mu, sigma), d.ln_pdf(y), what))
        });
    }

    #[test]
    fn beta_agrees_with_statrs() {
        compare(10, |r| {
            let (a, b) = (log_uniform(r, 0.05, 500.0), log_uniform(r, 0.05, 500.0));
            let y = r.random_range(1e-6..1.0 - 1e-6);
            let d = Beta::new(a, b).expect("valid");
            Some((
                beta_lpdf(y, a, b),
                d.ln_pdf(y),
                format!("beta({y}|{a},{b})"),
            ))
        });
    }

    #[test]
    fn uniform_agrees_with_statrs() {
        compare(11, |r| {
            let a = location(r);
            let b = a + log_uniform(r, 1e-4, 1e4);
            let y = a + (b - a) * r.random_range(0.0..1.0);
            let d = Uniform::new(a, b).expect("valid");
            Some((
                uniform_lpdf(y, a, b),
                d.ln_pdf(y),
                format!("uniform({y}|{a},{b})"),
            ))
        });
        // outside the support the density is zero: ln 0 = −∞
        assert_eq!(uniform_lpdf(2.5, 0.0, 2.0), f64::NEG_INFINITY);
        assert_eq!(uniform_lpdf(-1e-12, 0.0, 2.0), f64::NEG_INFINITY);
    }

    #[test]
    fn bernoulli_logit_agrees_with_statrs() {
        compare(12, |r| {
            // statrs takes ln(1 − p), which loses digits as p → 1 (relative ε/(1 − p)): keep
            // |α| ≤ 15; the extreme logits are checked against closed forms below.
            let alpha: f64 = r.random_range(-15.0..15.0);
            let y = i64::from(r.random_bool(0.5));
            let p = 1.0 / (1.0 + (-alpha).exp());
            let d = Bernoulli::new(p).expect("valid");
            let what = format!("bernoulli_logit({y}|{alpha})");
            Some((bernoulli_logit_lpmf(y, alpha), d.ln_pmf(y as u64), what))
        });
        // ln σ(−40) = −40 − ln(1 + e^−40) = −40.00000000000000000425: −40 in f64
        assert_eq!(bernoulli_logit_lpmf(1, -40.0), -40.0);
        // ln σ(40) = −ln(1 + e^−40) = −4.248354255291589e-18
        assert_close(
            bernoulli_logit_lpmf(1, 40.0),
            -4.248_354_255_291_589e-18,
            1e-15,
        );
        assert_close(
            bernoulli_logit_lpmf(0, -40.0),
            -4.248_354_255_291_589e-18,
            1e-15,
        );
        assert_eq!(bernoulli_logit_lpmf(0, 800.0), -800.0);
        assert_eq!(bernoulli_logit_lpmf(2, 0.3), f64::NEG_INFINITY);
    }

    #[test]
    fn poisson_log_agrees_with_statrs() {
        compare(13, |r| {
            let eta: f64 = r.random_range(-10.0..12.0);
            let y = r.random_range(0..200_000_i64.min((eta.exp() * 3.0) as i64 + 10));
            let d = Poisson::new(eta.exp()).expect("valid");
            let what = format!("poisson_log({y}|{eta})");
            Some((poisson_log_lpmf(y, eta), d.ln_pmf(y as u64), what))
        });
        // y = 0 at η = −∞: the whole mass is at 0, ln 1 = 0
        assert_eq!(poisson_log_lpmf(0, f64::NEG_INFINITY), 0.0);
    }

    #[test]
    fn binomial_logit_agrees_with_statrs() {
        // statrs uses ln(1 − p), which loses digits as p → 1: keep |α| ≤ 8.
        compare(14, |r| {
            let alpha: f64 = r.random_range(-8.0..8.0);
            let n = r.random_range(0..2000_i64);
            let y = r.random_range(0..=n);
            let p = 1.0 / (1.0 + (-alpha).exp());
            let d = Binomial::new(p, n as u64).expect("valid");
            let what = format!("binomial_logit({y}|{n},{alpha})");
            Some((binomial_logit_lpmf(y, n, alpha), d.ln_pmf(y as u64), what))
        });
        // C(10, 3) σ(0)^10 = 120 / 1024: ln = −2.1439800628174073
        assert_close(
            binomial_logit_lpmf(3, 10, 0.0),
            (120.0f64 / 1024.0).ln(),
            4e-15,
        );
        assert_eq!(binomial_logit_lpmf(11, 10, 0.0), f64::NEG_INFINITY);
        assert_eq!(binomial_logit_lpmf(0, 10, f64::NEG_INFINITY), 0.0);
    }

    #[test]
    fn categorical_logit_agrees_with_statrs() {
        compare(15, |r| {
            let k = r.random_range(2..12_usize);
            let logits: Vec<f64> = (0..k).map(|_| r.random_range(-20.0..20.0)).collect();
            let y = r.random_range(0..k);
            // statrs normalizes the masses it is given: pass exp(logits)
            let masses: Vec<f64> = logits.iter().map(|l| l.exp()).collect();
            let d = Categorical::new(&masses).expect("valid");
            let what = format!("categorical_logit({y}|{logits:?})");
            Some((categorical_logit_lpmf(y, &logits), d.ln_pmf(y as u64), what))
        });
        // three equal logits: ln(1/3) = −1.0986122886681098
        assert_close(
            categorical_logit_lpmf(1, &[0.5, 0.5, 0.5]),
            -(3f64.ln()),
            1e-15,
        );
        assert_eq!(
            categorical_logit_lpmf(3, &[0.5, 0.5, 0.5]),
            f64::NEG_INFINITY
        );
    }

    #[test]
    fn boundary_values() {
        // Gamma(0 | 1, β) = β e⁰: ln 2 at β = 2; α < 1 diverges, α > 1 vanishes
        assert_close(gamma_lpdf(0.0, 1.0, 2.0), LN_2, 1e-15);
        assert_eq!(gamma_lpdf(0.0, 0.5, 2.0), f64::INFINITY);
        assert_eq!(gamma_lpdf(0.0, 1.5, 2.0), f64::NEG_INFINITY);
        assert_eq!(gamma_lpdf(-1.0, 1.5, 2.0), f64::NEG_INFINITY);
        // Beta(1 | 2, 1) = 2y = 2 at y = 1
        assert_close(beta_lpdf(1.0, 2.0, 1.0), LN_2, 1e-15);
        assert_eq!(beta_lpdf(1.5, 2.0, 1.0), f64::NEG_INFINITY);
        assert_eq!(inv_gamma_lpdf(0.0, 2.0, 1.0), f64::NEG_INFINITY);
        assert_eq!(lognormal_lpdf(0.0, 0.0, 1.0), f64::NEG_INFINITY);
        assert_eq!(exponential_lpdf(-1.0, 1.0), f64::NEG_INFINITY);
        // Cauchy at z = 1e200: −ln π − ln(1 + z²) = −ln π − 400 ln 10 = −922.1787670834676
        let want = -LN_PI - 400.0 * 10f64.ln();
        assert_close(cauchy_lpdf(1e200, 0.0, 1.0), want, 1e-15);
    }

    #[test]
    fn densities_have_finite_difference_gradients() {
        let tol = 1e-7;
        for &(y, mu, sigma) in &[(0.3, -0.2, 1.5), (-4.0, 2.0, 0.7), (10.0, 0.0, 3.0)] {
            check_derivatives!(|v| normal_lpdf(v[0], v[1], v[2]), &[y, mu, sigma], tol);
            check_derivatives!(|v| normal_lcdf(v[0], v[1], v[2]), &[y, mu, sigma], tol);
            check_derivatives!(|v| normal_lccdf(v[0], v[1], v[2]), &[y, mu, sigma], tol);
            check_derivatives!(|v| cauchy_lpdf(v[0], v[1], v[2]), &[y, mu, sigma], tol);
            check_derivatives!(|v| cauchy_lcdf(v[0], v[1], v[2]), &[y, mu, sigma], tol);
            check_derivatives!(|v| cauchy_lccdf(v[0], v[1], v[2]), &[y, mu, sigma], tol);
            check_derivatives!(|v| laplace_lpdf(v[0], v[1], v[2]), &[y, mu, sigma], tol);
            check_derivatives!(|v| laplace_lcdf(v[0], v[1], v[2]), &[y, mu, sigma], tol);
            check_derivatives!(|v| laplace_lccdf(v[0], v[1], v[2]), &[y, mu, sigma], tol);
            check_derivatives!(|v| logistic_lpdf(v[0], v[1], v[2]), &[y, mu, sigma], tol);
            check_derivatives!(|v| logistic_lcdf(v[0], v[1], v[2]), &[y, mu, sigma], tol);
            check_derivatives!(|v| logistic_lccdf(v[0], v[1], v[2]), &[y, mu, sigma], tol);
            for nu in [0.7, 4.0, 300.0] {
                let x = [y, nu, mu, sigma];
                check_derivatives!(|v| student_t_lpdf(v[0], v[1], v[2], v[3]), &x, tol);
            }
        }
        for &(y, a, b) in &[(0.4, 0.6, 2.0), (3.0, 2.5, 0.8), (0.01, 30.0, 7.0)] {
            check_derivatives!(|v| gamma_lpdf(v[0], v[1], v[2]), &[y, a, b], tol);
            check_derivatives!(|v| inv_gamma_lpdf(v[0], v[1], v[2]), &[y, a, b], tol);
            check_derivatives!(|v| lognormal_lpdf(v[0], v[1], v[2]), &[y, a - 1.0, b], tol);
            check_derivatives!(|v| lognormal_lcdf(v[0], v[1], v[2]), &[y, a - 1.0, b], tol);
            check_derivatives!(|v| lognormal_lccdf(v[0], v[1], v[2]), &[y, a - 1.0, b], tol);
            check_derivatives!(|v| exponential_lpdf(v[0], v[1]), &[y, b], tol);
            check_derivatives!(|v| exponential_lcdf(v[0], v[1]), &[y, b], tol);
            check_derivatives!(|v| exponential_lccdf(v[0], v[1]), &[y, b], tol);
            check_derivatives!(|v| uniform_lpdf(v[0], v[1], v[2]), &[y, -a, 40.0], tol);
            check_derivatives!(|v| uniform_lcdf(v[0], v[1], v[2]), &[y, -a, 40.0], tol);
            check_derivatives!(|v| uniform_lccdf(v[0], v[1], v[2]), &[y, -a, 40.0], tol);
        }
        for &(y, a, b) in &[(0.3, 0.6, 2.0), (0.9, 2.5, 0.8), (0.01, 30.0, 7.0)] {
            check_derivatives!(|v| beta_lpdf(v[0], v[1], v[2]), &[y, a, b], tol);
        }
        for alpha in [-12.0, -0.4, 0.0, 2.2, 15.0] {
            check_derivatives!(|v| bernoulli_logit_lpmf(1, v[0]), &[alpha], tol);
            check_derivatives!(|v| bernoulli_logit_lpmf(0, v[0]), &[alpha], tol);
            check_derivatives!(|v| poisson_log_lpmf(7, v[0]), &[alpha * 0.3], tol);
            check_derivatives!(|v| poisson_log_lpmf(0, v[0]), &[alpha * 0.3], tol);
            check_derivatives!(|v| binomial_logit_lpmf(3, 9, v[0]), &[alpha], tol);
        }
        let logits = [0.2, -1.0, 3.0, 0.0];
        check_derivatives!(|v| categorical_logit_lpmf(2, v), &logits, tol);
    }

    /// Checks exp(lcdf) against statrs' cdf and exp(lccdf) against its sf, to 1e-8 relative,
    /// where statrs' own value is accurate (`usable`).
    fn compare_cdf(
        seed: u64,
        mut draw: impl FnMut(&mut ChaCha8Rng) -> (f64, f64, f64, f64, f64, String),
        usable: impl Fn(f64, f64) -> bool,
    ) {
        let mut r = rng(seed);
        let mut checked = 0;
        for _ in 0..50 * TUPLES {
            let (lcdf, lccdf, cdf, sf, _, what) = draw(&mut r);
            if !usable(cdf, sf) {
                continue;
            }
            for (ours, reference, side) in [(lcdf, cdf, "cdf"), (lccdf, sf, "ccdf")] {
                let err = (ours.exp() - reference).abs() / reference;
                assert!(
                    err <= 1e-8,
                    "{what} {side}: exp(ours) {:e}, statrs {reference:e}",
                    ours.exp()
                );
            }
            checked += 1;
            if checked == TUPLES {
                return;
            }
        }
        panic!("only {checked} usable tuples");
    }

    /// statrs' erfc-based and closed-form CDFs are accurate wherever both tails are ≥ 1e-300.
    fn both_tails_representable(cdf: f64, sf: f64) -> bool {
        cdf > 1e-300 && sf > 1e-300
    }

    #[test]
    fn lcdfs_agree_with_statrs() {
        compare_cdf(
            21,
            |r| {
                let (mu, sigma) = (location(r), log_uniform(r, 1e-4, 1e4));
                let y = mu + sigma * r.random_range(-35.0..35.0);
                let d = Normal::new(mu, sigma).expect("valid");
                let what = format!("normal({y}|{mu},{sigma})");
                let ours = (normal_lcdf(y, mu, sigma), normal_lccdf(y, mu, sigma));
                (ours.0, ours.1, d.cdf(y), d.sf(y), y, what)
            },
            both_tails_representable,
        );
        // statrs' Cauchy CDF is ½ + atan(z)/π: its absolute error 1e-16 is a relative error
        // 1e-16/p, so only tails p ≥ 1e-7 are a usable reference.
        compare_cdf(
            22,
            |r| {
                let (mu, sigma) = (location(r), log_uniform(r, 1e-4, 1e4));
                let y = mu + sigma * r.random_range(-1e6..1e6);
                let d = Cauchy::new(mu, sigma).expect("valid");
                let what = format!("cauchy({y}|{mu},{sigma})");
                let ours = (cauchy_lcdf(y, mu, sigma), cauchy_lccdf(y, mu, sigma));
                (ours.0, ours.1, d.cdf(y), d.sf(y), y, what)
            },
            |cdf, sf| cdf > 1e-7 && sf > 1e-7,
        );
        compare_cdf(
            23,
            |r| {
                let (mu, b) = (location(r), log_uniform(r, 1e-4, 1e4));
                let y = mu + b * r.random_range(-600.0..600.0);
                let d = Laplace::new(mu, b).expect("valid");
                let what = format!("laplace({y}|{mu},{b})");
                let ours = (laplace_lcdf(y, mu, b), laplace_lccdf(y, mu, b));
                (ours.0, ours.1, d.cdf(y), d.sf(y), y, what)
            },
            both_tails_representable,
        );
        // statrs' Exp CDF is 1 − e^(−λy), accurate only for λy ≳ 1e-7.
        compare_cdf(
            24,
            |r| {
                let lambda = log_uniform(r, 1e-4, 1e4);
                let y = log_uniform(r, 1e-7, 600.0) / lambda;
                let d = Exp::new(lambda).expect("valid");
                let what = format!("exponential({y}|{lambda})");
                let ours = (exponential_lcdf(y, lambda), exponential_lccdf(y, lambda));
                (ours.0, ours.1, d.cdf(y), d.sf(y), y, what)
            },
            |cdf, sf| cdf > 1e-7 && sf > 1e-300,
        );
        compare_cdf(
            25,
            |r| {
                let (mu, sigma) = (r.random_range(-20.0..20.0), log_uniform(r, 1e-3, 10.0));
                let y = (mu + sigma * r.random_range(-35.0..35.0_f64)).exp();
                let d = LogNormal::new(mu, sigma).expect("valid");
                let what = format!("lognormal({y}|{mu},{sigma})");
                let ours = (lognormal_lcdf(y, mu, sigma), lognormal_lccdf(y, mu, sigma));
                (ours.0, ours.1, d.cdf(y), d.sf(y), y, what)
            },
            both_tails_representable,
        );
        compare_cdf(
            26,
            |r| {
                let a = location(r);
                let b = a + log_uniform(r, 1e-4, 1e4);
                let y = a + (b - a) * r.random_range(1e-6..1.0 - 1e-6);
                let d = Uniform::new(a, b).expect("valid");
                let what = format!("uniform({y}|{a},{b})");
                let ours = (uniform_lcdf(y, a, b), uniform_lccdf(y, a, b));
                (ours.0, ours.1, d.cdf(y), d.sf(y), y, what)
            },
            // (y − a)/(b − a) in statrs rounds differently from our ln(y − a) − ln(b − a) when
            // a is large next to b − a; a relative 1e-8 still holds above 1e-6 of the range.
            |cdf, sf| cdf > 1e-6 && sf > 1e-6,
        );
    }

    #[test]
    fn logistic_cdf_matches_closed_form() {
        // F(z) = 1/(1 + e⁻ᶻ): at z = 1.5, F = 0.8175744761936437, ln F = −0.2014132779827524
        assert_close(
            logistic_lcdf(4.0, 1.0, 2.0),
            -0.201_413_277_982_752_4,
            1e-15,
        );
        // F̄(z) = 1/(1 + eᶻ): ln F̄(1.5) = −1.7014132779827524
        assert_close(
            logistic_lccdf(4.0, 1.0, 2.0),
            -1.701_413_277_982_752_4,
            1e-15,
        );
    }

    #[test]
    fn log_cdfs_stay_finite_in_the_far_tails() {
        // mp.log(mp.ncdf(-40)) = -804.6084420137538
        assert_close(normal_lcdf(-40.0, 0.0, 1.0), -804.608_442_013_753_8, 1e-14);
        assert_close(normal_lccdf(40.0, 0.0, 1.0), -804.608_442_013_753_8, 1e-14);
        // mp.log(mp.ncdf(-10000)) = -50000010.12927891 ≈ −z²/2 − ln(−z√(2π))
        assert_close(normal_lcdf(-1e4, 0.0, 1.0), -50_000_010.129_278_91, 1e-15);
        // ln Φ(10) = ln(1 − 7.62e-24) = −7.619853024160525e-24: needs ln_1p of the tail
        assert_close(
            normal_lcdf(10.0, 0.0, 1.0),
            -7.619_853_024_160_525e-24,
            1e-14,
        );
        // Cauchy: F(−1e300) = atan(1e-300)/π = 1e-300/π, ln = −691.9202577840631
        assert_close(cauchy_lcdf(-1e300, 0.0, 1.0), -691.920_257_784_063_1, 1e-15);
        // Laplace: ln(½ e^−1e4) = −10000.693147180559
        assert_close(laplace_lcdf(-1e4, 0.0, 1.0), -10_000.693_147_180_56, 1e-15);
        assert_close(laplace_lccdf(1e4, 0.0, 1.0), -10_000.693_147_180_56, 1e-15);
        // logistic: ln σ(−800) = −800
        assert_close(logistic_lcdf(-800.0, 0.0, 1.0), -800.0, 1e-15);
        // exponential: ln(1 − e^−1e-20) = ln(1e-20) = −46.051701859880914
        assert_close(exponential_lcdf(1e-20, 1.0), -46.051_701_859_880_914, 1e-15);
        // lognormal at y = e^−40: ln Φ(−40), as for the normal
        assert_close(
            lognormal_lcdf((-40f64).exp(), 0.0, 1.0),
            -804.608_442_013_753_8,
            1e-13,
        );
        // derivatives stay finite in the tails: d/dy ln Φ(y) ≈ −y for y → −∞
        let (zero, one) = (Dual64::from(0.0), Dual64::from(1.0));
        let lcdfs: [fn(Dual64, Dual64, Dual64) -> Dual64; 6] = [
            normal_lcdf,
            cauchy_lcdf,
            laplace_lcdf,
            logistic_lcdf,
            lognormal_lcdf,
            exponential_lcdf_as_3,
        ];
        for lcdf in lcdfs {
            for y in [-1e4, -40.0, 1e-30, 40.0, 1e4] {
                let d = derivative(|y| lcdf(y, zero, one), y);
                assert!(d.is_finite(), "derivative at {y} is {d}");
            }
        }
        // d/dy ln Φ(y) = φ(y)/Φ(y) = 40.02496884720726 at y = −40 (mpmath npdf/ncdf)
        assert_close(
            derivative(|y| normal_lcdf(y, zero, one), -40.0),
            40.024_968_847_207_26,
            1e-13,
        );
    }

    fn exponential_lcdf_as_3(y: Dual64, _: Dual64, lambda: Dual64) -> Dual64 {
        exponential_lcdf(y, lambda)
    }

    #[test]
    fn half_normal_through_the_lccdf() {
        // A normal(0, 1) prior on <lower=0> is the half-normal 2φ(x):
        // ln(2φ(1)) = ln 2 − ½ − ½ ln 2π = −0.7257913526447274
        let lp = normal_lpdf(1.0, 0.0, 1.0) - normal_lccdf(0.0, 0.0, 1.0);
        assert_close(lp, -0.725_791_352_644_727_4, 1e-15);
    }
}
