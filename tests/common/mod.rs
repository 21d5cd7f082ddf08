//! Shared helpers for the engine tests: test densities and an ESS-based Monte Carlo error.
#![allow(dead_code)]

pub mod exact;
pub mod linear;
pub mod members;

use bnnppl::density::FnDensity;
use bnnppl::engine::Trace;

/// log N(θ | 0, I) in `dim` dimensions, up to a constant.
pub fn standard_normal(dim: usize) -> FnDensity<impl FnMut(&[f64], &mut [f64]) -> f64 + Clone> {
    FnDensity::new(dim, |x: &[f64], g: &mut [f64]| {
        let mut lp = 0.0;
        for (xi, gi) in x.iter().zip(g.iter_mut()) {
            lp -= 0.5 * xi * xi;
            *gi = -xi;
        }
        lp
    })
}

/// log N(θ | 0, diag(scales²)), up to a constant.
pub fn scaled_normal(
    scales: &'static [f64],
) -> FnDensity<impl FnMut(&[f64], &mut [f64]) -> f64 + Clone> {
    FnDensity::new(scales.len(), move |x: &[f64], g: &mut [f64]| {
        let mut lp = 0.0;
        for i in 0..x.len() {
            let s2 = scales[i] * scales[i];
            lp -= 0.5 * x[i] * x[i] / s2;
            g[i] = -x[i] / s2;
        }
        lp
    })
}

/// Effective sample size of one quantity over several chains of equal length: Stan's
/// multi-chain autocorrelation with Geyer's initial monotone sequence (BDA3 §11.5).
pub fn ess(chains: &[Vec<f64>]) -> f64 {
    let m = chains.len();
    let n = chains[0].len();
    assert!(chains.iter().all(|c| c.len() == n) && n > 3);
    let nf = n as f64;
    let means: Vec<f64> = chains.iter().map(|c| c.iter().sum::<f64>() / nf).collect();
    // Biased autocovariance of chain j at lag t.
    let acov = |j: usize, t: usize| -> f64 {
        let c = &chains[j];
        let mu = means[j];
        (0..n - t)
            .map(|i| (c[i] - mu) * (c[i + t] - mu))
            .sum::<f64>()
            / nf
    };
    let within: f64 = (0..m).map(|j| acov(j, 0) * nf / (nf - 1.0)).sum::<f64>() / m as f64;
    let grand = means.iter().sum::<f64>() / m as f64;
    let between_over_n = if m > 1 {
        means.iter().map(|mu| (mu - grand).powi(2)).sum::<f64>() / (m as f64 - 1.0)
    } else {
        0.0
    };
    let var_plus = (nf - 1.0) / nf * within + between_over_n;
    let rho = |t: usize| -> f64 {
        let mean_acov = (0..m).map(|j| acov(j, t)).sum::<f64>() / m as f64;
        1.0 - (within - mean_acov) / var_plus
    };
    // τ = −1 + 2 Σ_k P_k with P_k = ρ(2k) + ρ(2k + 1), summed while positive and made monotone.
    let mut sum = 0.0;
    let mut prev = f64::INFINITY;
    let mut k = 0;
    while 2 * k + 1 < n {
        let mut p = rho(2 * k) + rho(2 * k + 1);
        if p <= 0.0 {
            break;
        }
        p = p.min(prev);
        prev = p;
        sum += p;
        k += 1;
    }
    let tau = (-1.0 + 2.0 * sum).max(1.0 / (m as f64 * nf).log10());
    m as f64 * nf / tau
}

/// Mean, sd and their Monte Carlo standard errors of component `j` over the sampling draws.
pub struct Moments {
    pub mean: f64,
    pub sd: f64,
    pub mcse_mean: f64,
    pub mcse_sd: f64,
    pub ess: f64,
}

pub fn moments(trace: &Trace, j: usize) -> Moments {
    let chains: Vec<Vec<f64>> = trace.chains.iter().map(|c| c.column(j)).collect();
    let all: Vec<f64> = chains.iter().flatten().copied().collect();
    let n = all.len() as f64;
    let mean = all.iter().sum::<f64>() / n;
    let var = all.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let sd = var.sqrt();
    let ess_mean = ess(&chains);
    // sd by the delta method on y = (x − mean)²: MCSE(var) = sd(y)/√ESS(y), MCSE(sd) ≈ MCSE(var)/(2 sd).
    let sq: Vec<Vec<f64>> = chains
        .iter()
        .map(|c| c.iter().map(|x| (x - mean).powi(2)).collect())
        .collect();
    let ys: Vec<f64> = sq.iter().flatten().copied().collect();
    let y_mean = ys.iter().sum::<f64>() / n;
    let y_sd = (ys.iter().map(|y| (y - y_mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let mcse_var = y_sd / ess(&sq).sqrt();
    Moments {
        mean,
        sd,
        mcse_mean: sd / ess_mean.sqrt(),
        mcse_sd: mcse_var / (2.0 * sd),
        ess: ess_mean,
    }
}

/// Asserts mean and sd of component `j` match the exact values within 4.5 Monte Carlo errors.
pub fn assert_moments(trace: &Trace, j: usize, exact_mean: f64, exact_sd: f64) {
    let m = moments(trace, j);
    let z_mean = (m.mean - exact_mean) / m.mcse_mean;
    let z_sd = (m.sd - exact_sd) / m.mcse_sd;
    assert!(
        z_mean.abs() < 4.5,
        "component {j}: mean {} vs exact {exact_mean}, mcse {} (ess {:.0})",
        m.mean,
        m.mcse_mean,
        m.ess
    );
    assert!(
        z_sd.abs() < 4.5,
        "component {j}: sd {} vs exact {exact_sd}, mcse {} (ess {:.0})",
        m.sd,
        m.mcse_sd,
        m.ess
    );
}

/// Compares `got` with `tests/cli/NAME`, or writes it under BLESS=1.
pub fn golden(name: &str, got: &str) {
    let path = std::path::Path::new("tests/cli").join(name);
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, got).expect("write golden");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with BLESS=1", path.display()));
    assert_eq!(want, got, "{} differs", path.display());
}

/// The draws of a chain file, without the comment lines (which hold the elapsed seconds).
pub fn draws_of(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).expect("chain file");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}
