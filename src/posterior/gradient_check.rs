//! The gradient checked at a point, component by component: against the forward-mode num-dual reference first (exact, no step size), then against finite differences, where a finite difference that straddles a kink is told apart from a wrong gradient — what `bnnppl diagnose` reports.

use super::PosteriorEval;
use crate::density::{Density, DensityError};

/// What a gradient check asks of a density beyond its value and gradient.
pub trait CheckTarget: Density {
    /// ∇ log p(θ) by a method independent of the gradient under test; see
    /// [`PosteriorEval::reference_gradient`].
    fn reference_gradient(&mut self, theta: &[f64]) -> Vec<f64>;
    /// One bit per element of every non-smooth operation: which side of its kink it lies on at
    /// θ; see [`PosteriorEval::kink_sides`].
    fn kink_sides(&mut self, theta: &[f64]) -> Vec<bool>;
}

impl CheckTarget for PosteriorEval {
    fn reference_gradient(&mut self, theta: &[f64]) -> Vec<f64> {
        PosteriorEval::reference_gradient(self, theta).1
    }
    fn kink_sides(&mut self, theta: &[f64]) -> Vec<bool> {
        PosteriorEval::kink_sides(self, theta)
    }
}

/// Settings of the check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradientCheck {
    /// Relative finite-difference step: h = epsilon · max(1, |θ_k|).
    pub epsilon: f64,
    /// Largest allowed |gradient − other| / max(1, |gradient|), for the reference and the
    /// finite difference alike.
    pub error: f64,
}

impl Default for GradientCheck {
    fn default() -> Self {
        GradientCheck {
            epsilon: 1e-3,
            error: 1e-6,
        }
    }
}

/// How one gradient component compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It agrees with the reference and with the finite difference.
    Agrees,
    /// It agrees with the reference; the finite difference does not, but its stencil straddles
    /// a kink, where a finite difference does not estimate the derivative.
    Kink,
    /// It agrees with the reference but not with the finite difference, and no kink lies
    /// between the stencil's points: the value and its derivative disagree.
    FiniteDifferenceDisagrees,
    /// It disagrees with the reference: the gradient is wrong.
    ReferenceDisagrees,
}

impl Verdict {
    /// Whether the component fails the check.
    pub fn fails(self) -> bool {
        match self {
            Verdict::Agrees | Verdict::Kink => false,
            Verdict::FiniteDifferenceDisagrees | Verdict::ReferenceDisagrees => true,
        }
    }
}

/// One gradient component, checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Component {
    /// The coordinate of θ.
    pub theta: f64,
    /// The gradient under test.
    pub gradient: f64,
    /// The forward-mode reference.
    pub reference: f64,
    /// The 6th-order central finite difference (NaN when a stencil point has no finite value).
    pub finite_diff: f64,
    /// |gradient − reference| / max(1, |gradient|).
    pub reference_error: f64,
    /// |gradient − finite_diff| / max(1, |gradient|).
    pub finite_diff_error: f64,
    /// The outcome.
    pub verdict: Verdict,
}

/// Every component checked at one point.
#[derive(Debug, Clone, PartialEq)]
pub struct PointCheck {
    /// log p(θ).
    pub log_density: f64,
    /// One per coordinate of θ.
    pub components: Vec<Component>,
}

impl GradientCheck {
    /// Checks every gradient component at θ; fails when the log-density or its gradient is not
    /// usable there.
    pub fn at(
        &self,
        target: &mut impl CheckTarget,
        theta: &[f64],
    ) -> Result<PointCheck, DensityError> {
        let mut gradient = vec![0.0; theta.len()];
        let log_density = target.log_density_grad(theta, &mut gradient)?;
        let reference = target.reference_gradient(theta);
        let relative = |g: f64, other: f64| (g - other).abs() / g.abs().max(1.0);
        let mut t = theta.to_vec();
        let mut components = Vec::with_capacity(theta.len());
        for k in 0..theta.len() {
            let h = self.epsilon * theta[k].abs().max(1.0);
            // The stencil's points θ + s·h·e_k, s = ±1, ±2, ±3.
            let mut at = |s: f64| {
                t[k] = theta[k] + s * h;
                let v = target.log_density(&t).unwrap_or(f64::NAN);
                t[k] = theta[k];
                v
            };
            // 6th-order central difference: f' ≈ (−f₋₃ + 9f₋₂ − 45f₋₁ + 45f₁ − 9f₂ + f₃) / 60h.
            let finite_diff = (-at(-3.0) + 9.0 * at(-2.0) - 45.0 * at(-1.0) + 45.0 * at(1.0)
                - 9.0 * at(2.0)
                + at(3.0))
                / (60.0 * h);
            let (g, r) = (gradient[k], reference[k]);
            let reference_error = relative(g, r);
            let finite_diff_error = relative(g, finite_diff);
            let within = |e: f64| e <= self.error;
            let verdict = if !within(reference_error) {
                Verdict::ReferenceDisagrees
            } else if within(finite_diff_error) {
                Verdict::Agrees
            } else if self.straddles_kink(target, theta, k, h) {
                Verdict::Kink
            } else {
                Verdict::FiniteDifferenceDisagrees
            };
            components.push(Component {
                theta: theta[k],
                gradient: g,
                reference: r,
                finite_diff,
                reference_error,
                finite_diff_error,
                verdict,
            });
        }
        Ok(PointCheck {
            log_density,
            components,
        })
    }

    /// Whether some stencil point of coordinate `k` lies across a kink from θ.
    fn straddles_kink(
        &self,
        target: &mut impl CheckTarget,
        theta: &[f64],
        k: usize,
        h: f64,
    ) -> bool {
        let here = target.kink_sides(theta);
        let mut t = theta.to_vec();
        [-3.0, -2.0, -1.0, 1.0, 2.0, 3.0].iter().any(|s| {
            t[k] = theta[k] + s * h;
            target.kink_sides(&t) != here
        })
    }
}

#[cfg(test)]
mod tests {
    //! The check on a bundled ReLU network (kinks everywhere) and on a smooth model, and with a
    //! gradient broken on purpose: one parameter's adjoint scaled through a wrapper density, as
    //! a bug in one backward rule would scale it.

    use super::*;
    use crate::api::Model;
    use rand::{RngExt, SeedableRng};

    fn evaluator(name: &str) -> PosteriorEval {
        let model = Model::from_file(format!("models/{name}.bnn")).expect("model");
        let post = model
            .bind_file(format!("models/{name}.json"))
            .expect("data");
        post.evaluator()
    }

    /// A point as `diagnose` draws it: uniform(−2, 2) in every coordinate.
    fn point(d: usize, seed: u64) -> Vec<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..d).map(|_| rng.random_range(-2.0..2.0)).collect()
    }

    /// `inner` with gradient component `index` multiplied by `factor` — in the gradient under
    /// test only, or (`also_reference`) in the reference too, as when a scalar formula's
    /// derivative itself is wrong.
    struct Scaled {
        inner: PosteriorEval,
        index: usize,
        factor: f64,
        also_reference: bool,
    }

    impl Density for Scaled {
        fn dim(&self) -> usize {
            self.inner.dim()
        }
        fn log_density(&mut self, theta: &[f64]) -> Result<f64, DensityError> {
            self.inner.log_density(theta)
        }
        fn log_density_grad(
            &mut self,
            theta: &[f64],
            grad: &mut [f64],
        ) -> Result<f64, DensityError> {
            let v = self.inner.log_density_grad(theta, grad)?;
            grad[self.index] *= self.factor;
            Ok(v)
        }
    }

    impl CheckTarget for Scaled {
        fn reference_gradient(&mut self, theta: &[f64]) -> Vec<f64> {
            let mut r = CheckTarget::reference_gradient(&mut self.inner, theta);
            if self.also_reference {
                r[self.index] *= self.factor;
            }
            r
        }
        fn kink_sides(&mut self, theta: &[f64]) -> Vec<bool> {
            CheckTarget::kink_sides(&mut self.inner, theta)
        }
    }

    fn verdicts(c: &PointCheck) -> Vec<Verdict> {
        c.components.iter().map(|c| c.verdict).collect()
    }

    #[test]
    fn a_relu_network_has_kinks_but_no_disagreement() {
        // uci_nuts.bnn: `diagnose` said 181 components "disagreed" with finite differences;
        // each one's stencil crosses a ReLU kink, and all agree with the reference.
        let mut eval = evaluator("uci_nuts");
        let theta = point(eval.dim(), 1);
        let c = GradientCheck::default()
            .at(&mut eval, &theta)
            .expect("usable");
        let v = verdicts(&c);
        assert!(v.iter().all(|v| !v.fails()), "{v:?}");
        let kinks = v.iter().filter(|&&v| v == Verdict::Kink).count();
        assert!(kinks > 0 && kinks < v.len(), "{kinks} of {}", v.len());
        // The reference is exact: it agrees with the reverse sweep to rounding.
        let worst = c
            .components
            .iter()
            .map(|c| c.reference_error)
            .fold(0.0, f64::max);
        assert!(worst < 1e-12, "{worst}");
    }

    #[test]
    fn one_scaled_adjoint_fails_even_where_the_finite_difference_crosses_a_kink() {
        let mut eval = evaluator("uci_nuts");
        let theta = point(eval.dim(), 1);
        let check = GradientCheck::default();
        let clean = verdicts(&check.at(&mut eval, &theta).expect("usable"));
        let kink = clean
            .iter()
            .position(|&v| v == Verdict::Kink)
            .expect("a kink");
        let smooth = clean
            .iter()
            .position(|&v| v == Verdict::Agrees)
            .expect("smooth");
        for index in [kink, smooth] {
            // 0.1 % off: far below what a finite difference across a kink can see, far above
            // the reference's agreement (1e-12).
            let mut broken = Scaled {
                inner: evaluator("uci_nuts"),
                index,
                factor: 1.001,
                also_reference: false,
            };
            let got = verdicts(&check.at(&mut broken, &theta).expect("usable"));
            let mut want = clean.clone();
            want[index] = Verdict::ReferenceDisagrees;
            assert_eq!(got, want, "component {index}");
            assert!(got[index].fails());
        }
    }

    #[test]
    fn a_wrong_derivative_in_the_reference_too_is_caught_by_finite_differences() {
        // eight_schools is smooth: with the same error in the reference and the gradient, only
        // the finite difference can see it, and no kink excuses it.
        let mut broken = Scaled {
            inner: evaluator("eight_schools"),
            index: 1,
            factor: 1.001,
            also_reference: true,
        };
        let theta = point(broken.dim(), 1);
        let v = verdicts(
            &GradientCheck::default()
                .at(&mut broken, &theta)
                .expect("usable"),
        );
        assert_eq!(v[1], Verdict::FiniteDifferenceDisagrees);
        assert!(v[1].fails());
        assert!(
            v.iter()
                .enumerate()
                .all(|(k, &v)| k == 1 || v == Verdict::Agrees),
            "{v:?}"
        );
    }

    #[test]
    fn laplace_and_abs_kinks_are_seen() {
        // log laplace(y | mu, 1) has |y − mu|, kinked at mu = y = 0; normal(abs(s) + 1, 1) is kinked
        // at s = 0. With h = 1e-3 the stencils at 2e-4 reach across 0; at 0.5 they do not.
        let model = Model::from_str(
            "kinks.bnn",
            "data { y: vector[N] }\nparam { mu: real  s: real }\n\
             prior { mu ~ normal(0, 1)  s ~ normal(0, 1) }\n\
             likelihood { y ~ laplace(mu, 1)  y ~ normal(abs(s) + 1, 1) }\n",
        )
        .expect("model");
        let post = model.bind_json(r#"{"y": [0.0, 0.0]}"#).expect("data");
        let check = GradientCheck::default();
        let at =
            |theta: [f64; 2]| verdicts(&check.at(&mut post.evaluator(), &theta).expect("usable"));
        assert_eq!(at([2e-4, 0.5]), [Verdict::Kink, Verdict::Agrees]);
        assert_eq!(at([0.5, 2e-4]), [Verdict::Agrees, Verdict::Kink]);
        assert_eq!(at([0.5, -0.5]), [Verdict::Agrees, Verdict::Agrees]);
    }
}
