//! bnnppl: a probabilistic programming language for Bayesian neural networks.
//!
//! A model is written in the `.bnn` language (data, networks, parameters, priors, likelihood,
//! predictions); [`api::Model`] parses and checks it, binds data into a
//! [`posterior::Posterior`] (a log-density over an unconstrained θ with a reverse-mode gradient),
//! and the engines in [`engine`] draw from it. Every piece is usable on its own: the engines take
//! any [`density::Target`], so a library user can sample a density of their own.
//!
//! ```
//! use bnnppl::api::Model;
//! use bnnppl::engine::Nuts;
//!
//! let model = Model::from_str("schools.bnn", r#"
//!     data { J: int  y: vector[J]  sigma: vector[J] }
//!     param { mu: real  tau: real<lower=0>  theta_raw: vector[J] }
//!     prior { mu ~ normal(0, 5)  tau ~ cauchy(0, 5)  theta_raw ~ normal(0, 1) }
//!     likelihood { y ~ normal(mu + tau * theta_raw, sigma) }
//!     predict { theta = mu + tau * theta_raw }
//! "#)?;
//! let posterior = model.bind_json(r#"{"J": 8, "y": [28, 8, -3, 7, -1, 1, 18, 12],
//!                                      "sigma": [15, 10, 16, 11, 9, 11, 10, 18]}"#)?;
//! let nuts = Nuts { chains: 2, warmup: 300, draws: 300, seed: 1, ..Nuts::default() };
//! let draws = posterior.sample(&nuts)?;
//! let summary = draws.summary();
//! let mu = summary.iter().find(|r| r.name == "mu").unwrap();
//! assert!(mu.mean > 0.0 && mu.mean < 10.0);
//! assert_eq!(draws.column("theta.8").unwrap()[0].len(), 300);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod api;
pub mod autodiff;
pub mod check;
pub mod cli;
pub mod data;
pub mod density;
pub mod diagnostic;
pub mod draws;
pub mod engine;
pub mod ir;
pub mod lower;
pub mod math;
pub mod posterior;
pub mod predict;
pub mod sbc;
pub mod source;
pub mod stan_csv;
pub mod summary;
pub mod syntax;
