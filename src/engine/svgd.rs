//! Stein variational gradient descent as an engine: P particles moved together along the
//! kernelized Stein direction, estimated on minibatches, by the shared Adam loop; the particles
//! at the end are the run's draws (one chain of P draws).
//!
//! - [LW16] Liu & Wang, Stein Variational Gradient Descent: A General Purpose Bayesian Inference
//!   Algorithm, NeurIPS 2016, eq. 8 (the direction) and §5 (the RBF kernel with the median
//!   bandwidth h = med²/log P; the authors' code uses log(P + 1), which we follow so that P = 1
//!   is defined).

use super::descent::{Descent, Point, Rule};
use super::init::{start_sampler, Init};
use super::map::{end_point, fit_step, mode_stats, stream_step};
use super::optim::{validate_clip, Decay};
use super::output::FitSummary;
use super::rng::chain_rng;
use super::sgmcmc::{batches, stochastic_grad};
use super::{ChainOutput, DrawSink, Engine, EngineError, Header};
use crate::density::Density;

/// Settings of an SVGD run.
#[derive(Debug, Clone, PartialEq)]
pub struct Svgd {
    /// Number of particles P; they are the run's draws.
    pub particles: usize,
    /// Optimizer steps, one minibatch each (the same rows for every particle).
    pub steps: usize,
    /// Adam's base step size α.
    pub lr: f64,
    /// Adam's β₁ and β₂.
    pub betas: (f64, f64),
    /// Adam's ε.
    pub eps: f64,
    /// Learning-rate schedule.
    pub decay: Decay,
    /// Rescale the direction (all particles at once) to this Euclidean norm when it is longer.
    pub clip: Option<f64>,
    /// Rows per minibatch; `None` (or ≥ N) uses every row at every step.
    pub batch_size: Option<usize>,
    /// Steps of the trace's moving average (weight 2 / (window + 1)).
    pub window: usize,
    /// Seed; particle starts and the batch order come from chain 0's stream of it.
    pub seed: u64,
    /// Where each particle starts: its own random point ([`Init::Random`]), or that point
    /// ascended to a mode ([`Init::Map`]). The same θ for every particle ([`Init::User`]) is
    /// refused: identical particles feel no repulsion and never part.
    pub init: Init,
}

impl Default for Svgd {
    fn default() -> Self {
        Svgd {
            particles: 50,
            steps: 2000,
            lr: 0.01,
            betas: (0.9, 0.999),
            eps: 1e-8,
            decay: Decay::None,
            clip: None,
            batch_size: None,
            window: 100,
            seed: 1,
            init: Init::default(),
        }
    }
}

/// How an SVGD run went.
#[derive(Debug, Clone, PartialEq)]
pub struct SvgdResult {
    /// The particles at the end, row-major: particle i is `particles[i * d..(i + 1) * d]`.
    pub particles: Vec<f64>,
    /// Steps made.
    pub steps: usize,
    /// Steps skipped because a particle's log-density was not finite.
    pub skipped_steps: usize,
    /// Minibatch gradient evaluations (one per particle per step, starts included).
    pub gradients: u64,
    /// The kernel bandwidth h at the last step.
    pub bandwidth: f64,
    /// The mean over particles of the minibatch estimate of log p, per step.
    pub trace: Vec<Point>,
}

/// The median-heuristic bandwidth [LW16, §5]: h = med² / log(P + 1), med the median of the
/// pairwise distances of the P particles (row-major, dimension `dim`); 1 when every particle
/// sits at the same point.
pub fn bandwidth(particles: &[f64], dim: usize) -> f64 {
    let p = particles.len() / dim.max(1);
    let mut sq: Vec<f64> = Vec::with_capacity(p * p.saturating_sub(1) / 2);
    for i in 0..p {
        for j in i + 1..p {
            sq.push(sq_dist(
                &particles[i * dim..(i + 1) * dim],
                &particles[j * dim..(j + 1) * dim],
            ));
        }
    }
    if sq.is_empty() {
        return 1.0;
    }
    sq.sort_by(f64::total_cmp);
    let m = sq.len();
    // The median of the distances, squared (the distance is monotone in its square).
    let med = if m % 2 == 1 {
        sq[m / 2].sqrt()
    } else {
        0.5 * (sq[m / 2 - 1].sqrt() + sq[m / 2].sqrt())
    };
    let h = med * med / ((p + 1) as f64).ln();
    if h > 0.0 {
        h
    } else {
        1.0
    }
}

fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// The Stein direction [LW16, eq. 8] of every particle, with k(x, y) = exp(−‖x − y‖²/h):
///
/// φ(x_i) = (1/P) Σ_j [ k(x_j, x_i) ∇log p(x_j) + ∇_{x_j} k(x_j, x_i) ],
/// ∇_{x_j} k(x_j, x_i) = −(2/h) (x_j − x_i) k(x_j, x_i).
///
/// `grads` holds ∇log p (or its minibatch estimate) at each particle, row-major like
/// `particles`; φ is written into `out`. Linear in `grads`, so the mean of φ over an epoch of
/// minibatch estimates is φ of the full-data gradient.
pub fn direction(particles: &[f64], grads: &[f64], dim: usize, h: f64, out: &mut [f64]) {
    let p = particles.len() / dim.max(1);
    // Spawning threads costs tens of µs: worth it from about a million multiply-adds.
    let threads = if p * p * dim >= 1 << 20 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        1
    };
    direction_threads(particles, grads, dim, h, out, threads);
}

/// [`direction`] on `threads` threads, each computing φ for its own block of particles with
/// the same sums in the same order, so the bits do not depend on the thread count.
fn direction_threads(
    particles: &[f64],
    grads: &[f64],
    dim: usize,
    h: f64,
    out: &mut [f64],
    threads: usize,
) {
    let p = particles.len() / dim.max(1);
    let per = p.div_ceil(threads.clamp(1, p.max(1))).max(1);
    std::thread::scope(|scope| {
        for (block, phis) in out.chunks_mut(per * dim).enumerate() {
            let mut work = move || {
                for (k, phi) in phis.chunks_mut(dim).enumerate() {
                    let i = block * per + k;
                    stein_row(particles, grads, dim, h, i, phi);
                }
            };
            if threads > 1 {
                scope.spawn(work);
            } else {
                work();
            }
        }
    });
}

/// φ(x_i) of [`direction`] into `phi` (length d).
fn stein_row(particles: &[f64], grads: &[f64], dim: usize, h: f64, i: usize, phi: &mut [f64]) {
    let p = particles.len() / dim;
    let xi = &particles[i * dim..(i + 1) * dim];
    phi.fill(0.0);
    for j in 0..p {
        let xj = &particles[j * dim..(j + 1) * dim];
        let gj = &grads[j * dim..(j + 1) * dim];
        let k = (-sq_dist(xi, xj) / h).exp();
        for c in 0..dim {
            phi[c] += k * gj[c] - 2.0 / h * (xj[c] - xi[c]) * k;
        }
    }
    phi.iter_mut().for_each(|x| *x /= p as f64);
}

impl Svgd {
    fn validate(&self, n_rows: usize) -> Result<(), EngineError> {
        let bad = |m: String| Err(EngineError::Settings(m));
        if self.particles == 0 {
            return bad("SVGD needs at least one particle".into());
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad(format!(
                "the learning rate must be positive, got {}",
                self.lr
            ));
        }
        if self.batch_size == Some(0) {
            return bad("the batch size must be at least 1".into());
        }
        if self.batch_size.is_some_and(|b| b < n_rows) && n_rows == 0 {
            return bad("minibatches need a likelihood over rows".into());
        }
        if let Init::User(_) = self.init {
            return bad(
                "SVGD starts every particle at its own random point: identical particles \
                 never part"
                    .into(),
            );
        }
        self.decay.validate().or_else(bad)?;
        validate_clip(self.clip).or_else(bad)
    }

    /// The particles' starts, one after another from chain 0's stream.
    fn starts<D: Density>(
        &self,
        density: &mut D,
        rng: &mut rand_chacha::ChaCha8Rng,
        chain: usize,
    ) -> Result<Vec<f64>, EngineError> {
        let mut particles = Vec::with_capacity(self.particles * density.dim());
        for _ in 0..self.particles {
            let start = start_sampler(density, &self.init, rng, false, chain)?;
            particles.extend_from_slice(&start.theta);
        }
        Ok(particles)
    }

    /// Moves the particles for `steps` steps from their starts, streaming the trace to `out`.
    pub fn fit<D: Density, S: DrawSink>(
        &self,
        density: &mut D,
        out: &mut ChainOutput<'_, S>,
    ) -> Result<SvgdResult, EngineError> {
        let n = density.n_rows();
        self.validate(n)?;
        let chain = out.chain();
        let dim = density.dim();
        let mut rng = chain_rng(self.seed, chain);
        let mut particles = self.starts(density, &mut rng, chain)?;
        let mut batches = batches(self.batch_size, n);
        let descent = Descent {
            rule: Rule::Adam {
                betas: self.betas,
                eps: self.eps,
            },
            steps: self.steps,
            lr: self.lr,
            decay: self.decay,
            clip: self.clip,
            tol: 0.0,
            window: self.window,
        };
        let mut grads = vec![0.0; particles.len()];
        let mut h = 1.0;
        let mut gradients = self.particles as u64;
        let mut sink_error = None;
        let outcome = descent
            .run(
                &mut particles,
                batches.as_mut(),
                &mut rng,
                &mut |x, rows, _, phi| {
                    let mut value = 0.0;
                    for (xj, gj) in x.chunks(dim).zip(grads.chunks_mut(dim)) {
                        gradients += 1;
                        value += stochastic_grad(density, xj, rows, gj)?;
                    }
                    h = bandwidth(x, dim);
                    direction(x, &grads, dim, h, phi);
                    Ok(value / self.particles as f64)
                },
                &mut |point, _, _| stream_step(out, &fit_step(point), &mut sink_error),
            )
            .map_err(|(step, source)| EngineError::Density {
                chain,
                draw: step,
                source,
            })?;
        if let Some(e) = sink_error {
            return Err(e);
        }
        Ok(SvgdResult {
            particles,
            steps: outcome.trace.len(),
            skipped_steps: outcome.skipped,
            gradients,
            bandwidth: h,
            trace: outcome.trace,
        })
    }
}

impl Engine for Svgd {
    type Fit = SvgdResult;

    fn check_settings(&self, _dim: usize, n_rows: usize) -> Result<(), EngineError> {
        self.validate(n_rows)
    }
    fn name(&self) -> &'static str {
        "svgd"
    }
    fn chains(&self) -> usize {
        1
    }
    fn warmup(&self) -> usize {
        0
    }
    /// One draw per particle.
    fn draws(&self) -> usize {
        self.particles
    }
    fn fit_steps(&self) -> usize {
        self.steps
    }
    fn is_markov_chain(&self) -> bool {
        false
    }
    fn header(&self) -> Header {
        let run = vec![
            ("method".to_string(), "svgd".to_string()),
            (
                "note".into(),
                "one chain whose draws are the particles at the end; lp__ is log p(theta) \
                 there; the other sampler columns are 0"
                    .into(),
            ),
            ("seed".into(), self.seed.to_string()),
            ("particles".into(), self.particles.to_string()),
            ("steps".into(), self.steps.to_string()),
            ("lr".into(), self.lr.to_string()),
            (
                "batch_size".into(),
                self.batch_size
                    .map_or_else(|| "all".to_string(), |b| b.to_string()),
            ),
            ("num_samples".into(), self.particles.to_string()),
        ];
        Header {
            run,
            tuning: vec![("kernel".into(), "rbf, median bandwidth".into())],
        }
    }
    fn run_chain<D: Density, S: DrawSink>(
        &self,
        mut density: D,
        chain: usize,
        out: &mut ChainOutput<'_, S>,
    ) -> Result<SvgdResult, EngineError> {
        let result = self.fit(&mut density, out)?;
        out.fit_done(&FitSummary {
            steps: result.steps,
            converged: false,
        })?;
        let dim = density.dim();
        for x in result.particles.chunks(dim) {
            let (lp, _) = end_point(&mut density, x, chain, result.steps)?;
            out.draw(x, &mode_stats(lp))?;
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bandwidth_is_the_squared_median_distance_over_log_p_plus_one() {
        // Three particles on a line at 0, 1, 3: distances 1, 2, 3, median 2, h = 4 / ln 4.
        let h = bandwidth(&[0.0, 1.0, 3.0], 1);
        assert!((h - 4.0 / 4f64.ln()).abs() < 1e-15, "{h}");
        // Four: 0, 1, 3, 6 → distances 1, 2, 3, 3, 5, 6, median 3, h = 9 / ln 5.
        let h = bandwidth(&[0.0, 1.0, 3.0, 6.0], 1);
        assert!((h - 9.0 / 5f64.ln()).abs() < 1e-15, "{h}");
        assert_eq!(bandwidth(&[2.0, 2.0], 1), 1.0);
    }

    #[test]
    fn the_direction_is_the_same_bits_on_any_number_of_threads() {
        // 7 particles in 3-D: blocks of 3, 3, 1 on 3 threads, 2, 2, 2, 1 on 4.
        let x: Vec<f64> = (0..21).map(|i| (i as f64 * 0.37).sin()).collect();
        let g: Vec<f64> = (0..21).map(|i| (i as f64 * 0.91).cos()).collect();
        let h = bandwidth(&x, 3);
        let mut one = vec![0.0; 21];
        direction_threads(&x, &g, 3, h, &mut one, 1);
        for threads in [2, 3, 4, 7, 9] {
            let mut many = vec![0.0; 21];
            direction_threads(&x, &g, 3, h, &mut many, threads);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&one), bits(&many), "{threads} threads");
        }
    }

    #[test]
    fn one_particle_follows_the_gradient_and_two_repel() {
        // P = 1: k(x, x) = 1 and ∇k = 0, so φ = ∇log p.
        let mut phi = [0.0; 2];
        direction(&[0.3, -1.0], &[2.0, 5.0], 2, 1.7, &mut phi);
        assert_eq!(phi, [2.0, 5.0]);
        // Two 1-D particles at ±1 with zero gradient, h = 2: k = e^{−2}, and
        // φ(x₀) = ½ (−(2/h)(x₁ − x₀) k) = ½ (−1 · 2 · e^{−2}) = −e^{−2}: pushed apart.
        let mut phi = [0.0; 2];
        direction(&[-1.0, 1.0], &[0.0, 0.0], 1, 2.0, &mut phi);
        let k = (-2.0f64).exp();
        assert!(
            (phi[0] + k).abs() < 1e-15 && (phi[1] - k).abs() < 1e-15,
            "{phi:?}"
        );
    }
}
