//! NUTS on the ten posteriordb models against their reference posteriors: every parameter's mean
//! and sd must agree within Monte Carlo error, judged by z-scores (see `support/posteriordb.rs`).
//!
//! Each posterior runs 4 chains × 1000 warmup × 1000 draws with a fixed seed, Stan's defaults
//! otherwise. For every quantity the reference stores (constrained parameters, and eight schools'
//! derived θ from the predict block) we take mean, sd and their MCSEs from
//! [`bnnppl::summary::summarize`] (the same `mcse_mean` and `mcse_sd` as the `summary` module's
//! functions) and require
//!
//! - |z| < 4.5 for the mean, z = (mean − ref mean) / √(mcse² + ref mcse²),
//! - |z| < 4.5 for the sd, the same with the MCSEs of the sd,
//! - |mean − ref mean| < 0.25 ref sd,
//!
//! where for wells and radon the reference is the exact quadrature mean and sd, whose own error is
//! negligible, so z uses only our MCSE. 48 quantities × 2 z-tests at P(|Z| > 4.5) = 6.8e-6 give a
//! false alarm on a correct sampler with probability about 7e-4 per run of the suite.
//!
//! The helpers (reading `reference.json`, column names, the z-tests) are unit-tested below with
//! synthetic numbers.

#[path = "support/posteriordb.rs"]
mod pdb;

use bnnppl::engine::{Engine, Nuts, Trace};
use bnnppl::posterior::Posterior;
use bnnppl::summary::summarize;
use pdb::{
    compare, row_major_column_names, z_score, Estimate, Failure, RefStat, Reference, POSTERIORS,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

/// Seed of every run; chain c uses stream c + 1 of it.
const SEED: u64 = 20_240_528;

/// The stored quantities of every draw, by CmdStan column name: (column, one Vec per chain).
fn output_columns(post: &Posterior, trace: &Trace) -> Vec<(String, Vec<Vec<f64>>)> {
    let names: Vec<String> = post
        .output_shapes()
        .iter()
        .flat_map(|(name, dims)| row_major_column_names(name, dims))
        .collect();
    let mut columns: Vec<(String, Vec<Vec<f64>>)> = names
        .into_iter()
        .map(|n| (n, vec![Vec::new(); trace.chains.len()]))
        .collect();
    let mut eval = post.evaluator();
    // The predict blocks here are deterministic; the generator only satisfies the signature.
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let mut out = vec![0.0; post.output_len()];
    for (c, chain) in trace.chains.iter().enumerate() {
        for i in 0..chain.len() {
            if chain.stats[i].warmup {
                continue;
            }
            eval.outputs(chain.draw(i), &mut rng, &mut out)
                .expect("outputs at a draw");
            for (k, (_, per_chain)) in columns.iter_mut().enumerate() {
                per_chain[c].push(out[k]);
            }
        }
    }
    columns
}

/// Samples one posterior and compares every referenced quantity; panics listing the failures.
fn check_posterior(name: &str) {
    let reference = Reference::load();
    let refs = reference.posterior(name);
    let post = pdb::posterior(name);
    let nuts = Nuts {
        chains: 4,
        warmup: 1000,
        draws: 1000,
        seed: SEED,
        ..Nuts::default()
    };
    let start = Instant::now();
    let trace = nuts.sample(&post).unwrap_or_else(|e| panic!("{name}: {e}"));
    let elapsed = start.elapsed();
    let divergences: usize = trace.chains.iter().map(|c| c.divergences()).sum();
    let max_depth_hits: usize = trace
        .chains
        .iter()
        .flat_map(|c| &c.stats)
        .filter(|s| !s.warmup && s.tree_depth >= nuts.max_depth)
        .count();
    let leapfrogs: u64 = trace
        .chains
        .iter()
        .flat_map(|c| &c.stats)
        .map(|s| s.n_leapfrog)
        .sum();
    eprintln!(
        "{name}: {:.2} s, {divergences} divergences, {max_depth_hits} draws at max depth, \
         {leapfrogs} leapfrog steps after warmup",
        elapsed.as_secs_f64()
    );

    let columns = output_columns(&post, &trace);
    let mut failures: Vec<Failure> = Vec::new();
    for (column, r) in refs {
        let (_, chains) = columns
            .iter()
            .find(|(c, _)| c == column)
            .unwrap_or_else(|| panic!("{name}: no output column {column}"));
        let row = summarize(column, chains);
        let ours = Estimate {
            mean: row.mean,
            sd: row.sd,
            mcse_mean: row.mcse_mean,
            mcse_sd: row.mcse_sd,
        };
        let z_mean = z_score(
            ours.mean,
            ours.mcse_mean,
            r.target_mean(),
            r.target_mcse_mean(),
        );
        let z_sd = z_score(ours.sd, ours.mcse_sd, r.target_sd(), r.target_mcse_sd());
        eprintln!(
            "  {column:10} mean {:12.6e} (ref {:12.6e}) z {z_mean:6.2}   sd {:10.4e} (ref {:10.4e}) \
             z {z_sd:6.2}   ess_bulk {:6.0} rhat {:.3}",
            ours.mean,
            r.target_mean(),
            ours.sd,
            r.target_sd(),
            row.ess_bulk,
            row.rhat
        );
        failures.extend(compare(column, &ours, r));
    }
    assert!(
        failures.is_empty(),
        "{name}: {} statistic(s) outside their limits:\n{}",
        failures.len(),
        failures
            .iter()
            .map(|f| format!("  {f}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

macro_rules! posterior_tests {
    ($($test:ident => $name:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_posterior($name);
            }
        )*

        /// The list above is POSTERIORS, in order.
        #[test]
        fn every_posterior_has_a_sampling_test() {
            assert_eq!(vec![$($name),*], POSTERIORS.to_vec());
        }
    };
}

posterior_tests! {
    nuts_kidiq_kidscore_momiq => "kidiq-kidscore_momiq",
    nuts_kidiq_kidscore_interaction => "kidiq-kidscore_interaction",
    nuts_earnings_logearn_height => "earnings-logearn_height",
    nuts_mesquite_logmesquite_logvolume => "mesquite-logmesquite_logvolume",
    nuts_nes1972_nes => "nes1972-nes",
    nuts_sblrc_blr => "sblrc-blr",
    nuts_kilpisjarvi_mod_kilpisjarvi => "kilpisjarvi_mod-kilpisjarvi",
    nuts_eight_schools_noncentered => "eight_schools-eight_schools_noncentered",
    nuts_wells_data_wells_dist => "wells_data-wells_dist",
    nuts_radon_mn_radon_pooled => "radon_mn-radon_pooled",
}

// ---- The helpers, with synthetic numbers. ----

fn stat(mean: f64, sd: f64, mcse_mean: f64, mcse_sd: f64) -> RefStat {
    RefStat {
        mean,
        sd,
        mcse_mean,
        mcse_sd,
        exact_mean: None,
        exact_sd: None,
    }
}

#[test]
fn reference_json_parses_with_and_without_exact_moments() {
    let text = r#"{
        "provenance": "synthetic",
        "posteriors": {
            "p": {
                "beta.1": {"mean": 1.0, "sd": 2.0, "mcse_mean": 0.02, "mcse_sd": 0.015},
                "sigma": {"mean": 3.0, "sd": 0.5, "mcse_mean": 0.005, "mcse_sd": 0.004,
                          "exact_mean": 3.01, "exact_sd": 0.49}
            }
        }
    }"#;
    let r = Reference::parse(text).unwrap();
    let p = r.posterior("p");
    assert_eq!(p["beta.1"], stat(1.0, 2.0, 0.02, 0.015));
    let s = &p["sigma"];
    // Exact moments replace the sample ones, with no Monte Carlo error of their own.
    assert_eq!((s.target_mean(), s.target_mcse_mean()), (3.01, 0.0));
    assert_eq!((s.target_sd(), s.target_mcse_sd()), (0.49, 0.0));
    let b = &p["beta.1"];
    assert_eq!((b.target_mean(), b.target_mcse_mean()), (1.0, 0.02));
    assert_eq!((b.target_sd(), b.target_mcse_sd()), (2.0, 0.015));
    // A misspelt field is an error, not a silently missing number.
    let typo = text.replace("mcse_sd\": 0.015", "mcse_s\": 0.015");
    assert!(Reference::parse(&typo).is_err());
}

#[test]
fn z_score_arithmetic() {
    // (10.3 − 10) / √(0.04² + 0.03²) = 0.3 / 0.05 = 6
    assert!((z_score(10.3, 0.04, 10.0, 0.03) - 6.0).abs() < 1e-12);
    // An exact reference: (0.9 − 1) / √(0.05² + 0) = −2
    assert!((z_score(0.9, 0.05, 1.0, 0.0) + 2.0).abs() < 1e-12);
    assert!(z_score(1.0, f64::NAN, 1.0, 0.01).is_nan());
}

#[test]
fn compare_passes_agreement_and_names_each_failure() {
    let r = stat(10.0, 2.0, 0.02, 0.015);
    let good = Estimate {
        mean: 10.05,
        sd: 2.03,
        mcse_mean: 0.03,
        mcse_sd: 0.02,
    };
    // z_mean = 0.05 / √(0.03² + 0.02²) = 0.05 / 0.0361 = 1.39; z_sd = 0.03 / 0.025 = 1.2
    assert!(compare("x", &good, &r).is_empty());

    // z_mean = 0.2 / 0.0361 = 5.5: fails the mean z only (0.2 < 0.25 · 2 = 0.5).
    let off_mean = Estimate { mean: 10.2, ..good };
    let f = compare("x", &off_mean, &r);
    assert_eq!(f.iter().map(|f| f.test).collect::<Vec<_>>(), ["mean z"]);
    assert!((f[0].score - 0.2 / (0.03f64.powi(2) + 0.02f64.powi(2)).sqrt()).abs() < 1e-9);
    assert_eq!(f[0].column, "x");

    // z_sd = 0.12 / √(0.02² + 0.015²) = 0.12 / 0.025 = 4.8: fails the sd z only.
    let off_sd = Estimate { sd: 2.12, ..good };
    let f = compare("x", &off_sd, &r);
    assert_eq!(f.iter().map(|f| f.test).collect::<Vec<_>>(), ["sd z"]);

    // A huge MCSE hides a 0.3-sd error from z (0.6 / √(0.5² + 0.02²) = 1.2) but not from the
    // 0.25-sd rule.
    let stuck = Estimate {
        mean: 10.6,
        mcse_mean: 0.5,
        mcse_sd: 0.5,
        ..good
    };
    let f = compare("x", &stuck, &r);
    assert_eq!(
        f.iter().map(|f| f.test).collect::<Vec<_>>(),
        ["mean / ref sd"]
    );
    assert!((f[0].score - 0.3).abs() < 1e-12);

    // An undefined MCSE (constant or non-finite draws) fails both z-tests.
    let nan = Estimate {
        mcse_mean: f64::NAN,
        mcse_sd: f64::NAN,
        ..good
    };
    let f = compare("x", &nan, &r);
    assert_eq!(
        f.iter().map(|f| f.test).collect::<Vec<_>>(),
        ["mean z", "sd z"]
    );
}

#[test]
fn compare_uses_exact_moments_without_their_mcse() {
    let r = RefStat {
        exact_mean: Some(1.0),
        exact_sd: Some(0.1),
        ..stat(1.02, 0.1, 0.001, 0.001)
    };
    // Against the exact mean: (1.004 − 1) / 0.001 = 4 passes; against the sample mean 1.02 it
    // would be −16 / √2 = −11.3.
    let ours = Estimate {
        mean: 1.004,
        sd: 0.1,
        mcse_mean: 0.001,
        mcse_sd: 0.001,
    };
    assert!(compare("a", &ours, &r).is_empty());
    // (1.005 − 1) / 0.001 = 5 fails.
    let f = compare(
        "a",
        &Estimate {
            mean: 1.005,
            ..ours
        },
        &r,
    );
    assert_eq!(f.len(), 1);
    assert!((f[0].score - 5.0).abs() < 1e-9);
}

#[test]
fn column_names_are_cmdstans_row_major() {
    assert_eq!(row_major_column_names("sigma", &[]), ["sigma"]);
    assert_eq!(
        row_major_column_names("beta", &[3]),
        ["beta.1", "beta.2", "beta.3"]
    );
    // Element k of row-major storage: w[0,0], w[0,1], w[0,2], w[1,0], ...
    assert_eq!(
        row_major_column_names("w", &[2, 3]),
        ["w.1.1", "w.1.2", "w.1.3", "w.2.1", "w.2.2", "w.2.3"]
    );
}

/// Every column of reference.json is a quantity our model outputs, and every output is
/// referenced except eight schools' θ_trans (the reference stores the derived θ instead).
#[test]
fn reference_json_matches_the_model_outputs() {
    let reference = Reference::load();
    assert_eq!(
        reference.posteriors.keys().collect::<Vec<_>>(),
        {
            let mut names = POSTERIORS.to_vec();
            names.sort_unstable();
            names
        }
        .iter()
        .collect::<Vec<_>>()
    );
    for name in POSTERIORS {
        let post = pdb::posterior(name);
        let ours: Vec<String> = post
            .output_shapes()
            .iter()
            .flat_map(|(n, d)| row_major_column_names(n, d))
            .collect();
        let refs = reference.posterior(name);
        for column in refs.keys() {
            assert!(ours.contains(column), "{name}: no output {column}");
        }
        for column in &ours {
            assert!(
                refs.contains_key(column) || column.starts_with("theta_trans."),
                "{name}: output {column} has no reference"
            );
        }
    }
}
