//! The report printed after `sample` and `svi` and by `summary`: a table led by `lp__`, declared parameters and predictions (network weights are not identifiable), sampler diagnostics and CmdStan-style warnings; plus the full table as `summary.csv`.

use super::{
    convergence_warnings, render_table, sampler_diagnostics, summarize, ChainSamplerStats,
    SummaryRow, Thresholds,
};
use crate::stan_csv::format_f64;
use std::fmt::Write as _;

/// Elements of one quantity shown in the printed table before it is abbreviated.
const SHOWN_ELEMENTS: usize = 10;
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
    /// `None` for Markov chains; for draws that are not (a variational guide's, modes, ensemble
    /// members, …) the run's `method`, which says what the draws are: there are no sampler
    /// diagnostics to report.
    pub method: Option<String>,
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
    // Stochastic-gradient chains are Markov chains without HMC's statistics: their note, then
    // the convergence warnings below; other methods' draws are not chains at all.
    let stochastic_gradient = matches!(input.method.as_deref(), Some("sgld" | "psgld" | "sghmc"));
    if let Some(method) = &input.method {
        out.push('\n');
        out.push_str(independent_draws(method));
        if !stochastic_gradient {
            return (out, summary_csv(&rows));
        }
    }
    let t = Thresholds::default();
    let mut warnings: Vec<String> = Vec::new();
    if !stochastic_gradient {
        sampler_report(input, min_len, &mut out, &mut warnings, &t);
    }
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

/// HMC's sampler diagnostics: divergences, tree depth at its maximum and E-BFMI, printed into
/// `out`, their warnings into `warnings`.
fn sampler_report(
    input: &ReportInput,
    min_len: usize,
    out: &mut String,
    warnings: &mut Vec<String>,
    t: &Thresholds,
) {
    let draws = min_len * input.chains.len();
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
    warnings.extend(diag.warnings(t).iter().map(|w| w.to_string()));
}

/// What draws that are not a Markov chain are, by the run's `method`, and which diagnostics
/// mean nothing for them.
fn independent_draws(method: &str) -> &'static str {
    match method {
        "variational" => {
            "Draws from a variational guide are independent draws from the fitted guide: there are\n\
             no divergences, tree depths or E-BFMI to report, and R-hat/ESS describe the guide, not\n\
             how well it fits the posterior.\n"
        }
        "map" => {
            "The draw is the posterior mode the optimizer reached: one point, so there is no spread\n\
             and no divergences, tree depths, E-BFMI, R-hat or ESS to report.\n"
        }
        "ensemble" | "anchored-ensemble" => {
            "Each chain is one ensemble member, fitted from its own random start and data order;\n\
             its draw is the mode it reached. The spread over members is the ensemble's\n\
             uncertainty; there are no divergences, tree depths or E-BFMI, and R-hat/ESS do not\n\
             apply to one draw per chain.\n"
        }
        "swag" => {
            "Draws from SWAG are independent draws from a Gaussian fitted to SGD iterates after the\n\
             MAP fit (mean: their average; covariance: diagonal plus low rank): there are no\n\
             divergences, tree depths or E-BFMI to report, and R-hat/ESS describe that Gaussian,\n\
             not how well it fits the posterior.\n"
        }
        "multiswag" => {
            "Each chain is one MultiSWAG member: SWAG from its own MAP start, its draws independent\n\
             draws from its Gaussian. The spread within and between members is the uncertainty;\n\
             there are no divergences, tree depths or E-BFMI, and R-hat compares members that sit\n\
             at different modes, so a large R-hat is expected, not a failure.\n"
        }
        "sgld" | "psgld" | "sghmc" => {
            "The chains are stochastic-gradient MCMC without a Metropolis step: there are no\n\
             trajectories, so no divergences, tree depths or E-BFMI to report. R-hat and ESS apply,\n\
             but the chains target the posterior only as the step size goes to 0: at a finite step\n\
             they are biased, and neither R-hat nor ESS can show it.\n"
        }
        "svgd" => {
            "The draws are SVGD's particles: together they approximate the posterior, but they are\n\
             neither independent draws nor a Markov chain. There are no divergences, tree depths or\n\
             E-BFMI to report, and R-hat/ESS over particles in no order mean nothing.\n"
        }
        "mc-dropout" => {
            "Each draw is the fitted network with one dropout mask applied (MC dropout): the spread\n\
             over draws is the dropout approximation's uncertainty. The draws are independent given\n\
             the fit: there are no divergences, tree depths or E-BFMI to report, and R-hat/ESS\n\
             describe the masks' draws, not how well they fit the posterior.\n"
        }
        _ => {
            "These draws do not come from a Markov chain: there are no divergences, tree depths or\n\
             E-BFMI to report, and R-hat/ESS describe the approximation's draws, not how well it\n\
             fits the posterior.\n"
        }
    }
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
