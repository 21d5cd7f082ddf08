//! Posterior predictive on new inputs: per-row predictive summaries, the aleatoric/epistemic
//! split, log predictive density and function-space convergence, computed chunk by chunk from
//! the draws of a `sample` run.
//!
//! For each posterior draw θ_s the likelihood's argument expressions (location, scale, logits)
//! are evaluated on a chunk of input rows by the inputs' [`Predictive`] (the posterior side of
//! a prediction); one predictive draw y_s is taken from the likelihood per θ_s. The draws are
//! read back from a run's chain files ([`ReadDraws`]) and mapped to θ through the parameter
//! layout. Memory is O(chunk × draws) plus the draws themselves.
//!
//! Uncertainty decomposition (regression, [DK18]): with μ_s, σ²_s the per-draw mean and
//! variance of y, Var[y] = E_s[σ²_s] (aleatoric) + Var_s[μ_s] (epistemic) by the law of total
//! variance. Classification ([HHGL11], [DK18]): H[p̄] (total) = E_s[H[p_s]] (aleatoric) +
//! I[y; θ] (epistemic, the BALD mutual information).
//!
//! [DK18] Depeweg, Hernández-Lobato, Doshi-Velez & Udluft, Decomposition of Uncertainty in
//! Bayesian Deep Learning for Efficient and Risk-sensitive Learning, ICML 2018.
//! [HHGL11] Houlsby, Huszár, Ghahramani & Lengyel, Bayesian Active Learning for Classification
//! and Preference Learning, 2011.

pub mod metrics;
pub mod plot;
pub mod trace;

use crate::data::BoundData;
use crate::draws::{DrawsError, ReadDraws, RunFilesError, Unfinished};
use crate::ir::{CheckedModel, Distribution};
use crate::math::special::log_sum_exp;
use crate::posterior::predictive::{ChunkArgs, Predictive, PredictiveError};
use crate::posterior::ParamLayout;
use rand::SeedableRng;
use std::path::{Path, PathBuf};

/// Quantile levels computed per row (the CSV shows 5/50/95 %; the others give the 50 % and
/// 95 % central intervals used for coverage and plots).
pub const QUANTILES: [f64; 7] = [0.025, 0.05, 0.25, 0.5, 0.75, 0.95, 0.975];

/// Why a prediction could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PredictError {
    /// The model has no likelihood term over rows, so there is nothing to predict.
    #[error("the model has no likelihood over rows of data, so there is nothing to predict")]
    NoRowLikelihood,
    /// The draws directory has no chain files.
    #[error("no chain_*.csv files in {}", dir.display())]
    NoChains {
        /// The directory as given.
        dir: PathBuf,
    },
    /// A chain file could not be read or parsed.
    #[error("cannot read draws from {}: {reason}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A parameter column is absent (the run did not save parameters).
    #[error("{} has no column '{column}': predict needs every parameter's draws; sample with --save all (the default)", path.display())]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column name.
        column: String,
    },
    /// Sizes the checker deferred disagree with the inputs.
    #[error("the inputs' sizes do not fit the model: {0}")]
    Sizes(String),
    /// A stored value lies outside its parameter's constraint.
    #[error("{}: value {value} of '{column}' lies outside its constraint", path.display())]
    OutOfSupport {
        /// The file.
        path: PathBuf,
        /// The column name.
        column: String,
        /// The value.
        value: f64,
    },
}

/// The posterior draws, mapped back to the unconstrained space θ.
#[derive(Debug, Clone, Default)]
pub struct DrawSet {
    /// θ of every draw, chains concatenated; each of length `ParamLayout::dim()`.
    pub theta: Vec<Vec<f64>>,
    /// Number of draws of each chain, in file order.
    pub chain_lens: Vec<usize>,
}

/// Reads `chain_*.csv` in `dir` (sorted by chain number) and maps every draw's constrained
/// parameter values to θ through `layout`.
pub fn read_draws(dir: &Path, layout: &ParamLayout) -> Result<DrawSet, PredictError> {
    read_run(dir, layout).map(|(set, _)| set)
}

/// [`read_draws`], with the unfinished last lines it skipped (a run stopped mid-line), for the
/// caller to warn about.
pub fn read_run(
    dir: &Path,
    layout: &ParamLayout,
) -> Result<(DrawSet, Vec<Unfinished>), PredictError> {
    let read = ReadDraws::from_dir(dir).map_err(|e| files_error(dir, e))?;
    let theta = read.thetas(layout).map_err(|e| match e {
        DrawsError::Files(e) => files_error(dir, e),
        DrawsError::MissingColumn { path, column } => PredictError::MissingColumn { path, column },
        DrawsError::OutOfSupport {
            path,
            column,
            value,
        } => PredictError::OutOfSupport {
            path,
            column,
            value,
        },
    })?;
    let set = DrawSet {
        theta,
        chain_lens: read.draws.chains.iter().map(|c| c.stats.len()).collect(),
    };
    Ok((set, read.unfinished))
}

/// The predict error for chain files that cannot be listed or read.
fn files_error(dir: &Path, e: RunFilesError) -> PredictError {
    match e {
        RunFilesError::NoChainFiles { .. } => PredictError::NoChains {
            dir: dir.to_path_buf(),
        },
        RunFilesError::Read { path, source } => PredictError::Unreadable {
            path,
            reason: source.to_string(),
        },
        RunFilesError::Parse { path, source } => PredictError::Unreadable {
            path,
            reason: source.to_string(),
        },
        RunFilesError::OtherRun {
            path,
            first,
            difference,
        } => PredictError::Unreadable {
            reason: format!(
                "it is not of the same run as {}: {difference}",
                first.display()
            ),
            path,
        },
        RunFilesError::OtherColumns { path, first } => PredictError::Unreadable {
            reason: format!("its columns differ from those of {}", first.display()),
            path,
        },
    }
}

/// What the likelihood says about one row, which decides the summaries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Family {
    /// normal(mu, sigma): location/scale, variance split.
    Normal,
    /// student_t(nu, mu, sigma): variance σ²ν/(ν−2), infinite for ν ≤ 2.
    StudentT,
    /// bernoulli_logit(alpha): two classes, P(y = 1) = sigmoid(alpha).
    Bernoulli,
    /// categorical_logit(logits): K classes.
    Categorical(usize),
    /// Any other likelihood: summaries of the predictive draws only.
    Other(Distribution),
}

impl Family {
    /// True for classifiers (class probabilities and entropies instead of variances).
    pub fn is_classifier(self) -> bool {
        matches!(self, Family::Bernoulli | Family::Categorical(_))
    }
    /// Number of classes (0 for regression).
    pub fn classes(self) -> usize {
        match self {
            Family::Bernoulli => 2,
            Family::Categorical(k) => k,
            _ => 0,
        }
    }
}

/// Options of [`predict`].
#[derive(Debug, Clone)]
pub struct Settings {
    /// Rows evaluated together; memory grows with chunk × draws.
    pub chunk: usize,
    /// Seed of the predictive draws of y.
    pub seed: u64,
    /// Rows (evenly spaced) at which R̂ and bulk ESS of the per-draw mean are computed.
    pub convergence_rows: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            chunk: 1000,
            seed: 1,
            convergence_rows: 20,
        }
    }
}

/// R̂ and bulk ESS of the per-draw predictive mean at one row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowConvergence {
    /// 0-based row.
    pub row: usize,
    /// Rank-normalized split R̂.
    pub rhat: f64,
    /// Bulk effective sample size.
    pub ess_bulk: f64,
}

/// Per-row predictive summaries, column-oriented; each vector has one entry per row unless
/// said otherwise. Fields that do not apply to the family are empty.
#[derive(Debug, Clone)]
pub struct Predictions {
    /// The likelihood family.
    pub family: Family,
    /// Number of rows.
    pub rows: usize,
    /// Number of posterior draws used.
    pub draws: usize,
    /// Predictive mean E[y] (regression) — E_s[μ_s] for normal and student_t.
    pub mean: Vec<f64>,
    /// Predictive standard deviation (√total variance; from the y draws for other families).
    pub sd: Vec<f64>,
    /// Quantiles of the predictive draws at [`QUANTILES`], `quantiles[q][row]`.
    pub quantiles: Vec<Vec<f64>>,
    /// Aleatoric variance E_s[σ²_s] (normal, student_t).
    pub aleatoric: Vec<f64>,
    /// Epistemic variance Var_s[μ_s] (normal, student_t).
    pub epistemic: Vec<f64>,
    /// Total variance, aleatoric + epistemic.
    pub total: Vec<f64>,
    /// Predictive class probabilities p̄, row-major rows × classes (classifiers).
    pub probs: Vec<f64>,
    /// Σ_k Var_s[p_s,k], the spread of the class probabilities over draws (classifiers).
    pub prob_var: Vec<f64>,
    /// Predictive entropy H[p̄] in nats (total uncertainty, classifiers).
    pub entropy: Vec<f64>,
    /// Expected entropy E_s[H[p_s]] (aleatoric, classifiers).
    pub expected_entropy: Vec<f64>,
    /// Mutual information H[p̄] − E_s[H[p_s]] (epistemic, BALD; classifiers).
    pub mutual_info: Vec<f64>,
    /// Log predictive density log (1/S) Σ_s p(y | θ_s) per row, when targets are known and
    /// the family has a density here (empty otherwise).
    pub lpd: Vec<f64>,
    /// Function-space convergence at evenly spaced rows.
    pub convergence: Vec<RowConvergence>,
}

/// The row-wise likelihood term's distribution and observed field.
pub fn likelihood_term(model: &CheckedModel) -> Option<(Distribution, String)> {
    model.row_likelihood()
}

/// Type-7 (linear interpolation) quantile of sorted values, as R's default and NumPy's.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Entropy in nats of a probability vector (0 log 0 = 0).
pub fn entropy(p: &[f64]) -> f64 {
    -p.iter()
        .filter(|&&x| x > 0.0)
        .map(|&x| x * x.ln())
        .sum::<f64>()
}

/// Runs the predictive over every row of `data`, `settings.chunk` rows at a time. `targets`
/// (the observed field's values, one per row) adds the log predictive density.
pub fn predict(
    model: &CheckedModel,
    data: &BoundData,
    draws: &DrawSet,
    targets: Option<&[f64]>,
    settings: &Settings,
) -> Result<Predictions, PredictError> {
    let mut inputs = Predictive::new(model, data.clone(), targets.map(<[f64]>::to_vec)).map_err(
        |e| match e {
            PredictiveError::NoRowLikelihood => PredictError::NoRowLikelihood,
            PredictiveError::Sizes(d) => PredictError::Sizes(
                d.iter()
                    .map(|d| d.message.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        },
    )?;
    predict_at(&mut inputs, draws, settings)
}

/// Runs the predictive over every row of bound inputs, `settings.chunk` rows at a time; their
/// targets, when present, add the log predictive density.
pub fn predict_at(
    inputs: &mut Predictive,
    draws: &DrawSet,
    settings: &Settings,
) -> Result<Predictions, PredictError> {
    let (dist, _) = inputs
        .model()
        .row_likelihood()
        .ok_or(PredictError::NoRowLikelihood)?;
    let n = inputs.rows();
    let targets: Option<Vec<f64>> = inputs.targets().map(<[f64]>::to_vec);
    let targets = targets.as_deref();
    let s_count = draws.theta.len();
    let chunk = settings.chunk.max(1);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(settings.seed);
    let conv_rows: Vec<usize> = match (settings.convergence_rows, n) {
        (0, _) | (_, 0) => Vec::new(),
        (1, _) | (_, 1) => vec![0],
        (k, n) => {
            let mut v: Vec<usize> = (0..k.min(n))
                .map(|j| (j as f64 * (n - 1) as f64 / (k.min(n) - 1) as f64).round() as usize)
                .collect();
            v.dedup();
            v
        }
    };
    let mut conv_values: Vec<Vec<f64>> = Vec::with_capacity(conv_rows.len());

    let mut family = match dist {
        Distribution::Normal => Family::Normal,
        Distribution::StudentT => Family::StudentT,
        Distribution::BernoulliLogit => Family::Bernoulli,
        Distribution::CategoricalLogit => Family::Categorical(0),
        d => Family::Other(d),
    };
    let mut out = Predictions {
        family,
        rows: n,
        draws: s_count,
        mean: Vec::new(),
        sd: Vec::new(),
        quantiles: vec![Vec::new(); QUANTILES.len()],
        aleatoric: Vec::new(),
        epistemic: Vec::new(),
        total: Vec::new(),
        probs: Vec::new(),
        prob_var: Vec::new(),
        entropy: Vec::new(),
        expected_entropy: Vec::new(),
        mutual_info: Vec::new(),
        lpd: Vec::new(),
        convergence: Vec::new(),
    };

    let mut start = 0;
    while start < n {
        let b = chunk.min(n - start);
        let ChunkArgs {
            values: args,
            lens,
            classes,
        } = inputs.chunk_args(start, b, &draws.theta);
        if let Family::Categorical(_) = family {
            family = Family::Categorical(classes);
            out.family = family;
        }
        let tg = targets.map(|t| &t[start..start + b]);
        summarize_chunk(family, &args, &lens, b, s_count, tg, &mut rng, &mut out);
        // Per-draw predictive mean at the convergence rows in this chunk.
        for &r in conv_rows.iter().filter(|&&r| r >= start && r < start + b) {
            let i = r - start;
            let k = family.classes();
            let v: Vec<f64> = (0..s_count)
                .map(|s| match family {
                    Family::Bernoulli => crate::math::activation::sigmoid(args[0][s * lens[0] + i]),
                    Family::Categorical(_) => {
                        // Probability of the class the predictive favours at this row.
                        let c = argmax(&out.probs[r * k..(r + 1) * k]);
                        let z = &args[0][s * lens[0] + i * k..s * lens[0] + (i + 1) * k];
                        (z[c] - log_sum_exp(z)).exp()
                    }
                    Family::StudentT => arg_at(&args[1], lens[1], s, i),
                    // binomial_logit(n, alpha): the per-draw quantity is alpha, not n.
                    Family::Other(Distribution::BinomialLogit) => arg_at(&args[1], lens[1], s, i),
                    Family::Normal | Family::Other(_) => arg_at(&args[0], lens[0], s, i),
                })
                .collect();
            conv_values.push(v);
        }
        start += b;
    }
    // R-hat and ESS need chains of one length; the chains of a stopped run differ, so each
    // gives its first draws up to the shortest one's length, as `summary` does.
    let shortest = draws.chain_lens.iter().copied().min().unwrap_or(0);
    for (row, v) in conv_rows.iter().zip(&conv_values) {
        let mut chains = Vec::new();
        let mut off = 0;
        for &len in &draws.chain_lens {
            chains.push(v[off..off + shortest].to_vec());
            off += len;
        }
        let usable = chains.iter().all(|c| c.len() >= 4);
        out.convergence.push(RowConvergence {
            row: *row,
            rhat: if usable {
                crate::summary::rhat(&chains)
            } else {
                f64::NAN
            },
            ess_bulk: if usable {
                crate::summary::ess_bulk(&chains)
            } else {
                f64::NAN
            },
        });
    }
    Ok(out)
}

/// Index of the largest value.
pub fn argmax(p: &[f64]) -> usize {
    let mut best = 0;
    for (k, &x) in p.iter().enumerate() {
        if x > p[best] {
            best = k;
        }
    }
    best
}

/// Argument value of draw `s` at row `i` (a scalar argument broadcasts over rows).
fn arg_at(arg: &[f64], len: usize, s: usize, i: usize) -> f64 {
    if len == 1 {
        arg[s]
    } else {
        arg[s * len + i]
    }
}

/// Summaries of one chunk of `b` rows, appended to `out`.
#[allow(clippy::too_many_arguments)]
fn summarize_chunk(
    family: Family,
    args: &[Vec<f64>],
    lens: &[usize],
    b: usize,
    s_count: usize,
    targets: Option<&[f64]>,
    rng: &mut dyn rand::Rng,
    out: &mut Predictions,
) {
    let inv_s = 1.0 / s_count as f64;
    let mut y = vec![0.0; s_count];
    let mut logp = vec![0.0; s_count];
    let push_quantiles = |y: &mut Vec<f64>, out: &mut Predictions| {
        y.sort_by(f64::total_cmp);
        for (q, level) in QUANTILES.iter().enumerate() {
            out.quantiles[q].push(quantile_sorted(y, *level));
        }
    };
    for i in 0..b {
        let target = targets.map(|t| t[i]);
        match family {
            Family::Normal | Family::StudentT => {
                let (mut m1, mut m2, mut alea) = (0.0, 0.0, 0.0);
                for s in 0..s_count {
                    let (nu, mu, sigma) = if family == Family::Normal {
                        (
                            f64::INFINITY,
                            arg_at(&args[0], lens[0], s, i),
                            arg_at(&args[1], lens[1], s, i),
                        )
                    } else {
                        (
                            arg_at(&args[0], lens[0], s, i),
                            arg_at(&args[1], lens[1], s, i),
                            arg_at(&args[2], lens[2], s, i),
                        )
                    };
                    m1 += mu;
                    m2 += mu * mu;
                    // Var of student_t(ν, μ, σ) is σ²ν/(ν−2) for ν > 2, infinite otherwise.
                    alea += if family == Family::Normal {
                        sigma * sigma
                    } else if nu > 2.0 {
                        sigma * sigma * nu / (nu - 2.0)
                    } else {
                        f64::INFINITY
                    };
                    y[s] = if family == Family::Normal {
                        Distribution::Normal.sample(&[mu, sigma], rng)
                    } else {
                        Distribution::StudentT.sample(&[nu, mu, sigma], rng)
                    };
                    if let Some(t) = target {
                        logp[s] = if family == Family::Normal {
                            crate::math::dist::normal_lpdf(t, mu, sigma)
                        } else {
                            crate::math::dist::student_t_lpdf(t, nu, mu, sigma)
                        };
                    }
                }
                let mean = m1 * inv_s;
                // Var_s[μ_s] with the 1/S convention, so the total is exactly the predictive
                // variance of the equally weighted mixture of the S draws.
                let epi = (m2 * inv_s - mean * mean).max(0.0);
                let alea = alea * inv_s;
                out.mean.push(mean);
                out.aleatoric.push(alea);
                out.epistemic.push(epi);
                out.total.push(alea + epi);
                out.sd.push((alea + epi).sqrt());
                push_quantiles(&mut y, out);
            }
            Family::Bernoulli | Family::Categorical(_) => {
                let k = family.classes();
                let mut pbar = vec![0.0; k];
                let mut p2 = vec![0.0; k];
                let mut h_exp = 0.0;
                let mut p = vec![0.0; k];
                for s in 0..s_count {
                    if family == Family::Bernoulli {
                        let a = arg_at(&args[0], lens[0], s, i);
                        p[1] = crate::math::activation::sigmoid(a);
                        p[0] = 1.0 - p[1];
                    } else {
                        let z = &args[0][s * lens[0] + i * k..s * lens[0] + (i + 1) * k];
                        let lse = log_sum_exp(z);
                        for (pk, zk) in p.iter_mut().zip(z) {
                            *pk = (zk - lse).exp();
                        }
                    }
                    for c in 0..k {
                        pbar[c] += p[c];
                        p2[c] += p[c] * p[c];
                    }
                    h_exp += entropy(&p);
                    if let Some(t) = target {
                        logp[s] = p.get(t as usize).copied().unwrap_or(0.0).ln();
                    }
                }
                for c in 0..k {
                    pbar[c] *= inv_s;
                    p2[c] = (p2[c] * inv_s - pbar[c] * pbar[c]).max(0.0);
                }
                let h = entropy(&pbar);
                let h_exp = h_exp * inv_s;
                out.probs.extend_from_slice(&pbar);
                out.prob_var.push(p2.iter().sum());
                out.entropy.push(h);
                out.expected_entropy.push(h_exp);
                out.mutual_info.push((h - h_exp).max(0.0));
            }
            Family::Other(d) => {
                let mut buf = [0.0; 3];
                for (s, ys) in y.iter_mut().enumerate() {
                    for (a, arg) in args.iter().enumerate() {
                        buf[a] = arg_at(arg, lens[a], s, i);
                    }
                    *ys = d.sample(&buf[..args.len()], rng);
                }
                let mean = y.iter().sum::<f64>() * inv_s;
                let var = y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() * inv_s;
                out.mean.push(mean);
                out.sd.push(var.sqrt());
                push_quantiles(&mut y, out);
            }
        }
        if target.is_some() && !matches!(family, Family::Other(_)) {
            // log (1/S) Σ_s p(y | θ_s), computed stably.
            out.lpd.push(log_sum_exp(&logp) - (s_count as f64).ln());
        }
    }
}

/// Inputs bound for prediction, with the observed field's values when the file has them.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// Every field the file supplies (the observed field only when present).
    pub data: BoundData,
    /// The observed field's values, one per row, when the file has it.
    pub targets: Option<Vec<f64>>,
    /// Warnings (fields the model does not declare).
    pub warnings: Vec<crate::data::DataWarning>,
}

/// Binds a data file for prediction. The likelihood's observed field is optional: when the
/// only problem is that it is missing, the file is bound again without it and `targets` is
/// `None`; any other problem is returned as from [`crate::data::bind_file`].
pub fn bind_inputs(
    model: &CheckedModel,
    path: &Path,
) -> Result<Inputs, Vec<crate::data::DataError>> {
    bind_inputs_file(model, &crate::data::DataFile::read(path)?)
}

/// Binds inputs given as text in `format` for prediction; see [`bind_inputs`].
pub fn bind_inputs_str(
    model: &CheckedModel,
    text: &str,
    format: crate::data::DataFormat,
) -> Result<Inputs, Vec<crate::data::DataError>> {
    bind_inputs_file(model, &crate::data::DataFile::from_text(text, format))
}

/// [`bind_inputs`] on a data file already read.
pub fn bind_inputs_file(
    model: &CheckedModel,
    file: &crate::data::DataFile,
) -> Result<Inputs, Vec<crate::data::DataError>> {
    let observed = likelihood_term(model).map(|(_, o)| o);
    let take_targets = |data: &BoundData| {
        observed
            .as_ref()
            .and_then(|o| data.get(o))
            .map(|v| v.values.clone())
    };
    match file.bind(&model.data) {
        Ok(b) => Ok(Inputs {
            targets: take_targets(&b.data),
            data: b.data,
            warnings: b.warnings,
        }),
        Err(errors) => {
            let only_observed_missing = observed.as_ref().is_some_and(|o| {
                errors.iter().all(
                    |e| matches!(e, crate::data::DataError::Missing { field, .. } if field == o),
                )
            });
            if !only_observed_missing {
                return Err(errors);
            }
            let decls: Vec<_> = model
                .data
                .iter()
                .filter(|d| Some(&d.name) != observed.as_ref())
                .cloned()
                .collect();
            let b = file.bind(&decls)?;
            Ok(Inputs {
                data: b.data,
                targets: None,
                warnings: b.warnings,
            })
        }
    }
}
