//! bnnppl: a probabilistic programming language for Bayesian neural networks.

pub mod api;
pub mod autodiff;
pub mod check;
pub mod cli;
pub mod data;
pub mod density;
pub mod diagnostic;
pub mod engine;
pub mod ir;
pub mod lower;
pub mod math;
pub mod posterior;
pub mod source;
pub mod stan_csv;
pub mod summary;
pub mod syntax;
