//! The seam between models and engines: an unconstrained log-density, its gradient, its
//! minibatch gradient with the prior/likelihood split, the dropout sites in θ's terms, and
//! errors.
//!
//! Nothing here imports the rest of the crate. Engines are written against these traits only, so
//! they can be tested on hand-written densities and a library user can sample any density.

use std::fmt;

/// Why a density evaluation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DensityError {
    /// The log-density was NaN or infinite; an engine treats this as a divergence.
    #[error("the log-density is not finite ({value}){}", context_suffix(.term))]
    NonFiniteValue {
        /// The value that was computed.
        value: f64,
        /// The model term that first went non-finite, when the density knows it.
        term: Option<String>,
    },
    /// A gradient component was NaN or infinite; an engine treats this as a divergence.
    #[error("gradient component {index} is not finite ({value})")]
    NonFiniteGradient {
        /// Index into θ.
        index: usize,
        /// The value that was computed.
        value: f64,
    },
    /// The evaluation panicked; the panic message is kept. Not recoverable.
    #[error("the density panicked: {0}")]
    Panicked(String),
    /// Any other failure that sampling cannot continue through.
    #[error("{0}")]
    Fatal(String),
}

fn context_suffix(term: &Option<String>) -> String {
    match term {
        Some(t) => format!(" in {t}"),
        None => String::new(),
    }
}

impl DensityError {
    /// True when an engine may continue (reject the point, record a divergence).
    pub fn is_recoverable(&self) -> bool {
        match self {
            DensityError::NonFiniteValue { .. } | DensityError::NonFiniteGradient { .. } => true,
            DensityError::Panicked(_) | DensityError::Fatal(_) => false,
        }
    }
}

/// The two parts of a minibatch log-density, as returned by [`Density::minibatch_grad`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Split {
    /// log prior(θ) including the log-Jacobian of the constraint transforms.
    pub prior: f64,
    /// (N / B) · Σ over the chosen rows of the log-likelihood.
    pub likelihood: f64,
}

/// The weights of the prior and the likelihood in [`Density::minibatch_grad_weighted`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    /// Weight of log prior(θ) (the constraints' log-Jacobians included).
    pub prior: f64,
    /// Weight of the (N/B-scaled) log-likelihood.
    pub likelihood: f64,
}

/// Which second-derivative matrix of log p a [`Density::hessian_vector`] multiplies by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curvature {
    /// The Hessian ∇² log p(θ).
    Hessian,
    /// The generalized Gauss-Newton matrix: the Hessian with everything between θ and the
    /// model's terms (layers, transforms, expressions) linearized, so only the terms' own
    /// curvature in their inputs remains.
    GaussNewton,
}

/// One dropout layer as θ sees it: dropping unit j of the layer's input zeroes the j-th column
/// of the next dense layer's weight matrix, so an engine drops units by scaling θ entries
/// without knowing the model (MC dropout folds a mask into θ this way).
#[derive(Debug, Clone, PartialEq)]
pub struct DropoutSite {
    /// Probability p in [0, 1) that a unit is dropped.
    pub p: f64,
    /// For each unit j of the layer's input, the θ indices scaled when it is dropped or kept:
    /// column j of the next dense layer's weights (out × in, row-major in θ), so
    /// `offset + o·in + j` for every output o.
    pub units: Vec<Vec<usize>>,
}

/// A log-density over θ ∈ ℝᵈ with its own scratch space; one per chain.
///
/// Everything an engine may ask of a density is here: the value, the gradient, the
/// minibatch gradient with its prior/likelihood split, and where its dropout layers act on θ.
/// A density without a likelihood over rows keeps the defaults of the minibatch methods: it
/// has no rows, and its "minibatch" is the whole density counted as prior; one without dropout
/// layers keeps the default of none.
///
/// An implementation reports a non-finite value or gradient component as
/// [`DensityError::NonFiniteValue`] / [`DensityError::NonFiniteGradient`] (see
/// [`check_finite`]); engines rely on that and do not check again.
pub trait Density {
    /// Dimension d of θ.
    fn dim(&self) -> usize;
    /// log p(θ) up to a constant, without the gradient.
    fn log_density(&mut self, theta: &[f64]) -> Result<f64, DensityError>;
    /// log p(θ); writes ∇ log p(θ) into `grad` (length d, overwritten).
    fn log_density_grad(&mut self, theta: &[f64], grad: &mut [f64]) -> Result<f64, DensityError>;

    /// Number of rows N the likelihood sums over; 0 when the density has no such split.
    fn n_rows(&self) -> usize {
        0
    }

    /// Prior plus (N/B)·likelihood over `rows` (B = rows.len(), indexes < N); the gradient of
    /// that sum is written into `grad`. With all rows this equals
    /// [`Density::log_density_grad`].
    ///
    /// The default serves densities without rows (N = 0): `rows` is empty and the whole
    /// density is returned as the prior part.
    fn minibatch_grad(
        &mut self,
        theta: &[f64],
        rows: &[usize],
        grad: &mut [f64],
    ) -> Result<Split, DensityError> {
        debug_assert!(
            rows.is_empty(),
            "a density without rows was asked for a minibatch"
        );
        let prior = self.log_density_grad(theta, grad)?;
        Ok(Split {
            prior,
            likelihood: 0.0,
        })
    }

    /// Draws a fresh randomized objective for randomize-then-optimize methods (anchored
    /// ensembles) and evaluates that one from now on: every normal prior re-centred at a draw
    /// from itself, every normal likelihood's observations shifted by noise of their own scale.
    /// Returns how many terms it randomized; the default, for a density with nothing to
    /// randomize, changes nothing and returns 0.
    fn perturb(&mut self, rng: &mut dyn rand::Rng) -> usize {
        let _ = rng;
        0
    }

    /// [`Density::minibatch_grad`] with the gradient of `weights.prior` · prior +
    /// `weights.likelihood` · (N/B)·likelihood written into `grad` (the values returned are
    /// unweighted). Methods that evaluate the prior and the likelihood at different points
    /// (MC dropout's masks) or not at all (a likelihood-only step) use it.
    ///
    /// The default serves densities without rows, whose whole value is the prior.
    fn minibatch_grad_weighted(
        &mut self,
        theta: &[f64],
        rows: &[usize],
        weights: Weights,
        grad: &mut [f64],
    ) -> Result<Split, DensityError> {
        let split = self.minibatch_grad(theta, rows, grad)?;
        if self.n_rows() > 0 {
            return Err(DensityError::Fatal(
                "this density cannot weight its prior and likelihood apart".into(),
            ));
        }
        grad.iter_mut().for_each(|g| *g *= weights.prior);
        Ok(split)
    }

    /// The model's dropout layers in θ's terms, in network and layer order; none by default.
    /// The density itself treats every dropout layer as the identity.
    fn dropout_sites(&self) -> &[DropoutSite] {
        &[]
    }

    /// Writes H·v into `hv` (length d), H the `curvature` matrix of log p at θ (full data).
    /// The default, for a density without second derivatives, refuses.
    fn hessian_vector(
        &mut self,
        theta: &[f64],
        v: &[f64],
        curvature: Curvature,
        hv: &mut [f64],
    ) -> Result<(), DensityError> {
        let _ = (theta, v, curvature, hv);
        Err(DensityError::Fatal(
            "this density gives no Hessian-vector products".into(),
        ))
    }

    /// The θ indices of the final dense layer's weights and bias, for methods that treat that
    /// layer alone (a last-layer Laplace approximation); none by default.
    fn last_layer(&self) -> &[usize] {
        &[]
    }

    /// The name of θ's coordinate `index` as the draws name it (`w.2.1`); by default `theta[k]`.
    fn coordinate_name(&self, index: usize) -> String {
        format!("theta[{index}]")
    }
}

/// A thread-safe density that hands each chain its own evaluator.
pub trait Target: Sync {
    /// The per-chain evaluator type.
    type Evaluator: Density + Send;
    /// Dimension d of θ.
    fn dim(&self) -> usize;
    /// A fresh evaluator with its own scratch space.
    fn evaluator(&self) -> Self::Evaluator;
}

/// A density given by a closure, for tests and library users; `Clone` makes it a [`Target`].
#[derive(Clone)]
pub struct FnDensity<F> {
    dim: usize,
    f: F,
}

impl<F> FnDensity<F>
where
    F: FnMut(&[f64], &mut [f64]) -> f64,
{
    /// `f(theta, grad)` returns log p(θ) and writes its gradient.
    pub fn new(dim: usize, f: F) -> Self {
        FnDensity { dim, f }
    }
}

impl<F> fmt::Debug for FnDensity<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FnDensity(dim = {})", self.dim)
    }
}

/// Checks a value and gradient for non-finite entries, the way every density should report them.
pub fn check_finite(value: f64, grad: &[f64]) -> Result<f64, DensityError> {
    if !value.is_finite() {
        return Err(DensityError::NonFiniteValue { value, term: None });
    }
    if let Some((index, &value)) = grad.iter().enumerate().find(|(_, g)| !g.is_finite()) {
        return Err(DensityError::NonFiniteGradient { index, value });
    }
    Ok(value)
}

impl<F> Density for FnDensity<F>
where
    F: FnMut(&[f64], &mut [f64]) -> f64,
{
    fn dim(&self) -> usize {
        self.dim
    }
    fn log_density(&mut self, theta: &[f64]) -> Result<f64, DensityError> {
        // The closure always writes a gradient; a small stack buffer would not fit every d, so
        // this path allocates. Engines use log_density_grad on the hot path.
        let mut grad = vec![0.0; self.dim];
        self.log_density_grad(theta, &mut grad)
    }
    fn log_density_grad(&mut self, theta: &[f64], grad: &mut [f64]) -> Result<f64, DensityError> {
        let value = (self.f)(theta, grad);
        check_finite(value, grad)
    }
}

impl<F> Target for FnDensity<F>
where
    F: FnMut(&[f64], &mut [f64]) -> f64 + Clone + Send + Sync,
{
    type Evaluator = FnDensity<F>;
    fn dim(&self) -> usize {
        self.dim
    }
    fn evaluator(&self) -> Self::Evaluator {
        self.clone()
    }
}
