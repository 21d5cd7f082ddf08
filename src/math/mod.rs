//! Pure numerics, each scalar formula written once and generic over num-dual's `DualNum<f64>`.
//!
//! The same function gives the f64 value, local derivatives on `Dual64` (or second derivatives on
//! `Dual2_64`/`HyperDual64`), and the reference values in tests.
//!
//! - [`special`]: lgamma, erf/erfc, and stable log-space helpers (softplus, log-sum-exp, …).

pub mod special;

#[cfg(test)]
mod testutil;

use num_dual::DualNum;

/// A scalar the numerics accept: `f64` itself or any num-dual number over `f64`.
///
/// An alias for `DualNum<Primitive = f64> + Copy`, so signatures read `fn f<D: Real>(x: D) -> D`.
pub trait Real: DualNum<Primitive = f64> + Copy {}

impl<T: DualNum<Primitive = f64> + Copy> Real for T {}

pub use special::{
    erf, erfc, lchoose, lgamma, lift, log1m_exp, log1p_exp, log_add_exp, log_diff_exp, log_erfc,
    log_sigmoid, log_softmax, log_sum_exp,
};
