//! `bnnppl fit --method NAME`: the optimization-based methods — MAP, deep ensembles, MC dropout
//! and SVI — through the shared runner, writing the directory `sample` writes plus each method's trace
//! and a `fit.json` of how each fit ended.

use super::check::{bind_posterior, load};
use super::run::{run, write_file, Ran, RunSpec, SaveKind};
use super::svi::{run_svi, InitKind, Target, MAP_STEPS};
use super::{Failure, ModelArgs, Output, EXIT_INTERRUPTED};
use crate::engine::svi::{Decay, GuideKind, Init};
use crate::engine::{Engine, Ensemble, Map, MapResult, McDropout, Optimizer, Svi};
use clap::ValueEnum;
use std::path::PathBuf;

/// The optimization-based methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Method {
    /// The posterior mode (Adam on minibatches, or L-BFGS); one draw.
    Map,
    /// A deep ensemble: --members MAP fits from independent starts and data orders, one draw
    /// each.
    Ensemble,
    /// A Gaussian guide by stochastic variational inference, as `bnnppl svi`.
    Svi,
    /// MC dropout: the weights fitted with a fresh mask of the model's dropout layers each
    /// step, then --draws draws, each the weights with one mask folded in.
    McDropout,
}

/// Options of `fit`.
#[derive(Debug, clap::Args)]
pub struct FitArgs {
    /// Model and data.
    #[command(flatten)]
    pub model: ModelArgs,
    /// The method.
    #[arg(long, value_enum)]
    pub method: Method,
    /// Optimizer of map and ensemble members: adam, lbfgs or lbfgs:M (M pairs; full data only).
    #[arg(long, default_value = "adam", help_heading = "Optimizer")]
    pub optimizer: Optimizer,
    /// Maximum optimizer steps (Adam: one minibatch each; L-BFGS: iterations).
    #[arg(long, default_value_t = 5000, help_heading = "Optimizer")]
    pub steps: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 0.01, help_heading = "Optimizer")]
    pub lr: f64,
    /// Rows per minibatch, the likelihood scaled by N/B (default: all rows every step).
    #[arg(long, help_heading = "Optimizer")]
    pub batch_size: Option<usize>,
    /// Learning-rate decay: none, exp:RATE (lr·RATE at the last step) or cosine.
    #[arg(long, help_heading = "Optimizer")]
    pub decay: Option<Decay>,
    /// Clip the gradient to this Euclidean norm.
    #[arg(long, help_heading = "Optimizer")]
    pub clip: Option<f64>,
    /// map, ensemble: stop when the full-data gradient norm of log p falls below this (0: run
    /// every step).
    #[arg(long, default_value_t = 1e-3, help_heading = "Optimizer")]
    pub grad_tol: f64,
    /// ensemble: number of members M.
    #[arg(long, default_value_t = 5, help_heading = "Ensembles")]
    pub members: usize,
    /// ensemble: fit only member K (1..M); its draw equals member K of a full run with the same
    /// seed, so members can run as separate processes and `summary` merges their directories.
    #[arg(long, help_heading = "Ensembles")]
    pub member: Option<usize>,
    /// Worker threads (default: one per member, at most the number of cores).
    #[arg(long, help_heading = "Ensembles")]
    pub threads: Option<usize>,
    /// svi: guide family: mean-field, low-rank:K or full-rank.
    #[arg(long, default_value = "mean-field", help_heading = "SVI")]
    pub guide: GuideKind,
    /// svi: Monte Carlo draws of θ per step.
    #[arg(long, default_value_t = 1, help_heading = "SVI")]
    pub particles: usize,
    /// svi: stop when the smoothed ELBO changes by less than this fraction over 100 steps.
    #[arg(long, default_value_t = 0.0, help_heading = "SVI")]
    pub tol: f64,
    /// svi: initial scale of the guide (every diagonal scale).
    #[arg(long, default_value_t = 0.1, help_heading = "SVI")]
    pub init_scale: f64,
    /// svi: where the guide's loc starts.
    #[arg(long, value_enum, default_value_t = InitKind::Random, help_heading = "SVI")]
    pub init: InitKind,
    /// svi: draws from the fitted guide; mc-dropout: draws of a dropout mask, each folded into
    /// the fitted weights.
    #[arg(long, default_value_t = 1000)]
    pub draws: usize,
    /// Seed of the fits and the draws; member k uses its own stream of it.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output directory (default: output/<model stem>/).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// What to store per draw.
    #[arg(long, value_enum, default_value_t = SaveKind::All)]
    pub save: SaveKind,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl FitArgs {
    /// The MAP settings every optimization method starts from.
    fn map(&self) -> Map {
        Map {
            optimizer: self.optimizer,
            steps: self.steps,
            lr: self.lr,
            batch_size: self.batch_size,
            decay: self.decay.unwrap_or_default(),
            clip: self.clip,
            grad_tol: self.grad_tol,
            seed: self.seed,
            ..Map::default()
        }
    }

    /// The members to fit: all of them, or `--member K` alone (checked against 1..M before
    /// anything is written).
    fn chain_ids(&self, members: usize) -> Result<Option<Vec<usize>>, Failure> {
        match self.member {
            None => Ok(None),
            Some(k) if (1..=members).contains(&k) => Ok(Some(vec![k - 1])),
            Some(k) => Err(Failure::usage(format!(
                "error: --member {k} is not a member: the ensemble has members 1 to {members}"
            ))),
        }
    }
}

/// Runs `fit`.
pub fn fit(args: &FitArgs) -> Result<Output, Failure> {
    let members = match args.method {
        Method::Ensemble => args.members,
        Method::Map | Method::Svi | Method::McDropout => 1,
    };
    if members == 0 {
        return Err(Failure::usage("error: --members must be at least 1"));
    }
    if args.member.is_some() && args.method != Method::Ensemble {
        return Err(Failure::usage(
            "error: --member picks one member of an ensemble; use it with --method ensemble",
        ));
    }
    let chain_ids = args.chain_ids(members)?;
    match args.method {
        Method::Svi => {
            let settings = Svi {
                guide: args.guide,
                steps: args.steps,
                lr: args.lr,
                particles: args.particles,
                batch_size: args.batch_size,
                tol: args.tol,
                seed: args.seed,
                decay: args.decay.unwrap_or_default(),
                clip: args.clip,
                init: match args.init {
                    InitKind::Random => Init::default(),
                    InitKind::Map => Init::Map { steps: MAP_STEPS },
                },
                init_scale: args.init_scale,
                draws: args.draws,
                ..Svi::default()
            };
            let target = Target {
                model: &args.model,
                output: &args.output,
                save: args.save,
                quiet: args.quiet,
            };
            run_svi(&settings, &target)
        }
        Method::Map => run_modes(args, &args.map(), chain_ids),
        Method::Ensemble => run_modes(
            args,
            &Ensemble {
                members,
                map: args.map(),
            },
            chain_ids,
        ),
        Method::McDropout => run_modes(
            args,
            &McDropout {
                map: args.map(),
                draws: args.draws,
                members,
            },
            chain_ids,
        ),
    }
}

/// Runs an engine whose chains each end in a mode (MAP, ensembles) and reports them.
fn run_modes<E: Engine<Fit = MapResult>>(
    args: &FitArgs,
    engine: &E,
    chain_ids: Option<Vec<usize>>,
) -> Result<Output, Failure> {
    let model = load(&args.model)?;
    let (post, warnings) = bind_posterior(&model, &args.model)?;
    eprint!("{}", warnings);
    if args.method == Method::McDropout && post.dropout_sites().is_empty() {
        return Err(Failure::usage(format!(
            "error: {} has no dropout layer, so --method mc-dropout has no units to drop\n  \
             = help: write e.g. dropout(0.1) before a dense layer of a network",
            args.model.model.display()
        )));
    }
    let alone = chain_ids.is_some();
    let spec = RunSpec {
        posterior: &post,
        model: &args.model,
        output: &args.output,
        save: args.save.into(),
        seed: args.seed,
        chain_ids,
        threads: args.threads,
        quiet: args.quiet,
    };
    let ran = run(engine, spec)?;
    let text = report_modes(args, &ran, alone, &ran.dir)?;
    if ran.interrupted {
        return Err(Failure {
            message: text,
            code: EXIT_INTERRUPTED,
        });
    }
    Ok(Output {
        stdout: text,
        stderr: String::new(),
    })
}

/// The text after a MAP or ensemble run, and `fit.json` and the summary files.
fn report_modes(
    args: &FitArgs,
    ran: &Ran<MapResult>,
    alone: bool,
    dir: &std::path::Path,
) -> Result<String, Failure> {
    let converged = ran.fits.iter().filter(|f| f.converged).count();
    let gradients: u64 = ran.fits.iter().map(|f| f.gradients).sum();
    let files: Vec<String> = ran.files.iter().map(|f| f.display().to_string()).collect();
    let ended = if ran.interrupted {
        "Interrupted"
    } else {
        "Finished"
    };
    let mut text = match args.method {
        Method::McDropout => format!(
            "{ended} {} fit(s) in {:.1} s ({gradients} gradient evaluations); {} draws per \
             fit, each the fitted weights with one dropout mask; draws in {}\n",
            ran.fits.len(),
            ran.seconds,
            args.draws,
            files.join(", ")
        ),
        Method::Map | Method::Ensemble | Method::Svi => format!(
            "{ended} {} fit(s) in {:.1} s ({} gradient evaluations); {} of {} reached a \
             gradient norm below {}; draws in {}\n",
            ran.fits.len(),
            ran.seconds,
            gradients,
            converged,
            ran.fits.len(),
            args.grad_tol,
            files.join(", ")
        ),
    };
    let members: Vec<serde_json::Value> = ran
        .fits
        .iter()
        .zip(&ran.draws.chains)
        .map(|(f, c)| {
            serde_json::json!({
                "member": c.chain + 1,
                "steps": f.steps,
                "converged": f.converged,
                "log_density": f.log_density,
                "grad_norm": f.grad_norm,
                "gradients": f.gradients,
                "skipped_steps": f.skipped_steps,
            })
        })
        .collect();
    let json = serde_json::json!({
        "method": match args.method {
            Method::Map => "map",
            Method::Ensemble => "ensemble",
            Method::Svi => "svi",
            Method::McDropout => "mc-dropout",
        },
        "grad_tol": args.grad_tol,
        "fits": members,
    });
    let name = match (alone, ran.draws.chains.first()) {
        (true, Some(c)) => format!("fit_{}.json", c.chain + 1),
        _ => "fit.json".to_string(),
    };
    let body = serde_json::to_string_pretty(&json).expect("internal: JSON of numbers") + "\n";
    write_file(dir, &name, &body)?;
    if !alone && ran.draws.chains.iter().all(|c| !c.stats.is_empty()) {
        let (table, csv) = ran.summary();
        text.push('\n');
        text.push_str(&table);
        write_file(dir, "summary.csv", &csv)?;
        write_file(dir, "summary.txt", &table)?;
    }
    Ok(text)
}
