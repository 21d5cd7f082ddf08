//! NUTS on densities with known moments, judged by ESS-based Monte Carlo error (|z| < 4.5).

mod common;

use bnnppl::density::FnDensity;
use bnnppl::engine::{Engine, MassMatrix, Nuts};
use common::{assert_moments, ess, scaled_normal, standard_normal};

#[test]
fn standard_normal_10d() {
    let nuts = Nuts {
        seed: 11,
        ..Nuts::default()
    };
    let trace = nuts.sample(&standard_normal(10)).unwrap();
    for j in 0..10 {
        assert_moments(&trace, j, 0.0, 1.0);
    }
    for chain in &trace.chains {
        assert_eq!(chain.len(), 1000);
        assert_eq!(chain.divergences(), 0);
        // No jitter: every sampling draw uses the adapted step size.
        let adapted = chain.adaptation.as_ref().unwrap().step_size;
        assert!(chain.stats.iter().all(|s| s.step_size == adapted));
        assert!(chain.stats.iter().all(|s| !s.warmup && s.tree_depth <= 10));
    }
}

/// log N(θ | 0, Σ), Σ = [[1, ρ], [ρ, 1]], ρ = 0.9: precision P = [[1, −ρ], [−ρ, 1]] / (1 − ρ²).
fn correlated_normal() -> FnDensity<impl FnMut(&[f64], &mut [f64]) -> f64 + Clone> {
    FnDensity::new(2, |x: &[f64], g: &mut [f64]| {
        let rho = 0.9;
        let c = 1.0 / (1.0 - rho * rho);
        g[0] = -c * (x[0] - rho * x[1]);
        g[1] = -c * (x[1] - rho * x[0]);
        0.5 * (x[0] * g[0] + x[1] * g[1])
    })
}

#[test]
fn correlated_normal_2d() {
    let nuts = Nuts {
        seed: 12,
        ..Nuts::default()
    };
    let trace = nuts.sample(&correlated_normal()).unwrap();
    assert_moments(&trace, 0, 0.0, 1.0);
    assert_moments(&trace, 1, 0.0, 1.0);
    // The correlation itself: E[θ₀θ₁] = 0.9, judged like a mean.
    let products: Vec<Vec<f64>> = trace
        .chains
        .iter()
        .map(|c| {
            let (a, b) = (c.column(0), c.column(1));
            a.iter().zip(&b).map(|(x, y)| x * y).collect()
        })
        .collect();
    let all: Vec<f64> = products.iter().flatten().copied().collect();
    let n = all.len() as f64;
    let mean = all.iter().sum::<f64>() / n;
    let sd = (all.iter().map(|p| (p - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let mcse = sd / ess(&products).sqrt();
    assert!(
        (mean - 0.9).abs() < 4.5 * mcse,
        "E[θ₀θ₁] {mean}, mcse {mcse}"
    );
}

#[test]
fn correlated_normal_2d_low_rank() {
    let nuts = Nuts {
        seed: 13,
        mass_matrix: MassMatrix::LowRank,
        ..Nuts::default()
    };
    let trace = nuts.sample(&correlated_normal()).unwrap();
    assert_moments(&trace, 0, 0.0, 1.0);
    assert_moments(&trace, 1, 0.0, 1.0);
}

#[test]
fn diagonal_normal_with_scales_from_0_01_to_100() {
    const SCALES: [f64; 5] = [0.01, 0.1, 1.0, 10.0, 100.0];
    let nuts = Nuts {
        seed: 14,
        ..Nuts::default()
    };
    let trace = nuts.sample(&scaled_normal(&SCALES)).unwrap();
    for (j, &s) in SCALES.iter().enumerate() {
        assert_moments(&trace, j, 0.0, s);
    }
    // The adapted M⁻¹ estimates the variances s²: within a factor 2 after 1000 warmup draws.
    for chain in &trace.chains {
        let inv_mass = &chain.adaptation.as_ref().unwrap().inv_mass;
        for (m, s) in inv_mass.iter().zip(SCALES) {
            let ratio = m / (s * s);
            assert!(ratio > 0.5 && ratio < 2.0, "M⁻¹ {inv_mass:?}");
        }
    }
}

#[test]
fn tree_depth_is_bounded_by_max_depth() {
    // In 100 dimensions with max_depth 3 trajectories want to be longer than 7 steps, so
    // the cap binds: depth ≤ 3 and at most 2³ − 1 = 7 leapfrog steps per draw.
    let nuts = Nuts {
        chains: 1,
        warmup: 100,
        draws: 100,
        max_depth: 3,
        seed: 15,
        ..Nuts::default()
    };
    let trace = nuts.sample(&standard_normal(100)).unwrap();
    let stats = &trace.chains[0].stats;
    assert!(stats.iter().all(|s| s.tree_depth <= 3 && s.n_leapfrog <= 7));
    assert!(stats.iter().any(|s| s.tree_depth == 3));
}

#[test]
fn ess_of_independent_draws_is_about_n() {
    // A linear congruential generator: no autocorrelation to speak of, so ESS ≈ m·n.
    let mut state: u64 = 12345;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let chains: Vec<Vec<f64>> = (0..4).map(|_| (0..500).map(|_| next()).collect()).collect();
    let e = ess(&chains);
    assert!(e > 1400.0 && e < 2600.0, "ess {e}");
    // Repeating each value 10 times leaves about a tenth of the information.
    let sticky: Vec<Vec<f64>> = chains
        .iter()
        .map(|c| {
            c.iter()
                .take(50)
                .flat_map(|&x| std::iter::repeat_n(x, 10))
                .collect()
        })
        .collect();
    let e = ess(&sticky);
    assert!(e > 100.0 && e < 400.0, "ess {e}");
}
