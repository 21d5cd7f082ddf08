//! What every engine's command shares: the output directory, one Ctrl-C path, progress bars, the
//! run through the one draws sink, one mapping from engine failures to exit codes, and the
//! summary written at the end.

use super::{Failure, ModelArgs, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_IO, EXIT_MODEL, EXIT_USAGE};
use crate::draws::{
    columns, earlier_run_files, run_config, Checkpoints, CsvFactory, Draws, RunWrites, Save,
};
use crate::engine::{
    Engine, EngineError, InitFailure, Phase, ProgressEvent, ProgressFn, RunControl,
};
use crate::ir::{CheckedModel, LayerKind};
use crate::posterior::Posterior;
use crate::summary::report;
use clap::ValueEnum;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// What is stored per draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SaveKind {
    /// Every constrained parameter and every predict quantity.
    All,
    /// Only the predict quantities (big networks).
    PredictiveOnly,
}

impl From<SaveKind> for Save {
    fn from(s: SaveKind) -> Save {
        match s {
            SaveKind::All => Save::All,
            SaveKind::PredictiveOnly => Save::PredictiveOnly,
        }
    }
}

/// Where a run writes, for every engine's command.
#[derive(Debug, clap::Args)]
pub struct OutputArgs {
    /// Output directory (default: output/<model stem>/).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Remove an earlier run's files from the output directory before this run writes its own
    /// (without it, a directory holding another run's files is refused).
    #[arg(long)]
    pub overwrite: bool,
}

/// A run's output directory, created, and whether an earlier run's files in it are removed.
#[derive(Debug, Clone)]
pub struct OutputDir {
    /// The model's stem, for the configuration lines.
    pub stem: String,
    /// The directory.
    pub path: PathBuf,
    /// `--overwrite`.
    pub overwrite: bool,
}

/// The model's stem and the output directory (`--output`, else `output/<stem>/`), created.
fn output_dir(model: &ModelArgs, args: &OutputArgs) -> Result<OutputDir, Failure> {
    let (stem, path) = output_path(model, args);
    std::fs::create_dir_all(&path).map_err(|e| Failure {
        message: format!("error: cannot create {}: {e}", path.display()),
        code: EXIT_IO,
    })?;
    Ok(OutputDir {
        stem,
        path,
        overwrite: args.overwrite,
    })
}

/// The run's stem (the model file's) and its output directory: `--output`, or `output/STEM`.
pub(crate) fn output_path(model: &ModelArgs, args: &OutputArgs) -> (String, PathBuf) {
    let stem = model
        .model
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "model".into());
    let path = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from("output").join(&stem));
    (stem, path)
}

/// Makes room for a run in its output directory: an earlier run's files there (see
/// [`earlier_run_files`]) are refused, naming them (64), or removed with `--overwrite`, so
/// that no stale chain is ever read with the new ones.
fn clear_for_run(out: &OutputDir, new: &RunWrites<'_>) -> Result<(), Failure> {
    let io = |path: &Path, what: &str, e: std::io::Error| Failure {
        message: format!("error: cannot {what} {}: {e}", path.display()),
        code: EXIT_IO,
    };
    let earlier = earlier_run_files(&out.path, new).map_err(|e| io(&out.path, "read", e))?;
    if earlier.is_empty() {
        return Ok(());
    }
    if !out.overwrite {
        let names: Vec<String> = earlier
            .iter()
            .map(|p| {
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .to_string()
            })
            .collect();
        return Err(Failure::usage(format!(
            "error: {} already holds the files of another run: {}\n  = help: pass --overwrite to remove them first, or --output DIR to write this run elsewhere",
            out.path.display(),
            names.join(", ")
        )));
    }
    for path in &earlier {
        std::fs::remove_file(path).map_err(|e| io(path, "remove", e))?;
    }
    Ok(())
}

/// The exit code and message of an engine's failure — the same for every engine.
///
/// A non-finite log-density that ends a run (no valid start, or a fit whose every step failed)
/// is the model's or the data's doing: 65, with a hint. A panic or a fatal density error is a
/// bug in bnnppl: 70. Unrunnable settings are a usage error (64) and an output that cannot be
/// written an I/O error (74).
pub fn engine_failure(e: EngineError) -> Failure {
    let code = match &e {
        EngineError::Init {
            reason: InitFailure::Density(source),
            ..
        }
        | EngineError::Density { source, .. } => {
            if source.is_recoverable() {
                EXIT_MODEL
            } else {
                EXIT_INTERNAL
            }
        }
        EngineError::Init { .. }
        | EngineError::Approximation { .. }
        | EngineError::NoPath { .. } => EXIT_MODEL,
        EngineError::Settings(_) => EXIT_USAGE,
        EngineError::Sink { .. } => EXIT_IO,
        EngineError::Internal { .. } => EXIT_INTERNAL,
    };
    let hint = match (&e, code) {
        (EngineError::Init { .. }, EXIT_MODEL) => "\n  = help: check the priors and the data for values that make the log-density infinite, or give --init",
        (EngineError::Approximation { .. }, _) => "\n  = help: use the Gauss-Newton matrix (--hessian full:ggn, diag:ggn or last-layer:ggn), positive semi-definite for likelihoods convex in their location, or a stronger prior on these parameters",
        (EngineError::NoPath { .. }, _) => "\n  = help: check the priors and the data for values that make the log-density infinite where the paths run",
        _ => "",
    };
    Failure {
        message: format!("error: {e}{hint}"),
        code,
    }
}

/// The process's interrupt flag, set by Ctrl-C; the handler is installed once. A second Ctrl-C
/// while the files are being closed exits at once.
pub fn interrupt_flag() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let handler = flag.clone();
        let _ = ctrlc::set_handler(move || {
            if handler.swap(true, Ordering::SeqCst) {
                std::process::exit(EXIT_INTERRUPTED);
            }
        });
        flag
    })
    .clone()
}

/// How a command asks for a run.
pub struct RunSpec<'a> {
    /// The posterior.
    pub posterior: &'a Posterior,
    /// The model file (its stem names the run) and data.
    pub model: &'a ModelArgs,
    /// `--output` and `--overwrite`: the directory is created once the settings have been
    /// checked.
    pub out: &'a OutputArgs,
    /// What is stored per draw.
    pub save: Save,
    /// The run's seed (for the predict block's draws).
    pub seed: u64,
    /// Which chains; `None` runs all of the engine's.
    pub chain_ids: Option<Vec<usize>>,
    /// Worker threads.
    pub threads: Option<usize>,
    /// Threads per chain for a large layer's matrix work; `None` chooses (see
    /// [`Posterior::auto_threads_per_chain`]).
    pub threads_per_chain: Option<usize>,
    /// No progress bars.
    pub quiet: bool,
}

/// A finished (or interrupted) run, as the commands report it.
pub struct Ran<X> {
    /// The output directory.
    pub dir: PathBuf,
    /// The named draws of every chain.
    pub draws: Draws,
    /// Each chain's [`Engine::Fit`].
    pub fits: Vec<X>,
    /// Each chain's file.
    pub files: Vec<PathBuf>,
    /// Leapfrog steps over all chains.
    pub gradients: u64,
    /// Wall-clock seconds of the run.
    pub seconds: f64,
    /// Whether Ctrl-C stopped it.
    pub interrupted: bool,
    /// The configuration lines written to every chain file (without `chain_id`).
    pub config: Vec<(String, String)>,
    /// Whether the draws form Markov chains ([`Engine::is_markov_chain`]).
    pub markov: bool,
}

/// Runs `engine` on the posterior through the CSV draws sink, with Ctrl-C and progress bars.
/// The settings are checked first (settings that cannot run create no output directory), then
/// the output directory must hold no other run's files.
pub fn run<E: Engine>(engine: &E, spec: RunSpec<'_>) -> Result<Ran<E::Fit>, Failure> {
    run_with(engine, spec, None)
}

/// [`run`], with the chains' resume points saved beside their files (`checkpoints`). A resumed
/// run (chains to append to) writes into the directory its resume prepared, whose files are its
/// own run's.
pub fn run_with<E: Engine>(
    engine: &E,
    spec: RunSpec<'_>,
    checkpoints: Option<Checkpoints>,
) -> Result<Ran<E::Fit>, Failure> {
    let every: Vec<usize> = (0..engine.chains()).collect();
    let chain_ids = spec.chain_ids.clone().unwrap_or_else(|| every.clone());
    let per_chain = spec.threads_per_chain.unwrap_or_else(|| {
        spec.posterior
            .auto_threads_per_chain(spec.threads, chain_ids.len())
    });
    let posterior = spec.posterior.with_threads_per_chain(per_chain);
    let spec = RunSpec {
        posterior: &posterior,
        ..spec
    };
    let post = spec.posterior;
    engine
        .check_settings(post.layout().dim(), post.n_rows())
        .map_err(engine_failure)?;
    if !engine.drops_units() {
        if let Some(warning) = dropout_identity(engine.name(), post.model()) {
            eprint!("{warning}");
        }
    }
    let out = output_dir(spec.model, spec.out)?;
    let config = run_config(&out.stem, engine, spec.posterior);
    if checkpoints.as_ref().is_none_or(|c| c.append.is_empty()) {
        clear_for_run(
            &out,
            &RunWrites {
                config: &config,
                chains: &chain_ids,
                every_chain: chain_ids == every,
            },
        )?;
    }
    let factory = CsvFactory {
        dir: out.path.clone(),
        posterior: spec.posterior.clone(),
        save: spec.save,
        seed: spec.seed,
        config: config.clone(),
        numbered_traces: engine.chains() > 1,
        checkpoints,
    };
    let bars = Progress::new(engine, &chain_ids, spec.quiet);
    let control = RunControl {
        threads: spec.threads,
        chain_ids: Some(chain_ids.clone()),
        interrupt: interrupt_flag(),
        progress: bars.hook(),
    };
    let started = std::time::Instant::now();
    let result = engine.run(spec.posterior, &factory, &control);
    bars.finish();
    let run = result.map_err(engine_failure)?;
    let seconds = started.elapsed().as_secs_f64();
    let interrupted = run.interrupted();
    let gradients = run.chains.iter().map(|c| c.n_leapfrog).sum();
    let files = chain_ids.iter().map(|&k| factory.path(k)).collect();
    let (chains, fits) = run
        .chains
        .into_iter()
        .map(|c| (c.sink.draws(), c.fit))
        .unzip();
    let (columns, _) = columns(spec.posterior, spec.save);
    Ok(Ran {
        dir: out.path,
        draws: Draws { columns, chains },
        fits,
        files,
        gradients,
        seconds,
        interrupted,
        config,
        markov: engine.is_markov_chain(),
    })
}

/// The warning a run prints once when its engine runs the model's dropout layers as the
/// identity (every engine but MC dropout); `None` for a model without dropout layers.
pub fn dropout_identity(engine: &str, model: &CheckedModel) -> Option<String> {
    let layers: Vec<String> = model
        .networks
        .iter()
        .flat_map(|n| {
            n.layers
                .iter()
                .filter(|l| matches!(l.kind, LayerKind::Dropout { .. }))
                .map(move |l| format!("{}.{}", n.name, l.label()))
        })
        .collect();
    let (first, rest) = layers.split_first()?;
    let which = if rest.is_empty() {
        format!("the dropout layer {first}")
    } else {
        format!("the dropout layers {}", layers.join(", "))
    };
    Some(format!(
        "warning: {engine} runs {which} as the identity: no unit is dropped\n  = help: \
         `bnnppl fit --method mc-dropout` trains and draws with dropout masks\n"
    ))
}

impl<X> Ran<X> {
    /// The summary of the draws (the printed table and summary.csv): sampler diagnostics only
    /// for Markov chains, weights of the networks in the configuration lines left out.
    pub fn summary(&self) -> (String, String) {
        report(&self.draws.report_input(&self.config, self.markov), false)
    }
}

/// Writes `body` to `dir/name`, or fails with exit 74.
pub fn write_file(dir: &Path, name: &str, body: &str) -> Result<(), Failure> {
    let path = dir.join(name);
    std::fs::write(&path, body).map_err(|e| Failure {
        message: format!("error: cannot write {}: {e}", path.display()),
        code: EXIT_IO,
    })
}

/// One progress bar per chain on standard error (hidden when it is not a terminal or --quiet):
/// draws for samplers, optimizer steps and the smoothed objective for fitting engines.
struct Progress {
    multi: Option<indicatif::MultiProgress>,
    bars: Vec<(usize, indicatif::ProgressBar)>,
    /// Whether the bars count a fitting engine's optimizer steps.
    fitting: bool,
}

impl Progress {
    fn new<E: Engine>(engine: &E, chains: &[usize], quiet: bool) -> Progress {
        if quiet {
            return Progress {
                multi: None,
                bars: Vec::new(),
                fitting: false,
            };
        }
        let multi = indicatif::MultiProgress::new();
        let fitting = engine.fit_steps() > 0;
        let (template, total) = if fitting {
            // Several members: the member number, then its step and objective.
            let member = if engine.chains() > 1 {
                " {prefix:>2}"
            } else {
                ""
            };
            (
                format!(
                    "{}{member} {{bar:30}} {{pos:>6}}/{{len}} {{msg}}",
                    engine.name()
                ),
                engine.fit_steps(),
            )
        } else {
            (
                "chain {prefix:>2} {bar:30} {pos:>5}/{len} {msg}".to_string(),
                engine.warmup() + engine.draws(),
            )
        };
        let style = indicatif::ProgressStyle::with_template(&template)
            .expect("internal: valid progress template");
        let bars = chains
            .iter()
            .map(|&k| {
                let b = multi.add(indicatif::ProgressBar::new(total as u64));
                b.set_style(style.clone());
                b.set_prefix((k + 1).to_string());
                if !fitting {
                    b.set_message("warmup");
                }
                (k, b)
            })
            .collect();
        Progress {
            multi: Some(multi),
            bars,
            fitting,
        }
    }

    fn hook(&self) -> Option<ProgressFn> {
        self.multi.as_ref()?;
        let bars = self.bars.clone();
        let fitting = self.fitting;
        Some(Arc::new(move |e: &ProgressEvent| {
            let Some((_, b)) = bars.iter().find(|(k, _)| *k == e.chain) else {
                return;
            };
            if fitting {
                // A fitting engine's bar counts optimizer steps; its draws are quick.
                if let Some(step) = e.fit {
                    b.set_position(step.step as u64);
                    // Formatting the message allocates; every 50 steps is enough for the eye.
                    if step.step % 50 == 1 {
                        let name = match step.objective {
                            "elbo" => "ELBO",
                            "log_density" => "log p",
                            other => other,
                        };
                        b.set_message(format!("{name} {:.2}", step.smoothed));
                    }
                }
                return;
            }
            b.set_position(e.draw as u64 + 1);
            let phase = match e.phase {
                Phase::Warmup | Phase::Fitting => "warmup",
                Phase::Sampling => "sampling",
            };
            if e.divergences > 0 {
                b.set_message(format!("{phase}, {} divergent", e.divergences));
            } else if e.draw == 0 || e.phase == Phase::Sampling && b.message() == "warmup" {
                b.set_message(phase);
            }
        }))
    }

    fn finish(&self) {
        for (_, b) in &self.bars {
            b.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    //! One mapping from engine failures to exit codes, checked on the failures each engine
    //! really produces (issue: a density failure exited 70 from `sample` and 65 from `svi`).

    use super::*;
    use crate::density::FnDensity;
    use crate::engine::{Hmc, Nuts, Svi, TraceFactory};

    fn nuts() -> Nuts {
        Nuts {
            chains: 1,
            warmup: 20,
            draws: 20,
            ..Nuts::default()
        }
    }
    fn hmc() -> Hmc {
        Hmc {
            chains: 1,
            warmup: 20,
            draws: 20,
            ..Hmc::default()
        }
    }
    fn svi() -> Svi {
        Svi {
            steps: 200,
            draws: 5,
            ..Svi::default()
        }
    }

    /// The exit code each engine's failure on `target` maps to.
    fn codes<F>(target: &FnDensity<F>) -> [i32; 3]
    where
        F: FnMut(&[f64], &mut [f64]) -> f64 + Clone + Send + Sync,
    {
        let control = RunControl::default();
        let sinks = TraceFactory::default();
        let code = |e: EngineError| engine_failure(e).code;
        [
            code(
                nuts()
                    .run(target, &sinks, &control)
                    .expect_err("nuts fails"),
            ),
            code(hmc().run(target, &sinks, &control).expect_err("hmc fails")),
            code(svi().run(target, &sinks, &control).expect_err("svi fails")),
        ]
    }

    #[test]
    fn a_panicking_density_is_an_internal_error_for_every_engine() {
        // Panics on the 5th evaluation: after a valid start, inside warmup or the fit.
        let panics_later = FnDensity::new(2, {
            let mut calls = 0;
            move |x: &[f64], g: &mut [f64]| {
                calls += 1;
                assert!(calls < 5, "a bug in the density");
                g.copy_from_slice(&[-x[0], -x[1]]);
                -0.5 * (x[0] * x[0] + x[1] * x[1])
            }
        });
        assert_eq!(codes(&panics_later), [EXIT_INTERNAL; 3]);
        let panics_at_once = FnDensity::new(2, |_: &[f64], _: &mut [f64]| -> f64 {
            panic!("a bug in the density")
        });
        assert_eq!(codes(&panics_at_once), [EXIT_INTERNAL; 3]);
    }

    #[test]
    fn a_density_never_finite_is_the_models_error_for_every_engine() {
        let never = FnDensity::new(2, |_: &[f64], g: &mut [f64]| {
            g.fill(0.0);
            f64::NAN
        });
        assert_eq!(codes(&never), [EXIT_MODEL; 3]);
        let e = nuts()
            .run(&never, &TraceFactory::default(), &RunControl::default())
            .expect_err("fails");
        assert!(engine_failure(e)
            .message
            .contains("= help: check the priors"));
    }

    #[test]
    fn a_fit_whose_every_step_fails_is_the_models_error() {
        // Finite at the start only: SVI's steps all fail, so it gives up (a density error
        // that is recoverable, i.e. the model's values, not a bug).
        let first_only = FnDensity::new(2, {
            let mut calls = 0;
            move |x: &[f64], g: &mut [f64]| {
                calls += 1;
                g.copy_from_slice(&[-x[0], -x[1]]);
                if calls == 1 {
                    0.0
                } else {
                    f64::NAN
                }
            }
        });
        let e = svi()
            .run(
                &first_only,
                &TraceFactory::default(),
                &RunControl::default(),
            )
            .expect_err("svi gives up");
        assert!(matches!(e, EngineError::Density { .. }), "{e}");
        assert_eq!(engine_failure(e).code, EXIT_MODEL);
    }

    #[test]
    fn bad_settings_are_a_usage_error_for_every_engine() {
        let target = FnDensity::new(1, |x: &[f64], g: &mut [f64]| {
            g[0] = -x[0];
            -0.5 * x[0] * x[0]
        });
        let control = RunControl::default();
        let sinks = TraceFactory::default();
        let bad_nuts = Nuts {
            target_accept: 1.5,
            ..nuts()
        };
        let bad_hmc = Hmc {
            n_leapfrog: 0,
            ..hmc()
        };
        let bad_svi = Svi {
            particles: 0,
            ..svi()
        };
        for e in [
            bad_nuts.run(&target, &sinks, &control).expect_err("bad"),
            bad_hmc.run(&target, &sinks, &control).expect_err("bad"),
            bad_svi.run(&target, &sinks, &control).expect_err("bad"),
        ] {
            assert_eq!(engine_failure(e).code, EXIT_USAGE);
        }
    }

    /// A sink whose disk is full.
    #[derive(Debug)]
    struct FullDisk;
    impl crate::engine::DrawSink for FullDisk {
        fn adaptation_done(
            &mut self,
            _: &crate::engine::Adaptation,
        ) -> Result<(), crate::engine::SinkError> {
            Ok(())
        }
        fn draw(
            &mut self,
            _: &[f64],
            _: &crate::engine::DrawStats,
        ) -> Result<(), crate::engine::SinkError> {
            Err(std::io::Error::other("no space left on device").into())
        }
    }
    struct FullDisks;
    impl crate::engine::SinkFactory for FullDisks {
        type Sink = FullDisk;
        fn sink(&self, _: usize, _: usize) -> Result<FullDisk, crate::engine::SinkError> {
            Ok(FullDisk)
        }
    }

    #[test]
    fn an_output_that_cannot_be_written_is_an_io_error_for_every_engine() {
        let target = FnDensity::new(1, |x: &[f64], g: &mut [f64]| {
            g[0] = -x[0];
            -0.5 * x[0] * x[0]
        });
        let control = RunControl::default();
        for e in [
            nuts().run(&target, &FullDisks, &control).expect_err("full"),
            hmc().run(&target, &FullDisks, &control).expect_err("full"),
            svi().run(&target, &FullDisks, &control).expect_err("full"),
        ] {
            assert_eq!(engine_failure(e).code, EXIT_IO);
        }
    }
}
