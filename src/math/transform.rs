//! Constraint transforms from unconstrained u ∈ ℝ to a constrained x, with log|dx/du|.
//!
//! The transforms are Stan's ([Stan] Stan Reference Manual, "Constraint Transforms": lower and
//! upper bounded scalars, and the scaled logit for lower-and-upper bounds). The sampler moves in
//! u; the log-density in u is the log-density in x plus `log_jacobian`.

use super::special::log_sigmoid;
use super::Real;

/// The support of a scalar parameter, and the bijection from ℝ onto it.
///
/// Bounds are finite; `Interval(a, b)` requires a < b (the checker guarantees both).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Constraint {
    /// ℝ: x = u, log|J| = 0.
    #[default]
    None,
    /// (L, ∞): x = L + eᵘ, log|J| = u.
    Lower(f64),
    /// (−∞, U): x = U − eᵘ, log|J| = u.
    Upper(f64),
    /// (a, b): x = a + (b − a)·σ(u), log|J| = ln(b − a) + ln σ(u) + ln σ(−u).
    Interval(f64, f64),
}

impl Constraint {
    /// Maps u to (x, log|dx/du|).
    ///
    /// For `Interval` the point is computed from the nearer bound, a + (b − a)σ(u) for u ≤ 0 and
    /// b − (b − a)σ(−u) for u > 0, so x keeps its digits next to either bound.
    pub fn constrain<D: Real>(&self, u: D) -> (D, D) {
        match *self {
            Constraint::None => (u, D::from(0.0)),
            Constraint::Lower(lower) => (u.exp() + lower, u),
            Constraint::Upper(upper) => (-u.exp() + upper, u),
            Constraint::Interval(a, b) => {
                let width = b - a;
                let (log_p, log_q) = (log_sigmoid(u), log_sigmoid(-u));
                let x = if u > 0.0 {
                    -log_q.exp() * width + b
                } else {
                    log_p.exp() * width + a
                };
                (x, log_p + log_q + width.ln())
            }
        }
    }

    /// Maps x back to u; None when x is outside the open support (or not finite).
    pub fn unconstrain(&self, x: f64) -> Option<f64> {
        if !x.is_finite() {
            return None;
        }
        match *self {
            Constraint::None => Some(x),
            Constraint::Lower(lower) => (x > lower).then(|| (x - lower).ln()),
            Constraint::Upper(upper) => (x < upper).then(|| (upper - x).ln()),
            // logit((x − a)/(b − a)) = ln(x − a) − ln(b − x)
            Constraint::Interval(a, b) => (a < x && x < b).then(|| (x - a).ln() - (b - x).ln()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::testutil::{fd5, rel_err};
    use num_dual::Dual64;

    const CONSTRAINTS: [Constraint; 7] = [
        Constraint::None,
        Constraint::Lower(0.0),
        Constraint::Lower(-3.5),
        Constraint::Upper(0.0),
        Constraint::Upper(12.0),
        Constraint::Interval(0.0, 1.0),
        Constraint::Interval(-2.0, 5e3),
    ];

    fn grid(lo: f64, hi: f64, n: usize) -> impl Iterator<Item = f64> {
        (0..=n).map(move |i| lo + (hi - lo) * i as f64 / n as f64)
    }

    #[test]
    fn constrain_then_unconstrain_round_trips() {
        // x can only hold the distance to a nonzero bound B to ε·|B|: u = ln|x − B| comes back
        // to ~ε·|B|/e^|u|, so the range that round-trips to 1e-12 is where that distance is
        // not tiny next to |B| (|u| ≤ 5 for L = −3.5, |u| ≤ 10 for an interval ending at 1).
        // With a zero bound the distance is x itself and any u works.
        for c in CONSTRAINTS {
            let (lo, hi) = match c {
                Constraint::Lower(0.0) | Constraint::Upper(0.0) => (-600.0, 600.0),
                Constraint::Interval(..) => (-10.0, 10.0),
                _ => (-5.0, 5.0),
            };
            for u in grid(lo, hi, 997) {
                let (x, _) = c.constrain(u);
                let back = c.unconstrain(x).expect("x inside the support");
                let err = (back - u).abs() / u.abs().max(1.0);
                assert!(err < 1e-12, "{c:?}: u {u} → x {x} → {back}");
            }
        }
    }

    #[test]
    fn unconstrain_then_constrain_round_trips() {
        for c in CONSTRAINTS {
            let xs: Vec<f64> = match c {
                Constraint::None => grid(-1e6, 1e6, 101).collect(),
                Constraint::Lower(l) => grid(1e-6, 1e6, 101).map(|d| l + d).collect(),
                Constraint::Upper(u) => grid(1e-6, 1e6, 101).map(|d| u - d).collect(),
                Constraint::Interval(a, b) => grid(0.0, 1.0, 101)
                    .skip(1)
                    .take(100)
                    .map(|p| a + (b - a) * p)
                    .collect(),
            };
            for x in xs {
                let u = c.unconstrain(x).expect("inside");
                let (back, _) = c.constrain(u);
                assert!(rel_err(back, x) < 1e-12, "{c:?}: x {x} → u {u} → {back}");
            }
        }
    }

    #[test]
    fn outside_the_support_has_no_preimage() {
        assert_eq!(Constraint::Lower(1.0).unconstrain(1.0), None);
        assert_eq!(Constraint::Lower(1.0).unconstrain(0.5), None);
        assert_eq!(Constraint::Upper(1.0).unconstrain(2.0), None);
        assert_eq!(Constraint::Interval(0.0, 1.0).unconstrain(1.0), None);
        assert_eq!(Constraint::Interval(0.0, 1.0).unconstrain(-0.1), None);
        assert_eq!(Constraint::None.unconstrain(f64::NAN), None);
        // ln(x − L) = ln(e²) = 2
        assert_eq!(Constraint::Lower(0.0).unconstrain(2f64.exp()), Some(2.0));
    }

    #[test]
    fn log_jacobian_matches_finite_differences_of_x() {
        for c in CONSTRAINTS {
            for u in grid(-8.0, 8.0, 37) {
                let (_, log_j) = c.constrain(u);
                let h = 1e-3 * u.abs().max(1.0);
                let dx_du = fd5(|t| c.constrain(t).0, u, h);
                assert!(
                    (log_j - dx_du.abs().ln()).abs() < 1e-7,
                    "{c:?} at u {u}: log|J| {log_j}, finite difference {}",
                    dx_du.abs().ln()
                );
                // the same Jacobian from num-dual
                let dual = c.constrain(Dual64::new(u, 1.0)).0.eps;
                assert!((log_j - dual.abs().ln()).abs() < 1e-12, "{c:?} at u {u}");
            }
        }
    }

    #[test]
    fn log_jacobian_derivative_matches_finite_differences() {
        // The sampler differentiates log|J| too: d/du of ln σ(u) + ln σ(−u) = 1 − 2σ(u).
        let c = Constraint::Interval(-1.0, 3.0);
        for u in [-30.0, -2.0, 0.0, 0.7, 30.0] {
            let dual = c.constrain(Dual64::new(u, 1.0)).1.eps;
            let numeric = fd5(|t| c.constrain(t).1, u, 1e-3);
            assert!((dual - numeric).abs() < 1e-9, "at {u}: {dual} vs {numeric}");
        }
    }

    #[test]
    fn interval_is_stable_far_out() {
        // u = ±800: σ(±800) saturates; x sits on the bound and log|J| = ln 4 − 800, finite
        let c = Constraint::Interval(-1.0, 3.0);
        let (x, log_j) = c.constrain(800.0);
        assert_eq!(x, 3.0);
        assert!((log_j - (4f64.ln() - 800.0)).abs() < 1e-12);
        let (x, log_j) = c.constrain(-800.0_f64);
        assert_eq!(x, -1.0);
        assert!(log_j.is_finite());
    }
}
