//! Posterior summaries and MCMC diagnostics (rank-normalized split-R̂, bulk/tail ESS, MCSE, E-BFMI) computed as the R package `posterior` 1.4 computes them.
//!
//! Every diagnostic takes the draws of one scalar quantity as `&[Vec<f64>]`: one `Vec` per chain,
//! all of the same length, in draw order.
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

use statrs::distribution::{Beta, ContinuousCDF, Normal};
use std::fmt;
use std::fmt::Write as _;

/// Probability levels of the central ±1 sd interval of a normal, used by [`mcse_quantile`]
/// exactly as `posterior` writes them: Φ(−1) and Φ(1) to 7 digits.
const MCSE_QUANTILE_PROBS: [f64; 2] = [0.1586553, 0.8413447];

/// Blom's fractional offset c = 3/8 for rank normalization ([VGSCB21], after Blom 1958).
const BLOM_C: f64 = 3.0 / 8.0;

/// One line of a posterior summary: moments, quantiles and convergence diagnostics of one scalar.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    /// The quantity's name, e.g. `w1.2.3` (Stan's 1-based column name).
    pub name: String,
    /// Mean over all draws of all chains.
    pub mean: f64,
    /// Standard deviation over all draws (divisor N − 1).
    pub sd: f64,
    /// Monte Carlo standard error of `mean`: sd / √(ESS of the mean).
    pub mcse_mean: f64,
    /// Monte Carlo standard error of `sd` (delta method, see the module doc).
    pub mcse_sd: f64,
    /// 5% quantile (type 7).
    pub q5: f64,
    /// Median (type-7 quantile at 0.5).
    pub q50: f64,
    /// 95% quantile (type 7).
    pub q95: f64,
    /// Bulk effective sample size: ESS of the rank-normalized split chains.
    pub ess_bulk: f64,
    /// Tail effective sample size: min of the ESS of the 5% and 95% quantile indicators.
    pub ess_tail: f64,
    /// max(bulk R̂, tail R̂) of the rank-normalized (and folded) split chains; NaN when undefined.
    pub rhat: f64,
}

/// Summarizes the draws of one scalar quantity, one `Vec` per chain.
///
/// # Panics
///
/// If the chains have different lengths.
pub fn summarize(name: &str, chains: &[Vec<f64>]) -> SummaryRow {
    check_shape(chains);
    let pooled = pooled(chains);
    let sorted = sorted_or_nan(&pooled);
    let q = |p: f64| match &sorted {
        Some(s) => quantile_sorted(s, p),
        None => f64::NAN,
    };
    let mut row = SummaryRow {
        name: name.to_string(),
        mean: mean(&pooled),
        sd: sd(&pooled),
        mcse_mean: f64::NAN,
        mcse_sd: f64::NAN,
        q5: q(0.05),
        q50: q(0.5),
        q95: q(0.95),
        ess_bulk: f64::NAN,
        ess_tail: f64::NAN,
        rhat: f64::NAN,
    };
    if should_return_na(chains) {
        return row;
    }
    // The same quantities as the public functions, sharing the sort and the bulk z-scores.
    let sorted = sorted.expect("internal: finite draws sort");
    let z_bulk = z_scale(&split_chains(chains));
    row.ess_bulk = ess_basic(&z_bulk);
    row.rhat = rhat_from(&z_bulk, chains, &sorted);
    row.ess_tail = min_na(
        ess_of_indicator(chains, row.q5),
        ess_of_indicator(chains, row.q95),
    );
    row.mcse_mean = row.sd / ess_mean(chains).sqrt();
    row.mcse_sd = mcse_sd(chains);
    row
}

/// R̂ = max(rank-normalized split-R̂, rank-normalized folded split-R̂) ([VGSCB21], `posterior::rhat`).
pub fn rhat(chains: &[Vec<f64>]) -> f64 {
    check_shape(chains);
    if should_return_na(chains) {
        return f64::NAN;
    }
    let sorted = sorted_or_nan(&pooled(chains)).expect("internal: finite draws sort");
    rhat_from(&z_scale(&split_chains(chains)), chains, &sorted)
}

/// R̂ from the bulk z-scores of the split chains, the chains and their sorted pooled draws.
fn rhat_from(z_bulk: &[Vec<f64>], chains: &[Vec<f64>], sorted: &[f64]) -> f64 {
    // Bulk: rank-normalized split chains. Tail: the same on |θ − median(θ)|, which detects
    // chains with equal location but different scale ([VGSCB21], folding).
    let bulk = rhat_basic(z_bulk);
    let folded = fold(chains, median_sorted(sorted));
    let tail = rhat_basic(&z_scale(&split_chains(&folded)));
    max_na(bulk, tail)
}

/// Bulk ESS: the ESS of the rank-normalized split chains ([VGSCB21], `posterior::ess_bulk`).
pub fn ess_bulk(chains: &[Vec<f64>]) -> f64 {
    check_shape(chains);
    if should_return_na(chains) {
        return f64::NAN;
    }
    ess_basic(&z_scale(&split_chains(chains)))
}

/// Tail ESS: min of the ESS of the 5% and 95% quantile indicators ([VGSCB21], `posterior::ess_tail`).
pub fn ess_tail(chains: &[Vec<f64>]) -> f64 {
    min_na(ess_quantile(chains, 0.05), ess_quantile(chains, 0.95))
}

/// ESS of the `prob` quantile: the ESS of the split indicator chains I(θ ≤ q̂_prob) ([VGSCB21], localization).
pub fn ess_quantile(chains: &[Vec<f64>], prob: f64) -> f64 {
    check_shape(chains);
    if should_return_na(chains) {
        return f64::NAN;
    }
    let pooled = pooled(chains);
    // posterior moves prob = 1 just inside the range so the indicator is not constant.
    let prob = if prob == 1.0 {
        let len = pooled.len() as f64;
        (len - 0.5) / len
    } else {
        prob
    };
    let q = quantile_sorted(
        &sorted_or_nan(&pooled).expect("internal: finite draws sort"),
        prob,
    );
    ess_of_indicator(chains, q)
}

/// ESS of the split indicator chains I(θ ≤ q) (posterior's `.ess_quantile` after the quantile).
fn ess_of_indicator(chains: &[Vec<f64>], q: f64) -> f64 {
    let indicator: Vec<Vec<f64>> = chains
        .iter()
        .map(|c| c.iter().map(|&x| if x <= q { 1.0 } else { 0.0 }).collect())
        .collect();
    ess_basic(&split_chains(&indicator))
}

/// ESS of the mean: the ESS of the split chains without rank normalization (`posterior::ess_mean`).
pub fn ess_mean(chains: &[Vec<f64>]) -> f64 {
    check_shape(chains);
    ess_basic(&split_chains(chains))
}

/// Monte Carlo standard error of the mean: sd / √ESS_mean (`posterior::mcse_mean`).
pub fn mcse_mean(chains: &[Vec<f64>]) -> f64 {
    check_shape(chains);
    sd(&pooled(chains)) / ess_mean(chains).sqrt()
}

/// Monte Carlo standard error of the sd, by the delta method on Var(s²) [KK51] (`posterior::mcse_sd`).
pub fn mcse_sd(chains: &[Vec<f64>]) -> f64 {
    check_shape(chains);
    let mu = mean(&pooled(chains));
    // sims_c² = (θ − θ̄)², kept chain by chain for its ESS.
    let sq: Vec<Vec<f64>> = chains
        .iter()
        .map(|c| c.iter().map(|&x| (x - mu) * (x - mu)).collect())
        .collect();
    let ess = ess_mean(&sq);
    let sq_pooled = pooled(&sq);
    // E_var = mean((θ − θ̄)²); Var(s²) ≈ (mean((θ − θ̄)⁴) − E_var²) / ESS [KK51, p. 141].
    let e_var = mean(&sq_pooled);
    let fourth = mean(&sq_pooled.iter().map(|&s| s * s).collect::<Vec<_>>());
    let var_var = (fourth - e_var * e_var) / ess;
    // First-order Taylor: Var(s) ≈ Var(s²) / (4 E_var).
    let var_sd = var_var / e_var / 4.0;
    var_sd.sqrt()
}

/// Monte Carlo standard error of the `prob` quantile ([VGSCB21] §4.4, `posterior::mcse_quantile`).
///
/// The ±1 sd interval of the quantile's rank is read from Beta(ESS·p + 1, ESS·(1 − p) + 1) and
/// mapped back through the sorted draws; half its width is the MCSE.
pub fn mcse_quantile(chains: &[Vec<f64>], prob: f64) -> f64 {
    let ess = ess_quantile(chains, prob);
    if !ess.is_finite() {
        return f64::NAN;
    }
    let beta = Beta::new(ess * prob + 1.0, ess * (1.0 - prob) + 1.0)
        .expect("internal: Beta shape parameters are ≥ 1 for a finite ESS");
    let a_lo = beta.inverse_cdf(MCSE_QUANTILE_PROBS[0]);
    let a_hi = beta.inverse_cdf(MCSE_QUANTILE_PROBS[1]);
    let sorted = sorted_or_nan(&pooled(chains)).expect("internal: finite draws have a finite ESS");
    let s = sorted.len();
    // R's 1-based ssims[max(floor(a·S), 1)] and ssims[min(ceiling(a·S), S)].
    let lo = ((a_lo * s as f64).floor() as usize).max(1);
    let hi = ((a_hi * s as f64).ceil() as usize).min(s);
    (sorted[hi - 1] - sorted[lo - 1]) / 2.0
}

/// The `prob` quantile of all draws pooled, by [HF96] definition 7 (R's and NumPy's default).
///
/// NaN when any draw is NaN or there are no draws.
pub fn quantile(chains: &[Vec<f64>], prob: f64) -> f64 {
    match sorted_or_nan(&pooled(chains)) {
        Some(s) => quantile_sorted(&s, prob),
        None => f64::NAN,
    }
}

/// [HF96] type 7 on sorted values, written as R's `quantile.default` writes it.
fn quantile_sorted(sorted: &[f64], prob: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    // index = 1 + (n − 1)·p (1-based); interpolate between x[lo] and x[hi].
    let index = 1.0 + (n - 1) as f64 * prob;
    let lo = index.floor();
    let hi = index.ceil();
    let x_lo = sorted[lo as usize - 1];
    let x_hi = sorted[hi as usize - 1];
    if index > lo && x_hi != x_lo {
        let h = index - lo;
        (1.0 - h) * x_lo + h * x_hi
    } else {
        x_lo
    }
}

// ---------------------------------------------------------------------------------------------
// The building blocks, each a transcription of one `posterior` internal.

fn check_shape(chains: &[Vec<f64>]) {
    if let Some(first) = chains.first() {
        assert!(
            chains.iter().all(|c| c.len() == first.len()),
            "all chains must have the same number of draws (got {:?})",
            chains.iter().map(Vec::len).collect::<Vec<_>>()
        );
    }
}

fn pooled(chains: &[Vec<f64>]) -> Vec<f64> {
    chains.iter().flatten().copied().collect()
}

/// `posterior::should_return_NA`: no draws, a non-finite draw, or all draws equal.
fn should_return_na(chains: &[Vec<f64>]) -> bool {
    let mut any = false;
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for &x in chains.iter().flatten() {
        if !x.is_finite() {
            return true;
        }
        any = true;
        lo = lo.min(x);
        hi = hi.max(x);
    }
    !any || (hi - lo).abs() < f64::EPSILON
}

/// Sorted copy, or None when a draw is NaN (R's quantile refuses NA) or there are no draws.
fn sorted_or_nan(values: &[f64]) -> Option<Vec<f64>> {
    if values.is_empty() || values.iter().any(|x| x.is_nan()) {
        return None;
    }
    let mut s = values.to_vec();
    s.sort_by(f64::total_cmp);
    Some(s)
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Sample variance with divisor n − 1 (two-pass); NaN for fewer than two values, as R's `var`.
fn variance(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return f64::NAN;
    }
    let mu = mean(values);
    values.iter().map(|&x| (x - mu) * (x - mu)).sum::<f64>() / (values.len() - 1) as f64
}

fn sd(values: &[f64]) -> f64 {
    variance(values).sqrt()
}

/// R's `median`: the middle value, or the mean of the two middle values.
fn median_sorted(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// R's `max` and `min` propagate NA; `f64::max` would drop it.
fn max_na(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

fn min_na(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// `posterior:::.split_chains`: each chain of n draws becomes its first ⌊n/2⌋ and last ⌊n/2⌋
/// draws (the middle draw of an odd chain is dropped); chains of one draw are left whole.
fn split_chains(chains: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let n = chains.first().map_or(0, Vec::len);
    if n == 1 {
        return chains.to_vec();
    }
    let half = n / 2;
    let mut out = Vec::with_capacity(2 * chains.len());
    // R's cbind(x[first half, ], x[second half, ]) puts all first halves before all second halves.
    out.extend(chains.iter().map(|c| c[..half].to_vec()));
    out.extend(chains.iter().map(|c| c[n - half..].to_vec()));
    out
}

/// `posterior:::fold_draws`: |θ − median(θ)|, `med` being the median of all draws.
fn fold(chains: &[Vec<f64>], med: f64) -> Vec<Vec<f64>> {
    chains
        .iter()
        .map(|c| c.iter().map(|&x| (x - med).abs()).collect())
        .collect()
}

/// Average ranks (1-based) of `values`, ties sharing the mean of their ranks (R's
/// `rank(ties.method = "average")`).
fn average_ranks(values: &[f64]) -> Vec<f64> {
    // Sorting (value, position) pairs keeps the comparisons in cache; the sort need not be
    // stable because tied values receive the same rank whatever their order.
    let mut order: Vec<(f64, usize)> = values.iter().copied().zip(0..).collect();
    order.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && order[end].0 == order[start].0 {
            end += 1;
        }
        // Positions start..end hold ranks start+1 ..= end; their mean is (start + 1 + end) / 2.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &(_, i) in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

/// Rank normalization ([VGSCB21]): z = Φ⁻¹((r − 3/8) / (S − 2·3/8 + 1)) with r the average rank
/// of each draw among all S draws of all chains (Blom's offset; S − 2c + 1 = S + 1/4).
fn z_scale(chains: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let pooled = pooled(chains);
    let s = pooled.len() as f64;
    let normal = Normal::standard();
    let z: Vec<f64> = average_ranks(&pooled)
        .into_iter()
        .map(|r| normal.inverse_cdf((r - BLOM_C) / (s - 2.0 * BLOM_C + 1.0)))
        .collect();
    let n = chains.first().map_or(0, Vec::len);
    z.chunks(n.max(1)).map(<[f64]>::to_vec).collect()
}

/// `posterior:::.rhat` on chains that are already split (and possibly rank-normalized):
/// R̂ = √((B/W + n − 1) / n), B/n the variance of chain means, W the mean within-chain variance
/// ([BDA3] §11.4, var⁺ = (n − 1)/n · W + B/n).
fn rhat_basic(chains: &[Vec<f64>]) -> f64 {
    if should_return_na(chains) || chains.len() < 2 {
        return f64::NAN;
    }
    let n = chains[0].len();
    if n < 2 {
        return f64::NAN;
    }
    let chain_mean: Vec<f64> = chains.iter().map(|c| mean(c)).collect();
    let chain_var: Vec<f64> = chains.iter().map(|c| variance(c)).collect();
    let var_between = n as f64 * variance(&chain_mean);
    let var_within = mean(&chain_var);
    ((var_between / var_within + n as f64 - 1.0) / n as f64).sqrt()
}

/// `posterior:::.ess` on chains that are already split: ESS = MN / τ̂ with τ̂ from Geyer's initial
/// monotone sequence over the multi-chain autocorrelations ρ̂_t ([VGSCB21] §3.2, [Gey92]).
fn ess_basic(chains: &[Vec<f64>]) -> f64 {
    let m = chains.len();
    let n = chains.first().map_or(0, Vec::len);
    if n < 3 || should_return_na(chains) {
        return f64::NAN;
    }
    let mut acov = MeanAutocov::new(chains);
    let nf = n as f64;
    // W (mean within-chain variance, divisor n − 1) and var⁺ = (n − 1)/n · W + B/n ([BDA3] §11.4).
    let mean_var = acov.at(0) * nf / (nf - 1.0);
    let mut var_plus = mean_var * (nf - 1.0) / nf;
    if m > 1 {
        let chain_mean: Vec<f64> = chains.iter().map(|c| mean(c)).collect();
        var_plus += variance(&chain_mean);
    }
    // ρ̂_t = 1 − (W − mean over chains of the lag-t autocovariance) / var⁺ ([VGSCB21] §3.2).
    let mut rho_at = |t: usize| 1.0 - (mean_var - acov.at(t)) / var_plus;

    // Geyer's initial positive sequence: add pairs Γ_k = ρ̂_{2k} + ρ̂_{2k+1} while positive.
    // Indices are posterior's 1-based ones minus one; `t` is the even lag of the current pair.
    let mut rho = vec![0.0; n];
    let mut t: usize = 0;
    let mut rho_even = 1.0;
    rho[0] = rho_even;
    let mut rho_odd = rho_at(1);
    rho[1] = rho_odd;
    while (t as i64) < n as i64 - 5 && rho_even + rho_odd > 0.0 {
        t += 2;
        rho_even = rho_at(t);
        rho_odd = rho_at(t + 1);
        if rho_even + rho_odd >= 0.0 {
            rho[t] = rho_even;
            rho[t + 1] = rho_odd;
        }
    }
    let max_t = t;
    // The last even lag, when positive, enters the improved estimate below.
    if rho_even > 0.0 {
        rho[max_t] = rho_even;
    }

    // Geyer's initial monotone sequence: make the pair sums Γ_k non-increasing.
    let mut t: usize = 0;
    while (t as i64) <= max_t as i64 - 4 {
        t += 2;
        if rho[t] + rho[t + 1] > rho[t - 2] + rho[t - 1] {
            rho[t] = (rho[t - 2] + rho[t - 1]) / 2.0;
            rho[t + 1] = rho[t];
        }
    }

    let total = (m * n) as f64;
    // τ̂ = −1 + 2 Σ_{t<max_t} ρ̂_t + ρ̂_{max_t}: Geyer's truncated sum with the last even lag
    // added once, which reduces variance for antithetic chains ([VGSCB21] §3.2). When the
    // loop never ran (max_t = 0) R evaluates rho[1:0] as rho[1], so the sum is ρ̂_0 = 1; we
    // reproduce that so short chains match posterior.
    let head: f64 = if max_t == 0 {
        rho[0]
    } else {
        rho[..max_t].iter().sum()
    };
    let mut tau = -1.0 + 2.0 * head + rho[max_t];
    // τ̂ ≥ 1/log₁₀(MN), i.e. ESS ≤ MN·log₁₀(MN).
    let tau_bound = 1.0 / total.log10();
    if tau < tau_bound {
        tau = tau_bound;
    }
    total / tau
}

/// Lags below this are summed directly; the first lag at or above it triggers one FFT for all.
///
/// Geyer's truncation usually stops within a few dozen lags, where direct sums (O(m·n) per lag)
/// are cheaper than transforms; slowly mixing chains need many lags, where the FFT's
/// O(m·n log n) for all of them wins.
const DIRECT_LAGS: usize = 32;

/// The mean over chains of the biased autocovariance
/// γ̂_t = (1/n) Σ_{i<n−t} (x_i − x̄)(x_{i+t} − x̄), computed lag by lag as Geyer's sequence asks.
///
/// Equal to `posterior::autocovariance` up to round-off: posterior always uses the FFT and
/// rescales lag 0 to the directly summed variance, which our direct lags are by construction.
/// Zero variance gives all zeros, as in posterior.
struct MeanAutocov {
    /// Each chain minus its own mean.
    centred: Vec<Vec<f64>>,
    /// γ̂ averaged over chains, for lags 0..values.len().
    values: Vec<f64>,
}

impl MeanAutocov {
    fn new(chains: &[Vec<f64>]) -> Self {
        let centred = chains
            .iter()
            .map(|c| {
                let mu = mean(c);
                c.iter().map(|&v| v - mu).collect()
            })
            .collect();
        MeanAutocov {
            centred,
            values: Vec::new(),
        }
    }

    fn at(&mut self, t: usize) -> f64 {
        while self.values.len() <= t {
            let lag = self.values.len();
            if lag < DIRECT_LAGS {
                self.values.push(self.direct(lag));
            } else {
                self.extend_by_fft();
            }
        }
        self.values[t]
    }

    fn direct(&self, lag: usize) -> f64 {
        let m = self.centred.len() as f64;
        self.centred
            .iter()
            .map(|c| {
                let n = c.len();
                c[..n - lag]
                    .iter()
                    .zip(&c[lag..])
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
                    / n as f64
            })
            .sum::<f64>()
            / m
    }

    /// Fills every remaining lag from one zero-padded FFT per chain.
    fn extend_by_fft(&mut self) {
        let n = self.centred[0].len();
        let m = self.centred.len() as f64;
        // Zero-padding to ≥ 2n turns the FFT's circular correlation into the linear one.
        let size = (2 * n).next_power_of_two();
        let twiddles = twiddles(size);
        let mut sums = vec![0.0; n];
        for c in &self.centred {
            let ss: f64 = c.iter().map(|&v| v * v).sum();
            if ss == 0.0 {
                continue;
            }
            let mut re = vec![0.0; size];
            let mut im = vec![0.0; size];
            re[..n].copy_from_slice(c);
            fft(&mut re, &mut im, &twiddles, false);
            for (r, i) in re.iter_mut().zip(im.iter_mut()) {
                *r = *r * *r + *i * *i;
                *i = 0.0;
            }
            fft(&mut re, &mut im, &twiddles, true);
            // As posterior: scale so that lag 0 is exactly the summed Σ(x − x̄)² / n.
            let scale = ss / n as f64 / re[0];
            for (s, r) in sums.iter_mut().zip(&re) {
                *s += r * scale;
            }
        }
        let done = self.values.len();
        self.values.extend(sums[done..].iter().map(|s| s / m));
    }
}

/// e^{−2πik/size} for k < size/2, each from its own sin_cos (no accumulated drift).
fn twiddles(size: usize) -> Vec<(f64, f64)> {
    (0..size / 2)
        .map(|k| {
            let (s, c) = (-2.0 * std::f64::consts::PI * k as f64 / size as f64).sin_cos();
            (c, s)
        })
        .collect()
}

/// In-place iterative radix-2 Cooley–Tukey FFT, unnormalized in both directions; the length
/// must be a power of two and `twiddles` must come from [`twiddles`] for that length.
fn fft(re: &mut [f64], im: &mut [f64], twiddles: &[(f64, f64)], inverse: bool) {
    let n = re.len();
    debug_assert!(n.is_power_of_two() && im.len() == n && twiddles.len() == n / 2);
    if n < 2 {
        return;
    }
    // Bit-reversal permutation.
    let mut j = 0usize;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    // The inverse transform uses the conjugate twiddles.
    let sign = if inverse { -1.0 } else { 1.0 };
    let mut len = 2;
    while len <= n {
        let half = len / 2;
        let stride = n / len;
        for start in (0..n).step_by(len) {
            for k in 0..half {
                let (wr, wi) = twiddles[k * stride];
                let wi = sign * wi;
                let a = start + k;
                let b = a + half;
                let vr = re[b] * wr - im[b] * wi;
                let vi = re[b] * wi + im[b] * wr;
                re[b] = re[a] - vr;
                im[b] = im[a] - vi;
                re[a] += vr;
                im[a] += vi;
            }
        }
        len <<= 1;
    }
}

// ---------------------------------------------------------------------------------------------
// The table.

/// Column headings of [`render_table`], in order.
pub const TABLE_HEADINGS: [&str; 10] = [
    "name",
    "mean",
    "sd",
    "mcse_mean",
    "q5",
    "q50",
    "q95",
    "ess_bulk",
    "ess_tail",
    "rhat",
];

/// Renders rows as a fixed-width text table with `posterior`-style headings.
///
/// Values show 3 significant digits (scientific notation outside 10⁻³ ≤ |x| < 10⁶), ESS as a
/// whole number, R̂ with 3 decimals, NaN as `NA`. Each column is as wide as its widest cell
/// (at least 8 characters for numbers), names left-aligned, numbers right-aligned.
pub fn render_table(rows: &[SummaryRow]) -> String {
    let cells: Vec<[String; 10]> = rows
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                fmt_sig(r.mean),
                fmt_sig(r.sd),
                fmt_sig(r.mcse_mean),
                fmt_sig(r.q5),
                fmt_sig(r.q50),
                fmt_sig(r.q95),
                fmt_ess(r.ess_bulk),
                fmt_ess(r.ess_tail),
                fmt_rhat(r.rhat),
            ]
        })
        .collect();
    let mut widths = [0usize; 10];
    for (i, w) in widths.iter_mut().enumerate() {
        let min = if i == 0 { 4 } else { 8 };
        *w = cells
            .iter()
            .map(|c| c[i].chars().count())
            .chain([TABLE_HEADINGS[i].len(), min])
            .max()
            .expect("internal: chain has elements");
    }
    let mut out = String::new();
    let mut line = |row: &[&str]| {
        let mut s = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i == 0 {
                let _ = write!(s, "{:<w$}", cell, w = widths[0]);
            } else {
                let _ = write!(s, "  {:>w$}", cell, w = widths[i]);
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(&TABLE_HEADINGS);
    for c in &cells {
        let row: Vec<&str> = c.iter().map(String::as_str).collect();
        line(&row);
    }
    out
}

/// Three significant digits: fixed notation for 10⁻³ ≤ |x| < 10⁶ (and 0), scientific outside.
fn fmt_sig(x: f64) -> String {
    const SIG: i32 = 3;
    if x.is_nan() {
        return "NA".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if x == 0.0 {
        return format!("{:.*}", (SIG - 1) as usize, 0.0);
    }
    // The exponent after rounding to SIG digits (so 999.7 counts as 1.00e3).
    let sci = format!("{:.*e}", (SIG - 1) as usize, x);
    let exp: i32 = sci
        .rsplit('e')
        .next()
        .and_then(|e| e.parse().ok())
        .expect("internal: {:e} output has an exponent");
    if (-3..6).contains(&exp) {
        let decimals = (SIG - 1 - exp).max(0) as usize;
        format!("{x:.decimals$}")
    } else {
        sci
    }
}

fn fmt_ess(x: f64) -> String {
    if x.is_nan() {
        "NA".to_string()
    } else {
        format!("{x:.0}")
    }
}

fn fmt_rhat(x: f64) -> String {
    if x.is_nan() {
        "NA".to_string()
    } else {
        format!("{x:.3}")
    }
}

// ---------------------------------------------------------------------------------------------
// Sampler diagnostics.

/// E-BFMI = Σ_{n≥1} (E_n − E_{n−1})² / Σ_n (E_n − Ē)² over one chain's `energy__` [Bet16].
///
/// NaN for fewer than two draws or constant energy.
pub fn ebfmi(energy: &[f64]) -> f64 {
    if energy.len() < 2 {
        return f64::NAN;
    }
    let num: f64 = energy
        .windows(2)
        .map(|w| (w[1] - w[0]) * (w[1] - w[0]))
        .sum();
    let e_bar = mean(energy);
    let den: f64 = energy.iter().map(|&e| (e - e_bar) * (e - e_bar)).sum();
    num / den
}

/// One chain's per-draw sampler statistics, as NUTS records them (`divergent__`, `treedepth__`,
/// `energy__` in a Stan CSV). All three slices have one entry per post-warmup draw.
#[derive(Debug, Clone, Copy)]
pub struct ChainSamplerStats<'a> {
    /// Whether each transition ended in a divergence.
    pub divergent: &'a [bool],
    /// Tree depth of each transition.
    pub treedepth: &'a [u32],
    /// Hamiltonian (potential + kinetic energy) at each draw.
    pub energy: &'a [f64],
}

/// Per-chain sampler diagnostics and the settings they were judged against.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerDiagnostics {
    /// The sampler's maximum tree depth; a transition at this depth was cut short.
    pub max_depth: u32,
    /// One entry per chain, in chain order.
    pub chains: Vec<ChainDiagnostics>,
}

/// Sampler diagnostics of one chain.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainDiagnostics {
    /// Number of post-warmup transitions.
    pub draws: usize,
    /// Transitions that ended in a divergence.
    pub divergences: usize,
    /// Transitions whose tree depth reached `max_depth`.
    pub max_depth_hits: usize,
    /// E-BFMI of the chain's energy; NaN when undefined.
    pub ebfmi: f64,
}

/// Counts divergences and tree-depth saturation and computes E-BFMI, chain by chain.
pub fn sampler_diagnostics(chains: &[ChainSamplerStats<'_>], max_depth: u32) -> SamplerDiagnostics {
    SamplerDiagnostics {
        max_depth,
        chains: chains
            .iter()
            .map(|c| ChainDiagnostics {
                draws: c.divergent.len().max(c.treedepth.len()).max(c.energy.len()),
                divergences: c.divergent.iter().filter(|&&d| d).count(),
                // max_depth 0 means unknown (static HMC, SVI): nothing can hit it.
                max_depth_hits: c
                    .treedepth
                    .iter()
                    .filter(|&&d| max_depth > 0 && d >= max_depth)
                    .count(),
                ebfmi: ebfmi(c.energy),
            })
            .collect(),
    }
}

/// Thresholds below or above which a warning is raised; the defaults are [VGSCB21]'s and Stan's.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// Warn when R̂ exceeds this ([VGSCB21] recommends 1.01).
    pub rhat: f64,
    /// Warn when bulk or tail ESS is below this many draws per chain ([VGSCB21]: 100).
    pub ess_per_chain: f64,
    /// Warn when a chain's E-BFMI is below this (Stan uses 0.3).
    pub ebfmi: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            rhat: 1.01,
            ess_per_chain: 100.0,
            ebfmi: 0.3,
        }
    }
}

/// A problem found in a run, printed as a sentence that says what to do.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Warning {
    /// Some transitions ended in a divergence.
    Divergences {
        /// Divergent transitions over all chains.
        count: usize,
        /// Transitions over all chains.
        total: usize,
    },
    /// Some transitions were cut short at the maximum tree depth.
    MaxTreedepth {
        /// Saturated transitions over all chains.
        count: usize,
        /// Transitions over all chains.
        total: usize,
        /// The limit that was hit.
        max_depth: u32,
    },
    /// One chain's E-BFMI is below the threshold.
    LowEbfmi {
        /// 1-based chain number, as users count chains.
        chain: usize,
        /// The chain's E-BFMI.
        ebfmi: f64,
        /// The threshold it fell below.
        threshold: f64,
    },
    /// R̂ is above the threshold for some quantities.
    HighRhat {
        /// The offending quantities with their R̂, worst first.
        quantities: Vec<(String, f64)>,
        /// The threshold.
        threshold: f64,
    },
    /// Bulk ESS is below the per-chain threshold for some quantities.
    LowEssBulk {
        /// The offending quantities with their bulk ESS, lowest first.
        quantities: Vec<(String, f64)>,
        /// Required ESS per chain.
        per_chain: f64,
        /// Number of chains (the total requirement is `per_chain · chains`).
        chains: usize,
    },
    /// Tail ESS is below the per-chain threshold for some quantities.
    LowEssTail {
        /// The offending quantities with their tail ESS, lowest first.
        quantities: Vec<(String, f64)>,
        /// Required ESS per chain.
        per_chain: f64,
        /// Number of chains (the total requirement is `per_chain · chains`).
        chains: usize,
    },
}

/// How many offending quantities a warning names before saying "and N more".
const MAX_NAMED: usize = 5;

fn percent(count: usize, total: usize) -> String {
    let p = 100.0 * count as f64 / total.max(1) as f64;
    if p > 0.0 && p < 0.1 {
        "<0.1%".to_string()
    } else {
        format!("{p:.1}%")
    }
}

fn name_list(quantities: &[(String, f64)], decimals: usize) -> String {
    let mut s = quantities
        .iter()
        .take(MAX_NAMED)
        .map(|(n, v)| format!("{n} = {}", fmt_fixed_or_na(*v, decimals)))
        .collect::<Vec<_>>()
        .join(", ");
    if quantities.len() > MAX_NAMED {
        let _ = write!(s, ", and {} more", quantities.len() - MAX_NAMED);
    }
    s
}

fn fmt_fixed_or_na(x: f64, decimals: usize) -> String {
    if x.is_nan() {
        "NA".to_string()
    } else {
        format!("{x:.decimals$}")
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::Divergences { count, total } => write!(
                f,
                "{count} of {total} transitions ({}) ended with a divergence; consider raising \
                 --target-accept (e.g. to 0.95) or reparameterizing the model (e.g. a \
                 non-centered parameterization): divergences mean the sampler could not follow \
                 the posterior's curvature, so the draws may be biased.",
                percent(*count, *total)
            ),
            Warning::MaxTreedepth {
                count,
                total,
                max_depth,
            } => write!(
                f,
                "{count} of {total} transitions ({}) hit the maximum tree depth of {max_depth}; \
                 this costs efficiency, not correctness: consider raising --max-depth, or \
                 reparameterizing to reduce strong correlations between parameters.",
                percent(*count, *total)
            ),
            Warning::LowEbfmi {
                chain,
                ebfmi,
                threshold,
            } => write!(
                f,
                "E-BFMI {ebfmi:.2} in chain {chain} is below {threshold}: the sampler explores \
                 the energy distribution poorly, typically because of heavy tails or a funnel; \
                 consider reparameterizing (e.g. non-centered scales) or more informative priors."
            ),
            Warning::HighRhat {
                quantities,
                threshold,
            } => write!(
                f,
                "R-hat is above {threshold} for {} ({}): the chains disagree, so these \
                 estimates are unreliable; run longer chains, and if that does not help, look \
                 for multimodality or reparameterize.",
                plural(quantities.len(), "quantity", "quantities"),
                name_list(quantities, 3)
            ),
            Warning::LowEssBulk {
                quantities,
                per_chain,
                chains,
            } => write!(
                f,
                "Bulk ESS is below {per_chain} per chain ({} for {}) for {} ({}): posterior \
                 means and medians are imprecise; run more draws, or reparameterize to reduce \
                 autocorrelation.",
                per_chain * *chains as f64,
                plural(*chains, "chain", "chains"),
                plural(quantities.len(), "quantity", "quantities"),
                name_list(quantities, 0)
            ),
            Warning::LowEssTail {
                quantities,
                per_chain,
                chains,
            } => write!(
                f,
                "Tail ESS is below {per_chain} per chain ({} for {}) for {} ({}): posterior \
                 intervals and tail quantiles are imprecise; run more draws, or reparameterize \
                 to reduce autocorrelation.",
                per_chain * *chains as f64,
                plural(*chains, "chain", "chains"),
                plural(quantities.len(), "quantity", "quantities"),
                name_list(quantities, 0)
            ),
        }
    }
}

impl SamplerDiagnostics {
    /// Total divergent transitions over all chains.
    pub fn divergences(&self) -> usize {
        self.chains.iter().map(|c| c.divergences).sum()
    }

    /// Total transitions that hit the maximum tree depth over all chains.
    pub fn max_depth_hits(&self) -> usize {
        self.chains.iter().map(|c| c.max_depth_hits).sum()
    }

    /// Warnings about divergences, tree-depth saturation and low E-BFMI, in that order.
    pub fn warnings(&self, thresholds: &Thresholds) -> Vec<Warning> {
        let total: usize = self.chains.iter().map(|c| c.draws).sum();
        let mut out = Vec::new();
        if self.divergences() > 0 {
            out.push(Warning::Divergences {
                count: self.divergences(),
                total,
            });
        }
        if self.max_depth_hits() > 0 {
            out.push(Warning::MaxTreedepth {
                count: self.max_depth_hits(),
                total,
                max_depth: self.max_depth,
            });
        }
        for (i, c) in self.chains.iter().enumerate() {
            if c.ebfmi < thresholds.ebfmi {
                out.push(Warning::LowEbfmi {
                    chain: i + 1,
                    ebfmi: c.ebfmi,
                    threshold: thresholds.ebfmi,
                });
            }
        }
        out
    }
}

/// Warnings about R̂ and ESS over summary rows from `chains` chains.
///
/// Quantities whose R̂ or ESS is NaN (constant or non-finite draws) raise no warning: a
/// constant quantity (a fixed element of a correlation matrix, say) is not a convergence
/// failure, and non-finite draws are reported where they arise.
pub fn convergence_warnings(
    rows: &[SummaryRow],
    chains: usize,
    thresholds: &Thresholds,
) -> Vec<Warning> {
    let worst = |pick: &dyn Fn(&SummaryRow) -> Option<f64>, descending: bool| {
        let mut v: Vec<(String, f64)> = rows
            .iter()
            .filter_map(|r| pick(r).map(|x| (r.name.clone(), x)))
            .collect();
        v.sort_by(|a, b| {
            let o = a.1.total_cmp(&b.1);
            if descending {
                o.reverse()
            } else {
                o
            }
        });
        v
    };
    let ess_min = thresholds.ess_per_chain * chains as f64;
    let high_rhat = worst(&|r| (r.rhat > thresholds.rhat).then_some(r.rhat), true);
    let low_bulk = worst(&|r| (r.ess_bulk < ess_min).then_some(r.ess_bulk), false);
    let low_tail = worst(&|r| (r.ess_tail < ess_min).then_some(r.ess_tail), false);
    let mut out = Vec::new();
    if !high_rhat.is_empty() {
        out.push(Warning::HighRhat {
            quantities: high_rhat,
            threshold: thresholds.rhat,
        });
    }
    if !low_bulk.is_empty() {
        out.push(Warning::LowEssBulk {
            quantities: low_bulk,
            per_chain: thresholds.ess_per_chain,
            chains,
        });
    }
    if !low_tail.is_empty() {
        out.push(Warning::LowEssTail {
            quantities: low_tail,
            per_chain: thresholds.ess_per_chain,
            chains,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct O(n²) biased autocovariance, the definition the FFT must reproduce.
    fn autocovariance_direct(x: &[f64]) -> Vec<f64> {
        let n = x.len();
        let mu = mean(x);
        (0..n)
            .map(|t| {
                (0..n - t)
                    .map(|i| (x[i] - mu) * (x[i + t] - mu))
                    .sum::<f64>()
                    / n as f64
            })
            .collect()
    }

    #[test]
    fn lazy_autocovariance_matches_direct_sums_at_every_lag() {
        // Two deterministic, non-periodic chains of awkward length (not a power of two); lags
        // past DIRECT_LAGS come from the FFT.
        let chains: Vec<Vec<f64>> = (0..2)
            .map(|c| {
                (0..777)
                    .map(|i| ((i * i + c) as f64 * 0.37).sin() + 0.01 * i as f64)
                    .collect()
            })
            .collect();
        let direct: Vec<Vec<f64>> = chains.iter().map(|c| autocovariance_direct(c)).collect();
        let mut lazy = MeanAutocov::new(&chains);
        let scale = (direct[0][0] + direct[1][0]) / 2.0;
        // Ask out of order too: a high lag first fills everything below it.
        for t in [0, 1, 31, 32, 500, 2, 776] {
            let expected = (direct[0][t] + direct[1][t]) / 2.0;
            let got = lazy.at(t);
            assert!(
                (got - expected).abs() < 1e-12 * scale,
                "lag {t}: lazy {got} direct {expected}"
            );
        }
    }

    #[test]
    fn fft_round_trip_recovers_input() {
        let mut re: Vec<f64> = (0..16).map(|i| i as f64 * 0.5 - 3.0).collect();
        let orig = re.clone();
        let mut im = vec![0.0; 16];
        let tw = twiddles(16);
        fft(&mut re, &mut im, &tw, false);
        fft(&mut re, &mut im, &tw, true);
        for (a, b) in re.iter().zip(&orig) {
            assert!((a / 16.0 - b).abs() < 1e-13);
        }
    }

    #[test]
    fn average_ranks_share_ties() {
        // 3.0 appears twice at sorted positions 2 and 3, so both get (2 + 3) / 2 = 2.5.
        assert_eq!(
            average_ranks(&[5.0, 3.0, 1.0, 3.0]),
            vec![4.0, 2.5, 1.0, 2.5]
        );
    }

    #[test]
    fn split_drops_the_middle_draw_of_odd_chains() {
        let s = split_chains(&[
            vec![1.0, 2.0, 3.0, 4.0, 5.0],
            vec![6.0, 7.0, 8.0, 9.0, 10.0],
        ]);
        assert_eq!(
            s,
            vec![
                vec![1.0, 2.0],
                vec![6.0, 7.0],
                vec![4.0, 5.0],
                vec![9.0, 10.0]
            ]
        );
    }

    #[test]
    fn type7_quantile_interpolates() {
        // index = 1 + 4·0.3 = 2.2 → 0.8·x₂ + 0.2·x₃ = 0.8·20 + 0.2·30 = 22.
        let q = quantile(&[vec![10.0, 20.0, 30.0, 40.0, 50.0]], 0.3);
        assert!((q - 22.0).abs() < 1e-12);
    }

    #[test]
    fn fmt_sig_keeps_three_digits() {
        assert_eq!(fmt_sig(0.123456), "0.123");
        assert_eq!(fmt_sig(-12.3456), "-12.3");
        assert_eq!(fmt_sig(999.7), "1000");
        assert_eq!(fmt_sig(123456.0), "123456");
        assert_eq!(fmt_sig(0.0001234), "1.23e-4");
        assert_eq!(fmt_sig(0.0), "0.00");
        assert_eq!(fmt_sig(f64::NAN), "NA");
    }
}
