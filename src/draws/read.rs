//! A run's chain files read back as named draws, and those draws mapped back to θ through the
//! parameter layout (what `predict` evaluates).

use super::{ChainDraws, Draws};
use crate::engine::DrawStats;
use crate::lower::{ParamLayout, UnconstrainError};
use crate::stan_csv::{read_stan_csv, SAMPLER_COLUMNS};
use crate::summary::{chain_files, RunFilesError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Why draws could not be read back, or mapped back to θ.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DrawsError {
    /// The chain files could not be listed, read or parsed, or are not of one run.
    #[error(transparent)]
    Files(#[from] RunFilesError),
    /// A parameter column is absent (the run did not save parameters).
    #[error("{} has no column '{column}'", path.display())]
    MissingColumn {
        /// The chain file.
        path: PathBuf,
        /// The column name.
        column: String,
    },
    /// A stored value lies outside its parameter's constraint.
    #[error("{}: value {value} of '{column}' lies outside its constraint", path.display())]
    OutOfSupport {
        /// The chain file.
        path: PathBuf,
        /// The column name.
        column: String,
        /// The value.
        value: f64,
    },
}

/// Draws read back from a run's CmdStan CSV chain files, with the file of each chain.
#[derive(Debug, Clone)]
pub struct ReadDraws {
    /// The named draws, one chain per file, in file order.
    pub draws: Draws,
    /// The file of each chain.
    pub files: Vec<PathBuf>,
}

impl ReadDraws {
    /// Reads the `chain_*.csv` files of a run's output directory, by chain number.
    pub fn from_dir(dir: &Path) -> Result<ReadDraws, RunFilesError> {
        ReadDraws::from_files(&chain_files(dir)?)
    }

    /// Reads CmdStan CSV files, one chain each; every file must have the first one's columns.
    pub fn from_files(files: &[PathBuf]) -> Result<ReadDraws, RunFilesError> {
        let mut draws = Draws::default();
        for (k, path) in files.iter().enumerate() {
            let text = std::fs::read_to_string(path).map_err(|source| RunFilesError::Read {
                path: path.clone(),
                source,
            })?;
            let csv = read_stan_csv(&text).map_err(|source| RunFilesError::Parse {
                path: path.clone(),
                source,
            })?;
            let columns: Vec<String> = csv
                .columns
                .iter()
                .filter(|c| !SAMPLER_COLUMNS.contains(&c.as_str()))
                .cloned()
                .collect();
            if k == 0 {
                draws.columns = columns.clone();
            } else if columns != draws.columns {
                return Err(RunFilesError::OtherColumns {
                    path: path.clone(),
                    first: files[0].clone(),
                });
            }
            let n = csv.values.first().map_or(0, Vec::len);
            let stat = |name: &str, d: usize| csv.column(name).map_or(0.0, |c| c[d]);
            let cols: Vec<&[f64]> = columns
                .iter()
                .map(|c| csv.column(c).expect("internal: a column of this file"))
                .collect();
            let mut chain = ChainDraws {
                chain: k,
                ..ChainDraws::default()
            };
            for d in 0..n {
                chain.stats.push(DrawStats {
                    lp: stat("lp__", d),
                    accept_stat: stat("accept_stat__", d),
                    step_size: stat("stepsize__", d),
                    tree_depth: stat("treedepth__", d) as u32,
                    n_leapfrog: stat("n_leapfrog__", d) as u64,
                    divergent: stat("divergent__", d) != 0.0,
                    energy: stat("energy__", d),
                    warmup: false,
                });
                chain.values.extend(cols.iter().map(|c| c[d]));
            }
            draws.chains.push(chain);
        }
        Ok(ReadDraws {
            draws,
            files: files.to_vec(),
        })
    }

    /// θ of every draw, chains concatenated in file order, each mapped back through `layout`
    /// from the parameters' stored (constrained) columns.
    pub fn thetas(&self, layout: &ParamLayout) -> Result<Vec<Vec<f64>>, DrawsError> {
        let index: HashMap<&str, usize> = self
            .draws
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i))
            .collect();
        let width = self.draws.columns.len();
        let mut thetas = Vec::new();
        for (chain, path) in self.draws.chains.iter().zip(&self.files) {
            // The stored column of every element of θ, in θ order.
            let mut source = Vec::with_capacity(layout.dim());
            for p in &layout.params {
                for m in 0..p.len() {
                    let column = p.column_name(m);
                    let &c =
                        index
                            .get(column.as_str())
                            .ok_or_else(|| DrawsError::MissingColumn {
                                path: path.clone(),
                                column: column.clone(),
                            })?;
                    source.push(c);
                }
            }
            for row in chain.values.chunks(width.max(1)).take(chain.stats.len()) {
                let mut theta = vec![0.0; layout.dim()];
                layout
                    .unconstrain_into(&mut theta, |p, out| {
                        for (m, o) in out.iter_mut().enumerate() {
                            *o = row[source[p.offset + m]];
                        }
                        Ok(())
                    })
                    .map_err(|e| match e {
                        UnconstrainError::OutOfSupport {
                            param,
                            index,
                            value,
                            ..
                        } => {
                            let p = layout.params.iter().find(|p| p.name == param);
                            DrawsError::OutOfSupport {
                                path: path.clone(),
                                column: p.map_or(param, |p| p.column_name(index)),
                                value,
                            }
                        }
                        other => unreachable!("internal: every column was found ({other})"),
                    })?;
                thetas.push(theta);
            }
        }
        Ok(thetas)
    }
}
