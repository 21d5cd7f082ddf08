//! Exact posteriors and the check of draws against them: mean, sd and 5/50/95 % quantiles by
//! |z| < 4.5 with MCSEs from the ESS, and R-hat ≤ 1.01.

use bnnppl::draws::Draws;
use bnnppl::summary::{mcse_mean, mcse_quantile, mcse_sd, quantile, rhat};
use statrs::distribution::{Beta, ContinuousCDF, Gamma, Normal};

/// What the exact posterior of one quantity is.
pub struct Exact {
    /// Posterior mean.
    pub mean: f64,
    /// Posterior sd.
    pub sd: f64,
    /// Inverse CDF, for the 5/50/95 % quantiles.
    pub quantile: Box<dyn Fn(f64) -> f64>,
}

/// A normal posterior.
pub fn normal(mean: f64, sd: f64) -> Exact {
    let d = Normal::new(mean, sd).expect("normal");
    Exact {
        mean,
        sd,
        quantile: Box::new(move |p| d.inverse_cdf(p)),
    }
}

/// A gamma posterior (shape, rate).
pub fn gamma(shape: f64, rate: f64) -> Exact {
    let d = Gamma::new(shape, rate).expect("gamma");
    Exact {
        mean: shape / rate,
        sd: shape.sqrt() / rate,
        quantile: Box::new(move |p| d.inverse_cdf(p)),
    }
}

/// A beta posterior.
pub fn beta(a: f64, b: f64) -> Exact {
    let d = Beta::new(a, b).expect("beta");
    let mean = a / (a + b);
    let sd = (a * b / ((a + b).powi(2) * (a + b + 1.0))).sqrt();
    Exact {
        mean,
        sd,
        quantile: Box::new(move |p| d.inverse_cdf(p)),
    }
}

/// Checks mean, sd and the 5/50/95 % quantiles of `name` against `exact`, by |z| < 4.5 with
/// MCSEs from the ESS, and R-hat ≤ 1.01.
pub fn check(draws: &Draws, name: &str, exact: &Exact) {
    let chains = draws
        .column(name)
        .unwrap_or_else(|| panic!("no column {name} in {:?}", draws.columns));
    let all: Vec<f64> = chains.iter().flatten().copied().collect();
    let n = all.len() as f64;
    let mean = all.iter().sum::<f64>() / n;
    let sd = (all.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let r = rhat(&chains);
    assert!(r <= 1.01, "{name}: R-hat {r}");
    let z = (mean - exact.mean) / mcse_mean(&chains);
    assert!(
        z.abs() < 4.5,
        "{name}: mean {mean} vs exact {}, z = {z}",
        exact.mean
    );
    let z = (sd - exact.sd) / mcse_sd(&chains);
    assert!(
        z.abs() < 4.5,
        "{name}: sd {sd} vs exact {}, z = {z}",
        exact.sd
    );
    for p in [0.05, 0.5, 0.95] {
        let q = quantile(&chains, p);
        let want = (exact.quantile)(p);
        let z = (q - want) / mcse_quantile(&chains, p);
        assert!(
            z.abs() < 4.5,
            "{name}: {p} quantile {q} vs exact {want}, z = {z}"
        );
    }
}
