//! Test helpers for the numerics: relative error, derivatives on Dual64, 5-point finite differences.

use num_dual::Dual64;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A fixed-seed generator for parameter tuples.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// |got − want| / |want|, or |got| when want is 0; 0 when both are the same infinity.
pub fn rel_err(got: f64, want: f64) -> f64 {
    if got == want {
        0.0
    } else if want == 0.0 {
        got.abs()
    } else {
        ((got - want) / want).abs()
    }
}

/// Asserts `got` is within relative tolerance `rtol` of `want`.
#[track_caller]
pub fn assert_close(got: f64, want: f64, rtol: f64) {
    assert!(
        rel_err(got, want) <= rtol,
        "got {got:e}, want {want:e} (relative error {:e} > {rtol:e})",
        rel_err(got, want)
    );
}

/// f′(x) from a Dual64 seeded with derivative 1.
pub fn derivative(f: impl Fn(Dual64) -> Dual64, x: f64) -> f64 {
    f(Dual64::new(x, 1.0)).eps
}

/// Five-point central difference (−f(x+2h) + 8f(x+h) − 8f(x−h) + f(x−2h)) / 12h, error O(h⁴).
pub fn fd5(f: impl Fn(f64) -> f64, x: f64, h: f64) -> f64 {
    (-f(x + 2.0 * h) + 8.0 * f(x + h) - 8.0 * f(x - h) + f(x - 2.0 * h)) / (12.0 * h)
}

/// Step for [`fd5`]: h⁴ truncation and ε·|f|/h rounding balance near 1e-3 relative to x; the
/// step scales with |x| so the stencil never reaches across 0 (ln, kinks) from a small x.
fn step(x: f64) -> f64 {
    1e-3 * x.abs().max(1e-3)
}

/// Compares the Dual64 derivative of `fd` with a 5-point difference of `f` (the same formula
/// instantiated at f64), to `rtol` relative plus a rounding allowance 1e-13·(1 + |f|)/h.
#[track_caller]
pub fn deriv_vs_fd(f: impl Fn(f64) -> f64, fd: impl Fn(Dual64) -> Dual64, x: f64, rtol: f64) {
    let h = step(x);
    let numeric = fd5(&f, x, h);
    let dual = fd(Dual64::new(x, 1.0));
    // num-dual divides by multiplying with the reciprocal, so values may differ in the last bit.
    assert!(
        rel_err(dual.re, f(x)) <= 4.0 * f64::EPSILON,
        "Dual64 value {} and f64 value {} differ at x = {x}",
        dual.re,
        f(x)
    );
    let allowance = rtol * numeric.abs() + 1e-13 * (1.0 + f(x).abs()) / h;
    assert!(
        (dual.eps - numeric).abs() <= allowance,
        "at x = {x}: dual derivative {:e}, finite difference {numeric:e}",
        dual.eps
    );
}

/// Gradient of a function of a slice, Dual64 (one seed per coordinate) against 5-point
/// differences, each coordinate judged as in [`deriv_vs_fd`].
#[track_caller]
pub fn gradient_vs_fd(
    f: impl Fn(&[f64]) -> f64,
    fd: impl Fn(&[Dual64]) -> Dual64,
    xs: &[f64],
    rtol: f64,
) {
    for i in 0..xs.len() {
        let h = step(xs[i]);
        let along = |t: f64| {
            let mut v = xs.to_vec();
            v[i] = t;
            f(&v)
        };
        let numeric = fd5(along, xs[i], h);
        let seeded: Vec<Dual64> = xs
            .iter()
            .enumerate()
            .map(|(j, &x)| Dual64::new(x, if i == j { 1.0 } else { 0.0 }))
            .collect();
        let dual = fd(&seeded);
        let allowance = rtol * numeric.abs() + 1e-13 * (1.0 + f(xs).abs()) / h;
        assert!(
            (dual.eps - numeric).abs() <= allowance,
            "at {xs:?}, coordinate {i}: dual {:e}, finite difference {numeric:e}",
            dual.eps
        );
    }
}

/// `assert_deriv_matches_fd!(f, x, rtol)`: `f` (a generic fn or a closure expression) is
/// instantiated twice, at f64 and at Dual64, and the derivatives compared by [`deriv_vs_fd`].
macro_rules! assert_deriv_matches_fd {
    ($f:expr, $x:expr, $rtol:expr) => {
        $crate::math::testutil::deriv_vs_fd($f, $f, $x, $rtol)
    };
}
pub(crate) use assert_deriv_matches_fd;

/// `check_derivatives!(|v| …, &xs, rtol)`: the gradient version of [`assert_deriv_matches_fd`].
macro_rules! check_derivatives {
    ($f:expr, $xs:expr, $rtol:expr) => {
        $crate::math::testutil::gradient_vs_fd($f, $f, $xs, $rtol)
    };
}
pub(crate) use check_derivatives;
