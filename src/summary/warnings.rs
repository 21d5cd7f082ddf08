//! Warnings about a run (divergences, tree depth, E-BFMI, R̂, ESS), each a sentence that says what to do.

use super::{SamplerDiagnostics, SummaryRow};
use std::fmt;
use std::fmt::Write as _;

/// Thresholds below or above which a warning is raised; the defaults are [VGSCB21]'s and Stan's.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// Warn when R̂ exceeds this ([VGSCB21] recommends 1.01).
    pub rhat: f64,
    /// Warn when bulk or tail ESS is below this many draws per chain ([VGSCB21]: 100).
    pub ess_per_chain: f64,
    /// Warn when a chain's E-BFMI is below this (Stan uses 0.3).
    pub ebfmi: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            rhat: 1.01,
            ess_per_chain: 100.0,
            ebfmi: 0.3,
        }
    }
}

/// A problem found in a run, printed as a sentence that says what to do.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Warning {
    /// Some transitions ended in a divergence.
    Divergences {
        /// Divergent transitions over all chains.
        count: usize,
        /// Transitions over all chains.
        total: usize,
    },
    /// Some transitions were cut short at the maximum tree depth.
    MaxTreedepth {
        /// Saturated transitions over all chains.
        count: usize,
        /// Transitions over all chains.
        total: usize,
        /// The limit that was hit.
        max_depth: u32,
    },
    /// One chain's E-BFMI is below the threshold.
    LowEbfmi {
        /// 1-based chain number, as users count chains.
        chain: usize,
        /// The chain's E-BFMI.
        ebfmi: f64,
        /// The threshold it fell below.
        threshold: f64,
    },
    /// R̂ is above the threshold for some quantities.
    HighRhat {
        /// The offending quantities with their R̂, worst first.
        quantities: Vec<(String, f64)>,
        /// The threshold.
        threshold: f64,
    },
    /// Bulk ESS is below the per-chain threshold for some quantities.
    LowEssBulk {
        /// The offending quantities with their bulk ESS, lowest first.
        quantities: Vec<(String, f64)>,
        /// Required ESS per chain.
        per_chain: f64,
        /// Number of chains (the total requirement is `per_chain · chains`).
        chains: usize,
    },
    /// Tail ESS is below the per-chain threshold for some quantities.
    LowEssTail {
        /// The offending quantities with their tail ESS, lowest first.
        quantities: Vec<(String, f64)>,
        /// Required ESS per chain.
        per_chain: f64,
        /// Number of chains (the total requirement is `per_chain · chains`).
        chains: usize,
    },
}

/// How many offending quantities a warning names before saying "and N more".
const MAX_NAMED: usize = 5;

fn percent(count: usize, total: usize) -> String {
    let p = 100.0 * count as f64 / total.max(1) as f64;
    if p > 0.0 && p < 0.1 {
        "<0.1%".to_string()
    } else {
        format!("{p:.1}%")
    }
}

fn name_list(quantities: &[(String, f64)], decimals: usize) -> String {
    let mut s = quantities
        .iter()
        .take(MAX_NAMED)
        .map(|(n, v)| format!("{n} = {}", fmt_fixed_or_na(*v, decimals)))
        .collect::<Vec<_>>()
        .join(", ");
    if quantities.len() > MAX_NAMED {
        let _ = write!(s, ", and {} more", quantities.len() - MAX_NAMED);
    }
    s
}

fn fmt_fixed_or_na(x: f64, decimals: usize) -> String {
    if x.is_nan() {
        "NA".to_string()
    } else {
        format!("{x:.decimals$}")
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::Divergences { count, total } => write!(
                f,
                "{count} of {total} transitions ({}) ended with a divergence; consider raising \
                 --target-accept (e.g. to 0.95) or reparameterizing the model (e.g. a \
                 non-centered parameterization): divergences mean the sampler could not follow \
                 the posterior's curvature, so the draws may be biased.",
                percent(*count, *total)
            ),
            Warning::MaxTreedepth {
                count,
                total,
                max_depth,
            } => write!(
                f,
                "{count} of {total} transitions ({}) hit the maximum tree depth of {max_depth}; \
                 this costs efficiency, not correctness: consider raising --max-depth, or \
                 reparameterizing to reduce strong correlations between parameters.",
                percent(*count, *total)
            ),
            Warning::LowEbfmi {
                chain,
                ebfmi,
                threshold,
            } => write!(
                f,
                "E-BFMI {ebfmi:.2} in chain {chain} is below {threshold}: the sampler explores \
                 the energy distribution poorly, typically because of heavy tails or a funnel; \
                 consider reparameterizing (e.g. non-centered scales) or more informative priors."
            ),
            Warning::HighRhat {
                quantities,
                threshold,
            } => write!(
                f,
                "R-hat is above {threshold} for {} ({}): the chains disagree, so these \
                 estimates are unreliable; run longer chains, and if that does not help, look \
                 for multimodality or reparameterize.",
                plural(quantities.len(), "quantity", "quantities"),
                name_list(quantities, 3)
            ),
            Warning::LowEssBulk {
                quantities,
                per_chain,
                chains,
            } => write!(
                f,
                "Bulk ESS is below {per_chain} per chain ({} for {}) for {} ({}): posterior \
                 means and medians are imprecise; run more draws, or reparameterize to reduce \
                 autocorrelation.",
                per_chain * *chains as f64,
                plural(*chains, "chain", "chains"),
                plural(quantities.len(), "quantity", "quantities"),
                name_list(quantities, 0)
            ),
            Warning::LowEssTail {
                quantities,
                per_chain,
                chains,
            } => write!(
                f,
                "Tail ESS is below {per_chain} per chain ({} for {}) for {} ({}): posterior \
                 intervals and tail quantiles are imprecise; run more draws, or reparameterize \
                 to reduce autocorrelation.",
                per_chain * *chains as f64,
                plural(*chains, "chain", "chains"),
                plural(quantities.len(), "quantity", "quantities"),
                name_list(quantities, 0)
            ),
        }
    }
}

impl SamplerDiagnostics {
    /// Warnings about divergences, tree-depth saturation and low E-BFMI, in that order.
    pub fn warnings(&self, thresholds: &Thresholds) -> Vec<Warning> {
        let total: usize = self.chains.iter().map(|c| c.draws).sum();
        let mut out = Vec::new();
        if self.divergences() > 0 {
            out.push(Warning::Divergences {
                count: self.divergences(),
                total,
            });
        }
        if self.max_depth_hits() > 0 {
            out.push(Warning::MaxTreedepth {
                count: self.max_depth_hits(),
                total,
                max_depth: self.max_depth,
            });
        }
        for (i, c) in self.chains.iter().enumerate() {
            if c.ebfmi < thresholds.ebfmi {
                out.push(Warning::LowEbfmi {
                    chain: i + 1,
                    ebfmi: c.ebfmi,
                    threshold: thresholds.ebfmi,
                });
            }
        }
        out
    }
}

/// Warnings about R̂ and ESS over summary rows from `chains` chains.
///
/// Quantities whose R̂ or ESS is NaN (constant or non-finite draws) raise no warning: a
/// constant quantity (a fixed element of a correlation matrix, say) is not a convergence
/// failure, and non-finite draws are reported where they arise.
pub fn convergence_warnings(
    rows: &[SummaryRow],
    chains: usize,
    thresholds: &Thresholds,
) -> Vec<Warning> {
    let worst = |pick: &dyn Fn(&SummaryRow) -> Option<f64>, descending: bool| {
        let mut v: Vec<(String, f64)> = rows
            .iter()
            .filter_map(|r| pick(r).map(|x| (r.name.clone(), x)))
            .collect();
        v.sort_by(|a, b| {
            let o = a.1.total_cmp(&b.1);
            if descending {
                o.reverse()
            } else {
                o
            }
        });
        v
    };
    let ess_min = thresholds.ess_per_chain * chains as f64;
    let high_rhat = worst(&|r| (r.rhat > thresholds.rhat).then_some(r.rhat), true);
    let low_bulk = worst(&|r| (r.ess_bulk < ess_min).then_some(r.ess_bulk), false);
    let low_tail = worst(&|r| (r.ess_tail < ess_min).then_some(r.ess_tail), false);
    let mut out = Vec::new();
    if !high_rhat.is_empty() {
        out.push(Warning::HighRhat {
            quantities: high_rhat,
            threshold: thresholds.rhat,
        });
    }
    if !low_bulk.is_empty() {
        out.push(Warning::LowEssBulk {
            quantities: low_bulk,
            per_chain: thresholds.ess_per_chain,
            chains,
        });
    }
    if !low_tail.is_empty() {
        out.push(Warning::LowEssTail {
            quantities: low_tail,
            per_chain: thresholds.ess_per_chain,
            chains,
        });
    }
    out
}
