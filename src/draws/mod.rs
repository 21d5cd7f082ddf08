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

mod read;
mod resume;
mod run;
mod run_dir;
mod sinks;

pub use read::{
    chain_files, DrawsError, ReadDraws, RunDifference, RunFilesError, ThetaError, Unfinished,
};
pub use resume::{read_state, state_files, state_path, write_state, Checkpoints, StateFile};
pub use run::{Run, SviFit};
pub use run_dir::{earlier_run_files, RunWrites};
pub use sinks::{run_config, CsvFactory, CsvSink, MemoryFactory, MemorySink, DATA_HASH};

use crate::engine::{Adaptation, DrawStats};
use crate::posterior::{OutputEval, Posterior};
use crate::stan_csv::stan_column_names;
use crate::summary::{summarize, ChainColumns, ReportInput, SummaryRow};
use rand_chacha::ChaCha8Rng;

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
    eval: OutputEval,
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
            eval: post.output_evaluator(),
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

impl Draws {
    /// What [`crate::summary::report`] needs of these draws, for a run with these
    /// configuration lines (its `networks`, whose weights the table leaves out, and its
    /// `max_depth`); `markov` says whether the chains have sampler diagnostics to report, and
    /// for those that do not, the configuration's `method` says what the draws are.
    pub fn report_input(&self, config: &[(String, String)], markov: bool) -> ReportInput {
        let value = |key: &str| {
            config
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let width = self.columns.len();
        ReportInput {
            columns: self.columns.clone(),
            chains: self
                .chains
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
            max_depth: value("max_depth").and_then(|v| v.parse().ok()).unwrap_or(0),
            networks: value("networks")
                .map(|v| {
                    v.split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            method: (!markov).then(|| value("method").unwrap_or("variational").to_string()),
        }
    }
}
