//! `fit`: MAP against the exact mode of a conjugate model, ensemble members that each reach
//! their gradient tolerance and differ, `--member K` equal to member K of a full run, and the
//! command's refusals.

mod common;

use bnnppl::engine::{Engine, Ensemble, Map, Optimizer, RunControl, TraceFactory};
use common::linear::linear_posterior;
use std::path::{Path, PathBuf};
use std::process::Command;

fn bnnppl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bnnppl"))
        .args(args)
        .output()
        .expect("run bnnppl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bnnppl-fit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

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

/// The files of a run directory whose bytes do not depend on the clock.
fn draws_part(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.contains("Elapsed") && !l.contains("seconds"))
        .collect::<Vec<_>>()
        .join("\n")
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
    let full = tmp("full");
    let mut args = base.to_vec();
    let f = full.to_string_lossy().to_string();
    args.push(&f);
    let (code, _, err) = bnnppl(&args);
    assert_eq!(code, 0, "{err}");
    let mut singles = Vec::new();
    for k in 1..=3 {
        let dir = tmp(&format!("member{k}"));
        let d = dir.to_string_lossy().to_string();
        let member = k.to_string();
        let mut args = base.to_vec();
        args.extend([d.as_str(), "--member", member.as_str()]);
        let (code, _, err) = bnnppl(&args);
        assert_eq!(code, 0, "{err}");
        let chain = format!("chain_{k}.csv");
        assert_eq!(
            draws_part(&dir.join(&chain)),
            draws_part(&full.join(&chain)),
            "member {k}"
        );
        let trace = format!("log_density_{k}.csv");
        assert_eq!(
            std::fs::read(dir.join(&trace)).expect("trace"),
            std::fs::read(full.join(&trace)).expect("trace"),
            "member {k} trace"
        );
        singles.push(d);
    }
    // summary over the three single-member directories = summary of the full run.
    let (code, merged, err) = bnnppl(&["summary", &singles[0], &singles[1], &singles[2]]);
    assert_eq!(code, 0, "{err}");
    let (code, whole, err) = bnnppl(&["summary", &f]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(merged, whole);
    assert!(
        whole.contains("Each chain is one ensemble member"),
        "{whole}"
    );
    for d in singles.iter().chain([&f]) {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn bad_requests_are_refused_before_anything_is_written() {
    let dir = tmp("refused");
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
            "[possible values: map, ensemble, svi, mc-dropout]",
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
