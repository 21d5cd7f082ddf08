//! Posterior summaries and MCMC diagnostics (rank-normalized split-R̂, bulk/tail ESS, MCSE, E-BFMI) computed as the R package `posterior` 1.4 computes them.
//!
//! Every diagnostic takes the draws of one scalar quantity as `&[Vec<f64>]`: one `Vec` per chain,
//! all of the same length, in draw order.
//!
//! The diagnostics live in `convergence` (with the per-quantity [`SummaryRow`]) and `autocov`,
//! the sampler's in `sampler`; `table` and `warnings` turn them into text, `report` into the
//! report that `sample`, `svi` and `summary` print.
//!
//! # References
//!
//! - `[VGSCB21]` Vehtari, Gelman, Simpson, Carpenter & Bürkner, "Rank-normalization, folding, and
//!   localization: An improved R̂ for assessing convergence of MCMC", Bayesian Analysis 16(2),
//!   667–718, 2021 (arXiv:1903.08008). §3.2 gives the multi-chain ESS, §4.4 the quantile MCSE.
//! - `[BDA3]` Gelman, Carlin, Stern, Dunson, Vehtari & Rubin, Bayesian Data Analysis, 3rd ed.,
//!   2013, §11.4 (split-R̂: B, W, var⁺) and §11.5 (effective sample size).
//! - `[Gey92]` Geyer, "Practical Markov chain Monte Carlo", Statistical Science 7(4), 1992
//!   (initial positive and initial monotone sequence estimators).
//! - `[KK51]` Kenney & Keeping, Mathematics of Statistics, part two, 1951, p. 141 (variance of
//!   the sample variance, used for the MCSE of the sd).
//! - `[HF96]` Hyndman & Fan, "Sample quantiles in statistical packages", The American
//!   Statistician 50(4), 1996 (definition 7 is R's and NumPy's default).
//! - `[Bet16]` Betancourt, "Diagnosing suboptimal cotangent disintegrations in Hamiltonian Monte
//!   Carlo", arXiv:1604.00695, 2016 (E-BFMI).
//!
//! # Decisions where the sources are silent or disagree
//!
//! - **Which reference.** Where ArviZ and `posterior` differ we follow `posterior` (the R
//!   package that CmdStanR and Stan's own documentation use). They agree on every ordinary
//!   input; the differences are the edge cases below.
//! - **NA is `f64::NAN`.** `posterior` returns `NA` when any draw is NaN or ±∞, or when all
//!   draws are equal (`max − min < f64::EPSILON`, absolute, as `posterior::is_constant`). Then
//!   R̂, both ESS and every MCSE are NaN; mean, sd and quantiles are still computed. ArviZ
//!   instead reports ESS = number of draws for constant input. Constancy is judged over all
//!   chains together, as `posterior`'s code does (its documentation says "within any chain",
//!   but that check is commented out in the code).
//! - **Tail ESS of a constant indicator.** When `x ≤ q` is the same for every draw (heavy ties at
//!   the extremes), that quantile's ESS is NaN and so is the tail ESS (R's `min` propagates NA).
//! - **One chain.** R̂ is computed from the two halves of the split chain, as `posterior` does;
//!   ArviZ returns NaN for fewer than two chains.
//! - **Short chains.** ESS is NaN when a split half has fewer than 3 draws (fewer than 6 draws
//!   per chain); R̂ is NaN when a half has fewer than 2. With 6–11 draws per chain `posterior`
//!   and ArviZ disagree (R's `1:0` indexing in the Geyer sum); we reproduce `posterior`.
//! - **Capped ESS.** The autocorrelation time τ is bounded below by 1/log₁₀(MN), so ESS ≤
//!   MN·log₁₀(MN) ([VGSCB21] §3.2; `posterior` also prints a warning, we cap silently).
//! - **Autocovariance.** Computed only as far as Geyer's sequence reads it: the first 32 lags
//!   by direct sums, all further lags at once by a zero-padded radix-2 FFT (O(n log n) per
//!   chain), so well-mixing chains cost O(n) and slowly mixing long chains O(n log n). The
//!   values equal `posterior`'s (always-FFT) ones up to round-off; lag 0 is the directly summed
//!   biased variance in both, and a chain with zero variance has all autocovariances zero.
//! - **MCSE of the sd.** `posterior`'s `mcse_sd` (identical to ArviZ's): the delta method on
//!   the variance of the sample variance [KK51], with the ESS of the squared centred draws.
//! - **Folding.** The folded draws `|x − median(x)|` use the median of all draws before the
//!   split, as `posterior` and `arviz.summary` do (`arviz.rhat` folds after splitting; this
//!   matters only for an odd number of draws per chain).

mod autocov;
mod convergence;
mod report;
mod sampler;
mod table;
mod warnings;

pub use convergence::{
    ess_bulk, ess_mean, ess_quantile, ess_tail, mcse_mean, mcse_quantile, mcse_sd, quantile, rhat,
    summarize, SummaryRow,
};
pub use report::{report, ChainColumns, ReportInput};
pub use sampler::{
    ebfmi, sampler_diagnostics, ChainDiagnostics, ChainSamplerStats, SamplerDiagnostics,
};
pub use table::{render_table, TABLE_HEADINGS};
pub use warnings::{convergence_warnings, Thresholds, Warning};
