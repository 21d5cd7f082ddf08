//! A chain's resume point: the draw it reached, the frozen step size and mass matrix, its
//! position, and where in its random stream a resumed chain takes its generator's seed.
//!
//! nuts-rs keeps its per-chain generator private (seeded once from ours when the chain is made),
//! so its position cannot be saved. What is saved is our chain generator's state right after it
//! seeded nuts-rs (`base`); a chain resumed at draw k seeds a fresh nuts-rs generator from the
//! words at `base + 8·(k + 1)` of that stream ([`RngState::resumed`]). The resumed chain is the
//! same Markov chain (same kernel: step size and mass matrix frozen, started from the last
//! draw), reproducible for a given resume point, but its draws are not the bits an uninterrupted
//! run would have made.

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{ChainOutput, DrawSink, Engine, EngineError, Header, Nuts};
use crate::density::Density;

/// Words nuts-rs reads from our generator to seed its own (a 32-byte ChaCha key).
const SEED_WORDS: u128 = 8;

/// Where a ChaCha8 generator stands: its key, stream and word position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    /// The 32-byte key, as 64 hex digits.
    pub seed: String,
    /// The stream (nonce).
    pub stream: u64,
    /// Position in the stream, in 32-bit words (as decimal text: it can exceed 2⁶⁴).
    pub word_pos: String,
}

impl RngState {
    /// The state of `rng`.
    pub fn capture(rng: &ChaCha8Rng) -> RngState {
        RngState {
            seed: rng.get_seed().iter().map(|b| format!("{b:02x}")).collect(),
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos().to_string(),
        }
    }

    /// The generator this state describes, or `None` when the text is not a state.
    pub fn restore(&self) -> Option<ChaCha8Rng> {
        let hex = self.seed.as_bytes();
        if hex.len() != 64 {
            return None;
        }
        let mut seed = [0u8; 32];
        for (i, byte) in seed.iter_mut().enumerate() {
            let pair = std::str::from_utf8(&hex[2 * i..2 * i + 2]).ok()?;
            *byte = u8::from_str_radix(pair, 16).ok()?;
        }
        let mut rng = ChaCha8Rng::from_seed(seed);
        rng.set_stream(self.stream);
        rng.set_word_pos(self.word_pos.parse().ok()?);
        Some(rng)
    }

    /// The generator a chain resumed at draw `next_draw` (warmup included) seeds nuts-rs from:
    /// this state advanced by 8 words per draw made, plus 8, so that every resume point reads
    /// its own words, none of them the ones the original chain's seed came from (before `base`).
    pub fn resumed(&self, next_draw: usize) -> Option<ChaCha8Rng> {
        let mut rng = self.restore()?;
        let pos = rng.get_word_pos() + SEED_WORDS * (next_draw as u128 + 1);
        rng.set_word_pos(pos);
        Some(rng)
    }
}

/// A chain's state after a draw, enough to continue it with adaptation frozen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainState {
    /// Draws made, warmup included: the index of the next draw.
    pub next_draw: usize,
    /// The frozen step size ε of the sampling draws.
    #[serde(with = "exact")]
    pub step_size: f64,
    /// Diagonal of the inverse mass matrix M⁻¹, length d.
    #[serde(with = "exact_vec")]
    pub inv_mass: Vec<f64>,
    /// Position θ of the last draw, on the unconstrained scale, length d.
    #[serde(with = "exact_vec")]
    pub theta: Vec<f64>,
    /// The chain generator right after it seeded nuts-rs (see the module doc).
    pub rng: RngState,
}

/// An interrupted NUTS run, continued: each chain with a saved state goes on from it with
/// adaptation frozen; every other chain runs from its start, as in the original run.
#[derive(Debug, Clone)]
pub struct Resume {
    /// The original run's settings.
    pub nuts: Nuts,
    /// Per chain id, the state to continue from; `None` (or beyond the end) redoes the chain.
    pub states: Vec<Option<ChainState>>,
}

impl Engine for Resume {
    type Fit = ();

    fn name(&self) -> &'static str {
        self.nuts.name()
    }
    fn chains(&self) -> usize {
        self.nuts.chains
    }
    fn warmup(&self) -> usize {
        self.nuts.warmup
    }
    fn draws(&self) -> usize {
        self.nuts.draws
    }
    fn header(&self) -> Header {
        self.nuts.header()
    }
    fn check_settings(&self, dim: usize, n_rows: usize) -> Result<(), EngineError> {
        self.nuts.check_settings(dim, n_rows)
    }
    fn run_chain<D: Density, S: DrawSink>(
        &self,
        density: D,
        chain: usize,
        out: &mut ChainOutput<'_, S>,
    ) -> Result<(), EngineError> {
        match self.states.get(chain).and_then(Option::as_ref) {
            Some(state) => self.nuts.resume_chain(density, chain, state, out),
            None => self.nuts.run_chain(density, chain, out),
        }
    }
}

/// f64 as its shortest round-trip text, so a state file reads back bit for bit.
mod exact {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::stan_csv::format_f64(*x))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A vector of f64, each as [`exact`] writes it.
mod exact_vec {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(xs: &[f64], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(xs.iter().map(|&x| crate::stan_csv::format_f64(x)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|t| t.parse().map_err(serde::de::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::density::FnDensity;
    use crate::engine::rng::chain_rng;
    use crate::engine::{
        Adaptation, DrawStats, RunControl, SinkError, SinkFactory, TraceFactory, TraceSink,
    };
    use crate::summary::{mcse_mean, mcse_sd};
    use rand::RngExt;

    /// Keeps a chain's resume points.
    struct Points(Vec<ChainState>);
    impl DrawSink for Points {
        fn adaptation_done(&mut self, _: &Adaptation) -> Result<(), SinkError> {
            Ok(())
        }
        fn draw(&mut self, _: &[f64], _: &DrawStats) -> Result<(), SinkError> {
            Ok(())
        }
        fn checkpoint(&mut self, state: Option<&ChainState>) -> Result<(), SinkError> {
            self.0.extend(state.cloned());
            Ok(())
        }
    }
    struct PointsFactory;
    impl SinkFactory for PointsFactory {
        type Sink = Points;
        fn sink(&self, _: usize, _: usize) -> Result<Points, SinkError> {
            Ok(Points(Vec::new()))
        }
    }

    #[test]
    fn a_resumed_chain_keeps_its_adaptation_and_samples_the_target() {
        // θ ~ normal(0, diag(1, 10²)): warmup must learn M⁻¹ ≈ diag(1, 100), and the resumed
        // chain must keep that step size and sample both scales.
        let target = FnDensity::new(2, |x: &[f64], g: &mut [f64]| {
            g[0] = -x[0];
            g[1] = -x[1] / 100.0;
            -0.5 * (x[0] * x[0] + x[1] * x[1] / 100.0)
        });
        let nuts = Nuts {
            chains: 1,
            warmup: 500,
            draws: 4200,
            seed: 5,
            checkpoint_every: 100,
            ..Nuts::default()
        };
        let control = RunControl::default();
        let report = nuts.run(&target, &PointsFactory, &control).expect("runs");
        let points = &report.chains[0].sink.0;
        // The end of warmup, then every 100 draws: 43 resume points, the last at the end.
        assert_eq!(points.len(), 43);
        assert_eq!(points[0].next_draw, 500);
        let state = points[2].clone();
        assert_eq!(state.next_draw, 700);
        assert!((state.inv_mass[1] / state.inv_mass[0] - 100.0).abs() < 50.0);
        let resume = Resume {
            nuts,
            states: vec![Some(state.clone())],
        };
        let report = resume
            .run(&target, &TraceFactory::default(), &control)
            .expect("resumes");
        let trace = &report.chains[0].sink;
        let TraceSink { trace, .. } = trace;
        assert_eq!(trace.len(), 4000, "the draws after draw 700");
        assert!(trace.stats.iter().all(|s| s.step_size == state.step_size));
        for (j, sd) in [(0, 1.0), (1, 10.0)] {
            let chain = vec![trace.column(j)];
            let n = chain[0].len() as f64;
            let mean = chain[0].iter().sum::<f64>() / n;
            let var = chain[0].iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
            let z_mean = mean / mcse_mean(&chain);
            let z_sd = (var.sqrt() - sd) / mcse_sd(&chain);
            assert!(z_mean.abs() < 4.5, "θ{j}: mean {mean}, z {z_mean}");
            assert!(z_sd.abs() < 4.5, "θ{j}: sd {}, z {z_sd}", var.sqrt());
        }
    }

    #[test]
    fn a_state_restores_the_generator_where_it_stood() {
        let mut rng = chain_rng(7, 2);
        let _: [u64; 5] = rng.random();
        let state = RngState::capture(&rng);
        let mut back = state.restore().expect("valid state");
        let a: [u64; 4] = rng.random();
        let b: [u64; 4] = back.random();
        assert_eq!(a, b);
    }

    #[test]
    fn each_resume_point_reads_its_own_words() {
        let rng = chain_rng(7, 0);
        let state = RngState::capture(&rng);
        let seed = |k: usize| {
            let mut r = state.resumed(k).expect("valid");
            r.random::<[u32; 8]>()
        };
        // Resume points 3 and 4 are 8 words apart: the seed of 4 starts where 3's ends.
        let mut r3 = state.resumed(3).expect("valid");
        let _: [u32; 8] = r3.random();
        assert_eq!(r3.random::<[u32; 8]>(), seed(4));
        assert_ne!(seed(3), seed(4));
        assert_eq!(seed(3), seed(3));
    }

    #[test]
    fn a_state_file_reads_back_bit_for_bit() {
        let state = ChainState {
            next_draw: 1234,
            step_size: 0.1 + 0.2,
            inv_mass: vec![1.0 / 3.0, 2e-300, 7.5e20],
            theta: vec![-0.0, f64::MIN_POSITIVE, std::f64::consts::PI],
            rng: RngState::capture(&chain_rng(1, 0)),
        };
        let text = serde_json::to_string(&state).expect("serializes");
        let back: ChainState = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, state);
        assert_eq!(back.theta[0].to_bits(), (-0.0f64).to_bits());
        assert!(RngState {
            seed: "zz".into(),
            ..state.rng.clone()
        }
        .restore()
        .is_none());
    }
}
