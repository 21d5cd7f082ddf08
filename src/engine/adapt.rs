//! Warmup adaptation as Stan does it: dual averaging of the step size and a windowed estimate of
//! the diagonal inverse mass matrix.
//!
//! - [HG14] M. D. Hoffman & A. Gelman, The No-U-Turn Sampler, JMLR 15, 2014, §3.2 and Alg. 5.
//! - [Nes09] Y. Nesterov, Primal-dual subgradient methods for convex problems, Math. Prog., 2009.
//! - [Stan] Stan Reference Manual, "HMC algorithm parameters": automatic parameter tuning;
//!   stan/mcmc/windowed_adaptation.hpp, var_adaptation.hpp, stepsize_adaptation.hpp.

use super::init::{Init, STAN_INIT_BUFFER};

/// Dual averaging of log ε toward a target mean acceptance statistic δ [HG14, Alg. 5].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DualAveraging {
    /// δ, the target mean acceptance statistic.
    delta: f64,
    /// μ = log(10 ε₀), the point log ε is shrunk toward [HG14, §3.2.1].
    mu: f64,
    /// γ = 0.05, the shrinkage strength.
    gamma: f64,
    /// t₀ = 10, which damps the first iterations.
    t0: f64,
    /// κ = 0.75, the decay of the weight of the averaged iterate.
    kappa: f64,
    /// m, the number of updates since the last restart.
    m: f64,
    /// H̄_m, the running average of δ − α.
    h_bar: f64,
    /// log ε̄_m, the averaged iterate used after warmup.
    log_step_bar: f64,
}

impl DualAveraging {
    /// Starts at step size ε₀ with μ = log(10 ε₀) and HG14's γ, t₀, κ.
    pub(crate) fn new(delta: f64, step_size: f64) -> Self {
        let mut da = DualAveraging {
            delta,
            mu: 0.0,
            gamma: 0.05,
            t0: 10.0,
            kappa: 0.75,
            m: 0.0,
            h_bar: 0.0,
            log_step_bar: 0.0,
        };
        da.restart(step_size);
        da
    }

    /// Forgets the history and shrinks toward μ = log(10 ε₀) again (Stan does this after every
    /// mass matrix update, because the old step sizes were tuned to the old metric).
    pub(crate) fn restart(&mut self, step_size: f64) {
        self.mu = (10.0 * step_size).ln();
        self.m = 0.0;
        self.h_bar = 0.0;
        self.log_step_bar = 0.0;
    }

    /// Takes acceptance statistic α of the last transition; returns the next step size ε_m.
    pub(crate) fn update(&mut self, accept_stat: f64) -> f64 {
        let alpha = accept_stat.min(1.0);
        self.m += 1.0;
        let m = self.m;
        // [HG14, Alg. 5] H̄_m = (1 − 1/(m + t₀)) H̄_{m−1} + 1/(m + t₀) (δ − α_m)
        let eta = 1.0 / (m + self.t0);
        self.h_bar = (1.0 - eta) * self.h_bar + eta * (self.delta - alpha);
        // [HG14, Alg. 5] log ε_m = μ − (√m / γ) H̄_m
        let log_step = self.mu - m.sqrt() / self.gamma * self.h_bar;
        // [HG14, Alg. 5] log ε̄_m = m^(−κ) log ε_m + (1 − m^(−κ)) log ε̄_{m−1}
        let w = m.powf(-self.kappa);
        self.log_step_bar = w * log_step + (1.0 - w) * self.log_step_bar;
        log_step.exp()
    }

    /// ε̄, the step size used after warmup [HG14, Alg. 5, "ε ← ε̄_{M^adapt}"].
    pub(crate) fn final_step_size(&self) -> f64 {
        self.log_step_bar.exp()
    }
}

/// Stan's warmup buffers, in draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WarmupWindows {
    /// Initial fast interval: only the step size adapts (Stan's `init_buffer`, 75).
    pub init_buffer: usize,
    /// First slow window; each following window doubles (Stan's `window`, 25).
    pub base_window: usize,
    /// Terminal fast interval: only the step size adapts (Stan's `term_buffer`, 50).
    pub term_buffer: usize,
}

impl WarmupWindows {
    /// Stan's defaults, shrunk when warmup is too short to hold them.
    ///
    /// With fewer than 75 + 25 + 50 = 150 warmup draws Stan keeps the shape of the schedule
    /// rather than dropping a stage: 15% initial buffer, 10% terminal buffer, the rest one slow
    /// window. Below 20 draws a variance estimate would be mostly noise, so the mass matrix
    /// is not adapted at all (`base_window == 0`).
    pub(crate) fn stan(warmup: usize) -> Self {
        let (init_buffer, base_window, term_buffer) = (STAN_INIT_BUFFER, 25, 50);
        if warmup < 20 {
            return WarmupWindows {
                init_buffer: warmup,
                base_window: 0,
                term_buffer: 0,
            };
        }
        if init_buffer + base_window + term_buffer > warmup {
            let init_buffer = (0.15 * warmup as f64) as usize;
            let term_buffer = (0.1 * warmup as f64) as usize;
            return WarmupWindows {
                init_buffer,
                base_window: warmup - (init_buffer + term_buffer),
                term_buffer,
            };
        }
        WarmupWindows {
            init_buffer,
            base_window,
            term_buffer,
        }
    }

    /// Stan's schedule without its initial buffer, for a chain that starts in the typical set
    /// (at a Pathfinder draw). The buffer's one job is to carry a chain from an arbitrary start
    /// to the typical set while the step size settles, before any draw can inform the mass
    /// matrix; such a chain is there already, so its first slow window begins at once. Slow
    /// windows from 25 doubling and the 50-draw terminal buffer as in [`Self::stan`]; with
    /// fewer than 25 + 50 = 75 draws, a 10 % terminal buffer and one slow window; below 20,
    /// the step size alone, as there.
    pub(crate) fn from_typical_set(warmup: usize) -> Self {
        let stan = Self::stan(warmup);
        if stan.base_window == 0 {
            return stan;
        }
        let (base_window, term_buffer) = (25, 50);
        if base_window + term_buffer > warmup {
            let term_buffer = (0.1 * warmup as f64) as usize;
            return WarmupWindows {
                init_buffer: 0,
                base_window: warmup - term_buffer,
                term_buffer,
            };
        }
        WarmupWindows {
            init_buffer: 0,
            base_window,
            term_buffer,
        }
    }

    /// The schedule of a chain that starts at `init`: [`Self::from_typical_set`] from
    /// Pathfinder draws, [`Self::stan`] from anywhere else (a mode, reached by the MAP warm
    /// start, is not in the typical set of a posterior with more than a few dimensions).
    pub(crate) fn for_start(warmup: usize, init: &Init) -> Self {
        match init {
            Init::Pathfinder(_) => Self::from_typical_set(warmup),
            Init::Random { .. } | Init::User(_) | Init::Map { .. } => Self::stan(warmup),
        }
    }
}

/// Stan's windowed estimate of the diagonal inverse mass matrix (var_adaptation.hpp).
///
/// Draws inside the slow windows feed a Welford variance; at the end of each window the
/// estimate replaces M⁻¹, the estimator restarts and the next window is twice as long. The last
/// window is stretched to end where the terminal buffer begins, so no draws are wasted on a
/// window that could not finish.
#[derive(Debug, Clone)]
pub(crate) struct WindowedVariance {
    num_warmup: usize,
    windows: WarmupWindows,
    /// Index of the warmup draw about to be learned from (Stan's `adapt_window_counter_`).
    counter: usize,
    window_size: usize,
    /// Index of the last draw of the current slow window (Stan's `adapt_next_window_`).
    next_window_end: usize,
    welford: Welford,
}

impl WindowedVariance {
    /// The estimator for `num_warmup` draws in `windows`, over `dim` coordinates.
    pub(crate) fn new(num_warmup: usize, windows: WarmupWindows, dim: usize) -> Self {
        WindowedVariance {
            num_warmup,
            windows,
            counter: 0,
            window_size: windows.base_window,
            next_window_end: (windows.init_buffer + windows.base_window).wrapping_sub(1),
            welford: Welford::new(dim),
        }
    }

    fn in_slow_window(&self) -> bool {
        self.windows.base_window > 0
            && self.counter >= self.windows.init_buffer
            && self.counter < self.num_warmup - self.windows.term_buffer
    }

    fn at_window_end(&self) -> bool {
        self.windows.base_window > 0
            && self.counter == self.next_window_end
            && self.counter != self.num_warmup
    }

    /// Stan's `compute_next_window`: double the window, and stretch it to the terminal buffer
    /// when the window after it would not fit.
    fn compute_next_window(&mut self) {
        let last_end = self.num_warmup - self.windows.term_buffer - 1;
        if self.next_window_end == last_end {
            return;
        }
        self.window_size *= 2;
        self.next_window_end = self.counter + self.window_size;
        if self.next_window_end == last_end {
            return;
        }
        if self.next_window_end + 2 * self.window_size >= self.num_warmup - self.windows.term_buffer
        {
            self.next_window_end = last_end;
        }
    }

    /// Learns from warmup draw θ; when a window closes, writes the new M⁻¹ into `inv_mass`
    /// and returns true.
    pub(crate) fn learn(&mut self, theta: &[f64], inv_mass: &mut [f64]) -> bool {
        if self.in_slow_window() {
            self.welford.add(theta);
        }
        let updated = if self.at_window_end() {
            self.compute_next_window();
            let n = self.welford.count as f64;
            for (m, v) in inv_mass.iter_mut().zip(self.welford.sample_variance()) {
                // [Stan] regularize toward 1e-3 with the weight of 5 pseudo-draws:
                // M⁻¹ = n/(n + 5) · var + 1e-3 · 5/(n + 5).
                *m = (n / (n + 5.0)) * v + 1e-3 * (5.0 / (n + 5.0));
            }
            self.welford.restart();
            true
        } else {
            false
        };
        self.counter += 1;
        updated
    }
}

/// Welford's running mean and sum of squared deviations, per component.
#[derive(Debug, Clone)]
struct Welford {
    count: usize,
    mean: Vec<f64>,
    m2: Vec<f64>,
}

impl Welford {
    fn new(dim: usize) -> Self {
        Welford {
            count: 0,
            mean: vec![0.0; dim],
            m2: vec![0.0; dim],
        }
    }

    fn restart(&mut self) {
        self.count = 0;
        self.mean.iter_mut().for_each(|x| *x = 0.0);
        self.m2.iter_mut().for_each(|x| *x = 0.0);
    }

    fn add(&mut self, x: &[f64]) {
        self.count += 1;
        let n = self.count as f64;
        for ((mean, m2), &xi) in self.mean.iter_mut().zip(self.m2.iter_mut()).zip(x) {
            let delta = xi - *mean;
            *mean += delta / n;
            *m2 += delta * (xi - *mean);
        }
    }

    /// Sample variance m2 / (n − 1).
    fn sample_variance(&self) -> impl Iterator<Item = f64> + '_ {
        let denom = (self.count as f64 - 1.0).max(1.0);
        self.m2.iter().map(move |m2| m2 / denom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stan_default_windows_for_1000_warmup_draws() {
        // Stan: 75 fast, then slow windows 25, 50, 100, 200, 500 (the last stretched from 400
        // because a following 800 would not fit before the terminal buffer), then 50 fast.
        let mut w = WindowedVariance::new(1000, WarmupWindows::stan(1000), 1);
        let mut inv_mass = [1.0];
        let ends: Vec<usize> = (0..1000)
            .filter(|&i| w.learn(&[i as f64], &mut inv_mass))
            .collect();
        assert_eq!(ends, vec![99, 149, 249, 449, 949]);
    }

    #[test]
    fn a_start_in_the_typical_set_skips_the_initial_buffer() {
        // Pathfinder's default warmup, 925 = 1000 − 75: slow windows 25, 50, 100, 200 end at
        // draws 24, 74, 174, 374; the next, 400, is stretched to 500 because a following 800
        // would not fit before the 50-draw terminal buffer (last slow draw 925 − 50 − 1 = 874).
        let init = Init::Pathfinder(vec![vec![0.0]]);
        let windows = WarmupWindows::for_start(925, &init);
        assert_eq!(
            windows,
            WarmupWindows {
                init_buffer: 0,
                base_window: 25,
                term_buffer: 50
            }
        );
        let mut w = WindowedVariance::new(925, windows, 1);
        let mut inv_mass = [1.0];
        let ends: Vec<usize> = (0..925)
            .filter(|&i| w.learn(&[i as f64], &mut inv_mass))
            .collect();
        assert_eq!(ends, vec![24, 74, 174, 374, 874]);
        // Every other start keeps Stan's schedule; short runs shrink as Stan's do.
        assert_eq!(
            WarmupWindows::for_start(925, &Init::default()),
            WarmupWindows::stan(925)
        );
        assert_eq!(
            WarmupWindows::from_typical_set(50),
            WarmupWindows {
                init_buffer: 0,
                base_window: 45,
                term_buffer: 5
            }
        );
        assert_eq!(WarmupWindows::from_typical_set(19), WarmupWindows::stan(19));
    }

    #[test]
    fn short_warmup_shrinks_proportionally() {
        // 100 draws: 15 fast, one slow window of 75, 10 fast.
        assert_eq!(
            WarmupWindows::stan(100),
            WarmupWindows {
                init_buffer: 15,
                base_window: 75,
                term_buffer: 10
            }
        );
        let mut w = WindowedVariance::new(100, WarmupWindows::stan(100), 1);
        let mut inv_mass = [1.0];
        let ends: Vec<usize> = (0..100)
            .filter(|&i| w.learn(&[i as f64], &mut inv_mass))
            .collect();
        assert_eq!(ends, vec![89]);
        // Draws 15..=89 are 75 consecutive integers: sample variance n(n + 1)/12 = 475,
        // regularized: 75/80 · 475 + 1e-3 · 5/80 = 445.3125 + 0.0000625.
        assert!(
            (inv_mass[0] - 445.312_562_5).abs() < 1e-9,
            "{}",
            inv_mass[0]
        );
    }

    #[test]
    fn no_mass_adaptation_below_20_draws() {
        let mut w = WindowedVariance::new(19, WarmupWindows::stan(19), 1);
        let mut inv_mass = [1.0];
        assert!((0..19).all(|i| !w.learn(&[i as f64], &mut inv_mass)));
        assert_eq!(inv_mass[0], 1.0);
    }

    #[test]
    fn dual_averaging_moves_toward_the_target() {
        // Acceptance above δ = 0.8 makes the step size grow, below makes it shrink.
        let mut up = DualAveraging::new(0.8, 1.0);
        let mut down = DualAveraging::new(0.8, 1.0);
        let (mut e_up, mut e_down) = (1.0, 1.0);
        for _ in 0..50 {
            e_up = up.update(1.0);
            e_down = down.update(0.1);
        }
        assert!(e_up > 1.0 && e_down < 1.0, "{e_up} {e_down}");
        // After one update from H̄ = 0: H̄_1 = (δ − α)/11, log ε_1 = log 10 − H̄_1/0.05.
        let mut da = DualAveraging::new(0.8, 1.0);
        let e1 = da.update(0.8);
        assert!((e1 - 10.0).abs() < 1e-12);
        // ε̄_1 = ε_1 because the weight 1^(−κ) = 1.
        assert!((da.final_step_size() - 10.0).abs() < 1e-12);
    }
}
