//! Named, constrained draws: θ expanded per draw into the model's quantities in CmdStan column
//! order, the one sink family every engine writes through (in memory, or CmdStan CSV with the
//! run's configuration lines), running any engine on a posterior, and the draws' summary.
//!
//! ```
//! use bnnppl::api::Model;
//! use bnnppl::engine::Svi;
//!
//! let model = Model::from_str("mean.bnn", r#"
//!     data { y: vector[N] }
//!     param { mu: real }
//!     prior { mu ~ normal(0, 10) }
//!     likelihood { y ~ normal(mu, 1) }
//! "#)?;
//! let posterior = model.bind_json(r#"{"N": 4, "y": [1.0, 2.0, 3.0, 2.0]}"#)?;
//! // SVI is an engine like NUTS: the same call returns draws from the fitted guide.
//! let svi = Svi { steps: 2000, lr: 0.05, draws: 500, ..Svi::default() };
//! let run = posterior.run(&svi, 1)?;
//! let mu = run.draws.summary().into_iter().find(|r| r.name == "mu").unwrap();
//! assert!((mu.mean - 2.0).abs() < 0.2, "{}", mu.mean);
//! assert_eq!(run.fits[0].trace.len(), 2000);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::engine::svi::ElboPoint;
use crate::engine::{
    run_one, Adaptation, DrawSink, DrawStats, Engine, EngineError, FitStep, FitSummary, GuideDraws,
    Nuts, ProgressEvent, RunControl, SinkError, SinkFactory, Stop, Svi, SviResult, TraceFactory,
};
use crate::posterior::{Posterior, PosteriorEval};
use crate::stan_csv::{format_f64, stan_column_names, SamplerStats, StanCsvWriter};
use crate::summary::{summarize, SummaryRow};
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

/// Which quantities are stored per draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Save {
    /// Every constrained parameter and every predict quantity.
    #[default]
    All,
    /// Only the predict quantities (for big networks, whose weights are not worth storing).
    PredictiveOnly,
}

/// Turns θ into the stored quantities of one draw, in CmdStan column order.
#[derive(Debug)]
pub struct Expander {
    eval: PosteriorEval,
    rng: ChaCha8Rng,
    /// Row-major output buffer, as the outputs program writes it.
    buf: Vec<f64>,
    /// For each stored column, its index in `buf`.
    perm: Vec<usize>,
}

/// Mixed into the seed of the predict block's draws (an arbitrary odd constant).
const PREDICT_STREAM_SALT: u64 = 0x9e37_79b9_7f4a_7c15;

/// The RNG stream of chain `chain`'s predict-block draws: separate from the sampler's stream
/// so storing predictions never changes the draws of θ.
pub fn predict_rng(seed: u64, chain: usize) -> ChaCha8Rng {
    crate::engine::rng::chain_rng(seed ^ PREDICT_STREAM_SALT, chain)
}

/// Column names of the stored quantities (CmdStan's `name.i.j`, column-major), and for each the
/// index into the row-major output buffer.
pub fn columns(post: &Posterior, save: Save) -> (Vec<String>, Vec<usize>) {
    let n_params = post.layout().params.len();
    let mut names = Vec::new();
    let mut perm = Vec::new();
    let mut offset = 0;
    for (k, (name, dims)) in post.output_shapes().into_iter().enumerate() {
        let len: usize = dims.iter().product();
        let keep = save == Save::All || k >= n_params;
        if keep {
            names.extend(stan_column_names(&name, &dims));
            // CmdStan writes containers column-major (first index fastest); our buffer is
            // row-major, so element (i, j) of an r × c matrix sits at i·c + j.
            match dims.len() {
                0 | 1 => perm.extend(offset..offset + len),
                _ => {
                    let (r, c) = (dims[0], dims[1]);
                    for j in 0..c {
                        for i in 0..r {
                            perm.push(offset + i * c + j);
                        }
                    }
                }
            }
        }
        offset += len;
    }
    (names, perm)
}

impl Expander {
    /// An expander for chain `chain` with the run's seed.
    pub fn new(post: &Posterior, save: Save, seed: u64, chain: usize) -> Expander {
        let (_, perm) = columns(post, save);
        Expander {
            eval: post.evaluator(),
            rng: predict_rng(seed, chain),
            buf: vec![0.0; post.output_len()],
            perm,
        }
    }

    /// Number of stored values per draw.
    pub fn width(&self) -> usize {
        self.perm.len()
    }

    /// Writes the stored values of θ into `out` (length [`Expander::width`]).
    pub fn expand(&mut self, theta: &[f64], out: &mut [f64]) {
        // Outputs are computed forward only; a non-finite value shows up as nan in the draw.
        let _ = self.eval.outputs(theta, &mut self.rng, &mut self.buf);
        for (o, &i) in out.iter_mut().zip(&self.perm) {
            *o = self.buf[i];
        }
    }
}

fn sampler_stats(s: &DrawStats) -> SamplerStats {
    SamplerStats {
        lp: s.lp,
        accept_stat: s.accept_stat,
        stepsize: s.step_size,
        treedepth: s.tree_depth,
        n_leapfrog: s.n_leapfrog as u32,
        divergent: s.divergent,
        energy: s.energy,
    }
}

/// One chain's stored draws, in memory.
#[derive(Debug, Clone, Default)]
pub struct ChainDraws {
    /// Chain id (0-based).
    pub chain: usize,
    /// Sampler statistics per sampling draw.
    pub stats: Vec<DrawStats>,
    /// Stored values, row-major: draw i is `values[i * width..(i + 1) * width]`.
    pub values: Vec<f64>,
    /// Adaptation results, once warmup ended.
    pub adaptation: Option<Adaptation>,
}

/// Named draws of every chain.
#[derive(Debug, Clone, Default)]
pub struct Draws {
    /// Column names (`sigma`, `beta.1`, `f.0.weight.2.1`, `mu.17`).
    pub columns: Vec<String>,
    /// One entry per chain, in chain-id order.
    pub chains: Vec<ChainDraws>,
}

impl Draws {
    /// The draws of column `name`, one vector per chain.
    pub fn column(&self, name: &str) -> Option<Vec<Vec<f64>>> {
        let j = self.columns.iter().position(|c| c == name)?;
        let w = self.columns.len();
        Some(
            self.chains
                .iter()
                .map(|c| c.values.iter().skip(j).step_by(w.max(1)).copied().collect())
                .collect(),
        )
    }

    /// `lp__` per chain.
    pub fn lp(&self) -> Vec<Vec<f64>> {
        self.chains
            .iter()
            .map(|c| c.stats.iter().map(|s| s.lp).collect())
            .collect()
    }

    /// Summary rows: `lp__` first, then every column.
    pub fn summary(&self) -> Vec<SummaryRow> {
        let mut rows = vec![summarize("lp__", &self.lp())];
        for name in &self.columns {
            if let Some(c) = self.column(name) {
                rows.push(summarize(name, &c));
            }
        }
        rows
    }
}

/// A sink keeping one chain's named draws in memory.
#[derive(Debug)]
pub struct MemorySink {
    expander: Expander,
    row: Vec<f64>,
    /// The draws so far.
    pub draws: ChainDraws,
}

impl DrawSink for MemorySink {
    fn adaptation_done(&mut self, adaptation: &Adaptation) -> Result<(), SinkError> {
        self.draws.adaptation = Some(adaptation.clone());
        Ok(())
    }
    fn draw(&mut self, theta: &[f64], stats: &DrawStats) -> Result<(), SinkError> {
        if stats.warmup {
            return Ok(());
        }
        self.expander.expand(theta, &mut self.row);
        self.draws.values.extend_from_slice(&self.row);
        self.draws.stats.push(*stats);
        Ok(())
    }
}

/// Makes [`MemorySink`]s.
#[derive(Debug)]
pub struct MemoryFactory {
    /// The posterior.
    pub posterior: Posterior,
    /// What to store.
    pub save: Save,
    /// The run's seed (for the predict block's draws).
    pub seed: u64,
}

impl SinkFactory for MemoryFactory {
    type Sink = MemorySink;
    fn sink(&self, chain: usize, _dim: usize) -> Result<MemorySink, SinkError> {
        let expander = Expander::new(&self.posterior, self.save, self.seed, chain);
        let w = expander.width();
        Ok(MemorySink {
            expander,
            row: vec![0.0; w],
            draws: ChainDraws {
                chain,
                ..ChainDraws::default()
            },
        })
    }
}

/// A sink writing one chain as CmdStan CSV, draw by draw, and keeping the draws for the summary;
/// a fitting engine's optimizer steps go to a trace file beside it.
///
/// The chain file is created when it is first written to — at the end of warmup, at the first
/// draw, or when the chain finishes — so a fitting engine's results (the steps it ran) reach its
/// configuration lines.
pub struct CsvSink {
    path: PathBuf,
    dir: PathBuf,
    chain: usize,
    config: Vec<(String, String)>,
    columns: Vec<String>,
    writer: Option<StanCsvWriter<std::io::BufWriter<std::fs::File>>>,
    /// The fit's trace file and its writer, once the first step arrived.
    trace: Option<std::io::BufWriter<std::fs::File>>,
    memory: MemorySink,
    started: std::time::Instant,
    /// Seconds until warmup (or the fit) ended.
    warmup_seconds: Option<f64>,
}

impl std::fmt::Debug for CsvSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvSink")
            .field("chain", &self.memory.draws.chain)
            .finish()
    }
}

impl CsvSink {
    /// The draws kept in memory.
    pub fn draws(self) -> ChainDraws {
        self.memory.draws
    }

    /// The chain file's writer, creating the file with its header on first use.
    fn writer(
        &mut self,
    ) -> Result<&mut StanCsvWriter<std::io::BufWriter<std::fs::File>>, SinkError> {
        if self.writer.is_none() {
            let file = std::fs::File::create(&self.path)?;
            let writer =
                StanCsvWriter::new(std::io::BufWriter::new(file), &self.config, &self.columns)
                    .map_err(io)?;
            self.writer = Some(writer);
        }
        Ok(self
            .writer
            .as_mut()
            .expect("internal: writer created above"))
    }

    /// Marks the end of warmup (or of the fit) for the timing block, once.
    fn warmup_ended(&mut self) {
        if self.warmup_seconds.is_none() {
            self.warmup_seconds = Some(self.started.elapsed().as_secs_f64());
        }
    }
}

fn io(e: impl std::fmt::Display) -> SinkError {
    SinkError::Other(e.to_string())
}

impl DrawSink for CsvSink {
    fn adaptation_done(&mut self, adaptation: &Adaptation) -> Result<(), SinkError> {
        self.warmup_ended();
        self.writer()?
            .write_adaptation(adaptation.step_size, &adaptation.inv_mass)
            .map_err(io)?;
        self.memory.adaptation_done(adaptation)
    }
    fn draw(&mut self, theta: &[f64], stats: &DrawStats) -> Result<(), SinkError> {
        if stats.warmup {
            return Ok(());
        }
        self.warmup_ended();
        self.memory.draw(theta, stats)?;
        self.writer()?;
        let w = self.memory.row.len();
        let n = self.memory.draws.values.len();
        let row = &self.memory.draws.values[n - w..];
        self.writer
            .as_mut()
            .expect("internal: writer created above")
            .write_draw(&sampler_stats(stats), row)
            .map_err(io)
    }
    fn finish(&mut self) -> Result<(), SinkError> {
        if let Some(trace) = &mut self.trace {
            std::io::Write::flush(trace)?;
        }
        let total = self.started.elapsed().as_secs_f64();
        let warmup = self.warmup_seconds.unwrap_or(total);
        self.writer()?
            .write_timing(warmup, total - warmup)
            .map_err(io)
    }
    fn fit_step(&mut self, step: &FitStep) -> Result<(), SinkError> {
        use std::io::Write as _;
        if self.trace.is_none() {
            let name = match self.chain {
                0 => format!("{}.csv", step.objective),
                k => format!("{}_{}.csv", step.objective, k + 1),
            };
            let mut file = std::io::BufWriter::new(std::fs::File::create(self.dir.join(name))?);
            writeln!(file, "step,{},smoothed", step.objective)?;
            self.trace = Some(file);
        }
        let file = self.trace.as_mut().expect("internal: trace created above");
        writeln!(
            file,
            "{},{},{}",
            step.step,
            format_f64(step.value),
            format_f64(step.smoothed)
        )?;
        Ok(())
    }
    fn fit_done(&mut self, fit: &FitSummary) -> Result<(), SinkError> {
        self.warmup_ended();
        if let Some((_, steps)) = self.config.iter_mut().find(|(k, _)| k == "steps") {
            *steps = fit.steps.to_string();
        }
        Ok(())
    }
}

/// Makes [`CsvSink`]s writing `DIR/chain_<k>.csv` (k = chain id + 1, as CmdStan numbers chains).
#[derive(Debug)]
pub struct CsvFactory {
    /// Where the files go.
    pub dir: PathBuf,
    /// The posterior.
    pub posterior: Posterior,
    /// What to store.
    pub save: Save,
    /// The run's seed.
    pub seed: u64,
    /// Configuration lines for the header (`# key = value`), as [`run_config`] makes them; the
    /// sink appends `chain_id`, and a fitting engine's sink sets `steps` to the steps it ran.
    pub config: Vec<(String, String)>,
}

impl CsvFactory {
    /// The file of chain `chain` (0-based id).
    pub fn path(&self, chain: usize) -> PathBuf {
        self.dir.join(format!("chain_{}.csv", chain + 1))
    }
}

impl SinkFactory for CsvFactory {
    type Sink = CsvSink;
    fn sink(&self, chain: usize, dim: usize) -> Result<CsvSink, SinkError> {
        let memory = MemoryFactory {
            posterior: self.posterior.clone(),
            save: self.save,
            seed: self.seed,
        }
        .sink(chain, dim)?;
        let (columns, _) = columns(&self.posterior, self.save);
        let mut config = self.config.clone();
        config.push(("chain_id".into(), (chain + 1).to_string()));
        Ok(CsvSink {
            path: self.path(chain),
            dir: self.dir.clone(),
            chain,
            config,
            columns,
            writer: None,
            trace: None,
            memory,
            started: std::time::Instant::now(),
            warmup_seconds: None,
        })
    }
}

/// The configuration lines of a run's output, the same frame for every engine: the model,
/// the version and the engine's name, the engine's run settings, the model's networks (whose
/// weights `summary` leaves out), then the engine's tuning.
pub fn run_config<E: Engine>(
    model: &str,
    engine: &E,
    posterior: &Posterior,
) -> Vec<(String, String)> {
    let header = engine.header();
    let networks: Vec<&str> = posterior
        .model()
        .networks
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    let mut config: Vec<(String, String)> = vec![
        ("model".into(), model.into()),
        ("bnnppl_version".into(), env!("CARGO_PKG_VERSION").into()),
        ("engine".into(), engine.name().into()),
    ];
    config.extend(header.run);
    config.push(("networks".into(), networks.join(",")));
    config.extend(header.tuning);
    config
}

/// A run's named draws and what each chain's engine left besides them ([`Engine::Fit`]).
#[derive(Debug, Clone)]
pub struct Run<X> {
    /// The draws of every chain.
    pub draws: Draws,
    /// One per chain, in chain-id order.
    pub fits: Vec<X>,
}

impl Posterior {
    /// Runs any engine (all chains on all cores) and returns the named draws (every parameter
    /// and predict quantity) with each chain's [`Engine::Fit`]. `seed` drives the predict
    /// block's draws.
    pub fn run<E: Engine>(&self, engine: &E, seed: u64) -> Result<Run<E::Fit>, EngineError> {
        let factory = MemoryFactory {
            posterior: self.clone(),
            save: Save::All,
            seed,
        };
        let report = engine.run(self, &factory, &RunControl::default())?;
        let (columns, _) = columns(self, Save::All);
        let (chains, fits) = report
            .chains
            .into_iter()
            .map(|c| (c.sink.draws, c.fit))
            .unzip();
        Ok(Run {
            draws: Draws { columns, chains },
            fits,
        })
    }

    /// Samples with any engine and returns the named draws; see [`Posterior::run`].
    pub fn sample_with<E: Engine>(&self, engine: &E, seed: u64) -> Result<Draws, EngineError> {
        Ok(self.run(engine, seed)?.draws)
    }

    /// Samples with NUTS and returns the named draws.
    pub fn sample(&self, nuts: &Nuts) -> Result<Draws, EngineError> {
        self.sample_with(nuts, nuts.seed)
    }

    /// Fits a Gaussian guide by SVI with these settings (no draws are made; see
    /// [`SviFit::draws`]).
    pub fn fit_svi(&self, svi: &Svi) -> Result<SviFit, EngineError> {
        self.fit_svi_with(svi, &mut |_| true)
    }

    /// Fits a Gaussian guide as chain 0 of an [`Engine::run`] would, calling `on_step` after
    /// every step (return false to stop).
    pub fn fit_svi_with(
        &self,
        svi: &Svi,
        on_step: &mut dyn FnMut(&ElboPoint) -> bool,
    ) -> Result<SviFit, EngineError> {
        let fit_only = Svi {
            draws: 0,
            ..svi.clone()
        };
        let interrupt = AtomicBool::new(false);
        let abort = AtomicBool::new(false);
        let hook = std::cell::RefCell::new(on_step);
        let progress = |e: &ProgressEvent| {
            if let Some(step) = e.fit {
                let point = ElboPoint {
                    step: step.step,
                    elbo: step.value,
                    smoothed: step.smoothed,
                };
                if !(hook.borrow_mut())(&point) {
                    interrupt.store(true, Ordering::Relaxed);
                }
            }
        };
        let sink = TraceFactory::default()
            .sink(0, self.layout().dim())
            .map_err(|source| EngineError::Sink { chain: 0, source })?;
        let stop = Stop {
            interrupt: &interrupt,
            abort: &abort,
        };
        let report = run_one(&fit_only, self, sink, 0, stop, Some(&progress))?;
        Ok(SviFit {
            posterior: self.clone(),
            settings: svi.clone(),
            result: report.fit,
        })
    }
}

/// A guide fitted to a posterior.
#[derive(Debug, Clone)]
pub struct SviFit {
    /// The posterior the guide approximates.
    pub posterior: Posterior,
    /// The settings of the fit.
    pub settings: Svi,
    /// The fitted guide, ELBO trace and counts.
    pub result: SviResult,
}

impl SviFit {
    /// `n` draws from the guide as named draws (one chain; sampler statistics other than
    /// `lp` are 0), as [`GuideDraws`] makes them: `seed` drives θ (the stream an SVI run with
    /// that seed draws from) and the predict block's draws.
    pub fn draws(&self, n: usize, seed: u64) -> Draws {
        let engine = GuideDraws {
            guide: self.result.guide.clone(),
            draws: n,
            seed,
        };
        self.posterior
            .sample_with(&engine, seed)
            .expect("internal: the guide was fitted to this posterior")
    }
}
