//! Predictive metrics against known targets: RMSE, MAE, mean log predictive density and
//! interval coverage for regression; accuracy, NLL, Brier score and calibration error for
//! classifiers.
//!
//! [GPSW17] Guo, Pleiss, Sun & Weinberger, On Calibration of Modern Neural Networks, ICML 2017
//! (ECE and MCE over equal-width confidence bins, eq. 3 and the MCE that follows it).

use super::{argmax, Family, Predictions, QUANTILES};
use serde::Serialize;

/// Root mean squared error of point predictions.
pub fn rmse(pred: &[f64], y: &[f64]) -> f64 {
    let n = pred.len() as f64;
    (pred
        .iter()
        .zip(y)
        .map(|(p, t)| (p - t).powi(2))
        .sum::<f64>()
        / n)
        .sqrt()
}

/// Mean absolute error of point predictions.
pub fn mae(pred: &[f64], y: &[f64]) -> f64 {
    let n = pred.len() as f64;
    pred.iter().zip(y).map(|(p, t)| (p - t).abs()).sum::<f64>() / n
}

/// Mean of per-row log predictive densities (each already log-mean-exp over draws).
pub fn mean_lpd(lpd: &[f64]) -> f64 {
    lpd.iter().sum::<f64>() / lpd.len() as f64
}

/// Fraction of targets inside [lo, hi] (inclusive).
pub fn coverage(lo: &[f64], hi: &[f64], y: &[f64]) -> f64 {
    let inside = y
        .iter()
        .zip(lo.iter().zip(hi))
        .filter(|(t, (l, h))| *l <= *t && *t <= *h)
        .count();
    inside as f64 / y.len() as f64
}

/// One confidence bin of a reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Bin {
    /// Lower edge of the bin.
    pub lo: f64,
    /// Upper edge.
    pub hi: f64,
    /// Rows whose confidence falls in the bin.
    pub count: usize,
    /// Mean confidence of those rows (NaN when empty).
    pub confidence: f64,
    /// Their accuracy (NaN when empty).
    pub accuracy: f64,
}

/// Calibration of top-label confidences.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    /// Expected calibration error Σ_b (n_b/n)·|acc_b − conf_b| ([GPSW17] eq. 3).
    pub ece: f64,
    /// Maximum calibration error max_b |acc_b − conf_b| over non-empty bins.
    pub mce: f64,
    /// The bins.
    pub bins: Vec<Bin>,
}

/// ECE and MCE of `confidence` (probability of the predicted class) against whether the
/// prediction was right, over `n_bins` equal-width bins on [0, 1]; a confidence of exactly
/// b/n_bins falls in the bin below it, so 1.0 is in the last bin.
pub fn calibration(confidence: &[f64], correct: &[bool], n_bins: usize) -> Calibration {
    let n_bins = n_bins.max(1);
    let mut count = vec![0usize; n_bins];
    let mut conf = vec![0.0; n_bins];
    let mut acc = vec![0.0; n_bins];
    for (&c, &ok) in confidence.iter().zip(correct) {
        let b = ((c * n_bins as f64).ceil() as usize).clamp(1, n_bins) - 1;
        count[b] += 1;
        conf[b] += c;
        acc[b] += if ok { 1.0 } else { 0.0 };
    }
    let n = confidence.len() as f64;
    let (mut ece, mut mce) = (0.0, 0.0_f64);
    let bins = (0..n_bins)
        .map(|b| {
            let (c, a) = if count[b] > 0 {
                (conf[b] / count[b] as f64, acc[b] / count[b] as f64)
            } else {
                (f64::NAN, f64::NAN)
            };
            if count[b] > 0 {
                ece += count[b] as f64 / n * (a - c).abs();
                mce = mce.max((a - c).abs());
            }
            Bin {
                lo: b as f64 / n_bins as f64,
                hi: (b + 1) as f64 / n_bins as f64,
                count: count[b],
                confidence: c,
                accuracy: a,
            }
        })
        .collect();
    Calibration { ece, mce, bins }
}

/// Multi-class Brier score: mean over rows of Σ_k (p_k − [y = k])² (Brier 1950's original
/// form; for two classes it is twice the (p − y)² form).
pub fn brier(probs: &[f64], k: usize, labels: &[usize]) -> f64 {
    let n = labels.len();
    let mut total = 0.0;
    for (i, &y) in labels.iter().enumerate() {
        for c in 0..k {
            let t = if c == y { 1.0 } else { 0.0 };
            total += (probs[i * k + c] - t).powi(2);
        }
    }
    total / n as f64
}

/// Regression metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegressionMetrics {
    /// RMSE of the predictive mean.
    pub rmse: f64,
    /// MAE of the predictive mean.
    pub mae: f64,
    /// Mean log predictive density (NaN for likelihoods without one here).
    pub mean_lpd: f64,
    /// Coverage of the central 50 % interval.
    pub coverage_50: f64,
    /// Coverage of the central 90 % interval.
    pub coverage_90: f64,
    /// Coverage of the central 95 % interval.
    pub coverage_95: f64,
}

/// Classification metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassificationMetrics {
    /// Fraction of rows whose most probable class is the label.
    pub accuracy: f64,
    /// Mean negative log predictive probability of the label.
    pub nll: f64,
    /// Multi-class Brier score.
    pub brier: f64,
    /// Calibration (ECE, MCE and bins).
    pub calibration: Calibration,
}

/// Metrics of either kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Metrics {
    /// Regression.
    Regression(RegressionMetrics),
    /// Classification.
    Classification(ClassificationMetrics),
}

fn q_index(level: f64) -> usize {
    QUANTILES
        .iter()
        .position(|&q| (q - level).abs() < 1e-12)
        .expect("internal: level in QUANTILES")
}

/// Metrics of predictions against targets (one per row; labels as 0-based numbers).
pub fn evaluate(pred: &Predictions, y: &[f64], n_bins: usize) -> Metrics {
    if pred.family.is_classifier() {
        let k = pred.family.classes();
        let labels: Vec<usize> = y.iter().map(|&t| t as usize).collect();
        let mut conf = Vec::with_capacity(labels.len());
        let mut correct = Vec::with_capacity(labels.len());
        let mut nll = 0.0;
        for (i, &t) in labels.iter().enumerate() {
            let p = &pred.probs[i * k..(i + 1) * k];
            let c = argmax(p);
            conf.push(p[c]);
            correct.push(c == t);
            nll -= p.get(t).copied().unwrap_or(0.0).ln();
        }
        Metrics::Classification(ClassificationMetrics {
            accuracy: correct.iter().filter(|&&c| c).count() as f64 / labels.len() as f64,
            nll: nll / labels.len() as f64,
            brier: brier(&pred.probs, k, &labels),
            calibration: calibration(&conf, &correct, n_bins),
        })
    } else {
        let q = |level: f64| &pred.quantiles[q_index(level)];
        Metrics::Regression(RegressionMetrics {
            rmse: rmse(&pred.mean, y),
            mae: mae(&pred.mean, y),
            mean_lpd: if matches!(pred.family, Family::Other(_)) {
                f64::NAN
            } else {
                mean_lpd(&pred.lpd)
            },
            coverage_50: coverage(q(0.25), q(0.75), y),
            coverage_90: coverage(q(0.05), q(0.95), y),
            coverage_95: coverage(q(0.025), q(0.975), y),
        })
    }
}
