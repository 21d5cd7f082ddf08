//! `fit`: MAP against the exact mode of a conjugate model, ensemble members that each reach
//! their gradient tolerance and differ, `--member K` equal to member K of a full run, and the
//! command's refusals.

mod common;

use bnnppl::engine::{Engine, Ensemble, Map, Optimizer, RunControl, TraceFactory};
use common::linear::linear_posterior;
use common::members::{bnnppl, tmp, MemberRuns};

#[test]
fn map_reaches_the_mode_of_the_conjugate_model() {
    // Linear regression with known noise and a normal prior: the posterior is Gaussian, its
    // mode its mean μ = Λ⁻¹ Xᵀy/σ², Λ = XᵀX/σ² + I/τ². ‖∇‖ < 1e-9 with the smallest eigenvalue
    // of Λ above 1 puts every coefficient within 1e-9 of μ; the test asks 1e-6.
    let (post, mean, precision) = linear_posterior();
    let smallest = precision.symmetric_eigenvalues().min();
    assert!(smallest > 1.0, "{smallest}");
    for optimizer in [Optimizer::Lbfgs { memory: 10 }, Optimizer::Adam] {
        let map = Map {
            optimizer,
            steps: 50_000,
            lr: 0.01,
            grad_tol: 1e-9,
            ..Map::default()
        };
        let run = post.run(&map, 1).expect("fits");
        let fit = &run.fits[0];
        assert!(fit.converged, "{optimizer}: ‖∇‖ = {}", fit.grad_norm);
        for (i, m) in mean.iter().enumerate() {
            assert!(
                (fit.theta[i] - m).abs() < 1e-6,
                "{optimizer}: β{i} = {} vs {m}",
                fit.theta[i]
            );
        }
        // The one draw is the mode, named.
        let beta = run.draws.column("beta.1").expect("beta.1");
        assert_eq!(beta, vec![vec![fit.theta[0]]]);
    }
}

#[test]
fn ensemble_members_reach_their_tolerance_and_differ() {
    // regression_1d, a 1-50-1 tanh network: four L-BFGS members from their own random starts
    // each end with ‖∇ log p‖ below 1e-4, at different modes.
    let model = bnnppl::api::Model::from_file("models/regression_1d.bnn").expect("model");
    let post = model.bind_file("models/regression_1d.json").expect("data");
    let ensemble = Ensemble {
        members: 4,
        map: Map {
            optimizer: Optimizer::Lbfgs { memory: 10 },
            steps: 20_000,
            grad_tol: 1e-4,
            seed: 3,
            ..Map::default()
        },
        anchored: false,
    };
    let report = ensemble
        .run(&post, &TraceFactory::default(), &RunControl::default())
        .expect("fits");
    let fits: Vec<_> = report.chains.iter().map(|c| &c.fit).collect();
    for (k, f) in fits.iter().enumerate() {
        assert!(
            f.converged && f.grad_norm < 1e-4,
            "member {k}: ‖∇‖ = {} after {} steps",
            f.grad_norm,
            f.steps
        );
    }
    for a in 0..fits.len() {
        for b in a + 1..fits.len() {
            let dist: f64 = fits[a]
                .theta
                .iter()
                .zip(&fits[b].theta)
                .map(|(x, y)| (x - y).powi(2))
                .sum::<f64>()
                .sqrt();
            assert!(dist > 1e-3, "members {a} and {b} coincide ({dist})");
        }
    }
}

#[test]
fn anchored_ensemble_members_are_exact_posterior_draws_of_a_linear_model() {
    // Randomize-then-optimize on linear regression with known noise σ and prior N(0, τ²I):
    // member m maximizes log N(β | τ ε_m, τ²I) + log N(y + σ η_m | Xβ, σ²I), so
    // β_m = Λ⁻¹ (Xᵀ(y + σ η_m)/σ² + ε_m/τ) with Λ = XᵀX/σ² + I/τ²: Gaussian with mean
    // Λ⁻¹Xᵀy/σ² and covariance Λ⁻¹ (Λ) Λ⁻¹ = Λ⁻¹, the exact posterior. With M = 200
    // independent members the sample mean of β_i has standard error sd_i/√200 and the sample
    // sd about sd_i/√(2·199); both are judged at |z| < 4.5.
    let (post, mean, precision) = linear_posterior();
    let cov = precision.try_inverse().expect("invertible");
    let m = 200;
    let ensemble = Ensemble {
        members: m,
        map: Map {
            optimizer: Optimizer::Lbfgs { memory: 10 },
            steps: 1000,
            grad_tol: 1e-10,
            seed: 7,
            ..Map::default()
        },
        anchored: true,
    };
    let run = post.run(&ensemble, 7).expect("fits");
    let worst = run.fits.iter().map(|f| f.grad_norm).fold(0.0, f64::max);
    assert!(
        run.fits.iter().all(|f| f.converged),
        "largest gradient norm {worst}"
    );
    for i in 0..mean.len() {
        let b: Vec<f64> = run.fits.iter().map(|f| f.theta[i]).collect();
        let avg = b.iter().sum::<f64>() / m as f64;
        let sd = (b.iter().map(|x| (x - avg).powi(2)).sum::<f64>() / (m as f64 - 1.0)).sqrt();
        let exact_sd = cov[(i, i)].sqrt();
        let z_mean = (avg - mean[i]) / (exact_sd / (m as f64).sqrt());
        let z_sd = (sd - exact_sd) / (exact_sd / (2.0 * (m as f64 - 1.0)).sqrt());
        assert!(
            z_mean.abs() < 4.5,
            "β{i}: mean {avg} vs {}, z {z_mean}",
            mean[i]
        );
        assert!(z_sd.abs() < 4.5, "β{i}: sd {sd} vs {exact_sd}, z {z_sd}");
    }
    // Without the anchors the members are one mode: the spread is the optimizer's noise only.
    let plain = Ensemble {
        anchored: false,
        members: 5,
        ..ensemble
    };
    let run = post.run(&plain, 7).expect("fits");
    let spread = run
        .fits
        .iter()
        .map(|f| (f.theta[0] - run.fits[0].theta[0]).abs())
        .fold(0.0, f64::max);
    assert!(spread < 1e-8, "{spread}");
}

#[test]
fn a_member_alone_equals_itself_in_the_full_run_and_summaries_merge() {
    let base = [
        "fit",
        "models/bnn_toy.bnn",
        "--method",
        "ensemble",
        "--members",
        "3",
        "--steps",
        "300",
        "--batch-size",
        "25",
        "--seed",
        "4",
        "--quiet",
        "--output",
    ];
    // Each member alone writes the full run's chain and trace files; summary over the three
    // single-member directories = summary of the full run.
    let runs = MemberRuns::run(&base, 3, "fit");
    assert!(
        runs.summary.contains("Each chain is one ensemble member"),
        "{}",
        runs.summary
    );
}

#[test]
fn bad_requests_are_refused_before_anything_is_written() {
    let dir = tmp("fit-refused");
    let d = dir.to_string_lossy().to_string();
    for (args, says) in [
        (
            vec!["--method", "ensemble", "--members", "3", "--member", "4"],
            "--member 4 is not a member: the ensemble has members 1 to 3",
        ),
        (
            vec!["--method", "ensemble", "--member", "0"],
            "--member 0 is not a member",
        ),
        (
            vec!["--method", "map", "--member", "1"],
            "use it with --method ensemble",
        ),
        (
            vec!["--method", "swagger"],
            "[possible values: map, ensemble, anchored-ensemble, svi, swag, multiswag, mc-dropout, svgd, laplace, pathfinder]",
        ),
        (
            vec![
                "--method",
                "map",
                "--optimizer",
                "lbfgs",
                "--batch-size",
                "10",
            ],
            "L-BFGS needs the full data",
        ),
    ] {
        let mut all = vec!["fit", "models/regression_1d.bnn", "--quiet", "--output", &d];
        all.extend(args);
        let (code, _, err) = bnnppl(&all);
        assert_eq!(code, 64, "{all:?}: {err}");
        assert!(err.contains(says), "{all:?}: {err}");
        assert!(!dir.exists(), "{all:?} created {}", dir.display());
    }
}
