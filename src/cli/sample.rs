//! `bnnppl sample`: NUTS (or static HMC) on a model through the shared runner — one CmdStan CSV
//! per chain written draw by draw, progress bars, Ctrl-C that keeps what was drawn, and the
//! summary at the end.

use super::check::{bind_posterior, load};
use super::run::{run, run_with, write_file, OutputArgs, RunSpec, SaveKind};
use super::{Failure, ModelArgs, Output, EXIT_INTERRUPTED};
use crate::draws::Checkpoints;
use crate::engine::swag::parse_schedule;
use crate::engine::{
    Decay, Dynamics, Hmc, Init, MassMatrix, Nuts, Pathfinder, Sgmcmc, STAN_WARMUP,
};
use crate::posterior::{Posterior, UnconstrainError};
use clap::ValueEnum;

/// Which sampler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineKind {
    /// The No-U-Turn sampler (multinomial, generalized U-turn), on nuts-rs.
    Nuts,
    /// Static HMC with a fixed number of leapfrog steps (--steps).
    Hmc,
    /// Stochastic gradient Langevin dynamics on minibatches (--batch-size, --step-size).
    Sgld,
    /// SGLD preconditioned by a moving average of squared gradients (pSGLD).
    Psgld,
    /// Stochastic gradient HMC with friction (--friction), optionally the noise estimate.
    Sghmc,
}

/// Which mass matrix warmup adapts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MassKind {
    /// Diagonal (Stan's diag_e).
    Diag,
    /// Diagonal plus low rank (nutpie's), NUTS only.
    LowRank,
}

/// Options of `sample`.
#[derive(Debug, clap::Args)]
pub struct SampleArgs {
    /// Model and data.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Sampler.
    #[arg(long, value_enum, default_value_t = EngineKind::Nuts)]
    pub engine: EngineKind,
    /// Leapfrog steps per trajectory (static HMC).
    #[arg(long, default_value_t = 16)]
    pub steps: usize,
    /// Number of chains.
    #[arg(long, default_value_t = 4)]
    pub chains: usize,
    /// Run only chain K (1-based, as CmdStan numbers chains); its draws equal chain K of a full
    /// run with the same seed, so chains can run as separate processes.
    #[arg(long)]
    pub chain_id: Option<usize>,
    /// Warmup draws per chain. Default 1000; with `--init pathfinder` NUTS and HMC default to
    /// 925, Stan's 1000 without its 75-draw initial buffer: chains that start at Pathfinder
    /// draws are in the typical set already, so their first slow window begins at once.
    #[arg(long)]
    pub warmup: Option<usize>,
    /// Draws per chain after warmup.
    #[arg(long, default_value_t = 1000)]
    pub draws: usize,
    /// Maximum tree depth (NUTS).
    #[arg(long, default_value_t = 10)]
    pub max_depth: u32,
    /// Target acceptance statistic of step-size adaptation.
    #[arg(long, default_value_t = 0.8)]
    pub target_accept: f64,
    /// Mass matrix adapted during warmup.
    #[arg(long, value_enum, default_value_t = MassKind::Diag)]
    pub mass_matrix: MassKind,
    /// Seed; chain k uses its own stream of it.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Worker threads (default: one per chain, at most the number of cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Threads each chain splits its gradient over: a large data set's blocks of rows, or a
    /// large layer's matrix work (the draws are the same for any number). Default: with 10,000
    /// rows or more, the cores left over when every chain running at once has one; otherwise 1.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub threads_per_chain: Option<u64>,
    /// Initial values: `0` (θ = 0 on the unconstrained scale), `pathfinder` (each chain its own
    /// draw of a multi-path Pathfinder run with Stan's defaults and this seed), or a JSON file
    /// of constrained values by parameter name. Default: uniform(−2, 2) on the unconstrained
    /// scale.
    #[arg(long)]
    pub init: Option<String>,
    /// sgld, psgld, sghmc: rows per minibatch, the likelihood scaled by N/B (default: all rows).
    #[arg(long, help_heading = "Stochastic gradient")]
    pub batch_size: Option<usize>,
    /// sgld, psgld, sghmc: step size (SGLD's ε, SGHMC's learning rate η), on the scale of θ
    /// with the full-data gradient.
    #[arg(long, default_value_t = 1e-4, help_heading = "Stochastic gradient")]
    pub step_size: f64,
    /// sgld, psgld, sghmc: constant, or cyclical:M (M cycles, each exploring then sampling,
    /// the step size falling along a cosine).
    #[arg(long, default_value = "constant", value_parser = parse_schedule, help_heading = "Stochastic gradient")]
    pub schedule: Decay,
    /// sgld, psgld, sghmc: fraction of each cycle that explores (no noise, nothing kept).
    #[arg(long, default_value_t = 0.5, help_heading = "Stochastic gradient")]
    pub exploration: f64,
    /// sgld, psgld, sghmc: steps before the schedule starts, none kept (default: --warmup).
    #[arg(long, help_heading = "Stochastic gradient")]
    pub burn_in: Option<usize>,
    /// sgld, psgld, sghmc: keep one draw every K steps.
    #[arg(long, default_value_t = 1, help_heading = "Stochastic gradient")]
    pub thin: usize,
    /// sghmc: friction α in (0, 1], the fraction of the velocity lost per step.
    #[arg(long, default_value_t = 0.1, help_heading = "Stochastic gradient")]
    pub friction: f64,
    /// sghmc: subtract the estimated minibatch-gradient noise from the injected noise (off by
    /// default: batches in epoch order cancel within an epoch, so the estimate overstates it).
    #[arg(long, help_heading = "Stochastic gradient")]
    pub noise_estimate: bool,
    /// Where the run writes.
    #[command(flatten)]
    pub out: OutputArgs,
    /// What to store per draw.
    #[arg(long, value_enum, default_value_t = SaveKind::All)]
    pub save: SaveKind,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
    /// Finish the interrupted NUTS run in DIR (its settings are read from there; give the same
    /// model and data): finished chains are kept, a chain past its warmup continues from its
    /// last complete draw with the adapted step size and mass matrix, any other chain is redone
    /// (with --init, if given).
    #[arg(long, value_name = "DIR", conflicts_with_all = [
        "engine", "steps", "chains", "chain_id", "warmup", "draws", "max_depth",
        "target_accept", "mass_matrix", "seed", "output", "overwrite", "save",
    ])]
    pub resume: Option<std::path::PathBuf>,
}

/// Sampling draws between a NUTS chain's resume points (`chain_<k>.state.json`), which are also
/// saved at the end of warmup and when the run is stopped.
pub const CHECKPOINT_EVERY: usize = 100;

/// `--init`: `0` (θ = 0), or a JSON file of constrained values by parameter name, which the
/// parameter layout maps to θ.
fn init_from(arg: &Option<String>, post: &Posterior) -> Result<Init, Failure> {
    let Some(arg) = arg else {
        return Ok(Init::default());
    };
    let d = post.layout().dim();
    if arg == "0" {
        return Ok(Init::User(vec![0.0; d]));
    }
    let text = std::fs::read_to_string(arg)
        .map_err(|e| Failure::usage(format!("error: cannot read --init {arg}: {e}")))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Failure::usage(format!("error: --init {arg} is not JSON: {e}")))?;
    let values: Vec<Option<Vec<f64>>> = post
        .layout()
        .params
        .iter()
        .map(|p| {
            json.get(&p.name).map(|v| {
                let mut flat = Vec::new();
                flatten(v, &mut flat);
                flat
            })
        })
        .collect();
    let mut k = 0;
    let theta = post
        .layout()
        .unconstrain(|_| {
            k += 1;
            values[k - 1].as_deref()
        })
        .map_err(|e| match e {
            UnconstrainError::Missing { param } => Failure::usage(format!(
                "error: --init {arg} has no value for parameter '{param}'"
            )),
            e => Failure::usage(format!("error: --init {arg}: {e}")),
        })?;
    Ok(Init::User(theta))
}

/// A sampler's `--init`: [`init_from`], or for `pathfinder` a multi-path Pathfinder run
/// (Stan's defaults, the run's `seed`) and one distinct draw for each of `chains` chains, the
/// same for a chain run alone (`--chain-id`, or redone by `--resume`) as in the full run; its
/// cost goes to stderr.
pub(super) fn sampler_init(
    arg: &Option<String>,
    post: &Posterior,
    seed: u64,
    chains: usize,
) -> Result<Init, Failure> {
    if arg.as_deref() != Some("pathfinder") {
        return init_from(arg, post);
    }
    let pathfinder = Pathfinder {
        seed,
        ..Pathfinder::default()
    };
    let (init, result) = pathfinder
        .starts(post, chains)
        .map_err(super::run::engine_failure)?;
    for p in result.dropped() {
        eprintln!(
            "warning: Pathfinder path {} dropped: {}",
            p.path + 1,
            p.failure.as_deref().unwrap_or_default()
        );
    }
    eprintln!(
        "Pathfinder init: {} gradient evaluations, {} log-density evaluations",
        result.gradients(),
        result.log_densities()
    );
    Ok(init)
}

/// The fingerprint of the model file's source, which a resumed run must match.
pub(super) fn model_fingerprint(path: &std::path::Path) -> Result<String, Failure> {
    let source = std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("error: cannot read {}: {e}", path.display())))?;
    Ok(crate::data::text_fingerprint(&source))
}

fn flatten(v: &serde_json::Value, out: &mut Vec<f64>) {
    match v {
        serde_json::Value::Array(a) => a.iter().for_each(|x| flatten(x, out)),
        serde_json::Value::Number(n) => out.push(n.as_f64().unwrap_or(f64::NAN)),
        _ => out.push(f64::NAN),
    }
}

/// Runs `sample`.
pub fn sample(args: &SampleArgs) -> Result<Output, Failure> {
    if let Some(dir) = &args.resume {
        return super::resume::resume(args, dir);
    }
    let model = load(&args.model)?;
    let (post, warnings) = bind_posterior(&model, &args.model)?;
    eprint!("{}", warnings);
    if args.chains == 0 {
        return Err(Failure::usage("error: --chains must be at least 1"));
    }
    let init = sampler_init(&args.init, &post, args.seed, args.chains)?;
    let warmup = args.warmup.unwrap_or_else(|| init.default_warmup());
    let chain_ids: Vec<usize> = match args.chain_id {
        Some(0) => return Err(Failure::usage("error: --chain-id counts from 1")),
        Some(k) => vec![k - 1],
        None => (0..args.chains).collect(),
    };
    let save = args.save.into();
    let checkpoints = Checkpoints {
        model_hash: model_fingerprint(&args.model.model)?,
        chain_ids: chain_ids.clone(),
        append: Vec::new(),
    };
    let spec = RunSpec {
        posterior: &post,
        model: &args.model,
        out: &args.out,
        save,
        seed: args.seed,
        chain_ids: Some(chain_ids),
        threads: args.threads,
        threads_per_chain: args.threads_per_chain.map(|t| t as usize),
        quiet: args.quiet,
    };
    let ran = match args.engine {
        EngineKind::Nuts => run_with(
            &Nuts {
                chains: args.chains,
                warmup,
                draws: args.draws,
                max_depth: args.max_depth,
                target_accept: args.target_accept,
                mass_matrix: match args.mass_matrix {
                    MassKind::Diag => MassMatrix::Diagonal,
                    MassKind::LowRank => MassMatrix::LowRank,
                },
                seed: args.seed,
                init,
                checkpoint_every: CHECKPOINT_EVERY,
                ..Nuts::default()
            },
            spec,
            Some(checkpoints),
        )?,
        EngineKind::Hmc => run(
            &Hmc {
                chains: args.chains,
                warmup,
                draws: args.draws,
                n_leapfrog: args.steps,
                target_accept: args.target_accept,
                seed: args.seed,
                init,
                ..Hmc::default()
            },
            spec,
        )?,
        EngineKind::Sgld | EngineKind::Psgld | EngineKind::Sghmc => run(
            &Sgmcmc {
                dynamics: match args.engine {
                    EngineKind::Psgld => Dynamics::Psgld {
                        decay: 0.99,
                        lambda: 1e-5,
                    },
                    EngineKind::Sghmc => Dynamics::Sghmc {
                        friction: args.friction,
                        noise_estimate: args.noise_estimate,
                    },
                    EngineKind::Sgld | EngineKind::Nuts | EngineKind::Hmc => Dynamics::Sgld,
                },
                chains: args.chains,
                burn_in: args.burn_in.unwrap_or(args.warmup.unwrap_or(STAN_WARMUP)),
                draws: args.draws,
                thin: args.thin,
                step_size: args.step_size,
                batch_size: args.batch_size,
                schedule: args.schedule,
                exploration: args.exploration,
                seed: args.seed,
                init,
            },
            spec,
        )?,
    };
    let files: Vec<String> = ran.files.iter().map(|f| f.display().to_string()).collect();
    let mut text = format!(
        "{} in {:.1} s ({} gradient evaluations, {:.0} per second); draws in {}\n",
        if ran.interrupted {
            "Interrupted"
        } else {
            "Sampled"
        },
        ran.seconds,
        ran.gradients,
        ran.gradients as f64 / ran.seconds.max(1e-9),
        files.join(", ")
    );
    if ran.draws.chains.iter().all(|c| !c.stats.is_empty()) {
        let (table, csv) = ran.summary();
        text.push('\n');
        text.push_str(&table);
        if args.chain_id.is_none() {
            write_file(&ran.dir, "summary.csv", &csv)?;
            write_file(&ran.dir, "summary.txt", &table)?;
        }
    }
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
