//! The command line: argument parsing, one function per subcommand, and exit codes.
//!
//! Exit codes: 0 success; 64 usage error (bad flags, missing file argument); 65 the model or
//! its data is wrong (located errors were printed); 70 internal error (a bug in bnnppl).

mod bench;
mod check;
mod diagnose;
mod fit;
mod predict;
mod resume;
mod run;
mod sample;
mod summary;
mod svi;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Exit code for success.
pub const EXIT_OK: i32 = 0;
/// Exit code for a usage error.
pub const EXIT_USAGE: i32 = 64;
/// Exit code for an error in the model or its data.
pub const EXIT_MODEL: i32 = 65;
/// Exit code for an internal error.
pub const EXIT_INTERNAL: i32 = 70;
/// Exit code of `diagnose` when a gradient disagrees with its forward-mode reference, or with
/// finite differences where no kink explains it.
pub const EXIT_CHECK_FAILED: i32 = 1;
/// Exit code when an output file cannot be written.
pub const EXIT_IO: i32 = 74;
/// Exit code after Ctrl-C (the draws made so far are kept).
pub const EXIT_INTERRUPTED: i32 = 130;

const AFTER_HELP: &str = "\
Exit codes:
  0   success
  1   diagnose: a gradient disagrees with its reference or with finite differences
  64  usage error (unknown flag, missing argument, unreadable model file)
  65  the model or its data has errors (each printed with file:line:column)
  70  internal error in bnnppl (please report it)
  74  an output file could not be written
  130 interrupted by Ctrl-C (the draws made so far are kept in the output files)";

/// bnnppl: Bayesian neural networks from a `.bnn` model file.
#[derive(Debug, Parser)]
#[command(name = "bnnppl", version, about, after_help = AFTER_HELP, disable_help_subcommand = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse and check a model; list every parameter with its shape, constraint and prior.
    #[command(after_help = AFTER_HELP)]
    Check(ModelArgs),
    /// Draw from the posterior with NUTS (or static HMC); CmdStan CSV per chain and a summary.
    #[command(after_help = AFTER_HELP)]
    Sample(Box<sample::SampleArgs>),
    /// Fit a Gaussian guide by variational inference (SVI); writes the same files as sample.
    #[command(after_help = AFTER_HELP)]
    Svi(Box<svi::SviArgs>),
    /// Fit by optimization (--method): MAP, ensembles, SWAG, MC dropout or SVI; writes the same files as sample.
    #[command(after_help = AFTER_HELP)]
    Fit(Box<fit::FitArgs>),
    /// Trace and rank plots (SVG) of chosen quantities of a `sample` output directory.
    #[command(after_help = AFTER_HELP)]
    Plot(summary::PlotArgs),
    /// Summarize the draws of a `sample` output directory or of CmdStan CSV files.
    #[command(after_help = AFTER_HELP)]
    Summary(summary::SummaryArgs),
    /// Check the gradient at random points against its forward-mode reference and finite
    /// differences.
    #[command(after_help = AFTER_HELP)]
    Diagnose(diagnose::DiagnoseArgs),
    /// Posterior predictive on new inputs: per-row CSV, uncertainty split, metrics, plots.
    #[command(after_help = AFTER_HELP)]
    Predict(predict::PredictArgs),
    /// Rank candidate inputs by how much observing them would teach the model.
    #[command(after_help = AFTER_HELP)]
    Acquire(predict::AcquireArgs),
    /// Print a compiler stage of a model.
    #[command(after_help = AFTER_HELP)]
    Print {
        #[command(flatten)]
        model: ModelArgs,
        /// Which stage to print.
        #[arg(long, value_enum, default_value_t = Stage::Ir)]
        stage: Stage,
    },
    /// Time one log-density and one gradient at a fixed random point (use a release build).
    #[command(after_help = AFTER_HELP)]
    Bench(bench::BenchArgs),
}

/// A model file and its data.
#[derive(Debug, clap::Args)]
pub struct ModelArgs {
    /// The `.bnn` model file.
    pub model: PathBuf,
    /// Data file (JSON in CmdStan's layout, or CSV). Default: the `.json`, then `.csv`, beside
    /// the model with the same stem, if present.
    #[arg(long)]
    pub data: Option<PathBuf>,
}

/// A compiler stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Stage {
    /// The syntax tree, as parsed.
    Ast,
    /// The checked model: parameters, shapes, priors.
    Ir,
    /// The lowered program and θ layout (needs the data for sizes).
    Program,
}

/// A failure of a command, carrying what to print and the exit code.
#[derive(Debug)]
pub struct Failure {
    /// Text for standard error (already rendered).
    pub message: String,
    /// Process exit code.
    pub code: i32,
}

impl Failure {
    /// A model or data error (exit 65).
    pub fn model(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            code: EXIT_MODEL,
        }
    }
    /// A usage error (exit 64).
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            code: EXIT_USAGE,
        }
    }
}

/// Output of a successful command: text for stdout and for stderr (warnings).
#[derive(Debug, Default)]
pub struct Output {
    /// Standard output.
    pub stdout: String,
    /// Standard error (warnings, notes).
    pub stderr: String,
}

/// Runs the command line given as arguments (including the program name) and returns the exit
/// code, writing to the process's stdout and stderr.
pub fn main_with_args(args: Vec<String>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    EXIT_OK
                }
                _ => EXIT_USAGE,
            };
            let _ = e.print();
            return code;
        }
    };
    // A panic is a bug in bnnppl: report it as an internal error (exit 70), not a crash.
    let result = std::panic::catch_unwind(|| run(cli)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Err(Failure {
            message: format!(
                "internal error: bnnppl panicked ({what}); please report this with the model"
            ),
            code: EXIT_INTERNAL,
        })
    });
    match result {
        Ok(out) => {
            print!("{}", out.stdout);
            eprint!("{}", out.stderr);
            EXIT_OK
        }
        Err(f) => {
            eprint!("{}", f.message);
            if !f.message.ends_with('\n') {
                eprintln!();
            }
            f.code
        }
    }
}

/// Runs a parsed command.
pub fn run(cli: Cli) -> Result<Output, Failure> {
    match cli.command {
        Command::Check(m) => check::check(&m),
        Command::Print { model, stage } => check::print(&model, stage),
        Command::Diagnose(d) => diagnose::diagnose(&d),
        Command::Sample(s) => sample::sample(&s),
        Command::Summary(s) => summary::summary(&s),
        Command::Plot(p) => summary::plot(&p),
        Command::Bench(b) => bench::bench(&b),
        Command::Svi(s) => svi::svi(&s),
        Command::Fit(f) => fit::fit(&f),
        Command::Predict(p) => predict::predict(&p),
        Command::Acquire(a) => predict::acquire(&a),
    }
}
