//! `bnnppl svi`: fits a Gaussian guide by SVI and writes the directory `sample` writes
//! (chain_1.csv of draws from the guide, summary.csv, summary.txt) plus elbo.csv and guide.json.

use super::check::{bind_posterior, load};
use super::sample::{output_dir, SaveKind};
use super::{
    Failure, ModelArgs, Output, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_IO, EXIT_MODEL, EXIT_USAGE,
};
use crate::engine::svi::{Decay, GuideKind, Init};
use crate::engine::{EngineError, Svi};
use crate::stan_csv::{format_f64, SamplerStats, StanCsvWriter};
use crate::summary::{report, ChainColumns, ReportInput};
use clap::ValueEnum;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Adam steps of the `--init map` warm start.
const MAP_STEPS: usize = 300;

/// Where the guide's loc starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InitKind {
    /// Uniform(−2, 2) on the unconstrained scale.
    Random,
    /// A random start then 300 Adam steps towards the MAP estimate.
    Map,
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
    #[arg(long, value_enum, default_value_t = InitKind::Random)]
    pub init: InitKind,
    /// Draws from the fitted guide written to chain_1.csv.
    #[arg(long, default_value_t = 1000)]
    pub draws: usize,
    /// Seed of the fit and of the draws.
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

fn engine_failure(e: EngineError) -> Failure {
    let code = match &e {
        EngineError::Init { .. } | EngineError::Density { .. } => EXIT_MODEL,
        EngineError::Settings(_) => EXIT_USAGE,
        _ => EXIT_INTERNAL,
    };
    Failure {
        message: format!("error: {e}"),
        code,
    }
}

fn io_failure(path: &std::path::Path, e: impl std::fmt::Display) -> Failure {
    Failure {
        message: format!("error: cannot write {}: {e}", path.display()),
        code: EXIT_IO,
    }
}

/// Runs `svi`.
pub fn svi(args: &SviArgs) -> Result<Output, Failure> {
    let model = load(&args.model)?;
    let (post, warnings) = bind_posterior(&model, &args.model)?;
    eprint!("{}", warnings);
    let (stem, dir) = output_dir(&args.model, &args.output)?;
    let save = args.save.into();
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

    let interrupt = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupt.clone();
        let _ = ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) {
                std::process::exit(EXIT_INTERRUPTED);
            }
        });
    }
    let bar = (!args.quiet).then(|| {
        let b = indicatif::ProgressBar::new(args.steps as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("svi {bar:30} {pos:>6}/{len} ELBO {msg}")
                .expect("internal: valid progress template"),
        );
        b
    });
    let mut on_step = |p: &crate::engine::svi::ElboPoint| {
        if let Some(b) = &bar {
            b.set_position(p.step as u64);
            // Formatting the message allocates; every 50 steps is enough for the eye.
            if p.step % 50 == 1 {
                b.set_message(format!("{:.2}", p.smoothed));
            }
        }
        !interrupt.load(Ordering::Relaxed)
    };
    let fit = post
        .fit_svi_with(&settings, &mut on_step)
        .map_err(engine_failure)?;
    if let Some(b) = &bar {
        b.finish();
    }
    let res = &fit.result;

    // elbo.csv
    let mut elbo = String::from("step,elbo,smoothed\n");
    for p in &res.trace {
        let _ = writeln!(
            elbo,
            "{},{},{}",
            p.step,
            format_f64(p.elbo),
            format_f64(p.smoothed)
        );
    }
    let path = dir.join("elbo.csv");
    std::fs::write(&path, elbo).map_err(|e| io_failure(&path, e))?;

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
    let path = dir.join("guide.json");
    let text = serde_json::to_string_pretty(&json).expect("internal: JSON of numbers");
    std::fs::write(&path, text + "\n").map_err(|e| io_failure(&path, e))?;

    // chain_1.csv: draws from the guide in sample's layout.
    let networks: Vec<String> = post
        .model()
        .networks
        .iter()
        .map(|n| n.name.clone())
        .collect();
    let config: Vec<(String, String)> = vec![
        ("model".into(), stem.clone()),
        ("bnnppl_version".into(), env!("CARGO_PKG_VERSION").into()),
        ("engine".into(), "svi".into()),
        ("method".into(), "variational".into()),
        (
            "note".into(),
            "draws from the fitted guide; lp__ is log p(theta) at the draw; accept_stat__ \
             stepsize__ treedepth__ n_leapfrog__ divergent__ energy__ are 0 (no sampler)"
                .into(),
        ),
        ("guide".into(), g.kind.to_string()),
        ("seed".into(), args.seed.to_string()),
        ("steps".into(), res.trace.len().to_string()),
        ("lr".into(), args.lr.to_string()),
        ("particles".into(), args.particles.to_string()),
        (
            "batch_size".into(),
            args.batch_size
                .map_or_else(|| "all".to_string(), |b| b.to_string()),
        ),
        ("num_samples".into(), args.draws.to_string()),
        ("networks".into(), networks.join(",")),
        ("chain_id".into(), "1".into()),
    ];
    let (columns, _) = crate::draws::columns(&post, save);
    let path = dir.join("chain_1.csv");
    let file = std::fs::File::create(&path).map_err(|e| io_failure(&path, e))?;
    let mut writer = StanCsvWriter::new(std::io::BufWriter::new(file), &config, &columns)
        .map_err(|e| io_failure(&path, e))?;
    let width = columns.len();
    let mut chain = ChainColumns {
        values: vec![Vec::with_capacity(args.draws); width],
        ..ChainColumns::default()
    };
    fit.for_each_draw(args.draws, args.seed, save, |lp, row| {
        let stats = SamplerStats {
            lp,
            accept_stat: 0.0,
            stepsize: 0.0,
            treedepth: 0,
            n_leapfrog: 0,
            divergent: false,
            energy: 0.0,
        };
        chain.lp.push(lp);
        chain.divergent.push(false);
        chain.treedepth.push(0);
        chain.energy.push(0.0);
        for (c, &v) in chain.values.iter_mut().zip(row) {
            c.push(v);
        }
        writer.write_draw(&stats, row)
    })
    .map_err(|e| io_failure(&path, e))?;
    writer.into_inner().map_err(|e| io_failure(&path, e))?;

    let seconds = res.elapsed.as_secs_f64();
    let last = res.trace.last().map_or(f64::NAN, |p| p.smoothed);
    let mut text = format!(
        "{} after {} steps in {:.1} s ({:.0} steps per second, {} gradient evaluations); \
         smoothed ELBO {:.3}{}\n",
        if res.interrupted {
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
        args.draws,
        g.kind,
        path.display()
    );
    if args.draws > 0 {
        let input = ReportInput {
            columns,
            chains: vec![chain],
            max_depth: 0,
            networks,
            variational: true,
        };
        let (table, csv) = report(&input, false);
        text.push('\n');
        text.push_str(&table);
        for (name, body) in [("summary.csv", &csv), ("summary.txt", &table)] {
            let p = dir.join(name);
            std::fs::write(&p, body).map_err(|e| io_failure(&p, e))?;
        }
    }
    if res.interrupted {
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
