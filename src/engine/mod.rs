//! Sampling engines over the density seam: NUTS (on nuts-rs), static HMC, and the chain runner
//! that drives them in parallel threads.

pub mod leapfrog;
pub mod rng;
