//! The Laplace approximation [MK92; DKIR21]: the MAP fit, then a Gaussian at the mode whose
//! precision is the negative log posterior's Hessian (or its generalized Gauss-Newton matrix)
//! in the unconstrained space — over all of θ, its diagonal, or the final dense layer alone
//! with the rest held at the mode — draws from that Gaussian, and the Laplace estimate of the
//! log marginal likelihood.
//!
//! The Hessian comes column by column from the density's Hessian-vector products (forward
//! mode over the reverse sweep, see `autodiff::tangent`): d products for the full and the
//! diagonal forms, one per last-layer coordinate for the last-layer form.
//!
//! The evidence [MK92 eq. 9; DKIR21 eq. 4] is
//! log p(y) ≈ log p(y, θ̂) + (k/2)·log 2π − ½·log det P, with P the precision over the k
//! coordinates the Gaussian covers; log p(y, θ̂) is the model's normalized log joint at the mode
//! (the log-Jacobian of the transforms included, so it is the evidence of the model as written).
//! For the last-layer form it is the evidence with the other coordinates fixed at the mode.
//!
//! - [MK92] MacKay, A Practical Bayesian Framework for Backpropagation Networks, Neural
//!   Computation 1992.
//! - [DKIR21] Daxberger, Kristiadi, Immer, Eschenhagen, Bauer & Hennig, Laplace Redux —
//!   Effortless Bayesian Deep Learning, NeurIPS 2021.

use nalgebra::{DMatrix, DVector};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use super::map::{mode_stats, Map, MapResult, Optimizer};
use super::output::FitSummary;
use super::rng::chain_rng;
use super::{ChainOutput, DrawSink, Engine, EngineError, Header};
use crate::density::{Curvature, Density, DensityError};

/// Which coordinates the Gaussian covers, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Structure {
    /// A dense precision over all of θ.
    Full,
    /// The diagonal of the precision over all of θ (coordinates independent).
    Diagonal,
    /// A dense precision over the final dense layer's weights and bias; the rest of θ stays at
    /// the mode.
    LastLayer,
}

impl std::str::FromStr for Structure {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "full" => Ok(Structure::Full),
            "diag" => Ok(Structure::Diagonal),
            "last-layer" => Ok(Structure::LastLayer),
            _ => Err("expected full, diag or last-layer".into()),
        }
    }
}

impl std::fmt::Display for Structure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Structure::Full => "full",
            Structure::Diagonal => "diag",
            Structure::LastLayer => "last-layer",
        })
    }
}

/// Parses `--hessian`: `full`, `diag` or `last-layer`, each optionally followed by `:ggn` for
/// the generalized Gauss-Newton matrix instead of the Hessian.
pub fn parse_hessian(s: &str) -> Result<(Structure, Curvature), String> {
    let (structure, curvature) = match s.strip_suffix(":ggn") {
        Some(rest) => (rest, Curvature::GaussNewton),
        None => (s, Curvature::Hessian),
    };
    let structure = structure
        .parse()
        .map_err(|_| "expected full, diag or last-layer, each optionally with :ggn".to_string())?;
    Ok((structure, curvature))
}

/// The spelling of a curvature in the output's header and in `--hessian`.
pub fn curvature_name(c: Curvature) -> &'static str {
    match c {
        Curvature::Hessian => "hessian",
        Curvature::GaussNewton => "ggn",
    }
}

/// Laplace approximation settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Laplace {
    /// The MAP fit the Gaussian is centred at.
    pub map: Map,
    /// Full, diagonal or last-layer.
    pub structure: Structure,
    /// The Hessian or the generalized Gauss-Newton matrix.
    pub curvature: Curvature,
    /// Draws from the Gaussian.
    pub draws: usize,
}

/// L-BFGS's pairs in the MAP fit of a Laplace run that names no optimizer (`--optimizer`'s
/// `lbfgs`).
const LBFGS_PAIRS: usize = 10;

impl Laplace {
    /// The optimizer of the MAP fit when the user names none: L-BFGS on the full data, Adam on
    /// minibatches (L-BFGS needs the full data). The curvature is only a posterior's where the
    /// gradient vanishes; Adam's last iterate after its 5000 steps is not there on four of the
    /// five bundled networks (regression_1d, bnn_toy, heteroscedastic, hierarchical_bnn: the
    /// Hessian had 1 to 36 directions of negative curvature and the fit was refused), while
    /// L-BFGS's end point has a positive definite Hessian on all five.
    pub fn default_optimizer(batch_size: Option<usize>) -> Optimizer {
        match batch_size {
            None => Optimizer::Lbfgs {
                memory: LBFGS_PAIRS,
            },
            Some(_) => Optimizer::Adam,
        }
    }
}

impl Default for Laplace {
    fn default() -> Self {
        Laplace {
            map: Map {
                optimizer: Laplace::default_optimizer(None),
                ..Map::default()
            },
            structure: Structure::Full,
            curvature: Curvature::Hessian,
            draws: 1000,
        }
    }
}

/// The Gaussian's precision P, factored.
#[derive(Debug, Clone, PartialEq)]
pub enum Factor {
    /// The lower Cholesky factor L of a dense P = L·Lᵀ (k × k).
    Dense(DMatrix<f64>),
    /// The diagonal of P.
    Diagonal(Vec<f64>),
}

/// What a Laplace fit leaves: the mode, the Gaussian around it, the evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct LaplaceResult {
    /// The MAP fit (its θ is the Gaussian's mean).
    pub map: MapResult,
    /// The θ indices the Gaussian covers (all of θ, or the last layer's).
    pub coordinates: Vec<usize>,
    /// The factored precision over those coordinates.
    pub factor: Factor,
    /// log det P.
    pub log_det_precision: f64,
    /// The Laplace estimate of log p(y).
    pub log_evidence: f64,
    /// Hessian-vector products computed.
    pub hessian_vector_products: usize,
}

impl LaplaceResult {
    /// The Gaussian's covariance P⁻¹ over [`LaplaceResult::coordinates`].
    pub fn covariance(&self) -> DMatrix<f64> {
        match &self.factor {
            Factor::Dense(l) => {
                let k = l.nrows();
                let chol = nalgebra::Cholesky::new(l * l.transpose())
                    .expect("internal: L·Lᵀ of a Cholesky factor is positive definite");
                chol.solve(&DMatrix::identity(k, k))
            }
            Factor::Diagonal(p) => {
                DMatrix::from_diagonal(&DVector::from_iterator(p.len(), p.iter().map(|x| 1.0 / x)))
            }
        }
    }

    /// One draw θ̂ + x with x ~ N(0, P⁻¹) on the covered coordinates: x solves Lᵀ·x = z for
    /// z ~ N(0, I), whose covariance is L⁻ᵀ·L⁻¹ = (L·Lᵀ)⁻¹.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R, theta: &mut [f64]) {
        theta.copy_from_slice(&self.map.theta);
        let k = self.coordinates.len();
        let z = DVector::from_iterator(k, (0..k).map(|_| StandardNormal.sample(rng)));
        let x = match &self.factor {
            Factor::Dense(l) => l
                .tr_solve_lower_triangular(&z)
                .expect("internal: a Cholesky factor has a positive diagonal"),
            Factor::Diagonal(p) => {
                DVector::from_iterator(k, z.iter().zip(p).map(|(zi, pi)| zi / pi.sqrt()))
            }
        };
        for (&i, xi) in self.coordinates.iter().zip(x.iter()) {
            theta[i] += xi;
        }
    }
}

/// The precision −∇² log p (or −GGN) at θ over `coordinates`, one Hessian-vector product per
/// coordinate, symmetrized (the two triangles agree to rounding).
pub fn precision<D: Density>(
    density: &mut D,
    theta: &[f64],
    coordinates: &[usize],
    curvature: Curvature,
) -> Result<DMatrix<f64>, DensityError> {
    let d = theta.len();
    let k = coordinates.len();
    let mut e = vec![0.0; d];
    let mut hv = vec![0.0; d];
    let mut p = DMatrix::zeros(k, k);
    for (col, &j) in coordinates.iter().enumerate() {
        e[j] = 1.0;
        density.hessian_vector(theta, &e, curvature, &mut hv)?;
        e[j] = 0.0;
        for (row, &i) in coordinates.iter().enumerate() {
            p[(row, col)] = -hv[i];
        }
    }
    Ok((&p + p.transpose()) * 0.5)
}

/// The precision before it is factored.
enum Precision {
    /// Dense over the covered coordinates.
    Dense(DMatrix<f64>),
    /// Its diagonal only.
    Diagonal(Vec<f64>),
}

/// The diagonal of −∇² log p (or −GGN) at θ, one Hessian-vector product per coordinate.
pub fn diagonal_precision<D: Density>(
    density: &mut D,
    theta: &[f64],
    curvature: Curvature,
) -> Result<Vec<f64>, DensityError> {
    let d = theta.len();
    let mut e = vec![0.0; d];
    let mut hv = vec![0.0; d];
    let mut diag = vec![0.0; d];
    for j in 0..d {
        e[j] = 1.0;
        density.hessian_vector(theta, &e, curvature, &mut hv)?;
        e[j] = 0.0;
        diag[j] = -hv[j];
    }
    Ok(diag)
}

/// The message when P is not positive definite: which coordinates carry its non-positive
/// directions (those with at least a third of the largest weight in each such eigenvector),
/// named by `name`.
fn not_positive_definite(p: &DMatrix<f64>, name: &dyn Fn(usize) -> String) -> String {
    let eigen = nalgebra::SymmetricEigen::new(p.clone());
    let scale = eigen.eigenvalues.amax().max(f64::MIN_POSITIVE);
    let mut bad: Vec<usize> = Vec::new();
    let mut count = 0;
    for (j, &lambda) in eigen.eigenvalues.iter().enumerate() {
        if lambda > 1e-12 * scale {
            continue;
        }
        count += 1;
        let v = eigen.eigenvectors.column(j);
        let top = v.amax();
        for (i, x) in v.iter().enumerate() {
            if x.abs() >= top / 3.0 && !bad.contains(&i) {
                bad.push(i);
            }
        }
    }
    bad.sort_unstable();
    let names: Vec<String> = bad.iter().take(12).map(|&i| name(i)).collect();
    let more = if bad.len() > 12 {
        format!(" and {} more", bad.len() - 12)
    } else {
        String::new()
    };
    format!(
        "the curvature of −log p at the mode is not positive definite ({count} direction(s) of \
         zero or negative curvature, along {}{more})",
        names.join(", ")
    )
}

impl Laplace {
    /// The coordinates the Gaussian covers for a density of dimension `dim`.
    fn coordinates<D: Density>(&self, density: &D) -> Vec<usize> {
        match self.structure {
            Structure::Full | Structure::Diagonal => (0..density.dim()).collect(),
            Structure::LastLayer => density.last_layer().to_vec(),
        }
    }

    /// The MAP fit, then the Gaussian at its mode (no draws). Fails with
    /// [`EngineError::Approximation`] when the precision is not positive definite.
    pub fn fit<D: Density, S: DrawSink>(
        &self,
        density: &mut D,
        chain: usize,
        out: &mut ChainOutput<'_, S>,
    ) -> Result<LaplaceResult, EngineError> {
        let coordinates = self.coordinates(density);
        if coordinates.is_empty() {
            return Err(EngineError::Settings(
                "a last-layer Laplace approximation needs a network with a dense layer".into(),
            ));
        }
        let map = self.map.fit_mode(density, chain, out)?;
        let fail = |source: DensityError| EngineError::Density {
            chain,
            draw: map.steps,
            source,
        };
        if !map.log_density.is_finite() {
            return Err(EngineError::Approximation {
                chain,
                message: "the MAP fit ended where log p is not finite".into(),
            });
        }
        if self.structure == Structure::Diagonal {
            // Only the diagonal is kept: d products, O(d) memory.
            let p = diagonal_precision(density, &map.theta, self.curvature).map_err(fail)?;
            return self.finish(density, map, coordinates, Precision::Diagonal(p), chain);
        }
        let p = precision(density, &map.theta, &coordinates, self.curvature).map_err(fail)?;
        self.finish(density, map, coordinates, Precision::Dense(p), chain)
    }

    /// Factors the precision over `coordinates` at the mode of `map` and forms the evidence.
    fn finish<D: Density>(
        &self,
        density: &mut D,
        map: MapResult,
        coordinates: Vec<usize>,
        precision: Precision,
        chain: usize,
    ) -> Result<LaplaceResult, EngineError> {
        let k = coordinates.len();
        let refuse = |p: &DMatrix<f64>| {
            let name = |i: usize| density.coordinate_name(coordinates[i]);
            let mut message = not_positive_definite(p, &name);
            if !map.converged {
                message.push_str("; the MAP fit did not converge, so this may not be a mode");
            }
            EngineError::Approximation { chain, message }
        };
        let (factor, log_det) = match precision {
            Precision::Dense(p) => {
                let Some(chol) = nalgebra::Cholesky::new(p.clone()) else {
                    return Err(refuse(&p));
                };
                let l = chol.l();
                let log_det = 2.0 * l.diagonal().iter().map(|x| x.ln()).sum::<f64>();
                (Factor::Dense(l), log_det)
            }
            Precision::Diagonal(diag) => {
                let bad: Vec<String> = (0..k)
                    .filter(|&i| diag[i].is_nan() || diag[i] <= 0.0)
                    .map(|i| density.coordinate_name(coordinates[i]))
                    .collect();
                if !bad.is_empty() {
                    let mut message = format!(
                        "the curvature of −log p at the mode is not positive definite (its \
                         diagonal is not positive along {})",
                        bad.join(", ")
                    );
                    if !map.converged {
                        message
                            .push_str("; the MAP fit did not converge, so this may not be a mode");
                    }
                    return Err(EngineError::Approximation { chain, message });
                }
                let log_det = diag.iter().map(|x| x.ln()).sum();
                (Factor::Diagonal(diag), log_det)
            }
        };
        // [MK92 eq. 9]: log p(y, θ̂) + (k/2)·log 2π − ½·log det P.
        let log_evidence =
            map.log_density + 0.5 * k as f64 * (2.0 * std::f64::consts::PI).ln() - 0.5 * log_det;
        Ok(LaplaceResult {
            map,
            coordinates,
            factor,
            log_det_precision: log_det,
            log_evidence,
            hessian_vector_products: k,
        })
    }
}

/// The largest d a full precision is formed for (a 5,000 × 5,000 matrix is 200 MB).
pub const MAX_FULL_DIM: usize = 5000;

/// Mixed into the seed of the draws, so they are a stream of their own.
const DRAW_SALT: u64 = 0x9e37_79b9_7f4a_7c15;

/// The note of a Laplace output's header.
const NOTE: &str = "draws from the Laplace Gaussian at the MAP fit's mode; lp__ is log p(theta) \
                    at the draw; the other sampler columns are 0";

impl Engine for Laplace {
    type Fit = LaplaceResult;

    fn check_settings(&self, dim: usize, n_rows: usize) -> Result<(), EngineError> {
        if self.structure == Structure::Full && dim > MAX_FULL_DIM {
            return Err(EngineError::Settings(format!(
                "a full Laplace precision over d = {dim} parameters is a d × d matrix and d \
                 Hessian-vector products; above d = {MAX_FULL_DIM} use --hessian diag or \
                 last-layer"
            )));
        }
        self.map.validate(n_rows)
    }
    fn name(&self) -> &'static str {
        "laplace"
    }
    fn chains(&self) -> usize {
        1
    }
    fn warmup(&self) -> usize {
        0
    }
    fn draws(&self) -> usize {
        self.draws
    }
    fn fit_steps(&self) -> usize {
        self.map.steps
    }
    fn is_markov_chain(&self) -> bool {
        false
    }
    fn header(&self) -> Header {
        let mut run = vec![("method".to_string(), "laplace".to_string())];
        for (key, value) in self.map.header_lines() {
            run.push(match key.as_str() {
                "note" => (key, NOTE.to_string()),
                "num_samples" => (key, self.draws.to_string()),
                _ => (key, value),
            });
        }
        Header {
            run,
            tuning: vec![
                ("laplace_structure".into(), self.structure.to_string()),
                (
                    "laplace_curvature".into(),
                    curvature_name(self.curvature).into(),
                ),
            ],
        }
    }
    fn run_chain<D: Density, S: DrawSink>(
        &self,
        mut density: D,
        chain: usize,
        out: &mut ChainOutput<'_, S>,
    ) -> Result<LaplaceResult, EngineError> {
        let result = self.fit(&mut density, chain, out)?;
        out.fit_done(&FitSummary {
            steps: result.map.steps,
            converged: result.map.converged,
        })?;
        let mut rng = chain_rng(self.map.seed ^ DRAW_SALT, chain);
        let mut theta = vec![0.0; result.map.theta.len()];
        for k in 0..self.draws {
            if out.stop_requested() {
                break;
            }
            result.sample(&mut rng, &mut theta);
            let lp = match density.log_density(&theta) {
                Ok(lp) => lp,
                Err(e) if e.is_recoverable() => f64::NAN,
                Err(source) => {
                    return Err(EngineError::Density {
                        chain,
                        draw: k,
                        source,
                    })
                }
            };
            out.draw(&theta, &mode_stats(lp))?;
        }
        Ok(result)
    }
}

#[cfg(test)]
#[path = "laplace_tests.rs"]
mod tests;
