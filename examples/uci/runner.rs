//! Fits the UCI model to one split with NUTS, SVI, one of the optimization methods (MAP,
//! deep and anchored ensembles, SWAG, MultiSWAG, MC dropout), cyclical SGHMC or SVGD through the public
//! library API and scores it on the held-out rows.

use super::protocol::{self, Dataset, Standardized};
use bnnppl::api::Model;
use bnnppl::engine::svi::{Decay, GuideKind, Init, Svi};
use bnnppl::engine::{Dynamics, Ensemble, Map, McDropout, MultiSwag, Nuts, Sgmcmc, Svgd, Swag};
use std::time::Instant;

/// Which engine fits a split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// NUTS with the settings in `Config::nuts`.
    Nuts,
    /// Mean-field SVI with the settings in `Config::svi`.
    Svi,
    /// The MAP fit of `Config::fit`.
    Map,
    /// A deep ensemble of `Config::fit.members` MAP fits.
    Ensemble,
    /// An anchored (randomize-then-optimize) ensemble.
    AnchoredEnsemble,
    /// SWAG from the MAP fit.
    Swag,
    /// SWAG on each of `Config::fit.members` members.
    Multiswag,
    /// MC dropout: the MAP fit with a fresh dropout mask each step, then masked draws.
    McDropout,
    /// SGHMC with a cyclical step size (cSG-MCMC), settings in `Config::fit`.
    Sghmc,
    /// SVGD, settings in `Config::fit`.
    Svgd,
}

impl std::str::FromStr for Engine {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "nuts" => Engine::Nuts,
            "svi" => Engine::Svi,
            "map" => Engine::Map,
            "ensemble" => Engine::Ensemble,
            "anchored-ensemble" => Engine::AnchoredEnsemble,
            "swag" => Engine::Swag,
            "multiswag" => Engine::Multiswag,
            "mc-dropout" => Engine::McDropout,
            "sghmc" => Engine::Sghmc,
            "svgd" => Engine::Svgd,
            other => {
                return Err(format!(
                    "--engine must be nuts, svi, map, ensemble, anchored-ensemble, swag, \
                     multiswag, mc-dropout, sghmc or svgd, not '{other}'"
                ))
            }
        })
    }
}

/// Settings of the optimization methods, in epochs so one setting serves every data size.
#[derive(Debug, Clone, PartialEq)]
pub struct FitSettings {
    /// Adam epochs of each MAP fit (steps = epochs · ⌈N/B⌉).
    pub epochs: usize,
    /// Rows per minibatch (the whole training set when it is smaller).
    pub batch: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// Members of the ensembles.
    pub members: usize,
    /// SGD epochs of SWAG after the MAP fit (one snapshot per epoch).
    pub swag_epochs: usize,
    /// SWAG's SGD learning rate (per row, see `Swag::lr`).
    pub swag_lr: f64,
    /// SWAG's rank K.
    pub swag_rank: usize,
    /// Draws from SWAG's Gaussian per member.
    pub swag_draws: usize,
    /// MC dropout's draws (masks folded into the fitted weights).
    pub dropout_draws: usize,
    /// SGHMC's epochs (its cycles share them; the first cycle's exploration is the burn-in).
    pub sghmc_epochs: usize,
    /// SGHMC's cycles M.
    pub sghmc_cycles: usize,
    /// SGHMC's learning rate per row: η = rate / N, so that the step on the mean log-density
    /// per row does not depend on N. On yacht (splits 0–1, validation rows) 0.003 already
    /// diverges in some cycles and 0.0003 underfits in 400 epochs; 0.001 is stable.
    pub sghmc_lr: f64,
    /// SGHMC's draws, spread over the cycles' sampling stages.
    pub sghmc_draws: usize,
    /// SVGD's Adam epochs (every particle on each batch).
    pub svgd_epochs: usize,
    /// SVGD's particles (its draws).
    pub svgd_particles: usize,
    /// SVGD's Adam learning rate (cosine decay).
    pub svgd_lr: f64,
}

impl Default for FitSettings {
    /// 40 epochs of Adam at 0.01 with batches of 32 rows (the published ensembles' 40 epochs;
    /// MC dropout's protocol batch is 32 too), 5 members, then 20 SGD epochs for SWAG with
    /// K = 20 and 100 draws per member; 1,000 mask draws for MC dropout.
    fn default() -> Self {
        FitSettings {
            epochs: 40,
            batch: 32,
            lr: 0.01,
            members: 5,
            swag_epochs: 20,
            swag_lr: 0.002,
            swag_rank: 20,
            swag_draws: 100,
            dropout_draws: 1000,
            sghmc_epochs: 4000,
            sghmc_cycles: 4,
            sghmc_lr: 0.001,
            sghmc_draws: 100,
            svgd_epochs: 2000,
            svgd_particles: 50,
            svgd_lr: 0.01,
        }
    }
}

impl FitSettings {
    /// The MAP settings for a training set of `n` rows.
    fn map(&self, n: usize, seed: u64) -> Map {
        let batch = self.batch.min(n);
        Map {
            steps: self.epochs * n.div_ceil(batch),
            lr: self.lr,
            batch_size: (batch < n).then_some(batch),
            decay: Decay::Cosine,
            grad_tol: 0.0,
            seed,
            ..Map::default()
        }
    }

    /// The SWAG settings for a training set of `n` rows.
    fn swag(&self, n: usize, seed: u64) -> Swag {
        let batch = self.batch.min(n);
        Swag {
            map: self.map(n, seed),
            steps: self.swag_epochs * (n / batch).max(1),
            lr: self.swag_lr,
            rank: self.swag_rank,
            draws: self.swag_draws,
            ..Swag::default()
        }
    }

    /// Cyclical SGHMC (cSG-MCMC, Zhang et al. 2020) for `n` training rows: one chain, friction 0.1 (momentum 0.9),
    /// `sghmc_draws` draws over `sghmc_cycles` cycles whose first half explores, thinned so the
    /// run lasts `sghmc_epochs` epochs.
    pub fn sghmc(&self, n: usize, seed: u64) -> Sgmcmc {
        let batch = self.batch.min(n);
        let steps = self.sghmc_epochs * (n / batch).max(1);
        let exploration = 0.5;
        let sampling = (steps as f64 * (1.0 - exploration)) as usize;
        Sgmcmc {
            dynamics: Dynamics::Sghmc {
                friction: 0.1,
                noise_estimate: false,
            },
            chains: 1,
            burn_in: 0,
            draws: self.sghmc_draws,
            thin: (sampling / self.sghmc_draws.max(1)).max(1),
            step_size: self.sghmc_lr / n as f64,
            batch_size: (batch < n).then_some(batch),
            schedule: Decay::Cyclical {
                cycles: self.sghmc_cycles,
            },
            exploration,
            seed,
            // Stan's uniform(−2, 2) start gives the network outputs of tens of sds, whose
            // gradients throw SGD with momentum out at the first cycle's largest step.
            init: bnnppl::engine::Init::Random { radius: 0.5 },
        }
    }

    /// SVGD for `n` training rows: `svgd_particles` particles, Adam with a cosine decay for
    /// `svgd_epochs` epochs.
    pub fn svgd(&self, n: usize, seed: u64) -> Svgd {
        let batch = self.batch.min(n);
        Svgd {
            particles: self.svgd_particles,
            steps: self.svgd_epochs * (n / batch).max(1),
            lr: self.svgd_lr,
            decay: Decay::Cosine,
            batch_size: (batch < n).then_some(batch),
            seed,
            ..Svgd::default()
        }
    }
}

/// Settings of a benchmark run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The `.bnn` model: data `H` (hidden width), `x`, `y`, `x_test`; parameter `sigma`;
    /// predict `mu_test`.
    pub model: std::path::PathBuf,
    /// The engine.
    pub engine: Engine,
    /// NUTS settings (its seed is replaced per split).
    pub nuts: Nuts,
    /// SVI settings (its seed is replaced per split).
    pub svi: Svi,
    /// Settings of the optimization methods.
    pub fit: FitSettings,
    /// Base seed; split i uses `split_seed(seed, i)`.
    pub seed: u64,
    /// Score on the last 20 % of the training rows instead of the test rows (for choosing the
    /// model; test rows are then never read).
    pub validate: bool,
}

/// The seed of split `i`: distinct per split, fixed by the base seed.
pub fn split_seed(seed: u64, i: usize) -> u64 {
    seed.wrapping_mul(1_000_003).wrapping_add(i as u64)
}

/// What one split produced.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitResult {
    /// Split index.
    pub split: usize,
    /// Test RMSE, original units.
    pub rmse: f64,
    /// Mean test log predictive density, original units.
    pub ll: f64,
    /// Wall-clock seconds of the fit and the scoring.
    pub seconds: f64,
    /// Divergent transitions after warmup (NUTS; 0 for the others).
    pub divergences: usize,
    /// Largest R̂ over the test rows' predictive means (NUTS with ≥ 2 chains; NaN otherwise).
    pub max_rhat: f64,
    /// Mean tree depth after warmup (NUTS; NaN for SVI).
    pub mean_depth: f64,
    /// Gradient evaluations of the density: leapfrog steps after warmup for NUTS, all steps
    /// for SVI; 0 for the optimization methods (their time is in `seconds`).
    pub gradients: u64,
    /// Posterior mean of sigma in original units.
    pub sigma: f64,
}

/// CSV header matching [`SplitResult::csv_row`].
pub const CSV_HEADER: &str =
    "split,rmse,ll,seconds,divergences,max_rhat_pred,mean_tree_depth,gradients,sigma";

impl SplitResult {
    /// One CSV line (no newline); floats in shortest round-trip form, so reruns compare
    /// exactly.
    pub fn csv_row(&self) -> String {
        format!(
            "{},{},{},{:.1},{},{},{},{},{}",
            self.split,
            self.rmse,
            self.ll,
            self.seconds,
            self.divergences,
            self.max_rhat,
            self.mean_depth,
            self.gradients,
            self.sigma
        )
    }
}

/// Standardizes split `i` (or its validation carve-out), fits, and scores it.
pub fn run_split(
    ds: &Dataset,
    dir: &std::path::Path,
    i: usize,
    cfg: &Config,
) -> Result<SplitResult, String> {
    let split = ds.split(dir, i)?;
    let (train, test) = if cfg.validate {
        protocol::validation_split(&split.train)
    } else {
        (split.train, split.test)
    };
    let st = protocol::standardize(ds, &train, &test);
    let model = Model::from_file(&cfg.model).map_err(|e| e.to_string())?;
    let posterior = model
        .bind_json(&protocol::to_json(&st, ds.n_hidden))
        .map_err(|e| e.to_string())?;
    let seed = split_seed(cfg.seed, i);
    let started = Instant::now();
    let (draws, divergences, mean_depth, gradients) = match cfg.engine {
        Engine::Nuts => {
            let nuts = Nuts {
                seed,
                ..cfg.nuts.clone()
            };
            let draws = posterior.sample(&nuts).map_err(|e| e.to_string())?;
            let stats: Vec<_> = draws.chains.iter().flat_map(|c| &c.stats).collect();
            let divergences = stats.iter().filter(|s| s.divergent).count();
            let depth = stats.iter().map(|s| s.tree_depth as f64).sum::<f64>() / stats.len() as f64;
            let grads = stats.iter().map(|s| s.n_leapfrog).sum();
            (draws, divergences, depth, grads)
        }
        Engine::Svi => {
            let svi = Svi {
                seed,
                ..cfg.svi.clone()
            };
            let fit = posterior.fit_svi(&svi).map_err(|e| e.to_string())?;
            let grads = fit.result.gradients;
            (fit.draws(svi.draws, seed), 0, f64::NAN, grads)
        }
        Engine::Map | Engine::Ensemble | Engine::AnchoredEnsemble => {
            let n = st.y_train.len();
            let engine = Ensemble {
                members: if cfg.engine == Engine::Map {
                    1
                } else {
                    cfg.fit.members
                },
                map: cfg.fit.map(n, seed),
                anchored: cfg.engine == Engine::AnchoredEnsemble,
            };
            let draws = posterior
                .sample_with(&engine, seed)
                .map_err(|e| e.to_string())?;
            (draws, 0, f64::NAN, 0)
        }
        Engine::Swag | Engine::Multiswag => {
            let n = st.y_train.len();
            let swag = cfg.fit.swag(n, seed);
            let draws = if cfg.engine == Engine::Swag {
                posterior.sample_with(&swag, seed)
            } else {
                let multi = MultiSwag {
                    members: cfg.fit.members,
                    swag,
                };
                posterior.sample_with(&multi, seed)
            }
            .map_err(|e| e.to_string())?;
            (draws, 0, f64::NAN, 0)
        }
        Engine::McDropout => {
            let engine = McDropout {
                map: cfg.fit.map(st.y_train.len(), seed),
                draws: cfg.fit.dropout_draws,
                members: 1,
            };
            let draws = posterior
                .sample_with(&engine, seed)
                .map_err(|e| e.to_string())?;
            (draws, 0, f64::NAN, 0)
        }
        Engine::Sghmc | Engine::Svgd => {
            let n = st.y_train.len();
            let draws = if cfg.engine == Engine::Sghmc {
                posterior.sample_with(&cfg.fit.sghmc(n, seed), seed)
            } else {
                posterior.sample_with(&cfg.fit.svgd(n, seed), seed)
            }
            .map_err(|e| e.to_string())?;
            let stats = || draws.chains.iter().flat_map(|c| &c.stats);
            let grads = stats().map(|s| s.n_leapfrog).sum();
            // SGHMC's divergent draws: a step since the previous draw blew up or went
            // non-finite, and the chain went back to that draw.
            let divergent = stats().filter(|s| s.divergent).count();
            (draws, divergent, f64::NAN, grads)
        }
    };
    score(&st, &draws, i, divergences, mean_depth, gradients, started)
}

/// Reads `sigma` and `mu_test` from the draws and computes the split's scores.
fn score(
    st: &Standardized,
    draws: &bnnppl::draws::Draws,
    i: usize,
    divergences: usize,
    mean_depth: f64,
    gradients: u64,
    started: Instant,
) -> Result<SplitResult, String> {
    let missing = |c: &str| format!("the model's draws have no column '{c}'");
    let sigma: Vec<f64> = draws.column("sigma").ok_or(missing("sigma"))?.concat();
    let n_test = st.y_test.len();
    // mu[s][j]: draw s's standardized mean at test row j (chains concatenated).
    let mut mu = vec![Vec::with_capacity(n_test); sigma.len()];
    let mut max_rhat = f64::NAN;
    for name in (1..=n_test).map(|j| format!("mu_test.{j}")) {
        let chains = draws.column(&name).ok_or_else(|| missing(&name))?;
        if chains.len() >= 2 {
            let r = bnnppl::summary::rhat(&chains);
            max_rhat = if max_rhat.is_nan() {
                r
            } else {
                max_rhat.max(r)
            };
        }
        for (row, v) in mu.iter_mut().zip(chains.concat()) {
            row.push(v);
        }
    }
    let sigma_mean = sigma.iter().sum::<f64>() / sigma.len() as f64;
    Ok(SplitResult {
        split: i,
        rmse: protocol::rmse(&mu, &st.y_test, st.y_mean, st.y_sd),
        ll: protocol::log_likelihood(&mu, &sigma, &st.y_test, st.y_mean, st.y_sd),
        seconds: started.elapsed().as_secs_f64(),
        divergences,
        max_rhat,
        mean_depth,
        gradients,
        sigma: sigma_mean * st.y_sd,
    })
}

/// The model a data set runs with when `--model` is not given. For NUTS it is the prior that
/// scored the higher mean log-likelihood on the validation rows (the last 20 % of the training
/// rows) of splits 0 and 1, between `fan_in` and Neal's per-layer precisions, both with the
/// noise floor (`bench/uci/choose_prior.sh` reruns that comparison; BENCHMARKS.md has the
/// table). Data sets not compared there get `fan_in`.
pub fn default_model(engine: Engine, dataset: &str) -> &'static str {
    match engine {
        Engine::Svi => "models/uci_svi.bnn",
        // The optimization methods fit the fixed-scale `fan_in` prior with the noise floor:
        // Neal's hierarchical precisions have no mode to find (the precision of a layer whose
        // weights all go to 0 grows without bound).
        Engine::Map
        | Engine::Ensemble
        | Engine::AnchoredEnsemble
        | Engine::Swag
        | Engine::Multiswag
        | Engine::Sghmc
        | Engine::Svgd => "models/uci_nuts.bnn",
        // Gal & Ghahramani's placement: dropout on the inputs and on the hidden units.
        Engine::McDropout => "models/uci_dropout.bnn",
        Engine::Nuts => match dataset {
            "bostonHousing" | "concrete" | "wine-quality-red" => "models/uci_nuts_neal.bnn",
            _ => "models/uci_nuts.bnn",
        },
    }
}

/// The SVI settings the benchmark uses unless overridden: mean-field, MAP warm start, and a
/// cosine learning-rate decay, which scored a higher validation log-likelihood than a constant
/// rate on 8 of the 9 data sets (0.001 nats lower on wine; bench/uci/validation/svi_decay_*).
pub fn default_svi() -> Svi {
    Svi {
        guide: GuideKind::MeanField,
        steps: 20_000,
        lr: 0.01,
        decay: Decay::Cosine,
        init: Init::Map { steps: 2000 },
        init_scale: 0.01,
        batch_size: Some(100),
        draws: 1000,
        ..Svi::default()
    }
}
