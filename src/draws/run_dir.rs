//! The files a run leaves in its output directory: which names are a run's, and which of them stand in the way of a new run there.

use super::read::chain_number;
use super::resume::state_number;
use crate::stan_csv::read_stan_csv_config;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};

/// Files a run, or a command reading it, writes into a run's directory under a fixed name:
/// the summary (`sample`, `svi`, `fit`), the fitted guide (`svi`), how the fits ended
/// (`fit`), and `predict`'s default outputs.
const FIXED_NAMES: [&str; 6] = [
    "summary.csv",
    "summary.txt",
    "guide.json",
    "fit.json",
    "predictions.csv",
    "predictions.metrics.json",
];

/// What a new run will write into its output directory.
#[derive(Debug, Clone, Copy)]
pub struct RunWrites<'a> {
    /// Its configuration lines, as [`super::run_config`] makes them (without `chain_id`).
    pub config: &'a [(String, String)],
    /// The chains it writes (0-based ids).
    pub chains: &'a [usize],
    /// Whether those are all of its engine's chains; false for chains run on their own
    /// (`--chain-id`), whose sibling chains of the same run may already be there.
    pub every_chain: bool,
}

/// The files an earlier run left in `dir` that a new run must not mix with, chain files by
/// number first, then the rest by name.
///
/// A run's files are its `chain_<k>.csv`, `summary.csv`, `summary.txt`, `guide.json`,
/// `fit.json` or a lone member's `fit_<k>.json`, a fitting engine's trace (`<objective>.csv`
/// or `<objective>_<k>.csv`, known by its header line `step,<objective>,smoothed`), and what
/// `predict` and `plot` write beside them by default (`predictions.csv`,
/// `predictions.metrics.json`, `trace_<name>.svg`), and an interrupted chain's resume file
/// (`chain_<k>.state.json`). Every one of them stands in the way of a
/// run writing every chain. A run writing some chains (members) only leaves alone the other
/// chains' files of its own run: chain files whose configuration lines equal its own but for
/// `chain_id`, and the other members' numbered traces and `fit_<k>.json`. Other files (the
/// user's) are never a run's.
pub fn earlier_run_files(dir: &Path, new: &RunWrites<'_>) -> std::io::Result<Vec<PathBuf>> {
    let mut chains: Vec<(usize, PathBuf)> = Vec::new();
    let mut others: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().to_string();
        let path = entry.path();
        if let Some(k) = chain_number(&name) {
            let sibling = !new.every_chain
                && k >= 1
                && !new.chains.contains(&(k - 1))
                && same_run(&path, new.config);
            if !sibling {
                chains.push((k, path));
            }
        } else if let Some(k) = state_number(&name) {
            // A chain's resume point: a sibling's when that chain file is one.
            let sibling = !new.every_chain
                && k >= 1
                && !new.chains.contains(&(k - 1))
                && same_run(&dir.join(format!("chain_{k}.csv")), new.config);
            if !sibling {
                others.push(path);
            }
        } else if let Some(k) = member_file(&path, &name) {
            // One member's own file (`log_density_3.csv`, `fit_3.json`): a sibling when this
            // run writes some members only and not that one.
            let sibling = !new.every_chain && k >= 1 && !new.chains.contains(&(k - 1));
            if !sibling {
                others.push(path);
            }
        } else if FIXED_NAMES.contains(&name.as_str())
            || (name.starts_with("trace_") && name.ends_with(".svg"))
            || is_fit_trace(&path, &name)
        {
            others.push(path);
        }
    }
    chains.sort();
    others.sort();
    Ok(chains.into_iter().map(|(_, p)| p).chain(others).collect())
}

/// Whether the chain file's configuration lines are `config` plus its `chain_id`; a file that
/// cannot be read is not known to be of the same run.
fn same_run(path: &Path, config: &[(String, String)]) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    match read_stan_csv_config(std::io::BufReader::new(file)) {
        Ok(lines) => lines
            .into_iter()
            .filter(|(k, _)| k != "chain_id")
            .eq(config.iter().cloned()),
        Err(_) => false,
    }
}

/// The member (chain) number of a file one chain of a fitting engine writes beside its chain
/// file: its numbered trace `<objective>_<k>.csv`, or `fit_<k>.json` of a member fitted alone.
fn member_file(path: &Path, name: &str) -> Option<usize> {
    if let Some(k) = name
        .strip_prefix("fit_")
        .and_then(|r| r.strip_suffix(".json"))
    {
        return k.parse().ok();
    }
    let stem = name.strip_suffix(".csv")?;
    let (_, k) = stem.rsplit_once('_')?;
    let k: usize = k.parse().ok()?;
    is_fit_trace(path, name).then_some(k)
}

/// Whether `name` is a fitting engine's trace: `<objective>.csv` or `<objective>_<k>.csv`
/// whose first line is `step,<objective>,smoothed`, as the CSV sink writes it.
fn is_fit_trace(path: &Path, name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".csv") else {
        return false;
    };
    let objective = match stem.rsplit_once('_') {
        Some((head, k)) if !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()) => head,
        _ => stem,
    };
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let mut first = String::new();
    if std::io::BufReader::new(file).read_line(&mut first).is_err() {
        return false;
    }
    first.trim_end() == format!("step,{objective},smoothed")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("bnnppl-run-dir-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("tmp");
        d
    }

    fn config(seed: &str) -> Vec<(String, String)> {
        vec![
            ("model".to_string(), "m".to_string()),
            ("seed".to_string(), seed.to_string()),
        ]
    }

    fn chain_file(seed: &str, k: usize) -> String {
        format!("# model = m\n# seed = {seed}\n# chain_id = {k}\nlp__,mu\n-1,0.5\n")
    }

    fn names(files: &[PathBuf]) -> Vec<String> {
        files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
            .collect()
    }

    #[test]
    fn every_file_of_a_run_stands_in_the_way_of_a_full_run() {
        let d = dir("full");
        for k in [1, 2, 10] {
            std::fs::write(d.join(format!("chain_{k}.csv")), chain_file("1", k)).unwrap();
        }
        for name in FIXED_NAMES {
            std::fs::write(d.join(name), "x").unwrap();
        }
        std::fs::write(d.join("elbo.csv"), "step,elbo,smoothed\n1,-3,-3\n").unwrap();
        std::fs::write(d.join("loss_2.csv"), "step,loss,smoothed\n").unwrap();
        std::fs::write(d.join("trace_mu.svg"), "<svg/>").unwrap();
        // The user's own files are not a run's, whatever their extension.
        std::fs::write(d.join("notes.csv"), "a,b\n").unwrap();
        std::fs::write(d.join("notes.txt"), "a").unwrap();
        std::fs::create_dir_all(d.join("chain_3.csv")).unwrap();
        let config = config("1");
        let new = RunWrites {
            config: &config,
            chains: &[0, 1],
            every_chain: true,
        };
        let found = earlier_run_files(&d, &new).unwrap();
        assert_eq!(
            names(&found),
            [
                "chain_1.csv",
                "chain_2.csv",
                "chain_10.csv",
                "elbo.csv",
                "fit.json",
                "guide.json",
                "loss_2.csv",
                "predictions.csv",
                "predictions.metrics.json",
                "summary.csv",
                "summary.txt",
                "trace_mu.svg",
            ]
        );
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn a_chain_run_on_its_own_keeps_its_siblings_of_the_same_run() {
        let d = dir("siblings");
        std::fs::write(d.join("chain_1.csv"), chain_file("1", 1)).unwrap();
        std::fs::write(d.join("chain_3.csv"), chain_file("9", 3)).unwrap();
        let config = config("1");
        // Chain 2 of seed 1: chain 1 is its sibling; chain 3 was run with another seed.
        let new = RunWrites {
            config: &config,
            chains: &[1],
            every_chain: false,
        };
        assert_eq!(
            names(&earlier_run_files(&d, &new).unwrap()),
            ["chain_3.csv"]
        );
        // Chain 1 again: its own file stands in the way.
        let again = RunWrites {
            chains: &[0],
            ..new
        };
        assert_eq!(
            names(&earlier_run_files(&d, &again).unwrap()),
            ["chain_1.csv", "chain_3.csv"]
        );
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn a_lone_member_leaves_its_siblings_files_alone() {
        // Members of one ensemble fitted as separate processes into one directory: member 2
        // must not be refused by member 1's trace and fit_1.json, but is by its own.
        let d = dir("members");
        let trace = "step,log_density,smoothed\n1,-3,-3\n";
        for k in [1, 2] {
            std::fs::write(d.join(format!("log_density_{k}.csv")), trace).unwrap();
            std::fs::write(d.join(format!("fit_{k}.json")), "{}").unwrap();
        }
        let config = config("1");
        let new = RunWrites {
            config: &config,
            chains: &[1],
            every_chain: false,
        };
        let found = earlier_run_files(&d, &new).unwrap();
        assert_eq!(names(&found), ["fit_2.json", "log_density_2.csv"]);
        std::fs::remove_dir_all(&d).ok();
    }
}
