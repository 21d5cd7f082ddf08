//! `bnnppl summary` and the report printed after sampling: a table led by `lp__`, declared
//! parameters and predictions (network weights are not identifiable), sampler diagnostics and
//! CmdStan-style warnings; plus the full table as `summary.csv`.

use super::{Failure, Output};
use crate::stan_csv::{format_f64, read_stan_csv, StanCsv};
use crate::summary::{
    convergence_warnings, render_table, sampler_diagnostics, summarize, ChainSamplerStats,
    SummaryRow, Thresholds,
};
use std::fmt::Write as _;
use std::path::PathBuf;

/// Elements of one quantity shown in the printed table before it is abbreviated.
const SHOWN_ELEMENTS: usize = 10;

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

/// One chain's columns, as the report needs them.
#[derive(Debug, Clone, Default)]
pub struct ChainColumns {
    /// `lp__` per draw.
    pub lp: Vec<f64>,
    /// `divergent__`.
    pub divergent: Vec<bool>,
    /// `treedepth__`.
    pub treedepth: Vec<u32>,
    /// `energy__`.
    pub energy: Vec<f64>,
    /// Stored columns, one vector per column.
    pub values: Vec<Vec<f64>>,
}

/// Everything a report is made from.
#[derive(Debug, Clone, Default)]
pub struct ReportInput {
    /// Column names (without the sampler columns).
    pub columns: Vec<String>,
    /// Per chain.
    pub chains: Vec<ChainColumns>,
    /// Maximum tree depth of the run (0 when unknown, e.g. static HMC).
    pub max_depth: u32,
    /// Names of the model's networks (their weights lead with `NAME.`).
    pub networks: Vec<String>,
    /// True for draws from a variational guide: there are no sampler diagnostics to report.
    pub variational: bool,
}

/// The printed report and the full summary CSV.
pub fn report(input: &ReportInput, show_all: bool) -> (String, String) {
    let n_chains = input.chains.len();
    let min_len = input.chains.iter().map(|c| c.lp.len()).min().unwrap_or(0);
    let take = |v: &Vec<f64>| v[..min_len].to_vec();
    let mut rows: Vec<SummaryRow> = Vec::new();
    let lp: Vec<Vec<f64>> = input.chains.iter().map(|c| take(&c.lp)).collect();
    rows.push(summarize("lp__", &lp));
    for (j, name) in input.columns.iter().enumerate() {
        let chains: Vec<Vec<f64>> = input.chains.iter().map(|c| take(&c.values[j])).collect();
        rows.push(summarize(name, &chains));
    }
    let is_weight = |name: &str| {
        input
            .networks
            .iter()
            .any(|n| name.starts_with(&format!("{n}.")))
    };
    // The printed table: lp__, parameters that are not network weights, predictions; long
    // vectors abbreviated.
    let mut shown = Vec::new();
    let mut hidden_weights = 0usize;
    let mut abbreviated: Vec<(String, usize)> = Vec::new();
    let mut count_by_base: std::collections::HashMap<String, usize> = Default::default();
    for r in &rows {
        if !show_all && is_weight(&r.name) {
            hidden_weights += 1;
            continue;
        }
        let base = r.name.split('.').next().unwrap_or(&r.name).to_string();
        let k = count_by_base.entry(base.clone()).or_insert(0);
        *k += 1;
        if !show_all && *k > SHOWN_ELEMENTS {
            match abbreviated.iter_mut().find(|(b, _)| *b == base) {
                Some((_, n)) => *n += 1,
                None => abbreviated.push((base, 1)),
            }
            continue;
        }
        shown.push(r.clone());
    }
    let mut out = String::new();
    let draws = min_len * n_chains;
    let _ = writeln!(
        out,
        "{n_chains} chain(s) × {min_len} draws = {draws} draws\n"
    );
    out.push_str(&render_table(&shown));
    for (base, n) in &abbreviated {
        let _ = writeln!(
            out,
            "  … and {n} more elements of {base} (see summary.csv, or --all)"
        );
    }
    if hidden_weights > 0 {
        let _ = writeln!(
            out,
            "\n{hidden_weights} network weights are left out: they are not identifiable (sign and permutation\n\
             symmetries make their R-hat and ESS meaningless). Judge convergence by lp__ and the\n\
             predictions; every column is in summary.csv (or use --all)."
        );
    }
    if input.variational {
        let _ = writeln!(
            out,
            "\nDraws from a variational guide are independent draws from the fitted guide: there are\n\
             no divergences, tree depths or E-BFMI to report, and R-hat/ESS describe the guide, not\n\
             how well it fits the posterior."
        );
        return (out, summary_csv(&rows));
    }
    let stats: Vec<ChainSamplerStats<'_>> = input
        .chains
        .iter()
        .map(|c| ChainSamplerStats {
            divergent: &c.divergent[..min_len],
            treedepth: &c.treedepth[..min_len],
            energy: &c.energy[..min_len],
        })
        .collect();
    let diag = sampler_diagnostics(&stats, input.max_depth);
    let _ = writeln!(
        out,
        "\nDivergences: {} of {draws}. Tree depth at its maximum ({}): {} of {draws}.",
        diag.divergences(),
        input.max_depth,
        diag.max_depth_hits()
    );
    let ebfmi: Vec<String> = diag
        .chains
        .iter()
        .map(|c| format!("{:.2}", c.ebfmi))
        .collect();
    let _ = writeln!(out, "E-BFMI per chain: {}", ebfmi.join(", "));
    let t = Thresholds::default();
    let mut warnings: Vec<String> = diag.warnings(&t).iter().map(|w| w.to_string()).collect();
    let judged: Vec<SummaryRow> = rows
        .iter()
        .filter(|r| !is_weight(&r.name))
        .cloned()
        .collect();
    warnings.extend(
        convergence_warnings(&judged, n_chains, &t)
            .iter()
            .map(|w| w.to_string()),
    );
    if warnings.is_empty() {
        out.push_str("No warnings.\n");
    } else {
        out.push('\n');
        for w in warnings {
            let _ = writeln!(out, "warning: {w}");
        }
    }
    (out, summary_csv(&rows))
}

/// The full summary as CSV, every row.
fn summary_csv(rows: &[SummaryRow]) -> String {
    let mut csv =
        String::from("name,mean,sd,mcse_mean,mcse_sd,q5,q50,q95,ess_bulk,ess_tail,rhat\n");
    for r in rows {
        let f = format_f64;
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{}",
            r.name,
            f(r.mean),
            f(r.sd),
            f(r.mcse_mean),
            f(r.mcse_sd),
            f(r.q5),
            f(r.q50),
            f(r.q95),
            f(r.ess_bulk),
            f(r.ess_tail),
            f(r.rhat)
        );
    }
    csv
}

/// Reads CmdStan CSV files into a report input.
pub fn read_inputs(files: &[PathBuf]) -> Result<ReportInput, Failure> {
    let mut input = ReportInput::default();
    for path in files {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::usage(format!("error: cannot read {}: {e}", path.display())))?;
        let csv: StanCsv = read_stan_csv(&text)
            .map_err(|e| Failure::model(format!("error: {}: {e}", path.display())))?;
        let sampler = [
            "lp__",
            "accept_stat__",
            "stepsize__",
            "treedepth__",
            "n_leapfrog__",
            "divergent__",
            "energy__",
        ];
        let columns: Vec<String> = csv
            .columns
            .iter()
            .filter(|c| !sampler.contains(&c.as_str()))
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
            return Err(Failure::model(format!(
                "error: {} has other columns than {}; summarize chains of one model run",
                path.display(),
                files[0].display()
            )));
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

/// The chain files in a directory, by chain number.
pub fn chain_files(dir: &std::path::Path) -> Result<Vec<PathBuf>, Failure> {
    let mut files: Vec<(usize, PathBuf)> = std::fs::read_dir(dir)
        .map_err(|e| Failure::usage(format!("error: cannot read {}: {e}", dir.display())))?
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
        return Err(Failure::usage(format!(
            "error: no chain_*.csv files in {}",
            dir.display()
        )));
    }
    Ok(files.into_iter().map(|(_, p)| p).collect())
}

/// `bnnppl summary`.
pub fn summary(args: &SummaryArgs) -> Result<Output, Failure> {
    let mut files = Vec::new();
    for p in &args.inputs {
        if p.is_dir() {
            files.extend(chain_files(p)?);
        } else {
            files.push(p.clone());
        }
    }
    let input = read_inputs(&files)?;
    let (text, _) = report(&input, args.all);
    Ok(Output {
        stdout: text,
        stderr: String::new(),
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
    let input = read_inputs(&chain_files(&args.dir)?)?;
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
                    crate::check::did_you_mean(name, input.columns.iter().map(String::as_str));
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
        stderr: String::new(),
    })
}
