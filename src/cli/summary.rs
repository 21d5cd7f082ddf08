//! `bnnppl summary` and `bnnppl plot`: read a run's chain files and print its report or draw
//! trace plots.

use super::{Failure, Output};
use crate::draws::{chain_files, ReadDraws, RunFilesError, Unfinished};
use crate::summary::{report, ReportInput};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Options of `summary`.
#[derive(Debug, clap::Args)]
pub struct SummaryArgs {
    /// An output directory of `sample` (its chain_*.csv files), or CSV files.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Print every column, network weights and all elements included.
    #[arg(long)]
    pub all: bool,
}

/// The exit code of a run-files error: 64 when nothing could be read, 65 when what was read
/// is not one run's CmdStan CSV.
fn run_files_failure(e: RunFilesError) -> Failure {
    let message = format!("error: {e}");
    match e {
        RunFilesError::Read { .. } | RunFilesError::NoChainFiles { .. } => Failure::usage(message),
        RunFilesError::Parse { .. }
        | RunFilesError::OtherRun { .. }
        | RunFilesError::OtherColumns { .. } => Failure::model(message),
    }
}

/// The chain files of a directory, failing as the CLI fails.
fn run_chain_files(dir: &Path) -> Result<Vec<PathBuf>, Failure> {
    chain_files(dir).map_err(run_files_failure)
}

/// The report input of chain files, failing as the CLI fails, and a warning line for every
/// unfinished last line skipped.
fn read_inputs(files: &[PathBuf]) -> Result<(ReportInput, String), Failure> {
    let read = ReadDraws::from_files(files).map_err(run_files_failure)?;
    Ok((read.report_input(), unfinished_warnings(&read.unfinished)))
}

/// `warning: …` for every unfinished last line skipped, one per line.
pub fn unfinished_warnings(unfinished: &[Unfinished]) -> String {
    unfinished
        .iter()
        .map(|u| format!("warning: {u}\n"))
        .collect()
}

/// `bnnppl summary`.
pub fn summary(args: &SummaryArgs) -> Result<Output, Failure> {
    let mut files = Vec::new();
    for p in &args.inputs {
        if p.is_dir() {
            files.extend(run_chain_files(p)?);
        } else {
            files.push(p.clone());
        }
    }
    let (input, warnings) = read_inputs(&files)?;
    let (text, _) = report(&input, args.all);
    Ok(Output {
        stdout: text,
        stderr: warnings,
    })
}

/// Options of `plot`.
#[derive(Debug, clap::Args)]
pub struct PlotArgs {
    /// An output directory of `sample` or `svi`.
    pub dir: PathBuf,
    /// The quantity to plot: a column name such as `sigma`, `mu.3` or `lp__`.
    #[arg(long, required = true)]
    pub trace: Vec<String>,
    /// Where to write the SVG (one quantity only); default DIR/trace_<name>.svg.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// `bnnppl plot`: trace and rank plots of chosen quantities.
pub fn plot(args: &PlotArgs) -> Result<Output, Failure> {
    let (input, warnings) = read_inputs(&run_chain_files(&args.dir)?)?;
    if args.output.is_some() && args.trace.len() > 1 {
        return Err(Failure::usage(
            "error: --output takes one --trace; leave it out for several",
        ));
    }
    let mut written = String::new();
    for name in &args.trace {
        let chains: Vec<Vec<f64>> = if name == "lp__" {
            input.chains.iter().map(|c| c.lp.clone()).collect()
        } else {
            let Some(j) = input.columns.iter().position(|c| c == name) else {
                let sugg =
                    crate::diagnostic::did_you_mean(name, input.columns.iter().map(String::as_str));
                return Err(Failure::usage(format!(
                    "error: no column '{name}' in {}{}",
                    args.dir.display(),
                    sugg.map(|s| format!("; did you mean '{s}'?"))
                        .unwrap_or_default()
                )));
            };
            input.chains.iter().map(|c| c.values[j].clone()).collect()
        };
        let path = args
            .output
            .clone()
            .unwrap_or_else(|| args.dir.join(format!("trace_{name}.svg")));
        crate::predict::trace::trace_and_rank(&path, name, &chains).map_err(|e| Failure {
            message: format!("error: {e}"),
            code: super::EXIT_IO,
        })?;
        let _ = writeln!(written, "wrote {}", path.display());
    }
    Ok(Output {
        stdout: written,
        stderr: warnings,
    })
}
