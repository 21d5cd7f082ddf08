//! Measures the cost per gradient of the engines on a trivial density (ignored by default):
//! `cargo test --release --test engine_overhead -- --ignored --nocapture`.

mod common;

use std::time::Instant;

use bnnppl::density::{Density, Target};
use bnnppl::engine::{
    Adaptation, DrawSink, DrawStats, Engine, Hmc, Nuts, RunControl, SinkError, SinkFactory,
};

/// Drops every draw, so the timing is the engine's alone.
struct NullFactory;
struct NullSink;
impl DrawSink for NullSink {
    fn adaptation_done(&mut self, _: &Adaptation) -> Result<(), SinkError> {
        Ok(())
    }
    fn draw(&mut self, theta: &[f64], _: &DrawStats) -> Result<(), SinkError> {
        std::hint::black_box(theta);
        Ok(())
    }
}
impl SinkFactory for NullFactory {
    type Sink = NullSink;
    fn sink(&self, _: usize, _: usize) -> Result<NullSink, SinkError> {
        Ok(NullSink)
    }
}
use common::standard_normal;

#[test]
#[ignore = "timing, run by hand"]
fn overhead_per_gradient() {
    // The machine is shared, so each number is the best of 7 runs.
    let best = |f: &mut dyn FnMut() -> (f64, f64)| {
        (0..7)
            .map(|_| f())
            .fold((f64::INFINITY, f64::INFINITY), |a, b| {
                (a.0.min(b.0), a.1.min(b.1))
            })
    };
    for dim in [1, 10, 100] {
        let target = standard_normal(dim);
        // The density alone.
        let mut density = target.evaluator();
        let raw = best(&mut || {
            let mut t = vec![0.3; dim];
            let mut grad = vec![0.0; dim];
            let n = 200_000;
            let start = Instant::now();
            for i in 0..n {
                t[0] = 0.3 + i as f64 * 1e-9;
                std::hint::black_box(density.log_density_grad(&t, &mut grad).unwrap());
            }
            (start.elapsed().as_secs_f64() / n as f64, 0.0)
        })
        .0;
        let control = RunControl {
            chain_ids: Some(vec![0]),
            ..RunControl::default()
        };
        let nuts = Nuts {
            warmup: 1000,
            draws: 5_000,
            seed: 1,
            ..Nuts::default()
        };
        let ours = best(&mut || {
            let r = nuts.run(&target, &NullFactory, &control).unwrap();
            let c = &r.chains[0];
            let t = c.elapsed.as_secs_f64();
            (
                t / c.n_leapfrog as f64,
                t / (c.warmup_draws + c.draws) as f64,
            )
        });
        let bare = best(&mut || bare_nuts_rs(dim, &nuts));
        let hmc = Hmc {
            warmup: 1000,
            draws: 5_000,
            seed: 1,
            ..Hmc::default()
        };
        let hmc = best(&mut || {
            let r = hmc.run(&target, &NullFactory, &control).unwrap();
            let c = &r.chains[0];
            (c.elapsed.as_secs_f64() / c.n_leapfrog as f64, 0.0)
        })
        .0;
        println!(
            "d = {dim:3}: density {:6.1} ns/grad | NUTS {:6.1} ns/grad {:7.1} ns/draw | \
             nuts-rs alone {:6.1} ns/grad {:7.1} ns/draw | static HMC {:6.1} ns/grad",
            raw * 1e9,
            ours.0 * 1e9,
            ours.1 * 1e9,
            bare.0 * 1e9,
            bare.1 * 1e9,
            hmc * 1e9
        );
    }
}

/// nuts-rs driven directly with the same settings and `draw()` (no statistics, no adapter),
/// to separate the adapter's cost from nuts-rs's own. Returns seconds per leapfrog step and
/// per draw.
fn bare_nuts_rs(dim: usize, nuts: &Nuts) -> (f64, f64) {
    use nuts_rs::{
        Chain, CpuLogpFunc, CpuMath, CpuMathError, DiagNutsSettings, LogpError, Settings,
    };
    use rand::SeedableRng;
    use std::collections::HashMap;

    #[derive(Debug, thiserror::Error)]
    #[error("never")]
    struct Never;
    impl LogpError for Never {
        fn is_recoverable(&self) -> bool {
            false
        }
    }
    struct Normal(usize);
    impl nuts_rs::HasDims for Normal {
        fn dim_sizes(&self) -> HashMap<String, u64> {
            HashMap::from([("unconstrained_parameter".to_string(), self.0 as u64)])
        }
    }
    impl CpuLogpFunc for Normal {
        type LogpError = Never;
        type FlowParameters = ();
        type ExpandedVector = ();
        fn dim(&self) -> usize {
            self.0
        }
        fn logp(&mut self, x: &[f64], g: &mut [f64]) -> Result<f64, Never> {
            let mut lp = 0.0;
            for (xi, gi) in x.iter().zip(g.iter_mut()) {
                lp -= 0.5 * xi * xi;
                *gi = -xi;
            }
            Ok(lp)
        }
        fn expand_vector<R: rand::Rng + ?Sized>(
            &mut self,
            _: &mut R,
            _: &[f64],
        ) -> Result<(), CpuMathError> {
            Ok(())
        }
    }
    let settings: DiagNutsSettings = nuts.nuts_rs_settings();
    let total = settings.num_tune + settings.num_draws;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut chain = settings
        .new_chain(0, CpuMath::new(Normal(dim)), &mut rng)
        .unwrap();
    chain.set_position(&vec![0.3; dim]).unwrap();
    let start = Instant::now();
    let mut steps = 0;
    for _ in 0..total {
        let (_, progress) = chain.draw().unwrap();
        steps += progress.num_steps;
    }
    let elapsed = start.elapsed().as_secs_f64();
    (elapsed / steps as f64, elapsed / total as f64)
}
