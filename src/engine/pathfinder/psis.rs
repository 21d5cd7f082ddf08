//! Pareto-smoothed importance sampling [VSGY24]: the largest importance ratios replaced by the
//! expected order statistics of a generalized Pareto fitted to them [ZS09], the shape k̂ that
//! diagnoses the ratios' tail, and resampling by the smoothed weights.
//!
//! The tail is the M = ⌈min(S/5, 3√S)⌉ largest of S ratios [VSGY24, §3]; the generalized Pareto
//! of their exceedances over the next largest is fitted by Zhang & Stephens' empirical Bayes
//! estimate [ZS09, §2] with m = 30 + ⌊√M⌋ grid points, and k̂ is pulled toward 0.5 by a weak
//! prior worth 10 observations [VSGY24, Appendix C]. The z-th smallest tail ratio becomes the
//! threshold plus the fitted quantile at (z − ½)/M, capped at the largest raw ratio.
//!
//! - [VSGY24] Vehtari, Simpson, Gelman, Yao & Gabry, Pareto smoothed importance sampling, JMLR
//!   25(72), 2024.
//! - [ZS09] Zhang & Stephens, A new and efficient estimation method for the generalized Pareto
//!   distribution, Technometrics 51(3), 2009.

use rand::{Rng, RngExt};

/// Normalized weights (summing to 1) from log importance ratios, Pareto-smoothed, and k̂
/// (`None` when the tail is too short or flat to fit). A ratio of −∞ gets weight 0.
pub fn psis_weights(log_ratios: &[f64]) -> (Vec<f64>, Option<f64>) {
    let s = log_ratios.len();
    let max = log_ratios
        .iter()
        .copied()
        .filter(|x| x.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return (vec![0.0; s], None);
    }
    // Ratios relative to the largest, so exp never overflows.
    let mut lw: Vec<f64> = log_ratios
        .iter()
        .map(|x| {
            if x.is_nan() {
                f64::NEG_INFINITY
            } else {
                x - max
            }
        })
        .collect();
    let tail = ((s as f64 / 5.0).min(3.0 * (s as f64).sqrt())).ceil() as usize;
    let mut k_hat = None;
    if tail >= 5 && tail < s {
        let mut order: Vec<usize> = (0..s).collect();
        order.sort_by(|&a, &b| lw[a].total_cmp(&lw[b]));
        let cutoff = lw[order[s - tail - 1]];
        let tail_idx = &order[s - tail..];
        if cutoff.is_finite() {
            let threshold = cutoff.exp();
            let exceed: Vec<f64> = tail_idx.iter().map(|&i| lw[i].exp() - threshold).collect();
            if exceed[tail - 1] > exceed[0] {
                let (k, sigma) = gpd_fit(&exceed);
                for (z, &i) in tail_idx.iter().enumerate() {
                    let p = (z as f64 + 0.5) / tail as f64;
                    let smoothed = threshold + gpd_quantile(p, k, sigma);
                    lw[i] = smoothed.ln().min(0.0);
                }
                k_hat = Some(k);
            }
        }
    }
    let mut w: Vec<f64> = lw.iter().map(|x| x.exp()).collect();
    let total: f64 = w.iter().sum();
    w.iter_mut().for_each(|x| *x /= total);
    (w, k_hat)
}

/// The generalized Pareto's shape k and scale σ fitted to exceedances `x` sorted ascending
/// (all ≥ 0) by [ZS09]'s posterior-mean estimate of θ = −k/σ, k weakly shrunk toward ½.
fn gpd_fit(x: &[f64]) -> (f64, f64) {
    let n = x.len();
    let nf = n as f64;
    let grid = 30 + (nf.sqrt()) as usize;
    let quartile = x[((nf / 4.0 + 0.5).floor() as usize).max(1) - 1];
    let x_max = x[n - 1];
    // [ZS09, §2]: θⱼ = 1/x₍ₙ₎ + (1 − √(m/(j − ½))) / (3·x₍⌊n/4+½⌋₎), j = 1..m.
    let thetas: Vec<f64> = (1..=grid)
        .map(|j| 1.0 / x_max + (1.0 - (grid as f64 / (j as f64 - 0.5)).sqrt()) / (3.0 * quartile))
        .collect();
    // The profile log-likelihood ℓ(θ) = n·(log(−θ/k) − k − 1) with k(θ) = mean log(1 − θx).
    let k_of = |t: f64| x.iter().map(|xi| (-t * xi).ln_1p()).sum::<f64>() / nf;
    let profile: Vec<f64> = thetas
        .iter()
        .map(|&t| {
            let k = k_of(t);
            nf * ((-t / k).ln() - k - 1.0)
        })
        .collect();
    // Posterior weights wⱼ = 1 / Σᵢ exp(ℓᵢ − ℓⱼ); θ̂ = Σ wⱼθⱼ.
    let weights: Vec<f64> = profile
        .iter()
        .map(|lj| {
            let s: f64 = profile
                .iter()
                .map(|li| {
                    let e = (li - lj).exp();
                    if e.is_nan() {
                        0.0
                    } else {
                        e
                    }
                })
                .sum();
            if s.is_finite() && s > 0.0 {
                1.0 / s
            } else {
                0.0
            }
        })
        .collect();
    let total: f64 = weights.iter().sum();
    let theta_hat: f64 = thetas.iter().zip(&weights).map(|(t, w)| t * w).sum::<f64>() / total;
    let k = k_of(theta_hat);
    let sigma = -k / theta_hat;
    // [VSGY24, Appendix C]: a weak prior worth 10 observations at k = ½.
    let k = (nf * k + 10.0 * 0.5) / (nf + 10.0);
    (k, sigma)
}

/// The generalized Pareto's quantile at probability p: σ·((1 − p)^(−k) − 1)/k.
fn gpd_quantile(p: f64, k: f64, sigma: f64) -> f64 {
    if k.abs() < 1e-12 {
        -sigma * (-p).ln_1p()
    } else {
        sigma * ((-k * (-p).ln_1p()).exp_m1()) / k
    }
}

/// Index of a draw from the categorical distribution with these (normalized) weights.
fn pick<R: Rng + ?Sized>(weights: &[f64], total: f64, rng: &mut R) -> usize {
    let u = rng.random::<f64>() * total;
    let mut acc = 0.0;
    for (i, w) in weights.iter().enumerate() {
        acc += w;
        if u < acc {
            return i;
        }
    }
    // Rounding left u at the total: the last index with weight.
    weights
        .iter()
        .rposition(|w| *w > 0.0)
        .expect("internal: some weight is positive")
}

/// `n` indices drawn with replacement by the weights (multinomial resampling, as Stan's
/// Pathfinder resamples).
pub fn resample<R: Rng + ?Sized>(weights: &[f64], n: usize, rng: &mut R) -> Vec<usize> {
    let total: f64 = weights.iter().sum();
    (0..n).map(|_| pick(weights, total, rng)).collect()
}

/// Up to `n` distinct indices, each drawn by the weights of those not yet drawn (fewer when
/// fewer weights are positive).
pub fn resample_distinct<R: Rng + ?Sized>(weights: &[f64], n: usize, rng: &mut R) -> Vec<usize> {
    let mut w = weights.to_vec();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let total: f64 = w.iter().sum();
        if total.is_nan() || total <= 0.0 {
            break;
        }
        let i = pick(&w, total, rng);
        w[i] = 0.0;
        out.push(i);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_distr::{Distribution, Exp};

    #[test]
    fn the_shape_of_a_pareto_sample_is_recovered() {
        // Exceedances of a generalized Pareto with k = 0.5, σ = 1: x = σ((1 − U)^(−k) − 1)/k.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut x: Vec<f64> = (0..4000)
            .map(|_| gpd_quantile(rng.random::<f64>(), 0.5, 1.0))
            .collect();
        x.sort_by(f64::total_cmp);
        let (k, sigma) = gpd_fit(&x);
        // The estimate's sd at n = 4000 is about (1 + k)/√n ≈ 0.024: 0.1 is four of them.
        assert!((k - 0.5).abs() < 0.1, "k = {k}");
        assert!((sigma - 1.0).abs() < 0.1, "σ = {sigma}");
    }

    #[test]
    fn k_hat_separates_light_from_heavy_tails() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        // Equal ratios plus tiny exponential noise: a light tail, k̂ well below 0.5.
        let light: Vec<f64> = (0..2000)
            .map(|_| 0.01 * Exp::new(1.0).unwrap().sample(&mut rng))
            .collect();
        let (w, k) = psis_weights(&light);
        assert!(k.expect("fitted") < 0.5, "{k:?}");
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // log ratios 2·log(1/U): ratios U^(−2), a Pareto tail of shape 2.
        let heavy: Vec<f64> = (0..2000).map(|_| -2.0 * rng.random::<f64>().ln()).collect();
        let (_, k) = psis_weights(&heavy);
        assert!(k.expect("fitted") > 1.0, "{k:?}");
    }

    #[test]
    fn resampling_follows_the_weights_and_distinct_draws_repeat_nothing() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let w = [0.0, 0.25, 0.75];
        let picks = resample(&w, 20_000, &mut rng);
        let share = picks.iter().filter(|&&i| i == 2).count() as f64 / 20_000.0;
        // Binomial sd √(0.75·0.25/20000) ≈ 0.003.
        assert!((share - 0.75).abs() < 0.015, "{share}");
        assert!(!picks.contains(&0));
        let mut d = resample_distinct(&w, 5, &mut rng);
        d.sort_unstable();
        assert_eq!(d, [1, 2], "only two weights are positive");
    }
}
