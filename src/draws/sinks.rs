//! The one sink family every engine writes through: named draws kept in memory, or written as
//! CmdStan CSV with the run's configuration lines and a fitting engine's trace beside them.

use super::resume::{state_path, write_state, Checkpoints, StateFile};
use super::{columns, ChainDraws, Expander, Save};
use crate::engine::{
    Adaptation, ChainState, DrawSink, DrawStats, Engine, FitStep, FitSummary, SinkError,
    SinkFactory,
};
use crate::posterior::Posterior;
use crate::stan_csv::{format_f64, SamplerStats, StanCsvWriter};
use std::path::PathBuf;

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
/// The chain file is created when it is first written to — at the end of warmup or of a fit, or
/// at the first draw — so a fitting engine's results (the steps it ran) reach its configuration
/// lines, and a chain that fails before any of them leaves no file.
pub struct CsvSink {
    path: PathBuf,
    dir: PathBuf,
    chain: usize,
    numbered_traces: bool,
    config: Vec<(String, String)>,
    columns: Vec<String>,
    writer: Option<StanCsvWriter<std::io::BufWriter<std::fs::File>>>,
    /// The fit's trace file and its writer, once the first step arrived.
    trace: Option<std::io::BufWriter<std::fs::File>>,
    memory: MemorySink,
    started: std::time::Instant,
    /// Seconds until warmup (or the fit) ended.
    warmup_seconds: Option<f64>,
    /// The run's resume points, when it saves them.
    checkpoints: Option<Checkpoints>,
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
            let append = self
                .checkpoints
                .as_ref()
                .is_some_and(|c| c.append.contains(&self.chain));
            let writer = if append {
                let file = std::fs::OpenOptions::new().append(true).open(&self.path)?;
                StanCsvWriter::append(std::io::BufWriter::new(file), self.columns.len())
            } else {
                let file = std::fs::File::create(&self.path)?;
                StanCsvWriter::new(std::io::BufWriter::new(file), &self.config, &self.columns)
                    .map_err(io)?
            };
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
        // A chain that failed (or was stopped) before its warmup, its fit or its first draw
        // ended has nothing to keep: no file is left behind.
        if self.writer.is_none() && self.warmup_seconds.is_none() {
            return Ok(());
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
            let name = if self.numbered_traces {
                format!("{}_{}.csv", step.objective, self.chain + 1)
            } else {
                format!("{}.csv", step.objective)
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
    fn checkpoint(&mut self, state: Option<&ChainState>) -> Result<(), SinkError> {
        let Some(checkpoints) = &self.checkpoints else {
            return Ok(());
        };
        let path = state_path(&self.dir, self.chain);
        match state {
            // Every draw line is flushed as it is written, so the chain file already holds the
            // draws the state has made when the state reaches the disk.
            Some(state) => write_state(
                &path,
                &StateFile {
                    config: self.config.clone(),
                    model_hash: checkpoints.model_hash.clone(),
                    chains: checkpoints.chain_ids.iter().map(|k| k + 1).collect(),
                    state: state.clone(),
                },
            )?,
            // A complete chain has nothing to resume.
            None => match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            },
        }
        Ok(())
    }
}

/// The configuration key of the data's fingerprint.
pub const DATA_HASH: &str = "data_hash";

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
    /// Whether a fitting engine's trace files carry the chain number (`log_density_2.csv`):
    /// true when the engine runs several chains (ensemble members), false for one (`elbo.csv`).
    pub numbered_traces: bool,
    /// Where the chains' resume points go (`chain_<k>.state.json`), for a run that saves them.
    pub checkpoints: Option<Checkpoints>,
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
            numbered_traces: self.numbered_traces,
            config,
            columns,
            writer: None,
            trace: None,
            memory,
            started: std::time::Instant::now(),
            warmup_seconds: None,
            checkpoints: self.checkpoints.clone(),
        })
    }
}

/// The configuration lines of a run's output, the same frame for every engine: the model and
/// the fingerprint of its data ([`crate::data::BoundData::fingerprint`], so that chains run on
/// other data are not merged), the version and the engine's name, the engine's run settings,
/// the model's networks (whose weights `summary` leaves out), then the engine's tuning.
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
        (DATA_HASH.into(), posterior.data().fingerprint()),
        ("bnnppl_version".into(), env!("CARGO_PKG_VERSION").into()),
        ("engine".into(), engine.name().into()),
    ];
    config.extend(header.run);
    config.push(("networks".into(), networks.join(",")));
    config.extend(header.tuning);
    config
}
