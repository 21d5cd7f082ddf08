//! Special functions generic over num-dual: lgamma, erf/erfc/log-erfc, and stable log-space helpers.
//!
//! References:
//! - [AS64] Abramowitz & Stegun, Handbook of Mathematical Functions, 1964: 6.1.17 (reflection),
//!   6.1.33 (series of ln Γ(1+z)), 6.1.40 (Stirling series), 7.1.5 (series of erf).
//! - [SL81] Shepherd & Laframboise, "Chebyshev approximation of (1 + 2x) exp(x²) erfc x in
//!   0 ≤ x < ∞", Mathematics of Computation 36(153), 249–253, 1981.
//! - [M12] Mächler, "Accurately computing log(1 − exp(−|a|))", Rmpfr package vignette, 2012.
//!
//! Functions built from num-dual's elementary operations (lgamma, log1p_exp, …) get their
//! derivatives from num-dual directly. erf, erfc and log_erfc evaluate their f64 value with a
//! dedicated routine and attach the exact derivatives with [`lift`].

use std::f64::consts::{FRAC_2_SQRT_PI, LN_2, PI};

use super::Real;

/// ½·ln(2π).
pub(crate) const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;
/// ln(π).
pub(crate) const LN_PI: f64 = 1.144_729_885_849_400_2;

/// Builds f(x) on any dual number from f64 values f(x₀), f′(x₀), f″(x₀), f‴(x₀), x₀ = x.re().
///
/// With h = x − x₀, every num-dual type satisfies h^(NDERIV+1) = 0, so the Taylor polynomial
/// f₀ + f₁·h + f₂·h²/2 + f₃·h³/6 is exactly the chain rule through third order. num-dual's own
/// `chain_rule` is private, so this is the public route to the same result. `derivatives` runs
/// only when `D` carries derivatives, so the f64 path pays nothing for it.
///
/// # Panics
/// If `D` carries derivatives above third order (e.g. nested `Dual2<Dual2<f64>>`).
#[inline]
pub fn lift<D: Real>(x: D, f0: f64, derivatives: impl FnOnce() -> [f64; 3]) -> D {
    if D::NDERIV == 0 {
        return D::from(f0);
    }
    assert!(
        D::NDERIV <= 3,
        "lift: only derivatives up to third order are available"
    );
    let [f1, f2, f3] = derivatives();
    let h = x - D::from(x.re());
    let poly = match D::NDERIV {
        1 => h * f1,
        2 => h * (h * (f2 * 0.5) + f1),
        _ => h * (h * (h * (f3 / 6.0) + f2 * 0.5) + f1),
    };
    poly + f0
}

// ---------------------------------------------------------------------------------------------
// lgamma

/// Coefficients a_k, k = 1..=26, of ln Γ(2 + t) = Σ a_k t^k ([AS64] 6.1.33 plus ln(1 + t)):
/// a_1 = 1 − γ, a_k = (−1)^k (ζ(k) − 1)/k. 26 terms reach 1e-17 relative for |t| ≤ ½. From
/// `import mpmath as mp; mp.mp.dps = 40;`
/// `[1 - mp.euler] + [(-1)**k * (mp.zeta(k) - 1) / k for k in range(2, 27)]`.
const LGAMMA_AT_2: [f64; 26] = [
    0.422_784_335_098_467_13,
    0.322_467_033_424_113_2,
    -0.067_352_301_053_198_1,
    0.020_580_808_427_784_546,
    -0.007_385_551_028_673_986,
    0.002_890_510_330_741_523_4,
    -0.001_192_753_911_703_261,
    0.000_509_669_524_743_042_5,
    -0.000_223_154_758_453_579_39,
    9.945_751_278_180_853e-5,
    -4.492_623_673_813_314e-5,
    2.050_721_277_567_069e-5,
    -9.439_488_275_268_397e-6,
    4.374_866_789_907_488e-6,
    -2.039_215_753_801_366e-6,
    9.551_412_130_407_42e-7,
    -4.492_469_198_764_566e-7,
    2.120_718_480_555_466_5e-7,
    -1.004_322_482_396_809_9e-7,
    4.769_810_169_363_980_4e-8,
    -2.271_109_460_894_316_4e-8,
    1.083_865_921_489_695_5e-8,
    -5.183_475_041_970_047e-9,
    2.483_674_543_802_478_5e-9,
    -1.192_140_140_586_091_2e-9,
    5.731_367_241_678_862e-10,
];

/// Stirling-series coefficients B_2k / (2k(2k − 1)), k = 1..=8 ([AS64] 6.1.40), from the exact
/// Bernoulli numbers B₂ = 1/6, B₄ = −1/30, …, B₁₆ = −3617/510. For x ≥ 10 the first omitted
/// term is below 2e-18.
const STIRLING: [f64; 8] = [
    1.0 / 12.0,
    -1.0 / 360.0,
    1.0 / 1260.0,
    -1.0 / 1680.0,
    1.0 / 1188.0,
    -691.0 / 360_360.0,
    1.0 / 156.0,
    -3617.0 / 122_400.0,
];

/// Where the Stirling series takes over from the downward recurrence.
const STIRLING_MIN: f64 = 10.0;

/// ln Γ(2 + t) for |t| ≤ ½ by the Taylor series [`LGAMMA_AT_2`].
#[inline]
fn lgamma_near_2<D: Real>(t: D) -> D {
    let (last, rest) = LGAMMA_AT_2.split_last().expect("internal: non-empty table");
    let mut s = D::from(*last);
    for a in rest.iter().rev() {
        s = s * t + *a;
    }
    s * t
}

/// ln Γ(x) for x ≥ 10 by the Stirling series ([AS64] 6.1.40).
#[inline]
fn lgamma_stirling<D: Real>(x: D) -> D {
    let r = x.recip();
    let r2 = r * r;
    let (last, rest) = STIRLING.split_last().expect("internal: non-empty table");
    let mut s = D::from(*last);
    for c in rest.iter().rev() {
        s = s * r2 + *c;
    }
    (x - 0.5) * x.ln() - x + s * r + HALF_LN_2PI
}

/// ln|Γ(x)|, within 5e-16 relative of mpmath for x > 0 (3000 random points over [1e-8, 1e8]
/// plus the roots x = 1, 2, where the relative accuracy is kept).
///
/// Regions: x ≥ 10 Stirling; (2.5, 10) recurrence down to [1.5, 2.5], adding logs of positive
/// factors so nothing cancels; [1.5, 2.5] the Taylor series at 2; [0.5, 1.5) and (0, 0.5) the
/// recurrence up with `ln_1p`, which keeps the relative accuracy at the roots x = 1 and x = 2.
/// For x < 0 the reflection formula ([AS64] 6.1.17) is used; it loses accuracy near the poles
/// (non-positive integers, where the result is +∞).
pub fn lgamma<D: Real>(x: D) -> D {
    let x0 = x.re();
    if x0.is_nan() || x0 == f64::INFINITY {
        return x;
    }
    if x0 <= 0.0 {
        if x0 == x0.floor() {
            return D::from(f64::INFINITY);
        }
        // ln|Γ(x)| = ln π − ln|sin πx| − ln Γ(1 − x)
        return -(x * PI).sin().abs().ln() - lgamma(-x + 1.0) + LN_PI;
    }
    if x0 < 0.5 {
        // ln Γ(x) = ln Γ(x + 2) − ln x − ln(1 + x)
        return lgamma_near_2(x) - x.ln() - x.ln_1p();
    }
    if x0 < 1.5 {
        // ln Γ(x) = ln Γ(x + 1) − ln x, with x = 1 + t
        let t = x - 1.0;
        return lgamma_near_2(t) - t.ln_1p();
    }
    if x0 <= 2.5 {
        return lgamma_near_2(x - 2.0);
    }
    if x0 < STIRLING_MIN {
        // ln Γ(x) = ln Γ(x − n) + ln((x − 1)(x − 2)⋯(x − n))
        let mut y = x;
        let mut product = D::from(1.0);
        while y > 2.5 {
            y -= 1.0;
            product *= y;
        }
        return lgamma_near_2(y - 2.0) + product.ln();
    }
    lgamma_stirling(x)
}

/// ln C(n, k), the log binomial coefficient, for 0 ≤ k ≤ n (−∞ otherwise).
///
/// Computed as lgamma differences; for n ~ 1e6 the absolute error is about 1e-9.
pub fn lchoose(n: i64, k: i64) -> f64 {
    if k < 0 || n < k {
        return f64::NEG_INFINITY;
    }
    if k == 0 || k == n {
        return 0.0;
    }
    let (n, k) = (n as f64, k as f64);
    lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0)
}

// ---------------------------------------------------------------------------------------------
// erf, erfc, log erfc

/// erf(x) = x · Σ c_n x^(2n) with c_n = 2/√π · (−1)^n / (n! (2n + 1)) ([AS64] 7.1.5), n = 0..=12;
/// for |x| < ½ the first omitted term is below 3e-18 relative. From `mp.mp.dps = 40;`
/// `[2/mp.sqrt(mp.pi) * (-1)**n / (mp.factorial(n) * (2*n + 1)) for n in range(13)]`.
const ERF_SERIES: [f64; 13] = [
    FRAC_2_SQRT_PI,
    -0.376_126_389_031_837_54,
    0.112_837_916_709_551_26,
    -0.026_866_170_645_131_252,
    0.005_223_977_625_442_188,
    -0.000_854_832_702_345_085_3,
    0.000_120_553_329_817_896_64,
    -1.492_565_035_840_625e-5,
    1.646_211_436_588_924_8e-6,
    -1.636_584_469_123_492_4e-7,
    1.480_719_281_587_921_8e-8,
    -1.229_055_530_171_792_8e-9,
    9.422_759_064_650_411e-11,
];

/// Below this |x| erf uses its series; above, erfc uses the scaled form.
const ERF_SERIES_MAX: f64 = 0.5;

/// The K of [SL81]'s map t = (x − K)/(x + K) from [0, ∞) onto [−1, 1).
const ERFCX_K: f64 = 3.75;

/// Chebyshev coefficients of (1 + 2x)·exp(x²)·erfc(x) in t = (x − K)/(x + K), the expansion of
/// [SL81], recomputed (first coefficient halved) by Chebyshev interpolation with mpmath:
/// ```text
/// import mpmath as mp; mp.mp.dps = 50; K, N = mp.mpf('3.75'), 120
/// f = lambda x: (1 + 2*x) * mp.exp(x*x) * mp.erfc(x)
/// th = [mp.pi * (j + mp.mpf(1)/2) / N for j in range(N)]
/// v = [f(K * (1 + mp.cos(a)) / (1 - mp.cos(a))) for a in th]
/// c = [2 * mp.fsum(v[j] * mp.cos(m * th[j]) for j in range(N)) / N for m in range(27)]; c[0] /= 2
/// ```
/// Evaluated in f64 by Clenshaw's recurrence, exp(x²)·erfc(x) has a worst relative error of 3e-16
/// on a grid of [0.01, 1030]; erfc, erf and ln(erfc/2) stay within 5e-16 of mpmath on 3000
/// random points each (x in [−6, 27], resp. [−40, 40] for the log).
const ERFCX_CHEB: [f64; 27] = [
    1.177_578_934_567_401_7,
    -0.004_590_054_580_646_478,
    -0.084_249_133_366_517_92,
    0.059_209_939_998_191_89,
    -0.026_658_668_435_305_753,
    0.009_074_997_670_705_265,
    -0.002_413_163_540_417_608,
    0.000_490_775_836_525_808_6,
    -6.916_973_302_501_207e-5,
    4.139_027_986_073_01e-6,
    7.740_383_066_198_49e-7,
    -2.188_640_104_923_439_7e-7,
    1.076_499_946_567_091e-8,
    4.521_959_811_218_287e-9,
    -7.754_400_208_831_351e-10,
    -6.318_088_340_886_684e-11,
    2.868_795_010_930_67e-11,
    1.945_586_854_577_734_7e-13,
    -9.654_696_748_433_44e-13,
    3.252_548_148_148_74e-14,
    3.347_811_948_286_805_6e-14,
    -1.864_562_880_419_313e-15,
    -1.250_795_053_068_864_8e-15,
    7.418_235_256_624_044e-17,
    5.068_148_904_796_111e-17,
    -2.237_056_659_435_999_5e-18,
    -2.187_342_944_303_018e-18,
];

/// erf(x) by its series, for |x| < ½.
#[inline]
fn erf_series(x: f64) -> f64 {
    let x2 = x * x;
    let s = ERF_SERIES.iter().rev().fold(0.0, |s, c| s * x2 + c);
    x * s
}

/// exp(x²)·erfc(x) for x ≥ 0, by [SL81]'s Chebyshev expansion.
fn erfcx_nonneg(x: f64) -> f64 {
    if x > 1e10 {
        // exp(x²) erfc(x) = 1/(x√π) · (1 − 1/(2x²) + …); the correction is below 1e-20.
        return FRAC_2_SQRT_PI / (2.0 * x);
    }
    let t = (x - ERFCX_K) / (x + ERFCX_K);
    // Clenshaw: b_k = c_k + 2t·b_{k+1} − b_{k+2}; sum = c_0 + t·b_1 − b_2. The bracket
    // (c_k − b_{k+2}) is off the b_{k+1} dependency chain, so each step waits for one mul+add.
    let (c0, rest) = ERFCX_CHEB.split_first().expect("internal: non-empty table");
    let two_t = 2.0 * t;
    let (mut b1, mut b2) = (0.0, 0.0);
    for c in rest.iter().rev() {
        (b1, b2) = (two_t * b1 + (c - b2), b1);
    }
    (t * b1 - b2 + c0) / (1.0 + 2.0 * x)
}

/// exp(−x²) for 0 ≤ x ≤ 27.3 without the rounding error of x² in the exponent: x = xh + xl
/// with xh holding 24 bits, so xh² is exact and exp(−x²) = exp(−xh²)·e^δ, δ = −xl·(x + xh).
/// |δ| ≤ 2x²·2⁻²⁴ < 1e-4, so e^δ = 1 + δ + δ²/2 + δ³/6 to 5e-18 and one exp suffices.
#[inline]
fn exp_neg_square(x: f64) -> f64 {
    let xh = x as f32 as f64;
    let delta = -(x - xh) * (x + xh);
    (-xh * xh).exp() * (1.0 + delta * (1.0 + delta * 0.5 * (1.0 + delta / 3.0)))
}

/// Beyond this x, erfc(x) < 5e-324 rounds to 0 (erfc(27.3) ≈ e^(−745.3)/(27.3√π)).
const ERFC_UNDERFLOW: f64 = 27.3;

/// erfc(a) and exp(−a²) for a ≥ ½; the second is what erfc's derivatives are made of.
#[inline]
fn erfc_upper(a: f64) -> (f64, f64) {
    if a > ERFC_UNDERFLOW {
        (0.0, 0.0)
    } else {
        let gauss = exp_neg_square(a);
        (gauss * erfcx_nonneg(a), gauss)
    }
}

/// erfc(x) and exp(−x²) in f64.
fn erfc_f64(x: f64) -> (f64, f64) {
    if x.is_nan() {
        (x, x)
    } else if x.abs() < ERF_SERIES_MAX {
        (1.0 - erf_series(x), (-x * x).exp())
    } else if x > 0.0 {
        erfc_upper(x)
    } else {
        let (q, gauss) = erfc_upper(-x);
        (2.0 - q, gauss)
    }
}

/// erf(x) and exp(−x²) in f64.
fn erf_f64(x: f64) -> (f64, f64) {
    if x.is_nan() {
        (x, x)
    } else if x.abs() < ERF_SERIES_MAX {
        (erf_series(x), (-x * x).exp())
    } else {
        let (q, gauss) = erfc_upper(x.abs());
        ((1.0 - q).copysign(x), gauss)
    }
}

/// ln(erfc(x)/2) and its derivative −(2/√π)·exp(−x²)/erfc(x), in f64, finite for all finite x.
///
/// The halved form is ln Φ(−x√2) for the normal CDF, whose upper tail (x → −∞) must keep the
/// tiny ln(1 − q/2) that ln 2 + … would round away.
fn log_half_erfc_f64(x: f64) -> (f64, f64) {
    if x.is_nan() {
        (x, x)
    } else if x >= ERF_SERIES_MAX {
        // ln erfc(x) = −x² + ln(exp(x²) erfc(x)); the scaled form never underflows.
        let e = erfcx_nonneg(x);
        (-x * x + e.ln() - LN_2, -FRAC_2_SQRT_PI / e)
    } else if x > -ERF_SERIES_MAX {
        let erf = erf_series(x);
        let g1 = -FRAC_2_SQRT_PI * (-x * x).exp() / (1.0 - erf);
        ((-erf).ln_1p() - LN_2, g1)
    } else {
        // erfc(x)/2 = 1 − q/2 with q = erfc(−x) tiny in the far tail.
        let (q, gauss) = erfc_upper(-x);
        ((-0.5 * q).ln_1p(), -FRAC_2_SQRT_PI * gauss / (2.0 - q))
    }
}

/// ln(erfc(x)/2) on any dual number, derivatives as for [`log_erfc`].
pub(crate) fn log_half_erfc<D: Real>(x: D) -> D {
    let x0 = x.re();
    let (g0, g1) = log_half_erfc_f64(x0);
    lift(x, g0, || {
        let g2 = -2.0 * x0 * g1 - g1 * g1;
        [g1, g2, -2.0 * g1 - 2.0 * x0 * g2 - 2.0 * g1 * g2]
    })
}

/// The complementary error function erfc(x) = 1 − erf(x), relative accuracy ~1e-15.
///
/// Derivatives: erfc′ = −(2/√π) e^(−x²), erfc″ = −2x·erfc′, erfc‴ = (4x² − 2)·erfc′.
pub fn erfc<D: Real>(x: D) -> D {
    let x0 = x.re();
    let (value, gauss) = erfc_f64(x0);
    lift(x, value, || {
        let f1 = -FRAC_2_SQRT_PI * gauss;
        [f1, -2.0 * x0 * f1, (4.0 * x0 * x0 - 2.0) * f1]
    })
}

/// The error function erf(x), relative accuracy ~1e-15.
///
/// Derivatives: erf′ = (2/√π) e^(−x²), erf″ = −2x·erf′, erf‴ = (4x² − 2)·erf′.
pub fn erf<D: Real>(x: D) -> D {
    let x0 = x.re();
    let (value, gauss) = erf_f64(x0);
    lift(x, value, || {
        let f1 = FRAC_2_SQRT_PI * gauss;
        [f1, -2.0 * x0 * f1, (4.0 * x0 * x0 - 2.0) * f1]
    })
}

/// ln erfc(x), finite for every finite x (ln erfc(30) ≈ −903.97, where erfc underflows).
///
/// With g = ln erfc: g′ = −(2/√π) e^(−x²)/erfc(x), g″ = −2x·g′ − g′², g‴ = −2g′ − 2x·g″ − 2g′g″.
pub fn log_erfc<D: Real>(x: D) -> D {
    log_half_erfc(x) + LN_2
}

// ---------------------------------------------------------------------------------------------
// log-space helpers

/// softplus, ln(1 + eˣ), without overflow: x + ln(1 + e⁻ˣ) for x > 0, with libm's `exp` and
/// `ln_1p` (see [`log1p_exp_with`]).
#[inline]
pub fn log1p_exp<D: Real>(x: D) -> D {
    log1p_exp_with(x, |y| y.exp(), |t| t.ln_1p())
}

/// The formula of [`log1p_exp`] with its `exp` and `ln_1p` given: max(x, 0) + ln(1 + e^(−|x|)),
/// both sides in one expression with the sign as a select, so the softplus buffer kernels
/// (`activation::softplus_in_place`) vectorize with `kernel::exp` and `kernel::ln_1p_unit`
/// (whose range [−1/2, 1] holds e^(−|x|)). The derivative at 0 is σ(0) = 1/2: 1 from the
/// max and −1/2 from the logarithm.
#[inline(always)]
pub fn log1p_exp_with<D: Real>(x: D, exp: impl Fn(D) -> D, ln_1p: impl Fn(D) -> D) -> D {
    let negative = x < 0.0;
    let a = if negative { -x } else { x };
    let positive_part = if negative { D::from(0.0) } else { x };
    positive_part + ln_1p(exp(-a))
}

/// ln σ(x) = −ln(1 + e⁻ˣ), the log of the logistic sigmoid; ≈ x for x → −∞.
#[inline]
pub fn log_sigmoid<D: Real>(x: D) -> D {
    -log1p_exp(-x)
}

/// ln(1 − eˣ) for x ≤ 0 (NaN for x > 0, −∞ at 0), switching at −ln 2 as in [M12].
#[inline]
pub fn log1m_exp<D: Real>(x: D) -> D {
    if x > -LN_2 {
        (-x.exp_m1()).ln()
    } else {
        (-x.exp()).ln_1p()
    }
}

/// ln(eᵃ − eᵇ) for a ≥ b, as a + ln(1 − e^(b−a)); −∞ when a = b, and a when b = −∞.
#[inline]
pub fn log_diff_exp<D: Real>(a: D, b: D) -> D {
    if b == f64::NEG_INFINITY {
        return a;
    }
    a + log1m_exp(b - a)
}

/// ln(eᵃ + eᵇ), as max + ln(1 + e^(−|a−b|)).
#[inline]
pub fn log_add_exp<D: Real>(a: D, b: D) -> D {
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY {
        return hi;
    }
    hi + (lo - hi).exp().ln_1p()
}

/// ln Σ exp(xᵢ), shifted by the largest element; −∞ for an empty slice or all −∞.
pub fn log_sum_exp<D: Real>(xs: &[D]) -> D {
    let Some(&max) = xs.iter().reduce(|m, x| if x > m { x } else { m }) else {
        return D::from(f64::NEG_INFINITY);
    };
    if max.re().is_infinite() {
        // All −∞ gives −∞; any +∞ gives +∞ (subtracting it would make NaN).
        return max;
    }
    // The term of the max element is exp(0) = 1 with zero derivative: ∂/∂max flows through `max`.
    let sum: D = xs.iter().map(|&x| (x - max).exp()).sum();
    max + sum.ln()
}

/// Writes log-softmax, xᵢ − ln Σⱼ exp(xⱼ), into `out`.
///
/// # Panics
/// If `out` and `xs` differ in length.
pub fn log_softmax<D: Real>(xs: &[D], out: &mut [D]) {
    assert_eq!(
        xs.len(),
        out.len(),
        "log_softmax: output length differs from input"
    );
    let lse = log_sum_exp(xs);
    for (o, &x) in out.iter_mut().zip(xs) {
        *o = x - lse;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::testutil::{
        assert_close, assert_deriv_matches_fd, check_derivatives, derivative, rel_err,
    };
    use num_dual::{Dual2_64, Dual3_64, Dual64, DualNum, HyperDual64};

    #[test]
    fn lgamma_matches_mpmath_to_a_few_ulp() {
        // import mpmath as mp; mp.mp.dps = 40; [mp.loggamma(mp.mpf(float(x))) for x in xs]
        // (the f64 nearest each decimal: near the roots its last bit moves the 7th digit)
        let cases = [
            (1e-300, 690.775_527_898_213_7),
            (1e-8, 18.420_680_738_180_21),
            (0.1, 2.252_712_651_734_206),
            (0.5, 0.572_364_942_924_700_1),
            (0.999_999, 5.772_164_873_855_652e-7),
            (1.000_001, -5.772_148_423_874_147e-7),
            (1.5, -0.120_782_237_635_245_22),
            (1.999_999, -4.227_840_125_965_854e-7),
            (2.000_001, 4.227_846_576_245_292_3e-7),
            (2.537, 0.311_033_339_292_417_67),
            (3.0, LN_2),
            (7.25, 7.052_185_450_738_539_5),
            (9.999, 12.799_575_780_077_413),
            (10.0, 12.801_827_480_081_469),
            (100.5, 361.435_540_467_777_6),
            (1e6, 12_815_504.569_147_611),
            (1e15, 3.353_877_639_491_066_8e16),
        ];
        for (x, want) in cases {
            let got: f64 = lgamma(x);
            assert!(
                rel_err(got, want) < 2e-15,
                "lgamma({x}) = {got}, mpmath {want}"
            );
        }
    }

    #[test]
    fn lgamma_matches_statrs() {
        // statrs' Lanczos approximation [Pugh 2004] is an independent reference; it is good to
        // ~1e-15 absolute but not relative near the roots x = 1, 2, hence the max(|·|, 1).
        let mut x = 1e-6;
        while x < 1e7 {
            let got: f64 = lgamma(x);
            let want = statrs::function::gamma::ln_gamma(x);
            let err = (got - want).abs() / want.abs().max(1.0);
            assert!(err < 1e-13, "lgamma({x}) = {got}, statrs {want}");
            x *= 1.37;
        }
    }

    #[test]
    fn lgamma_reflection_for_negative_arguments() {
        // mp.loggamma(-2.5).real = -0.05624371649767405; Γ(−2.5) = −0.9453, ln|·| = −0.05624
        assert_close(lgamma(-2.5), -0.056_243_716_497_674_054, 1e-13);
        // mp.log(abs(mp.gamma(-0.3))) = 1.4648400508576025
        assert_close(lgamma(-0.3), 1.464_840_050_857_602_5, 1e-13);
        assert_eq!(lgamma(-3.0), f64::INFINITY);
        assert_eq!(lgamma(0.0), f64::INFINITY);
    }

    #[test]
    fn lgamma_derivative_is_digamma() {
        // ψ(1) = −γ = −0.5772156649015329; ψ(0.5) = −γ − 2 ln 2 = −1.9635100260214235
        assert_close(derivative(lgamma, 1.0), -0.577_215_664_901_532_9, 1e-14);
        assert_close(derivative(lgamma, 0.5), -1.963_510_026_021_423_5, 1e-14);
        for x in [
            1e-3, 0.3, 0.7, 1.2, 1.7, 2.2, 2.6, 5.5, 9.9, 10.1, 55.0, 1e4, -1.5,
        ] {
            assert_deriv_matches_fd!(lgamma, x, 1e-7);
        }
    }

    #[test]
    fn lgamma_second_derivative_is_trigamma() {
        // ψ′(1) = π²/6 = 1.6449340668482264
        let (_, d1, d2) = num_dual::second_derivative(lgamma, 1.0);
        assert_close(d1, -0.577_215_664_901_532_9, 1e-14);
        assert_close(d2, 1.644_934_066_848_226_4, 1e-13);
    }

    #[test]
    fn erf_erfc_match_mpmath() {
        // [(x, mp.erf(mp.mpf(float(x))), mp.erfc(mp.mpf(float(x)))) for x in xs], mp.mp.dps = 40
        let cases = [
            (1e-10, 1.128_379_167_095_512_6e-10, 0.999_999_999_887_162),
            (0.3, 0.328_626_759_459_127_4, 0.671_373_240_540_872_6),
            (0.499_999, 0.520_498_999_030_028_3, 0.479_501_000_969_971_8),
            (0.5, 0.520_499_877_813_046_5, 0.479_500_122_186_953_5),
            (1.0, 0.842_700_792_949_714_9, 0.157_299_207_050_285_13),
            (2.5, 0.999_593_047_982_555, 0.000_406_952_017_444_958_9),
            (5.0, 0.999_999_999_998_462_6, 1.537_459_794_428_035e-12),
            (10.0, 1.0, 2.088_487_583_762_545e-45),
            (26.0, 1.0, 5.663_192_408_856_143e-296),
            (-0.7, -0.677_801_193_837_418_4, 1.677_801_193_837_418_4),
            (-3.0, -0.999_977_909_503_001_4, 1.999_977_909_503_001_5),
        ];
        for (x, want_erf, want_erfc) in cases {
            let (e, ec): (f64, f64) = (erf(x), erfc(x));
            assert!(
                rel_err(e, want_erf) < 1e-15,
                "erf({x}) = {e}, mpmath {want_erf}"
            );
            assert!(
                rel_err(ec, want_erfc) < 1e-14,
                "erfc({x}) = {ec}, mpmath {want_erfc}"
            );
        }
        assert_eq!(erfc(40.0), 0.0);
        assert_eq!(erfc(f64::INFINITY), 0.0);
        assert_eq!(erfc(f64::NEG_INFINITY), 2.0);
    }

    #[test]
    fn erfc_matches_statrs_on_a_grid() {
        // statrs 0.19's erfc (a port of Boost's rational approximations) is itself only good to
        // ~1e-10 relative: at x = 0.6 it gives 0.3961439091889472 where mpmath and ours give
        // 0.3961439091520741. So this grid is a gross check; accuracy is judged against mpmath.
        let mut x = -6.0;
        while x < 26.0 {
            let got: f64 = erfc(x);
            let want = statrs::function::erf::erfc(x);
            assert!(
                rel_err(got, want) < 1e-9,
                "erfc({x}) = {got}, statrs {want}"
            );
            x += 0.0173;
        }
        // mp.erfc(0.6) = 0.3961439091520741; mp.erfc(2.2805) = 0.0012592250291547633
        assert_close(erfc(0.6), 0.396_143_909_152_074_1, 1e-15);
        assert_close(erfc(2.2805), 0.001_259_225_029_154_763_3, 1e-15);
    }

    #[test]
    fn log_erfc_in_the_far_tail() {
        // mp.log(mp.erfc(30)) = -903.9741171106439; erfc(30) = 2.6e-393 underflows in f64
        assert_close(log_erfc(30.0), -903.974_117_110_643_9, 1e-15);
        // mp.log(mp.erfc(1e5)) = -10000000012.08529
        assert_close(log_erfc(1e5), -10_000_000_012.085_29, 1e-15);
        // mp.log(mp.erfc(-10)) = log(2 - 2.09e-45) = 0.6931471805599453
        assert_close(log_erfc(-10.0), LN_2, 1e-16);
        // mp.log(mp.erfc(0.2)) = -0.25193223378261664
        assert_close(log_erfc(0.2), -0.251_932_233_782_616_64, 1e-15);
        // d/dx ln erfc(x) = −(2/√π)·e^(−x²)/erfc(x) = −60.03329639875623 at x = 30 (mpmath)
        assert_close(derivative(log_erfc, 30.0), -60.033_296_398_756_23, 1e-14);
    }

    #[test]
    fn erf_family_derivatives_match_finite_differences() {
        for x in [-4.0, -1.3, -0.5, -0.2, 0.0, 0.1, 0.49, 0.51, 1.7, 3.3, 6.0] {
            assert_deriv_matches_fd!(erf, x, 1e-7);
            assert_deriv_matches_fd!(erfc, x, 1e-7);
            assert_deriv_matches_fd!(log_erfc, x, 1e-7);
        }
        assert_deriv_matches_fd!(log_erfc, 25.0, 1e-7);
    }

    #[test]
    fn lift_gives_exact_higher_derivatives() {
        // erfc″(x) = (4/√π)·x·e^(−x²) = 0.5284132913 at x = 0.8; erfc‴ = (4x² − 2)·erfc′
        let x = 0.8;
        let f1 = -FRAC_2_SQRT_PI * (-x * x).exp();
        let d2 = erfc(Dual2_64::from_re(x).derivative());
        assert_close(d2.v1, f1, 1e-15);
        assert_close(d2.v2, -2.0 * x * f1, 1e-15);
        let d3 = erfc(Dual3_64::from_re(x).derivative());
        assert_close(d3.v3, (4.0 * x * x - 2.0) * f1, 1e-15);
        let h = erfc(HyperDual64::from_re(x).derivative1().derivative2());
        assert_close(h.eps1eps2, -2.0 * x * f1, 1e-15);
        // and agree with num-dual's own chain rule on a function it knows: exp
        let e = lift(Dual3_64::from_re(0.3).derivative(), 0.3f64.exp(), || {
            [0.3f64.exp(); 3]
        });
        let reference = Dual3_64::from_re(0.3).derivative().exp();
        assert_close(e.v3, reference.v3, 1e-15);
    }

    #[test]
    fn softplus_and_log_sigmoid_are_stable() {
        // softplus(800) = 800 + ln(1 + e^−800) = 800 exactly in f64
        assert_eq!(log1p_exp(800.0), 800.0);
        // softplus(−800) = e^−800 underflows to 0, not NaN
        assert_eq!(log1p_exp(-800.0), 0.0);
        // ln σ(−800) = −800 − ln(1 + e^−800) = −800
        assert_eq!(log_sigmoid(-800.0), -800.0);
        // softplus(0) = ln 2; softplus(1) = 1.3132616875182228
        assert_close(log1p_exp(0.0), LN_2, 1e-16);
        assert_close(log1p_exp(1.0), 1.313_261_687_518_222_8, 1e-16);
        // d/dx softplus(x) = σ(x) = 0.7310585786300049 at x = 1
        assert_close(derivative(log1p_exp, 1.0), 0.731_058_578_630_004_9, 1e-15);
        assert_eq!(derivative(log1p_exp, 800.0), 1.0);
        assert_eq!(derivative(log_sigmoid, -800.0), 1.0);
        for x in [-30.0, -2.0, -0.1, 0.0, 0.3, 4.0, 30.0] {
            assert_deriv_matches_fd!(log1p_exp, x, 1e-7);
            assert_deriv_matches_fd!(log_sigmoid, x, 1e-7);
        }
    }

    #[test]
    fn log1m_exp_and_log_diff_exp() {
        // ln(1 − e^−1e-20) = ln(1e-20) = −46.051701859880914 (expm1 keeps it)
        assert_close(log1m_exp(-1e-20), -46.051_701_859_880_914, 1e-15);
        // ln(1 − e^−50) = −e^−50 = −1.9287498479639178e-22 (ln_1p keeps it)
        assert_close(log1m_exp(-50.0), -1.928_749_847_963_917_8e-22, 1e-15);
        assert_eq!(log1m_exp(0.0), f64::NEG_INFINITY);
        assert!(log1m_exp(0.5_f64).is_nan());
        // ln(e² − e¹) = 1 + ln(e − 1) = 1.5413248546129181
        assert_close(log_diff_exp(2.0, 1.0), 1.541_324_854_612_918_1, 1e-15);
        assert_eq!(log_diff_exp(3.0, f64::NEG_INFINITY), 3.0);
        assert_eq!(log_diff_exp(3.0, 3.0), f64::NEG_INFINITY);
        for x in [-40.0, -3.0, -0.7, -0.69, -0.1, -1e-3] {
            assert_deriv_matches_fd!(log1m_exp, x, 1e-7);
        }
        check_derivatives!(|v| log_diff_exp(v[0], v[1]), &[2.0, 1.0], 1e-7);
        check_derivatives!(|v| log_add_exp(v[0], v[1]), &[-3.0, 1.5], 1e-7);
    }

    #[test]
    fn log_sum_exp_and_log_softmax() {
        // ln(e¹ + e² + e³) = 3 + ln(1 + e^−1 + e^−2) = 3.40760596444438
        assert_close(log_sum_exp(&[1.0, 2.0, 3.0]), 3.407_605_964_444_38, 1e-15);
        // shifting by 1000 must not overflow: 1003.40760596444438
        assert_close(
            log_sum_exp(&[1001.0, 1002.0, 1003.0]),
            1_003.407_605_964_444_4,
            1e-15,
        );
        assert_eq!(log_sum_exp::<f64>(&[]), f64::NEG_INFINITY);
        assert_eq!(log_sum_exp(&[f64::NEG_INFINITY; 3]), f64::NEG_INFINITY);
        assert_eq!(log_sum_exp(&[1.0, f64::INFINITY]), f64::INFINITY);
        assert_close(log_add_exp(1.0, 3.0), log_sum_exp(&[1.0, 3.0]), 1e-16);
        // ∂/∂xᵢ log_sum_exp = softmax(x)ᵢ, and the softmax sums to 1
        let xs = [0.3, -1.2, 2.0, 0.0];
        check_derivatives!(log_sum_exp, &xs, 1e-7);
        let mut out = [0.0; 4];
        log_softmax(&xs, &mut out);
        let total: f64 = out.iter().map(|l| l.exp()).sum();
        assert_close(total, 1.0, 1e-15);
        // d/dx₀ of log_softmax(x)₀ = 1 − softmax₀, via a Dual64 seed on x₀
        let dual: Vec<Dual64> = xs
            .iter()
            .enumerate()
            .map(|(i, &x)| Dual64::new(x, if i == 0 { 1.0 } else { 0.0 }))
            .collect();
        let mut dual_out = [Dual64::from(0.0); 4];
        log_softmax(&dual, &mut dual_out);
        assert_close(dual_out[0].eps, 1.0 - out[0].exp(), 1e-15);
    }

    #[test]
    fn lchoose_small_cases() {
        // C(5, 2) = 10; C(50, 25) = 126410606437752
        assert_close(lchoose(5, 2), 10f64.ln(), 1e-15);
        assert_close(lchoose(50, 25), 126_410_606_437_752f64.ln(), 1e-14);
        assert_eq!(lchoose(7, 0), 0.0);
        assert_eq!(lchoose(3, 4), f64::NEG_INFINITY);
    }
}
