//! Pathfinder end to end: its local Gaussian on an exact Gaussian posterior, its draws on the
//! posteriordb reference posteriors, `sample --init pathfinder` on an exact posterior, a seed
//! that fixes the output, and the error when every path fails (nothing written).
//!
//! The posteriordb rule, looser than NUTS's z-tests (Pathfinder is an approximation: its error
//! is a bias that more draws do not shrink, so an MCSE-based z says nothing about it): for every
//! quantity the reference stores, |mean − ref mean| < 0.25 ref sd (the NUTS suite's own
//! [`pdb::MEAN_SD_LIMIT`]) and |sd − ref sd| < 0.25 ref sd (the sd within 25 %), on 1000 draws
//! resampled from 4 paths with Stan's defaults. Monte Carlo error on 1000 draws is about 0.03
//! sd for the mean and 2 % for the sd, far inside both limits.
//!
//! Two posteriors can fail that rule, for reasons of Pathfinder's, not of the tolerance, and
//! are listed in [`NOT_GAUSSIAN_ENOUGH`] instead of loosening it; for each the test requires
//! that it passes the rule or that Pathfinder's own diagnostic flags it (Pareto k̂ > 0.7), and
//! for every other one that it passes (their k̂ are 0.58 or below with this seed):
//!
//! - `eight_schools-eight_schools_noncentered`: τ's posterior is far from Gaussian on the log
//!   scale; the local Gaussians miss μ's spread (μ off by 0.76 sd, sd 38 % small, k̂ 0.81), as
//!   the Pathfinder paper reports for hierarchical models. No Gaussian along the paths can do
//!   better: the best ELBO is at a path's first iterates, and the Laplace approximation at the
//!   mode gives μ 1.38 ± 4.82 and τ 45.7 ± 52.8 against the reference's 4.41 ± 3.31 and
//!   3.60 ± 3.20. blackjax's Pathfinder, run by the same recipe, misses it the same way on five
//!   seeds (μ 0.53–0.90 sd low), while full-rank SVI's Gaussian passes: the miss is the
//!   method's (`bench/pathfinder/eight_schools_peer.sh`, BENCHMARKS.md).
//! - `nes1972-nes`: with this seed it now passes (means within 0.15 sd, sds within 20 %, k̂
//!   0.70, just under the flag), since the log-densities' divisions became products with the
//!   reciprocal: a last-bit change that moved the L-BFGS paths. Before, the means passed but
//!   beta.1's sd was 28 % small with k̂ 0.85: the weights were unreliable and resampling with
//!   replacement repeated few draws. It sits at the edge either way. The posterior is close
//!   to Gaussian (Laplace at the mode: beta.1's sd 0.407 against the reference's 0.413); what
//!   falls short is the inverse-Hessian estimate from J = 5 pairs in 10 dimensions. With
//!   `--history 10` beta.1's sd is 0.415 (k̂ 0.75, and the other eight still pass), but the
//!   default stays Stan's J = 5.
//!
//! `kilpisjarvi_mod-kilpisjarvi` (intercept and slope on shifted years, correlated at −0.99999)
//! was a third until a path stopped at its first iteration with a change in log p below 10⁻¹²
//! relative: there L-BFGS stalls while it learns the ridge, 2 sds short of the mode, and the
//! path's Gaussians were 60 times too narrow (k̂ 0.78). Paths now stop after five such
//! iterations in a row, and it passes (means within 0.05 sd, sds within 3 %, k̂ 0.35).

mod common;
#[path = "support/posteriordb.rs"]
mod pdb;

use bnnppl::api::Model;
use bnnppl::density::Target;
use bnnppl::engine::{Nuts, Pathfinder};
use common::exact::{check, normal};
use common::linear::linear_posterior;
use common::members::{bnnppl, golden, tmp};
use pdb::{row_major_column_names, Reference, MEAN_SD_LIMIT, POSTERIORS};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Largest |sd − ref sd| accepted, in reference sds.
const SD_LIMIT: f64 = 0.25;

#[test]
fn one_path_recovers_an_exact_gaussian_posterior() {
    // Bayesian linear regression with known noise over three correlated features: the
    // posterior is N(μ, Λ⁻¹) exactly (tests/common/linear.rs). With J = 5 ≥ d = 3 pairs the
    // L-BFGS inverse Hessian of a quadratic is exact once the pairs span θ, and the mean is a
    // Newton step from the iterate, exact on a quadratic. What is left is the choice of
    // iterate, and the pairs: the ELBO is a 25-draw estimate, so an iterate just before
    // convergence whose KL to p is below that noise may win, and its pairs come from steps
    // that are not exactly conjugate (backtracking, not exact, line searches), so the compact
    // inverse Hessian is close to Λ⁻¹ but not equal. Tolerance: means within 0.02 posterior sd,
    // every covariance entry within 5 % of the largest variance (seed 4 gives 2.1 %).
    let (post, mean, precision) = linear_posterior();
    let cov = precision.try_inverse().expect("invertible");
    let pf = Pathfinder {
        paths: 1,
        draws: 100,
        seed: 4,
        ..Pathfinder::default()
    };
    let fit = pf
        .fit(&mut post.evaluator(), 0, &mut || false)
        .expect("fits");
    let q = fit.paths[0].gaussian.as_ref().expect("a best Gaussian");
    for i in 0..3 {
        let sd = cov[(i, i)].sqrt();
        assert!(
            (q.mean[i] - mean[i]).abs() < 0.02 * sd,
            "mean {i}: {} vs exact {}",
            q.mean[i],
            mean[i]
        );
    }
    let got = q.covariance();
    let worst = (&got - &cov).amax();
    assert!(worst < 0.05 * cov.amax(), "{got} vs exact {cov}");
}

/// Runs Pathfinder (Stan's defaults) on one posteriordb posterior and applies the rule of the
/// module doc to every referenced quantity; returns the failures and the Pareto k̂.
fn posteriordb_failures(name: &str) -> (Vec<String>, Option<f64>) {
    let reference = Reference::load();
    let post = pdb::posterior(name);
    let pf = Pathfinder {
        seed: 20_240_528,
        ..Pathfinder::default()
    };
    let fit = pf
        .fit(&mut post.evaluator(), 0, &mut || false)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let names: Vec<String> = post
        .output_shapes()
        .iter()
        .flat_map(|(n, dims)| row_major_column_names(n, dims))
        .collect();
    let mut eval = post.evaluator();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut out = vec![0.0; post.output_len()];
    let mut columns = vec![Vec::new(); names.len()];
    for theta in fit.theta.chunks(post.dim()) {
        eval.outputs(theta, &mut rng, &mut out).expect("outputs");
        for (c, v) in columns.iter_mut().zip(&out) {
            c.push(*v);
        }
    }
    let mut failures = Vec::new();
    for (column, r) in reference.posterior(name) {
        let k = names
            .iter()
            .position(|n| n == column)
            .unwrap_or_else(|| panic!("{name}: no column {column}"));
        let x = &columns[k];
        let n = x.len() as f64;
        let m = x.iter().sum::<f64>() / n;
        let sd = (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        let dm = (m - r.target_mean()).abs() / r.target_sd();
        let ds = (sd - r.target_sd()).abs() / r.target_sd();
        eprintln!(
            "  {name} {column:10} mean {m:12.5e} (ref {:12.5e}, {dm:.3} sd)   sd {sd:10.4e} \
             (ref {:10.4e}, {ds:.3})",
            r.target_mean(),
            r.target_sd()
        );
        if dm.is_nan() || dm >= MEAN_SD_LIMIT {
            failures.push(format!("{name} {column}: mean off by {dm:.3} sd"));
        }
        if ds.is_nan() || ds >= SD_LIMIT {
            failures.push(format!("{name} {column}: sd off by {:.0} %", 100.0 * ds));
        }
    }
    eprintln!(
        "{name}: Pareto k-hat {:?}, {} gradient and {} log-density evaluations",
        fit.pareto_k,
        fit.gradients(),
        fit.log_densities()
    );
    (failures, fit.pareto_k)
}

/// The posteriordb posteriors where Pathfinder is not expected to pass (module doc).
const NOT_GAUSSIAN_ENOUGH: [&str; 2] = ["eight_schools-eight_schools_noncentered", "nes1972-nes"];

#[test]
fn pathfinder_draws_match_the_posteriordb_references() {
    let mut failures = Vec::new();
    for name in POSTERIORS {
        let (bad, k_hat) = posteriordb_failures(name);
        if NOT_GAUSSIAN_ENOUGH.contains(&name) {
            // Accurate after all, or flagged by Pathfinder's own diagnostic.
            let flagged = k_hat.is_some_and(|k| k > 0.7);
            if !bad.is_empty() && !flagged {
                failures.push(format!(
                    "{name}: fails the rule ({}) and k-hat {k_hat:?} does not flag it",
                    bad.join("; ")
                ));
            }
        } else {
            failures.extend(bad);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn nuts_from_pathfinder_starts_still_recovers_an_exact_posterior() {
    // tests/exact.rs's normal mean with known variance, chains started at Pathfinder draws:
    // posterior precision 1/9 + n/4, mean (1/9 · 1 + Σy/4) / precision.
    let y = [2.1, 3.4, 1.9, 2.8, 4.0, 2.5, 3.1, 1.2];
    let n = y.len() as f64;
    let prec = 1.0 / 9.0 + n / 4.0;
    let mean = (1.0 / 9.0 + y.iter().sum::<f64>() / 4.0) / prec;
    let src = "data { y: vector[N] } param { mu: real } prior { mu ~ normal(1, 3) } likelihood { y ~ normal(mu, 2) }";
    let model = Model::from_str("exact.bnn", src).unwrap_or_else(|e| panic!("{e}"));
    let post = model
        .bind_json(&format!("{{\"y\": {y:?}}}"))
        .unwrap_or_else(|e| panic!("{e}"));
    let (init, starts) = Pathfinder {
        seed: 1,
        ..Pathfinder::default()
    }
    .starts(&post, 4)
    .expect("starts");
    // Four distinct starts, one per chain.
    let mut firsts: Vec<f64> = starts.theta.clone();
    firsts.sort_by(f64::total_cmp);
    firsts.dedup();
    assert_eq!(firsts.len(), 4, "{:?}", starts.theta);
    // Pathfinder's default warmup, 925 draws without Stan's initial buffer.
    let nuts = Nuts {
        chains: 4,
        warmup: init.default_warmup(),
        draws: 1000,
        seed: 1,
        init,
        ..Nuts::default()
    };
    let draws = post.sample(&nuts).unwrap_or_else(|e| panic!("{e}"));
    check(&draws, "mu", &normal(mean, prec.sqrt().recip()));
}

#[test]
fn nuts_from_pathfinder_starts_recovers_a_correlated_linear_regression() {
    // Bayesian linear regression with known noise over three correlated features (the exact
    // Gaussian of tests/common/linear.rs), chains started at Pathfinder draws: every
    // coefficient's mean, sd and quantiles against N(μ, Λ⁻¹) by |z| < 4.5.
    let (post, mean, precision) = linear_posterior();
    let cov = precision.try_inverse().expect("invertible");
    let (init, _) = Pathfinder {
        seed: 2,
        ..Pathfinder::default()
    }
    .starts(&post, 4)
    .expect("starts");
    // Pathfinder's default warmup, 925 draws without Stan's initial buffer.
    let nuts = Nuts {
        chains: 4,
        warmup: init.default_warmup(),
        draws: 1000,
        seed: 2,
        init,
        ..Nuts::default()
    };
    let draws = post.sample(&nuts).unwrap_or_else(|e| panic!("{e}"));
    for i in 0..3 {
        check(
            &draws,
            &format!("beta.{}", i + 1),
            &normal(mean[i], cov[(i, i)].sqrt()),
        );
    }
}

/// The draw lines of a run's chain file (the configuration comments hold no clock for fits,
/// but are skipped anyway).
fn draw_lines(dir: &std::path::Path) -> String {
    std::fs::read_to_string(dir.join("chain_1.csv"))
        .expect("chain_1.csv")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_seed_fixes_the_draws() {
    let run = |name: &str, seed: &str| {
        let dir = tmp(name);
        let out = dir.to_string_lossy().to_string();
        let (code, stdout, err) = bnnppl(&[
            "fit",
            "models/linear_regression.bnn",
            "--method",
            "pathfinder",
            "--draws",
            "200",
            "--seed",
            seed,
            "--quiet",
            "--output",
            &out,
        ]);
        assert_eq!(code, 0, "{err}");
        assert!(stdout.contains("Pareto k-hat"), "{stdout}");
        let lines = draw_lines(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        lines
    };
    let (a, b, c) = (run("pf-a", "7"), run("pf-b", "7"), run("pf-c", "8"));
    // A header line, then 200 draws.
    assert_eq!(a.lines().count(), 201);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn a_large_pareto_k_is_a_warning_with_what_to_do() {
    // eight_schools_noncentered with the posteriordb test's seed: k̂ 0.81 (module doc).
    let dir = tmp("pf-khat");
    let out = dir.to_string_lossy().to_string();
    let (code, stdout, err) = bnnppl(&[
        "fit",
        "tests/posteriordb/eight_schools-eight_schools_noncentered.bnn",
        "--method",
        "pathfinder",
        "--seed",
        "20240528",
        "--quiet",
        "--output",
        &out,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("Pareto k-hat 0.81"), "{stdout}");
    golden("fit_pathfinder_large_khat.stderr", &err);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_path_failing_is_an_error_and_nothing_is_written() {
    let dir = tmp("pf-spike");
    let out = dir.to_string_lossy().to_string();
    let (code, _, err) = bnnppl(&[
        "fit",
        "tests/models/pathfinder_spike.bnn",
        "--method",
        "pathfinder",
        "--quiet",
        "--output",
        &out,
    ]);
    assert_eq!(code, 65, "{err}");
    golden("fit_pathfinder_no_path.stderr", &err);
    assert!(!dir.exists(), "{} was left behind", dir.display());
}

/// `bnnppl sample models/linear_regression.bnn ARGS --quiet --output <tmp NAME>`, which must
/// succeed; returns the output directory and stderr.
fn sample_linear(name: &str, args: &[&str]) -> (std::path::PathBuf, String) {
    let dir = tmp(name);
    let out = dir.to_string_lossy().to_string();
    let mut all = vec!["sample", "models/linear_regression.bnn"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--quiet", "--output", &out]);
    let (code, _, err) = bnnppl(&all);
    assert_eq!(code, 0, "{err}");
    (dir, err)
}

#[test]
fn sample_init_pathfinder_defaults_to_a_warmup_without_the_initial_buffer() {
    // 1000 − 75: the chain file's header records the warmup run; an explicit --warmup stands.
    let header = |name: &str, extra: &[&str]| {
        let mut args = vec!["--draws", "10", "--chains", "1"];
        args.extend_from_slice(extra);
        let (dir, _) = sample_linear(name, &args);
        let text = std::fs::read_to_string(dir.join("chain_1.csv")).expect("chain_1.csv");
        let _ = std::fs::remove_dir_all(&dir);
        text.lines()
            .find(|l| l.starts_with("# num_warmup"))
            .expect("num_warmup line")
            .to_string()
    };
    assert_eq!(
        header("pf-warmup-default", &["--init", "pathfinder"]),
        "# num_warmup = 925"
    );
    assert_eq!(
        header(
            "pf-warmup-given",
            &["--init", "pathfinder", "--warmup", "1000"]
        ),
        "# num_warmup = 1000"
    );
    assert_eq!(header("random-warmup-default", &[]), "# num_warmup = 1000");
}

#[test]
fn sample_init_pathfinder_runs_and_a_chain_alone_repeats_the_full_run() {
    let run = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "--init",
            "pathfinder",
            "--warmup",
            "100",
            "--draws",
            "50",
            "--chains",
            "2",
        ];
        args.extend_from_slice(extra);
        let (dir, err) = sample_linear(name, &args);
        assert!(err.contains("Pathfinder init:"), "{err}");
        dir
    };
    let full = run("pf-init-full", &[]);
    let alone = run("pf-init-alone", &["--chain-id", "2"]);
    let part = |d: &std::path::Path| {
        std::fs::read_to_string(d.join("chain_2.csv"))
            .expect("chain_2.csv")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(part(&full), part(&alone));
    let _ = std::fs::remove_dir_all(&full);
    let _ = std::fs::remove_dir_all(&alone);
}
