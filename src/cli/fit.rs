//! `bnnppl fit --method NAME`: the optimization-based methods — MAP, deep and anchored
//! ensembles, MC dropout, SVI, SWAG, MultiSWAG, SVGD, Laplace and Pathfinder — through the
//! shared runner, writing the directory `sample` writes plus each method's trace and a
//! `fit.json` (`swag.json`, `laplace.json`, `pathfinder.json`) of how each fit ended.

use super::check::{bind_posterior, load};
use super::run::{output_path, run, write_file, OutputArgs, Ran, RunSpec, SaveKind};
use super::svi::{run_svi, InitKind, Target};
use super::{Failure, ModelArgs, Output, EXIT_INTERRUPTED};
use crate::density::Curvature;
use crate::engine::laplace::{parse_hessian, Structure};
use crate::engine::svi::{Decay, Estimator, GuideKind};
use crate::engine::swag::parse_schedule;
use crate::engine::{
    Engine, Ensemble, Laplace, LaplaceResult, Map, MapResult, McDropout, MultiSwag, Optimizer,
    Pathfinder, PathfinderResult, Svgd, SvgdResult, Svi, Swag, SwagResult,
};
use clap::ValueEnum;

/// The optimization-based methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Method {
    /// The posterior mode (Adam on minibatches, or L-BFGS); one draw.
    Map,
    /// A deep ensemble: --members MAP fits from independent starts and data orders, one draw
    /// each.
    Ensemble,
    /// An anchored ensemble: each member fits its own randomized objective (normal priors
    /// re-centred at a draw from themselves, normal observations with fresh noise).
    AnchoredEnsemble,
    /// A Gaussian guide by stochastic variational inference, as `bnnppl svi`.
    Svi,
    /// SWAG: SGD after the MAP fit (give --batch-size: the spread comes from minibatch noise),
    /// --draws from the Gaussian of its iterates (diagonal plus rank --swag-rank).
    Swag,
    /// MultiSWAG: SWAG on each of --members ensemble members, --draws each.
    Multiswag,
    /// MC dropout: the weights fitted with a fresh mask of the model's dropout layers each
    /// step, then --draws draws, each the weights with one mask folded in.
    McDropout,
    /// Stein variational gradient descent: --svgd-particles particles moved by Adam along the
    /// kernelized Stein direction on minibatches; the particles are the draws.
    Svgd,
    /// Laplace: the MAP fit, then --draws draws from the Gaussian whose precision is the
    /// curvature of −log p there (--hessian), and the log marginal likelihood it implies.
    Laplace,
    /// Pathfinder: L-BFGS paths from --paths random starts, the local Gaussian with the best
    /// ELBO on each, their draws pooled and resampled by Pareto-smoothed importance weights.
    Pathfinder,
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
    /// Optimizer of the MAP fit: adam, lbfgs or lbfgs:M (M pairs; full data only). Default:
    /// lbfgs for laplace without --batch-size (its curvature needs the mode), adam otherwise.
    #[arg(long, help_heading = "Optimizer")]
    pub optimizer: Option<Optimizer>,
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
    /// ensemble, multiswag: number of members M.
    #[arg(long, default_value_t = 5, help_heading = "Ensembles")]
    pub members: usize,
    /// ensemble, multiswag: fit only member K (1..M); its draws equal member K's in a full run
    /// with the same seed, so members can run as separate processes and `summary` merges their
    /// directories.
    #[arg(long, help_heading = "Ensembles")]
    pub member: Option<usize>,
    /// Worker threads (default: one per member, at most the number of cores).
    #[arg(long, help_heading = "Ensembles")]
    pub threads: Option<usize>,
    /// Threads each chain splits its gradient over: a large data set's blocks of rows, or a
    /// large layer's matrix work (the draws are the same for any number). Default: with 10,000
    /// rows or more, the cores left over when every chain running at once has one; otherwise 1.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub threads_per_chain: Option<u64>,
    /// svi: guide family: mean-field, low-rank:K or full-rank.
    #[arg(long, default_value = "mean-field", help_heading = "SVI")]
    pub guide: GuideKind,
    /// svi: Monte Carlo draws of θ per step.
    #[arg(long, default_value_t = 1, help_heading = "SVI")]
    pub particles: usize,
    /// svi: stop when the smoothed ELBO changes by less than this fraction over 100 steps
    /// (default 0: never); pathfinder: L-BFGS stops when log p changes by less than this
    /// fraction in five iterations in a row (default 1e-12).
    #[arg(long, help_heading = "SVI")]
    pub tol: Option<f64>,
    /// svi: initial scale of the guide (every diagonal scale).
    #[arg(long, default_value_t = 0.1, help_heading = "SVI")]
    pub init_scale: f64,
    /// svi: where the guide's loc starts.
    #[arg(long, value_enum, default_value_t = InitKind::Auto, help_heading = "SVI")]
    pub init: InitKind,
    /// svi: weight β of the KL term (1: the ELBO; otherwise a tempered objective whose guide no
    /// longer approximates the posterior).
    #[arg(long, default_value_t = 1.0, help_heading = "SVI")]
    pub kl_weight: f64,
    /// svi: the sticking-the-landing gradient estimator.
    #[arg(long, help_heading = "SVI")]
    pub stl: bool,
    /// swag, multiswag: SGD steps after the MAP fit, one minibatch each.
    #[arg(long, default_value_t = 1000, help_heading = "SWAG")]
    pub swag_steps: usize,
    /// swag, multiswag: SGD's learning rate, on the scale of the mean log-density per row: each
    /// step moves θ by RATE/N times the minibatch gradient of log p (before momentum).
    #[arg(long, default_value_t = 0.002, help_heading = "SWAG")]
    pub swag_lr: f64,
    /// swag, multiswag: SGD's rate over its steps: constant, or cyclical:M (a cosine restarted
    /// M times, collecting at the end of each cycle).
    #[arg(long, default_value = "constant", value_parser = parse_schedule, help_heading = "SWAG")]
    pub swag_schedule: crate::engine::Decay,
    /// swag, multiswag: with a constant rate, SGD steps between collected iterates (default:
    /// once per epoch).
    #[arg(long, help_heading = "SWAG")]
    pub swag_collect_every: Option<usize>,
    /// swag, multiswag: SGD's momentum, in [0, 1).
    #[arg(long, default_value_t = 0.9, help_heading = "SWAG")]
    pub swag_momentum: f64,
    /// swag, multiswag: deviations K kept for the low-rank part of the covariance (≥ 2).
    #[arg(long, default_value_t = 20, help_heading = "SWAG")]
    pub swag_rank: usize,
    /// svgd: number of particles, which are the run's draws (one chain).
    #[arg(long, default_value_t = 50, help_heading = "SVGD")]
    pub svgd_particles: usize,
    /// laplace: the precision: full, diag or last-layer (the final dense layer alone, the rest
    /// at the mode), each the Hessian or, with :ggn, the generalized Gauss-Newton matrix.
    #[arg(long, default_value = "full", value_parser = parse_hessian, help_heading = "Laplace")]
    pub hessian: (Structure, Curvature),
    /// pathfinder: number of L-BFGS paths, each from its own random start.
    #[arg(long, default_value_t = 4, help_heading = "Pathfinder")]
    pub paths: usize,
    /// pathfinder: (s, y) pairs kept by L-BFGS and by each local Gaussian's covariance.
    #[arg(long, default_value_t = 5, help_heading = "Pathfinder")]
    pub history: usize,
    /// pathfinder: Monte Carlo draws estimating the ELBO at each iterate.
    #[arg(long, default_value_t = 25, help_heading = "Pathfinder")]
    pub elbo_draws: usize,
    /// pathfinder: L-BFGS iterations per path at most.
    #[arg(long, default_value_t = 1000, help_heading = "Pathfinder")]
    pub max_iters: usize,
    /// svi, swag, multiswag, laplace: draws from the fitted approximation (per member for
    /// multiswag); mc-dropout: draws of a dropout mask, each folded into the fitted weights;
    /// pathfinder: draws per path, and after resampling.
    #[arg(long, default_value_t = 1000)]
    pub draws: usize,
    /// Seed of the fits and the draws; member k uses its own stream of it.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where the run writes.
    #[command(flatten)]
    pub out: OutputArgs,
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
            optimizer: self.optimizer.unwrap_or(Optimizer::Adam),
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

    /// The SWAG settings of `swag` and of each `multiswag` member.
    fn swag(&self) -> Swag {
        Swag {
            map: self.map(),
            steps: self.swag_steps,
            lr: self.swag_lr,
            momentum: self.swag_momentum,
            schedule: self.swag_schedule,
            collect_every: self.swag_collect_every.unwrap_or(0),
            rank: self.swag_rank,
            draws: self.draws,
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
        Method::Ensemble | Method::AnchoredEnsemble | Method::Multiswag => args.members,
        Method::Map
        | Method::Svi
        | Method::Swag
        | Method::McDropout
        | Method::Svgd
        | Method::Laplace
        | Method::Pathfinder => 1,
    };
    if members == 0 {
        return Err(Failure::usage("error: --members must be at least 1"));
    }
    let ensemble = matches!(
        args.method,
        Method::Ensemble | Method::AnchoredEnsemble | Method::Multiswag
    );
    if args.member.is_some() && !ensemble {
        return Err(Failure::usage(
            "error: --member picks one member of an ensemble; use it with --method ensemble, \
             anchored-ensemble or multiswag",
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
                tol: args.tol.unwrap_or(0.0),
                seed: args.seed,
                decay: args.decay.unwrap_or_default(),
                clip: args.clip,
                init: args.init.start().0,
                start: args.init.start().1,
                estimator: Estimator {
                    kl_weight: args.kl_weight,
                    stl: args.stl,
                },
                init_scale: args.init_scale,
                draws: args.draws,
                ..Svi::default()
            };
            let target = Target {
                model: &args.model,
                out: &args.out,
                save: args.save,
                quiet: args.quiet,
            };
            run_svi(&settings, &target)
        }
        Method::Map => run_fits(args, &args.map(), chain_ids, report_modes),
        Method::Ensemble | Method::AnchoredEnsemble => run_fits(
            args,
            &Ensemble {
                members,
                map: args.map(),
                anchored: args.method == Method::AnchoredEnsemble,
            },
            chain_ids,
            report_modes,
        ),
        Method::Swag => run_fits(args, &args.swag(), chain_ids, report_swag),
        Method::Multiswag => run_fits(
            args,
            &MultiSwag {
                members,
                swag: args.swag(),
            },
            chain_ids,
            report_swag,
        ),
        Method::McDropout => run_fits(
            args,
            &McDropout {
                map: args.map(),
                draws: args.draws,
                members,
            },
            chain_ids,
            report_modes,
        ),
        Method::Svgd => run_fits(
            args,
            &Svgd {
                particles: args.svgd_particles,
                steps: args.steps,
                lr: args.lr,
                decay: args.decay.unwrap_or_default(),
                clip: args.clip,
                batch_size: args.batch_size,
                seed: args.seed,
                ..Svgd::default()
            },
            chain_ids,
            report_svgd,
        ),
        Method::Laplace => {
            let (structure, curvature) = args.hessian;
            let laplace = Laplace {
                map: Map {
                    optimizer: args
                        .optimizer
                        .unwrap_or(Laplace::default_optimizer(args.batch_size)),
                    ..args.map()
                },
                structure,
                curvature,
                draws: args.draws,
            };
            run_fits(args, &laplace, chain_ids, report_laplace)
        }
        Method::Pathfinder => {
            let pathfinder = Pathfinder {
                paths: args.paths,
                draws: args.draws,
                history: args.history,
                elbo_draws: args.elbo_draws,
                max_iters: args.max_iters,
                tol: args.tol.unwrap_or(Pathfinder::default().tol),
                seed: args.seed,
                ..Pathfinder::default()
            };
            run_fits(args, &pathfinder, chain_ids, report_pathfinder)
        }
    }
}

/// How a method's run is reported: the text, and its JSON and summary files in the directory.
type Report<X> = fn(&FitArgs, &Ran<X>, bool, &std::path::Path) -> Result<String, Failure>;

/// Runs a fitting engine on the model and reports its fits with `report`.
fn run_fits<E: Engine>(
    args: &FitArgs,
    engine: &E,
    chain_ids: Option<Vec<usize>>,
    report: Report<E::Fit>,
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
    if args.method == Method::Laplace
        && args.hessian.0 == Structure::LastLayer
        && crate::density::Density::last_layer(&post.evaluator()).is_empty()
    {
        return Err(Failure::usage(format!(
            "error: {} has no dense layer, so --hessian last-layer has no layer to cover\n  \
             = help: use --hessian full or diag",
            args.model.model.display()
        )));
    }
    let alone = chain_ids.is_some();
    let written = Written::before(args);
    let spec = RunSpec {
        posterior: &post,
        model: &args.model,
        out: &args.out,
        save: args.save.into(),
        seed: args.seed,
        chain_ids,
        threads: args.threads,
        threads_per_chain: args.threads_per_chain.map(|t| t as usize),
        quiet: args.quiet,
    };
    let ran = run(engine, spec).inspect_err(|_| written.remove_new())?;
    let text = report(args, &ran, alone, &ran.dir)?;
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
    let (ended, files) = ended(ran);
    let mut text = match args.method {
        Method::McDropout => format!(
            "{ended} {} fit(s) in {:.1} s ({gradients} gradient evaluations); {} draws per \
             fit, each the fitted weights with one dropout mask; draws in {files}\n",
            ran.fits.len(),
            ran.seconds,
            args.draws,
        ),
        Method::Map
        | Method::Ensemble
        | Method::AnchoredEnsemble
        | Method::Svi
        | Method::Swag
        | Method::Multiswag
        | Method::Svgd
        | Method::Laplace
        | Method::Pathfinder => format!(
            "{ended} {} fit(s) in {:.1} s ({} gradient evaluations); {} of {} reached a \
             gradient norm below {}; draws in {files}\n",
            ran.fits.len(),
            ran.seconds,
            gradients,
            converged,
            ran.fits.len(),
            args.grad_tol,
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
        "method": method_name(args.method),
        "grad_tol": args.grad_tol,
        "fits": members,
    });
    write_json(ran, alone, dir, "fit", &json)?;
    write_summary(ran, alone, dir, &mut text)?;
    Ok(text)
}

/// How the run ended (`Finished`, `Interrupted`) and its chain files, for the first line.
fn ended<X>(ran: &Ran<X>) -> (&'static str, String) {
    let files: Vec<String> = ran.files.iter().map(|f| f.display().to_string()).collect();
    let ended = if ran.interrupted {
        "Interrupted"
    } else {
        "Finished"
    };
    (ended, files.join(", "))
}

/// The method as `--method` spells it.
fn method_name(method: Method) -> &'static str {
    match method {
        Method::Map => "map",
        Method::Ensemble => "ensemble",
        Method::AnchoredEnsemble => "anchored-ensemble",
        Method::Svi => "svi",
        Method::Swag => "swag",
        Method::Multiswag => "multiswag",
        Method::McDropout => "mc-dropout",
        Method::Svgd => "svgd",
        Method::Laplace => "laplace",
        Method::Pathfinder => "pathfinder",
    }
}

/// Writes `json` as `STEM.json`, or `STEM_K.json` for member K run alone.
fn write_json<X>(
    ran: &Ran<X>,
    alone: bool,
    dir: &std::path::Path,
    stem: &str,
    json: &serde_json::Value,
) -> Result<(), Failure> {
    let name = match (alone, ran.draws.chains.first()) {
        (true, Some(c)) => format!("{stem}_{}.json", c.chain + 1),
        _ => format!("{stem}.json"),
    };
    let body = serde_json::to_string_pretty(json).expect("internal: JSON of numbers") + "\n";
    write_file(dir, &name, &body)
}

/// Appends the summary table to `text` and writes `summary.csv` and `summary.txt`, for a full
/// run whose every chain has draws (a member run alone leaves the summary to the merge).
fn write_summary<X>(
    ran: &Ran<X>,
    alone: bool,
    dir: &std::path::Path,
    text: &mut String,
) -> Result<(), Failure> {
    if !alone && ran.draws.chains.iter().all(|c| !c.stats.is_empty()) {
        let (table, csv) = ran.summary();
        text.push('\n');
        text.push_str(&table);
        write_file(dir, "summary.csv", &csv)?;
        write_file(dir, "summary.txt", &table)?;
    }
    Ok(())
}

/// The text after a SWAG or MultiSWAG run, and `swag.json` (each member's θ_SWA summary) and
/// the summary files.
fn report_swag(
    args: &FitArgs,
    ran: &Ran<SwagResult>,
    alone: bool,
    dir: &std::path::Path,
) -> Result<String, Failure> {
    let gradients: u64 = ran.fits.iter().map(|f| f.gradients).sum();
    let snapshots: usize = ran.fits.iter().map(|f| f.snapshots).sum();
    let (ended, files) = ended(ran);
    let mut text = format!(
        "{ended} {} SWAG fit(s) in {:.1} s ({gradients} gradient evaluations); {snapshots} \
         iterates collected; draws in {files}\n",
        ran.fits.len(),
        ran.seconds,
    );
    let members: Vec<serde_json::Value> = ran
        .fits
        .iter()
        .zip(&ran.draws.chains)
        .map(|(f, c)| {
            let g = &f.gaussian;
            let d = g.mean.len().max(1) as f64;
            serde_json::json!({
                "member": c.chain + 1,
                "snapshots": f.snapshots,
                "rank": g.deviations.len(),
                "swa_log_density": f.swa_log_density,
                "swa_distance_from_map": g.mean.iter().zip(&f.map.theta)
                    .map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt(),
                "mean_sd": g.variance.iter().map(|v| v.sqrt()).sum::<f64>() / d,
                "sgd_steps": f.steps,
                "skipped_steps": f.skipped_steps,
                "gradients": f.gradients,
                "map_log_density": f.map.log_density,
                "map_grad_norm": f.map.grad_norm,
                "map_steps": f.map.steps,
                "map_converged": f.map.converged,
            })
        })
        .collect();
    let json = serde_json::json!({
        "method": method_name(args.method),
        "swag_rank": args.swag_rank,
        "fits": members,
    });
    write_json(ran, alone, dir, "swag", &json)?;
    write_summary(ran, alone, dir, &mut text)?;
    Ok(text)
}

/// The text after an SVGD run, and `fit.json` (how the fit went) and the summary files.
fn report_svgd(
    args: &FitArgs,
    ran: &Ran<SvgdResult>,
    alone: bool,
    dir: &std::path::Path,
) -> Result<String, Failure> {
    let (ended, files) = ended(ran);
    let fits: Vec<serde_json::Value> = ran
        .fits
        .iter()
        .map(|f| {
            serde_json::json!({
                "particles": args.svgd_particles,
                "steps": f.steps,
                "skipped_steps": f.skipped_steps,
                "gradients": f.gradients,
                "bandwidth": f.bandwidth,
            })
        })
        .collect();
    let gradients: u64 = ran.fits.iter().map(|f| f.gradients).sum();
    let mut text = format!(
        "{ended} SVGD with {} particles in {:.1} s ({gradients} gradient evaluations); the \
         particles are the draws in {files}\n",
        args.svgd_particles, ran.seconds,
    );
    let json = serde_json::json!({ "method": "svgd", "fits": fits });
    write_json(ran, alone, dir, "fit", &json)?;
    write_summary(ran, alone, dir, &mut text)?;
    Ok(text)
}

/// The files of the output directory before a Laplace or Pathfinder run, so that a run that
/// fails (a precision that is not positive definite, every path dropped) leaves nothing
/// half-written; other methods keep what their failed runs wrote, as before.
struct Written {
    /// The directory, for a Laplace or Pathfinder run.
    dir: Option<std::path::PathBuf>,
    /// Whether it existed.
    existed: bool,
    /// Its files then.
    files: Vec<std::path::PathBuf>,
}

impl Written {
    fn before(args: &FitArgs) -> Written {
        let dir = matches!(args.method, Method::Laplace | Method::Pathfinder)
            .then(|| output_path(&args.model, &args.out).1);
        let listing = |d: &std::path::Path| -> Vec<std::path::PathBuf> {
            std::fs::read_dir(d)
                .map(|it| it.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default()
        };
        Written {
            existed: dir.as_ref().is_some_and(|d| d.exists()),
            files: dir.as_deref().map(listing).unwrap_or_default(),
            dir,
        }
    }

    /// Removes what the failed run added: new files, and the directory when it made it.
    fn remove_new(&self) {
        let Some(dir) = &self.dir else { return };
        if let Ok(entries) = std::fs::read_dir(dir) {
            for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
                if !self.files.contains(&path) {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
        if !self.existed {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// The text after a Laplace run (with the log marginal likelihood), `laplace.json` and the
/// summary files.
fn report_laplace(
    args: &FitArgs,
    ran: &Ran<LaplaceResult>,
    alone: bool,
    dir: &std::path::Path,
) -> Result<String, Failure> {
    let (ended, files) = ended(ran);
    let (structure, curvature) = args.hessian;
    let mut text = String::new();
    let mut fits = Vec::new();
    for (f, c) in ran.fits.iter().zip(&ran.draws.chains) {
        text.push_str(&format!(
            "{ended} Laplace fit in {:.1} s ({} gradient evaluations, {} Hessian-vector \
             products); MAP {}; log marginal likelihood (Laplace, {} {}) {:.4}; draws in \
             {files}\n",
            ran.seconds,
            f.map.gradients,
            f.hessian_vector_products,
            if f.map.converged {
                format!("reached a gradient norm below {}", args.grad_tol)
            } else {
                format!("stopped at gradient norm {:.3e}", f.map.grad_norm)
            },
            structure,
            crate::engine::laplace::curvature_name(curvature),
            f.log_evidence,
        ));
        fits.push(serde_json::json!({
            "member": c.chain + 1,
            "log_marginal_likelihood": f.log_evidence,
            "log_det_precision": f.log_det_precision,
            "coordinates": f.coordinates.len(),
            "hessian_vector_products": f.hessian_vector_products,
            "map_log_density": f.map.log_density,
            "map_grad_norm": f.map.grad_norm,
            "map_steps": f.map.steps,
            "map_converged": f.map.converged,
            "gradients": f.map.gradients,
        }));
    }
    let json = serde_json::json!({
        "method": "laplace",
        "hessian": structure.to_string(),
        "curvature": crate::engine::laplace::curvature_name(curvature),
        "fits": fits,
    });
    write_json(ran, alone, dir, "laplace", &json)?;
    write_summary(ran, alone, dir, &mut text)?;
    Ok(text)
}

/// The text after a Pathfinder run (its Pareto k̂, and a warning per dropped path on stderr),
/// `pathfinder.json` and the summary files.
fn report_pathfinder(
    args: &FitArgs,
    ran: &Ran<PathfinderResult>,
    alone: bool,
    dir: &std::path::Path,
) -> Result<String, Failure> {
    let (ended, files) = ended(ran);
    let mut text = String::new();
    let mut fits = Vec::new();
    for f in &ran.fits {
        for p in f.dropped() {
            eprintln!(
                "warning: Pathfinder path {} dropped: {}",
                p.path + 1,
                p.failure.as_deref().unwrap_or_default()
            );
        }
        let kept = f.paths.len() - f.dropped().count();
        let k_hat = match f.pareto_k {
            Some(k) => format!("; Pareto k-hat {k:.2}"),
            None => String::new(),
        };
        text.push_str(&format!(
            "{ended} Pathfinder with {kept} of {} path(s) in {:.1} s ({} gradient evaluations, \
             {} log-density evaluations){k_hat}; draws in {files}\n",
            f.paths.len(),
            ran.seconds,
            f.gradients(),
            f.log_densities(),
        ));
        if f.pareto_k.is_some_and(|k| k > 0.7) {
            eprintln!(
                "warning: Pareto k-hat above 0.7: the importance weights are unreliable and the \
                 draws may not represent the posterior\n  = help: Pathfinder's Gaussians miss \
                 posteriors far from Gaussian, such as a hierarchical model's scales; check \
                 against `bnnppl sample` (NUTS; with `--init pathfinder` its chains start at \
                 Pathfinder draws)"
            );
        }
        let paths: Vec<serde_json::Value> = f
            .paths
            .iter()
            .map(|p| {
                serde_json::json!({
                    "path": p.path + 1,
                    "iterations": p.iterations,
                    "best_iteration": p.best_iteration,
                    "elbo": p.elbo.is_finite().then_some(p.elbo),
                    "gradients": p.gradients,
                    "log_densities": p.log_densities,
                    "dropped": p.failure,
                })
            })
            .collect();
        fits.push(serde_json::json!({
            "pareto_k": f.pareto_k,
            "gradients": f.gradients(),
            "log_densities": f.log_densities(),
            "paths": paths,
        }));
    }
    let json = serde_json::json!({
        "method": "pathfinder",
        "num_paths": args.paths,
        "fits": fits,
    });
    write_json(ran, alone, dir, "pathfinder", &json)?;
    write_summary(ran, alone, dir, &mut text)?;
    Ok(text)
}
