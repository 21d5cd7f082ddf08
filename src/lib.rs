//! bnnppl: a probabilistic programming language for Bayesian neural networks.

pub mod density;
pub mod diagnostic;
pub mod ir;
pub mod source;
pub mod stan_csv;
pub mod summary;
