//! Every SIMD path computes the same bits: `BNNPPL_SIMD` caps the vector width the kernels use
//! (issue 15), and a NUTS run on a bundled network writes the same draws, and `bnnppl bench`
//! says which path it took, on every path this CPU has.

use bnnppl::math::kernel::SimdPath;
use std::process::Command;

mod common;
use common::draws_of;

/// The paths this CPU can run, narrowest first.
fn paths() -> Vec<SimdPath> {
    [SimdPath::Baseline, SimdPath::Avx2, SimdPath::Avx512]
        .into_iter()
        .filter(|p| *p <= SimdPath::detected())
        .collect()
}

/// Runs the CLI with `BNNPPL_SIMD` set to `simd`; returns stdout and stderr.
fn bnnppl(simd: &str, args: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bnnppl"))
        .args(args)
        .env("BNNPPL_SIMD", simd)
        .output()
        .expect("run bnnppl");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "BNNPPL_SIMD={simd}: {stdout}{stderr}");
    (stdout, stderr)
}

#[test]
fn nuts_writes_the_same_draws_on_every_simd_path() {
    let mut first: Option<(SimdPath, String)> = None;
    for path in paths() {
        let dir = std::env::temp_dir().join(format!(
            "bnnppl-simd-{}-{}",
            path.name(),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let out = dir.to_str().expect("utf-8");
        bnnppl(
            path.name(),
            &[
                "sample",
                "models/regression_1d.bnn",
                "--chains",
                "1",
                "--warmup",
                "60",
                "--draws",
                "40",
                "--seed",
                "5",
                "--output",
                out,
                "--quiet",
            ],
        );
        let draws = draws_of(&dir.join("chain_1.csv"));
        let _ = std::fs::remove_dir_all(&dir);
        match &first {
            None => first = Some((path, draws)),
            Some((p0, d0)) => assert!(
                *d0 == draws,
                "the draws on {} differ from those on {}",
                path.name(),
                p0.name()
            ),
        }
    }
}

#[test]
fn bench_names_the_path_it_took_and_a_bad_request_warns() {
    for path in paths() {
        let (stdout, _) = bnnppl(path.name(), &["bench", "models/bnn_toy.bnn", "--reps", "2"]);
        let want = format!("1 thread; SIMD path {} (", path.name());
        assert!(stdout.contains(&want), "{stdout}");
    }
    let (stdout, stderr) = bnnppl("sse9", &["bench", "models/bnn_toy.bnn", "--reps", "2"]);
    assert!(
        stderr.contains("warning: BNNPPL_SIMD must be avx512, avx2 or baseline, not 'sse9'"),
        "{stderr}"
    );
    let want = format!("SIMD path {} (", SimdPath::detected().name());
    assert!(stdout.contains(&want), "{stdout}");
}
