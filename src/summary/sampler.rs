//! Sampler diagnostics of NUTS runs: divergences, tree-depth saturation and E-BFMI, chain by chain.

use super::convergence::mean;

/// E-BFMI = Σ_{n≥1} (E_n − E_{n−1})² / Σ_n (E_n − Ē)² over one chain's `energy__` [Bet16].
///
/// NaN for fewer than two draws or constant energy.
pub fn ebfmi(energy: &[f64]) -> f64 {
    if energy.len() < 2 {
        return f64::NAN;
    }
    let num: f64 = energy
        .windows(2)
        .map(|w| (w[1] - w[0]) * (w[1] - w[0]))
        .sum();
    let e_bar = mean(energy);
    let den: f64 = energy.iter().map(|&e| (e - e_bar) * (e - e_bar)).sum();
    num / den
}

/// One chain's per-draw sampler statistics, as NUTS records them (`divergent__`, `treedepth__`,
/// `energy__` in a Stan CSV). All three slices have one entry per post-warmup draw.
#[derive(Debug, Clone, Copy)]
pub struct ChainSamplerStats<'a> {
    /// Whether each transition ended in a divergence.
    pub divergent: &'a [bool],
    /// Tree depth of each transition.
    pub treedepth: &'a [u32],
    /// Hamiltonian (potential + kinetic energy) at each draw.
    pub energy: &'a [f64],
}

/// Per-chain sampler diagnostics and the settings they were judged against.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerDiagnostics {
    /// The sampler's maximum tree depth; a transition at this depth was cut short.
    pub max_depth: u32,
    /// One entry per chain, in chain order.
    pub chains: Vec<ChainDiagnostics>,
}

/// Sampler diagnostics of one chain.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainDiagnostics {
    /// Number of post-warmup transitions.
    pub draws: usize,
    /// Transitions that ended in a divergence.
    pub divergences: usize,
    /// Transitions whose tree depth reached `max_depth`.
    pub max_depth_hits: usize,
    /// E-BFMI of the chain's energy; NaN when undefined.
    pub ebfmi: f64,
}

/// Counts divergences and tree-depth saturation and computes E-BFMI, chain by chain.
pub fn sampler_diagnostics(chains: &[ChainSamplerStats<'_>], max_depth: u32) -> SamplerDiagnostics {
    SamplerDiagnostics {
        max_depth,
        chains: chains
            .iter()
            .map(|c| ChainDiagnostics {
                draws: c.divergent.len().max(c.treedepth.len()).max(c.energy.len()),
                divergences: c.divergent.iter().filter(|&&d| d).count(),
                // max_depth 0 means unknown (static HMC, SVI): nothing can hit it.
                max_depth_hits: c
                    .treedepth
                    .iter()
                    .filter(|&&d| max_depth > 0 && d >= max_depth)
                    .count(),
                ebfmi: ebfmi(c.energy),
            })
            .collect(),
    }
}

impl SamplerDiagnostics {
    /// Total divergent transitions over all chains.
    pub fn divergences(&self) -> usize {
        self.chains.iter().map(|c| c.divergences).sum()
    }

    /// Total transitions that hit the maximum tree depth over all chains.
    pub fn max_depth_hits(&self) -> usize {
        self.chains.iter().map(|c| c.max_depth_hits).sum()
    }
}
