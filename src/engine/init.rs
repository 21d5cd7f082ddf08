//! Starting points and the panic guard, shared by every engine: Stan's uniform(−2, 2)
//! initialization with retries, user initial values, the MAP warm start, starts drawn by
//! Pathfinder, and a wrapper that turns a panic inside the density into a fatal error.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use rand::{Rng, RngExt};

use super::optim::{ascend, Ascent};
use super::EngineError;
use crate::density::{check_finite, Curvature, Density, DensityError, DropoutSite, Split, Weights};

/// How many random starting points are tried before a chain gives up (Stan's limit).
pub const MAX_INIT_ATTEMPTS: usize = 100;

/// Where a chain starts, on the unconstrained scale θ.
#[derive(Debug, Clone, PartialEq)]
pub enum Init {
    /// Each component uniform on (−radius, radius), redrawn up to [`MAX_INIT_ATTEMPTS`] times
    /// while the log-density or its gradient is not finite (Stan's `init=2`).
    Random {
        /// Half-width of the uniform interval on the unconstrained scale; Stan's default is 2.
        radius: f64,
    },
    /// The given θ (length d), used for every chain; it must have a finite log-density.
    User(Vec<f64>),
    /// A random start (radius 2), then `steps` Adam steps ascending log p(θ), so the chain
    /// (or the guide) starts near a mode. Samplers ascend on the full data with
    /// [`Ascent::default`]; fitting engines with their own learning rate, clipping and
    /// minibatches.
    Map {
        /// Adam steps of the warm start.
        steps: usize,
    },
    /// Chain c starts at the c-th of these θ (cycling when there are fewer points than
    /// chains): distinct Pathfinder draws from [`super::Pathfinder::starts`]. An engine that
    /// starts one point per chain without a chain index (a fit) takes the first.
    Pathfinder(Vec<Vec<f64>>),
}

/// Stan's number of warmup draws.
pub const STAN_WARMUP: usize = 1000;
/// Stan's initial buffer at that warmup, which a chain started in the typical set skips.
pub const STAN_INIT_BUFFER: usize = 75;

impl Init {
    /// The warmup draws NUTS and static HMC run from this start unless told otherwise: Stan's
    /// 1000, or 925 from Pathfinder draws, which start in the typical set and skip Stan's
    /// 75-draw initial buffer (`WarmupWindows::for_start`), keeping its slow windows and
    /// terminal buffer whole.
    pub fn default_warmup(&self) -> usize {
        match self {
            Init::Pathfinder(_) => STAN_WARMUP - STAN_INIT_BUFFER,
            Init::Random { .. } | Init::User(_) | Init::Map { .. } => STAN_WARMUP,
        }
    }
}

impl Default for Init {
    fn default() -> Self {
        Init::Random { radius: 2.0 }
    }
}

/// Why a chain could not start.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum InitFailure {
    /// The density failed at the (last) starting point tried.
    #[error(transparent)]
    Density(DensityError),
    /// A gradient component is exactly zero at the user's starting point.
    #[error(
        "gradient component {index} is exactly 0 at the initial values; NUTS sets its first \
         inverse mass matrix to 1/|gradient|, so start slightly away from this point"
    )]
    ZeroGradient {
        /// Index into θ.
        index: usize,
    },
    /// The user's initial values do not have length d.
    #[error("the initial values have length {got}, but θ has dimension {expected}")]
    WrongLength {
        /// Dimension d of θ.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// A user initial value is NaN or infinite.
    #[error("initial value {index} is not finite ({value})")]
    NonFiniteValue {
        /// Index into θ.
        index: usize,
        /// The value given.
        value: f64,
    },
    /// The random radius is not a positive finite number.
    #[error("the initialization radius must be positive and finite, got {0}")]
    BadRadius(f64),
}

/// A starting point that passed the checks.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Start {
    /// Position θ.
    pub theta: Vec<f64>,
    /// log p(θ).
    pub log_density: f64,
    /// ∇ log p(θ).
    pub grad: Vec<f64>,
    /// Points evaluated to find it (each one gradient evaluation).
    pub attempts: usize,
}

/// A failed initialization: how many points were tried and why the last one failed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct InitError {
    pub attempts: usize,
    pub reason: InitFailure,
}

/// Finds a starting point as Stan does: user values as given, or uniform(−radius, radius)
/// draws retried while the density reports a recoverable (non-finite) failure. For
/// [`Init::Map`] this is the random start (radius 2) the warm start ascends from.
///
/// A fatal density error (a panic, say) ends the search at once. With
/// `require_nonzero_gradient` a random point whose gradient has an exact zero is retried too,
/// because nuts-rs's first inverse mass matrix is 1/|gradient| and it refuses such points.
pub(crate) fn find_start<D: Density, R: Rng + ?Sized>(
    density: &mut D,
    init: &Init,
    rng: &mut R,
    require_nonzero_gradient: bool,
) -> Result<Start, InitError> {
    let dim = density.dim();
    let mut grad = vec![0.0; dim];
    let fail = |attempts, reason| Err(InitError { attempts, reason });
    let user = match init {
        Init::User(theta) => Some(theta.as_slice()),
        Init::Pathfinder(starts) => Some(starts.first().map_or(&[][..], |t| t.as_slice())),
        Init::Random { .. } | Init::Map { .. } => None,
    };
    match user {
        Some(theta) => {
            if theta.len() != dim {
                return fail(
                    0,
                    InitFailure::WrongLength {
                        expected: dim,
                        got: theta.len(),
                    },
                );
            }
            if let Some((index, &value)) = theta.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return fail(0, InitFailure::NonFiniteValue { index, value });
            }
            let log_density = match evaluate(density, theta, &mut grad) {
                Ok(lp) => lp,
                Err(e) => return fail(1, InitFailure::Density(e)),
            };
            if require_nonzero_gradient {
                if let Some(index) = grad.iter().position(|&g| g == 0.0) {
                    return fail(1, InitFailure::ZeroGradient { index });
                }
            }
            Ok(Start {
                theta: theta.to_vec(),
                log_density,
                grad,
                attempts: 1,
            })
        }
        None => {
            let radius = match init {
                Init::Random { radius } => *radius,
                Init::User(_) | Init::Map { .. } | Init::Pathfinder(_) => 2.0,
            };
            if !(radius.is_finite() && radius > 0.0) {
                return fail(0, InitFailure::BadRadius(radius));
            }
            let mut theta = vec![0.0; dim];
            let mut last = None;
            for attempt in 1..=MAX_INIT_ATTEMPTS {
                for x in theta.iter_mut() {
                    *x = rng.random_range(-radius..radius);
                }
                match evaluate(density, &theta, &mut grad) {
                    Ok(log_density) => {
                        let zero = grad.iter().position(|&g| g == 0.0);
                        match zero {
                            Some(index) if require_nonzero_gradient => {
                                last = Some(InitFailure::ZeroGradient { index });
                            }
                            _ => {
                                return Ok(Start {
                                    theta,
                                    log_density,
                                    grad,
                                    attempts: attempt,
                                })
                            }
                        }
                    }
                    Err(e) if e.is_recoverable() => last = Some(InitFailure::Density(e)),
                    Err(e) => return fail(attempt, InitFailure::Density(e)),
                }
            }
            fail(
                MAX_INIT_ATTEMPTS,
                last.expect("internal: at least one attempt was made"),
            )
        }
    }
}

/// A sampler's start: [`find_start`], then for [`Init::Map`] the warm start by full-data Adam
/// ascent ([`Ascent::default`]) and a fresh evaluation at the point it reached.
pub(crate) fn start_sampler<D: Density, R: Rng + ?Sized>(
    density: &mut D,
    init: &Init,
    rng: &mut R,
    require_nonzero_gradient: bool,
    chain: usize,
) -> Result<Start, EngineError> {
    let init_error = |e: InitError| EngineError::Init {
        chain,
        attempts: e.attempts,
        reason: e.reason,
    };
    if let Init::Pathfinder(starts) = init {
        // This chain's own draw, checked like the user's values.
        let own = Init::User(
            starts
                .get(chain % starts.len().max(1))
                .cloned()
                .unwrap_or_default(),
        );
        return find_start(density, &own, rng, require_nonzero_gradient).map_err(init_error);
    }
    let mut start = find_start(density, init, rng, require_nonzero_gradient).map_err(init_error)?;
    if let Init::Map { steps } = init {
        let mut grad = vec![0.0; start.theta.len()];
        ascend(
            density,
            &mut start.theta,
            *steps,
            &Ascent::default(),
            None,
            rng,
            &mut grad,
        )
        .map_err(|(draw, source)| EngineError::Density {
            chain,
            draw,
            source,
        })?;
        let reached = Init::User(start.theta.clone());
        let attempts = start.attempts;
        start = find_start(density, &reached, rng, require_nonzero_gradient).map_err(init_error)?;
        start.attempts += attempts;
    }
    Ok(start)
}

/// Evaluates and also checks the values, so a density that does not check its own output
/// cannot start a chain at a non-finite point (once per chain; the hot path trusts the seam).
fn evaluate<D: Density>(
    density: &mut D,
    theta: &[f64],
    grad: &mut [f64],
) -> Result<f64, DensityError> {
    let lp = density.log_density_grad(theta, grad)?;
    check_finite(lp, grad)
}

/// A density whose panics become [`DensityError::Panicked`], so a bug in a model ends its chain
/// with a typed error instead of taking the process down.
///
/// The panic hook still prints the message to stderr; the message is also kept in the error.
/// After a panic the inner evaluator's scratch space may be inconsistent, which is why the
/// error is fatal.
#[derive(Debug)]
pub(crate) struct Guarded<D>(pub D);

impl<D: Density> Density for Guarded<D> {
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn log_density(&mut self, theta: &[f64]) -> Result<f64, DensityError> {
        let inner = &mut self.0;
        catch_unwind(AssertUnwindSafe(|| inner.log_density(theta)))
            .unwrap_or_else(|payload| Err(DensityError::Panicked(panic_message(&*payload))))
    }
    fn log_density_grad(&mut self, theta: &[f64], grad: &mut [f64]) -> Result<f64, DensityError> {
        let inner = &mut self.0;
        catch_unwind(AssertUnwindSafe(|| inner.log_density_grad(theta, grad)))
            .unwrap_or_else(|payload| Err(DensityError::Panicked(panic_message(&*payload))))
    }
    fn n_rows(&self) -> usize {
        self.0.n_rows()
    }
    fn minibatch_grad(
        &mut self,
        theta: &[f64],
        rows: &[usize],
        grad: &mut [f64],
    ) -> Result<Split, DensityError> {
        let inner = &mut self.0;
        catch_unwind(AssertUnwindSafe(|| inner.minibatch_grad(theta, rows, grad)))
            .unwrap_or_else(|payload| Err(DensityError::Panicked(panic_message(&*payload))))
    }
    fn perturb(&mut self, rng: &mut dyn rand::Rng) -> usize {
        self.0.perturb(rng)
    }
    fn minibatch_grad_weighted(
        &mut self,
        theta: &[f64],
        rows: &[usize],
        weights: Weights,
        grad: &mut [f64],
    ) -> Result<Split, DensityError> {
        let inner = &mut self.0;
        catch_unwind(AssertUnwindSafe(|| {
            inner.minibatch_grad_weighted(theta, rows, weights, grad)
        }))
        .unwrap_or_else(|payload| Err(DensityError::Panicked(panic_message(&*payload))))
    }
    fn dropout_sites(&self) -> &[DropoutSite] {
        self.0.dropout_sites()
    }
    fn hessian_vector(
        &mut self,
        theta: &[f64],
        v: &[f64],
        curvature: Curvature,
        hv: &mut [f64],
    ) -> Result<(), DensityError> {
        let inner = &mut self.0;
        catch_unwind(AssertUnwindSafe(|| {
            inner.hessian_vector(theta, v, curvature, hv)
        }))
        .unwrap_or_else(|payload| Err(DensityError::Panicked(panic_message(&*payload))))
    }
    fn last_layer(&self) -> &[usize] {
        self.0.last_layer()
    }
    fn coordinate_name(&self, index: usize) -> String {
        self.0.coordinate_name(index)
    }
}

/// The text of a panic payload (`panic!("...")` gives a `&str` or a `String`).
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}
