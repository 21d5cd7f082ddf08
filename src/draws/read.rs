//! A run's CmdStan CSV chain files (`chain_1.csv`, `chain_2.csv`, …) read back as named draws
//! with the run's configuration lines — what `summary`, `plot` and `predict` read — and named
//! draws, read back or in memory, mapped back to θ through the parameter layout.

use super::sinks::DATA_HASH;
use super::{ChainDraws, Draws};
use crate::engine::DrawStats;
use crate::lower::{ParamLayout, UnconstrainError};
use crate::stan_csv::{read_stan_csv, ReadError, SAMPLER_COLUMNS};
use crate::summary::ReportInput;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Why a run's chain files could not be read; the message is the one printed after `error: `.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunFilesError {
    /// A file or directory could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A file is not a CmdStan CSV file.
    #[error("{}: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where and why the CSV is malformed.
        source: ReadError,
    },
    /// A directory holds no `chain_*.csv` files.
    #[error("no chain_*.csv files in {}", dir.display())]
    NoChainFiles {
        /// The directory.
        dir: PathBuf,
    },
    /// A file's configuration lines say it comes from another model, or from other data, than
    /// the first file: the chains are not of one run.
    #[error(
        "{} is not of the same run as {}: {difference}; summarize chains of one model on one data set",
        path.display(),
        first.display()
    )]
    OtherRun {
        /// The file that differs.
        path: PathBuf,
        /// The first file.
        first: PathBuf,
        /// What differs.
        difference: RunDifference,
    },
    /// A file's quantities differ from the first file's: the chains are not of one run.
    #[error(
        "{} has other columns than {}; summarize chains of one model run",
        path.display(),
        first.display()
    )]
    OtherColumns {
        /// The file that differs.
        path: PathBuf,
        /// The first file, whose columns the others must have.
        first: PathBuf,
    },
}

/// Which configuration line says two chain files come from different runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunDifference {
    /// The `model` line: the file's model, and the first file's.
    #[error("its model is '{this}', not '{first}'")]
    Model {
        /// The first file's model.
        first: String,
        /// This file's model.
        this: String,
    },
    /// The `data_hash` line: the file's data fingerprint, and the first file's.
    #[error("its data differ (data_hash {this}, not {first})")]
    Data {
        /// The first file's fingerprint.
        first: String,
        /// This file's fingerprint.
        this: String,
    },
}

impl RunDifference {
    /// How `this` file's configuration lines differ from the `first` file's in the model or the
    /// data, if they do. A line only one of them has (CmdStan's files, bnnppl's before data
    /// fingerprints) is not compared.
    pub fn between(first: &[(String, String)], this: &[(String, String)]) -> Option<Self> {
        let value = |config: &[(String, String)], key: &str| {
            config
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let differs = |key: &str| match (value(first, key), value(this, key)) {
            (Some(a), Some(b)) if a != b => Some((a, b)),
            _ => None,
        };
        if let Some((first, this)) = differs("model") {
            return Some(RunDifference::Model { first, this });
        }
        differs(DATA_HASH).map(|(first, this)| RunDifference::Data { first, this })
    }
}

/// The chain number `k` of a file named `chain_<k>.csv`.
pub(super) fn chain_number(name: &str) -> Option<usize> {
    name.strip_prefix("chain_")?
        .strip_suffix(".csv")?
        .parse()
        .ok()
}

/// The `chain_<k>.csv` files of a directory, by chain number `k`.
pub fn chain_files(dir: &Path) -> Result<Vec<PathBuf>, RunFilesError> {
    let mut files: Vec<(usize, PathBuf)> = std::fs::read_dir(dir)
        .map_err(|source| RunFilesError::Read {
            path: dir.to_path_buf(),
            source,
        })?
        .flatten()
        .filter_map(|e| {
            let k = chain_number(&e.file_name().to_string_lossy())?;
            Some((k, e.path()))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(RunFilesError::NoChainFiles {
            dir: dir.to_path_buf(),
        });
    }
    Ok(files.into_iter().map(|(_, p)| p).collect())
}

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

/// A chain file's last line that was being written when the run was stopped (no line break):
/// skipped, so the chain ends at its last whole draw.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: line {line} is unfinished (the run was stopped while writing it) and is skipped; the chain ends at its last whole draw", path.display())]
pub struct Unfinished {
    /// The chain file.
    pub path: PathBuf,
    /// The 1-based line skipped.
    pub line: usize,
}

/// Draws read back from a run's CmdStan CSV chain files, with the file of each chain.
#[derive(Debug, Clone)]
pub struct ReadDraws {
    /// The named draws, one chain per file, in file order.
    pub draws: Draws,
    /// The file of each chain.
    pub files: Vec<PathBuf>,
    /// The first file's configuration lines (the run's settings).
    pub config: Vec<(String, String)>,
    /// The unfinished last lines skipped, for the caller to warn about.
    pub unfinished: Vec<Unfinished>,
}

impl ReadDraws {
    /// Reads the `chain_*.csv` files of a run's output directory, by chain number.
    pub fn from_dir(dir: &Path) -> Result<ReadDraws, RunFilesError> {
        ReadDraws::from_files(&chain_files(dir)?)
    }

    /// Reads CmdStan CSV files, one chain each; every file must be of the first one's model and
    /// data (by their configuration lines) and have its columns.
    pub fn from_files(files: &[PathBuf]) -> Result<ReadDraws, RunFilesError> {
        let mut draws = Draws::default();
        let mut config = Vec::new();
        let mut unfinished = Vec::new();
        for (k, path) in files.iter().enumerate() {
            let text = std::fs::read_to_string(path).map_err(|source| RunFilesError::Read {
                path: path.clone(),
                source,
            })?;
            let csv = read_stan_csv(&text).map_err(|source| RunFilesError::Parse {
                path: path.clone(),
                source,
            })?;
            if let Some(line) = csv.unfinished_line {
                unfinished.push(Unfinished {
                    path: path.clone(),
                    line,
                });
            }
            let columns: Vec<String> = csv
                .columns
                .iter()
                .filter(|c| !SAMPLER_COLUMNS.contains(&c.as_str()))
                .cloned()
                .collect();
            if k == 0 {
                draws.columns = columns.clone();
                config = csv.config.clone();
            } else if let Some(difference) = RunDifference::between(&config, &csv.config) {
                return Err(RunFilesError::OtherRun {
                    path: path.clone(),
                    first: files[0].clone(),
                    difference,
                });
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
            config,
            unfinished,
        })
    }

    /// What the report needs of the run, its settings from the first file's configuration
    /// lines: the networks whose weights it leaves out, the maximum tree depth, and — from a
    /// `method` line, which every engine whose draws are not a Markov chain writes — what the
    /// draws are (no sampler diagnostics for those).
    pub fn report_input(&self) -> ReportInput {
        let markov = !self.config.iter().any(|(k, _)| k == "method");
        self.draws.report_input(&self.config, markov)
    }

    /// θ of every draw, chains concatenated in file order, each mapped back through `layout`
    /// from the parameters' stored (constrained) columns.
    pub fn thetas(&self, layout: &ParamLayout) -> Result<Vec<Vec<f64>>, DrawsError> {
        self.draws.thetas(layout).map_err(|e| match e {
            ThetaError::MissingColumn { chain, column } => DrawsError::MissingColumn {
                path: self.files[chain].clone(),
                column,
            },
            ThetaError::OutOfSupport {
                chain,
                column,
                value,
            } => DrawsError::OutOfSupport {
                path: self.files[chain].clone(),
                column,
                value,
            },
        })
    }
}

/// Why named draws could not be mapped back to θ; `chain` is the position in
/// [`Draws::chains`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ThetaError {
    /// A parameter column is absent (the run did not save parameters).
    #[error("the draws of chain {} have no column '{column}'", chain + 1)]
    MissingColumn {
        /// Position of the chain.
        chain: usize,
        /// The column name.
        column: String,
    },
    /// A stored value lies outside its parameter's constraint.
    #[error("chain {}: value {value} of '{column}' lies outside its constraint", chain + 1)]
    OutOfSupport {
        /// Position of the chain.
        chain: usize,
        /// The column name.
        column: String,
        /// The value.
        value: f64,
    },
}

impl Draws {
    /// θ of every draw (every row of the stored values), chains concatenated in order, each
    /// mapped back through `layout` from the parameters' stored (constrained) columns, found by
    /// their CmdStan names; the sampler statistics are not needed.
    pub fn thetas(&self, layout: &ParamLayout) -> Result<Vec<Vec<f64>>, ThetaError> {
        let index: HashMap<&str, usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i))
            .collect();
        let width = self.columns.len();
        let mut thetas = Vec::new();
        for (k, chain) in self.chains.iter().enumerate() {
            // The stored column of every element of θ, in θ order.
            let mut source = Vec::with_capacity(layout.dim());
            for p in &layout.params {
                for m in 0..p.len() {
                    let column = p.column_name(m);
                    let &c =
                        index
                            .get(column.as_str())
                            .ok_or_else(|| ThetaError::MissingColumn {
                                chain: k,
                                column: column.clone(),
                            })?;
                    source.push(c);
                }
            }
            for row in chain.values.chunks_exact(width.max(1)) {
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
                            ThetaError::OutOfSupport {
                                chain: k,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh, empty directory under the system's temporary directory.
    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("bnnppl-run-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        dir
    }

    /// A two-draw chain with the sampler columns and the quantities `names`.
    fn chain_csv(names: &[&str]) -> String {
        let header = ["lp__", "divergent__", "treedepth__", "energy__"]
            .iter()
            .chain(names)
            .copied()
            .collect::<Vec<_>>()
            .join(",");
        let row = |lp: f64| {
            let mut r = format!("{lp},0,3,{}", -lp);
            for _ in names {
                r.push_str(",0.5");
            }
            r
        };
        format!("# max_depth = 7\n{header}\n{}\n{}\n", row(-1.0), row(-2.0))
    }

    #[test]
    fn chain_files_sort_by_chain_number_not_by_name() {
        let dir = scratch("order");
        for k in [10, 2, 1] {
            std::fs::write(dir.join(format!("chain_{k}.csv")), chain_csv(&["mu"])).unwrap();
        }
        std::fs::write(dir.join("summary.csv"), "not a chain").unwrap();
        let names: Vec<String> = chain_files(&dir)
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        // As strings "chain_10.csv" < "chain_2.csv"; by number 2 < 10.
        assert_eq!(names, ["chain_1.csv", "chain_2.csv", "chain_10.csv"]);
        let input = ReadDraws::from_dir(&dir).unwrap().report_input();
        assert_eq!(input.columns, ["mu"]);
        assert_eq!(input.chains.len(), 3);
        assert_eq!(input.max_depth, 7);
        assert_eq!(input.chains[0].lp, [-1.0, -2.0]);
        assert_eq!(input.chains[0].treedepth, [3, 3]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn draws_in_memory_map_back_to_theta_by_column_name() {
        let model = crate::api::Model::from_str(
            "m.bnn",
            "data { y: vector[N] }
             param { sigma: real<lower=0>  beta: matrix[2, 2] }
             prior { sigma ~ normal(0, 1)  beta ~ normal(0, 1) }
             likelihood { y ~ normal(sum(beta[:, 1]), sigma) }",
        )
        .unwrap();
        let post = model.bind_json(r#"{"y": [0.5]}"#).unwrap();
        let layout = post.layout();
        // Columns in any order, with a quantity θ does not use; beta.1.2 is beta[0, 1].
        let columns = [
            "beta.2.2", "mu", "beta.1.2", "sigma", "beta.2.1", "beta.1.1",
        ];
        let draws = |values: Vec<f64>| Draws {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            chains: vec![ChainDraws {
                values,
                ..ChainDraws::default()
            }],
        };
        let two = draws(vec![
            22.0,
            9.0,
            12.0,
            1.0,
            21.0,
            11.0, //
            -22.0,
            9.0,
            -12.0,
            std::f64::consts::E,
            -21.0,
            -11.0,
        ]);
        // θ is [log sigma, beta row-major]: log 1 = 0 and log e = 1 for sigma > 0.
        assert_eq!(
            two.thetas(layout).unwrap(),
            [
                vec![0.0, 11.0, 12.0, 21.0, 22.0],
                vec![1.0, -11.0, -12.0, -21.0, -22.0]
            ]
        );
        let negative = draws(vec![22.0, 9.0, 12.0, -1.0, 21.0, 11.0]);
        assert_eq!(
            negative.thetas(layout).unwrap_err().to_string(),
            "chain 1: value -1 of 'sigma' lies outside its constraint"
        );
        let mut missing = draws(vec![0.0; 6]);
        missing.columns[0] = "beta.3.3".into();
        assert_eq!(
            missing.thetas(layout).unwrap_err().to_string(),
            "the draws of chain 1 have no column 'beta.2.2'"
        );
    }

    #[test]
    fn errors_name_the_file_and_say_what_is_wrong() {
        let dir = scratch("errors");
        let err = chain_files(&dir).unwrap_err();
        assert!(matches!(err, RunFilesError::NoChainFiles { .. }));
        assert_eq!(
            err.to_string(),
            format!("no chain_*.csv files in {}", dir.display())
        );
        let (a, b) = (dir.join("chain_1.csv"), dir.join("chain_2.csv"));
        std::fs::write(&a, chain_csv(&["mu"])).unwrap();
        std::fs::write(&b, chain_csv(&["sigma"])).unwrap();
        let err = ReadDraws::from_files(&[a.clone(), b.clone()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{} has other columns than {}; summarize chains of one model run",
                b.display(),
                a.display()
            )
        );
        std::fs::write(&b, "mu,mu\n1,2\n").unwrap();
        let err = ReadDraws::from_files(std::slice::from_ref(&b)).unwrap_err();
        assert!(matches!(err, RunFilesError::Parse { .. }), "{err:?}");
        assert!(err
            .to_string()
            .starts_with(&format!("{}: line 1:", b.display())));
        let missing = dir.join("chain_3.csv");
        let err = ReadDraws::from_files(&[missing]).unwrap_err();
        assert!(matches!(err, RunFilesError::Read { .. }), "{err:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
