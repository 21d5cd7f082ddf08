//! SVGD (issue 13): 100 particles recover the linear-regression posterior's means, a 1-D
//! two-component mixture's particles populate both modes in the right proportion, the Stein
//! direction of minibatch gradients averages to the full-data direction over an epoch, and a
//! run is the same bits twice.

mod common;

use bnnppl::density::FnDensity;
use bnnppl::engine::batches::Batches;
use bnnppl::engine::rng::chain_rng;
use bnnppl::engine::sgmcmc::stochastic_grad;
use bnnppl::engine::svgd::{bandwidth, direction};
use bnnppl::engine::{Decay, Engine, Svgd, Trace};
use common::linear::linear_posterior;

/// The particles of a run: one chain, one draw per particle.
fn particles(trace: &Trace, j: usize) -> Vec<f64> {
    assert_eq!(trace.chains.len(), 1);
    trace.chains[0].column(j)
}

#[test]
fn svgd_with_100_particles_recovers_the_linear_regression_means() {
    // 40 rows in minibatches of 8, Adam from 0.05 for 3,000 steps (600 epochs) with the
    // cosine decay: at a constant rate, Adam's steps of about the rate per coordinate would
    // leave every particle jittering by the last batches' noise (0.05 is half an sd here).
    let (post, mean, precision) = linear_posterior();
    let cov = precision.try_inverse().expect("invertible");
    let svgd = Svgd {
        particles: 100,
        steps: 3000,
        lr: 0.05,
        decay: Decay::Cosine,
        batch_size: Some(8),
        seed: 2,
        ..Svgd::default()
    };
    let trace = svgd.sample(&post).expect("runs");
    for j in 0..3 {
        let x = particles(&trace, j);
        assert_eq!(x.len(), 100);
        let m = x.iter().sum::<f64>() / 100.0;
        let sd = cov[(j, j)].sqrt();
        let s = (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / 99.0).sqrt();
        eprintln!(
            "β{j}: mean {m:.4} vs {:.4} ({:.3} sd), sd {s:.4} vs {sd:.4}",
            mean[j],
            (m - mean[j]) / sd
        );
        assert!((m - mean[j]).abs() < 0.1 * sd, "β{j}: {m} vs {}", mean[j]);
    }
}

#[test]
fn svgd_particles_populate_both_modes_of_a_mixture_in_proportion() {
    // p(x) = ⅓ N(−2, 1) + ⅔ N(2, 1), the toy of [LW16, §5]: the modes are 4 sds apart, so the
    // mass below 0 is ⅓ Φ(2) + ⅔ Φ(−2) = 0.3333 · 0.97725 + 0.6667 · 0.02275 = 0.3409.
    // 100 particles, each a 1/100 of the mass: the tolerance is 0.07 (about 1.5 binomial sds
    // of 100 independent draws; SVGD's particles are not independent and do better).
    let target = FnDensity::new(1, |x: &[f64], g: &mut [f64]| {
        let a = (-0.5 * (x[0] + 2.0).powi(2)).exp() / 3.0;
        let b = 2.0 * (-0.5 * (x[0] - 2.0).powi(2)).exp() / 3.0;
        g[0] = (a * -(x[0] + 2.0) + b * -(x[0] - 2.0)) / (a + b);
        (a + b).ln()
    });
    let svgd = Svgd {
        particles: 100,
        steps: 2000,
        lr: 0.05,
        seed: 4,
        ..Svgd::default()
    };
    let trace = svgd.sample(&target).expect("runs");
    let x = particles(&trace, 0);
    let below = x.iter().filter(|v| **v < 0.0).count() as f64 / 100.0;
    let mean = x.iter().sum::<f64>() / 100.0;
    eprintln!("fraction below 0: {below} (exact 0.3409), mean {mean:.3} (exact 0.667)");
    assert!((below - 0.3409).abs() < 0.07, "{below}");
    assert!(x.iter().any(|v| (v + 2.0).abs() < 1.0) && x.iter().any(|v| (v - 2.0).abs() < 1.0));
}

#[test]
fn the_stein_direction_of_minibatches_averages_to_the_full_data_direction() {
    // φ is linear in the particles' gradients and the bandwidth depends on positions only, so
    // over an epoch of batches that tile the rows (every particle on the same rows) the mean
    // of φ(ĝ) is φ(∇log p), at every batch size that divides N.
    let model = bnnppl::api::Model::from_file("models/regression_1d.bnn").expect("model");
    let post = model.bind_file("models/regression_1d.json").expect("data");
    let (n, d) = (post.n_rows(), post.layout().dim());
    let mut eval = post.evaluator();
    let p = 5;
    let mut rng = chain_rng(6, 0);
    let x: Vec<f64> = (0..p * d).map(|i| 0.5 * ((i as f64) * 1.3).sin()).collect();
    let h = bandwidth(&x, d);
    let mut grads = vec![0.0; p * d];
    for (xj, gj) in x.chunks(d).zip(grads.chunks_mut(d)) {
        stochastic_grad(&mut eval, xj, None, gj).expect("finite");
    }
    let mut full = vec![0.0; p * d];
    direction(&x, &grads, d, h, &mut full);
    for b in (1..n).filter(|b| n.is_multiple_of(*b)) {
        let mut batches = Batches::new(n, b);
        let mut avg = vec![0.0; p * d];
        let mut phi = vec![0.0; p * d];
        for _ in 0..n / b {
            let rows = batches.next(&mut rng).to_vec();
            for (xj, gj) in x.chunks(d).zip(grads.chunks_mut(d)) {
                stochastic_grad(&mut eval, xj, Some(&rows), gj).expect("finite");
            }
            direction(&x, &grads, d, h, &mut phi);
            for (a, f) in avg.iter_mut().zip(&phi) {
                *a += f * b as f64 / n as f64;
            }
        }
        for k in 0..p * d {
            assert!(
                (avg[k] - full[k]).abs() <= 1e-9 * full[k].abs().max(1.0),
                "B = {b}, coordinate {k}: {} vs {}",
                avg[k],
                full[k]
            );
        }
    }
}

#[test]
fn same_seed_gives_the_same_particles() {
    let (post, _, _) = linear_posterior();
    let svgd = Svgd {
        particles: 10,
        steps: 50,
        batch_size: Some(8),
        seed: 9,
        ..Svgd::default()
    };
    let a = svgd.sample(&post).expect("runs");
    let b = svgd.sample(&post).expect("runs");
    let bits = |t: &Trace| {
        t.chains[0]
            .theta
            .iter()
            .map(|x| x.to_bits())
            .collect::<Vec<_>>()
    };
    assert_eq!(bits(&a), bits(&b));
    let c = Svgd { seed: 10, ..svgd }.sample(&post).expect("runs");
    assert_ne!(bits(&a), bits(&c));
}

#[test]
fn fit_method_svgd_writes_one_chain_of_particles_and_says_what_they_are() {
    let dir = common::members::tmp("svgd-fit");
    let d = dir.to_string_lossy().to_string();
    let (code, out, err) = common::members::bnnppl(&[
        "fit",
        "models/linear_regression.bnn",
        "--method",
        "svgd",
        "--svgd-particles",
        "20",
        "--steps",
        "300",
        "--lr",
        "0.05",
        "--batch-size",
        "10",
        "--quiet",
        "--output",
        &d,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("SVGD with 20 particles"), "{out}");
    assert!(out.contains("The draws are SVGD's particles"), "{out}");
    let csv = std::fs::read_to_string(dir.join("chain_1.csv")).expect("chain file");
    let rows = csv
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("lp__"))
        .count();
    assert_eq!(rows, 20);
    assert!(dir.join("fit.json").exists() && dir.join("log_density.csv").exists());
    let (code, _, err) = common::members::bnnppl(&[
        "fit",
        "models/linear_regression.bnn",
        "--method",
        "svgd",
        "--svgd-particles",
        "0",
        "--output",
        &format!("{d}-refused"),
    ]);
    assert_eq!(code, 64);
    assert!(err.contains("SVGD needs at least one particle"), "{err}");
    assert!(!std::path::Path::new(&format!("{d}-refused")).exists());
    let _ = std::fs::remove_dir_all(&dir);
}
