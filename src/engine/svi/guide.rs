//! Gaussian guides over θ for SVI: their families, the reparameterization θ = T(φ, noise), the
//! closed-form entropy and the reparameterized ELBO gradient through the density seam.
//!
//! The guide q(θ) is Gaussian with one of three covariances, as NumPyro's autoguides:
//!
//! - mean field (`AutoNormal`): θ = m + s ⊙ ε, s = softplus(ρ), ε ~ N(0, I_d);
//! - low rank plus diagonal (`AutoLowRankMultivariateNormal`): θ = m + W η + D ⊙ ε with
//!   W ∈ ℝ^{d×k}, D = softplus(ρ), η ~ N(0, I_k), ε ~ N(0, I_d), so Σ = W Wᵀ + diag(D²);
//! - full rank (`AutoMultivariateNormal`): θ = m + L ε with L lower triangular,
//!   L_ii = softplus(ρ_i), so Σ = L Lᵀ.
//!
//! References are those of the parent module ([KW14], [BCKW15], [RMW14], [RWD17]).

use rand::{Rng, RngExt};
use rand_distr::StandardNormal;

use crate::density::{Density, DensityError, Weights};

/// ½ log(2πe): the entropy of a standard normal in one dimension.
const HALF_LOG_2PI_E: f64 = 1.418_938_533_204_672_7;

/// The covariance family of the Gaussian guide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum GuideKind {
    /// Independent coordinates: a loc and a softplus scale each (NumPyro's AutoNormal).
    MeanField,
    /// Σ = W Wᵀ + diag(D²) with W of rank `rank` (NumPyro's AutoLowRankMultivariateNormal).
    LowRank {
        /// Number of columns k of the factor W.
        rank: usize,
    },
    /// Σ = L Lᵀ, L lower triangular with a softplus diagonal; O(d²) parameters, small models.
    FullRank,
}

impl GuideKind {
    /// The learning rate of this family's refining steps after a mean-field fit
    /// ([`super::Start::Auto`]): `lr` / max(100, f), f the factor's entries per row of θ (d for
    /// full rank, k for low rank). Each entry moves about `lr` per Adam step on gradient noise,
    /// and the random walks of a row's f entries add about f·lr²·steps to each variance, so
    /// the rate falls as 1/f (measured: a full-rank guide over the d = 402 weights of
    /// models/uci_svi.bnn ends 58 nats below mean field at lr/100).
    pub fn refine_lr(&self, lr: f64, d: usize) -> f64 {
        let per_row = match self {
            GuideKind::MeanField => 0,
            GuideKind::LowRank { rank } => *rank,
            GuideKind::FullRank => d,
        };
        lr / per_row.max(100) as f64
    }

    /// Length of the noise vector drawn per particle (d, or d + k for low rank).
    pub fn noise_len(&self, d: usize) -> usize {
        match self {
            GuideKind::MeanField | GuideKind::FullRank => d,
            GuideKind::LowRank { rank } => d + rank,
        }
    }

    /// Length of the factor block of the parameters.
    pub(super) fn factor_len(&self, d: usize) -> usize {
        match self {
            GuideKind::MeanField => 0,
            GuideKind::LowRank { rank } => d * rank,
            GuideKind::FullRank => d * d.saturating_sub(1) / 2,
        }
    }
}

/// Parses the spelling [`GuideKind`]'s `Display` writes: `mean-field`, `low-rank:K` (K ≥ 1) or
/// `full-rank`, as `bnnppl svi --guide` takes it.
impl std::str::FromStr for GuideKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "mean-field" => Ok(GuideKind::MeanField),
            "full-rank" => Ok(GuideKind::FullRank),
            _ => match s.strip_prefix("low-rank:").map(str::parse::<usize>) {
                Some(Ok(rank)) if rank > 0 => Ok(GuideKind::LowRank { rank }),
                _ => Err("expected mean-field, low-rank:K with K ≥ 1, or full-rank".into()),
            },
        }
    }
}

impl std::fmt::Display for GuideKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GuideKind::MeanField => write!(f, "mean-field"),
            GuideKind::LowRank { rank } => write!(f, "low-rank:{rank}"),
            GuideKind::FullRank => write!(f, "full-rank"),
        }
    }
}

/// softplus(x) = log(1 + eˣ), computed without overflow.
fn softplus(x: f64) -> f64 {
    if x > 30.0 {
        x
    } else {
        x.exp().ln_1p()
    }
}

/// softplus⁻¹(y) = log(e^y − 1), for y > 0.
fn softplus_inv(y: f64) -> f64 {
    if y > 30.0 {
        y
    } else {
        y.exp_m1().ln()
    }
}

/// d softplus(x)/dx = sigmoid(x).
fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// A Gaussian guide over θ: its family and its unconstrained parameters φ.
///
/// φ is laid out as [m (d) | ρ (d) | factor]: the loc, the softplus-inverse of the diagonal
/// scales, then W row-major (d × k) for low rank or the strictly lower triangle of L packed by
/// rows (L_ij at i(i−1)/2 + j) for full rank.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Guide {
    /// Covariance family.
    pub kind: GuideKind,
    /// Dimension d of θ.
    pub dim: usize,
    /// Unconstrained parameters φ, laid out as described on the type.
    pub params: Vec<f64>,
}

/// Reused buffers of the ELBO gradient, so a step allocates nothing.
#[derive(Debug, Clone)]
pub struct Scratch {
    theta: Vec<f64>,
    grad: Vec<f64>,
    noise: Vec<f64>,
    /// Low rank: M = D⁻² W (d × k), Q = M C⁻¹ (d × k), C and its Cholesky factor (k × k).
    m: Vec<f64>,
    q: Vec<f64>,
    c: Vec<f64>,
}

impl Scratch {
    /// Buffers for a guide of this family and dimension.
    pub fn new(kind: GuideKind, d: usize) -> Scratch {
        let k = match kind {
            GuideKind::LowRank { rank } => rank,
            _ => 0,
        };
        Scratch {
            theta: vec![0.0; d],
            grad: vec![0.0; d],
            noise: vec![0.0; kind.noise_len(d)],
            m: vec![0.0; d * k],
            q: vec![0.0; d * k],
            c: vec![0.0; k * k],
        }
    }

    /// The noise buffer (length d, or d + k for low rank: ε then η).
    pub fn noise_mut(&mut self) -> &mut [f64] {
        &mut self.noise
    }
}

impl Guide {
    /// A guide with loc `loc`, every diagonal scale `scale`, and a factor of zeros (full rank)
    /// or of small seeded normals (low rank: W = 0 is a saddle of the ELBO in W, so its
    /// gradient vanishes in expectation there).
    pub fn new(kind: GuideKind, loc: &[f64], scale: f64, rng: &mut impl Rng) -> Guide {
        let d = loc.len();
        let mut params = Vec::with_capacity(2 * d + kind.factor_len(d));
        params.extend_from_slice(loc);
        params.extend(std::iter::repeat_n(softplus_inv(scale), d));
        match kind {
            GuideKind::MeanField => {}
            GuideKind::LowRank { rank } => {
                // Entries of size scale/10 keep W Wᵀ well below diag(D²) at the start.
                for _ in 0..d * rank {
                    let z: f64 = rng.sample(StandardNormal);
                    params.push(0.1 * scale * z);
                }
            }
            GuideKind::FullRank => params.extend(std::iter::repeat_n(0.0, kind.factor_len(d))),
        }
        Guide {
            kind,
            dim: d,
            params,
        }
    }

    /// The guide of family `kind` nearest a Gaussian N(`mean`, `cov`) (`cov` d × d, positive
    /// definite): mean field keeps the marginal variances; full rank is exact (L the Cholesky
    /// factor of `cov`); low rank k takes W from the top k eigenpairs, W = V_k·Λ_k^½, and
    /// D² = diag(cov − W·Wᵀ), kept at least 1e-3 of the variance, so the marginal variances are
    /// those of `cov` wherever that floor does not bind.
    pub fn from_gaussian(kind: GuideKind, mean: &[f64], cov: &nalgebra::DMatrix<f64>) -> Guide {
        let d = mean.len();
        let mut params = Vec::with_capacity(2 * d + kind.factor_len(d));
        params.extend_from_slice(mean);
        match kind {
            GuideKind::MeanField => {
                params.extend((0..d).map(|i| softplus_inv(cov[(i, i)].sqrt())));
            }
            GuideKind::FullRank => {
                let l = nalgebra::Cholesky::new(cov.clone())
                    .expect("internal: a Laplace covariance is positive definite")
                    .l();
                params.extend((0..d).map(|i| softplus_inv(l[(i, i)])));
                for i in 1..d {
                    params.extend((0..i).map(|j| l[(i, j)]));
                }
            }
            GuideKind::LowRank { rank } => {
                let eigen = nalgebra::SymmetricEigen::new(cov.clone());
                let mut order: Vec<usize> = (0..d).collect();
                order.sort_by(|&a, &b| eigen.eigenvalues[b].total_cmp(&eigen.eigenvalues[a]));
                let top: Vec<usize> = order.into_iter().take(rank).collect();
                let w = |i: usize, r: usize| -> f64 {
                    top.get(r).map_or(0.0, |&c| {
                        eigen.eigenvectors[(i, c)] * eigen.eigenvalues[c].max(0.0).sqrt()
                    })
                };
                for i in 0..d {
                    let explained: f64 = (0..rank).map(|r| w(i, r).powi(2)).sum();
                    let rest = (cov[(i, i)] - explained).max(1e-3 * cov[(i, i)]);
                    params.push(softplus_inv(rest.sqrt()));
                }
                for i in 0..d {
                    params.extend((0..rank).map(|r| w(i, r)));
                }
            }
        }
        Guide {
            kind,
            dim: d,
            params,
        }
    }

    /// The guide of family `kind` nearest N(`mean`, diag(`sd`²)), as [`Guide::from_gaussian`]
    /// builds it for a diagonal covariance but in O(d·k), without the d × d matrix: full rank
    /// has L = diag(sd); low rank k puts W's columns on the k largest sds' axes, W[i, r] = sd_i,
    /// with D_i² = max(sd_i² − W[i, ·]², 10⁻³ sd_i²).
    pub fn from_diagonal(kind: GuideKind, mean: &[f64], sd: &[f64]) -> Guide {
        let d = mean.len();
        let mut params = Vec::with_capacity(2 * d + kind.factor_len(d));
        params.extend_from_slice(mean);
        match kind {
            GuideKind::MeanField => params.extend(sd.iter().map(|&s| softplus_inv(s))),
            GuideKind::FullRank => {
                params.extend(sd.iter().map(|&s| softplus_inv((s * s).sqrt())));
                params.extend(std::iter::repeat_n(0.0, kind.factor_len(d)));
            }
            GuideKind::LowRank { rank } => {
                let mut order: Vec<usize> = (0..d).collect();
                order.sort_by(|&a, &b| sd[b].total_cmp(&sd[a]));
                // column[i]: the column of W that carries coordinate i, if any.
                let mut column = vec![None; d];
                for (r, &i) in order.iter().take(rank).enumerate() {
                    column[i] = Some(r);
                }
                for i in 0..d {
                    let var = sd[i] * sd[i];
                    let explained = if column[i].is_some() { var } else { 0.0 };
                    params.push(softplus_inv((var - explained).max(1e-3 * var).sqrt()));
                }
                for i in 0..d {
                    params
                        .extend((0..rank).map(|r| if column[i] == Some(r) { sd[i] } else { 0.0 }));
                }
            }
        }
        Guide {
            kind,
            dim: d,
            params,
        }
    }

    /// The loc m (the guide's mean of θ).
    pub fn loc(&self) -> &[f64] {
        &self.params[..self.dim]
    }

    /// The diagonal scales: s for mean field, D for low rank, diag(L) for full rank.
    pub fn scale(&self) -> Vec<f64> {
        self.params[self.dim..2 * self.dim]
            .iter()
            .map(|&r| softplus(r))
            .collect()
    }

    /// The factor block: W row-major (d × k), or L's strict lower triangle packed by rows.
    pub fn factor(&self) -> &[f64] {
        &self.params[2 * self.dim..]
    }

    /// Marginal standard deviations of θ under the guide, sqrt(diag Σ).
    pub fn marginal_sd(&self) -> Vec<f64> {
        let cov = self.covariance();
        (0..self.dim)
            .map(|i| cov[i * self.dim + i].sqrt())
            .collect()
    }

    /// The guide's covariance Σ of θ, d × d row-major.
    pub fn covariance(&self) -> Vec<f64> {
        let d = self.dim;
        let s = self.scale();
        let f = self.factor();
        let mut cov = vec![0.0; d * d];
        match self.kind {
            GuideKind::MeanField => {
                for i in 0..d {
                    cov[i * d + i] = s[i] * s[i];
                }
            }
            GuideKind::LowRank { rank: k } => {
                for i in 0..d {
                    for j in 0..d {
                        let w: f64 = (0..k).map(|r| f[i * k + r] * f[j * k + r]).sum();
                        cov[i * d + j] = w + if i == j { s[i] * s[i] } else { 0.0 };
                    }
                }
            }
            GuideKind::FullRank => {
                let l = |i: usize, j: usize| match i.cmp(&j) {
                    std::cmp::Ordering::Greater => f[i * (i - 1) / 2 + j],
                    std::cmp::Ordering::Equal => s[i],
                    std::cmp::Ordering::Less => 0.0,
                };
                for i in 0..d {
                    for j in 0..d {
                        cov[i * d + j] = (0..=i.min(j)).map(|r| l(i, r) * l(j, r)).sum();
                    }
                }
            }
        }
        cov
    }

    /// Fills `noise` (length d, or d + k for low rank) with standard normals.
    pub fn draw_noise(&self, rng: &mut impl Rng, noise: &mut [f64]) {
        for z in noise.iter_mut() {
            *z = rng.sample(StandardNormal);
        }
    }

    /// θ = m + (scale and factor applied to the noise): the reparameterization of the guide.
    pub fn transform(&self, noise: &[f64], theta: &mut [f64]) {
        let d = self.dim;
        let (m, rest) = self.params.split_at(d);
        let (rho, f) = rest.split_at(d);
        match self.kind {
            GuideKind::MeanField => {
                for i in 0..d {
                    theta[i] = m[i] + softplus(rho[i]) * noise[i];
                }
            }
            GuideKind::LowRank { rank: k } => {
                let (eps, eta) = noise.split_at(d);
                for i in 0..d {
                    let w: f64 = f[i * k..(i + 1) * k]
                        .iter()
                        .zip(eta)
                        .map(|(a, b)| a * b)
                        .sum();
                    theta[i] = m[i] + w + softplus(rho[i]) * eps[i];
                }
            }
            GuideKind::FullRank => {
                for i in 0..d {
                    let row = &f[i * i.saturating_sub(1) / 2..];
                    let off: f64 = (0..i).map(|j| row[j] * noise[j]).sum();
                    theta[i] = m[i] + off + softplus(rho[i]) * noise[i];
                }
            }
        }
    }

    /// One draw θ ~ q, using `noise` as scratch (length d, or d + k for low rank).
    pub fn sample(&self, rng: &mut impl Rng, noise: &mut [f64], theta: &mut [f64]) {
        self.draw_noise(rng, noise);
        self.transform(noise, theta);
    }

    /// H[q] in closed form; adds w · ∂H/∂φ into `grad_phi` when it is given.
    ///
    /// Every family has H = ½ log det(2πe Σ) = d · ½ log(2πe) + ½ log det Σ.
    pub fn entropy(&self, scratch: &mut Scratch, mut grad_phi: Option<(&mut [f64], f64)>) -> f64 {
        let d = self.dim;
        let rho = &self.params[d..2 * d];
        let mut h = d as f64 * HALF_LOG_2PI_E;
        match self.kind {
            GuideKind::MeanField | GuideKind::FullRank => {
                // ½ log det Σ = Σ_i log s_i (mean field), Σ_i log L_ii (full rank, det L);
                // ∂/∂ρ_i = sigmoid(ρ_i) / softplus(ρ_i).
                for (i, &r) in rho.iter().enumerate() {
                    let s = softplus(r);
                    h += s.ln();
                    if let Some((g, w)) = grad_phi.as_mut() {
                        g[d + i] += *w * sigmoid(r) / s;
                    }
                }
            }
            GuideKind::LowRank { rank: k } => {
                // Matrix determinant lemma [RMW14]: with M = D⁻² W and C = I_k + Wᵀ D⁻² W,
                // log det Σ = Σ_i log D_i² + log det C.
                // Gradients of ½ log det Σ: ∂/∂W = Σ⁻¹ W and ∂/∂D_i = D_i (Σ⁻¹)_ii, where by
                // Woodbury Σ⁻¹ = D⁻² − M C⁻¹ Mᵀ, hence Σ⁻¹ W = M − M C⁻¹ (C − I) = M C⁻¹ = Q
                // and (Σ⁻¹)_ii = D_i⁻² − M_i · Q_i (rows i of M and Q).
                let f = &self.params[2 * d..];
                let Scratch { m, q, c, .. } = scratch;
                for i in 0..d {
                    let s = softplus(rho[i]);
                    h += s.ln();
                    let inv2 = 1.0 / (s * s);
                    for r in 0..k {
                        m[i * k + r] = f[i * k + r] * inv2;
                    }
                }
                // C = I + Σ_i W_iᵀ M_i, one pass over the rows (k² passes over d × k would be
                // memory-bound for big d; measured 4× slower at d = 11 602, k = 10).
                c.fill(0.0);
                for (wi, mi) in f.chunks_exact(k).zip(m.chunks_exact(k)) {
                    for (a, &wa) in wi.iter().enumerate() {
                        for (cab, &mb) in c[a * k..(a + 1) * k].iter_mut().zip(mi) {
                            *cab += wa * mb;
                        }
                    }
                }
                for a in 0..k {
                    c[a * k + a] += 1.0;
                }
                cholesky_in_place(c, k);
                h += (0..k).map(|a| c[a * k + a].ln()).sum::<f64>();
                if let Some((g, w)) = grad_phi.as_mut() {
                    q.copy_from_slice(m);
                    for i in 0..d {
                        cholesky_solve(c, k, &mut q[i * k..(i + 1) * k]);
                    }
                    for i in 0..d {
                        let s = softplus(rho[i]);
                        let mq: f64 = (0..k).map(|r| m[i * k + r] * q[i * k + r]).sum();
                        let sigma_inv_ii = 1.0 / (s * s) - mq;
                        g[d + i] += *w * s * sigma_inv_ii * sigmoid(rho[i]);
                        for r in 0..k {
                            g[2 * d + i * k + r] += *w * q[i * k + r];
                        }
                    }
                }
            }
        }
        h
    }

    /// log p at θ = T(noise) over `rows` (all rows when `None`), adding w · ∂ log p(T(noise))/∂φ
    /// into `grad_phi` by the chain rule through the seam's gradient g = ∇_θ log p. With a KL
    /// weight β ≠ 1 the prior counts β times, in the value and the gradient; with the
    /// sticking-the-landing estimator g also carries −β·∇_θ log q(θ) = β·Σ⁻¹(θ − m) (for low
    /// rank this needs [`Guide::entropy`] evaluated first, which leaves M and chol C in
    /// `scratch`).
    #[allow(clippy::too_many_arguments)]
    pub fn particle<D: Density + ?Sized>(
        &self,
        density: &mut D,
        noise: &[f64],
        rows: Option<&[usize]>,
        scratch: &mut Scratch,
        grad_phi: &mut [f64],
        w: f64,
        estimator: Estimator,
    ) -> Result<f64, DensityError> {
        let d = self.dim;
        self.transform(noise, &mut scratch.theta);
        let beta = estimator.kl_weight;
        let lp = if beta == 1.0 {
            match rows {
                Some(rows) => {
                    let s = density.minibatch_grad(&scratch.theta, rows, &mut scratch.grad)?;
                    s.prior + s.likelihood
                }
                None => density.log_density_grad(&scratch.theta, &mut scratch.grad)?,
            }
        } else {
            let all: Vec<usize>;
            let rows = match rows {
                Some(rows) => rows,
                None => {
                    all = (0..density.n_rows()).collect();
                    &all
                }
            };
            let weights = Weights {
                prior: beta,
                likelihood: 1.0,
            };
            let s = density.minibatch_grad_weighted(
                &scratch.theta,
                rows,
                weights,
                &mut scratch.grad,
            )?;
            beta * s.prior + s.likelihood
        };
        if estimator.stl {
            self.add_path_entropy(noise, scratch, beta);
        }
        let g = &scratch.grad;
        let rho = &self.params[d..2 * d];
        // ∂θ_i/∂m_i = 1.
        for i in 0..d {
            grad_phi[i] += w * g[i];
        }
        match self.kind {
            GuideKind::MeanField => {
                // θ_i = m_i + softplus(ρ_i) ε_i: ∂θ_i/∂ρ_i = ε_i sigmoid(ρ_i).
                for i in 0..d {
                    grad_phi[d + i] += w * g[i] * noise[i] * sigmoid(rho[i]);
                }
            }
            GuideKind::LowRank { rank: k } => {
                // θ_i = m_i + Σ_r W_ir η_r + D_i ε_i: ∂θ_i/∂W_ir = η_r, ∂θ_i/∂ρ_i = ε_i σ(ρ_i).
                let (eps, eta) = noise.split_at(d);
                for i in 0..d {
                    grad_phi[d + i] += w * g[i] * eps[i] * sigmoid(rho[i]);
                    let gi = w * g[i];
                    for r in 0..k {
                        grad_phi[2 * d + i * k + r] += gi * eta[r];
                    }
                }
            }
            GuideKind::FullRank => {
                // θ_i = m_i + Σ_{j<i} L_ij ε_j + softplus(ρ_i) ε_i: ∂θ_i/∂L_ij = ε_j.
                for i in 0..d {
                    grad_phi[d + i] += w * g[i] * noise[i] * sigmoid(rho[i]);
                    let base = 2 * d + i * i.saturating_sub(1) / 2;
                    let gi = w * g[i];
                    for j in 0..i {
                        grad_phi[base + j] += gi * noise[j];
                    }
                }
            }
        }
        Ok(lp)
    }

    /// The ELBO estimate (1/S) Σ_s log p(T(noise_s)) + H[q] with the given noises (S = their
    /// number) over `rows`, writing its gradient with respect to φ into `grad_phi`.
    pub fn elbo_grad<D: Density + ?Sized>(
        &self,
        density: &mut D,
        noises: &[Vec<f64>],
        rows: Option<&[usize]>,
        scratch: &mut Scratch,
        grad_phi: &mut [f64],
    ) -> Result<f64, DensityError> {
        self.elbo_grad_with(
            density,
            noises,
            rows,
            scratch,
            grad_phi,
            Estimator::default(),
        )
    }

    /// [`Guide::elbo_grad`] with a KL weight and a choice of gradient estimator: the value is
    /// (1/S) Σ_s [log lik + β·log prior](T(noise_s)) + β·H[q]. The standard estimator adds
    /// H's closed-form gradient; sticking the landing [RWD17] differentiates −log q(θ) along
    /// the path only (dropping the score term, whose expectation is 0), so at q = p the
    /// gradient is 0 for every draw.
    pub fn elbo_grad_with<D: Density + ?Sized>(
        &self,
        density: &mut D,
        noises: &[Vec<f64>],
        rows: Option<&[usize]>,
        scratch: &mut Scratch,
        grad_phi: &mut [f64],
        estimator: Estimator,
    ) -> Result<f64, DensityError> {
        grad_phi.fill(0.0);
        let w = 1.0 / noises.len() as f64;
        let beta = estimator.kl_weight;
        if estimator.stl {
            // The entropy first: its value, and M and chol C for the low-rank Σ⁻¹.
            let h = self.entropy(scratch, None);
            let mut lp = 0.0;
            for noise in noises {
                lp += w * self.particle(density, noise, rows, scratch, grad_phi, w, estimator)?;
            }
            return Ok(lp + beta * h);
        }
        let mut lp = 0.0;
        for noise in noises {
            lp += w * self.particle(density, noise, rows, scratch, grad_phi, w, estimator)?;
        }
        Ok(lp + beta * self.entropy(scratch, Some((grad_phi, beta))))
    }

    /// Adds β·Σ⁻¹(θ − m) = −β·∇_θ log q(θ) at θ = T(noise) into `scratch.grad`: ε/s for mean
    /// field, L⁻ᵀε for full rank (Σ⁻¹·Lε), and by Woodbury D⁻²v − M·C⁻¹·Mᵀv with
    /// v = Wη + Dε for low rank (M and chol C left in `scratch` by [`Guide::entropy`]).
    fn add_path_entropy(&self, noise: &[f64], scratch: &mut Scratch, beta: f64) {
        let d = self.dim;
        let s = self.scale();
        let f = self.factor();
        let Scratch {
            theta, grad, m, c, ..
        } = scratch;
        match self.kind {
            GuideKind::MeanField => {
                for i in 0..d {
                    grad[i] += beta * noise[i] / s[i];
                }
            }
            GuideKind::FullRank => {
                // Lᵀx = ε by back substitution; L_ji (j > i) at f[j(j−1)/2 + i].
                let mut x = vec![0.0; d];
                for i in (0..d).rev() {
                    let mut acc = noise[i];
                    for j in i + 1..d {
                        acc -= f[j * (j - 1) / 2 + i] * x[j];
                    }
                    x[i] = acc / s[i];
                }
                for i in 0..d {
                    grad[i] += beta * x[i];
                }
            }
            GuideKind::LowRank { rank: k } => {
                let mean = &self.params[..d];
                let mut u = vec![0.0; k];
                for i in 0..d {
                    let vi = theta[i] - mean[i];
                    for r in 0..k {
                        u[r] += m[i * k + r] * vi;
                    }
                }
                cholesky_solve(c, k, &mut u);
                for i in 0..d {
                    let vi = theta[i] - mean[i];
                    let mu: f64 = (0..k).map(|r| m[i * k + r] * u[r]).sum();
                    grad[i] += beta * (vi / (s[i] * s[i]) - mu);
                }
            }
        }
    }
}

/// How the ELBO's gradient is estimated, and how much the KL term weighs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimator {
    /// β of the tempered objective E_q[log lik] − β·KL(q ‖ prior); 1 is the ELBO, whose
    /// optimum is the posterior's best approximation, any other value is not.
    pub kl_weight: f64,
    /// Sticking the landing [RWD17]: the path derivative of −log q only.
    pub stl: bool,
}

impl Default for Estimator {
    fn default() -> Self {
        Estimator {
            kl_weight: 1.0,
            stl: false,
        }
    }
}

/// In-place lower Cholesky factor of a k × k symmetric positive definite matrix (row-major);
/// the upper triangle is left as it was and never read afterwards.
fn cholesky_in_place(a: &mut [f64], k: usize) {
    for j in 0..k {
        let mut diag = a[j * k + j];
        for r in 0..j {
            diag -= a[j * k + r] * a[j * k + r];
        }
        // C = I + Wᵀ D⁻² W has eigenvalues ≥ 1, so the diagonal stays ≥ 1 up to rounding.
        let l = diag.max(f64::MIN_POSITIVE).sqrt();
        a[j * k + j] = l;
        for i in j + 1..k {
            let mut v = a[i * k + j];
            for r in 0..j {
                v -= a[i * k + r] * a[j * k + r];
            }
            a[i * k + j] = v / l;
        }
    }
}

/// Solves (L Lᵀ) x = b in place for the lower factor from [`cholesky_in_place`].
fn cholesky_solve(l: &[f64], k: usize, b: &mut [f64]) {
    for i in 0..k {
        let mut v = b[i];
        for r in 0..i {
            v -= l[i * k + r] * b[r];
        }
        b[i] = v / l[i * k + i];
    }
    for i in (0..k).rev() {
        let mut v = b[i];
        for r in i + 1..k {
            v -= l[r * k + i] * b[r];
        }
        b[i] = v / l[i * k + i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::chain_rng;

    #[test]
    fn from_diagonal_is_from_gaussian_for_a_diagonal_covariance() {
        let mean = [0.5, -1.0, 2.0, 0.0, 3.0];
        let sd = [0.3, 2.0, 0.01, 1.5, 0.7];
        let cov = nalgebra::DMatrix::from_fn(5, 5, |i, j| if i == j { sd[i] * sd[i] } else { 0.0 });
        for kind in [
            GuideKind::MeanField,
            GuideKind::FullRank,
            GuideKind::LowRank { rank: 2 },
        ] {
            let direct = Guide::from_diagonal(kind, &mean, &sd);
            let dense = Guide::from_gaussian(kind, &mean, &cov);
            assert_eq!(direct.params.len(), dense.params.len(), "{kind}");
            assert_eq!(direct.loc(), dense.loc(), "{kind}");
            for (a, b) in direct.covariance().iter().zip(dense.covariance()) {
                assert!((a - b).abs() < 1e-12, "{kind}: {a} vs {b}");
            }
        }
    }
    #[test]
    fn guide_spellings_parse() {
        for kind in [
            GuideKind::MeanField,
            GuideKind::LowRank { rank: 7 },
            GuideKind::FullRank,
        ] {
            assert_eq!(kind.to_string().parse::<GuideKind>(), Ok(kind));
        }
        for bad in ["low-rank:0", "low-rank:", "lowrank:3", ""] {
            assert!(bad.parse::<GuideKind>().is_err(), "{bad:?}");
        }
    }

    fn guide(kind: GuideKind, d: usize) -> Guide {
        let mut rng = chain_rng(3, 0);
        let loc: Vec<f64> = (0..d).map(|i| 0.1 * i as f64).collect();
        let mut g = Guide::new(kind, &loc, 0.7, &mut rng);
        // Move every parameter away from its start so no gradient term is trivially zero.
        for (i, p) in g.params.iter_mut().enumerate() {
            *p += 0.3 * ((i as f64) * 1.7).sin();
        }
        g
    }

    #[test]
    fn entropy_is_half_log_det_and_its_gradient_matches_finite_differences() {
        let d = 4;
        for kind in [
            GuideKind::MeanField,
            GuideKind::LowRank { rank: 2 },
            GuideKind::FullRank,
        ] {
            let g = guide(kind, d);
            let mut s = Scratch::new(kind, d);
            let mut grad = vec![0.0; g.params.len()];
            let h = g.entropy(&mut s, Some((&mut grad, 1.0)));
            // H = d/2 log(2πe) + ½ log det Σ, with det Σ from a dense Cholesky.
            let mut cov = g.covariance();
            cholesky_in_place(&mut cov, d);
            let half_log_det: f64 = (0..d).map(|i| cov[i * d + i].ln()).sum();
            assert!(
                (h - (d as f64 * HALF_LOG_2PI_E + half_log_det)).abs() < 1e-12,
                "{kind}"
            );
            for (j, &gj) in grad.iter().enumerate() {
                let e = 1e-6;
                let mut up = g.clone();
                up.params[j] += e;
                let mut dn = g.clone();
                dn.params[j] -= e;
                let fd = (up.entropy(&mut s, None) - dn.entropy(&mut s, None)) / (2.0 * e);
                assert!((fd - gj).abs() < 1e-7, "{kind} param {j}: {fd} vs {gj}");
            }
        }
    }

    /// log p(θ) = −½ Σ_i (i + 1) θ_i² + Σ_i θ_i θ_{i+1} sin(θ_i): curved, coupled, smooth.
    struct Wavy(usize);

    impl crate::density::Density for Wavy {
        fn dim(&self) -> usize {
            self.0
        }
        fn log_density(&mut self, t: &[f64]) -> Result<f64, DensityError> {
            let mut g = vec![0.0; self.0];
            self.log_density_grad(t, &mut g)
        }
        fn log_density_grad(&mut self, t: &[f64], g: &mut [f64]) -> Result<f64, DensityError> {
            let d = self.0;
            let mut v = 0.0;
            for i in 0..d {
                v -= 0.5 * (i + 1) as f64 * t[i] * t[i];
                g[i] = -((i + 1) as f64) * t[i];
            }
            for i in 0..d - 1 {
                let (a, b) = (t[i], t[i + 1]);
                v += a * b * a.sin();
                g[i] += b * (a.sin() + a * a.cos());
                g[i + 1] += a * a.sin();
            }
            Ok(v)
        }
    }

    #[test]
    fn elbo_gradient_at_fixed_noise_matches_finite_differences() {
        let d = 5;
        let mut density = Wavy(d);
        for kind in [
            GuideKind::MeanField,
            GuideKind::LowRank { rank: 2 },
            GuideKind::FullRank,
        ] {
            let g = guide(kind, d);
            let mut rng = chain_rng(8, 0);
            let mut noises = vec![vec![0.0; kind.noise_len(d)]; 3];
            for z in noises.iter_mut() {
                g.draw_noise(&mut rng, z);
            }
            let mut s = Scratch::new(kind, d);
            // The ELBO, and the tempered objective with the KL term weighted 0.5.
            for kl_weight in [1.0, 0.5] {
                let est = Estimator {
                    kl_weight,
                    stl: false,
                };
                let mut grad = vec![0.0; g.params.len()];
                g.elbo_grad_with(&mut density, &noises, None, &mut s, &mut grad, est)
                    .expect("finite");
                let mut tmp = vec![0.0; g.params.len()];
                for (j, &gj) in grad.iter().enumerate() {
                    let e = 1e-6;
                    let mut up = g.clone();
                    up.params[j] += e;
                    let mut dn = g.clone();
                    dn.params[j] -= e;
                    let fu = up.elbo_grad_with(&mut density, &noises, None, &mut s, &mut tmp, est);
                    let fd = fu.expect("finite")
                        - dn.elbo_grad_with(&mut density, &noises, None, &mut s, &mut tmp, est)
                            .expect("finite");
                    let fd = fd / (2.0 * e);
                    assert!(
                        (fd - gj).abs() < 1e-6 * (1.0 + gj.abs()),
                        "{kind} β {kl_weight} param {j}: {fd} vs {gj}"
                    );
                }
            }
        }
    }

    #[test]
    fn sticking_the_landing_gradient_vanishes_when_the_guide_is_the_posterior() {
        // A Gaussian target equal to the guide: log p(θ) = log q(θ) up to a constant, so every
        // particle's path gradient of log p − log q is 0 [RWD17] — for each family, whatever
        // the noise; the standard estimator's is not (its score term is 0 only on average).
        for kind in [
            GuideKind::MeanField,
            GuideKind::LowRank { rank: 2 },
            GuideKind::FullRank,
        ] {
            let d = 4;
            let g = guide(kind, d);
            let loc = g.loc().to_vec();
            let cov = nalgebra::DMatrix::from_row_slice(d, d, &g.covariance());
            let prec = cov.cholesky().expect("pd").inverse();
            let mut density =
                crate::density::FnDensity::new(d, move |t: &[f64], gr: &mut [f64]| {
                    let x =
                        nalgebra::DVector::from_iterator(d, t.iter().zip(&loc).map(|(a, b)| a - b));
                    let px = &prec * &x;
                    gr.iter_mut().zip(px.iter()).for_each(|(gi, v)| *gi = -v);
                    -0.5 * x.dot(&px)
                });
            let mut rng = crate::engine::rng::chain_rng(5, 0);
            let mut noises = vec![vec![0.0; kind.noise_len(d)]; 3];
            for n in noises.iter_mut() {
                g.draw_noise(&mut rng, n);
            }
            let mut s = Scratch::new(kind, d);
            let mut grad = vec![0.0; g.params.len()];
            let stl = Estimator {
                stl: true,
                ..Estimator::default()
            };
            g.elbo_grad_with(&mut density, &noises, None, &mut s, &mut grad, stl)
                .expect("finite");
            let largest = grad.iter().fold(0.0f64, |m, x| m.max(x.abs()));
            assert!(largest < 1e-10, "{kind}: STL gradient {grad:?}");
            g.elbo_grad(&mut density, &noises, None, &mut s, &mut grad)
                .expect("finite");
            let largest = grad.iter().fold(0.0f64, |m, x| m.max(x.abs()));
            assert!(largest > 1e-3, "{kind}: standard gradient {grad:?}");
        }
    }

    #[test]
    fn a_guide_from_a_gaussian_has_its_covariance() {
        // Σ with a strong rank-1 part: full rank reproduces it, mean field and low rank its
        // marginal variances (low rank 1 takes the top eigenpair, the diagonal the rest).
        let d = 4;
        let v = nalgebra::DVector::from_vec(vec![1.0, -0.8, 0.6, 0.3]);
        let cov = &v * v.transpose() * 4.0 + nalgebra::DMatrix::identity(d, d) * 0.25;
        let mean = [0.5, -1.0, 2.0, 0.0];
        for kind in [
            GuideKind::MeanField,
            GuideKind::LowRank { rank: 1 },
            GuideKind::FullRank,
        ] {
            let g = Guide::from_gaussian(kind, &mean, &cov);
            assert_eq!(g.loc(), &mean[..]);
            let got = g.covariance();
            for i in 0..d {
                for j in 0..d {
                    let want = cov[(i, j)];
                    let exact = kind == GuideKind::FullRank || i == j;
                    if exact {
                        assert!((got[i * d + j] - want).abs() < 1e-12, "{kind} [{i}, {j}]");
                    }
                }
            }
        }
    }
}
