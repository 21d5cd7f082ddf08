//! The UCI regression benchmark (PBP/MC-dropout splits): fits each split with NUTS, SVI or an
//! optimization method through the public library API and writes per-split scores and a
//! summary.
//!
//! Run: `cargo run --release --example uci -- --data-dir ../shared/data/uci --dataset yacht
//! [--engine nuts|svi|map|ensemble|anchored-ensemble|swag|multiswag|mc-dropout|sghmc|svgd]
//! [--splits K] [--seed S]`. Results go to `<out>/<dataset>_<engine>.csv`
//! (one row per split, written as each split finishes), then one Markdown summary row
//! (mean ± standard error over the splits run) is printed.

mod protocol;
mod runner;

use bnnppl::engine::Nuts;
use clap::Parser;
use runner::{Config, Engine, SplitResult, CSV_HEADER};
use std::io::Write;
use std::path::PathBuf;

/// Command-line settings.
#[derive(Parser, Debug)]
#[command(about = "UCI regression benchmark on the standard splits")]
struct Args {
    /// Folder holding one sub-folder per data set in the PBP layout.
    #[arg(long, default_value = "../shared/data/uci")]
    data_dir: PathBuf,
    /// Data set folder name (yacht, bostonHousing, concrete, ...).
    #[arg(long)]
    dataset: String,
    /// nuts, svi, map, ensemble, anchored-ensemble, swag, multiswag, mc-dropout, sghmc or svgd.
    #[arg(long, default_value = "nuts")]
    engine: String,
    /// Adam epochs of each MAP fit (the optimization methods; default 40).
    #[arg(long)]
    epochs: Option<usize>,
    /// Epochs of SGHMC (default 4000) or of SVGD (default 2000).
    #[arg(long)]
    sg_epochs: Option<usize>,
    /// SGHMC's learning rate per row (η = rate / N; default 0.001), or SVGD's Adam rate
    /// (default 0.01).
    #[arg(long)]
    sg_lr: Option<f64>,
    /// SGHMC's cycles (default 4).
    #[arg(long)]
    cycles: Option<usize>,
    /// SVGD's particles (default 50).
    #[arg(long)]
    svgd_particles: Option<usize>,
    /// Members of the ensembles and of MultiSWAG (default 5).
    #[arg(long)]
    members: Option<usize>,
    /// SWAG's SGD learning rate per row (default 0.002).
    #[arg(long)]
    swag_lr: Option<f64>,
    /// Number of splits to run (default: all of the data set's splits).
    #[arg(long)]
    splits: Option<usize>,
    /// First split to run.
    #[arg(long, default_value_t = 0)]
    first: usize,
    /// Base seed; split i uses a seed derived from it and i.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Model file (default: for NUTS, the prior chosen for the data set on validation rows,
    /// models/uci_nuts_neal.bnn for bostonHousing, concrete and wine-quality-red and
    /// models/uci_nuts.bnn otherwise; for SVI, models/uci_svi.bnn); its hidden width `H` comes
    /// from the data set's n_hidden.txt.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Output folder.
    #[arg(long, default_value = "bench/uci/results")]
    out: PathBuf,
    /// Score on the last 20 % of each training split instead of the test rows.
    #[arg(long)]
    validate: bool,
    /// NUTS chains.
    #[arg(long, default_value_t = 2)]
    chains: usize,
    /// NUTS warmup draws per chain.
    #[arg(long, default_value_t = 500)]
    warmup: usize,
    /// NUTS draws per chain after warmup.
    #[arg(long, default_value_t = 500)]
    draws: usize,
    /// NUTS maximum tree depth (8, not Stan's 10: on yacht the trees reach 10 at 3× the cost
    /// for no better held-out log-likelihood).
    #[arg(long, default_value_t = 8)]
    max_depth: u32,
    /// SVI optimizer steps.
    #[arg(long)]
    svi_steps: Option<usize>,
    /// SVI minibatch rows.
    #[arg(long)]
    batch_size: Option<usize>,
    /// SVI learning rate.
    #[arg(long)]
    lr: Option<f64>,
    /// SVI guide family: mean-field, low-rank:K or full-rank (default mean-field).
    #[arg(long)]
    guide: Option<bnnppl::engine::svi::GuideKind>,
    /// SVI learning-rate schedule: none, cosine or exp:RATE (default cosine).
    #[arg(long)]
    decay: Option<bnnppl::engine::svi::Decay>,
    /// SVI Monte Carlo draws of the weights per step (default 1).
    #[arg(long)]
    particles: Option<usize>,
    /// SVI initial guide scale (default 0.01).
    #[arg(long)]
    init_scale: Option<f64>,
    /// Write split `--first`'s model data (standardized, as the runner binds it) to this JSON
    /// file and stop, so `bnnppl sample` or `bnnppl svi` can run it by hand.
    #[arg(long)]
    write_data: Option<PathBuf>,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let dir = args.data_dir.join(&args.dataset);
    let ds = protocol::Dataset::load(&dir)?;
    if let Some(path) = &args.write_data {
        let split = ds.split(&dir, args.first)?;
        let st = protocol::standardize(&ds, &split.train, &split.test);
        return std::fs::write(path, protocol::to_json(&st, ds.n_hidden) + "\n")
            .map_err(|e| format!("cannot write {}: {e}", path.display()));
    }
    let engine: Engine = args.engine.parse()?;
    let model = args
        .model
        .clone()
        .unwrap_or_else(|| PathBuf::from(runner::default_model(engine, &args.dataset)));
    let mut svi = runner::default_svi();
    svi.steps = args.svi_steps.unwrap_or(svi.steps);
    svi.batch_size = args.batch_size.or(svi.batch_size);
    svi.lr = args.lr.unwrap_or(svi.lr);
    svi.guide = args.guide.unwrap_or(svi.guide);
    svi.decay = args.decay.unwrap_or(svi.decay);
    svi.particles = args.particles.unwrap_or(svi.particles);
    svi.init_scale = args.init_scale.unwrap_or(svi.init_scale);
    let cfg = Config {
        model,
        engine,
        nuts: Nuts {
            chains: args.chains,
            warmup: args.warmup,
            draws: args.draws,
            max_depth: args.max_depth,
            ..Nuts::default()
        },
        svi,
        fit: {
            let d = runner::FitSettings::default();
            runner::FitSettings {
                epochs: args.epochs.unwrap_or(d.epochs),
                members: args.members.unwrap_or(d.members),
                swag_lr: args.swag_lr.unwrap_or(d.swag_lr),
                sghmc_epochs: args.sg_epochs.unwrap_or(d.sghmc_epochs),
                sghmc_cycles: args.cycles.unwrap_or(d.sghmc_cycles),
                sghmc_lr: args.sg_lr.unwrap_or(d.sghmc_lr),
                svgd_epochs: args.sg_epochs.unwrap_or(d.svgd_epochs),
                svgd_lr: args.sg_lr.unwrap_or(d.svgd_lr),
                svgd_particles: args.svgd_particles.unwrap_or(d.svgd_particles),
                ..d
            }
        },
        seed: args.seed,
        validate: args.validate,
    };
    let last = (args.first + args.splits.unwrap_or(ds.n_splits)).min(ds.n_splits);
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let tag = if args.validate { "_validate" } else { "" };
    let path = args
        .out
        .join(format!("{}_{}{tag}.csv", args.dataset, args.engine));
    let mut file = std::fs::File::create(&path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    writeln!(file, "{CSV_HEADER}").map_err(|e| e.to_string())?;
    eprintln!(
        "{}: {} rows, splits {}..{}, {} with {}; writing {}",
        args.dataset,
        ds.rows.len(),
        args.first,
        last,
        args.engine,
        cfg.model.display(),
        path.display()
    );
    let mut results: Vec<SplitResult> = Vec::new();
    for i in args.first..last {
        let r = runner::run_split(&ds, &dir, i, &cfg)?;
        eprintln!(
            "split {i:>2}: RMSE {:.4}  LL {:.4}  {:.1} s  divergences {}  max R-hat {:.3}  depth {:.2}",
            r.rmse, r.ll, r.seconds, r.divergences, r.max_rhat, r.mean_depth
        );
        writeln!(file, "{}", r.csv_row()).map_err(|e| e.to_string())?;
        file.flush().map_err(|e| e.to_string())?;
        results.push(r);
    }
    let col = |f: fn(&SplitResult) -> f64| -> Vec<f64> { results.iter().map(f).collect() };
    let (rmse, rmse_se) = protocol::mean_se(&col(|r| r.rmse));
    let (ll, ll_se) = protocol::mean_se(&col(|r| r.ll));
    let secs = col(|r| r.seconds).iter().sum::<f64>() / results.len().max(1) as f64;
    println!(
        "| {} | {} | {} | {rmse:.3} ± {rmse_se:.3} | {ll:.3} ± {ll_se:.3} | {secs:.1} |",
        args.dataset,
        args.engine,
        results.len()
    );
    Ok(())
}
