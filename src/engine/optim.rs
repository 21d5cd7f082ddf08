//! The optimizer every fitting engine shares: Adam ascent steps, learning-rate schedules,
//! gradient clipping and the plain ascent of log p(θ) behind MAP warm starts, each with tests of
//! its own.
//!
//! - [KB15] Kingma & Ba, Adam: A Method for Stochastic Optimization, ICLR 2015 (Algorithm 1).
//! - [LH17] Loshchilov & Hutter, SGDR: Stochastic Gradient Descent with Warm Restarts, ICLR
//!   2017 (the cosine schedule: without restarts, and with them as the cyclical one).

use rand::Rng;

use super::batches::Batches;
use crate::density::{Density, DensityError};

/// How the learning rate changes over the `steps` of a fit.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Decay {
    /// A constant learning rate.
    #[default]
    None,
    /// lr_t = lr · rate^(t / steps): the rate reaches lr · rate at the last step.
    Exponential {
        /// Fraction of the learning rate left at the last step, in (0, 1].
        rate: f64,
    },
    /// lr_t = lr · ½ (1 + cos(π t / steps)) ([LH17] without restarts).
    Cosine,
    /// The cosine schedule restarted `cycles` times: lr_t = lr · ½ (1 + cos(π u)) with u the
    /// fractional part of t · cycles / steps ([LH17] with restarts at equal periods), so every
    /// cycle starts at lr and ends near 0 — where SWAG collects its iterates.
    Cyclical {
        /// Number of cycles M ≥ 1 over the steps.
        cycles: usize,
    },
}

impl Decay {
    /// The learning rate at step t (from 0) of `steps`, for base rate `lr`.
    pub fn lr_at(&self, lr: f64, t: usize, steps: usize) -> f64 {
        let frac = t as f64 / steps.max(1) as f64;
        match self {
            Decay::None => lr,
            Decay::Exponential { rate } => lr * rate.powf(frac),
            Decay::Cosine => lr * 0.5 * (1.0 + (std::f64::consts::PI * frac).cos()),
            Decay::Cyclical { cycles } => {
                // u in integers first, so a cycle starts at exactly lr whenever steps is a
                // multiple of the cycles.
                let steps = steps.max(1);
                let u = ((t * cycles) % steps) as f64 / steps as f64;
                lr * 0.5 * (1.0 + (std::f64::consts::PI * u).cos())
            }
        }
    }

    /// Checks the schedule's own parameter; the message names what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Decay::Exponential { rate } if !(*rate > 0.0 && *rate <= 1.0) => {
                Err(format!("the decay rate must be in (0, 1], got {rate}"))
            }
            Decay::Cyclical { cycles: 0 } => {
                Err("a cyclical schedule needs at least one cycle".into())
            }
            Decay::None | Decay::Cosine | Decay::Exponential { .. } | Decay::Cyclical { .. } => {
                Ok(())
            }
        }
    }
}

/// Parses `none`, `cosine` or `exp:RATE` with RATE in (0, 1], as `bnnppl svi --decay` takes it.
impl std::str::FromStr for Decay {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cosine" => Ok(Decay::Cosine),
            "none" => Ok(Decay::None),
            _ => match s.strip_prefix("exp:").map(str::parse::<f64>) {
                Some(Ok(rate)) if rate > 0.0 && rate <= 1.0 => Ok(Decay::Exponential { rate }),
                _ => Err("expected none, cosine, or exp:RATE with RATE in (0, 1]".into()),
            },
        }
    }
}

/// Adam [KB15, Algorithm 1] for ascent, with its moment buffers.
#[derive(Debug, Clone)]
pub struct Adam {
    /// First-moment estimate m_t.
    m: Vec<f64>,
    /// Second-moment estimate v_t.
    v: Vec<f64>,
    /// Steps taken, t.
    t: i32,
}

impl Adam {
    /// Zeroed moments for `n` parameters.
    pub fn new(n: usize) -> Adam {
        Adam {
            m: vec![0.0; n],
            v: vec![0.0; n],
            t: 0,
        }
    }

    /// φ ← φ + α m̂ / (√v̂ + ε): [KB15] Algorithm 1 with the sign flipped to maximize.
    pub fn step(&mut self, phi: &mut [f64], g: &[f64], alpha: f64, (b1, b2): (f64, f64), eps: f64) {
        self.t += 1;
        let bc1 = 1.0 - b1.powi(self.t);
        let bc2 = 1.0 - b2.powi(self.t);
        for i in 0..phi.len() {
            self.m[i] = b1 * self.m[i] + (1.0 - b1) * g[i];
            self.v[i] = b2 * self.v[i] + (1.0 - b2) * g[i] * g[i];
            let m_hat = self.m[i] / bc1;
            let v_hat = self.v[i] / bc2;
            phi[i] += alpha * m_hat / (v_hat.sqrt() + eps);
        }
    }
}

/// Rescales `g` to Euclidean norm `max` when it is longer; `None` leaves it alone.
pub fn clip(g: &mut [f64], max: Option<f64>) {
    if let Some(max) = max {
        let norm = g.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > max {
            let s = max / norm;
            g.iter_mut().for_each(|x| *x *= s);
        }
    }
}

/// Checks a clipping norm: positive (or absent).
pub fn validate_clip(clip: Option<f64>) -> Result<(), String> {
    match clip {
        Some(c) if c.is_nan() || c <= 0.0 => {
            Err(format!("the clipping norm must be positive, got {c}"))
        }
        _ => Ok(()),
    }
}

/// Adam settings of an ascent of log p(θ) (a MAP estimate or warm start).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ascent {
    /// Adam's step size α [KB15], constant over the ascent.
    pub lr: f64,
    /// Adam's β₁ and β₂ [KB15].
    pub betas: (f64, f64),
    /// Adam's ε [KB15].
    pub eps: f64,
    /// Rescale the gradient to this Euclidean norm when it is longer; `None` never clips.
    pub clip: Option<f64>,
}

impl Default for Ascent {
    /// NumPyro's and PyTorch's Adam defaults with SVI's default rate 0.01, no clipping.
    fn default() -> Self {
        Ascent {
            lr: 0.01,
            betas: (0.9, 0.999),
            eps: 1e-8,
            clip: None,
        }
    }
}

/// `steps` Adam steps ascending log p(θ) from `theta`, on minibatches from `batches` (rows
/// drawn with `rng`) or on the full data when it is `None`; `grad` is scratch of length d.
///
/// A step whose log-density is not finite is skipped (no update); a fatal density error ends
/// the ascent and is returned with the index of its step.
pub fn ascend<D: Density + ?Sized, R: Rng + ?Sized>(
    density: &mut D,
    theta: &mut [f64],
    steps: usize,
    ascent: &Ascent,
    mut batches: Option<&mut Batches>,
    rng: &mut R,
    grad: &mut [f64],
) -> Result<(), (usize, DensityError)> {
    let mut adam = Adam::new(theta.len());
    for t in 0..steps {
        let rows = batches.as_mut().map(|b| b.next(rng));
        let res = match rows {
            Some(rows) => density
                .minibatch_grad(theta, rows, grad)
                .map(|s| s.prior + s.likelihood),
            None => density.log_density_grad(theta, grad),
        };
        match res {
            Ok(_) => {
                clip(grad, ascent.clip);
                adam.step(theta, grad, ascent.lr, ascent.betas, ascent.eps);
            }
            Err(e) if e.is_recoverable() => {}
            Err(e) => return Err((t, e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::density::FnDensity;

    #[test]
    fn decay_spellings_parse() {
        assert_eq!("cosine".parse::<Decay>(), Ok(Decay::Cosine));
        assert_eq!("none".parse::<Decay>(), Ok(Decay::None));
        assert_eq!(
            "exp:0.1".parse::<Decay>(),
            Ok(Decay::Exponential { rate: 0.1 })
        );
        for bad in ["exp:0", "exp:1.5", "exp:x", "linear"] {
            assert!(bad.parse::<Decay>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn schedules_start_at_the_base_rate_and_end_where_they_say() {
        // Exponential: 0.1 · 0.25^(t/8) = 0.1, 0.05, 0.025 at t = 0, 4, 8.
        let e = Decay::Exponential { rate: 0.25 };
        assert_eq!(e.lr_at(0.1, 0, 8), 0.1);
        assert!((e.lr_at(0.1, 4, 8) - 0.05).abs() < 1e-15);
        assert!((e.lr_at(0.1, 8, 8) - 0.025).abs() < 1e-15);
        // Cosine: ½(1 + cos(π/2)) = ½ at the midpoint, 0 at the end.
        assert_eq!(Decay::Cosine.lr_at(0.2, 0, 10), 0.2);
        assert!((Decay::Cosine.lr_at(0.2, 5, 10) - 0.1).abs() < 1e-15);
        assert!(Decay::Cosine.lr_at(0.2, 10, 10).abs() < 1e-15);
        assert_eq!(Decay::None.lr_at(0.3, 7, 10), 0.3);
        assert!(Decay::Exponential { rate: 0.0 }.validate().is_err());
        assert!(Decay::Exponential { rate: 1.0 }.validate().is_ok());
    }

    #[test]
    fn the_cyclical_schedule_restarts_the_cosine_every_cycle() {
        // 12 steps in 3 cycles of 4: u = (t mod 4)/4, lr_t = 0.2 · ½(1 + cos(π u)).
        let c = Decay::Cyclical { cycles: 3 };
        // t = 0, 4, 8 start a cycle at the base rate.
        for t in [0, 4, 8] {
            assert_eq!(c.lr_at(0.2, t, 12), 0.2, "t = {t}");
        }
        // t = 2, 6: u = ½, lr = 0.1.
        assert!((c.lr_at(0.2, 2, 12) - 0.1).abs() < 1e-15);
        assert!((c.lr_at(0.2, 6, 12) - 0.1).abs() < 1e-15);
        // t = 3, 11 end a cycle: u = ¾, lr = 0.1 (1 − √½) = 0.0292893…
        let end = 0.1 * (1.0 - std::f64::consts::FRAC_1_SQRT_2);
        assert!((c.lr_at(0.2, 3, 12) - end).abs() < 1e-15);
        assert!((c.lr_at(0.2, 11, 12) - end).abs() < 1e-15);
        // One cycle is the cosine schedule.
        let one = Decay::Cyclical { cycles: 1 };
        for t in 0..10 {
            assert!((one.lr_at(0.2, t, 10) - Decay::Cosine.lr_at(0.2, t, 10)).abs() < 1e-15);
        }
        assert!(Decay::Cyclical { cycles: 0 }.validate().is_err());
        assert!(one.validate().is_ok());
    }

    #[test]
    fn adam_first_step_moves_each_coordinate_by_the_learning_rate() {
        // m̂ = g and v̂ = g² after one step, so the update is α g/(|g| + ε) ≈ α sign(g).
        let mut a = Adam::new(2);
        let mut phi = [0.0, 0.0];
        a.step(&mut phi, &[3.0, -0.5], 0.1, (0.9, 0.999), 1e-8);
        assert!((phi[0] - 0.1).abs() < 1e-8 && (phi[1] + 0.1).abs() < 1e-8);
    }

    #[test]
    fn adam_second_step_uses_bias_corrected_moments() {
        // g = 2 then 1 with β = (0.5, 0.5): m = 0.5·(0.5·2) + 0.5·1 = 1, m̂ = 1/(1 − 0.25) = 4/3;
        // v = 0.5·(0.5·4) + 0.5·1 = 1.5, v̂ = 1.5/0.75 = 2; step = α·(4/3)/√2.
        let mut a = Adam::new(1);
        let mut phi = [0.0];
        a.step(&mut phi, &[2.0], 1.0, (0.5, 0.5), 0.0);
        let after_one = phi[0];
        a.step(&mut phi, &[1.0], 1.0, (0.5, 0.5), 0.0);
        let want = (4.0 / 3.0) / 2f64.sqrt();
        assert!((phi[0] - after_one - want).abs() < 1e-15, "{}", phi[0]);
    }

    #[test]
    fn clipping_rescales_long_gradients_only() {
        // |(3, 4)| = 5 → clipped to norm 1: (0.6, 0.8); a norm-1 vector is left alone at 2.
        let mut g = [3.0, 4.0];
        clip(&mut g, Some(1.0));
        assert!((g[0] - 0.6).abs() < 1e-15 && (g[1] - 0.8).abs() < 1e-15);
        clip(&mut g, Some(2.0));
        assert!((g[0] - 0.6).abs() < 1e-15 && (g[1] - 0.8).abs() < 1e-15);
        clip(&mut g, None);
        assert!((g[0] - 0.6).abs() < 1e-15);
        assert!(validate_clip(Some(0.0)).is_err() && validate_clip(Some(f64::NAN)).is_err());
        assert!(validate_clip(None).is_ok() && validate_clip(Some(3.0)).is_ok());
    }

    #[test]
    fn ascent_reaches_the_mode_of_a_gaussian_and_skips_non_finite_steps() {
        // log p = −½ (θ − 3)² has its mode at 3. The first three evaluations report NaN: those
        // steps are skipped, so θ is still 0 after them, and the ascent goes on from there.
        let mut calls = 0;
        let mut density = FnDensity::new(1, move |t: &[f64], g: &mut [f64]| {
            calls += 1;
            g[0] = -(t[0] - 3.0);
            if calls <= 3 {
                f64::NAN
            } else {
                -0.5 * (t[0] - 3.0).powi(2)
            }
        });
        let mut theta = [0.0];
        let mut grad = [0.0];
        let mut rng = crate::engine::rng::chain_rng(1, 0);
        let ascent = Ascent {
            lr: 0.05,
            ..Ascent::default()
        };
        ascend(
            &mut density,
            &mut theta,
            3,
            &ascent,
            None,
            &mut rng,
            &mut grad,
        )
        .expect("no fatal error");
        assert_eq!(theta[0], 0.0, "NaN steps make no update");
        ascend(
            &mut density,
            &mut theta,
            2000,
            &ascent,
            None,
            &mut rng,
            &mut grad,
        )
        .expect("no fatal error");
        assert!((theta[0] - 3.0).abs() < 1e-3, "{}", theta[0]);
    }
}
