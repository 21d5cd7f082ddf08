//! Dispatch from the program's closed enums to the generic scalar formulas in `math`, so the
//! same formula serves f64 values, num-dual partials and the forward-mode reference.

use crate::ir::{Activation, BinOp, Constraint, Distribution, Func};
use crate::lower::{Norm, UnaryOp};
use crate::math::{self, special, Real};
use num_dual::Dual64;

fn transform(c: Constraint) -> math::Constraint {
    match c {
        Constraint::None => math::Constraint::None,
        Constraint::Lower(l) => math::Constraint::Lower(l),
        Constraint::Upper(u) => math::Constraint::Upper(u),
        Constraint::Interval(l, u) => math::Constraint::Interval(l, u),
    }
}

/// (x, log|dx/du|) for the constraint's transform from the unconstrained u.
#[inline]
pub fn constrain<D: Real>(c: Constraint, u: D) -> (D, D) {
    transform(c).constrain(u)
}

/// The unconstrained u for a constrained x, when x is inside the support.
pub fn unconstrain(c: Constraint, x: f64) -> Option<f64> {
    transform(c).unconstrain(x)
}

/// An activation on one value.
#[inline]
pub fn activation<D: Real>(act: Activation, z: D) -> D {
    match act {
        Activation::Identity => z,
        Activation::Tanh => math::activation::tanh(z),
        Activation::Relu => math::activation::relu(z),
        Activation::Sigmoid => math::activation::sigmoid(z),
        Activation::Softplus => math::activation::softplus(z),
        Activation::Elu => math::activation::elu(z),
        Activation::Gelu => math::activation::gelu(z),
        Activation::Swish => math::activation::swish(z),
    }
}

/// Applies an activation in place over a buffer. tanh, relu, sigmoid, swish, softplus and elu run their
/// vectorized kernels (the generic formula with a branch-free exp or exp_m1 and the sign as a
/// select, see `math::activation::tanh_with`); gelu runs the scalar formula.
pub fn activate(act: Activation, z: &mut [f64]) {
    match act {
        Activation::Tanh => math::activation::tanh_in_place(z),
        Activation::Relu => math::activation::relu_in_place(z),
        Activation::Sigmoid => math::activation::sigmoid_in_place(z),
        Activation::Swish => math::activation::swish_in_place(z),
        Activation::Elu => math::activation::elu_in_place(z),
        Activation::Softplus => math::activation::softplus_in_place(z),
        _ => {
            for v in z {
                *v = activation(act, *v);
            }
        }
    }
}

/// Applies an activation in place and writes its derivative, both from one num-dual evaluation
/// of the generic formula (for the vectorized ones, with the kernel's exp; see `activate`).
pub fn activate_with_grad(act: Activation, z: &mut [f64], dz: &mut [f64]) {
    match act {
        Activation::Tanh => math::activation::tanh_in_place_with_grad(z, dz),
        Activation::Relu => math::activation::relu_in_place_with_grad(z, dz),
        Activation::Sigmoid => math::activation::sigmoid_in_place_with_grad(z, dz),
        Activation::Swish => math::activation::swish_in_place_with_grad(z, dz),
        Activation::Elu => math::activation::elu_in_place_with_grad(z, dz),
        Activation::Softplus => math::activation::softplus_in_place_with_grad(z, dz),
        _ => {
            for (v, d) in z.iter_mut().zip(dz.iter_mut()) {
                let y = activation(act, Dual64::new(*v, 1.0));
                *v = y.re;
                *d = y.eps;
            }
        }
    }
}

/// An elementwise unary operation.
#[inline]
pub fn unary<D: Real>(op: UnaryOp, x: D) -> D {
    match op {
        UnaryOp::Neg => -x,
        UnaryOp::Act(a) => activation(a, x),
        UnaryOp::Func(f) => match f {
            Func::Exp => x.exp(),
            Func::Log => x.ln(),
            Func::Log1p => x.ln_1p(),
            Func::Sqrt => x.sqrt(),
            Func::Square => x * x,
            Func::Abs => x.abs(),
            Func::Tanh => math::activation::tanh(x),
            Func::Sigmoid => math::activation::sigmoid(x),
            Func::Softplus => math::activation::softplus(x),
            Func::Relu => math::activation::relu(x),
            // Reductions are their own instructions.
            Func::Sum | Func::Mean | Func::Dot => {
                unreachable!("internal: {} is not elementwise", f.name())
            }
        },
    }
}

/// An elementwise binary operation.
#[inline]
pub fn binary<D: Real>(op: BinOp, a: D, b: D) -> D {
    match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div => a / b,
        BinOp::Pow => {
            let e = b.re();
            if a.re() > 0.0 {
                a.powd(b)
            } else if e.fract() == 0.0 && e.abs() < 1e6 {
                // A negative base with a whole exponent (x^2): the derivative in the exponent
                // does not exist there, so the exponent is treated as a constant.
                a.powi(e as i32)
            } else {
                D::from(f64::NAN)
            }
        }
    }
}

/// log p(x | args) for one element, normalized against a truncation.
#[inline]
pub fn lpdf<D: Real>(dist: Distribution, norm: Norm, x: D, a: &[D]) -> D {
    let lp = lpdf_untruncated(dist, x, a);
    match norm {
        Norm::None => lp,
        Norm::Half => lp + std::f64::consts::LN_2,
        Norm::Cdf(l, u) => lp - log_mass(dist, l, u, a),
    }
}

/// log p(x | args) for one element, without truncation. Always inlined, so that a caller with
/// a constant `dist` compiles to the one formula (see `autodiff::term`).
#[inline(always)]
pub fn lpdf_untruncated<D: Real>(dist: Distribution, x: D, a: &[D]) -> D {
    use Distribution as Ds;
    match dist {
        Ds::Normal => math::dist::normal_lpdf(x, a[0], a[1]),
        Ds::StudentT => math::dist::student_t_lpdf(x, a[0], a[1], a[2]),
        Ds::Cauchy => math::dist::cauchy_lpdf(x, a[0], a[1]),
        Ds::Laplace => math::dist::laplace_lpdf(x, a[0], a[1]),
        Ds::Logistic => math::dist::logistic_lpdf(x, a[0], a[1]),
        Ds::Gamma => math::dist::gamma_lpdf(x, a[0], a[1]),
        Ds::InvGamma => math::dist::inv_gamma_lpdf(x, a[0], a[1]),
        Ds::Exponential => math::dist::exponential_lpdf(x, a[0]),
        Ds::LogNormal => math::dist::lognormal_lpdf(x, a[0], a[1]),
        Ds::Beta => math::dist::beta_lpdf(x, a[0], a[1]),
        Ds::Uniform => math::dist::uniform_lpdf(x, a[0], a[1]),
        Ds::BernoulliLogit => math::dist::bernoulli_logit_lpmf(x.re() as i64, a[0]),
        Ds::PoissonLog => math::dist::poisson_log_lpmf(x.re() as i64, a[0]),
        Ds::BinomialLogit => math::dist::binomial_logit_lpmf(x.re() as i64, a[0].re() as i64, a[1]),
        Ds::CategoricalLogit => unreachable!("internal: categorical_logit has its own instruction"),
    }
}

/// log(F(u) − F(l)) for a distribution with log-CDFs.
fn log_mass<D: Real>(dist: Distribution, l: f64, u: f64, a: &[D]) -> D {
    let lcdf = |y: f64| -> D {
        let y = D::from(y);
        match dist {
            Distribution::Normal => math::dist::normal_lcdf(y, a[0], a[1]),
            Distribution::Cauchy => math::dist::cauchy_lcdf(y, a[0], a[1]),
            Distribution::Laplace => math::dist::laplace_lcdf(y, a[0], a[1]),
            Distribution::Logistic => math::dist::logistic_lcdf(y, a[0], a[1]),
            Distribution::Exponential => math::dist::exponential_lcdf(y, a[0]),
            Distribution::LogNormal => math::dist::lognormal_lcdf(y, a[0], a[1]),
            Distribution::Uniform => math::dist::uniform_lcdf(y, a[0], a[1]),
            _ => unreachable!("internal: the checker only truncates distributions with CDFs"),
        }
    };
    let lccdf = |y: f64| -> D {
        let y = D::from(y);
        match dist {
            Distribution::Normal => math::dist::normal_lccdf(y, a[0], a[1]),
            Distribution::Cauchy => math::dist::cauchy_lccdf(y, a[0], a[1]),
            Distribution::Laplace => math::dist::laplace_lccdf(y, a[0], a[1]),
            Distribution::Logistic => math::dist::logistic_lccdf(y, a[0], a[1]),
            Distribution::Exponential => math::dist::exponential_lccdf(y, a[0]),
            Distribution::LogNormal => math::dist::lognormal_lccdf(y, a[0], a[1]),
            Distribution::Uniform => math::dist::uniform_lccdf(y, a[0], a[1]),
            _ => unreachable!("internal: the checker only truncates distributions with CDFs"),
        }
    };
    match (l.is_finite(), u.is_finite()) {
        (false, false) => D::from(0.0),
        (true, false) => lccdf(l),
        (false, true) => lcdf(u),
        (true, true) => special::log_diff_exp(lcdf(u), lcdf(l)),
    }
}

/// One draw from a distribution with the given (f64) arguments; see
/// [`Distribution::sample`].
pub fn draw(dist: Distribution, a: &[f64], rng: &mut dyn rand::Rng) -> f64 {
    dist.sample(a, rng)
}

pub use crate::ir::sample::{draw_categorical, log_sum_exp_by};
