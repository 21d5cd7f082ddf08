//! Network activations and elementwise functions, generic, plus f64 value-and-derivative kernels.
//!
//! Each activation is one generic formula. The slice kernels (`tanh_with_grad`, …) evaluate that
//! same formula on `Dual64` seeded with derivative 1, so a layer gets its values and elementwise
//! derivatives in one pass and the derivatives still come from num-dual.
//!
//! References: [AS64] Abramowitz & Stegun 4.5.64 (tanh series); [HG16] Hendrycks & Gimpel,
//! "Gaussian Error Linear Units (GELUs)", 2016 (GELU = x·Φ(x), PyTorch's default exact form);
//! [CUH16] Clevert, Unterthiner & Hochreiter, "Fast and Accurate Deep Network Learning by
//! Exponential Linear Units (ELUs)", ICLR 2016; [RZL17] Ramachandran, Zoph & Le, "Searching for
//! Activation Functions", 2017 (swish).

use std::f64::consts::FRAC_1_SQRT_2;

use num_dual::Dual64;

use super::kernel;
use super::special::{erfc, log1p_exp, log1p_exp_with};
use super::Real;

/// x.
#[inline]
pub fn identity<D: Real>(x: D) -> D {
    x
}

/// tanh(x) = sign(x)·(−m)/(2 + m) with m = e^(−2|x|) − 1 ∈ (−1, 0], as fdlibm's `s_tanh.c`
/// computes it for |x| < 1 ([AS64] 4.5.5 rearranged): one `exp_m1`, nothing overflows
/// (tanh(±400) = ±1 with derivative 0), and no cancellation near 0, where m ≈ −2|x| is still
/// accurate to the last bit (tanh(1e-300) = 1e-300).
#[inline]
pub fn tanh<D: Real>(x: D) -> D {
    tanh_with(x, |y| y.exp_m1())
}

/// The formula of [`tanh`] with the `exp_m1` it uses given: `exp_m1(y) = eʸ − 1` with its
/// derivative eʸ. [`tanh`] passes num-dual's (libm's) `exp_m1`; the buffer kernels
/// ([`tanh_in_place`], [`tanh_with_grad`]) pass the vectorizable [`kernel::exp_m1_nonpositive`]
/// and [`kernel::exp_m1_nonpositive_dual`] (`kernel::exp_m1`'s bits for the y = −2|x| ≤ 0 that
/// tanh gives them, except that for |x| > 354 the derivative, below 1.3e-307 there, is flushed
/// to 0), so the kernels run this very formula, on `Dual64` for the derivative, with only the
/// rounding of eʸ − 1 changed.
///
/// Branch-free on purpose: the sign is a select, so a loop over a buffer vectorizes.
#[inline(always)]
pub fn tanh_with<D: Real>(x: D, exp_m1: impl Fn(D) -> D) -> D {
    // |x| by hand rather than `abs`, so that at x = ±0 the derivative is +1 from either side.
    let negative = x < 0.0;
    let a = if negative { -x } else { x };
    let m = exp_m1(a * -2.0);
    // × reciprocal, as num-dual divides, so f64 and Dual64 values agree to the bit.
    let t = -m * (m + 2.0).recip();
    if negative {
        -t
    } else {
        t
    }
}

/// max(x, 0); the derivative at 0 is taken as 0.
#[inline]
pub fn relu<D: Real>(x: D) -> D {
    if x > 0.0 {
        x
    } else {
        D::from(0.0)
    }
}

/// σ(x) = 1/(1 + e⁻ˣ), evaluated as eˣ/(1 + eˣ) for x < 0 so neither side overflows.
#[inline]
pub fn sigmoid<D: Real>(x: D) -> D {
    sigmoid_with(x, |y| y.exp())
}

/// The formula of [`sigmoid`] with the `exp` it uses given, as [`tanh_with`] takes its
/// `exp_m1`: with e = e^(−|x|) ∈ (0, 1] and s = 1/(1 + e) = σ(|x|), σ(x) = s for x ≥ 0 and
/// e·s = σ(−|x|) for x < 0. Nothing overflows, σ(−30) keeps full relative precision, and the
/// sign is a select, so the buffer kernels ([`sigmoid_in_place`]) vectorize with
/// [`kernel::exp`]; written with a branch, the sign of a hidden layer's pre-activations
/// mispredicts about half the time.
#[inline(always)]
pub fn sigmoid_with<D: Real>(x: D, exp: impl Fn(D) -> D) -> D {
    let negative = x < 0.0;
    let a = if negative { -x } else { x };
    let e = exp(-a);
    let s = (e + 1.0).recip();
    if negative {
        e * s
    } else {
        s
    }
}

/// softplus(x) = ln(1 + eˣ), see [`log1p_exp`].
#[inline]
pub fn softplus<D: Real>(x: D) -> D {
    log1p_exp(x)
}

/// ELU with α = 1 [CUH16]: x for x > 0, eˣ − 1 otherwise.
#[inline]
pub fn elu<D: Real>(x: D) -> D {
    elu_with(x, |y| y.exp_m1())
}

/// The formula of [`elu`] with the `exp_m1` it uses given. Both sides are computed and one is
/// selected, so a loop over a buffer has no branch; the exponential side sees min(x, 0), so it
/// never overflows where it is not used.
#[inline(always)]
pub fn elu_with<D: Real>(x: D, exp_m1: impl Fn(D) -> D) -> D {
    let positive = x > 0.0;
    let m = exp_m1(if positive { D::from(0.0) } else { x });
    if positive {
        x
    } else {
        m
    }
}

/// GELU [HG16], exact form: x·Φ(x) = x·erfc(−x/√2)/2 (PyTorch's `approximate='none'`).
#[inline]
pub fn gelu<D: Real>(x: D) -> D {
    x * erfc(-x * FRAC_1_SQRT_2) * 0.5
}

/// swish (SiLU) [RZL17]: x·σ(x).
#[inline]
pub fn swish<D: Real>(x: D) -> D {
    swish_with(x, |y| y.exp())
}

/// The formula of [`swish`] with the `exp` of its [`sigmoid_with`] given.
#[inline(always)]
pub fn swish_with<D: Real>(x: D, exp: impl Fn(D) -> D) -> D {
    x * sigmoid_with(x, exp)
}

/// eˣ.
#[inline]
pub fn exp<D: Real>(x: D) -> D {
    x.exp()
}

/// ln x.
#[inline]
pub fn log<D: Real>(x: D) -> D {
    x.ln()
}

/// ln(1 + x).
#[inline]
pub fn log1p<D: Real>(x: D) -> D {
    x.ln_1p()
}

/// √x.
#[inline]
pub fn sqrt<D: Real>(x: D) -> D {
    x.sqrt()
}

/// x².
#[inline]
pub fn square<D: Real>(x: D) -> D {
    x * x
}

/// |x|; the derivative at 0 is −1, as num-dual's `abs` takes the negative branch there.
#[inline]
pub fn abs<D: Real>(x: D) -> D {
    x.abs()
}

// ---------------------------------------------------------------------------------------------
// Slice kernels

/// y[i] = f(x[i]) for f64 buffers.
///
/// # Panics
/// If the lengths differ.
#[inline]
pub fn map_value(f: impl Fn(f64) -> f64, x: &[f64], y: &mut [f64]) {
    assert_eq!(x.len(), y.len(), "map_value: buffer lengths differ");
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi = f(xi);
    }
}

/// y[i] = f(x[i]) and dy[i] = f′(x[i]), from `f` evaluated on `Dual64::new(x[i], 1)`.
///
/// The loop body has no bounds checks and no early exits, so branch-free formulas (relu,
/// square, abs) vectorize; formulas that call `exp` run at the speed of the scalar libm call.
///
/// # Panics
/// If the lengths differ.
#[inline]
pub fn map_with_grad(f: impl Fn(Dual64) -> Dual64, x: &[f64], y: &mut [f64], dy: &mut [f64]) {
    assert_eq!(x.len(), y.len(), "map_with_grad: buffer lengths differ");
    assert_eq!(x.len(), dy.len(), "map_with_grad: buffer lengths differ");
    for ((yi, dyi), &xi) in y.iter_mut().zip(dy.iter_mut()).zip(x) {
        let d = f(Dual64::new(xi, 1.0));
        *yi = d.re;
        *dyi = d.eps;
    }
}

kernel::widest! {
    /// y = tanh(x) elementwise, values only: [`tanh_with`] with the vectorizable
    /// [`kernel::exp_m1_nonpositive`], within 4 ulp of libm's tanh.
    pub fn tanh_value(x: &[f64], y: &mut [f64]) {
        map_value(|v| tanh_with(v, kernel::exp_m1_nonpositive), x, y);
    }
}

kernel::widest! {
    /// z ← tanh(z) in place, as [`tanh_value`].
    pub fn tanh_in_place(z: &mut [f64]) {
        let mut blocks = z.chunks_exact_mut(kernel::BLOCK);
        for block in &mut blocks {
            tanh_block(block.try_into().expect("internal: chunks_exact gives whole blocks"));
        }
        for v in blocks.into_remainder() {
            *v = tanh_with(*v, kernel::exp_m1_nonpositive);
        }
    }
}

kernel::widest! {
    /// y = tanh(x), dy = tanh′(x) elementwise: [`tanh_with`] on `Dual64::new(x, 1)` with
    /// [`kernel::exp_m1_nonpositive_dual`] (num-dual's chain rule for `exp_m1`), so dy is what num-dual
    /// computes for the generic formula; mathematically dy = 1 − y², computed without that
    /// formula's cancellation at large |x|.
    pub fn tanh_with_grad(x: &[f64], y: &mut [f64], dy: &mut [f64]) {
        map_with_grad(|v| tanh_with(v, kernel::exp_m1_nonpositive_dual), x, y, dy);
    }
}

kernel::widest! {
    /// z ← tanh(z) in place and dz = tanh′(z), as [`tanh_with_grad`].
    pub fn tanh_in_place_with_grad(z: &mut [f64], dz: &mut [f64]) {
        assert_eq!(z.len(), dz.len(), "tanh_in_place_with_grad: buffer lengths differ");
        let mut blocks = z.chunks_exact_mut(kernel::BLOCK);
        let mut dblocks = dz.chunks_exact_mut(kernel::BLOCK);
        for (block, dblock) in (&mut blocks).zip(&mut dblocks) {
            tanh_block_with_grad(
                block.try_into().expect("internal: chunks_exact gives whole blocks"),
                dblock.try_into().expect("internal: chunks_exact gives whole blocks"),
            );
        }
        let (z, dz) = (blocks.into_remainder(), dblocks.into_remainder());
        for (v, d) in z.iter_mut().zip(dz.iter_mut()) {
            let y = tanh_with(Dual64::new(*v, 1.0), kernel::exp_m1_nonpositive_dual);
            *v = y.re;
            *d = y.eps;
        }
    }
}

/// The first steps of [`tanh_with`] on a block: (e^y − 1, e^y) at y = −2|z|, by
/// [`kernel::exp_m1_and_exp_nonpositive_block`].
#[inline(always)]
fn exp_m1_and_exp_of_minus_two_abs(
    z: &[f64; kernel::BLOCK],
) -> ([f64; kernel::BLOCK], [f64; kernel::BLOCK]) {
    let mut y = [0.0; kernel::BLOCK];
    for (yi, &v) in y.iter_mut().zip(z.iter()) {
        let a = if v < 0.0 { -v } else { v };
        *yi = a * -2.0;
    }
    let mut m = [0.0; kernel::BLOCK];
    let mut e = [0.0; kernel::BLOCK];
    kernel::exp_m1_and_exp_nonpositive_block(&y, &mut m, &mut e);
    (m, e)
}

/// [`tanh_with`] with [`kernel::exp_m1_nonpositive`] on a block of values, each step applied to
/// the whole block before the next (see [`kernel::exp_m1_and_exp_nonpositive_block`]): the same
/// operations in the same order per element, so the same bits as the element-by-element loop.
#[inline(always)]
fn tanh_block(z: &mut [f64; kernel::BLOCK]) {
    let (m, _) = exp_m1_and_exp_of_minus_two_abs(z);
    for (v, &mi) in z.iter_mut().zip(m.iter()) {
        let t = -mi * (mi + 2.0).recip();
        *v = if *v < 0.0 { -t } else { t };
    }
}

/// [`tanh_with`] on `Dual64::new(x, 1)` with [`kernel::exp_m1_nonpositive_dual`] on a block,
/// num-dual's rules written out step by step across the block (negation, `× −2`, `exp_m1`,
/// `recip` and the product rule, each as num-dual orders its operations), so the same bits as
/// the element-by-element loop.
///
/// One shortcut, exact: for x < 0 the formula negates the seed (ε = −1) and, at the end, the
/// derivative; every operation on ε between the two is a product or a sum of products with one
/// ε factor, which IEEE arithmetic negates exactly, so the two negations cancel bit for bit and
/// the derivative is computed with the seed of x ≥ 0 (ε of −2|x| is −2) for every x.
#[inline(always)]
fn tanh_block_with_grad(z: &mut [f64; kernel::BLOCK], dz: &mut [f64; kernel::BLOCK]) {
    let (m, e) = exp_m1_and_exp_of_minus_two_abs(z);
    for i in 0..kernel::BLOCK {
        let m_eps = -2.0 * e[i];
        let rec = (m[i] + 2.0).recip();
        let rec_eps = m_eps * (-rec * rec);
        let (n, n_eps) = (-m[i], -m_eps);
        let t = n * rec;
        dz[i] = n_eps * rec + rec_eps * n;
        z[i] = if z[i] < 0.0 { -t } else { t };
    }
}

kernel::widest! {
    /// z ← relu(z) in place, values only: [`relu`] at f64, a compare-and-select the compiler
    /// vectorizes. Calling [`relu`] element by element compiles to a branch, mispredicted about
    /// half the time on a hidden layer's pre-activations; that doubled a ReLU network's
    /// log-density.
    pub fn relu_in_place(z: &mut [f64]) {
        for v in z {
            *v = relu(*v);
        }
    }
}

kernel::widest! {
    /// z ← relu(z) in place and dz = relu′(z) (1 for z > 0, else 0): [`relu`] on
    /// `Dual64::new(z, 1)`, as `activate_with_grad` computes it for every other activation,
    /// written so it compiles to selects rather than a mispredicted branch.
    pub fn relu_in_place_with_grad(z: &mut [f64], dz: &mut [f64]) {
        assert_eq!(z.len(), dz.len(), "relu_in_place_with_grad: buffer lengths differ");
        for (v, d) in z.iter_mut().zip(dz.iter_mut()) {
            let y = relu(Dual64::new(*v, 1.0));
            *v = y.re;
            *d = y.eps;
        }
    }
}

// The formulas the buffer kernels run, as named functions marked `inline(always)` and called
// directly in the kernels' loops: passed to a generic loop as closures or as fn items (through
// `Fn::call`), LLVM left softplus on Dual64 as a call per element outside the vectorized loop,
// 7× slower. Each formula only exponentiates −|x| (or min(x, 0) for ELU), so they take the
// nonpositive exponentials, which have the general ones' bits down to −708 and flush below.

#[inline(always)]
fn sigmoid_kernel(x: f64) -> f64 {
    sigmoid_with(x, kernel::exp_nonpositive)
}

#[inline(always)]
fn sigmoid_kernel_dual(x: Dual64) -> Dual64 {
    sigmoid_with(x, kernel::exp_nonpositive_dual)
}

#[inline(always)]
fn swish_kernel(x: f64) -> f64 {
    swish_with(x, kernel::exp_nonpositive)
}

#[inline(always)]
fn swish_kernel_dual(x: Dual64) -> Dual64 {
    swish_with(x, kernel::exp_nonpositive_dual)
}

#[inline(always)]
fn elu_kernel(x: f64) -> f64 {
    elu_with(x, kernel::exp_m1_nonpositive)
}

#[inline(always)]
fn elu_kernel_dual(x: Dual64) -> Dual64 {
    elu_with(x, kernel::exp_m1_nonpositive_dual)
}

#[inline(always)]
fn softplus_kernel(x: f64) -> f64 {
    log1p_exp_with(x, kernel::exp_nonpositive, kernel::ln_1p_unit)
}

#[inline(always)]
fn softplus_kernel_dual(x: Dual64) -> Dual64 {
    log1p_exp_with(x, kernel::exp_nonpositive_dual, kernel::ln_1p_unit_dual)
}

/// Defines the pair of widest buffer kernels for one activation: `$value(z)` sets z ← f(z)
/// with the f64 formula `$f`, `$with_grad(z, dz)` sets z ← f(z) and dz = f′(z) from the
/// Dual64 formula `$fd` on `Dual64::new(z, 1)`.
macro_rules! in_place_kernels {
    ($(#[$vdoc:meta])* $value:ident, $f:ident; $(#[$gdoc:meta])* $with_grad:ident, $fd:ident) => {
        kernel::widest! {
            $(#[$vdoc])*
            pub fn $value(z: &mut [f64]) {
                for v in z {
                    *v = $f(*v);
                }
            }
        }

        kernel::widest! {
            $(#[$gdoc])*
            pub fn $with_grad(z: &mut [f64], dz: &mut [f64]) {
                assert_eq!(z.len(), dz.len(), "{}: buffer lengths differ", stringify!($with_grad));
                for (v, d) in z.iter_mut().zip(dz.iter_mut()) {
                    let y = $fd(Dual64::new(*v, 1.0));
                    *v = y.re;
                    *d = y.eps;
                }
            }
        }
    };
}

in_place_kernels! {
    /// z ← σ(z) in place: [`sigmoid_with`] with the vectorizable [`kernel::exp_nonpositive`].
    sigmoid_in_place, sigmoid_kernel;
    /// z ← σ(z) in place and dz = σ′(z): [`sigmoid_with`] on `Dual64::new(z, 1)` with
    /// [`kernel::exp_nonpositive_dual`], so dz is num-dual's derivative of the generic formula.
    sigmoid_in_place_with_grad, sigmoid_kernel_dual
}

in_place_kernels! {
    /// z ← swish(z) in place: [`swish_with`] with [`kernel::exp_nonpositive`].
    swish_in_place, swish_kernel;
    /// z ← swish(z) in place and dz = swish′(z): [`swish_with`] on `Dual64` with
    /// [`kernel::exp_nonpositive_dual`].
    swish_in_place_with_grad, swish_kernel_dual
}

in_place_kernels! {
    /// z ← softplus(z) in place: [`log1p_exp_with`] with [`kernel::exp_nonpositive`] and
    /// [`kernel::ln_1p_unit`].
    softplus_in_place, softplus_kernel;
    /// z ← softplus(z) in place and dz = softplus′(z) = σ(z): [`log1p_exp_with`] on `Dual64`
    /// with [`kernel::exp_nonpositive_dual`] and [`kernel::ln_1p_unit_dual`].
    softplus_in_place_with_grad, softplus_kernel_dual
}

in_place_kernels! {
    /// z ← elu(z) in place: [`elu_with`] with [`kernel::exp_m1_nonpositive`].
    elu_in_place, elu_kernel;
    /// z ← elu(z) in place and dz = elu′(z): [`elu_with`] on `Dual64` with
    /// [`kernel::exp_m1_nonpositive_dual`].
    elu_in_place_with_grad, elu_kernel_dual
}

/// y = x, dy = 1, elementwise.
pub fn identity_with_grad(x: &[f64], y: &mut [f64], dy: &mut [f64]) {
    map_with_grad(identity, x, y, dy);
}

/// y = relu(x), dy = 1 for x > 0 else 0, elementwise.
pub fn relu_with_grad(x: &[f64], y: &mut [f64], dy: &mut [f64]) {
    map_with_grad(relu, x, y, dy);
}

/// y = σ(x), dy = σ(x)(1 − σ(x)), elementwise.
pub fn sigmoid_with_grad(x: &[f64], y: &mut [f64], dy: &mut [f64]) {
    map_with_grad(sigmoid, x, y, dy);
}

/// y = softplus(x), dy = σ(x), elementwise.
pub fn softplus_with_grad(x: &[f64], y: &mut [f64], dy: &mut [f64]) {
    map_with_grad(softplus, x, y, dy);
}

/// y = elu(x), dy = 1 for x > 0 else eˣ, elementwise.
pub fn elu_with_grad(x: &[f64], y: &mut [f64], dy: &mut [f64]) {
    map_with_grad(elu, x, y, dy);
}

/// y = x·Φ(x), dy = Φ(x) + x·φ(x), elementwise.
pub fn gelu_with_grad(x: &[f64], y: &mut [f64], dy: &mut [f64]) {
    map_with_grad(gelu, x, y, dy);
}

/// y = x·σ(x), dy = σ(x) + x·σ(x)(1 − σ(x)), elementwise.
pub fn swish_with_grad(x: &[f64], y: &mut [f64], dy: &mut [f64]) {
    map_with_grad(swish, x, y, dy);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::testutil::{assert_close, assert_deriv_matches_fd, derivative};

    const POINTS: [f64; 15] = [
        -30.0, -5.0, -1.3, -0.5, -0.03, -1e-3, 0.0, 1e-4, 0.02, 0.0313, 0.4, 1.0, 2.7, 8.0, 30.0,
    ];

    #[test]
    fn tanh_matches_std() {
        // std's tanh (libm) as reference: a few ulp apart everywhere, and exact far into the
        // small arguments, where m = e^(−2|x|) − 1 ≈ −2|x| loses nothing.
        let mut x = -25.0;
        while x < 25.0 {
            assert_close(tanh(x), x.tanh(), 4e-16);
            x += 0.001_37;
        }
        for x in [1e-300, 1e-10, 0.031_249, 0.031_25, -0.031_251] {
            assert_close(tanh(x), x.tanh(), 4e-16);
        }
        assert_eq!(tanh(0.0), 0.0);
        // tanh′(0) = 1 from either zero
        assert_eq!(derivative(tanh, 0.0), 1.0);
        assert_eq!(derivative(tanh, -0.0), 1.0);
    }

    /// Distance in units in the last place between two f64 of the same sign.
    fn ulps(a: f64, b: f64) -> u64 {
        if a == b {
            return 0;
        }
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    #[test]
    fn relu_kernel_runs_the_generic_formula() {
        // Bit for bit with relu on f64, NaN and signed zeros included (NaN > 0 is false: 0).
        let xs = [
            -3.0,
            -0.0,
            0.0,
            1e-300,
            -1e-300,
            2.5,
            f64::NAN,
            f64::INFINITY,
            -f64::INFINITY,
        ];
        let mut z: Vec<f64> = (0..37).map(|i| xs[i % xs.len()] * (1 + i) as f64).collect();
        let want: Vec<u64> = z.iter().map(|&v| relu(v).to_bits()).collect();
        relu_in_place(&mut z);
        let got: Vec<u64> = z.iter().map(|v| v.to_bits()).collect();
        assert_eq!(got, want);
        assert_eq!(relu(f64::NAN), 0.0);
        // The kernel with derivatives: num-dual's relu on Dual64::new(x, 1), bit for bit.
        let mut zg: Vec<f64> = (0..37).map(|i| xs[i % xs.len()] * (1 + i) as f64).collect();
        let want: Vec<(u64, u64)> = zg
            .iter()
            .map(|&v| {
                let y = relu(Dual64::new(v, 1.0));
                (y.re.to_bits(), y.eps.to_bits())
            })
            .collect();
        let mut dz = vec![0.0; zg.len()];
        relu_in_place_with_grad(&mut zg, &mut dz);
        let got: Vec<(u64, u64)> = zg
            .iter()
            .zip(&dz)
            .map(|(v, d)| (v.to_bits(), d.to_bits()))
            .collect();
        assert_eq!(got, want);
        // relu′ = 1 above 0, 0 at and below 0.
        assert_eq!(dz[5], 1.0);
        assert_eq!(dz[0], 0.0);
    }

    #[test]
    fn tanh_kernels_run_the_generic_formula() {
        // The kernels are tanh_with on Dual64 with the kernel's exp_m1: bit for bit. The special
        // points come first and last, so they go through the block code (`kernel::BLOCK` values
        // at a time) and through the remainder loop (the last 20,019 mod 32 = 19 values).
        let mut xs: Vec<f64> = vec![
            1e-300, -1e-300, 5e-324, 1e-8, -3e-5, 400.0, -400.0, 1e300, -1e300,
        ];
        xs.extend((0..20_001).map(|i| -25.0 + 0.0025 * i as f64));
        xs.extend_from_within(..9);
        let n = xs.len();
        let (mut y, mut dy, mut v) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        tanh_with_grad(&xs, &mut y, &mut dy);
        tanh_value(&xs, &mut v);
        let (mut z, mut dz) = (xs.clone(), vec![0.0; n]);
        tanh_in_place_with_grad(&mut z, &mut dz);
        let mut w = xs.clone();
        tanh_in_place(&mut w);
        let (mut worst_value, mut worst_deriv, mut worst_one_minus) = (0, 0.0f64, 0.0f64);
        for i in 0..n {
            let x = xs[i];
            let d = tanh_with(Dual64::new(x, 1.0), kernel::exp_m1_dual);
            assert_eq!((y[i], dy[i]), (d.re, d.eps), "at {x}");
            assert_eq!((z[i], dz[i]), (d.re, d.eps), "at {x}");
            // the value-only kernels: the same arithmetic on f64 instead of Dual64's re
            assert_eq!(v[i], y[i], "at {x}");
            assert_eq!(w[i], y[i], "at {x}");
            // against the generic formula with libm's exp_m1, and against libm's tanh
            let generic = tanh(Dual64::new(x, 1.0));
            let u = ulps(y[i], generic.re).max(ulps(y[i], x.tanh()));
            assert!(u <= 4, "tanh({x}) = {}, libm {} ({u} ulp)", y[i], x.tanh());
            worst_value = worst_value.max(u);
            // tanh′ = 1 − tanh², to the rounding of the formula (relative, it is computed
            // without 1 − y²'s cancellation)
            let rel = (dy[i] - generic.eps).abs() / generic.eps.max(f64::MIN_POSITIVE);
            assert!(rel <= 1e-15, "tanh′({x}) = {} vs {}", dy[i], generic.eps);
            // and 1 − y² itself agrees to its own rounding (absolute: it cancels near |y| = 1)
            let one_minus = (dy[i] - (1.0 - y[i] * y[i])).abs();
            assert!(one_minus <= 4.0 * f64::EPSILON, "at {x}: {one_minus:e}");
            worst_deriv = worst_deriv.max(rel);
            worst_one_minus = worst_one_minus.max(one_minus);
        }
        eprintln!(
            "tanh kernel: worst {worst_value} ulp, derivative {worst_deriv:e} relative, \
             {worst_one_minus:e} from 1 − y²"
        );
        // past |x| = 354 the kernels flush the derivative (4e^(−2|x|) < 1.3e-307) to 0; the
        // value is ±1 either way
        let mut far = vec![354.5, -360.0, 372.0, 380.0];
        far.resize(kernel::BLOCK + 4, 365.0);
        let mut dfar = vec![0.0; far.len()];
        let xs_far = far.clone();
        tanh_in_place_with_grad(&mut far, &mut dfar);
        for ((x, y), dy) in xs_far.iter().zip(&far).zip(&dfar) {
            let d = tanh_with(Dual64::new(*x, 1.0), kernel::exp_m1_dual);
            assert_eq!((*y, *dy), (d.re, 0.0), "at {x}");
            assert!(d.re.abs() == 1.0 && d.eps < 1.3e-307, "at {x}: {}", d.eps);
        }
        // extremes: saturation without NaN, and NaN propagated; twice over, in a whole block
        // and in the remainder after it
        let extremes = [f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 800.0, -800.0];
        let cycled = || extremes.iter().copied().cycle().take(kernel::BLOCK + 10);
        let mut e: Vec<f64> = cycled().collect();
        let mut de = vec![0.0; e.len()];
        tanh_in_place_with_grad(&mut e, &mut de);
        let mut w: Vec<f64> = cycled().collect();
        tanh_in_place(&mut w);
        // the first copy starts the first block; the one after it lies in the remainder
        for at in [0, kernel::BLOCK.next_multiple_of(5)] {
            let (e, de, w) = (&e[at..at + 5], &de[at..at + 5], &w[at..at + 5]);
            assert_eq!(&e[..2], &[1.0, -1.0], "from {at}");
            assert_eq!(&de[..2], &[0.0, 0.0], "from {at}");
            assert!(
                e[2].is_nan() && de[2].is_nan() && w[2].is_nan(),
                "from {at}"
            );
            assert_eq!(
                (e[3], e[4], de[3], de[4]),
                (1.0, -1.0, 0.0, 0.0),
                "from {at}"
            );
            assert_eq!(
                (w[0], w[1], w[3], w[4]),
                (1.0, -1.0, 1.0, -1.0),
                "from {at}"
            );
        }
    }

    /// xs for the kernel tests: a fine grid over [−40, 40], tiny and huge magnitudes, the
    /// signed zeros.
    fn kernel_points() -> Vec<f64> {
        let mut xs: Vec<f64> = (0..32_001).map(|i| -40.0 + 0.0025 * i as f64).collect();
        xs.extend([
            0.0, -0.0, 1e-300, -1e-300, 5e-324, 1e-8, -3e-5, 700.0, -700.0, 1e300, -1e300,
        ]);
        xs
    }

    /// Runs a value kernel and a value-and-derivative kernel (both in place) over `xs`.
    fn run_kernels(
        xs: &[f64],
        value: fn(&mut [f64]),
        with_grad: fn(&mut [f64], &mut [f64]),
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let mut v = xs.to_vec();
        value(&mut v);
        let (mut y, mut dy) = (xs.to_vec(), vec![0.0; xs.len()]);
        with_grad(&mut y, &mut dy);
        (v, y, dy)
    }

    #[test]
    fn sigmoid_swish_softplus_and_elu_kernels_run_the_generic_formulas() {
        // Each kernel is its `_with` formula on Dual64 with the kernel's exp (or exp_m1), bit
        // for bit, at every vector width the CPU picks; the value-only kernel is the same
        // arithmetic on f64. Against the same formula with libm's exp, values are a few ulp
        // apart (kernel::exp is within 1 ulp of libm, exp_m1 within 2), derivatives too.
        let xs = kernel_points();
        let (v, y, dy) = run_kernels(&xs, sigmoid_in_place, sigmoid_in_place_with_grad);
        let mut worst = (0, 0.0f64);
        for i in 0..xs.len() {
            let x = xs[i];
            let d = sigmoid_with(Dual64::new(x, 1.0), kernel::exp_dual);
            assert_eq!((y[i], dy[i]), (d.re, d.eps), "sigmoid at {x}");
            assert_eq!(v[i], y[i], "sigmoid at {x}");
            let g = sigmoid(Dual64::new(x, 1.0));
            let u = ulps(y[i], g.re);
            assert!(u <= 4, "σ({x}) = {} vs libm-based {} ({u} ulp)", y[i], g.re);
            // σ′ = e·s² > 0 with no cancellation: relative
            let rel = (dy[i] - g.eps).abs() / g.eps.max(f64::MIN_POSITIVE);
            assert!(rel <= 1e-15, "σ′({x}) = {} vs {}", dy[i], g.eps);
            worst = (worst.0.max(u), worst.1.max(rel));
        }
        eprintln!(
            "sigmoid kernel: worst {} ulp, derivative {:e} relative",
            worst.0, worst.1
        );

        let (v, y, dy) = run_kernels(&xs, swish_in_place, swish_in_place_with_grad);
        let mut worst = (0, 0.0f64);
        for i in 0..xs.len() {
            let x = xs[i];
            let d = swish_with(Dual64::new(x, 1.0), kernel::exp_dual);
            assert_eq!((y[i], dy[i]), (d.re, d.eps), "swish at {x}");
            assert_eq!(v[i], y[i], "swish at {x}");
            let g = swish(Dual64::new(x, 1.0));
            let u = ulps(y[i], g.re);
            assert!(
                u <= 6,
                "swish({x}) = {} vs libm-based {} ({u} ulp)",
                y[i],
                g.re
            );
            // swish′ = σ + x·σ′ cancels near x = −1.278 (where it is 0): bound the error by
            // the size of its two terms, |σ| + |x·σ′|.
            let sig = sigmoid(Dual64::new(x, 1.0));
            let scale = sig.re + (x * sig.eps).abs();
            let err = (dy[i] - g.eps).abs();
            assert!(
                err <= 8.0 * f64::EPSILON * scale,
                "swish′({x}) = {} vs {}",
                dy[i],
                g.eps
            );
            worst = (
                worst.0.max(u),
                worst.1.max(err / scale.max(f64::MIN_POSITIVE)),
            );
        }
        eprintln!(
            "swish kernel: worst {} ulp, derivative {:e} of scale",
            worst.0, worst.1
        );

        let (v, y, dy) = run_kernels(&xs, elu_in_place, elu_in_place_with_grad);
        for i in 0..xs.len() {
            let x = xs[i];
            let d = elu_with(Dual64::new(x, 1.0), kernel::exp_m1_dual);
            assert_eq!((y[i], dy[i]), (d.re, d.eps), "elu at {x}");
            assert_eq!(v[i], y[i], "elu at {x}");
            let g = elu(Dual64::new(x, 1.0));
            assert!(ulps(y[i], g.re) <= 2, "elu({x}) = {} vs {}", y[i], g.re);
            assert!(
                ulps(dy[i], g.eps) <= 2,
                "elu′({x}) = {} vs {}",
                dy[i],
                g.eps
            );
        }

        let (v, y, dy) = run_kernels(&xs, softplus_in_place, softplus_in_place_with_grad);
        let mut worst = (0, 0.0f64);
        for i in 0..xs.len() {
            let x = xs[i];
            let d = log1p_exp_with(
                Dual64::new(x, 1.0),
                kernel::exp_dual,
                kernel::ln_1p_unit_dual,
            );
            assert_eq!((y[i], dy[i]), (d.re, d.eps), "softplus at {x}");
            assert_eq!(v[i], y[i], "softplus at {x}");
            // against the libm formula; softplus > 0 and σ > 0, so both relative
            let g = softplus(Dual64::new(x, 1.0));
            // log1p_exp's select form is the branch form x + ln(1 + e⁻ˣ) for x > 0 and
            // ln(1 + eˣ) otherwise, bit for bit, derivative included
            use num_dual::DualNum;
            let dx = Dual64::new(x, 1.0);
            let h = if x > 0.0 {
                dx + (-dx).exp().ln_1p()
            } else {
                dx.exp().ln_1p()
            };
            assert_eq!((g.re, g.eps), (h.re, h.eps), "select vs branch form at {x}");
            let u = ulps(y[i], g.re);
            assert!(
                u <= 4,
                "softplus({x}) = {} vs libm-based {} ({u} ulp)",
                y[i],
                g.re
            );
            let rel = (dy[i] - g.eps).abs() / g.eps.max(f64::MIN_POSITIVE);
            assert!(rel <= 1e-15, "softplus′({x}) = {} vs {}", dy[i], g.eps);
            worst = (worst.0.max(u), worst.1.max(rel));
        }
        eprintln!(
            "softplus kernel: worst {} ulp, derivative {:e} relative",
            worst.0, worst.1
        );
        let mut e = [800.0, -800.0, 0.0, f64::NAN];
        let mut de = [0.0; 4];
        softplus_in_place_with_grad(&mut e, &mut de);
        // softplus(800) = 800, softplus(−800) = ln(1 + e⁻⁸⁰⁰) = 0; ln 2 and σ(0) = 1/2 at 0
        assert_eq!((e[0], de[0], e[1], de[1]), (800.0, 1.0, 0.0, 0.0));
        assert_eq!((e[2], de[2]), (std::f64::consts::LN_2, 0.5));
        assert!(e[3].is_nan() && de[3].is_nan());

        // Extremes: saturation without NaN, NaN propagated, elu′(0) = e⁰ = 1 from the left
        // formula (as the generic elu takes x > 0 for the right one).
        let mut e = [
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            800.0,
            -800.0,
            0.0,
        ];
        let mut de = [0.0; 6];
        sigmoid_in_place_with_grad(&mut e, &mut de);
        assert_eq!((e[0], e[1], e[3], e[4]), (1.0, 0.0, 1.0, 0.0));
        assert_eq!((de[0], de[1], de[3], de[4]), (0.0, 0.0, 0.0, 0.0));
        assert!(e[2].is_nan() && de[2].is_nan());
        // σ(0) = 1/2, σ′(0) = 1/4
        assert_eq!((e[5], de[5]), (0.5, 0.25));
        let mut e = [f64::INFINITY, f64::NAN, 800.0, -800.0, 0.0, -0.0];
        let mut de = [0.0; 6];
        elu_in_place_with_grad(&mut e, &mut de);
        assert_eq!((e[0], e[2], e[3], e[4]), (f64::INFINITY, 800.0, -1.0, 0.0));
        assert_eq!(
            (de[0], de[2], de[3], de[4], de[5]),
            (1.0, 1.0, 0.0, 1.0, 1.0)
        );
        assert!(e[1].is_nan() && de[1].is_nan());
        // swish(−800) = −800·σ(−800) = −800·0 = −0, no NaN from ∞·0
        let mut e = [800.0, -800.0, -1e300];
        let mut de = [0.0; 3];
        swish_in_place_with_grad(&mut e, &mut de);
        assert_eq!((e[0], de[0]), (800.0, 1.0));
        assert!(
            e[1] == 0.0 && de[1] == 0.0 && e[2] == 0.0 && de[2] == 0.0,
            "{e:?} {de:?}"
        );
    }

    #[test]
    fn tanh_is_stable_for_large_arguments() {
        // e = exp(−800) = 0, so tanh = (1 − 0)/(1 + 0) = 1 exactly, derivative 0 (not NaN)
        assert_eq!(tanh(400.0), 1.0);
        assert_eq!(tanh(-400.0), -1.0);
        assert_eq!(derivative(tanh, 400.0), 0.0);
        assert_eq!(derivative(tanh, -400.0), 0.0);
        assert_eq!(tanh(f64::INFINITY), 1.0);
        // d/dx tanh = 1 − tanh² = 0.4199743416140261 at x = 1
        assert_close(derivative(tanh, 1.0), 0.419_974_341_614_026_1, 1e-15);
    }

    #[test]
    fn sigmoid_is_stable_for_large_arguments() {
        // σ(−800) = e^−800/(1 + e^−800) underflows to 0, without NaN
        assert_eq!(sigmoid(-800.0), 0.0);
        assert_eq!(sigmoid(800.0), 1.0);
        assert_eq!(derivative(sigmoid, -800.0), 0.0);
        assert_eq!(derivative(sigmoid, 800.0), 0.0);
        // σ(−30) = 9.357622968839299e-14, kept to full relative precision
        assert_close(sigmoid(-30.0), 9.357_622_968_839_299e-14, 1e-15);
        // softplus(800) = 800, finite
        assert_eq!(softplus(800.0), 800.0);
    }

    #[test]
    fn closed_forms() {
        // gelu(1) = Φ(1) = 0.8413447460685429; gelu(−1) = −Φ(−1) = −0.15865525393145705
        assert_close(gelu(1.0), 0.841_344_746_068_542_9, 1e-15);
        assert_close(gelu(-1.0), -0.158_655_253_931_457_05, 1e-15);
        // gelu′(x) = Φ(x) + x φ(x) = 0.8413447 + 0.2419707 = 1.0833154705876864 at x = 1
        assert_close(derivative(gelu, 1.0), 1.083_315_470_587_686_4, 1e-15);
        // swish(1) = σ(1) = 0.7310585786300049
        assert_close(swish(1.0), 0.731_058_578_630_004_9, 1e-15);
        // elu(−1) = e^−1 − 1 = −0.6321205588285577
        assert_close(elu(-1.0), -0.632_120_558_828_557_7, 1e-15);
        assert_eq!((relu(-2.0), relu(3.0)), (0.0, 3.0));
        assert_eq!((derivative(relu, -2.0), derivative(relu, 3.0)), (0.0, 1.0));
        assert_eq!(square(-3.0), 9.0);
        assert_eq!(abs(-3.0), 3.0);
        assert_eq!((gelu(-40.0), derivative(gelu, -40.0)), (0.0, 0.0));
    }

    #[test]
    fn derivatives_match_finite_differences() {
        for x in POINTS {
            assert_deriv_matches_fd!(tanh, x, 1e-7);
            assert_deriv_matches_fd!(sigmoid, x, 1e-7);
            assert_deriv_matches_fd!(softplus, x, 1e-7);
            assert_deriv_matches_fd!(gelu, x, 1e-7);
            assert_deriv_matches_fd!(swish, x, 1e-7);
            assert_deriv_matches_fd!(exp, x, 1e-7);
            assert_deriv_matches_fd!(square, x, 1e-7);
            assert_deriv_matches_fd!(identity, x, 1e-7);
            if x.abs() > 0.01 {
                // kinks at 0: one-sided formulas, so keep the stencil (h = 1e-3) off them
                assert_deriv_matches_fd!(relu, x, 1e-7);
                assert_deriv_matches_fd!(elu, x, 1e-7);
                assert_deriv_matches_fd!(abs, x, 1e-7);
            }
            if x > 0.01 {
                assert_deriv_matches_fd!(log, x, 1e-7);
                assert_deriv_matches_fd!(sqrt, x, 1e-7);
            }
            if x > -0.9 {
                assert_deriv_matches_fd!(log1p, x, 1e-7);
            }
        }
    }

    #[test]
    fn derivatives_are_finite_at_large_arguments() {
        for x in [-1e4, -800.0, 800.0, 1e4] {
            let fs: [fn(Dual64) -> Dual64; 7] = [tanh, sigmoid, softplus, gelu, swish, elu, relu];
            for f in fs {
                let d = derivative(f, x);
                assert!(d.is_finite(), "derivative {d} at {x}");
            }
        }
    }

    #[test]
    fn kernels_agree_with_the_scalar_formula() {
        let x: Vec<f64> = (0..257).map(|i| -12.0 + 0.093 * i as f64).collect();
        let (mut y, mut dy) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        type Kernel = fn(&[f64], &mut [f64], &mut [f64]);
        type Scalar = fn(Dual64) -> Dual64;
        let kernels: [(Kernel, Scalar); 7] = [
            (identity_with_grad, identity),
            (relu_with_grad, relu),
            (sigmoid_with_grad, sigmoid),
            (softplus_with_grad, softplus),
            (elu_with_grad, elu),
            (gelu_with_grad, gelu),
            (swish_with_grad, swish),
        ];
        for (kernel, scalar) in kernels {
            kernel(&x, &mut y, &mut dy);
            for i in 0..x.len() {
                let d = scalar(Dual64::new(x[i], 1.0));
                assert_eq!((y[i], dy[i]), (d.re, d.eps));
            }
        }
    }
}
