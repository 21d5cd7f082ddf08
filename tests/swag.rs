//! SWAG and MultiSWAG (issue 12): the SWA mean is the average of the iterates collected on the
//! stated schedule, draws have the stated covariance (diagonal plus rank K, the diagonal scaled
//! by the sd), a run's draws come from its fitted Gaussian, `--member K` of multiswag equals
//! member K of a full run, and the command's refusals.

mod common;

use bnnppl::engine::descent::Flow;
use bnnppl::engine::rng::chain_rng;
use bnnppl::engine::{Decay, Map, Swag, SwagGaussian};
use common::linear::linear_posterior;
use common::members::{bnnppl, tmp, MemberRuns};
use nalgebra::{DMatrix, DVector};

/// SWAG on the conjugate linear model (40 rows) in minibatches of 8: one epoch is 5 steps.
fn linear_swag(schedule: Decay) -> Swag {
    Swag {
        map: Map {
            batch_size: Some(8),
            seed: 7,
            ..Map::default()
        },
        steps: 300,
        lr: 0.01,
        schedule,
        rank: 4,
        ..Swag::default()
    }
}

#[test]
fn the_swa_mean_is_the_running_average_of_the_collected_iterates() {
    // Every iterate of the SGD phase is recorded through its hook; the test picks the
    // collected ones by the stated rule itself — constant rate: once per epoch, after steps
    // 5, 10, …, 300 (60 iterates); 6 cycles of 50 steps: after steps 50, 100, …, 300 — and
    // checks θ_SWA against their plain average, Σ_diag against their two-pass variance over n,
    // and D against the last K deviations from the running averages, all to 1e-12.
    let (post, mean, _) = linear_posterior();
    for (schedule, collected) in [
        (Decay::None, (1..=60).map(|k| 5 * k).collect::<Vec<usize>>()),
        (
            Decay::Cyclical { cycles: 6 },
            (1..=6).map(|k| 50 * k).collect(),
        ),
    ] {
        let swag = linear_swag(schedule);
        let mut density = post.evaluator();
        // Start at the exact mode, as the MAP fit would.
        let start: Vec<f64> = mean.iter().copied().collect();
        let mut iterates: Vec<(usize, Vec<f64>)> = Vec::new();
        let phase = swag
            .sgd_phase(
                &mut density,
                &start,
                &mut chain_rng(3, 0),
                &mut |p, theta| {
                    iterates.push((p.step, theta.to_vec()));
                    Flow::Continue
                },
            )
            .expect("runs");
        assert_eq!(iterates.len(), 300);
        let picked: Vec<&Vec<f64>> = iterates
            .iter()
            .filter(|(step, _)| collected.contains(step))
            .map(|(_, theta)| theta)
            .collect();
        let n = picked.len();
        assert_eq!(phase.moments.count(), n, "{schedule:?}");
        let g = phase.moments.gaussian();
        assert_eq!(g.deviations.len(), 4);
        for i in 0..3 {
            let avg = picked.iter().map(|t| t[i]).sum::<f64>() / n as f64;
            let var = picked.iter().map(|t| (t[i] - avg).powi(2)).sum::<f64>() / n as f64;
            assert!(
                (g.mean[i] - avg).abs() < 1e-12,
                "{schedule:?} θ_SWA[{i}] = {} vs {avg}",
                g.mean[i]
            );
            assert!(
                (g.variance[i] - var).abs() < 1e-12,
                "{schedule:?} Σ_diag[{i}] = {} vs {var}",
                g.variance[i]
            );
            // The iterates move: the spread is no rounding artefact.
            assert!(var > 1e-8, "{schedule:?}: variance {var}");
            for (col, j) in (n - 4..n).enumerate() {
                let running = picked[..=j].iter().map(|t| t[i]).sum::<f64>() / (j + 1) as f64;
                let dev = picked[j][i] - running;
                assert!(
                    (g.deviations[col][i] - dev).abs() < 1e-12,
                    "{schedule:?} D[{i}, {col}] = {} vs {dev}",
                    g.deviations[col][i]
                );
            }
        }
    }
}

/// Sample mean and covariance of `draws` draws from `g`.
fn sample_moments(g: &SwagGaussian, draws: usize, seed: u64) -> (DVector<f64>, DMatrix<f64>) {
    let d = g.mean.len();
    let mut rng = chain_rng(seed, 0);
    let mut theta = vec![0.0; d];
    let mut sum = DVector::zeros(d);
    let mut all = Vec::with_capacity(draws);
    for _ in 0..draws {
        g.sample(&mut rng, &mut theta);
        let t = DVector::from_column_slice(&theta);
        sum += &t;
        all.push(t);
    }
    let mean = sum / draws as f64;
    let mut cov = DMatrix::zeros(d, d);
    for t in &all {
        let c = t - &mean;
        cov += &c * c.transpose();
    }
    (mean, cov / (draws as f64 - 1.0))
}

/// ½ diag(s) + D Dᵀ / (2(K − 1)), with `s` the diagonal's scaling squared.
fn covariance(diagonal: &[f64], deviations: &[Vec<f64>], k_minus_1: f64) -> DMatrix<f64> {
    let d = diagonal.len();
    let mut c = DMatrix::from_diagonal(&DVector::from_column_slice(diagonal)) * 0.5;
    for col in deviations {
        let v = DVector::from_column_slice(col);
        c += &v * v.transpose() / (2.0 * k_minus_1);
    }
    assert_eq!(c.nrows(), d);
    c
}

#[test]
fn draws_have_the_diagonal_plus_low_rank_covariance() {
    // d = 4, K = 3: Σ = ½ diag(Σ_diag) + D Dᵀ / (2(K−1)). The variances 4, 0.25, 2.25, 0.09
    // are far from 1, where the sd and the variance coincide.
    let g = SwagGaussian {
        mean: vec![1.0, -2.0, 0.5, 3.0],
        variance: vec![4.0, 0.25, 2.25, 0.09],
        deviations: vec![
            vec![0.6, -0.2, 0.4, 0.1],
            vec![-0.3, 0.5, 0.2, -0.4],
            vec![0.1, 0.3, -0.7, 0.2],
        ],
    };
    let want = covariance(&g.variance, &g.deviations, 2.0);
    // The known slips: the diagonal scaled by the variance (its square in the covariance),
    // and the low-rank part over K instead of K − 1.
    let squared: Vec<f64> = g.variance.iter().map(|v| v * v).collect();
    let by_variance = covariance(&squared, &g.deviations, 2.0);
    let over_k = covariance(&g.variance, &g.deviations, 3.0);
    let n = 200_000;
    let (mean, cov) = sample_moments(&g, n, 12);
    // Monte Carlo error of a Gaussian sample covariance entry: sd(Ĉ_ij) = √((C_ii C_jj +
    // C_ij²)/n) (0.0067 for C_11 = ½·4 + (0.36 + 0.09 + 0.01)/4 = 2.115 at n = 200,000); of
    // the mean, √(C_ii/n). The test allows 5 of them per entry (10 entries and 4 means at a
    // fixed seed); the worst entry is 1.7 sd off.
    let se = |c: &DMatrix<f64>, i: usize, j: usize| {
        ((c[(i, i)] * c[(j, j)] + c[(i, j)].powi(2)) / n as f64).sqrt()
    };
    let misses = |other: &DMatrix<f64>| {
        let mut worst = 0.0f64;
        for i in 0..4 {
            for j in 0..=i {
                worst = worst.max((cov[(i, j)] - other[(i, j)]).abs() / se(&want, i, j));
            }
        }
        worst
    };
    let fit = misses(&want);
    assert!(
        fit < 5.0,
        "an entry is {fit:.1} sd from the stated covariance"
    );
    for i in 0..4 {
        let z = (mean[i] - g.mean[i]) / (want[(i, i)] / n as f64).sqrt();
        assert!(z.abs() < 5.0, "mean[{i}] is {z:.1} sd off");
    }
    // The same check fails either slip: scaling by the variance puts C_11 at ½·16 + 0.115 =
    // 8.115 instead of 2.115, 897 sd away (its worst entry); dividing by K instead of K − 1
    // shrinks the low-rank part by 2/3, 55 sd away.
    let slip = misses(&by_variance);
    assert!(
        slip > 5.0,
        "the variance-scaled slip would pass ({slip:.1} sd)"
    );
    let slip = misses(&over_k);
    assert!(slip > 5.0, "the 1/K slip would pass ({slip:.1} sd)");
}

#[test]
fn a_runs_draws_come_from_its_fitted_gaussian() {
    // The engine end to end on the linear model: its 4000 draws have the mean θ_SWA and the
    // sd √Σ_ii of the Gaussian it fitted, within 5 Monte Carlo errors (√(Σ_ii/S) for the mean,
    // √(Σ_ii/(2S)) for the sd).
    let (post, _, _) = linear_posterior();
    let swag = Swag {
        draws: 4000,
        ..linear_swag(Decay::None)
    };
    let run = post.run(&swag, 1).expect("runs");
    let fit = &run.fits[0];
    assert_eq!(fit.snapshots, 60);
    let want = covariance(&fit.gaussian.variance, &fit.gaussian.deviations, 3.0);
    let s = 4000.0;
    for i in 0..3 {
        let column = run.draws.column(&format!("beta.{}", i + 1)).expect("beta");
        let x = &column[0];
        let m = x.iter().sum::<f64>() / s;
        let sd = (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (s - 1.0)).sqrt();
        let exact_sd = want[(i, i)].sqrt();
        assert!(
            (m - fit.gaussian.mean[i]).abs() < 5.0 * exact_sd / s.sqrt(),
            "β{i}: mean {m} vs θ_SWA {}",
            fit.gaussian.mean[i]
        );
        assert!(
            (sd - exact_sd).abs() < 5.0 * exact_sd / (2.0 * s).sqrt(),
            "β{i}: sd {sd} vs {exact_sd}"
        );
    }
}

#[test]
fn a_multiswag_member_alone_equals_itself_in_the_full_run() {
    let base = [
        "fit",
        "models/bnn_toy.bnn",
        "--method",
        "multiswag",
        "--members",
        "3",
        "--steps",
        "200",
        "--batch-size",
        "25",
        "--swag-steps",
        "200",
        "--swag-rank",
        "5",
        "--draws",
        "50",
        "--seed",
        "4",
        "--quiet",
        "--output",
    ];
    let runs = MemberRuns::run(&base, 3, "swag");
    assert!(
        runs.summary.contains("Each chain is one MultiSWAG member"),
        "{}",
        runs.summary
    );
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(runs.full.join("swag.json")).expect("swag.json"),
    )
    .expect("JSON");
    // 100 rows in batches of 25: 4 steps per epoch, so 200 steps collect 50 iterates.
    for m in json["fits"].as_array().expect("fits") {
        assert_eq!(m["snapshots"], 50, "{m}");
        assert_eq!(m["rank"], 5, "{m}");
    }
    for (k, dir) in runs.members.iter().enumerate() {
        assert!(dir.join(format!("swag_{}.json", k + 1)).exists());
    }
}

#[test]
fn impossible_settings_are_refused_before_anything_is_written() {
    let dir = tmp("swag-refused");
    let d = dir.to_string_lossy().to_string();
    for (args, says) in [
        (
            vec!["--method", "swag", "--swag-rank", "1"],
            "SWAG needs a rank K of at least 2 deviations, got 1",
        ),
        (
            vec!["--method", "multiswag", "--swag-steps", "0"],
            "SWAG needs at least one SGD step",
        ),
        (
            vec!["--method", "swag", "--swag-lr", "0"],
            "the SGD learning rate must be positive, got 0",
        ),
        (
            vec!["--method", "swag", "--swag-momentum", "1"],
            "the SGD momentum must be in [0, 1), got 1",
        ),
        (
            vec!["--method", "swag", "--draws", "0"],
            "SWAG needs at least one draw",
        ),
        (
            // 80 rows in batches of 20: one epoch is 4 steps, so 7 steps collect 1 iterate.
            vec![
                "--method",
                "swag",
                "--batch-size",
                "20",
                "--swag-steps",
                "7",
            ],
            "7 SGD steps collecting every 4 step(s) give 1 iterate(s), and SWAG needs at least 2",
        ),
        (
            vec!["--method", "swag", "--swag-schedule", "cyclical:1"],
            "got 1 cycle(s) in 1000 SGD steps",
        ),
        (
            vec!["--method", "swag", "--swag-schedule", "cosine"],
            "expected constant, or cyclical:M with M ≥ 1 cycles",
        ),
        (
            vec!["--method", "multiswag", "--members", "2", "--member", "3"],
            "--member 3 is not a member: the ensemble has members 1 to 2",
        ),
        (
            vec!["--method", "swag", "--member", "1"],
            "use it with --method ensemble, anchored-ensemble or multiswag",
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
