//! Branch-free eˣ and eˣ − 1 on f64 that loops over whole buffers auto-vectorize, and the same
//! with num-dual's chain rule attached, so a generic formula can run on them unchanged.
//!
//! Scalar libm `exp` costs about 6 ns a call and cannot be vectorized; a network layer calls it
//! once per activation. These kernels are plain arithmetic (no calls, no table lookups, no
//! branches), so LLVM vectorizes a loop over a buffer with whatever vector width the target has.
//!
//! Method ([Cody & Waite 1980], as in fdlibm's `e_exp.c` and `s_expm1.c`):
//! 1. k = round(x / ln 2), r = x − k·ln 2 with ln 2 split in a high part whose last 21 bits are
//!    zero (so k·ln2_hi is exact) and a low part; |r| ≤ ln 2 / 2.
//! 2. eʳ − 1 = r + r²·q(r), q a degree-10 polynomial near-minimax for (eʳ − 1 − r)/r² on the
//!    interval (the coefficients [`C`] say how they were made); its error puts at most
//!    r²·2.6e-18 < 3.2e-19 into eʳ − 1, far under half an ulp (the degree-11 Taylor polynomial
//!    used before put up to 4.1e-18). q is summed by Estrin's scheme (pairs, then pairs of pairs
//!    with r², r⁴, r⁸): four dependent multiply-adds deep instead of Horner's ten, which lets the
//!    tanh kernel's vector loop keep more work in flight (measured in BENCHMARKS.md).
//! 3. eˣ = 2ᵏ·(1 + (eʳ − 1)) and eˣ − 1 = 2ᵏ·(eʳ − 1) + (2ᵏ − 1), where 2ᵏ − 1 is exact for the
//!    k it is used with, so eˣ − 1 keeps full relative accuracy near 0 (no cancellation).
//!
//! k is rounded with the 1.5·2⁵² trick and 2ᵏ is built from its bits, in two factors 2^k₁·2^k₂
//! so the whole range works: eˣ overflows to +∞ above 709.78, goes subnormal below −708.4 and
//! reaches 0 below −745.13; NaN propagates; eˣ − 1 tends to −1.
//!
//! Accuracy, measured by the tests against glibc's `exp`/`expm1` (themselves within about half
//! an ulp) on 200,000 points over [−745, 709.7]: eˣ within 1 ulp of libm, eˣ − 1 within 2 ulp
//! (for 1 ≤ k, 2ᵏ·(eʳ − 1) + 2ᵏ − 1 doubles the last-bit error of eʳ − 1 while the sum's ulp
//! stays), and both bit-identical to libm most of the time. No fused multiply-add is used, so results are the same on every x86-64 (SSE2,
//! AVX2, AVX-512) and every other IEEE target.
//!
//! [Cody & Waite 1980] W. J. Cody and W. Waite, Software Manual for the Elementary Functions,
//! Prentice-Hall 1980, chapter 6 (exp).

use num_dual::Dual64;

/// log₂ e.
const LOG2_E: f64 = std::f64::consts::LOG2_E;
/// High part of ln 2 (fdlibm's `ln2HI` = 6.93147180369123816490e-01): its last 21 bits are zero, so
/// k·LN2_HI is exact for |k| < 2²¹.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
/// ln 2 − LN2_HI (fdlibm's `ln2LO` = 1.90821492927058770002e-10).
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
/// 1.5·2⁵² + 1023: adding it rounds a value below 2⁵¹ in magnitude to an integer k and leaves
/// k + 1023 (the biased exponent of 2ᵏ) in the low bits of the sum.
const SHIFT: f64 = 6_755_399_441_056_767.0;
/// Inputs are clamped to [X_MIN, X_MAX] first: below, eˣ is 0; above, +∞ (k stays in range).
const X_MIN: f64 = -746.0;
const X_MAX: f64 = 710.0;

/// The coefficients of q(r) ≈ (eʳ − 1 − r)/r², degree 10, on |r| ≤ ln 2 / 2: the Chebyshev
/// interpolant of q at 11 nodes (near-minimax), computed at 60 digits and rounded to f64:
///
/// ```text
/// import mpmath as mp; mp.mp.dps = 60; L = mp.log(2) / 2
/// q = lambda r: (mp.exp(r) - 1 - r) / r**2 if r else mp.mpf(1) / 2
/// poly, err = mp.chebyfit(q, [-L, L], 11, error=True)   # highest degree first
/// ```
///
/// Its error on the interval is below 2.6e-18 with the rounded coefficients (at 2,001 points),
/// against 3.4e-17 for the degree-11 Taylor polynomial it replaces: one term fewer and more
/// accurate. The first coefficients are 1/2, 1/6, 1/24 to the last bit or two; they part from
/// 1/n! from c₃ on.
const C: [f64; 11] = [
    0.5,
    0.1666666666666667,
    0.04166666666666667,
    0.008333333333326141,
    0.0013888888888883752,
    0.00019841269874800493,
    2.4801587325533363e-05,
    2.7557255425746435e-06,
    2.7557273661348637e-07,
    2.510520637395701e-08,
    2.0914679376583935e-09,
];

/// 2ᵏ for the integer k held by `t = k + SHIFT`: the low 11 bits of t's mantissa are k + 1023,
/// which the shift moves into the exponent field (the bits above fall off the top).
#[inline(always)]
fn pow2_from_shifted(t: f64) -> f64 {
    f64::from_bits(t.to_bits() << 52)
}

/// eʳ − 1 = r + r²·q(r) for the reduced argument |r| ≤ ln 2 / 2, q summed by Estrin's scheme:
/// q = (c₀ + c₁r + (c₂ + c₃r)·r²) + (c₄ + c₅r + (c₆ + c₇r)·r²)·r⁴ + (c₈ + c₉r + c₁₀·r²)·r⁸.
#[inline(always)]
fn em1_of_reduced(r: f64) -> f64 {
    let r2 = r * r;
    let r4 = r2 * r2;
    let r8 = r4 * r4;
    let p01 = C[0] + C[1] * r;
    let p23 = C[2] + C[3] * r;
    let p45 = C[4] + C[5] * r;
    let p67 = C[6] + C[7] * r;
    let p89 = C[8] + C[9] * r;
    let p03 = p01 + p23 * r2;
    let p47 = p45 + p67 * r2;
    let p810 = p89 + C[10] * r2;
    let p07 = p03 + p47 * r4;
    let q = p07 + p810 * r8;
    r + r2 * q
}

/// The reduced argument: (eʳ − 1, 2^k₁, 2^k₂, k) with x = k·ln 2 + r, k = k₁ + k₂.
#[inline(always)]
fn reduce(x: f64) -> (f64, f64, f64, f64) {
    // f64::clamp keeps NaN as NaN; the rest of the arithmetic then propagates it.
    reduce_clamped(x.clamp(X_MIN, X_MAX))
}

/// [`reduce`] after the clamp: x ∈ [X_MIN, X_MAX] or NaN.
#[inline(always)]
fn reduce_clamped(x: f64) -> (f64, f64, f64, f64) {
    let t = x * LOG2_E + SHIFT;
    let k = t - SHIFT;
    // Split k in two halves so each 2^kᵢ is a normal number even when 2ᵏ is not.
    let t1 = k * 0.5 + SHIFT;
    let k1 = t1 - SHIFT;
    let t2 = (k - k1) + SHIFT;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let em1 = em1_of_reduced(r);
    (em1, pow2_from_shifted(t1), pow2_from_shifted(t2), k)
}

/// eˣ, within 1 ulp of libm's `exp` (see the module documentation).
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    let (em1, s1, s2, _) = reduce(x);
    (1.0 + em1) * s1 * s2
}

/// (eˣ − 1, eˣ) from one reduction; eˣ − 1 keeps full relative accuracy near 0.
#[inline(always)]
pub fn exp_m1_and_exp(x: f64) -> (f64, f64) {
    let (em1, s1, s2, k) = reduce(x);
    let e = (1.0 + em1) * s1 * s2;
    let s = s1 * s2;
    // 2ᵏ·(eʳ − 1) + (2ᵏ − 1): both terms exact or once-rounded while 2ᵏ is finite and 2ᵏ − 1
    // exact (k ≤ 53); above that eˣ − 1 rounds to eˣ (less 1, which is below its last bit).
    let m = if k > 53.0 {
        e - 1.0
    } else {
        s * em1 + (s - 1.0)
    };
    (m, e)
}

/// Below this, [`exp_m1_and_exp_nonpositive`] returns eˣ = 0 (eˣ < 3.3e-308 there) and eˣ − 1 =
/// −1 (as [`exp_m1_and_exp`] does); above it 2ᵏ is a normal number, so one factor builds it.
pub const NONPOSITIVE_MIN: f64 = -708.0;

/// [`exp_m1_and_exp`] for x ≤ 0 or NaN, as tanh uses it (its argument is −2|x|), with fewer steps:
/// no upper clamp, no k > 53 branch (neither acts for x ≤ 0), and 2ᵏ in one factor, since the
/// argument is clamped at [`NONPOSITIVE_MIN`] instead of −746 and eˣ is flushed to 0 below it.
/// eˣ − 1 has [`exp_m1_and_exp`]'s bits for every x ≤ 0; eˣ has them for x ≥ −708 and is 0
/// (instead of a value below 3.3e-308) under it (a unit test checks both).
#[inline(always)]
pub fn exp_m1_and_exp_nonpositive(x: f64) -> (f64, f64) {
    // NaN compares false: it stays NaN, and so do both results.
    let small = x < NONPOSITIVE_MIN;
    let x = if small { NONPOSITIVE_MIN } else { x };
    let t = x * LOG2_E + SHIFT;
    let k = t - SHIFT;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let em1 = em1_of_reduced(r);
    let s = pow2_from_shifted(t);
    let e = if small { 0.0 } else { (1.0 + em1) * s };
    (s * em1 + (s - 1.0), e)
}

/// eˣ − 1 for x ≤ 0 or NaN ([`exp_m1_and_exp_nonpositive`]).
#[inline(always)]
pub fn exp_m1_nonpositive(x: f64) -> f64 {
    exp_m1_and_exp_nonpositive(x).0
}

/// [`exp_m1_dual`] for re ≤ 0 or NaN, from [`exp_m1_and_exp_nonpositive`]: the derivative eˣ is
/// flushed to 0 below −708.
#[inline(always)]
pub fn exp_m1_nonpositive_dual(x: Dual64) -> Dual64 {
    let (m, e) = exp_m1_and_exp_nonpositive(x.re);
    Dual64::new(m, x.eps * e)
}

/// eˣ for x ≤ 0 or NaN (the e^(−|x|) of sigmoid, swish and softplus), from
/// [`exp_m1_and_exp_nonpositive`]: [`exp`]'s bits for x ≥ −708, and 0 below (where eˣ is under
/// 3.3e-308).
#[inline(always)]
pub fn exp_nonpositive(x: f64) -> f64 {
    exp_m1_and_exp_nonpositive(x).1
}

/// [`exp_dual`] for re ≤ 0 or NaN, from [`exp_nonpositive`]: value and derivative flushed to 0
/// below −708.
#[inline(always)]
pub fn exp_nonpositive_dual(x: Dual64) -> Dual64 {
    let e = exp_nonpositive(x.re);
    Dual64::new(e, x.eps * e)
}

/// Values per block of the block kernels ([`exp_m1_and_exp_nonpositive_block`]): four AVX-512
/// vectors.
pub const BLOCK: usize = 32;

/// [`exp_m1_and_exp_nonpositive`] on a block of values, step by step across the block: element
/// i gets the same operations in the same order as `exp_m1_and_exp_nonpositive(x[i])`, so the
/// same bits, but each step is applied to the whole block before the next, so the vector code
/// holds several independent chains at once instead of one long chain per vector.
#[inline(always)]
pub fn exp_m1_and_exp_nonpositive_block(
    x: &[f64; BLOCK],
    m: &mut [f64; BLOCK],
    e: &mut [f64; BLOCK],
) {
    let mut xc = [0.0; BLOCK];
    let mut t = [0.0; BLOCK];
    let mut r = [0.0; BLOCK];
    for i in 0..BLOCK {
        xc[i] = if x[i] < NONPOSITIVE_MIN {
            NONPOSITIVE_MIN
        } else {
            x[i]
        };
    }
    for i in 0..BLOCK {
        t[i] = xc[i] * LOG2_E + SHIFT;
        let k = t[i] - SHIFT;
        r[i] = (xc[i] - k * LN2_HI) - k * LN2_LO;
    }
    let mut em1 = [0.0; BLOCK];
    for i in 0..BLOCK {
        em1[i] = em1_of_reduced(r[i]);
    }
    for i in 0..BLOCK {
        let s = pow2_from_shifted(t[i]);
        e[i] = if x[i] < NONPOSITIVE_MIN {
            0.0
        } else {
            (1.0 + em1[i]) * s
        };
        m[i] = s * em1[i] + (s - 1.0);
    }
}

/// eˣ − 1 (see [`exp_m1_and_exp`]).
#[inline(always)]
pub fn exp_m1(x: f64) -> f64 {
    exp_m1_and_exp(x).0
}

/// eˣ on a dual number with num-dual's own rule for `exp` (value f(re), derivative
/// eps·f′(re), f′ = f), only with the kernel's eˣ in place of libm's.
#[inline(always)]
pub fn exp_dual(x: Dual64) -> Dual64 {
    let e = exp(x.re);
    Dual64::new(e, x.eps * e)
}

/// eˣ − 1 on a dual number with num-dual's rule for `exp_m1` (value eˣ − 1, derivative eps·eˣ),
/// only with the kernel's values in place of libm's.
#[inline(always)]
pub fn exp_m1_dual(x: Dual64) -> Dual64 {
    let (m, e) = exp_m1_and_exp(x.re);
    Dual64::new(m, x.eps * e)
}

/// 1/(2j + 1) for j = 1..=17, the coefficients of 2·atanh(u) = 2u·(1 + u²/3 + u⁴/5 + …).
const ATANH: [f64; 17] = [
    1.0 / 3.0,
    1.0 / 5.0,
    1.0 / 7.0,
    1.0 / 9.0,
    1.0 / 11.0,
    1.0 / 13.0,
    1.0 / 15.0,
    1.0 / 17.0,
    1.0 / 19.0,
    1.0 / 21.0,
    1.0 / 23.0,
    1.0 / 25.0,
    1.0 / 27.0,
    1.0 / 29.0,
    1.0 / 31.0,
    1.0 / 33.0,
    1.0 / 35.0,
];

/// ln(1 + t) for t ∈ [−1/2, 1], branch-free, as softplus needs it (t = e^(−|x|) ∈ (0, 1]).
///
/// ln(1 + t) = 2·atanh(u) with u = t/(2 + t) ∈ [−1/3, 1/3] ([AS64] 4.1.28 with z = 1 + t),
/// summed to u³⁵: the first term left out is below u³⁶/37 < 1.4e-19 of the sum, so the error is
/// the rounding of u (one division) and of the sum, within 2 ulp of libm's `ln_1p` (the tests
/// measure it). No cancellation near t = 0: ln(1 + t) ≈ 2u ≈ t to full relative precision.
/// Outside [−1/2, 1] the series converges more slowly and the result loses accuracy.
///
/// [AS64] Abramowitz & Stegun, Handbook of Mathematical Functions, 1964.
#[inline(always)]
pub fn ln_1p_unit(t: f64) -> f64 {
    let u = t / (t + 2.0);
    let u2 = u * u;
    // Horner's rule written out: as a loop over ATANH, LLVM kept the loop and the buffer loop
    // around it stayed scalar (7× slower than this).
    let c = &ATANH;
    let mut q = c[16];
    q = q * u2 + c[15];
    q = q * u2 + c[14];
    q = q * u2 + c[13];
    q = q * u2 + c[12];
    q = q * u2 + c[11];
    q = q * u2 + c[10];
    q = q * u2 + c[9];
    q = q * u2 + c[8];
    q = q * u2 + c[7];
    q = q * u2 + c[6];
    q = q * u2 + c[5];
    q = q * u2 + c[4];
    q = q * u2 + c[3];
    q = q * u2 + c[2];
    q = q * u2 + c[1];
    q = q * u2 + c[0];
    2.0 * u + (2.0 * u) * (u2 * q)
}

/// ln(1 + t) on a dual number with num-dual's rule for `ln_1p` (derivative eps/(1 + t)), only
/// with [`ln_1p_unit`]'s value in place of libm's.
#[inline(always)]
pub fn ln_1p_unit_dual(t: Dual64) -> Dual64 {
    Dual64::new(ln_1p_unit(t.re), t.eps * (t.re + 1.0).recip())
}

/// The instruction sets [`widest!`] functions may run: the widest the CPU supports, unless the
/// environment variable `BNNPPL_SIMD` (`avx512`, `avx2` or `baseline`) caps it lower, so the
/// tests can run every path on one machine. A request above what the CPU supports, or a value
/// not in that list, falls back to the CPU's widest (with a warning on standard error, once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SimdPath {
    /// SSE2 on x86-64 (the baseline every x86-64 CPU has), or the target's baseline elsewhere.
    Baseline,
    /// AVX2: 4 doubles per vector.
    Avx2,
    /// AVX-512F: 8 doubles per vector.
    Avx512,
}

impl SimdPath {
    /// The name `BNNPPL_SIMD` and `bnnppl bench` use.
    pub fn name(self) -> &'static str {
        match self {
            SimdPath::Baseline => "baseline",
            SimdPath::Avx2 => "avx2",
            SimdPath::Avx512 => "avx512",
        }
    }

    /// The widest path this CPU supports.
    pub fn detected() -> SimdPath {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return SimdPath::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return SimdPath::Avx2;
            }
        }
        SimdPath::Baseline
    }

    /// The path in use: [`SimdPath::detected`], capped by `BNNPPL_SIMD`; read once.
    pub fn current() -> SimdPath {
        static PATH: std::sync::OnceLock<SimdPath> = std::sync::OnceLock::new();
        *PATH.get_or_init(|| {
            let detected = SimdPath::detected();
            let Ok(asked) = std::env::var("BNNPPL_SIMD") else {
                return detected;
            };
            let wanted = [SimdPath::Baseline, SimdPath::Avx2, SimdPath::Avx512]
                .into_iter()
                .find(|p| p.name() == asked.trim());
            match wanted {
                Some(p) if p <= detected => p,
                Some(p) => {
                    eprintln!(
                        "warning: BNNPPL_SIMD={} but this CPU supports up to {}; using {}",
                        p.name(),
                        detected.name(),
                        detected.name()
                    );
                    detected
                }
                None => {
                    eprintln!(
                        "warning: BNNPPL_SIMD must be avx512, avx2 or baseline, not '{asked}'; \
                         using {}",
                        detected.name()
                    );
                    detected
                }
            }
        })
    }
}

/// Defines a function whose body is compiled three times — for AVX-512F, for AVX2 and for the
/// baseline (SSE2 on x86-64) — and that runs the widest version [`SimdPath::current`] allows, so
/// loops over buffers in the body vectorize to 8, 4 or 2 doubles. The path is read once and
/// cached (one atomic load per call).
///
/// The kernels use no fused multiply-add (Rust never contracts `a * b + c`), so every width
/// computes the same bits; the tests check it.
///
/// ```ignore
/// widest! {
///     /// Doc.
///     pub fn double(z: &mut [f64]) { for v in z { *v *= 2.0 } }
/// }
/// ```
macro_rules! widest {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                fn avx512($($arg: $ty),*) {
                    body($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) {
                    body($($arg),*)
                }
                match $crate::math::kernel::SimdPath::current() {
                    // SAFETY: `current` never returns a path above the CPU's (`detected`).
                    $crate::math::kernel::SimdPath::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: as above.
                    $crate::math::kernel::SimdPath::Avx2 => return unsafe { avx2($($arg),*) },
                    $crate::math::kernel::SimdPath::Baseline => {}
                }
            }
            body($($arg),*)
        }
    };
}
pub(crate) use widest;

#[cfg(test)]
mod tests {
    use super::*;
    use num_dual::DualNum;
    use rand::{RngExt, SeedableRng};

    /// Distance in units in the last place between two finite f64 of the same sign.
    fn ulps(a: f64, b: f64) -> u64 {
        if a == b {
            return 0;
        }
        assert_eq!(a.is_sign_negative(), b.is_sign_negative(), "{a} vs {b}");
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    /// Points spread over the whole domain: uniform on [−745, 709.7], on [−1, 1], and on
    /// [−1e-6, 1e-6], plus the edges.
    fn points() -> Vec<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut xs: Vec<f64> = (0..200_000)
            .map(|i| match i % 3 {
                0 => rng.random_range(-745.0..709.7),
                1 => rng.random_range(-1.0..1.0),
                _ => rng.random_range(-1e-6..1e-6),
            })
            .collect();
        xs.extend([
            0.0,
            -0.0,
            1e-300,
            -1e-300,
            f64::MIN_POSITIVE,
            0.346_573_590_279_972_6, // ln 2 / 2, a rounding boundary of k
            -0.346_573_590_279_972_6,
            1.0,
            -1.0,
            700.0,
            -700.0,
            -708.0,
            709.78,
        ]);
        xs
    }

    #[test]
    fn exp_is_within_one_ulp_of_libm_in_the_normal_range() {
        let mut worst = 0;
        for x in points() {
            let want = x.exp();
            if want < f64::MIN_POSITIVE {
                continue;
            }
            let u = ulps(exp(x), want);
            assert!(u <= 1, "exp({x:e}) = {:e}, libm {want:e} ({u} ulp)", exp(x));
            worst = worst.max(u);
        }
        eprintln!("exp: worst {worst} ulp from libm");
    }

    #[test]
    fn exp_m1_is_within_two_ulp_of_libm() {
        let mut worst = 0;
        for x in points() {
            let want = x.exp_m1();
            let u = ulps(exp_m1(x), want);
            assert!(
                u <= 2,
                "exp_m1({x:e}) = {:e}, libm {want:e} ({u} ulp)",
                exp_m1(x)
            );
            worst = worst.max(u);
        }
        eprintln!("exp_m1: worst {worst} ulp from libm");
    }

    #[test]
    fn ln_1p_unit_is_within_two_ulp_of_libm_on_its_range() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let mut ts: Vec<f64> = (0..200_000)
            .map(|i| match i % 3 {
                0 => rng.random_range(-0.5..1.0),
                1 => rng.random_range(0.0..1e-3),
                // e^(−|x|) for softplus's x in [0, 40]
                _ => (-rng.random_range(0.0..40.0f64)).exp(),
            })
            .collect();
        ts.extend([0.0, -0.0, 1e-300, 5e-324, -0.5, 1.0, 0.5, 1e-8]);
        let mut worst = 0;
        for t in ts {
            let want = t.ln_1p();
            let u = ulps(ln_1p_unit(t), want);
            assert!(
                u <= 2,
                "ln_1p({t:e}) = {:e}, libm {want:e} ({u} ulp)",
                ln_1p_unit(t)
            );
            worst = worst.max(u);
        }
        eprintln!("ln_1p_unit: worst {worst} ulp from libm");
        // ln 2 = 0.6931471805599453 at t = 1; NaN propagates
        assert_eq!(ln_1p_unit(1.0), std::f64::consts::LN_2);
        assert!(ln_1p_unit(f64::NAN).is_nan());
        // num-dual's rule: d/dt ln(1 + t) = 1/(1 + t) = 2/3 at t = 1/2, times eps
        let d = ln_1p_unit_dual(Dual64::new(0.5, 3.0));
        assert_eq!(d.eps, 3.0 * (1.5f64).recip());
    }

    #[test]
    fn exp_at_the_extremes() {
        // e^709.78 = 1.7928e308 is the largest finite result; e^709.79 overflows
        assert!(exp(709.78).is_finite());
        assert_eq!(exp(709.79), f64::INFINITY);
        assert_eq!(exp(1e308), f64::INFINITY);
        assert_eq!(exp(f64::INFINITY), f64::INFINITY);
        // subnormal results: e^−740 = 4.2e-322, a few ulp of the smallest subnormal away at most
        for x in [-709.0, -720.0, -740.0, -745.0] {
            let (got, want) = (exp(x), x.exp());
            assert!(got > 0.0 && (got - want).abs() <= 2.0 * 4.9e-324_f64.max(want * 1e-15));
        }
        assert_eq!(exp(-745.2), 0.0);
        assert_eq!(exp(-1e308), 0.0);
        assert_eq!(exp(f64::NEG_INFINITY), 0.0);
        assert!(exp(f64::NAN).is_nan());
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-0.0), 1.0);
        // e^−1e-300 − 1 = −1e-300 exactly as a double
        assert_eq!(exp_m1(-1e-300), -1e-300);
        assert_eq!(exp_m1(f64::NEG_INFINITY), -1.0);
        assert_eq!(exp_m1(-800.0), -1.0);
        assert_eq!(exp_m1(f64::INFINITY), f64::INFINITY);
        assert!(exp_m1(f64::NAN).is_nan());
    }

    widest! {
        /// eˣ and eˣ − 1 over a buffer, vectorized to the widest width the CPU has.
        fn exp_buffers(x: &[f64], e: &mut [f64], m: &mut [f64]) {
            for ((xi, ei), mi) in x.iter().zip(e.iter_mut()).zip(m.iter_mut()) {
                *ei = exp(*xi);
                *mi = exp_m1(*xi);
            }
        }
    }

    #[test]
    fn every_vector_width_computes_the_same_bits() {
        // The buffer loop runs 8 (AVX-512) or 4 (AVX2) lanes at a time where the CPU allows;
        // one call at a time through black_box cannot vectorize. Same bits either way.
        let xs = points();
        let (mut e, mut m) = (vec![0.0; xs.len()], vec![0.0; xs.len()]);
        exp_buffers(&xs, &mut e, &mut m);
        for (i, &x) in xs.iter().enumerate() {
            let x = std::hint::black_box(x);
            assert_eq!(e[i].to_bits(), exp(x).to_bits(), "exp at {x}");
            assert_eq!(m[i].to_bits(), exp_m1(x).to_bits(), "exp_m1 at {x}");
        }
    }

    #[test]
    fn dual_versions_follow_num_dual_rules() {
        // num-dual: exp(x + ε) = eˣ + eˣ ε and exp_m1(x + ε) = (eˣ − 1) + eˣ ε; the kernels give
        // the same up to the kernel's rounding of the values.
        for x in [-30.0, -2.5, -0.1, 0.0, 0.3, 4.0, 50.0] {
            let d = Dual64::new(x, 1.7);
            let (ours, theirs) = (exp_dual(d), d.exp());
            assert!(ulps(ours.re, theirs.re) <= 1 && ulps(ours.eps, theirs.eps) <= 2);
            assert_eq!(ours.eps, 1.7 * ours.re);
            let (ours, theirs) = (exp_m1_dual(d), d.exp_m1());
            assert!(ulps(ours.re, theirs.re) <= 1 && ulps(ours.eps, theirs.eps) <= 2);
            assert_eq!(ours.eps, 1.7 * exp(x));
        }
    }

    #[test]
    fn the_nonpositive_exponentials_and_the_block_give_the_general_bits() {
        // For x ≤ 0 or NaN the upper clamp and the k > 53 branch of exp_m1_and_exp never act,
        // and for x ≥ −708 the two factors of 2ᵏ multiply exactly, so the one-factor version
        // changes no bit of eˣ − 1 and none of eˣ above −708; the block version is the same
        // arithmetic per element.
        let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
        let mut xs: Vec<f64> = vec![
            -0.0,
            0.0,
            -5e-324,
            -1e-300,
            -1e-8,
            -707.99,
            -708.0,
            -708.01,
            -708.4,
            -745.2,
            -746.0,
            -800.0,
            f64::NEG_INFINITY,
            f64::NAN,
        ];
        xs.extend((0..40_000).map(|i| -0.02 * i as f64));
        let n_blocks = xs.len() / BLOCK;
        for b in 0..n_blocks {
            let x: [f64; BLOCK] = xs[b * BLOCK..(b + 1) * BLOCK].try_into().unwrap();
            let (mut m, mut e) = ([0.0; BLOCK], [0.0; BLOCK]);
            exp_m1_and_exp_nonpositive_block(&x, &mut m, &mut e);
            for i in 0..BLOCK {
                let (gm, ge) = exp_m1_and_exp(x[i]);
                // eˣ is flushed to 0 below −708, where libm's is under 3.3e-308
                let ge = if x[i] < NONPOSITIVE_MIN {
                    assert!(ge < 3.3e-308, "at {}", x[i]);
                    0.0
                } else {
                    ge
                };
                let (pm, pe) = exp_m1_and_exp_nonpositive(x[i]);
                assert!(same(pm, gm) && same(pe, ge), "at {}", x[i]);
                let want = if x[i] < NONPOSITIVE_MIN {
                    0.0
                } else {
                    exp(x[i])
                };
                assert!(same(ge, want), "flush at {}", x[i]);
                assert!(same(exp_nonpositive(x[i]), ge), "exp at {}", x[i]);
                assert!(same(m[i], gm) && same(e[i], ge), "block at {}", x[i]);
            }
        }
    }
}
