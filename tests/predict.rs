//! `bnnppl predict` and `acquire`: metric functions against hand-computed cases, the
//! uncertainty split on tiny models with known draws, and the classic pictures on sampled
//! models (epistemic width in the gap, acquisition order, heteroscedastic noise recovery).

use bnnppl::api::Model;
use bnnppl::predict::metrics::{brier, calibration, coverage, mae, mean_lpd, rmse};
use bnnppl::predict::{self, DrawSet, Family, Settings};
use rand::{RngExt, SeedableRng};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

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
    let d = std::env::temp_dir().join(format!("bnnppl-predict-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("tmp dir");
    d
}

/// Columns of a predictions CSV by name.
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<f64>>) {
    let text = std::fs::read_to_string(path).expect("predictions written");
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .expect("header")
        .split(',')
        .map(String::from)
        .collect();
    let mut cols = vec![Vec::new(); header.len()];
    for l in lines {
        for (c, v) in l.split(',').enumerate() {
            cols[c].push(v.parse::<f64>().expect("number"));
        }
    }
    (header, cols)
}

fn col<'a>(csv: &'a (Vec<String>, Vec<Vec<f64>>), name: &str) -> &'a [f64] {
    let k = csv.0.iter().position(|h| h == name).expect("column");
    &csv.1[k]
}

/// A JSON data file of a 1-column input grid `x` on [lo, hi] without targets.
fn grid(dir: &Path, lo: f64, hi: f64, n: usize) -> (PathBuf, Vec<f64>) {
    let xs: Vec<f64> = (0..n)
        .map(|i| lo + (hi - lo) * i as f64 / (n - 1) as f64)
        .collect();
    let rows: Vec<String> = xs.iter().map(|x| format!("[{x}]")).collect();
    let path = dir.join(format!("grid_{lo}_{hi}_{n}.json"));
    std::fs::write(
        &path,
        format!("{{\"N\": {n}, \"x\": [{}]}}", rows.join(",")),
    )
    .expect("write grid");
    (path, xs)
}

// ---------------------------------------------------------------- metric functions by hand

#[test]
fn rmse_and_mae_by_hand() {
    // errors 0, 1, −2: RMSE = √(5/3) = 1.2909944, MAE = 3/3 = 1.
    let (p, y) = ([1.0, 2.0, 3.0], [1.0, 1.0, 5.0]);
    assert!((rmse(&p, &y) - 1.290_994_448_735_805_6).abs() < 1e-12);
    assert!((mae(&p, &y) - 1.0).abs() < 1e-12);
    // two of four targets inside [0, 1]
    assert_eq!(coverage(&[0.0; 4], &[1.0; 4], &[0.5, 1.0, 1.5, -0.1]), 0.5);
    assert!((mean_lpd(&[-1.0, -2.0, -4.5]) - (-2.5)).abs() < 1e-12);
}

#[test]
fn brier_by_hand() {
    // (0.7 − 1)² + 0.2² + 0.1² = 0.09 + 0.04 + 0.01 = 0.14; second row exact: 0.
    let b = brier(&[0.7, 0.2, 0.1, 0.0, 1.0, 0.0], 3, &[0, 1]);
    assert!((b - 0.07).abs() < 1e-12, "{b}");
}

#[test]
fn overconfident_classifier_has_the_expected_ece() {
    // Confidence 0.9 everywhere, 60 % right: one bin, |0.6 − 0.9| = 0.3 = ECE = MCE.
    let conf = vec![0.9; 10];
    let correct: Vec<bool> = (0..10).map(|i| i < 6).collect();
    let c = calibration(&conf, &correct, 15);
    assert!(
        (c.ece - 0.3).abs() < 1e-12 && (c.mce - 0.3).abs() < 1e-12,
        "{c:?}"
    );
    // Half the rows at 0.95 with accuracy 0.75, half at 0.65 with accuracy 0.65:
    // ECE = ½·0.2 + ½·0 = 0.1, MCE = 0.2.
    let mut conf2 = vec![0.95; 20];
    conf2.extend(vec![0.65; 20]);
    let correct2: Vec<bool> = (0..20)
        .map(|i| i < 15)
        .chain((0..20).map(|i| i < 13))
        .collect();
    let c = calibration(&conf2, &correct2, 15);
    assert!((c.ece - 0.1).abs() < 1e-12, "{c:?}");
    assert!((c.mce - 0.2).abs() < 1e-12, "{c:?}");
    assert_eq!(c.bins.iter().map(|b| b.count).sum::<usize>(), 40);
}

#[test]
fn perfectly_calibrated_classifier_has_ece_near_zero() {
    // Confidence c ~ U(0.5, 1), right with probability c. The ECE is then pure sampling
    // noise: E|acc_b − conf_b| ≈ √(2/π)·√(p(1−p)/n_b) per bin, weighted by n_b/n.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let n = 100_000;
    let conf: Vec<f64> = (0..n).map(|_| 0.5 + 0.5 * rng.random::<f64>()).collect();
    let correct: Vec<bool> = conf.iter().map(|&c| rng.random::<f64>() < c).collect();
    let c = calibration(&conf, &correct, 15);
    let expected: f64 = c
        .bins
        .iter()
        .filter(|b| b.count > 0)
        .map(|b| {
            let p = b.confidence;
            b.count as f64 / n as f64
                * (2.0 / std::f64::consts::PI).sqrt()
                * (p * (1.0 - p) / b.count as f64).sqrt()
        })
        .sum();
    assert!(
        c.ece < 3.0 * expected,
        "ECE {} vs sampling-noise level {expected}",
        c.ece
    );
    assert!(c.ece < 0.01, "ECE {}", c.ece);
}

// ------------------------------------------------- the split on tiny models with known draws

fn tiny(src: &str, json: &str, thetas: &[f64]) -> predict::Predictions {
    let model = Model::from_str("tiny.bnn", src).expect("tiny model checks");
    let bound = bnnppl::data::bind_json(json, &model.checked.data).expect("data binds");
    let y = model
        .checked
        .data
        .iter()
        .find(|d| d.name == "y")
        .map(|_| bound.data.get("y").expect("y").values.clone());
    let draws = DrawSet {
        theta: thetas.iter().map(|&t| vec![t]).collect(),
        chain_lens: vec![thetas.len()],
    };
    predict::predict(
        &model.checked,
        &bound.data,
        &draws,
        y.as_deref(),
        &Settings::default(),
    )
    .expect("predicts")
}

#[test]
fn normal_split_and_lpd_by_hand() {
    // Two draws mu = 0 and 1, sigma = 1, target y = 0:
    // aleatoric E[σ²] = 1, epistemic Var[μ] = ¼ (1/S convention), total 1.25;
    // lpd = log ½(φ(0) + φ(1)) = log ½(e^0 + e^−½)/√(2π) = −1.1380087.
    let src = "data { y: vector[N] } param { mu: real } prior { mu ~ normal(0, 1) } \
               likelihood { y ~ normal(mu, 1) }";
    let p = tiny(src, r#"{"N": 1, "y": [0]}"#, &[0.0, 1.0]);
    assert_eq!(p.family, Family::Normal);
    assert!((p.mean[0] - 0.5).abs() < 1e-12);
    assert!((p.aleatoric[0] - 1.0).abs() < 1e-12);
    assert!((p.epistemic[0] - 0.25).abs() < 1e-12);
    assert!((p.total[0] - 1.25).abs() < 1e-12);
    assert!(
        (p.lpd[0] - (-1.138_008_729_584_511_2)).abs() < 1e-12,
        "{}",
        p.lpd[0]
    );
}

#[test]
fn student_t_aleatoric_variance_is_sigma2_nu_over_nu_minus_2() {
    // student_t(5, mu, 2): σ²ν/(ν−2) = 4·5/3 = 6.6666667.
    let src = "data { y: vector[N] } param { mu: real } prior { mu ~ normal(0, 1) } \
               likelihood { y ~ student_t(5, mu, 2) }";
    let p = tiny(src, r#"{"N": 2, "y": [0, 1]}"#, &[0.0, 0.0, 0.0]);
    assert_eq!(p.family, Family::StudentT);
    assert!(
        (p.aleatoric[1] - 20.0 / 3.0).abs() < 1e-12,
        "{}",
        p.aleatoric[1]
    );
    assert_eq!(p.epistemic[1], 0.0);
}

#[test]
fn bernoulli_entropies_by_hand() {
    // Draws a = 0 and ln 3: p = ½ and ¾, p̄ = 0.625.
    // H[p̄] = 0.6615632, E[H[p_s]] = (ln 2 + H(¾))/2 = 0.6277412, MI = 0.0338221.
    let src = "data { y: int[N] } param { a: real } prior { a ~ normal(0, 1) } \
               likelihood { y ~ bernoulli_logit(a) }";
    let p = tiny(src, r#"{"N": 1, "y": [1]}"#, &[0.0, 3f64.ln()]);
    assert_eq!(p.family, Family::Bernoulli);
    assert!((p.probs[1] - 0.625).abs() < 1e-12);
    assert!((p.entropy[0] - 0.661_563_238_157_982_1).abs() < 1e-12);
    assert!((p.expected_entropy[0] - 0.627_741_162_589_376_7).abs() < 1e-12);
    assert!((p.mutual_info[0] - 0.033_822_075_568_605_39).abs() < 1e-12);
    // lpd = log p̄(y = 1) = ln 0.625
    assert!((p.lpd[0] - 0.625f64.ln()).abs() < 1e-12);
}

#[test]
fn inputs_bind_without_the_observed_field() {
    let model = Model::from_file("models/classifier.bnn").expect("model");
    let dir = tmp("bind");
    let with_y = dir.join("with_y.json");
    let without_y = dir.join("without_y.json");
    let without_x = dir.join("without_x.json");
    std::fs::write(
        &with_y,
        r#"{"N": 2, "D": 2, "K": 3, "x": [[0, 1], [1, 0]], "y": [2, 0]}"#,
    )
    .expect("write");
    std::fs::write(
        &without_y,
        r#"{"N": 2, "D": 2, "K": 3, "x": [[0, 1], [1, 0]]}"#,
    )
    .expect("write");
    std::fs::write(&without_x, r#"{"N": 2, "D": 2, "K": 3, "y": [2, 0]}"#).expect("write");
    let a = predict::bind_inputs(&model.checked, &with_y).expect("binds");
    assert_eq!(a.targets, Some(vec![2.0, 0.0]));
    let b = predict::bind_inputs(&model.checked, &without_y).expect("binds without y");
    assert_eq!(b.targets, None);
    assert_eq!(b.data.get("x").expect("x").values, vec![0.0, 1.0, 1.0, 0.0]);
    // A missing input is still an error, and names the input.
    let err = predict::bind_inputs(&model.checked, &without_x).expect_err("x is needed");
    assert!(format!("{err:?}").contains("\"x\""), "{err:?}");
}

// --------------------------------------------------------------- sampled models, end to end

/// regression_1d sampled once per test run: 4 chains, 300 warmup, 200 draws, seed 1.
fn regression_draws() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| sample("regression_1d"))
}

fn sample(model: &str) -> PathBuf {
    let dir = tmp(&format!("draws-{model}"));
    let d = dir.to_string_lossy().to_string();
    let m = format!("models/{model}.bnn");
    let (code, _, err) = bnnppl(&[
        "sample", &m, "--output", &d, "--warmup", "300", "--draws", "200", "--seed", "1", "--quiet",
    ]);
    assert_eq!(code, 0, "{err}");
    dir
}

#[test]
fn epistemic_sd_grows_in_the_gap_and_beyond_the_data() {
    let draws = regression_draws();
    let dir = tmp("gap");
    let (data, xs) = grid(&dir, -6.0, 6.0, 241);
    let out = dir.join("grid.csv");
    let (code, stdout, err) = bnnppl(&[
        "predict",
        "models/regression_1d.bnn",
        "--draws",
        &draws.to_string_lossy(),
        "--data",
        &data.to_string_lossy(),
        "--output",
        &out.to_string_lossy(),
        "--chunk",
        "64",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("no targets"), "{stdout}");
    let csv = read_csv(&out);
    let (alea, epi, total) = (
        col(&csv, "aleatoric_var"),
        col(&csv, "epistemic_var"),
        col(&csv, "total_var"),
    );
    // The law of total variance holds in the written output to its rounding.
    for i in 0..xs.len() {
        assert!(
            (alea[i] + epi[i] - total[i]).abs() <= 1e-12 * total[i],
            "row {i}: {} + {} != {}",
            alea[i],
            epi[i],
            total[i]
        );
    }
    let mean_sd = |f: &dyn Fn(f64) -> bool| {
        let v: Vec<f64> = xs
            .iter()
            .zip(epi)
            .filter(|(x, _)| f(**x))
            .map(|(_, e)| e.sqrt())
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    // The data cover 1.5 ≤ |x| ≤ 4 (models/regression_1d.bnn).
    let inside = mean_sd(&|x| (1.5..=4.0).contains(&x.abs()));
    let gap = mean_sd(&|x| x.abs() < 1.5);
    let beyond = mean_sd(&|x| x.abs() > 4.5);
    eprintln!(
        "epistemic sd: inside {inside:.4}, gap {gap:.4} ({:.2}x), beyond {beyond:.4} ({:.2}x)",
        gap / inside,
        beyond / inside
    );
    assert!(gap > 2.5 * inside, "gap {gap} vs inside {inside}");
    assert!(beyond > 2.5 * inside, "beyond {beyond} vs inside {inside}");
}

#[test]
fn acquire_ranks_gap_points_first() {
    let draws = regression_draws();
    let dir = tmp("acquire");
    // A pool across the data's range: the rows in the gap (|x| < 1.5) should lead.
    let (pool, _) = grid(&dir, -4.0, 4.0, 81);
    let (code, stdout, err) = bnnppl(&[
        "acquire",
        "models/regression_1d.bnn",
        "--draws",
        &draws.to_string_lossy(),
        "--pool",
        &pool.to_string_lossy(),
        "--top",
        "10",
    ]);
    assert_eq!(code, 0, "{err}");
    let xs: Vec<f64> = stdout
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().last().expect("x").parse().expect("x"))
        .collect();
    assert_eq!(xs.len(), 10, "{stdout}");
    assert!(xs.iter().all(|x| x.abs() < 1.5), "{stdout}");
}

#[test]
fn training_data_metrics_and_convergence_are_reported() {
    let draws = regression_draws();
    let dir = tmp("train");
    let out = dir.join("train.csv");
    let svg = dir.join("train.svg");
    let (code, stdout, err) = bnnppl(&[
        "predict",
        "models/regression_1d.bnn",
        "--draws",
        &draws.to_string_lossy(),
        "--output",
        &out.to_string_lossy(),
        "--plot",
        &svg.to_string_lossy(),
    ]);
    assert_eq!(code, 0, "{err}");
    for key in ["rmse", "mae", "mean_lpd", "coverage_95", "max R-hat"] {
        assert!(stdout.contains(key), "{key} missing from\n{stdout}");
    }
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("train.metrics.json")).expect("metrics json"),
    )
    .expect("JSON");
    // Noise sd 0.15: RMSE of the mean on the training data is near it.
    let rmse = json["metrics"]["rmse"].as_f64().expect("rmse");
    assert!((0.08..0.3).contains(&rmse), "{rmse}");
    assert_eq!(json["convergence"].as_array().expect("rows").len(), 20);
    let svg = std::fs::read_to_string(&svg).expect("svg");
    assert!(
        svg.starts_with("<svg") && svg.contains("<text"),
        "SVG with text"
    );
}

#[test]
fn draws_without_parameters_are_refused_with_the_fix() {
    let draws = regression_draws();
    let dir = tmp("noparams");
    // Keep every column except sigma, as a run saving only predictions would.
    let text = std::fs::read_to_string(draws.join("chain_1.csv")).expect("chain");
    let mut drop = None;
    let kept: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with('#') || l.is_empty() {
                return l.to_string();
            }
            let cells: Vec<&str> = l.split(',').collect();
            let k = *drop
                .get_or_insert_with(|| cells.iter().position(|c| *c == "sigma").expect("sigma"));
            cells
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != k)
                .map(|(_, c)| *c)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    std::fs::write(dir.join("chain_1.csv"), kept.join("\n") + "\n").expect("write");
    let (code, _, err) = bnnppl(&[
        "predict",
        "models/regression_1d.bnn",
        "--draws",
        &dir.to_string_lossy(),
    ]);
    assert_eq!(code, 64, "{err}");
    assert!(
        err.contains("'sigma'") && err.contains("--save all"),
        "{err}"
    );
}

#[test]
fn heteroscedastic_aleatoric_sd_tracks_the_true_noise() {
    let draws = sample("heteroscedastic");
    let dir = tmp("hetero");
    let (data, xs) = grid(&dir, -3.0, 3.0, 121);
    let out = dir.join("h.csv");
    let (code, _, err) = bnnppl(&[
        "predict",
        "models/heteroscedastic.bnn",
        "--draws",
        &draws.to_string_lossy(),
        "--data",
        &data.to_string_lossy(),
        "--output",
        &out.to_string_lossy(),
    ]);
    assert_eq!(code, 0, "{err}");
    let csv = read_csv(&out);
    let a: Vec<f64> = col(&csv, "aleatoric_var")
        .iter()
        .map(|v| v.sqrt())
        .collect();
    // The true noise scale of examples/make_data.rs: s(x) = 0.05 + 0.1 x².
    let s: Vec<f64> = xs.iter().map(|x| 0.05 + 0.1 * x * x).collect();
    let n = a.len() as f64;
    let (ma, ms) = (a.iter().sum::<f64>() / n, s.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(&s).map(|(p, q)| (p - ma) * (q - ms)).sum();
    let va: f64 = a.iter().map(|p| (p - ma).powi(2)).sum();
    let vs: f64 = s.iter().map(|q| (q - ms).powi(2)).sum();
    let corr = cov / (va * vs).sqrt();
    eprintln!("correlation of aleatoric sd with the true noise scale: {corr:.4}");
    assert!(corr > 0.9, "correlation {corr}");
}

/// Peak memory of predict on many rows stays bounded by the chunk: 100,000 rows × 4,000
/// draws of regression_1d's network would need 3.2 GB per per-draw quantity if held at once.
/// Run alone: `cargo test --release --test predict -- --ignored memory --nocapture`.
#[test]
#[ignore = "slow: minutes of compute; run alone to read VmHWM"]
fn memory_is_bounded_by_chunking() {
    let rows: usize = std::env::var("PREDICT_ROWS").map_or(100_000, |v| v.parse().expect("n"));
    let n_draws: usize =
        std::env::var("PREDICT_DRAWS").map_or(4_000, |v| v.parse().expect("draws"));
    let model = Model::from_file("models/regression_1d.bnn").expect("model");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let xs: Vec<String> = (0..rows)
        .map(|i| format!("[{}]", -6.0 + 12.0 * i as f64 / (rows - 1) as f64))
        .collect();
    let json = format!("{{\"N\": {rows}, \"x\": [{}]}}", xs.join(","));
    let dir = tmp("memory");
    let path = dir.join("big.json");
    std::fs::write(&path, json).expect("write");
    let inputs = predict::bind_inputs(&model.checked, &path).expect("binds");
    // Draws from a standard normal on θ: the memory and work do not depend on their values.
    let dim = 152;
    let draws = DrawSet {
        theta: (0..n_draws)
            .map(|_| {
                (0..dim)
                    .map(|_| rng.sample::<f64, _>(rand_distr::StandardNormal))
                    .collect()
            })
            .collect(),
        chain_lens: vec![n_draws / 4; 4],
    };
    let before = vm_hwm_kb();
    let t = std::time::Instant::now();
    let p = predict::predict(
        &model.checked,
        &inputs.data,
        &draws,
        None,
        &Settings {
            chunk: 1000,
            ..Settings::default()
        },
    )
    .expect("predicts");
    let after = vm_hwm_kb();
    eprintln!(
        "{rows} rows x {n_draws} draws, chunk 1000: VmHWM {before} kB before, {after} kB after, {:.1} s",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(p.mean.len(), rows);
    // Chunk buffers: 2 arguments × 1000 rows × draws × 8 bytes, plus the per-row output.
    let budget_kb = (2 * 1000 * n_draws * 8 + 64 * rows * 8) / 1024 + 200_000;
    assert!(after < before + budget_kb as u64, "{after} kB");
}

fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .expect("status")
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

#[test]
fn classifier_metrics_and_reliability_diagram() {
    let draws = sample("classifier");
    let dir = tmp("classifier");
    let out = dir.join("c.csv");
    let svg = dir.join("reliability.svg");
    let (code, stdout, err) = bnnppl(&[
        "predict",
        "models/classifier.bnn",
        "--draws",
        &draws.to_string_lossy(),
        "--output",
        &out.to_string_lossy(),
        "--plot",
        &svg.to_string_lossy(),
    ]);
    assert_eq!(code, 0, "{err}");
    eprintln!("{stdout}");
    let csv = read_csv(&out);
    // Class probabilities sum to one; total entropy = aleatoric + epistemic by definition of MI
    // (clamped at 0 only against rounding).
    for i in 0..csv.1[0].len() {
        let s: f64 = (0..3).map(|k| col(&csv, &format!("p.{k}"))[i]).sum();
        assert!((s - 1.0).abs() < 1e-12, "row {i}: {s}");
        let (h, e, mi) = (
            col(&csv, "entropy")[i],
            col(&csv, "expected_entropy")[i],
            col(&csv, "mutual_info")[i],
        );
        assert!(
            (h - e - mi).abs() < 1e-12 && mi >= 0.0 && e <= h + 1e-12,
            "row {i}"
        );
    }
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("c.metrics.json")).expect("metrics json"),
    )
    .expect("JSON");
    let m = &json["metrics"];
    assert!(m["accuracy"].as_f64().expect("accuracy") > 0.9, "{m}");
    let ece = m["calibration"]["ece"].as_f64().expect("ece");
    assert!((0.0..=1.0).contains(&ece), "{m}");
    assert_eq!(m["calibration"]["bins"].as_array().expect("bins").len(), 15);
    let svg = std::fs::read_to_string(&svg).expect("svg");
    assert!(
        svg.contains("ECE"),
        "reliability diagram captioned with the ECE"
    );
}
