//! Reading a run's CmdStan CSV chain files (`chain_1.csv`, `chain_2.csv`, …) into a [`ReportInput`].

use super::{ChainColumns, ReportInput};
use crate::stan_csv::{read_stan_csv, ReadError, StanCsv, SAMPLER_COLUMNS};
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

/// The `chain_<k>.csv` files of a directory, by chain number `k`.
pub fn chain_files(dir: &Path) -> Result<Vec<PathBuf>, RunFilesError> {
    let mut files: Vec<(usize, PathBuf)> = std::fs::read_dir(dir)
        .map_err(|source| RunFilesError::Read {
            path: dir.to_path_buf(),
            source,
        })?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let k = name
                .strip_prefix("chain_")?
                .strip_suffix(".csv")?
                .parse()
                .ok()?;
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

/// Reads CmdStan CSV files, one chain each, into a report input; the run's settings (maximum
/// tree depth, engine, networks) come from the first file's configuration comments.
pub fn read_chain_files(files: &[PathBuf]) -> Result<ReportInput, RunFilesError> {
    let mut input = ReportInput::default();
    for path in files {
        let text = std::fs::read_to_string(path).map_err(|source| RunFilesError::Read {
            path: path.clone(),
            source,
        })?;
        let csv: StanCsv = read_stan_csv(&text).map_err(|source| RunFilesError::Parse {
            path: path.clone(),
            source,
        })?;
        let columns: Vec<String> = csv
            .columns
            .iter()
            .filter(|c| !SAMPLER_COLUMNS.contains(&c.as_str()))
            .cloned()
            .collect();
        if input.columns.is_empty() && input.chains.is_empty() {
            input.columns = columns.clone();
            input.max_depth = csv
                .config_value("max_depth")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            input.variational = csv.config_value("engine") == Some("svi");
            input.networks = csv
                .config_value("networks")
                .map(|v| {
                    v.split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
        } else if columns != input.columns {
            return Err(RunFilesError::OtherColumns {
                path: path.clone(),
                first: files[0].clone(),
            });
        }
        let col = |name: &str| csv.column(name).map(<[f64]>::to_vec).unwrap_or_default();
        input.chains.push(ChainColumns {
            lp: col("lp__"),
            divergent: col("divergent__").iter().map(|v| *v != 0.0).collect(),
            treedepth: col("treedepth__").iter().map(|v| *v as u32).collect(),
            energy: col("energy__"),
            values: columns.iter().map(|c| col(c)).collect(),
        });
    }
    Ok(input)
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
        let input = read_chain_files(&chain_files(&dir).unwrap()).unwrap();
        assert_eq!(input.columns, ["mu"]);
        assert_eq!(input.chains.len(), 3);
        assert_eq!(input.max_depth, 7);
        assert_eq!(input.chains[0].lp, [-1.0, -2.0]);
        assert_eq!(input.chains[0].treedepth, [3, 3]);
        std::fs::remove_dir_all(&dir).unwrap();
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
        let err = read_chain_files(&[a.clone(), b.clone()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{} has other columns than {}; summarize chains of one model run",
                b.display(),
                a.display()
            )
        );
        std::fs::write(&b, "mu,mu\n1,2\n").unwrap();
        let err = read_chain_files(std::slice::from_ref(&b)).unwrap_err();
        assert!(matches!(err, RunFilesError::Parse { .. }), "{err:?}");
        assert!(err
            .to_string()
            .starts_with(&format!("{}: line 1:", b.display())));
        let missing = dir.join("chain_3.csv");
        let err = read_chain_files(&[missing]).unwrap_err();
        assert!(matches!(err, RunFilesError::Read { .. }), "{err:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
