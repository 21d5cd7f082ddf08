//! R̂, bulk/tail ESS, MCSE and quantiles of one scalar quantity, with the per-quantity summary row that gathers them.

use super::autocov::MeanAutocov;
use statrs::distribution::{Beta, ContinuousCDF, Normal};

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

/// The arithmetic mean (NaN for no values).
pub(super) fn mean(values: &[f64]) -> f64 {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
