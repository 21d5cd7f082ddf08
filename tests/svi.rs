//! SVI against known answers: the exact Gaussian posterior of a linear regression with known
//! noise, an unbiased minibatch gradient, reproducibility by seed, agreement with NUTS on the
//! predictive mean of a BNN, and the `svi` command's output directory.

use bnnppl::api::Model;
use bnnppl::engine::rng::chain_rng;
use bnnppl::engine::svi::{Guide, GuideKind, Init, Scratch};
use bnnppl::engine::{Decay, Nuts, Svi};
use bnnppl::posterior::Posterior;
use rand::RngExt;

mod common;

use common::linear::linear_posterior;

fn fit_linear(guide: GuideKind, seed: u64) -> bnnppl::engine::SviResult {
    let (post, _, _) = linear_posterior();
    let svi = Svi {
        guide,
        steps: 4000,
        lr: 0.02,
        particles: 4,
        decay: Decay::Cosine,
        seed,
        ..Svi::default()
    };
    post.fit_svi(&svi).unwrap_or_else(|e| panic!("{e}")).result
}

/// Largest absolute difference.
fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn full_rank_recovers_the_exact_posterior_mean_and_covariance() {
    let (_, mean, precision) = linear_posterior();
    let cov = precision.try_inverse().expect("invertible");
    for seed in 1..=3 {
        let r = fit_linear(GuideKind::FullRank, seed);
        let g = &r.guide;
        let dm = max_diff(g.loc(), mean.as_slice());
        let c = g.covariance();
        let exact: Vec<f64> = (0..9).map(|k| cov[(k / 3, k % 3)]).collect();
        let dc = max_diff(&c, &exact);
        eprintln!("full rank seed {seed}: |Δmean| {dm:.2e}, |Δcov| {dc:.2e}, cov {exact:?}");
        // Measured over seeds 1–3 (4000 steps, 4 particles, cosine decay): |Δmean| ≤ 1.4e-3 and
        // |Δcov| ≤ 9e-4 (FULLRANK_SPREAD below). Tolerances 0.01 on the mean (0.07 of the
        // smallest posterior sd, 0.094) and 10 % of the largest variance (2.3e-3) on the
        // covariance are several times the spread and far below a wrong answer: a mean-field
        // fit is off by 0.019 in the covariance (the dropped correlation −0.019).
        assert!(dm < 0.01, "mean {:?} vs exact {mean}", g.loc());
        assert!(
            dc < 0.1 * exact[0].max(exact[4]).max(exact[8]),
            "cov {c:?} vs {exact:?}"
        );
    }
}

#[test]
fn mean_field_recovers_the_means_and_the_mean_field_variances() {
    let (_, mean, precision) = linear_posterior();
    let cov = precision.clone().try_inverse().expect("invertible");
    for seed in 1..=3 {
        let r = fit_linear(GuideKind::MeanField, seed);
        let g = &r.guide;
        let dm = max_diff(g.loc(), mean.as_slice());
        // The KL(q‖p)-optimal factorized Gaussian has variances 1/Λ_ii (Bishop, PRML §10.1.2).
        let mf_var: Vec<f64> = (0..3).map(|i| 1.0 / precision[(i, i)]).collect();
        let var: Vec<f64> = g.scale().iter().map(|s| s * s).collect();
        let rel = var
            .iter()
            .zip(&mf_var)
            .map(|(v, e)| (v / e - 1.0).abs())
            .fold(0.0, f64::max);
        let exact_var: Vec<f64> = (0..3).map(|i| cov[(i, i)]).collect();
        eprintln!(
            "mean field seed {seed}: |Δmean| {dm:.2e}, max rel var err {rel:.3}, var {var:?}, \
             mean-field {mf_var:?}, exact marginal {exact_var:?}"
        );
        // Measured over seeds 1–3: |Δmean| ≤ 3.3e-3 and relative variance error ≤ 0.058
        // (the noise of Adam's last iterates at 4 particles). Tolerances 0.01 and 0.1 are about
        // 2–3× that spread; a wrong answer, the exact marginal variances (Λ⁻¹)_ii, is off by a
        // factor 3.2 (relative error 2.2) in the two correlated coordinates.
        assert!(dm < 0.01, "mean {:?} vs exact {mean}", g.loc());
        assert!(rel < 0.1, "variances {var:?} vs 1/Λ_ii {mf_var:?}");
    }
}

#[test]
fn low_rank_recovers_the_posterior_mean() {
    let (_, mean, _) = linear_posterior();
    for seed in 1..=3 {
        let r = fit_linear(GuideKind::LowRank { rank: 1 }, seed);
        let dm = max_diff(r.guide.loc(), mean.as_slice());
        eprintln!("low rank seed {seed}: |Δmean| {dm:.2e}");
        // Measured over seeds 1–3: |Δmean| ≤ 4.0e-3; tolerance as for the other guides.
        assert!(dm < 0.01, "mean {:?} vs exact {mean}", r.guide.loc());
    }
}

fn regression_1d() -> Posterior {
    let model = Model::from_file("models/regression_1d.bnn").unwrap_or_else(|e| panic!("{e}"));
    model
        .bind_file("models/regression_1d.json")
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn minibatch_elbo_gradient_averages_to_the_full_batch_gradient_over_an_epoch() {
    // Per batch: ∇[ (1/S) Σ_s (prior(θ_s) + (N/B) Σ_{rows} lik(θ_s)) ] + ∇H. Over the N/B
    // batches of a partition, the mean of (N/B) Σ_{batch} lik is Σ_{all} lik, so the mean
    // gradient is the full-batch gradient, up to rounding.
    let cases = [(linear_posterior().0, 8usize), (regression_1d(), 16)];
    for (post, b) in cases {
        let mut eval = post.evaluator();
        let d = post.layout().dim();
        let n = post.n_rows();
        assert_eq!(n % b, 0);
        for kind in [
            GuideKind::MeanField,
            GuideKind::LowRank { rank: 2 },
            GuideKind::FullRank,
        ] {
            let mut rng = chain_rng(5, 0);
            let loc: Vec<f64> = (0..d).map(|_| rng.random_range(-0.5..0.5)).collect();
            let guide = Guide::new(kind, &loc, 0.3, &mut rng);
            let mut scratch = Scratch::new(kind, d);
            let mut noises = vec![vec![0.0; kind.noise_len(d)]; 2];
            for z in noises.iter_mut() {
                guide.draw_noise(&mut rng, z);
            }
            let np = guide.params.len();
            let mut full = vec![0.0; np];
            let e_full = guide
                .elbo_grad(&mut eval, &noises, None, &mut scratch, &mut full)
                .expect("finite");
            let mut perm: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                perm.swap(i, rng.random_range(0..=i));
            }
            let mut mean = vec![0.0; np];
            let mut e_mean = 0.0;
            let mut g = vec![0.0; np];
            for rows in perm.chunks(b) {
                e_mean += guide
                    .elbo_grad(&mut eval, &noises, Some(rows), &mut scratch, &mut g)
                    .expect("finite")
                    / (n / b) as f64;
                for (m, x) in mean.iter_mut().zip(&g) {
                    *m += x / (n / b) as f64;
                }
            }
            let scale = full.iter().map(|x| x.abs()).fold(1.0, f64::max);
            let err = max_diff(&mean, &full);
            assert!(
                err < 1e-10 * scale,
                "{kind}: max |mean batch grad − full grad| = {err:e} (scale {scale})"
            );
            assert!((e_mean - e_full).abs() < 1e-10 * e_full.abs().max(1.0));
        }
    }
}

#[test]
fn same_seed_gives_the_same_elbo_trace_and_draws() {
    let post = regression_1d();
    let svi = Svi {
        guide: GuideKind::LowRank { rank: 2 },
        steps: 300,
        batch_size: Some(20),
        particles: 2,
        init: Init::Map { steps: 50 },
        seed: 9,
        ..Svi::default()
    };
    let a = post.fit_svi(&svi).expect("fit");
    let b = post.fit_svi(&svi).expect("fit");
    assert_eq!(a.result.trace, b.result.trace);
    assert_eq!(a.result.guide, b.result.guide);
    let (da, db) = (a.draws(50, 3), b.draws(50, 3));
    assert_eq!(da.chains[0].values, db.chains[0].values);
    let c = post.fit_svi(&Svi { seed: 10, ..svi }).expect("fit");
    assert_ne!(a.result.trace, c.result.trace);
}

/// Mean over all draws of each `mu.i` column.
fn mu_means(draws: &bnnppl::draws::Draws, n: usize) -> Vec<f64> {
    (1..=n)
        .map(|i| {
            let c = draws.column(&format!("mu.{i}")).expect("mu column");
            let all: Vec<f64> = c.into_iter().flatten().collect();
            all.iter().sum::<f64>() / all.len() as f64
        })
        .collect()
}

#[test]
fn regression_1d_fit_raises_the_elbo() {
    let post = regression_1d();
    let svi = Svi {
        steps: 2000,
        batch_size: Some(20),
        seed: 2,
        ..Svi::default()
    };
    let fit = post.fit_svi(&svi).expect("svi");
    let t = &fit.result.trace;
    assert_eq!(t.len(), 2000);
    let (first, last) = (t[0].elbo, t[t.len() - 1].smoothed);
    // From uniform(−2, 2) weights the first estimate is −39 607 (seed 2); after 2000 steps the
    // smoothed ELBO is −303, on its way to the −110 to −114 that 10 000+ steps reach.
    assert!(first < -10_000.0 && last > -400.0, "ELBO {first} -> {last}");
}

/// Ignored, and kept as the record of a known limitation: on this model mean-field SVI settles
/// on a guide that nearly ignores the data (sigma ≈ 0.72 against NUTS's 0.17; max |Δ mu| 0.90,
/// rms 0.46 on the training inputs). That is the ELBO's optimum, not an optimizer failure:
/// longer runs (40 000 steps, 4 particles), smaller init scales (1e-2, 1e-3) and a MAP start
/// all end there, as Coker, Bruinsma, Burt, Pan & Doshi-Velez (AISTATS 2022, "Wide Mean-Field
/// Bayesian Neural Networks Ignore the Data") predict for priors scaled by 1/sqrt(fan_in).
/// Gaussians built from NUTS draws score far lower: the mean and covariance of one NUTS chain
/// (4 chains × 1000 draws, seed 1), with the covariance shrunk by 1 to 0.005, give an ELBO of
/// −830 at best (full covariance; −960 diagonal; 2000 Monte Carlo draws each), against the
/// fitted mean-field guide's −108. A guide that follows the data would have to beat that by
/// about 700 nats, so no optimizer setting can be expected to find one.
#[test]
#[ignore = "mean-field SVI underfits regression_1d (its ELBO optimum ignores the data)"]
fn regression_1d_predictive_mean_agrees_with_nuts() {
    let post = regression_1d();
    let n = post.n_rows();
    let nuts = Nuts {
        chains: 2,
        warmup: 500,
        draws: 500,
        seed: 1,
        ..Nuts::default()
    };
    let mcmc = mu_means(&post.sample(&nuts).expect("nuts"), n);
    let svi = Svi {
        steps: 6000,
        lr: 0.01,
        particles: 2,
        batch_size: Some(40),
        init: Init::Map { steps: 500 },
        decay: Decay::Exponential { rate: 0.1 },
        seed: 1,
        ..Svi::default()
    };
    let fit = post.fit_svi(&svi).expect("svi");
    let vi = mu_means(&fit.draws(1000, 1), n);
    let diff = max_diff(&vi, &mcmc);
    let rms = (vi
        .iter()
        .zip(&mcmc)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        / n as f64)
        .sqrt();
    eprintln!("regression_1d: max |Δ mu| {diff:.3}, rms {rms:.3} (noise sd 0.15)");
    // Noise sd is 0.15; a mean-field guide underestimates the spread of the weights but its
    // predictive mean on the training inputs follows the data as NUTS's does.
    assert!(diff < 0.1, "max |Δ mu| {diff}");
    assert!(rms < 0.05, "rms Δ mu {rms}");
}

#[test]
fn cli_writes_the_sample_directory_and_summary_reads_it() {
    use std::process::Command;
    let dir = std::env::temp_dir().join(format!("bnnppl-svi-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.to_string_lossy().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_bnnppl"))
        .args([
            "svi",
            "models/regression_1d.bnn",
            "--steps",
            "300",
            "--draws",
            "200",
            "--batch-size",
            "20",
            "--guide",
            "low-rank:2",
            "--decay",
            "cosine",
            "--output",
            &d,
            "--quiet",
        ])
        .output()
        .expect("run bnnppl");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "chain_1.csv",
        "summary.csv",
        "summary.txt",
        "elbo.csv",
        "guide.json",
    ] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    let elbo = std::fs::read_to_string(dir.join("elbo.csv")).expect("elbo");
    // --init auto: the mean-field fit's 300 steps, then the low-rank guide's 300.
    assert_eq!(elbo.lines().count(), 601);
    assert!(elbo.starts_with("step,elbo,smoothed\n"));
    let guide: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("guide.json")).expect("json"))
            .expect("guide.json parses");
    assert_eq!(guide["dim"], 152);
    assert_eq!(guide["factor"].as_array().map(Vec::len), Some(304));
    // The file reads back as the engine's Guide, so the fit can be reused.
    let g: Guide = serde_json::from_value(guide.clone()).expect("guide.json is a Guide");
    assert_eq!(g.kind, GuideKind::LowRank { rank: 2 });
    assert_eq!(g.params.len(), 152 * 2 + 304);
    let csv = std::fs::read_to_string(dir.join("chain_1.csv")).expect("csv");
    assert!(csv
        .contains("lp__,accept_stat__,stepsize__,treedepth__,n_leapfrog__,divergent__,energy__,"));
    let summ = Command::new(env!("CARGO_BIN_EXE_bnnppl"))
        .args(["summary", &d])
        .output()
        .expect("run bnnppl");
    let text = String::from_utf8_lossy(&summ.stdout);
    assert_eq!(summ.status.code(), Some(0));
    assert!(text.contains("1 chain(s) × 200 draws"), "{text}");
    assert!(text.contains("mu.1"), "{text}");
    // No sampler diagnostics for guide draws (they would read as NaN E-BFMI and false warnings).
    assert!(
        text.contains("variational guide") && !text.contains("E-BFMI per chain"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn linear_regression_predictive_mean_agrees_with_nuts() {
    // models/linear_regression: unknown noise sigma (a constrained parameter), 50 rows. Both
    // methods should put the predictive mean mu on the least-squares fit; the posterior sd of
    // each mu.i is about 0.07–0.15 and NUTS's MCSE of its mean about 0.002.
    let model = Model::from_file("models/linear_regression.bnn").unwrap_or_else(|e| panic!("{e}"));
    let post = model
        .bind_file("models/linear_regression.json")
        .unwrap_or_else(|e| panic!("{e}"));
    let n = post.n_rows();
    let nuts = Nuts {
        chains: 2,
        warmup: 500,
        draws: 1000,
        seed: 1,
        ..Nuts::default()
    };
    let mcmc = mu_means(&post.sample(&nuts).expect("nuts"), n);
    for seed in 1..=3 {
        let svi = Svi {
            steps: 4000,
            lr: 0.02,
            particles: 4,
            batch_size: Some(10),
            decay: Decay::Cosine,
            seed,
            ..Svi::default()
        };
        let fit = post.fit_svi(&svi).expect("svi");
        let vi = mu_means(&fit.draws(2000, seed), n);
        let diff = max_diff(&vi, &mcmc);
        eprintln!("linear_regression seed {seed}: max |Δ mu| {diff:.4}");
        // Measured over seeds 1–3 (batch 10, so Adam's last iterates are noisy): max |Δ mu|
        // 0.011, 0.020, 0.018. The tolerance 0.05 is 2.5× the largest and a tenth of the noise
        // sd 0.5; a fit that missed a coefficient by its posterior sd (~0.07) would fail.
        assert!(diff < 0.05, "max |Δ mu| {diff}");
    }
}

#[test]
fn tol_stops_on_a_flat_smoothed_elbo_and_the_hook_can_interrupt() {
    let (post, _, _) = linear_posterior();
    let svi = Svi {
        steps: 20_000,
        lr: 0.02,
        particles: 4,
        tol: 1e-4,
        ..Svi::default()
    };
    let fit = post.fit_svi(&svi).expect("svi");
    let r = &fit.result;
    // The smoothed ELBO of this 3-parameter posterior flattens within a few thousand steps.
    assert!(
        r.converged && r.trace.len() < 20_000,
        "{} steps",
        r.trace.len()
    );
    let last = r.trace[r.trace.len() - 1];
    let before = r.trace[r.trace.len() - 1 - svi.window];
    assert!((last.smoothed - before.smoothed).abs() < 1e-4 * last.smoothed.abs().max(1.0));

    let stopped = post.fit_svi_with(&svi, &mut |p| p.step < 10).expect("svi");
    assert!(stopped.result.interrupted && !stopped.result.converged);
    assert_eq!(stopped.result.trace.len(), 10);
}
