//! The real binary run whole and member by member: `--member K` must write member K's files of
//! the full run, and `summary` over the members' directories must print the full run's summary.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs the binary: exit code, stdout, stderr.
pub fn bnnppl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bnnppl"))
        .args(args)
        .output()
        .expect("run bnnppl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Compares `got` with `tests/cli/NAME`, or writes it under BLESS=1.
pub fn golden(name: &str, got: &str) {
    let path = Path::new("tests/cli").join(name);
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, got).expect("write golden");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with BLESS=1", path.display()));
    assert_eq!(want, got, "{} differs", path.display());
}

/// A fresh temporary path for this test process, not yet created.
pub fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bnnppl-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// The lines of a run file whose bytes do not depend on the clock.
fn draws_part(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.contains("Elapsed") && !l.contains("seconds"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A run made whole and member by member.
pub struct MemberRuns {
    /// The full run's directory.
    pub full: PathBuf,
    /// Member k's directory at index k − 1.
    pub members: Vec<PathBuf>,
    /// `bnnppl summary` of the full run.
    pub summary: String,
}

impl MemberRuns {
    /// Runs `base` (whose last argument is `--output`) whole into `tmp(name-full)`, then each
    /// of `members` alone with `--member K`; asserts that each member's chain file (but its
    /// clock lines) and trace file `log_density_K.csv` equal the full run's, and that `summary`
    /// over the members' directories equals the full run's.
    pub fn run(base: &[&str], members: usize, name: &str) -> MemberRuns {
        let full = tmp(&format!("{name}-full"));
        let f = full.to_string_lossy().to_string();
        let mut args = base.to_vec();
        args.push(&f);
        let (code, _, err) = bnnppl(&args);
        assert_eq!(code, 0, "{err}");
        let mut dirs = Vec::new();
        for k in 1..=members {
            let dir = tmp(&format!("{name}-member{k}"));
            let d = dir.to_string_lossy().to_string();
            let member = k.to_string();
            let mut args = base.to_vec();
            args.extend([d.as_str(), "--member", member.as_str()]);
            let (code, _, err) = bnnppl(&args);
            assert_eq!(code, 0, "{err}");
            let chain = format!("chain_{k}.csv");
            assert_eq!(
                draws_part(&dir.join(&chain)),
                draws_part(&full.join(&chain)),
                "member {k}"
            );
            let trace = format!("log_density_{k}.csv");
            assert_eq!(
                std::fs::read(dir.join(&trace)).expect("trace"),
                std::fs::read(full.join(&trace)).expect("trace"),
                "member {k} trace"
            );
            dirs.push(dir);
        }
        let names: Vec<String> = dirs
            .iter()
            .map(|d| d.to_string_lossy().to_string())
            .collect();
        let mut args = vec!["summary"];
        args.extend(names.iter().map(String::as_str));
        let (code, merged, err) = bnnppl(&args);
        assert_eq!(code, 0, "{err}");
        let (code, whole, err) = bnnppl(&["summary", &f]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(merged, whole);
        MemberRuns {
            full,
            members: dirs,
            summary: whole,
        }
    }
}

impl Drop for MemberRuns {
    fn drop(&mut self) {
        for d in self.members.iter().chain([&self.full]) {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}
