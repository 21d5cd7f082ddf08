//! Golden-file tests for the user-visible text of `bnnppl::summary`: the table and the warnings.
//!
//! Set `BNNPPL_BLESS=1` to rewrite the golden files after an intended change, then review the diff.

use bnnppl::summary::{
    convergence_warnings, render_table, sampler_diagnostics, summarize, ChainSamplerStats,
    SummaryRow, Thresholds, Warning,
};
use std::path::PathBuf;

fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("BNNPPL_BLESS").is_some() {
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with BNNPPL_BLESS=1 to create it)",
            path.display()
        )
    });
    assert_eq!(
        actual,
        expected,
        "{} differs; run with BNNPPL_BLESS=1 to accept",
        path.display()
    );
}

/// A deterministic wiggle with per-chain offsets: enough to give finite, distinct diagnostics.
fn chains(offsets: &[f64], scale: f64, draws: usize) -> Vec<Vec<f64>> {
    offsets
        .iter()
        .enumerate()
        .map(|(c, &o)| {
            (0..draws)
                .map(|i| o + scale * ((i * 7 + c * 13) as f64 * 0.61).sin())
                .collect()
        })
        .collect()
}

fn rows() -> Vec<SummaryRow> {
    vec![
        summarize(
            "lp__",
            &chains(&[-1234.5, -1234.0, -1235.0, -1234.2], 3.0, 100),
        ),
        summarize("w1.1.1", &chains(&[0.0, 0.0, 0.0, 0.0], 1.0, 100)),
        summarize("w1.2.1", &chains(&[0.0, 0.5, 1.0, 3.0], 0.1, 100)),
        summarize("sigma", &chains(&[1e-4, 1e-4, 1e-4, 1e-4], 1e-5, 100)),
        summarize(
            "corr.1.1",
            &[
                vec![1.0; 100],
                vec![1.0; 100],
                vec![1.0; 100],
                vec![1.0; 100],
            ],
        ),
    ]
}

#[test]
fn summary_table_layout() {
    golden("summary_table.txt", &render_table(&rows()));
}

#[test]
fn warnings_tell_the_user_what_to_do() {
    let divergent: Vec<Vec<bool>> = (0..4)
        .map(|c| (0..1000).map(|i| c == 1 && i % 83 == 0).collect())
        .collect();
    let depth: Vec<Vec<u32>> = (0..4)
        .map(|c| {
            (0..1000)
                .map(|i| if c == 3 && i % 2 == 0 { 10 } else { 4 })
                .collect()
        })
        .collect();
    // Chain 2's energy oscillates slowly (E-BFMI ≈ 0.42² ≈ 0.18); the others alternate (high E-BFMI).
    let energy: Vec<Vec<f64>> = (0..4)
        .map(|c| {
            (0..1000)
                .map(|i| {
                    if c == 1 {
                        (i as f64 * 0.42).sin() * 10.0
                    } else {
                        (i % 2) as f64 + (i as f64 * 0.37).sin()
                    }
                })
                .collect()
        })
        .collect();
    let stats: Vec<ChainSamplerStats<'_>> = (0..4)
        .map(|c| ChainSamplerStats {
            divergent: &divergent[c],
            treedepth: &depth[c],
            energy: &energy[c],
        })
        .collect();
    let diag = sampler_diagnostics(&stats, 10);
    assert_eq!(diag.divergences(), 13);
    assert_eq!(diag.max_depth_hits(), 500);
    let th = Thresholds::default();
    let mut warnings: Vec<Warning> = diag.warnings(&th);
    warnings.extend(convergence_warnings(&rows(), 4, &th));
    let text: String = warnings.iter().map(|w| format!("{w}\n")).collect();
    golden("summary_warnings.txt", &text);
}

#[test]
fn a_healthy_run_has_no_warnings() {
    let divergent = vec![false; 100];
    let depth = vec![3u32; 100];
    let energy: Vec<f64> = (0..100).map(|i| ((i * 37) % 11) as f64).collect();
    let stats = [ChainSamplerStats {
        divergent: &divergent,
        treedepth: &depth,
        energy: &energy,
    }];
    assert!(sampler_diagnostics(&stats, 10)
        .warnings(&Thresholds::default())
        .is_empty());
}
