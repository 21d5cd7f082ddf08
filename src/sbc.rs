//! Simulation-based calibration [TBSVG18]: draw θ from the prior, simulate data from the
//! likelihood, fit, and rank each chosen quantity's true value among L thinned posterior draws;
//! for a sampler that draws from the exact posterior the ranks are uniform on {0, …, L}, which a
//! χ² test of the rank histogram checks.
//!
//! Nothing here is new machinery: the prior draw is either a generator model's predict block (a
//! `.bnn` with no parameters whose `~` statements draw the inference model's parameters by name,
//! the way Stan's SBC uses generated quantities) or a standard normal in θ for a model whose every
//! parameter has an unconstrained normal(0, 1) prior; the data are the inference model's own
//! predict-block draws (`y_rep ~ normal(…)`) at that θ; the fit is any [`Engine`].
//!
//! - [TBSVG18] S. Talts, M. Betancourt, D. Simpson, A. Vehtari, A. Gelman, Validating Bayesian
//!   inference algorithms with simulation-based calibration, arXiv:1804.06788, 2018.

use crate::api::Model;
use crate::draws::{columns, Save};
use crate::engine::rng::chain_rng;
use crate::engine::Engine;
use crate::posterior::Posterior;
use rand::RngExt;
use statrs::distribution::{ChiSquared, ContinuousCDF};

/// Where the true θ of a replication comes from.
#[derive(Debug, Clone)]
pub enum PriorDraw {
    /// A generator posterior (no parameters): its predict block draws every parameter of the
    /// inference model under the parameter's name, on the constrained scale.
    Generator(Posterior),
    /// θ ~ normal(0, I) on the unconstrained scale: exact when every parameter has an
    /// unconstrained normal(0, 1) prior (a BNN with unit-normal weights and known noise).
    StandardNormal,
}

/// What one SBC study runs.
#[derive(Debug, Clone)]
pub struct Sbc {
    /// The inference model; its predict block simulates the data.
    pub model: Model,
    /// The data that stay fixed (inputs, sizes); the simulated field is added to them.
    pub base: serde_json::Value,
    /// The data field the simulation fills (`y`) and the predict output that simulates it
    /// (`y_rep`).
    pub simulated: (String, String),
    /// Length of the simulated field (the likelihood's rows).
    pub rows: usize,
    /// The ranked quantities, as the inference model's column names (`mu`, `theta.1`, `mu.3`).
    pub quantities: Vec<String>,
    /// The prior draw.
    pub prior: PriorDraw,
    /// Replications.
    pub reps: usize,
    /// Posterior draws kept per replication after thinning (L); ranks lie in 0..=L.
    pub thin_to: usize,
    /// Seed of the study; replication r uses stream r + 1 of it.
    pub seed: u64,
}

/// The calibration of one quantity.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// The quantity.
    pub name: String,
    /// Rank of the true value in each replication, in 0..=L.
    pub ranks: Vec<usize>,
    /// Counts of the rank histogram.
    pub counts: Vec<usize>,
    /// Pearson's χ² of the counts against uniform.
    pub chi2: f64,
    /// Its degrees of freedom (bins − 1).
    pub df: usize,
    /// P(χ²_df ≥ chi2).
    pub p_value: f64,
}

/// Why a study could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SbcError {
    /// The data, a name or a setting do not fit the model.
    #[error("{0}")]
    Setup(String),
    /// A replication's fit failed.
    #[error("replication {rep}: {message}")]
    Fit {
        /// The replication, from 0.
        rep: usize,
        /// What failed.
        message: String,
    },
}

/// The number of draws in `draws` smaller than `truth` [TBSVG18, Alg. 1]; ties (a discrete or
/// stuck sampler) are split by index so that they do not pile up at one end.
pub fn rank(truth: f64, draws: &[f64]) -> usize {
    let below = draws.iter().filter(|&&d| d < truth).count();
    let tied = draws.iter().filter(|&&d| d == truth).count();
    below + tied / 2
}

/// `l` draws spread evenly over `draws` (thinning, to make them nearly independent).
pub fn thin(draws: &[f64], l: usize) -> Vec<f64> {
    let n = draws.len();
    (0..l).map(|i| draws[i * n / l.max(1)]).collect()
}

/// The χ² test of ranks in 0..=l against uniform, in `bins` bins of equal width ((l + 1) must be
/// a multiple of `bins`).
pub fn calibration(name: &str, ranks: Vec<usize>, l: usize, bins: usize) -> Calibration {
    assert!(
        bins >= 2 && (l + 1).is_multiple_of(bins),
        "internal: {bins} bins must divide {} rank values",
        l + 1
    );
    let width = (l + 1) / bins;
    let mut counts = vec![0usize; bins];
    for &r in &ranks {
        counts[(r / width).min(bins - 1)] += 1;
    }
    let expected = ranks.len() as f64 / bins as f64;
    let chi2 = counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum::<f64>();
    let df = bins - 1;
    let p_value = ChiSquared::new(df as f64)
        .map(|d| d.sf(chi2))
        .unwrap_or(f64::NAN);
    Calibration {
        name: name.to_string(),
        ranks,
        counts,
        chi2,
        df,
        p_value,
    }
}

/// The largest number of bins ≤ `wanted` that divides `l + 1` and leaves at least 5 expected
/// counts per bin for `reps` replications (the usual condition for Pearson's χ²).
pub fn bins_for(l: usize, reps: usize, wanted: usize) -> usize {
    (2..=wanted.max(2))
        .rev()
        .find(|&b| (l + 1).is_multiple_of(b) && reps >= 5 * b)
        .unwrap_or(2)
}

impl Sbc {
    /// Runs the study with the engine `engine(seed)` for each replication, and returns one
    /// calibration per quantity (histogram of `bins` bins, see [`bins_for`]).
    pub fn run<E: Engine>(
        &self,
        engine: impl Fn(u64) -> E,
        bins: usize,
        mut progress: impl FnMut(usize),
    ) -> Result<Vec<Calibration>, SbcError> {
        let setup = |m: String| SbcError::Setup(m);
        let output = &self.simulated.1;
        // The inference model bound with zeros for the simulated field, to evaluate its outputs
        // (constrained parameters, predict block) at the true θ.
        let first = self
            .model
            .bind_json(&self.with_field(&vec![0.0; self.rows])?)
            .map_err(|e| setup(format!("binding the data: {e}")))?;
        let (names, perm) = columns(&first, Save::All);
        let sim_columns: Vec<usize> = names
            .iter()
            .enumerate()
            .filter(|(_, n)| n.split('.').next() == Some(output.as_str()))
            .map(|(j, _)| j)
            .collect();
        if sim_columns.is_empty() {
            return Err(setup(format!(
                "the model's predict block has no '{output}'"
            )));
        }
        let wanted: Vec<usize> = self
            .quantities
            .iter()
            .map(|q| {
                names
                    .iter()
                    .position(|n| n == q)
                    .ok_or_else(|| setup(format!("the model has no quantity '{q}'")))
            })
            .collect::<Result<_, _>>()?;
        let mut ranks = vec![Vec::with_capacity(self.reps); wanted.len()];
        let mut out = vec![0.0; first.output_len()];
        let mut eval = first.output_evaluator();
        for rep in 0..self.reps {
            let mut rng = chain_rng(self.seed, rep);
            let theta = self.prior_theta(&first, &mut rng)?;
            eval.outputs(&theta, &mut rng, &mut out)
                .map_err(|e| SbcError::Fit {
                    rep,
                    message: format!("simulating the data: {e}"),
                })?;
            let y: Vec<f64> = sim_columns.iter().map(|&j| out[perm[j]]).collect();
            let truth: Vec<f64> = wanted.iter().map(|&j| out[perm[j]]).collect();
            let post = self
                .model
                .bind_json(&self.with_field(&y)?)
                .map_err(|e| SbcError::Fit {
                    rep,
                    message: format!("binding the simulated data: {e}"),
                })?;
            let run = post
                .run(&engine(self.seed ^ (rep as u64 + 1)), self.seed)
                .map_err(|e| SbcError::Fit {
                    rep,
                    message: e.to_string(),
                })?;
            for (k, q) in self.quantities.iter().enumerate() {
                let draws: Vec<f64> = run
                    .draws
                    .column(q)
                    .expect("internal: the column was found above")
                    .concat();
                ranks[k].push(rank(truth[k], &thin(&draws, self.thin_to)));
            }
            progress(rep + 1);
        }
        Ok(self
            .quantities
            .iter()
            .zip(ranks)
            .map(|(q, r)| calibration(q, r, self.thin_to, bins))
            .collect())
    }

    /// θ of one prior draw for the inference posterior `post`.
    fn prior_theta(
        &self,
        post: &Posterior,
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Result<Vec<f64>, SbcError> {
        match &self.prior {
            PriorDraw::StandardNormal => Ok((0..post.layout().dim())
                .map(|_| rng.sample(rand_distr::StandardNormal))
                .collect()),
            PriorDraw::Generator(generator) => {
                let mut values = vec![0.0; generator.output_len()];
                generator
                    .output_evaluator()
                    .outputs(&[], rng, &mut values)
                    .map_err(|e| SbcError::Setup(format!("the generator failed: {e}")))?;
                let mut offset = 0;
                let mut by_name = Vec::new();
                for (name, dims) in generator.output_shapes() {
                    let len: usize = dims.iter().product();
                    by_name.push((name, offset..offset + len));
                    offset += len;
                }
                post.layout()
                    .unconstrain(|p| {
                        by_name
                            .iter()
                            .find(|(n, _)| *n == p.name)
                            .map(|(_, r)| &values[r.clone()])
                    })
                    .map_err(|e| SbcError::Setup(format!("the generator's draw: {e}")))
            }
        }
    }

    /// The base data with the simulated field set to `values` (and its size, when the base
    /// data leave it to the field's length).
    fn with_field(&self, values: &[f64]) -> Result<String, SbcError> {
        let mut data = self.base.clone();
        let object = data
            .as_object_mut()
            .ok_or_else(|| SbcError::Setup("the base data must be a JSON object".into()))?;
        object.insert(self.simulated.0.clone(), serde_json::json!(values));
        Ok(data.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_count_the_draws_below() {
        // 3 of the 5 draws lie below 0.5; ties split half below.
        assert_eq!(rank(0.5, &[0.1, 0.9, 0.2, 0.3, 0.7]), 3);
        assert_eq!(rank(1.0, &[1.0, 1.0, 0.0, 2.0]), 2);
        assert_eq!(
            thin(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], 3),
            vec![0.0, 2.0, 4.0]
        );
    }

    #[test]
    fn chi_square_of_a_flat_and_of_a_piled_histogram() {
        // 40 ranks spread evenly over 0..=19 in 4 bins: 10 per bin, χ² = 0, p = 1.
        let flat: Vec<usize> = (0..40).map(|i| i % 20).collect();
        let c = calibration("x", flat, 19, 4);
        assert_eq!(c.counts, vec![10, 10, 10, 10]);
        assert_eq!(c.chi2, 0.0);
        assert!((c.p_value - 1.0).abs() < 1e-12);
        // All 40 in the first bin: χ² = (30² + 3·10²)/10 = 120 on 3 df, p ≈ 7e-26.
        let piled = calibration("x", vec![0; 40], 19, 4);
        assert!((piled.chi2 - 120.0).abs() < 1e-12);
        assert!(piled.p_value < 1e-20, "{}", piled.p_value);
        assert_eq!(bins_for(99, 200, 20), 20);
        assert_eq!(bins_for(99, 40, 20), 5);
    }
}
