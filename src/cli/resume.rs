//! `bnnppl sample --resume DIR`: finishes an interrupted NUTS run from its chains' resume files —
//! finished chains left alone, a chain past its warmup continued from its last complete draw with
//! adaptation frozen, any other chain redone from its start — then rewrites the summary.

use super::check::{bind_posterior, load};
use super::run::{run_with, write_file, OutputArgs, RunSpec};
use super::sample::{model_fingerprint, sampler_init, SampleArgs};
use super::{Failure, Output, EXIT_INTERRUPTED, EXIT_IO};
use crate::draws::{
    columns, read_state, run_config, state_files, state_path, Checkpoints, ReadDraws, Save,
    StateFile, DATA_HASH,
};
use crate::engine::{ChainState, MassMatrix, Nuts, Resume};
use crate::posterior::Posterior;
use crate::stan_csv::read_stan_csv;
use std::path::{Path, PathBuf};

/// What resuming does with one chain.
#[derive(Debug)]
enum Plan {
    /// All its draws are written: left alone.
    Finished,
    /// Continued from this state; its file holds exactly the draws before it.
    Continue(ChainState),
    /// Run again from its start (its warmup did not finish, or nothing says where it stood).
    Redo,
}

/// The contents of the resume files in `dir`; refused when there are none.
fn resume_files(dir: &Path) -> Result<Vec<StateFile>, Failure> {
    let paths = state_files(dir)
        .map_err(|e| Failure::usage(format!("error: --resume {}: {e}", dir.display())))?;
    let mut files = Vec::new();
    for path in &paths {
        if let Some(file) = read_state(path).map_err(damaged)? {
            files.push(file);
        }
    }
    if files.is_empty() {
        return Err(Failure::usage(format!(
            "error: {} holds no resumable run: no chain_<k>.state.json\n  = help: `bnnppl sample` \
             (NUTS) saves a chain's resume point from the end of its warmup until it finishes; a \
             run whose chains all finished, or all stopped during warmup, has none",
            dir.display()
        )));
    }
    Ok(files)
}

fn damaged(message: String) -> Failure {
    Failure::usage(format!("error: {message}"))
}

/// The run's settings, from a resume file's configuration lines.
fn nuts_from(config: &[(String, String)], dir: &Path) -> Result<Nuts, Failure> {
    let value = |key: &str| {
        config
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| {
                damaged(format!(
                    "the resume files in {} have no '{key}' line",
                    dir.display()
                ))
            })
    };
    fn number<T: std::str::FromStr>(text: &str, key: &str) -> Result<T, Failure> {
        text.parse()
            .map_err(|_| damaged(format!("resume file: '{key}' is not a number: {text}")))
    }
    if value("engine")? != "nuts" {
        return Err(damaged(format!(
            "{} holds a {} run; only NUTS runs can be resumed",
            dir.display(),
            value("engine")?
        )));
    }
    Ok(Nuts {
        chains: number(value("chains")?, "chains")?,
        warmup: number(value("num_warmup")?, "num_warmup")?,
        draws: number(value("num_samples")?, "num_samples")?,
        max_depth: number(value("max_depth")?, "max_depth")?,
        target_accept: number(value("target_accept")?, "target_accept")?,
        mass_matrix: match value("metric")? {
            "diag_e" => MassMatrix::Diagonal,
            "low_rank" => MassMatrix::LowRank,
            other => return Err(damaged(format!("resume file: unknown metric '{other}'"))),
        },
        seed: number(value("seed")?, "seed")?,
        checkpoint_every: super::sample::CHECKPOINT_EVERY,
        ..Nuts::default()
    })
}

/// Cuts a chain file to its header, adaptation block and first `keep` draws (or all its whole
/// draws when `keep` is `None`): an unfinished last line and the closing timing block go. The
/// new text replaces the file through a temporary file.
fn cut_chain_file(path: &Path, text: &str, keep: Option<usize>) -> Result<(), Failure> {
    let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    let mut out = String::with_capacity(whole.len());
    let mut header_seen = false;
    let mut draws = 0;
    let mut after_draws = false;
    for line in whole.split_inclusive('\n') {
        let comment = line.starts_with('#');
        if !comment && !header_seen {
            header_seen = true;
        } else if !comment {
            if keep.is_some_and(|k| draws >= k) {
                break;
            }
            draws += 1;
            after_draws = false;
        } else if header_seen && (draws > 0 || line.starts_with("# \n")) {
            // Comments after the draws are the timing block (an interrupted chain's).
            after_draws = true;
        }
        if !after_draws {
            out.push_str(line);
        }
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let io = |e: std::io::Error| Failure {
        message: format!("error: cannot rewrite {}: {e}", path.display()),
        code: EXIT_IO,
    };
    std::fs::write(&tmp, out).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Decides what happens to chain `chain` and prepares its file for it.
fn plan_chain(
    dir: &Path,
    chain: usize,
    nuts: &Nuts,
    post: &Posterior,
    state: Option<&StateFile>,
) -> Result<Plan, Failure> {
    let path = dir.join(format!("chain_{}.csv", chain + 1));
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(Plan::Redo);
    };
    let csv = read_stan_csv(&text).map_err(|e| damaged(format!("{}: {e}", path.display())))?;
    let written = csv.n_rows();
    if written >= nuts.draws {
        return Ok(Plan::Finished);
    }
    let (Some(file), Some(_)) = (state, &csv.adaptation) else {
        return Ok(Plan::Redo);
    };
    let mut state = file.state.clone();
    let saved = state.next_draw.saturating_sub(nuts.warmup);
    if written == saved {
        cut_chain_file(&path, &text, None)?;
        return Ok(Plan::Continue(state));
    }
    // Draws made after the last resume point are in the file: continue from the last of them,
    // mapped back to θ, when the file stores the parameters; otherwise go back to the resume
    // point, dropping those draws.
    let last_theta = ReadDraws::from_files(std::slice::from_ref(&path))
        .ok()
        .and_then(|read| read.thetas(post.layout()).ok())
        .and_then(|thetas| thetas.into_iter().last());
    match last_theta {
        Some(theta) if written > 0 => {
            state.theta = theta;
            state.next_draw = nuts.warmup + written;
            cut_chain_file(&path, &text, None)?;
            Ok(Plan::Continue(state))
        }
        _ if written > saved => {
            cut_chain_file(&path, &text, Some(saved))?;
            Ok(Plan::Continue(state))
        }
        _ => Ok(Plan::Redo),
    }
}

/// Runs `sample --resume DIR`.
pub fn resume(args: &SampleArgs, dir: &Path) -> Result<Output, Failure> {
    let files = resume_files(dir)?;
    let first = &files[0];
    let without_id = |c: &[(String, String)]| -> Vec<(String, String)> {
        c.iter().filter(|(k, _)| k != "chain_id").cloned().collect()
    };
    let config = without_id(&first.config);
    if files.iter().any(|f| {
        without_id(&f.config) != config
            || f.model_hash != first.model_hash
            || f.chains != first.chains
    }) {
        return Err(damaged(format!(
            "the resume files in {} come from different runs",
            dir.display()
        )));
    }
    let model = load(&args.model)?;
    let model_hash = model_fingerprint(&args.model.model)?;
    if model_hash != first.model_hash {
        return Err(Failure::usage(format!(
            "error: {} is not the model the run in {} sampled: its source differs (model \
             fingerprint {model_hash}, the run's {})",
            args.model.model.display(),
            dir.display(),
            first.model_hash
        )));
    }
    let (post, warnings) = bind_posterior(&model, &args.model)?;
    eprint!("{warnings}");
    let run_hash = config
        .iter()
        .find(|(k, _)| k == DATA_HASH)
        .map_or("", |(_, v)| v.as_str());
    if post.data().fingerprint() != run_hash {
        return Err(Failure::usage(format!(
            "error: the data is not the data the run in {} sampled (data fingerprint {}, the \
             run's {})",
            dir.display(),
            post.data().fingerprint(),
            run_hash
        )));
    }
    let settings = nuts_from(&config, dir)?;
    let nuts = Nuts {
        init: sampler_init(&args.init, &post, settings.seed, settings.chains)?,
        ..settings
    };
    let stem = args
        .model
        .model
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "model".into());
    if run_config(&stem, &nuts, &post) != config {
        return Err(damaged(format!(
            "the run in {} was made by another bnnppl version or under another model name; \
             it cannot be resumed by this one",
            dir.display()
        )));
    }
    let chains: Vec<usize> = first.chains.iter().map(|k| k - 1).collect();
    let mut states: Vec<Option<ChainState>> = vec![None; nuts.chains];
    let (mut append, mut redo) = (Vec::new(), Vec::new());
    for &k in &chains {
        let file = files.iter().find(|f| {
            f.config
                .iter()
                .any(|(key, v)| key == "chain_id" && *v == (k + 1).to_string())
        });
        match plan_chain(dir, k, &nuts, &post, file)? {
            Plan::Finished => {}
            Plan::Continue(state) => {
                append.push(k);
                if let Some(slot) = states.get_mut(k) {
                    *slot = Some(state);
                }
            }
            Plan::Redo => redo.push(k),
        }
    }
    // What the run will write again goes first: redone chains' files, every resume file (the
    // chains that run save new ones), the summary.
    let io = |p: &Path, e: std::io::Error| Failure {
        message: format!("error: cannot remove {}: {e}", p.display()),
        code: EXIT_IO,
    };
    let mut stale: Vec<PathBuf> = redo
        .iter()
        .map(|&k| dir.join(format!("chain_{}.csv", k + 1)))
        .collect();
    stale.extend(chains.iter().map(|&k| state_path(dir, k)));
    stale.extend(["summary.csv", "summary.txt"].map(|n| dir.join(n)));
    for p in &stale {
        match std::fs::remove_file(p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(p, e)),
            _ => {}
        }
    }
    let mut running: Vec<usize> = append.iter().chain(&redo).copied().collect();
    running.sort_unstable();
    let save = if columns(&post, Save::All).0 == read_columns(dir, &chains) {
        Save::All
    } else {
        Save::PredictiveOnly
    };
    let mut interrupted = false;
    let mut text = String::new();
    if !running.is_empty() {
        let out = OutputArgs {
            output: Some(dir.to_path_buf()),
            overwrite: false,
        };
        let ran = run_with(
            &Resume { nuts, states },
            RunSpec {
                posterior: &post,
                model: &args.model,
                out: &out,
                save,
                seed: config_seed(&config),
                chain_ids: Some(running.clone()),
                threads: args.threads,
                threads_per_chain: None,
                quiet: args.quiet,
            },
            Some(Checkpoints {
                model_hash,
                chain_ids: chains.clone(),
                append: append.clone(),
            }),
        )?;
        interrupted = ran.interrupted;
        let names = |ks: &[usize]| -> String {
            ks.iter()
                .map(|k| (k + 1).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        text.push_str(&format!(
            "{} in {:.1} s ({} gradient evaluations): chains continued [{}], redone [{}]\n",
            if interrupted {
                "Interrupted"
            } else {
                "Resumed"
            },
            ran.seconds,
            ran.gradients,
            names(&append),
            names(&redo)
        ));
    } else {
        text.push_str("Every chain had finished; nothing to resume\n");
    }
    let read = ReadDraws::from_dir(dir).map_err(|e| damaged(e.to_string()))?;
    let (table, csv) = crate::summary::report(&read.report_input(), false);
    text.push('\n');
    text.push_str(&table);
    write_file(dir, "summary.csv", &csv)?;
    write_file(dir, "summary.txt", &table)?;
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

/// The run's seed, from its configuration lines (checked by [`nuts_from`] already).
fn config_seed(config: &[(String, String)]) -> u64 {
    config
        .iter()
        .find(|(k, _)| k == "seed")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_default()
}

/// The model columns of the first of `chains` whose file has a header.
fn read_columns(dir: &Path, chains: &[usize]) -> Vec<String> {
    chains
        .iter()
        .find_map(|&k| {
            let path = dir.join(format!("chain_{}.csv", k + 1));
            let file = std::fs::File::open(path).ok()?;
            let mut header = String::new();
            for line in std::io::BufRead::lines(std::io::BufReader::new(file)) {
                let line = line.ok()?;
                if !line.starts_with('#') {
                    header = line;
                    break;
                }
            }
            let columns: Vec<String> = header
                .split(',')
                .filter(|c| !c.ends_with("__"))
                .map(String::from)
                .collect();
            (!columns.is_empty()).then_some(columns)
        })
        .unwrap_or_default()
}
