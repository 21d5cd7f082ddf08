//! Named, constrained draws: θ expanded per draw into the model's quantities in CmdStan column
//! order, sinks that keep them in memory or write them as CmdStan CSV, and their summary.

use crate::engine::{Adaptation, DrawSink, DrawStats, SinkError, SinkFactory};
use crate::posterior::{Posterior, PosteriorEval};
use crate::stan_csv::{stan_column_names, SamplerStats, StanCsvWriter};
use crate::summary::{summarize, SummaryRow};
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;

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

/// A sink writing one chain as CmdStan CSV, draw by draw, and keeping the draws for the summary.
pub struct CsvSink {
    writer: StanCsvWriter<std::io::BufWriter<std::fs::File>>,
    memory: MemorySink,
    started: std::time::Instant,
    warmup_seconds: f64,
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
}

fn io(e: impl std::fmt::Display) -> SinkError {
    SinkError::Other(e.to_string())
}

impl DrawSink for CsvSink {
    fn adaptation_done(&mut self, adaptation: &Adaptation) -> Result<(), SinkError> {
        self.warmup_seconds = self.started.elapsed().as_secs_f64();
        self.writer
            .write_adaptation(adaptation.step_size, &adaptation.inv_mass)
            .map_err(io)?;
        self.memory.adaptation_done(adaptation)
    }
    fn draw(&mut self, theta: &[f64], stats: &DrawStats) -> Result<(), SinkError> {
        if stats.warmup {
            return Ok(());
        }
        self.memory.draw(theta, stats)?;
        let w = self.memory.row.len();
        let n = self.memory.draws.values.len();
        let row = &self.memory.draws.values[n - w..];
        self.writer
            .write_draw(&sampler_stats(stats), row)
            .map_err(io)
    }
    fn finish(&mut self) -> Result<(), SinkError> {
        let total = self.started.elapsed().as_secs_f64();
        self.writer
            .write_timing(self.warmup_seconds, total - self.warmup_seconds)
            .map_err(io)
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
    /// Configuration lines for the header (`# key = value`).
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
        let (names, _) = columns(&self.posterior, self.save);
        let file = std::fs::File::create(self.path(chain))?;
        let mut config = self.config.clone();
        config.push(("chain_id".into(), (chain + 1).to_string()));
        let writer =
            StanCsvWriter::new(std::io::BufWriter::new(file), &config, &names).map_err(io)?;
        Ok(CsvSink {
            writer,
            memory,
            started: std::time::Instant::now(),
            warmup_seconds: 0.0,
        })
    }
}

impl Posterior {
    /// Samples with any engine and returns the named draws (every parameter and predict
    /// quantity), all chains on all cores. `seed` drives the predict block's draws.
    pub fn sample_with<E: crate::engine::Engine>(
        &self,
        engine: &E,
        seed: u64,
    ) -> Result<Draws, crate::engine::EngineError> {
        let factory = MemoryFactory {
            posterior: self.clone(),
            save: Save::All,
            seed,
        };
        let report = engine.run(self, &factory, &crate::engine::RunControl::default())?;
        let (columns, _) = columns(self, Save::All);
        Ok(Draws {
            columns,
            chains: report.chains.into_iter().map(|c| c.sink.draws).collect(),
        })
    }

    /// Samples with NUTS and returns the named draws.
    pub fn sample(&self, nuts: &crate::engine::Nuts) -> Result<Draws, crate::engine::EngineError> {
        self.sample_with(nuts, nuts.seed)
    }
}
