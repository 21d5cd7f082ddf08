//! Pure numerics, each scalar formula written once and generic over num-dual's `DualNum<f64>`.
//!
//! The same function gives the f64 value, local derivatives on `Dual64` (or second derivatives on
//! `Dual2_64`/`HyperDual64`), and the reference values in tests.
//!
//! - [`special`]: lgamma, erf/erfc, and stable log-space helpers (softplus, log-sum-exp, …).
//! - [`dist`]: normalized log-densities with Stan's names and parameterizations, and log CDFs.
//! - [`kernel`]: branch-free, vectorizable eˣ and eˣ − 1 for whole buffers, with dual versions.
//! - [`activation`]: network activations, elementwise functions, and f64 value+derivative kernels.
//! - [`transform`]: constraint transforms from unconstrained to constrained space with log|J|.

pub mod activation;
pub mod dist;
pub mod kernel;
pub mod special;
pub mod transform;

#[cfg(test)]
mod testutil;

use num_dual::DualNum;

/// A scalar the numerics accept: `f64` itself or any num-dual number over `f64`.
///
/// An alias for `DualNum<Primitive = f64> + Copy`, so signatures read `fn f<D: Real>(x: D) -> D`.
pub trait Real: DualNum<Primitive = f64> + Copy {}

impl<T: DualNum<Primitive = f64> + Copy> Real for T {}

pub use activation::{
    elu, elu_with_grad, gelu, gelu_with_grad, identity, identity_with_grad, map_value,
    map_with_grad, relu, relu_with_grad, sigmoid, sigmoid_with_grad, softplus, softplus_with_grad,
    swish, swish_with_grad, tanh, tanh_in_place, tanh_in_place_with_grad, tanh_value, tanh_with,
    tanh_with_grad,
};
pub use dist::{
    bernoulli_logit_lpmf, beta_lpdf, binomial_logit_lpmf, categorical_logit_lpmf, cauchy_lccdf,
    cauchy_lcdf, cauchy_lpdf, exponential_lccdf, exponential_lcdf, exponential_lpdf, gamma_lpdf,
    inv_gamma_lpdf, laplace_lccdf, laplace_lcdf, laplace_lpdf, logistic_lccdf, logistic_lcdf,
    logistic_lpdf, lognormal_lccdf, lognormal_lcdf, lognormal_lpdf, normal_lccdf, normal_lcdf,
    normal_lpdf, poisson_log_lpmf, std_normal_lccdf, std_normal_lcdf, student_t_lpdf,
    uniform_lccdf, uniform_lcdf, uniform_lpdf,
};
pub use special::{
    erf, erfc, lchoose, lgamma, lift, log1m_exp, log1p_exp, log_add_exp, log_diff_exp, log_erfc,
    log_sigmoid, log_softmax, log_sum_exp,
};
pub use transform::Constraint;
