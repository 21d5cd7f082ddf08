//! `bnnppl svi`: fits a Gaussian guide by SVI through the shared runner and writes the directory
//! `sample` writes (chain_1.csv of draws from the guide, summary.csv, summary.txt), the ELBO
//! trace (elbo.csv, by the draws sink) and guide.json.

use super::check::{bind_posterior, load};
use super::run::{run, write_file, OutputArgs, RunSpec, SaveKind};
use super::{Failure, ModelArgs, Output, EXIT_INTERRUPTED};
use crate::engine::svi::{Decay, Estimator, GuideKind, Init, Start};
use crate::engine::Svi;
use clap::ValueEnum;
use std::fmt::Write as _;

/// Adam steps of the `--init map` warm start.
pub const MAP_STEPS: usize = 300;

/// Where the guide's loc starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InitKind {
    /// Mean field: random. Full and low rank: a mean-field fit first, then the better (by
    /// ELBO) of it and the Laplace start, refined at a hundredth of --lr; the trace and the
    /// step count cover both fits.
    Auto,
    /// Uniform(−2, 2) on the unconstrained scale.
    Random,
    /// A random start then 300 Adam steps towards the MAP estimate.
    Map,
    /// The Laplace approximation: L-BFGS to the mode, the guide nearest N(mode, P⁻¹) for P the
    /// curvature of −log p there (full rank: exactly it; low rank: its top eigen-directions).
    Laplace,
}

impl InitKind {
    /// The engine's start point, and how the guide starts from it.
    pub fn start(self) -> (Init, Start) {
        match self {
            InitKind::Auto => (Init::default(), Start::Auto),
            InitKind::Random => (Init::default(), Start::Point),
            InitKind::Map => (Init::Map { steps: MAP_STEPS }, Start::Point),
            InitKind::Laplace => (Init::default(), Start::Laplace),
        }
    }
}

/// Options of `svi`.
#[derive(Debug, clap::Args)]
pub struct SviArgs {
    /// Model and data.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Guide family: mean-field, low-rank:K (rank K plus diagonal) or full-rank.
    #[arg(long, default_value = "mean-field")]
    pub guide: GuideKind,
    /// Maximum optimizer steps (one minibatch each).
    #[arg(long, default_value_t = 5000)]
    pub steps: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 0.01)]
    pub lr: f64,
    /// Monte Carlo draws of θ per step.
    #[arg(long, default_value_t = 1)]
    pub particles: usize,
    /// Rows per minibatch (default: all rows every step).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Stop when the smoothed ELBO changes by less than this fraction over 100 steps (0: never).
    #[arg(long, default_value_t = 0.0)]
    pub tol: f64,
    /// Learning-rate decay: exp:RATE (lr·RATE at the last step) or cosine.
    #[arg(long)]
    pub decay: Option<Decay>,
    /// Clip the gradient of the guide parameters to this Euclidean norm.
    #[arg(long)]
    pub clip: Option<f64>,
    /// Initial scale of the guide (every diagonal scale), as NumPyro's init_scale.
    #[arg(long, default_value_t = 0.1)]
    pub init_scale: f64,
    /// Where the guide's loc starts.
    #[arg(long, value_enum, default_value_t = InitKind::Auto)]
    pub init: InitKind,
    /// Weight β of the KL term: maximize E_q[log lik] − β·KL(q ‖ prior). 1 is the ELBO; any
    /// other value is a tempered objective whose guide no longer approximates the posterior.
    #[arg(long, default_value_t = 1.0)]
    pub kl_weight: f64,
    /// The sticking-the-landing gradient estimator (Roeder et al. 2017): no score term, so the
    /// gradient's variance vanishes as the guide reaches the posterior.
    #[arg(long)]
    pub stl: bool,
    /// Draws from the fitted guide written to chain_1.csv.
    #[arg(long, default_value_t = 1000)]
    pub draws: usize,
    /// Seed of the fit and of the draws.
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

/// Runs `svi`.
pub fn svi(args: &SviArgs) -> Result<Output, Failure> {
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

/// Where a fit's output goes: the model and data, the output directory, what is stored per
/// draw, and whether progress is shown; shared by `svi` and `fit`.
pub struct Target<'a> {
    /// Model and data.
    pub model: &'a ModelArgs,
    /// `--output` and `--overwrite`.
    pub out: &'a OutputArgs,
    /// `--save`.
    pub save: SaveKind,
    /// `--quiet`.
    pub quiet: bool,
}

/// Fits a guide with `settings` and writes the `svi` output directory.
pub fn run_svi(settings: &Svi, target: &Target<'_>) -> Result<Output, Failure> {
    let model = load(target.model)?;
    let (post, warnings) = bind_posterior(&model, target.model)?;
    eprint!("{}", warnings);
    let save = target.save.into();
    let draws = settings.draws;
    let spec = RunSpec {
        posterior: &post,
        model: target.model,
        out: target.out,
        save,
        seed: settings.seed,
        chain_ids: None,
        threads: None,
        threads_per_chain: None,
        quiet: target.quiet,
    };
    let ran = run(settings, spec)?;
    let res = ran
        .fits
        .first()
        .expect("internal: svi runs one chain and returns its fit");

    // guide.json: the guide's parameters, and where each model parameter sits in θ.
    let g = &res.guide;
    let layout: Vec<serde_json::Value> = post
        .layout()
        .params
        .iter()
        .map(|p| {
            serde_json::json!({
                "name": p.name, "offset": p.offset, "dims": p.dims,
                "constraint": p.constraint.to_string(),
            })
        })
        .collect();
    let json = serde_json::json!({
        "guide": g.kind.to_string(),
        "kind": g.kind,
        "dim": g.dim,
        "loc": g.loc(),
        "scale": g.scale(),
        "factor": g.factor(),
        "params": g.params,
        "layout": layout,
        "steps": res.trace.len(),
        "converged": res.converged,
        "final_smoothed_elbo": res.trace.last().map(|p| p.smoothed),
    });
    let text = serde_json::to_string_pretty(&json).expect("internal: JSON of numbers");
    write_file(&ran.dir, "guide.json", &(text + "\n"))?;

    let seconds = res.elapsed.as_secs_f64();
    let last = res.trace.last().map_or(f64::NAN, |p| p.smoothed);
    let mut text = format!(
        "{} after {} steps in {:.1} s ({:.0} steps per second, {} gradient evaluations); \
         smoothed ELBO {:.3}{}\n",
        if ran.interrupted {
            "Interrupted"
        } else {
            "Fitted"
        },
        res.trace.len(),
        seconds,
        res.trace.len() as f64 / seconds.max(1e-9),
        res.gradients,
        last,
        if res.converged {
            " (converged on --tol)"
        } else {
            ""
        },
    );
    if res.skipped_steps > 0 {
        let _ = writeln!(
            text,
            "{} steps were skipped: the log-density was not finite at a draw",
            res.skipped_steps
        );
    }
    let _ = writeln!(
        text,
        "{} draws from the {} guide in {}",
        draws,
        g.kind,
        ran.files[0].display()
    );
    let beta = settings.estimator.kl_weight;
    if beta != 1.0 {
        let _ = writeln!(
            text,
            "note: --kl-weight {beta} fits a tempered objective, E_q[log lik] − {beta}·KL(q ‖ \
             prior), not the ELBO: the guide and its draws do not approximate the posterior, \
             and the objective printed is the tempered one"
        );
    }
    if draws > 0 {
        let (table, csv) = ran.summary();
        text.push('\n');
        text.push_str(&table);
        write_file(&ran.dir, "summary.csv", &csv)?;
        write_file(&ran.dir, "summary.txt", &table)?;
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
