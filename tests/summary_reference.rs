//! Checks `bnnppl::summary` against reference values from ArviZ 0.23.4 and the R package posterior 1.4.0.
//!
//! The draws come from a generator written identically here and in
//! `tests/reference/summary_refs.py` (bit-for-bit the same doubles); that script prints the ArviZ
//! values and writes the draws for `tests/reference/summary_refs.R`, which prints posterior's:
//!
//! ```text
//! python tests/reference/summary_refs.py /tmp/refs && Rscript tests/reference/summary_refs.R /tmp/refs
//! ```
//!
//! In the quoted snippets `x` is the dataset's array: in Python `DATASETS[name]` of shape
//! (chains, draws); in R the matrix read from `<name>.csv` (draws × chains). Where the two tools
//! agree both are quoted; they differ from each other by at most a few ulps there.

// Reference numbers are pasted exactly as the tools printed them (17 significant digits, no
// separators), so that each can be found again in the tools' output.
#![allow(clippy::excessive_precision, clippy::unreadable_literal)]

use bnnppl::summary::{
    ebfmi, ess_bulk, ess_mean, ess_quantile, ess_tail, mcse_mean, mcse_quantile, mcse_sd, quantile,
    rhat, summarize,
};

/// SplitMix64 step (Steele, Lea & Flood 2014), as in summary_refs.py.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Sum of 12 uniforms (z >> 11)·2⁻⁵³ minus 6: mean 0, variance 1, all operations exact or
/// identically rounded in Rust and Python.
fn noise(state: &mut u64) -> f64 {
    let mut s = 0.0;
    for _ in 0..12 {
        s += (splitmix64(state) >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0);
    }
    s - 6.0
}

/// `ar1(seed, chains, draws, phi, offsets)` of summary_refs.py: chain c starts from state
/// seed·1000 + c, x₀ = noise, x_t = phi·x_{t−1} + noise, plus offsets[c].
fn ar1(seed: u64, chains: usize, draws: usize, phi: f64, offsets: &[f64]) -> Vec<Vec<f64>> {
    (0..chains)
        .map(|c| {
            let mut state = seed * 1000 + c as u64;
            let mut x = noise(&mut state);
            (0..draws)
                .map(|t| {
                    if t > 0 {
                        x = phi * x + noise(&mut state);
                    }
                    offsets.get(c).copied().unwrap_or(0.0) + x
                })
                .collect()
        })
        .collect()
}

#[track_caller]
fn close(actual: f64, expected: f64, what: &str) {
    let tol = 1e-8 * expected.abs().max(1e-300);
    assert!(
        (actual - expected).abs() <= tol,
        "{what}: got {actual:.17}, reference {expected:.17} (relative error {:e})",
        ((actual - expected) / expected).abs()
    );
}

#[test]
fn ar1_chains_match_arviz_and_posterior() {
    // DATASETS["ar1"] = ar1(1, 4, 200, 0.7)
    let x = ar1(1, 4, 200, 0.7, &[]);
    // az.rhat(x) = 1.0336100493831633; posterior: rhat(x) = 1.0336100493831633
    close(rhat(&x), 1.0336100493831633, "rhat");
    // az.ess(x, method='bulk') = 145.50050314034968; posterior: ess_bulk(x) = 145.50050314034968
    close(ess_bulk(&x), 145.50050314034968, "ess_bulk");
    // az.ess(x, method='tail') = 305.47062163182795; posterior: ess_tail(x) = 305.47062163182795
    close(ess_tail(&x), 305.47062163182795, "ess_tail");
    // az.ess(x, method='mean') = 145.59057209880135; posterior: ess_mean(x) = 145.59057209880123
    close(ess_mean(&x), 145.59057209880123, "ess_mean");
    // az.mcse(x, method='mean') = 0.1168125198244484; posterior: mcse_mean(x) = 0.11681251982444843
    close(mcse_mean(&x), 0.11681251982444843, "mcse_mean");
    // az.mcse(x, method='sd') = 0.058518845380316556; posterior: mcse_sd(x) = 0.058518845380316584
    close(mcse_sd(&x), 0.058518845380316584, "mcse_sd");
    // _mcse_quantile(x, 0.05) = 0.17750826255199947; posterior: mcse_quantile(x, 0.05) = same
    close(mcse_quantile(&x, 0.05), 0.17750826255199947, "mcse_q5");
    // _mcse_quantile(x, 0.5) = 0.16417432760195733; posterior: mcse_quantile(x, 0.5) = same
    close(mcse_quantile(&x, 0.5), 0.16417432760195733, "mcse_q50");
    // np.quantile(x, 0.05) = -2.2712805447078828; R: quantile(x, 0.05) = -2.2712805447078828
    close(quantile(&x, 0.05), -2.2712805447078828, "q5");
    // np.quantile(x, 0.5) = 0.14193399620316782; R: quantile(x, 0.5) = 0.14193399620316782
    close(quantile(&x, 0.5), 0.14193399620316782, "q50");
    // np.quantile(x, 0.95) = 2.305898036508364; R: quantile(x, 0.95) = 2.3058980365083634
    close(quantile(&x, 0.95), 2.3058980365083634, "q95");
}

#[test]
fn summarize_fills_every_column_like_az_summary() {
    let x = ar1(1, 4, 200, 0.7, &[]);
    let row = summarize("theta", &x);
    assert_eq!(row.name, "theta");
    // az.summary(x, kind="all", round_to="none")['mean'] = 0.09277801081304266; R: mean(x)
    close(row.mean, 0.09277801081304266, "mean");
    // az.summary(...)['sd'] = 1.4094705913317493; R: sd(x) = 1.4094705913317491
    close(row.sd, 1.4094705913317491, "sd");
    // az.summary(...)['mcse_mean'] = 0.1168125198244484
    close(row.mcse_mean, 0.1168125198244484, "mcse_mean");
    // az.summary(...)['mcse_sd'] = 0.058518845380316556
    close(row.mcse_sd, 0.058518845380316556, "mcse_sd");
    // az.summary(...)['ess_bulk'] = 145.50050314034968
    close(row.ess_bulk, 145.50050314034968, "ess_bulk");
    // az.summary(...)['ess_tail'] = 305.47062163182795
    close(row.ess_tail, 305.47062163182795, "ess_tail");
    // az.summary(...)['r_hat'] = 1.0336100493831633
    close(row.rhat, 1.0336100493831633, "rhat");
    // np.quantile(x, [0.05, 0.5, 0.95]) as above
    close(row.q5, -2.2712805447078828, "q5");
    close(row.q50, 0.14193399620316782, "q50");
    close(row.q95, 2.3058980365083634, "q95");
}

#[test]
fn chains_with_different_means_have_rhat_far_above_one() {
    // DATASETS["shifted"] = ar1(2, 4, 200, 0.3, [0.0, 0.5, 1.0, 3.0])
    let x = ar1(2, 4, 200, 0.3, &[0.0, 0.5, 1.0, 3.0]);
    // az.rhat(x) = 1.4473730549325323; posterior: rhat(x) = 1.4473730549325323
    close(rhat(&x), 1.4473730549325323, "rhat");
    // az.ess(x, method='bulk') = 8.235303130212172; posterior: ess_bulk(x) = 8.2353031302121682
    close(ess_bulk(&x), 8.2353031302121682, "ess_bulk");
    // az.ess(x, method='tail') = 42.647321855148576; posterior: ess_tail(x) = 42.647321855148526
    close(ess_tail(&x), 42.647321855148526, "ess_tail");
    // az.mcse(x, method='mean') = 0.5719390250160906; posterior: mcse_mean(x) = 0.57193902501609062
    close(mcse_mean(&x), 0.57193902501609062, "mcse_mean");
    // az.mcse(x, method='sd') = 0.21277508512301155; posterior: mcse_sd(x) = 0.21277508512301158
    close(mcse_sd(&x), 0.21277508512301158, "mcse_sd");
    // _mcse_quantile(x, 0.5) = 0.5558558040566686; posterior: mcse_quantile(x, 0.5) = 0.55585580405666857
    close(mcse_quantile(&x, 0.5), 0.55585580405666857, "mcse_q50");
}

#[test]
fn anticorrelated_chains_have_ess_above_the_draw_count() {
    // DATASETS["anti"] = ar1(3, 4, 200, -0.3): 800 draws, AR(1) theory ESS ≈ 800·1.3/0.7 ≈ 1486.
    let x = ar1(3, 4, 200, -0.3, &[]);
    let bulk = ess_bulk(&x);
    assert!(
        bulk > 800.0,
        "antithetic chains must give ESS > draws, got {bulk}"
    );
    // az.ess(x, method='bulk') = 1949.7272988065913; posterior: ess_bulk(x) = 1949.7272988065854
    close(bulk, 1949.7272988065854, "ess_bulk");
    // az.ess(x, method='mean') = 1945.0912847603872; posterior: ess_mean(x) = 1945.0912847603829
    close(ess_mean(&x), 1945.0912847603829, "ess_mean");
    // az.ess(x, method='tail') = 812.1699268217948; posterior: ess_tail(x) = 812.16992682179512
    close(ess_tail(&x), 812.16992682179512, "ess_tail");
    // az.rhat(x) = 1.0071743801369297; posterior: rhat(x) = 1.0071743801369297
    close(rhat(&x), 1.0071743801369297, "rhat");
    // az.mcse(x, method='mean') = 0.023451792120497673; posterior: mcse_mean(x) = 0.023451792120497698
    close(mcse_mean(&x), 0.023451792120497698, "mcse_mean");
    // az.mcse(x, method='sd') = 0.025708954943525476; posterior: mcse_sd(x) = 0.025708954943525483
    close(mcse_sd(&x), 0.025708954943525483, "mcse_sd");
    // _mcse_quantile(x, 0.05) = 0.0613969169443318; posterior: mcse_quantile(x, 0.05) = 0.061396916944331803
    close(mcse_quantile(&x, 0.05), 0.061396916944331803, "mcse_q5");
}

#[test]
fn odd_draw_counts_fold_before_splitting() {
    // DATASETS["odd"] = ar1(4, 3, 101, 0.5): the split drops draw 51 of each chain.
    let x = ar1(4, 3, 101, 0.5, &[]);
    // posterior: rhat(x) = 1.0049096171343128; az.summary(x)['r_hat'] = 1.0049096171343128.
    // (az.rhat(x) = 1.004936646341388 folds after splitting, around another median.)
    close(rhat(&x), 1.0049096171343128, "rhat");
    // az.ess(x, method='bulk') = 136.69185710687827; posterior: ess_bulk(x) = 136.69185710687827
    close(ess_bulk(&x), 136.69185710687827, "ess_bulk");
    // az.ess(x, method='tail') = 168.43118383060636; posterior: ess_tail(x) = 168.43118383060636
    close(ess_tail(&x), 168.43118383060636, "ess_tail");
    // az.mcse(x, method='sd') = 0.04969208412348454; posterior: mcse_sd(x) = 0.049692084123484546
    close(mcse_sd(&x), 0.049692084123484546, "mcse_sd");
    // _mcse_quantile(x, 0.05) = 0.16767407037032123; posterior: mcse_quantile(x, 0.05) = same
    close(mcse_quantile(&x, 0.05), 0.16767407037032123, "mcse_q5");
}

#[test]
fn tied_draws_get_average_ranks() {
    // DATASETS["ties"] = np.floor(ar1(5, 4, 100, 0.5) * 2.0) / 2.0: values on a 0.5 grid.
    let x: Vec<Vec<f64>> = ar1(5, 4, 100, 0.5, &[])
        .into_iter()
        .map(|c| c.into_iter().map(|v| (v * 2.0).floor() / 2.0).collect())
        .collect();
    // az.rhat(x) = 1.021875829010122; posterior: rhat(x) = 1.021875829010122
    close(rhat(&x), 1.021875829010122, "rhat");
    // az.ess(x, method='bulk') = 176.15044822334096; posterior: ess_bulk(x) = 176.1504482233409
    close(ess_bulk(&x), 176.1504482233409, "ess_bulk");
    // az.ess(x, method='tail') = 285.8685768881053; posterior: ess_tail(x) = 285.86857688810528
    close(ess_tail(&x), 285.86857688810528, "ess_tail");
    // _mcse_quantile(x, 0.05) = 0.25; posterior: mcse_quantile(x, 0.05) = 0.25
    assert_eq!(mcse_quantile(&x, 0.05), 0.25);
    // np.quantile(x, 0.95) = 1.5; R: quantile(x, 0.95) = 1.5
    assert_eq!(quantile(&x, 0.95), 1.5);
}

#[test]
fn one_chain_gets_rhat_from_its_two_halves() {
    // DATASETS["single"] = ar1(6, 1, 300, 0.8)
    let x = ar1(6, 1, 300, 0.8, &[]);
    // posterior: rhat(x) = 1.0076845665942322 (az.rhat(x) is nan: ArviZ wants two chains;
    // max(_rhat(_z_scale(_split_chains(x))), _rhat(_z_scale(_split_chains(|x - median|))))
    // = 1.0076845665942322 is ArviZ's own formula on the halves).
    close(rhat(&x), 1.0076845665942322, "rhat");
    // az.ess(x, method='bulk') = 31.6945629049555; posterior: ess_bulk(x) = 31.69456290495549
    close(ess_bulk(&x), 31.69456290495549, "ess_bulk");
    // az.ess(x, method='tail') = 79.25312306273297; posterior: ess_tail(x) = 79.253123062732939
    close(ess_tail(&x), 79.253123062732939, "ess_tail");
    // az.mcse(x, method='mean') = 0.31306257930404174; posterior: mcse_mean(x) = 0.3130625793040418
    close(mcse_mean(&x), 0.3130625793040418, "mcse_mean");
    // _mcse_quantile(x, 0.05) = 0.4775109280918426; posterior: mcse_quantile(x, 0.05) = 0.47751092809184259
    close(mcse_quantile(&x, 0.05), 0.47751092809184259, "mcse_q5");
}

#[test]
fn constant_draws_give_na_diagnostics_as_posterior_does() {
    // DATASETS["constant"] = np.full((4, 100), 2.5)
    let x = vec![vec![2.5; 100]; 4];
    let row = summarize("c", &x);
    // posterior: rhat(x), ess_bulk(x), ess_tail(x), mcse_mean(x), mcse_sd(x) are all NA.
    // (ArviZ differs: az.ess(x, method='bulk') = 400.0, az.mcse(x, method='mean') = 0.0,
    // az.rhat(x) = nan.) We follow posterior: NA is NaN.
    assert!(row.rhat.is_nan());
    assert!(row.ess_bulk.is_nan());
    assert!(row.ess_tail.is_nan());
    assert!(row.mcse_mean.is_nan());
    assert!(row.mcse_sd.is_nan());
    // posterior: mcse_quantile(x, 0.05) = NA
    assert!(mcse_quantile(&x, 0.05).is_nan());
    // R: mean(x) = 2.5, sd(x) = 0, quantile(x, c(0.05, 0.5, 0.95)) = 2.5
    assert_eq!((row.mean, row.sd), (2.5, 0.0));
    assert_eq!((row.q5, row.q50, row.q95), (2.5, 2.5, 2.5));
}

#[test]
fn e_bfmi_matches_arviz() {
    // calm = ar1(7, 1, 500, 0.0)[0]; sticky = ar1(8, 1, 500, 0.9)[0]
    let calm = ar1(7, 1, 500, 0.0, &[]).remove(0);
    let sticky = ar1(8, 1, 500, 0.9, &[]).remove(0);
    // az.bfmi(np.stack([calm, sticky])) = [1.9405250733029356, 0.24759112209335765]
    close(ebfmi(&calm), 1.9405250733029356, "ebfmi calm");
    close(ebfmi(&sticky), 0.24759112209335765, "ebfmi sticky");
}

#[test]
fn non_finite_draws_make_diagnostics_na() {
    // posterior::should_return_NA: any NA/NaN/Inf → NA.
    let mut x = ar1(1, 2, 50, 0.5, &[]);
    x[1][7] = f64::INFINITY;
    assert!(rhat(&x).is_nan());
    assert!(ess_bulk(&x).is_nan());
    assert!(ess_tail(&x).is_nan());
    assert!(mcse_mean(&x).is_nan());
    x[1][7] = f64::NAN;
    let row = summarize("bad", &x);
    assert!(row.rhat.is_nan() && row.q50.is_nan() && row.mean.is_nan());
}

#[test]
fn short_chains_follow_posterior_minimums() {
    // 5 draws per chain split into halves of 2: ESS needs 3 per half (posterior's
    // `niterations < 3L`), R̂ needs 2 (a variance).
    let x = ar1(9, 4, 5, 0.2, &[]);
    assert!(ess_bulk(&x).is_nan());
    assert!(rhat(&x).is_finite());
    // 3 draws per chain: halves of 1, no within-chain variance.
    let x = ar1(9, 4, 3, 0.2, &[]);
    assert!(rhat(&x).is_nan());
    // No draws at all.
    let empty: Vec<Vec<f64>> = vec![vec![]; 4];
    let row = summarize("empty", &empty);
    assert!(row.rhat.is_nan() && row.ess_bulk.is_nan() && row.q50.is_nan());
}

#[test]
fn ess_of_the_top_quantile_uses_posteriors_shifted_probability() {
    // posterior's .ess_quantile moves prob = 1 to (S − 0.5)/S so that the indicator is not
    // constant; the result must be a finite ESS.
    let x = ar1(1, 4, 200, 0.7, &[]);
    assert!(ess_quantile(&x, 1.0).is_finite());
}

#[test]
#[should_panic(expected = "same number of draws")]
fn unequal_chains_are_a_caller_error() {
    rhat(&[vec![1.0, 2.0, 3.0, 4.0], vec![1.0, 2.0, 3.0]]);
}

#[test]
fn very_short_chains_reproduce_posterior_not_arviz() {
    // DATASETS["short"] = ar1(9, 4, 8, 0.2): split halves of 4 draws, so Geyer's loop never runs
    // and R's rho_hat_t[1:0] makes τ̂ = −1 + 2·1 + 1 = 2, ESS = 32 / 2.
    let x = ar1(9, 4, 8, 0.2, &[]);
    // posterior: ess_bulk(x) = 16 (az.ess(x, method='bulk') = 48.16479930623699 = 32·log10(32))
    assert_eq!(ess_bulk(&x), 16.0);
    // posterior: ess_tail(x) = 16
    assert_eq!(ess_tail(&x), 16.0);
    // posterior: mcse_mean(x) = 0.21091035395048177 (az.mcse(x, method='mean') = 0.12156065019841059)
    close(mcse_mean(&x), 0.21091035395048177, "mcse_mean");
    // posterior: mcse_sd(x) = 0.19503710784635347
    close(mcse_sd(&x), 0.19503710784635347, "mcse_sd");
    // posterior: mcse_quantile(x, 0.05) = 0.39869889298595151
    close(mcse_quantile(&x, 0.05), 0.39869889298595151, "mcse_q5");
    // az.rhat(x) = 1.1616927039475038; posterior: rhat(x) = 1.1616927039475038
    close(rhat(&x), 1.1616927039475038, "rhat");
}
