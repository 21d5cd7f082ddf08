//! MC dropout end to end: a dropout layer is the identity in the density; with every rate 0
//! `mc-dropout` is the `map` fit bit for bit; with dropout the predictive band widens in
//! regression_1d's gap; bad input is refused and writes nothing; every other engine warns, once,
//! that it runs dropout as the identity.

use bnnppl::api::Model;
use bnnppl::autodiff::reference::forward_mode_gradient;
use bnnppl::density::Density;
use bnnppl::engine::{Engine, Map, McDropout, RunControl, TraceFactory};
use bnnppl::posterior::Posterior;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The dropout variant of regression_1d, and the data it binds.
const MODEL: &str = "tests/models/regression_1d_dropout.bnn";
const DATA: &str = "models/regression_1d.json";

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

/// A fresh path under the temporary directory (not created).
fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bnnppl-mcd-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Compares `got` with `tests/cli/NAME`, or writes it under BLESS=1.
fn golden(name: &str, got: &str) {
    let path = Path::new("tests/cli").join(name);
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, got).expect("write golden");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with BLESS=1", path.display()));
    assert_eq!(want, got, "{} differs", path.display());
}

/// regression_1d (1 → 50 tanh → 1) with `layer` written between its two dense layers.
fn regression_1d_with(layer: &str) -> Posterior {
    let src = std::fs::read_to_string("models/regression_1d.bnn").expect("model");
    let hidden = "  dense(50, tanh)          # 1 -> 50\n";
    assert!(src.contains(hidden));
    let src = src.replace(hidden, &format!("{hidden}  {layer}\n"));
    let model = Model::from_str("regression_1d_with.bnn", &src).expect("checks");
    model.bind_file(DATA).expect("binds")
}

fn regression_1d() -> Posterior {
    let model = Model::from_file("models/regression_1d.bnn").expect("model");
    model.bind_file(DATA).expect("binds")
}

#[test]
fn a_dropout_layer_is_the_identity_in_the_density() {
    // The same network with and without dropout(0.3) after its hidden layer: the same θ
    // layout (the dropout has no parameters) and the same program — the layer lowers to
    // nothing, the output layer reading the hidden layer's slot — so value and gradient are
    // equal bit for bit. The forward-mode reference agrees.
    let (plain, dropout) = (regression_1d(), regression_1d_with("dropout(0.3)"));
    let d = plain.layout().dim();
    assert_eq!(dropout.layout().dim(), d);
    let size = |p: &Posterior| (p.program().instrs.len(), p.program().arena_len);
    assert_eq!(size(&dropout), size(&plain));
    let (mut a, mut b) = (plain.evaluator(), dropout.evaluator());
    let (mut ga, mut gb) = (vec![0.0; d], vec![0.0; d]);
    for k in 0..5 {
        let theta: Vec<f64> = (0..d)
            .map(|i| (((i + 7 * k) * 37 % 101) as f64 - 50.0) / 40.0)
            .collect();
        let la = a.log_density_grad(&theta, &mut ga).expect("finite");
        let lb = b.log_density_grad(&theta, &mut gb).expect("finite");
        assert_eq!((la, &ga), (lb, &gb), "point {k}");
        let p = dropout.program();
        let (lr, gr) = forward_mode_gradient(p, &p.init, &theta, 1.0);
        assert!((lr - lb).abs() <= 1e-10 * lb.abs(), "{lr} vs {lb}");
        for i in 0..d {
            assert!((gr[i] - gb[i]).abs() <= 1e-10 * gb[i].abs().max(1.0), "{i}");
        }
    }
}

#[test]
fn rate_zero_gives_exactly_the_map_fit() {
    // regression_1d with dropout(0) against regression_1d itself, on minibatches (so the
    // batch order's random stream is shared too) and with the gradient-norm checks MAP makes:
    // the same fit bit for bit, trace included, and every draw is its mode.
    let map = Map {
        steps: 400,
        batch_size: Some(20),
        grad_tol: 1e-3,
        seed: 7,
        ..Map::default()
    };
    let mc = McDropout {
        map: map.clone(),
        draws: 3,
        members: 1,
    };
    let (sinks, control) = (TraceFactory::default(), RunControl::default());
    let want = map.run(&regression_1d(), &sinks, &control).expect("fits");
    let got = mc
        .run(&regression_1d_with("dropout(0)"), &sinks, &control)
        .expect("fits");
    let mode = want.chains[0].fit.clone();
    assert_eq!(got.chains[0].fit, mode);
    assert_eq!(mode.trace.len(), 400, "the fit ran every step");
    let trace = got.into_trace();
    for i in 0..3 {
        assert_eq!(trace.chains[0].draw(i), &mode.theta[..]);
    }
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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

#[test]
fn dropout_widens_the_predictive_band_in_the_gap() {
    // Fit with dropout(0.1) before the output layer, 1000 masked draws, then `predict` on a
    // grid over [−6, 6]: the sd of the predicted mean over the draws (MC dropout's
    // uncertainty, predict's epistemic part) in the gap |x| < 1.5 is at least twice its median
    // over the data's range 1.5 ≤ |x| ≤ 4. Measured: median 0.0821 inside, 0.234 in the gap
    // (2.85×); seeds 2 to 5 give 2.3× to 2.6×.
    let dir = tmp("gap");
    let out = dir.to_string_lossy().to_string();
    let (code, stdout, err) = bnnppl(&[
        "fit",
        MODEL,
        "--data",
        DATA,
        "--method",
        "mc-dropout",
        "--steps",
        "20000",
        "--lr",
        "0.005",
        "--decay",
        "cosine",
        "--seed",
        "1",
        "--quiet",
        "--output",
        &out,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        stdout.contains("1000 draws per fit, each the fitted weights with one dropout mask"),
        "{stdout}"
    );
    assert!(err.is_empty(), "no warning for mc-dropout: {err}");
    // What the summary says about the draws.
    let summary = std::fs::read_to_string(dir.join("summary.txt")).expect("summary written");
    let at = summary
        .find("Each draw is the fitted network")
        .expect("the paragraph");
    golden("summary_mc_dropout.txt", &summary[at..]);
    let xs: Vec<f64> = (0..241).map(|i| -6.0 + 0.05 * i as f64).collect();
    let rows: Vec<String> = xs.iter().map(|x| format!("[{x}]")).collect();
    let grid = dir.join("grid.json");
    std::fs::write(
        &grid,
        format!("{{\"N\": 241, \"x\": [{}]}}", rows.join(",")),
    )
    .expect("grid");
    let predictions = dir.join("grid.csv");
    let (code, _, err) = bnnppl(&[
        "predict",
        MODEL,
        "--draws",
        &out,
        "--data",
        &grid.to_string_lossy(),
        "--output",
        &predictions.to_string_lossy(),
    ]);
    assert_eq!(code, 0, "{err}");
    let csv = read_csv(&predictions);
    let k = csv
        .0
        .iter()
        .position(|h| h == "epistemic_var")
        .expect("column");
    let sd = |keep: &dyn Fn(f64) -> bool| {
        let v = xs
            .iter()
            .zip(&csv.1[k])
            .filter(|(x, _)| keep(x.abs()))
            .map(|(_, v)| v.sqrt())
            .collect();
        median(v)
    };
    let inside = sd(&|a| (1.5..=4.0).contains(&a));
    let gap = sd(&|a| a < 1.5);
    eprintln!(
        "MC dropout sd of the mean: median {inside:.4} inside, {gap:.4} in the gap ({:.2}x)",
        gap / inside
    );
    assert!(gap >= 2.0 * inside, "gap {gap} vs inside {inside}");
}

#[test]
fn bad_input_is_refused_and_writes_nothing() {
    // A model without a dropout layer: a usage error (64), no output directory.
    let dir = tmp("nodropout");
    let out = dir.to_string_lossy().to_string();
    let (code, _, err) = bnnppl(&[
        "fit",
        "models/regression_1d.bnn",
        "--method",
        "mc-dropout",
        "--output",
        &out,
    ]);
    assert_eq!(code, 64, "{err}");
    golden("fit_mc_dropout_no_dropout.stderr", &err);
    assert!(!dir.exists(), "{} was created", dir.display());
    // A rate outside [0, 1): the model's error (65), before any output.
    let (code, _, err) = bnnppl(&[
        "fit",
        "tests/compile/bad/dropout_rate_one.bnn",
        "--method",
        "mc-dropout",
        "--output",
        &out,
    ]);
    assert_eq!(code, 65, "{err}");
    assert!(
        err.contains("the dropout rate 1 is outside [0, 1)"),
        "{err}"
    );
    assert!(!dir.exists(), "{} was created", dir.display());
}

#[test]
fn other_engines_warn_once_that_dropout_is_the_identity() {
    // Three ensemble members on a model with one dropout layer: one warning for the run.
    let dir = tmp("warn");
    let out = dir.to_string_lossy().to_string();
    let (code, _, err) = bnnppl(&[
        "fit",
        MODEL,
        "--data",
        DATA,
        "--method",
        "ensemble",
        "--members",
        "3",
        "--steps",
        "5",
        "--quiet",
        "--output",
        &out,
    ]);
    assert_eq!(code, 0, "{err}");
    golden("fit_ensemble_dropout.stderr", &err);
    // A sampler says the same, under its name.
    let (code, _, err) = bnnppl(&[
        "sample",
        MODEL,
        "--data",
        DATA,
        "--chains",
        "2",
        "--warmup",
        "5",
        "--draws",
        "5",
        "--quiet",
        "--overwrite",
        "--output",
        &out,
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        err.matches("warning: nuts runs the dropout layer f.2")
            .count(),
        1,
        "{err}"
    );
}
