//! The UCI runner's protocol arithmetic on a tiny synthetic data set (standardization from
//! training rows only, RMSE and log-likelihood back in original units), and its
//! reproducibility: the same seed gives the same split scores.

#[path = "../examples/uci/protocol.rs"]
#[allow(dead_code)]
mod protocol;

#[path = "../examples/uci/runner.rs"]
#[allow(dead_code)]
mod runner;

use bnnppl::engine::Nuts;
use protocol::{log_likelihood, mean_sd, mean_se, rmse, standardize, validation_split, Dataset};
use statrs::distribution::{Continuous, Normal};
use std::path::{Path, PathBuf};

/// Writes a data set in the PBP layout: `rows` (one string per line, as given), feature
/// columns, target column and splits.
fn write_dataset(
    dir: &Path,
    rows: &[String],
    features: &str,
    target: usize,
    splits: &[(Vec<usize>, Vec<usize>)],
) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("data.txt"), rows.join("\n") + "\n\n").unwrap();
    std::fs::write(dir.join("index_features.txt"), features).unwrap();
    std::fs::write(dir.join("index_target.txt"), format!("{target}\n")).unwrap();
    std::fs::write(dir.join("n_splits.txt"), format!("{}\n", splits.len())).unwrap();
    std::fs::write(dir.join("n_hidden.txt"), "50\n").unwrap();
    for (i, (train, test)) in splits.iter().enumerate() {
        let lines = |v: &[usize]| v.iter().map(|r| format!("{r}\n")).collect::<String>();
        std::fs::write(dir.join(format!("index_train_{i}.txt")), lines(train)).unwrap();
        std::fs::write(dir.join(format!("index_test_{i}.txt")), lines(test)).unwrap();
    }
}

/// A fresh directory for one call. Tests run in parallel threads of one process, so the
/// process id alone is not unique: two tests building `tiny()` at once would delete each
/// other's files (this raced once in CI). A per-call counter keeps them apart.
fn temp_dir(name: &str) -> PathBuf {
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("bnnppl_uci_{name}_{}_{call}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Six rows: feature a, a constant column, feature b, target y. Rows 0–3 train, 4–5 test;
/// the test rows are far from the training rows, so statistics that used them would differ.
fn tiny() -> (PathBuf, Dataset) {
    let dir = temp_dir("tiny");
    let rows: Vec<String> = [
        " 1.0\t5  2.0  10",
        " 2.0\t5  4.0  12",
        " 3.0\t5  6.0  14",
        " 4.0\t5  8.0  16",
        "100.0\t5  0.0  1000",
        "-50.0\t5  1.0  -7",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    write_dataset(&dir, &rows, "0 1 2", 3, &[(vec![0, 1, 2, 3], vec![4, 5])]);
    let ds = Dataset::load(&dir).unwrap();
    (dir, ds)
}

#[test]
fn loads_whitespace_separated_rows_and_skips_empty_lines() {
    let (_dir, ds) = tiny();
    assert_eq!(ds.rows.len(), 6);
    assert_eq!(ds.rows[4], vec![100.0, 5.0, 0.0, 1000.0]);
    assert_eq!(ds.features, vec![0, 1, 2]);
    assert_eq!(ds.target, 3);
    assert_eq!((ds.n_splits, ds.n_hidden), (1, 50));
}

#[test]
fn standardizes_with_training_rows_only() {
    let (dir, ds) = tiny();
    let split = ds.split(&dir, 0).unwrap();
    let st = standardize(&ds, &split.train, &split.test);
    // Feature a on the training rows 1, 2, 3, 4: mean 2.5, population variance
    // (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25, sd √1.25 = 1.1180340.
    let sd_a = 1.25f64.sqrt();
    assert!((st.x_train[0][0] - (1.0 - 2.5) / sd_a).abs() < 1e-12);
    // Test row 4 is scaled with the training statistics: (100 − 2.5) / 1.1180340 = 87.2067.
    assert!((st.x_test[0][0] - (100.0 - 2.5) / sd_a).abs() < 1e-12);
    // The constant column has sd 0, replaced by 1: only centred, so every value is 0.
    assert!(st.x_train.iter().chain(&st.x_test).all(|r| r[1] == 0.0));
    // Feature b: 2, 4, 6, 8 → mean 5, sd √5; y: 10, 12, 14, 16 → mean 13, sd √5.
    assert!((st.x_test[1][2] - (1.0 - 5.0) / 5f64.sqrt()).abs() < 1e-12);
    assert_eq!(st.y_mean, 13.0);
    assert!((st.y_sd - 5f64.sqrt()).abs() < 1e-12);
    assert!((st.y_train[3] - 3.0 / 5f64.sqrt()).abs() < 1e-12);
    // The test target stays in original units.
    assert_eq!(st.y_test, vec![1000.0, -7.0]);
    // Mean and sd of the training target come out standardized to 0 and 1.
    let (m, s) = mean_sd(&st.y_train);
    assert!(m.abs() < 1e-12 && (s - 1.0).abs() < 1e-12);
}

#[test]
fn rmse_is_taken_in_original_units_from_the_mean_over_draws() {
    // Two draws, standardized means (0, 1) and (2, −1) at two test rows: predictive means
    // z = 1 and 0, i.e. y = 13 + √5 · 1 and 13 in original units.
    let (y_mean, y_sd) = (13.0, 5f64.sqrt());
    let mu = vec![vec![0.0, 1.0], vec![2.0, -1.0]];
    let y = [20.0, 10.0];
    let e0 = 20.0 - (13.0 + y_sd);
    let e1 = 10.0 - 13.0;
    let want = ((e0 * e0 + e1 * e1) / 2.0f64).sqrt();
    assert!((rmse(&mu, &y, y_mean, y_sd) - want).abs() < 1e-12);
}

#[test]
fn log_likelihood_includes_the_jacobian_of_the_target_scaling() {
    // One draw: z ~ N(mu, sigma) in standardized units is y ~ N(mean + sd·mu, sd·sigma) in
    // original units, whose log-density statrs gives directly.
    let (y_mean, y_sd) = (13.0, 2.5);
    let mu = vec![vec![0.4, -1.2]];
    let sigma = [0.3];
    let y = [14.1, 9.5];
    let want: f64 = y
        .iter()
        .zip(&mu[0])
        .map(|(&yi, &m)| {
            Normal::new(y_mean + y_sd * m, y_sd * sigma[0])
                .unwrap()
                .ln_pdf(yi)
        })
        .sum::<f64>()
        / 2.0;
    let got = log_likelihood(&mu, &sigma, &y, y_mean, y_sd);
    assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    // Several draws: the log of the mean of the densities (a mixture), not the mean of logs.
    let mu2 = vec![vec![0.4], vec![-0.6], vec![1.5]];
    let sig2 = [0.3, 0.5, 0.2];
    let mix: f64 = mu2
        .iter()
        .zip(&sig2)
        .map(|(m, &s)| {
            Normal::new(y_mean + y_sd * m[0], y_sd * s)
                .unwrap()
                .pdf(14.1)
        })
        .sum::<f64>()
        / 3.0;
    let got2 = log_likelihood(&mu2, &sig2, &[14.1], y_mean, y_sd);
    assert!((got2 - mix.ln()).abs() < 1e-12, "{got2} vs {}", mix.ln());
}

#[test]
fn validation_takes_the_last_fifth_of_the_training_rows_in_file_order() {
    let train = vec![9, 3, 7, 1, 0, 8, 2, 6, 5, 4];
    let (fit, val) = validation_split(&train);
    assert_eq!(fit, vec![9, 3, 7, 1, 0, 8, 2, 6]);
    assert_eq!(val, vec![5, 4]);
}

#[test]
fn mean_and_standard_error_over_splits() {
    // 1, 2, 3, 4: mean 2.5, sample variance 5/3, SE √(5/3 / 4) = 0.6454972.
    let (m, se) = mean_se(&[1.0, 2.0, 3.0, 4.0]);
    assert_eq!(m, 2.5);
    assert!((se - (5.0f64 / 12.0).sqrt()).abs() < 1e-12);
}

/// 40 rows of y = sin(a) + b / 2 + noise on a fixed grid, one split of 32 / 8 rows.
fn synthetic() -> (PathBuf, Dataset) {
    let dir = temp_dir("synthetic");
    let rows: Vec<String> = (0..40)
        .map(|i| {
            let a = -2.0 + 4.0 * (i as f64) / 39.0;
            let b = ((i * 7) % 11) as f64 / 11.0;
            let noise = 0.1 * (((i * 13) % 17) as f64 / 17.0 - 0.5);
            format!("{a} {b} {}", a.sin() + b / 2.0 + noise)
        })
        .collect();
    let test: Vec<usize> = (0..40).filter(|i| i % 5 == 2).collect();
    let train: Vec<usize> = (0..40).filter(|i| i % 5 != 2).rev().collect();
    write_dataset(&dir, &rows, "0 1", 2, &[(train, test)]);
    let ds = Dataset::load(&dir).unwrap();
    (dir, ds)
}

fn config(engine: runner::Engine, seed: u64) -> runner::Config {
    runner::Config {
        model: PathBuf::from(match engine {
            runner::Engine::McDropout => "models/uci_dropout.bnn",
            _ => "models/uci_nuts.bnn",
        }),
        engine,
        nuts: Nuts {
            chains: 2,
            warmup: 150,
            draws: 100,
            ..Nuts::default()
        },
        svi: bnnppl::engine::svi::Svi {
            steps: 300,
            draws: 100,
            ..runner::default_svi()
        },
        fit: runner::FitSettings {
            epochs: 300,
            members: 3,
            swag_epochs: 4,
            swag_rank: 3,
            swag_draws: 20,
            ..runner::FitSettings::default()
        },
        seed,
        validate: false,
    }
}

/// Everything but the wall time, as bits (so NaN, the R-hat of a one-chain SVI run, compares
/// equal to itself).
fn scores(r: &runner::SplitResult) -> Vec<u64> {
    let f = [r.rmse, r.ll, r.max_rhat, r.mean_depth, r.sigma].map(f64::to_bits);
    f.into_iter()
        .chain([r.divergences as u64, r.gradients])
        .collect()
}

#[test]
fn the_same_seed_reproduces_a_split_exactly() {
    let (dir, ds) = synthetic();
    for engine in [
        runner::Engine::Nuts,
        runner::Engine::Svi,
        runner::Engine::Map,
        runner::Engine::Ensemble,
        runner::Engine::AnchoredEnsemble,
        runner::Engine::Swag,
        runner::Engine::Multiswag,
        runner::Engine::McDropout,
    ] {
        let a = runner::run_split(&ds, &dir, 0, &config(engine, 3)).unwrap();
        let b = runner::run_split(&ds, &dir, 0, &config(engine, 3)).unwrap();
        let c = runner::run_split(&ds, &dir, 0, &config(engine, 4)).unwrap();
        assert_eq!(scores(&a), scores(&b), "{engine:?}");
        assert_ne!(
            scores(&a),
            scores(&c),
            "{engine:?}: another seed should differ"
        );
        // The fit is a fit: it beats predicting the training mean (RMSE = sd of y ≈ 0.8).
        assert!(a.rmse < 0.5 && a.ll.is_finite(), "{engine:?}: {a:?}");
    }
}

#[test]
fn each_data_set_defaults_to_the_prior_its_validation_rows_chose() {
    use runner::{default_model, Engine};
    // bench/uci/validation/: Neal's precisions scored higher on boston (−2.661 against −2.844),
    // concrete (−2.768 against −3.071) and wine (−0.928 against −0.932); fan_in on yacht and
    // energy. Every default model must also check and bind its bundled data.
    let neal = ["bostonHousing", "concrete", "wine-quality-red"];
    let fan_in = ["yacht", "energy", "kin8nm", "power-plant"];
    for d in neal {
        assert_eq!(
            default_model(Engine::Nuts, d),
            "models/uci_nuts_neal.bnn",
            "{d}"
        );
    }
    for d in fan_in {
        assert_eq!(default_model(Engine::Nuts, d), "models/uci_nuts.bnn", "{d}");
    }
    for d in neal.iter().chain(&fan_in) {
        assert_eq!(default_model(Engine::Svi, d), "models/uci_svi.bnn", "{d}");
        assert_eq!(
            default_model(Engine::McDropout, d),
            "models/uci_dropout.bnn",
            "{d}"
        );
    }
    for path in [
        "models/uci_nuts.bnn",
        "models/uci_nuts_neal.bnn",
        "models/uci_svi.bnn",
        "models/uci_dropout.bnn",
    ] {
        let model = bnnppl::api::Model::from_file(path).unwrap_or_else(|e| panic!("{e}"));
        let data = std::path::Path::new(path).with_extension("json");
        model
            .bind_file(&data)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
    }
}
