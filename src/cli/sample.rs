//! `bnnppl sample`: NUTS (or static HMC) on a model, one CmdStan CSV per chain written draw by
//! draw, progress bars, Ctrl-C that keeps what was drawn, and the summary at the end.

use super::check::{bind_posterior, load};
use super::{
    Failure, ModelArgs, Output, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_IO, EXIT_MODEL, EXIT_USAGE,
};
use crate::draws::{ChainDraws, CsvFactory, Save};
use crate::engine::{Engine, EngineError, Hmc, Init, MassMatrix, Nuts, Phase, RunControl};
use crate::posterior::Posterior;
use crate::summary::{report, ChainColumns, ReportInput};
use clap::ValueEnum;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Which sampler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineKind {
    /// The No-U-Turn sampler (multinomial, generalized U-turn), on nuts-rs.
    Nuts,
    /// Static HMC with a fixed number of leapfrog steps (--steps).
    Hmc,
}

/// Which mass matrix warmup adapts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MassKind {
    /// Diagonal (Stan's diag_e).
    Diag,
    /// Diagonal plus low rank (nutpie's), NUTS only.
    LowRank,
}

/// What is stored per draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SaveKind {
    /// Every constrained parameter and every predict quantity.
    All,
    /// Only the predict quantities (big networks).
    PredictiveOnly,
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
    /// Warmup draws per chain.
    #[arg(long, default_value_t = 1000)]
    pub warmup: usize,
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
    /// Initial values: `0` (θ = 0 on the unconstrained scale) or a JSON file of constrained
    /// values by parameter name. Default: uniform(−2, 2) on the unconstrained scale.
    #[arg(long)]
    pub init: Option<String>,
    /// Output directory (default: output/<model stem>/).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// What to store per draw.
    #[arg(long, value_enum, default_value_t = SaveKind::All)]
    pub save: SaveKind,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

impl From<SaveKind> for Save {
    fn from(s: SaveKind) -> Save {
        match s {
            SaveKind::All => Save::All,
            SaveKind::PredictiveOnly => Save::PredictiveOnly,
        }
    }
}

/// The model's stem and the output directory (`--output`, else `output/<stem>/`), created.
pub fn output_dir(
    model: &ModelArgs,
    output: &Option<PathBuf>,
) -> Result<(String, PathBuf), Failure> {
    let stem = model
        .model
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "model".into());
    let dir = output
        .clone()
        .unwrap_or_else(|| PathBuf::from("output").join(&stem));
    std::fs::create_dir_all(&dir).map_err(|e| Failure {
        message: format!("error: cannot create {}: {e}", dir.display()),
        code: EXIT_IO,
    })?;
    Ok((stem, dir))
}

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
    let mut theta = vec![0.0; d];
    for p in &post.layout().params {
        let v = json.get(&p.name).ok_or_else(|| {
            Failure::usage(format!(
                "error: --init {arg} has no value for parameter '{}'",
                p.name
            ))
        })?;
        let mut flat = Vec::new();
        flatten(v, &mut flat);
        if flat.len() != p.len() {
            return Err(Failure::usage(format!(
                "error: --init {arg}: '{}' needs {} values, found {}",
                p.name,
                p.len(),
                flat.len()
            )));
        }
        for (i, x) in flat.into_iter().enumerate() {
            theta[p.offset + i] = crate::autodiff::scalar::unconstrain(p.constraint, x)
                .ok_or_else(|| {
                    Failure::usage(format!(
                        "error: --init {arg}: value {x} of '{}' is outside its constraint {}",
                        p.name, p.constraint
                    ))
                })?;
        }
    }
    Ok(Init::User(theta))
}

fn flatten(v: &serde_json::Value, out: &mut Vec<f64>) {
    match v {
        serde_json::Value::Array(a) => a.iter().for_each(|x| flatten(x, out)),
        serde_json::Value::Number(n) => out.push(n.as_f64().unwrap_or(f64::NAN)),
        _ => out.push(f64::NAN),
    }
}

fn engine_failure(e: EngineError) -> Failure {
    let code = match &e {
        EngineError::Init { .. } => EXIT_MODEL,
        EngineError::Settings(_) => EXIT_USAGE,
        EngineError::Sink { .. } => EXIT_IO,
        _ => EXIT_INTERNAL,
    };
    let hint = match &e {
        EngineError::Init { .. } => "\n  = help: check the priors and the data for values that make the log-density infinite, or give --init",
        _ => "",
    };
    Failure {
        message: format!("error: {e}{hint}"),
        code,
    }
}

/// Runs `sample`.
pub fn sample(args: &SampleArgs) -> Result<Output, Failure> {
    let model = load(&args.model)?;
    let (post, warnings) = bind_posterior(&model, &args.model)?;
    eprint!("{}", warnings);
    let init = init_from(&args.init, &post)?;
    if args.chains == 0 {
        return Err(Failure::usage("error: --chains must be at least 1"));
    }
    let chain_ids: Vec<usize> = match args.chain_id {
        Some(0) => return Err(Failure::usage("error: --chain-id counts from 1")),
        Some(k) => vec![k - 1],
        None => (0..args.chains).collect(),
    };
    let (stem, dir) = output_dir(&args.model, &args.output)?;
    let save = args.save.into();
    let networks: Vec<String> = post
        .model()
        .networks
        .iter()
        .map(|n| n.name.clone())
        .collect();
    let engine_name = match args.engine {
        EngineKind::Nuts => "nuts",
        EngineKind::Hmc => "hmc",
    };
    let mut config: Vec<(String, String)> = vec![
        ("model".into(), stem.clone()),
        ("bnnppl_version".into(), env!("CARGO_PKG_VERSION").into()),
        ("engine".into(), engine_name.into()),
        ("seed".into(), args.seed.to_string()),
        ("chains".into(), args.chains.to_string()),
        ("num_warmup".into(), args.warmup.to_string()),
        ("num_samples".into(), args.draws.to_string()),
        ("save_warmup".into(), "0".into()),
        ("thin".into(), "1".into()),
        ("target_accept".into(), args.target_accept.to_string()),
        ("networks".into(), networks.join(",")),
    ];
    match args.engine {
        EngineKind::Nuts => {
            config.push(("max_depth".into(), args.max_depth.to_string()));
            config.push((
                "metric".into(),
                match args.mass_matrix {
                    MassKind::Diag => "diag_e".into(),
                    MassKind::LowRank => "low_rank".into(),
                },
            ));
        }
        EngineKind::Hmc => config.push(("steps".into(), args.steps.to_string())),
    }
    let factory = CsvFactory {
        dir: dir.clone(),
        posterior: post.clone(),
        save,
        seed: args.seed,
        config,
    };

    let interrupt = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupt.clone();
        // A second Ctrl-C while the files are being closed exits at once.
        let _ = ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) {
                std::process::exit(EXIT_INTERRUPTED);
            }
        });
    }
    let bars = Progress::new(&chain_ids, args.warmup + args.draws, args.quiet);
    let control = RunControl {
        threads: args.threads,
        chain_ids: Some(chain_ids.clone()),
        interrupt: interrupt.clone(),
        progress: bars.hook(),
    };
    let started = std::time::Instant::now();
    let result = match args.engine {
        EngineKind::Nuts => {
            let nuts = Nuts {
                chains: args.chains,
                warmup: args.warmup,
                draws: args.draws,
                max_depth: args.max_depth,
                target_accept: args.target_accept,
                mass_matrix: match args.mass_matrix {
                    MassKind::Diag => MassMatrix::Diagonal,
                    MassKind::LowRank => MassMatrix::LowRank,
                },
                seed: args.seed,
                init,
                ..Nuts::default()
            };
            nuts.run(&post, &factory, &control)
        }
        EngineKind::Hmc => {
            let hmc = Hmc {
                chains: args.chains,
                warmup: args.warmup,
                draws: args.draws,
                n_leapfrog: args.steps,
                target_accept: args.target_accept,
                seed: args.seed,
                init,
                ..Hmc::default()
            };
            hmc.run(&post, &factory, &control)
        }
    };
    bars.finish();
    let run = result.map_err(engine_failure)?;
    let seconds = started.elapsed().as_secs_f64();
    let interrupted = run.interrupted();
    let gradients: u64 = run.chains.iter().map(|c| c.n_leapfrog).sum();
    let (columns, _) = crate::draws::columns(&post, save);
    let chains: Vec<ChainDraws> = run.chains.into_iter().map(|c| c.sink.draws()).collect();
    let width = columns.len();
    let input = ReportInput {
        columns: columns.clone(),
        chains: chains
            .iter()
            .map(|c| ChainColumns {
                lp: c.stats.iter().map(|s| s.lp).collect(),
                divergent: c.stats.iter().map(|s| s.divergent).collect(),
                treedepth: c.stats.iter().map(|s| s.tree_depth).collect(),
                energy: c.stats.iter().map(|s| s.energy).collect(),
                values: (0..width)
                    .map(|j| {
                        c.values
                            .iter()
                            .skip(j)
                            .step_by(width.max(1))
                            .copied()
                            .collect()
                    })
                    .collect(),
            })
            .collect(),
        max_depth: if args.engine == EngineKind::Nuts {
            args.max_depth
        } else {
            0
        },
        networks,
        variational: false,
    };
    let mut text = String::new();
    let files: Vec<String> = chain_ids
        .iter()
        .map(|&k| factory.path(k).display().to_string())
        .collect();
    text.push_str(&format!(
        "{} in {:.1} s ({} gradient evaluations, {:.0} per second); draws in {}\n",
        if interrupted {
            "Interrupted"
        } else {
            "Sampled"
        },
        seconds,
        gradients,
        gradients as f64 / seconds.max(1e-9),
        files.join(", ")
    ));
    if chains.iter().all(|c| !c.stats.is_empty()) {
        let (table, csv) = report(&input, false);
        text.push('\n');
        text.push_str(&table);
        let write = |name: &str, body: &str| {
            std::fs::write(dir.join(name), body).map_err(|e| Failure {
                message: format!("error: cannot write {}: {e}", dir.join(name).display()),
                code: EXIT_IO,
            })
        };
        if args.chain_id.is_none() {
            write("summary.csv", &csv)?;
            write("summary.txt", &table)?;
        }
    }
    if interrupted {
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

/// One progress bar per chain on standard error (hidden when it is not a terminal or --quiet).
struct Progress {
    multi: Option<indicatif::MultiProgress>,
    bars: Vec<(usize, indicatif::ProgressBar)>,
}

impl Progress {
    fn new(chains: &[usize], total: usize, quiet: bool) -> Progress {
        if quiet {
            return Progress {
                multi: None,
                bars: Vec::new(),
            };
        }
        let multi = indicatif::MultiProgress::new();
        let style = indicatif::ProgressStyle::with_template(
            "chain {prefix:>2} {bar:30} {pos:>5}/{len} {msg}",
        )
        .expect("internal: valid progress template");
        let bars = chains
            .iter()
            .map(|&k| {
                let b = multi.add(indicatif::ProgressBar::new(total as u64));
                b.set_style(style.clone());
                b.set_prefix((k + 1).to_string());
                b.set_message("warmup");
                (k, b)
            })
            .collect();
        Progress {
            multi: Some(multi),
            bars,
        }
    }

    fn hook(&self) -> Option<crate::engine::ProgressFn> {
        self.multi.as_ref()?;
        let bars = self.bars.clone();
        Some(Arc::new(move |e: &crate::engine::ProgressEvent| {
            if let Some((_, b)) = bars.iter().find(|(k, _)| *k == e.chain) {
                b.set_position(e.draw as u64 + 1);
                let phase = match e.phase {
                    Phase::Warmup => "warmup",
                    Phase::Sampling => "sampling",
                };
                if e.divergences > 0 {
                    b.set_message(format!("{phase}, {} divergent", e.divergences));
                } else if e.draw == 0 || e.phase == Phase::Sampling && b.message() == "warmup" {
                    b.set_message(phase);
                }
            }
        }))
    }

    fn finish(&self) {
        for (_, b) in &self.bars {
            b.finish();
        }
    }
}
