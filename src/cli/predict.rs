//! `bnnppl predict` and `bnnppl acquire`: the posterior predictive of a `sample` run on new
//! inputs (CSV per row, metrics, convergence, plots) and active-learning ranking of a pool.

use super::check::data_failure;
use super::{Failure, ModelArgs, Output, EXIT_IO};
use crate::api::{BindInputsError, Model};
use crate::ir::{DataType, Dim};
use crate::posterior::Predictive;
use crate::predict::metrics::{evaluate, Metrics};
use crate::predict::{self, Family, Predictions, Settings, QUANTILES};
use clap::ValueEnum;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Options of `predict`.
#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// The `.bnn` model file.
    pub model: PathBuf,
    /// Output directory of `sample` (its chain_*.csv files, saved with --save all).
    #[arg(long)]
    pub draws: PathBuf,
    /// Inputs to predict at (JSON or CSV); the observed field is optional and, when present,
    /// gives metrics. Default: the model's training data.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Per-row predictions (CSV). Default: DRAWS/predictions.csv. Metrics go beside it as
    /// <stem>.metrics.json.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Rows evaluated together; memory grows with rows × draws.
    #[arg(long, default_value_t = 1000)]
    pub chunk: usize,
    /// Draw a picture (SVG): bands for a 1-input regression, a reliability diagram for a
    /// classifier with labels.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Equal-width confidence bins of ECE and MCE.
    #[arg(long, default_value_t = 15)]
    pub bins: usize,
    /// Seed of the predictive draws.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// How `acquire` scores a pool row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Score {
    /// Mutual information between y and θ: BALD for classifiers; for normal and student_t its
    /// Gaussian form ½·ln(1 + Var[μ]/E[σ²]).
    Bald,
    /// Predictive entropy: H[p̄] for classifiers; ½·ln(2πe·Var[y]) (Gaussian form) otherwise.
    Entropy,
    /// Epistemic variance Var[μ] for regression; Σ_k Var[p_k] for classifiers.
    Variance,
}

/// Options of `acquire`.
#[derive(Debug, clap::Args)]
pub struct AcquireArgs {
    /// The `.bnn` model file.
    pub model: PathBuf,
    /// Output directory of `sample` (its chain_*.csv files, saved with --save all).
    #[arg(long)]
    pub draws: PathBuf,
    /// Candidate inputs (JSON or CSV; the observed field is not needed).
    #[arg(long)]
    pub pool: PathBuf,
    /// How many rows to list.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Score. Default: bald for classifiers, variance for regression.
    #[arg(long, value_enum)]
    pub score: Option<Score>,
    /// Rows evaluated together.
    #[arg(long, default_value_t = 1000)]
    pub chunk: usize,
    /// Seed of the predictive draws.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Loads the model, the inputs (or the training data) and the draws.
fn prepare(
    model_path: &Path,
    draws: &Path,
    data: Option<&PathBuf>,
) -> Result<(Model, PathBuf, Predictive, predict::DrawSet, String), Failure> {
    let args = ModelArgs {
        model: model_path.to_path_buf(),
        data: data.cloned(),
    };
    let model = super::check::load(&args)?;
    let mut stderr = model.rendered_warnings();
    let path = super::check::data_path(&args).ok_or_else(|| {
        Failure::usage(format!(
            "error: no data to predict at: pass --data FILE, or put {} beside the model",
            model_path.with_extension("json").display()
        ))
    })?;
    if !path.is_file() {
        return Err(Failure::usage(format!(
            "error: cannot read data file {}: no such file",
            path.display()
        )));
    }
    let inputs = model.bind_inputs(&path).map_err(|e| match e {
        BindInputsError::Data(e) => Failure::model(data_failure(&path, &e)),
        e => Failure::model(format!("error: {e}")),
    })?;
    stderr.push_str(inputs.rendered_warnings());
    let (set, unfinished) = predict::read_run(draws, inputs.layout())
        .map_err(|e| Failure::usage(format!("error: {e}")))?;
    stderr.push_str(&super::summary::unfinished_warnings(&unfinished));
    if set.theta.is_empty() {
        return Err(Failure::usage(format!(
            "error: the chain files in {} hold no draws",
            draws.display()
        )));
    }
    Ok((model, path, inputs, set, stderr))
}

fn run_predict(
    inputs: &mut Predictive,
    set: &predict::DrawSet,
    settings: &Settings,
) -> Result<Predictions, Failure> {
    predict::predict_at(inputs, set, settings).map_err(|e| Failure::model(format!("error: {e}")))
}

fn io_failure(path: &Path, e: impl std::fmt::Display) -> Failure {
    Failure {
        message: format!("error: cannot write {}: {e}", path.display()),
        code: EXIT_IO,
    }
}

/// The per-row CSV.
fn predictions_csv(pred: &Predictions, targets: Option<&[f64]>) -> String {
    let mut s = String::new();
    let k = pred.family.classes();
    let qi = |level: f64| {
        QUANTILES
            .iter()
            .position(|&l| (l - level).abs() < 1e-12)
            .expect("internal: level in QUANTILES")
    };
    let mut header = vec!["row".to_string()];
    if targets.is_some() {
        header.push("y".into());
    }
    if pred.family.is_classifier() {
        header.extend((0..k).map(|c| format!("p.{c}")));
        header
            .extend(["predicted", "entropy", "expected_entropy", "mutual_info"].map(String::from));
    } else {
        header.extend(["mean", "sd", "q5", "q50", "q95"].map(String::from));
        if matches!(pred.family, Family::Normal | Family::StudentT) {
            header.extend(["aleatoric_var", "epistemic_var", "total_var"].map(String::from));
        }
    }
    if !pred.lpd.is_empty() {
        header.push("lpd".into());
    }
    let _ = writeln!(s, "{}", header.join(","));
    for i in 0..pred.rows {
        let mut row = vec![i.to_string()];
        if let Some(t) = targets {
            row.push(t[i].to_string());
        }
        if pred.family.is_classifier() {
            let p = &pred.probs[i * k..(i + 1) * k];
            row.extend(p.iter().map(|v| v.to_string()));
            row.push(predict::argmax(p).to_string());
            row.push(pred.entropy[i].to_string());
            row.push(pred.expected_entropy[i].to_string());
            row.push(pred.mutual_info[i].to_string());
        } else {
            row.push(pred.mean[i].to_string());
            row.push(pred.sd[i].to_string());
            for level in [0.05, 0.5, 0.95] {
                row.push(pred.quantiles[qi(level)][i].to_string());
            }
            if matches!(pred.family, Family::Normal | Family::StudentT) {
                row.push(pred.aleatoric[i].to_string());
                row.push(pred.epistemic[i].to_string());
                row.push(pred.total[i].to_string());
            }
        }
        if !pred.lpd.is_empty() {
            row.push(pred.lpd[i].to_string());
        }
        let _ = writeln!(s, "{}", row.join(","));
    }
    s
}

/// The single input column of a 1-D regression (a row-wise field other than the observed one
/// with one value per row), if there is exactly one.
fn single_input(model: &Model, inputs: &Predictive, rows: usize) -> Option<Vec<f64>> {
    let sym = model.checked.row_symbol()?;
    let (_, observed) = model.checked.row_likelihood()?;
    let cands: Vec<&str> = model
        .checked
        .data
        .iter()
        .filter(|d| d.name != observed)
        .filter(|d| match &d.ty {
            DataType::Vector(Dim::Sym(n)) | DataType::Matrix(Dim::Sym(n), _) => *n == sym,
            _ => false,
        })
        .map(|d| d.name.as_str())
        .collect();
    match cands.as_slice() {
        [name] => inputs
            .data()
            .get(name)
            .filter(|v| v.values.len() == rows)
            .map(|v| v.values.clone()),
        _ => None,
    }
}

fn fmt_metric(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else {
        format!("{v:.4}")
    }
}

/// `bnnppl predict`.
pub fn predict(args: &PredictArgs) -> Result<Output, Failure> {
    let (model, data_path, mut inputs, set, mut stderr) =
        prepare(&args.model, &args.draws, args.data.as_ref())?;
    let settings = Settings {
        chunk: args.chunk,
        seed: args.seed,
        ..Settings::default()
    };
    let pred = run_predict(&mut inputs, &set, &settings)?;
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| args.draws.join("predictions.csv"));
    std::fs::write(&output, predictions_csv(&pred, inputs.targets()))
        .map_err(|e| io_failure(&output, e))?;

    let mut out = String::new();
    let _ = writeln!(
        out,
        "predict: {} rows of {} at {} draws ({} chains) -> {}",
        pred.rows,
        data_path.display(),
        pred.draws,
        set.chain_lens.len(),
        output.display()
    );
    let metrics = inputs.targets().map(|y| evaluate(&pred, y, args.bins));
    match &metrics {
        Some(Metrics::Regression(m)) => {
            let _ = writeln!(out, "\nmetric                value");
            for (name, v) in [
                ("rmse", m.rmse),
                ("mae", m.mae),
                ("mean_lpd", m.mean_lpd),
                ("coverage_50", m.coverage_50),
                ("coverage_90", m.coverage_90),
                ("coverage_95", m.coverage_95),
            ] {
                let _ = writeln!(out, "{name:<20} {:>8}", fmt_metric(v));
            }
        }
        Some(Metrics::Classification(m)) => {
            let _ = writeln!(out, "\nmetric                value");
            for (name, v) in [
                ("accuracy", m.accuracy),
                ("nll", m.nll),
                ("brier", m.brier),
                ("ece", m.calibration.ece),
                ("mce", m.calibration.mce),
            ] {
                let _ = writeln!(out, "{name:<20} {:>8}", fmt_metric(v));
            }
        }
        None => {
            let _ = writeln!(out, "(no targets in the data: no metrics)");
        }
    }
    if !pred.convergence.is_empty() {
        let max_rhat = pred
            .convergence
            .iter()
            .map(|c| c.rhat)
            .fold(f64::NEG_INFINITY, f64::max);
        let min_ess = pred
            .convergence
            .iter()
            .map(|c| c.ess_bulk)
            .fold(f64::INFINITY, f64::min);
        let _ = writeln!(
            out,
            "\nfunction-space convergence of the per-draw mean at {} rows: max R-hat {}, min bulk ESS {}",
            pred.convergence.len(),
            fmt_metric(max_rhat),
            if min_ess.is_nan() { "-".into() } else { format!("{min_ess:.0}") }
        );
        if max_rhat > 1.01 {
            let _ = writeln!(
                out,
                "warning: R-hat above 1.01: the chains disagree about the function; run longer"
            );
        }
    }
    let report = serde_json::json!({
        "rows": pred.rows,
        "draws": pred.draws,
        "chains": set.chain_lens.len(),
        "metrics": metrics,
        "convergence": pred.convergence.iter().map(|c| serde_json::json!({
            "row": c.row, "rhat": c.rhat, "ess_bulk": c.ess_bulk
        })).collect::<Vec<_>>(),
    });
    let json_path = output.with_extension("metrics.json");
    std::fs::write(
        &json_path,
        serde_json::to_string_pretty(&report).expect("internal: JSON of numbers") + "\n",
    )
    .map_err(|e| io_failure(&json_path, e))?;
    let _ = writeln!(out, "metrics: {}", json_path.display());

    if let Some(plot) = &args.plot {
        let title = args
            .model
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        if pred.family.is_classifier() {
            let Some(Metrics::Classification(m)) = &metrics else {
                return Err(Failure::usage(
                    "error: a reliability diagram needs labels: give --data a file with the observed field",
                ));
            };
            predict::plot::reliability(plot, &m.calibration, &title)
                .map_err(|e| io_failure(plot, e))?;
        } else {
            let x = single_input(&model, &inputs, pred.rows).ok_or_else(|| {
                Failure::usage("error: --plot draws regressions with exactly one input column")
            })?;
            let points = match inputs.targets() {
                Some(y) => x.iter().copied().zip(y.iter().copied()).collect(),
                None => training_points(&model, &args.model).unwrap_or_default(),
            };
            predict::plot::regression_1d(plot, &x, &pred, &points, &title)
                .map_err(|e| io_failure(plot, e))?;
        }
        let _ = writeln!(out, "plot: {}", plot.display());
    }
    stderr.push_str("");
    Ok(Output {
        stdout: out,
        stderr: std::mem::take(&mut stderr),
    })
}

/// The training data's (x, y) pairs for the regression picture, when the data file beside the
/// model has them.
fn training_points(model: &Model, model_path: &Path) -> Option<Vec<(f64, f64)>> {
    let args = ModelArgs {
        model: model_path.to_path_buf(),
        data: None,
    };
    let path = super::check::data_path(&args)?;
    let inputs = model.bind_inputs(&path).ok()?;
    let y = inputs.targets()?.to_vec();
    let x = single_input(model, &inputs, y.len())?;
    Some(x.into_iter().zip(y).collect())
}

/// The acquisition score of every row.
pub fn scores(pred: &Predictions, score: Score) -> Vec<f64> {
    let two_pi_e = 2.0 * std::f64::consts::PI * std::f64::consts::E;
    match (pred.family.is_classifier(), score) {
        (true, Score::Bald) => pred.mutual_info.clone(),
        (true, Score::Entropy) => pred.entropy.clone(),
        (true, Score::Variance) => pred.prob_var.clone(),
        (false, Score::Variance) if !pred.epistemic.is_empty() => pred.epistemic.clone(),
        (false, Score::Bald) if !pred.epistemic.is_empty() => pred
            .epistemic
            .iter()
            .zip(&pred.aleatoric)
            .map(|(e, a)| 0.5 * (e / a).ln_1p())
            .collect(),
        (false, Score::Entropy) if !pred.total.is_empty() => pred
            .total
            .iter()
            .map(|t| 0.5 * (two_pi_e * t).ln())
            .collect(),
        // Other likelihoods have no split: fall back to the predictive variance.
        (false, _) => pred.sd.iter().map(|s| s * s).collect(),
    }
}

/// `bnnppl acquire`.
pub fn acquire(args: &AcquireArgs) -> Result<Output, Failure> {
    let (model, pool_path, mut inputs, set, stderr) =
        prepare(&args.model, &args.draws, Some(&args.pool))?;
    let settings = Settings {
        chunk: args.chunk,
        seed: args.seed,
        convergence_rows: 0,
    };
    let pred = run_predict(&mut inputs, &set, &settings)?;
    let score = args.score.unwrap_or(if pred.family.is_classifier() {
        Score::Bald
    } else {
        Score::Variance
    });
    let s = scores(&pred, score);
    let mut order: Vec<usize> = (0..s.len()).collect();
    // Highest score first; NaN last; ties by row for a stable listing.
    order.sort_by(|&a, &b| {
        let key = |v: f64| if v.is_nan() { f64::NEG_INFINITY } else { v };
        key(s[b]).total_cmp(&key(s[a])).then(a.cmp(&b))
    });
    let x = single_input(&model, &inputs, pred.rows);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "acquire: {} pool rows of {} scored by {} at {} draws",
        pred.rows,
        pool_path.display(),
        score
            .to_possible_value()
            .expect("internal: no skipped variants")
            .get_name(),
        pred.draws
    );
    let _ = writeln!(
        out,
        "{:>4}  {:>6}  {:>12}{}",
        "rank",
        "row",
        "score",
        if x.is_some() { "  x" } else { "" }
    );
    for (rank, &r) in order.iter().take(args.top).enumerate() {
        let xs = x
            .as_ref()
            .map(|x| format!("  {:.4}", x[r]))
            .unwrap_or_default();
        let _ = writeln!(out, "{:>4}  {:>6}  {:>12.6e}{xs}", rank + 1, r, s[r]);
    }
    Ok(Output {
        stdout: out,
        stderr,
    })
}
