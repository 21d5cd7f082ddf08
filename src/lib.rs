//! bnnppl: a probabilistic programming language for Bayesian neural networks.

pub mod density;
pub mod diagnostic;
pub mod engine;
pub mod ir;
pub mod source;
