//! The chain runner: determinism across chain subsets and threads, divergences, fatal errors,
//! interruption, initialization and sinks, for both engines.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bnnppl::density::{Density, DensityError, FnDensity, Target};
use bnnppl::engine::{
    Adaptation, ChainStatus, DrawSink, DrawStats, Engine, EngineError, Hmc, Init, InitFailure,
    Nuts, ProgressEvent, RunControl, SinkError, SinkFactory, Trace, TraceFactory,
    MAX_INIT_ATTEMPTS,
};
use common::standard_normal;

fn small_nuts(seed: u64) -> Nuts {
    Nuts {
        warmup: 150,
        draws: 100,
        seed,
        ..Nuts::default()
    }
}

fn small_hmc(seed: u64) -> Hmc {
    Hmc {
        warmup: 150,
        draws: 100,
        seed,
        step_size_jitter: 0.2,
        ..Hmc::default()
    }
}

fn run_trace<E: Engine, T: Target>(engine: &E, target: &T, control: &RunControl) -> Trace {
    engine
        .run(target, &TraceFactory { keep_warmup: true }, control)
        .unwrap()
        .into_trace()
}

fn check_determinism<E: Engine>(engine: &E) {
    let target = standard_normal(3);
    let all = run_trace(engine, &target, &RunControl::default());
    assert_eq!(all.chains.len(), 4);
    assert_eq!(all.chains[0].len(), 250);
    // Same seed, same draws.
    assert_eq!(all, run_trace(engine, &target, &RunControl::default()));
    // Chains differ from each other.
    assert_ne!(all.chains[0].theta, all.chains[1].theta);
    // Chain 2 alone is chain 2 of the group.
    let alone = run_trace(
        engine,
        &target,
        &RunControl {
            chain_ids: Some(vec![2]),
            ..RunControl::default()
        },
    );
    assert_eq!(alone.chains[0], all.chains[2]);
    // One thread and two threads give the same draws.
    for threads in [1, 2] {
        let t = run_trace(
            engine,
            &target,
            &RunControl {
                threads: Some(threads),
                ..RunControl::default()
            },
        );
        assert_eq!(t, all, "threads = {threads}");
    }
}

#[test]
fn nuts_is_deterministic_per_chain() {
    check_determinism(&small_nuts(31));
}

#[test]
fn hmc_is_deterministic_per_chain() {
    check_determinism(&small_hmc(31));
}

/// Standard normal in 2-D whose log-density is NaN where θ₀ > 2.
fn nan_beyond_2() -> FnDensity<impl FnMut(&[f64], &mut [f64]) -> f64 + Clone> {
    FnDensity::new(2, |x: &[f64], g: &mut [f64]| {
        g[0] = -x[0];
        g[1] = -x[1];
        if x[0] > 2.0 {
            f64::NAN
        } else {
            -0.5 * (x[0] * x[0] + x[1] * x[1])
        }
    })
}

fn check_nan_region<E: Engine>(engine: &E) {
    let report = engine
        .run(
            &nan_beyond_2(),
            &TraceFactory::default(),
            &RunControl::default(),
        )
        .unwrap();
    let divergences: usize = report
        .chains
        .iter()
        .map(|c| c.divergences + c.warmup_divergences)
        .sum();
    assert!(divergences > 0);
    assert!(report
        .chains
        .iter()
        .all(|c| c.status == ChainStatus::Finished));
    // Divergent trajectories are rejected, so no draw lands in the NaN region.
    let trace = report.into_trace();
    for c in &trace.chains {
        assert_eq!(c.len(), engine.draws());
        assert!(c.column(0).iter().all(|&x| x <= 2.0));
    }
}

#[test]
fn nuts_turns_nan_into_divergences() {
    check_nan_region(&small_nuts(32));
}

#[test]
fn hmc_turns_nan_into_divergences() {
    check_nan_region(&small_hmc(32));
}

/// Standard normal in 2-D that panics where θ₀ > 2.5 (never at a uniform(−2, 2) start).
fn panics_beyond_2_5() -> FnDensity<impl FnMut(&[f64], &mut [f64]) -> f64 + Clone> {
    FnDensity::new(2, |x: &[f64], g: &mut [f64]| {
        assert!(x[0] <= 2.5, "index out of range in layer 'hidden'");
        g[0] = -x[0];
        g[1] = -x[1];
        -0.5 * (x[0] * x[0] + x[1] * x[1])
    })
}

fn check_panic<E: Engine>(engine: &E) {
    let err = engine.sample(&panics_beyond_2_5()).unwrap_err();
    match &err {
        EngineError::Density {
            source: DensityError::Panicked(message),
            ..
        } => assert!(message.contains("layer 'hidden'"), "{message}"),
        other => panic!("expected a panicked density, got {other:?}"),
    }
    assert!(err.to_string().contains("the density panicked"), "{err}");
}

#[test]
fn nuts_reports_a_panicking_density() {
    check_panic(&small_nuts(33));
}

#[test]
fn hmc_reports_a_panicking_density() {
    check_panic(&small_hmc(33));
}

fn check_interrupt<E: Engine>(engine: &E) {
    let interrupt = Arc::new(AtomicBool::new(false));
    let flag = interrupt.clone();
    let control = RunControl {
        chain_ids: Some(vec![0]),
        interrupt,
        // Ctrl-C after the 50th draw (index 49).
        progress: Some(Arc::new(move |e: &ProgressEvent| {
            if e.draw == 49 {
                flag.store(true, Ordering::Relaxed);
            }
        })),
        ..RunControl::default()
    };
    let report = engine
        .run(
            &standard_normal(2),
            &TraceFactory { keep_warmup: true },
            &control,
        )
        .unwrap();
    let chain = &report.chains[0];
    assert_eq!(chain.status, ChainStatus::Interrupted);
    assert_eq!((chain.warmup_draws, chain.draws), (50, 0));
    assert!(report.interrupted());
    let trace = report.into_trace();
    assert!(trace.interrupted);
    assert_eq!(trace.chains[0].len(), 50);
}

#[test]
fn nuts_stops_on_interrupt() {
    check_interrupt(&small_nuts(34));
}

#[test]
fn hmc_stops_on_interrupt() {
    check_interrupt(&small_hmc(34));
}

/// N(θ | 3, 1) in 2-D, but only defined where θ₀ > 1.5: a uniform(−2, 2) start lands there
/// with probability 1/8, so a few retries are needed.
fn defined_beyond_1_5() -> FnDensity<impl FnMut(&[f64], &mut [f64]) -> f64 + Clone> {
    FnDensity::new(2, |x: &[f64], g: &mut [f64]| {
        g[0] = 3.0 - x[0];
        g[1] = 3.0 - x[1];
        if x[0] > 1.5 {
            -0.5 * ((x[0] - 3.0).powi(2) + (x[1] - 3.0).powi(2))
        } else {
            f64::NEG_INFINITY
        }
    })
}

#[test]
fn initialization_retries_until_finite() {
    let nuts = small_nuts(35);
    let trace = nuts.sample(&defined_beyond_1_5()).unwrap();
    assert_eq!(trace.chains.len(), 4);
    let hmc = small_hmc(35);
    let trace = hmc.sample(&defined_beyond_1_5()).unwrap();
    assert_eq!(trace.chains.len(), 4);
}

/// A density that is never finite and names the offending term, as a compiled model would.
#[derive(Clone)]
struct NeverFinite;

impl Density for NeverFinite {
    fn dim(&self) -> usize {
        2
    }
    fn log_density(&mut self, theta: &[f64]) -> Result<f64, DensityError> {
        self.log_density_grad(theta, &mut [0.0; 2])
    }
    fn log_density_grad(&mut self, _: &[f64], _: &mut [f64]) -> Result<f64, DensityError> {
        Err(DensityError::NonFiniteValue {
            value: f64::NEG_INFINITY,
            term: Some("y ~ normal(mu, sigma)".to_string()),
        })
    }
}

impl Target for NeverFinite {
    type Evaluator = NeverFinite;
    fn dim(&self) -> usize {
        2
    }
    fn evaluator(&self) -> NeverFinite {
        NeverFinite
    }
}

#[test]
fn initialization_gives_up_after_100_attempts_with_the_density_error() {
    let err = small_nuts(36).sample(&NeverFinite).unwrap_err();
    match &err {
        EngineError::Init {
            attempts, reason, ..
        } => {
            assert_eq!(*attempts, MAX_INIT_ATTEMPTS);
            assert!(matches!(reason, InitFailure::Density(_)));
        }
        other => panic!("expected an init error, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains("y ~ normal(mu, sigma)"), "{message}");
    assert!(message.contains("after 100 attempt"), "{message}");
    assert!(matches!(
        small_hmc(36).sample(&NeverFinite),
        Err(EngineError::Init { .. })
    ));
}

#[test]
fn user_initial_values() {
    // Wrong length.
    let nuts = Nuts {
        init: Init::User(vec![0.5]),
        ..small_nuts(37)
    };
    assert!(matches!(
        nuts.sample(&standard_normal(2)),
        Err(EngineError::Init {
            reason: InitFailure::WrongLength {
                expected: 2,
                got: 1
            },
            ..
        })
    ));
    // At the mode the gradient is exactly 0: NUTS cannot start there and says why …
    let nuts = Nuts {
        init: Init::User(vec![0.0, 0.0]),
        ..small_nuts(37)
    };
    assert!(matches!(
        nuts.sample(&standard_normal(2)),
        Err(EngineError::Init {
            reason: InitFailure::ZeroGradient { index: 0 },
            ..
        })
    ));
    // … static HMC can.
    let hmc = Hmc {
        init: Init::User(vec![0.0, 0.0]),
        ..small_hmc(37)
    };
    assert!(hmc.sample(&standard_normal(2)).is_ok());
    // Away from it NUTS starts, and the first warmup draw moves from there.
    let nuts = Nuts {
        init: Init::User(vec![0.5, -0.5]),
        ..small_nuts(37)
    };
    assert!(nuts.sample(&standard_normal(2)).is_ok());
}

/// Records the order of calls, and fails on request.
#[derive(Debug)]
struct Recorder {
    events: Arc<Mutex<Vec<String>>>,
    fail_at: Option<usize>,
    seen: usize,
}

impl DrawSink for Recorder {
    fn adaptation_done(&mut self, a: &Adaptation) -> Result<(), SinkError> {
        assert!(a.step_size > 0.0 && a.inv_mass.iter().all(|&m| m > 0.0));
        self.events.lock().unwrap().push("adapted".to_string());
        Ok(())
    }
    fn draw(&mut self, theta: &[f64], stats: &DrawStats) -> Result<(), SinkError> {
        assert_eq!(theta.len(), 2);
        if Some(self.seen) == self.fail_at {
            return Err(SinkError::Other("disk full".to_string()));
        }
        self.seen += 1;
        let kind = if stats.warmup { "w" } else { "s" };
        self.events.lock().unwrap().push(kind.to_string());
        Ok(())
    }
    fn finish(&mut self) -> Result<(), SinkError> {
        self.events.lock().unwrap().push("finish".to_string());
        Ok(())
    }
}

struct RecorderFactory {
    events: Arc<Mutex<Vec<String>>>,
    fail_at: Option<usize>,
}

impl SinkFactory for RecorderFactory {
    type Sink = Recorder;
    fn sink(&self, _chain: usize, dim: usize) -> Result<Recorder, SinkError> {
        assert_eq!(dim, 2);
        Ok(Recorder {
            events: self.events.clone(),
            fail_at: self.fail_at,
            seen: 0,
        })
    }
}

fn check_sink_protocol<E: Engine>(engine: &E) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let control = RunControl {
        chain_ids: Some(vec![1]),
        ..RunControl::default()
    };
    let factory = RecorderFactory {
        events: events.clone(),
        fail_at: None,
    };
    engine.run(&standard_normal(2), &factory, &control).unwrap();
    // Warmup draws, then the adaptation, then sampling draws, then finish.
    let mut expected = vec!["w".to_string(); engine.warmup()];
    expected.push("adapted".to_string());
    expected.extend(vec!["s".to_string(); engine.draws()]);
    expected.push("finish".to_string());
    assert_eq!(*events.lock().unwrap(), expected);

    // A failing sink ends the chain with a typed error, and is still finished (flushed).
    let events = Arc::new(Mutex::new(Vec::new()));
    let factory = RecorderFactory {
        events: events.clone(),
        fail_at: Some(10),
    };
    let err = engine
        .run(&standard_normal(2), &factory, &control)
        .unwrap_err();
    assert!(matches!(err, EngineError::Sink { chain: 1, .. }), "{err:?}");
    assert!(err.to_string().contains("disk full"));
    let events = events.lock().unwrap();
    assert_eq!(events.len(), 11);
    assert_eq!(events.last().unwrap(), "finish");
}

#[test]
fn nuts_sink_protocol() {
    check_sink_protocol(&small_nuts(38));
}

#[test]
fn hmc_sink_protocol() {
    check_sink_protocol(&small_hmc(38));
}

#[test]
fn no_warmup_reports_adaptation_before_the_first_draw() {
    for engine_is_nuts in [true, false] {
        let events = Arc::new(Mutex::new(Vec::new()));
        let factory = RecorderFactory {
            events: events.clone(),
            fail_at: None,
        };
        let control = RunControl {
            chain_ids: Some(vec![0]),
            ..RunControl::default()
        };
        if engine_is_nuts {
            let nuts = Nuts {
                warmup: 0,
                draws: 5,
                ..Nuts::default()
            };
            nuts.run(&standard_normal(2), &factory, &control).unwrap();
        } else {
            let hmc = Hmc {
                warmup: 0,
                draws: 5,
                ..Hmc::default()
            };
            hmc.run(&standard_normal(2), &factory, &control).unwrap();
        }
        let events = events.lock().unwrap();
        assert_eq!(events[0], "adapted");
        assert_eq!(events.len(), 7);
    }
}

#[test]
fn invalid_settings_are_typed_errors() {
    let nuts = Nuts {
        target_accept: 1.5,
        ..small_nuts(39)
    };
    assert!(matches!(
        nuts.sample(&standard_normal(2)),
        Err(EngineError::Settings(_))
    ));
    let hmc = Hmc {
        n_leapfrog: 0,
        ..small_hmc(39)
    };
    assert!(matches!(
        hmc.sample(&standard_normal(2)),
        Err(EngineError::Settings(_))
    ));
    let control = RunControl {
        chain_ids: Some(vec![1, 1]),
        ..RunControl::default()
    };
    assert!(matches!(
        small_nuts(39).run(&standard_normal(2), &TraceFactory::default(), &control),
        Err(EngineError::Settings(_))
    ));
}
