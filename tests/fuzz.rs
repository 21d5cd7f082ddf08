//! Property test of the front end: 10,000 random and mutated models per run go through the
//! parser and checker without a panic or a hang, and every diagnostic has a valid line and column.

use bnnppl::api::{Model, ModelError};
use bnnppl::source::SourceFile;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::{Duration, Instant};

const TOKENS: &[&str] = &[
    "data",
    "param",
    "network",
    "prior",
    "likelihood",
    "predict",
    "let",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ":",
    "~",
    "=",
    ",",
    "<",
    ">",
    ".",
    "+",
    "-",
    "*",
    "/",
    "^",
    "real",
    "int",
    "vector",
    "matrix",
    "lower",
    "upper",
    "dense",
    "tanh",
    "relu",
    "normal",
    "gamma",
    "categorical_logit",
    "f",
    "x",
    "y",
    "N",
    "D",
    "K",
    "sigma",
    "fan_in",
    "0",
    "1",
    "50",
    "1e-3",
    "0.5",
    "true",
    "false",
    "bias",
    "weight",
    "\n",
    " ",
    "#",
    "//",
    ";",
    ":",
    "é",
    "\t",
    "f.weight",
    "f.0.bias",
    "out[:, 0]",
    "\u{0}",
];

fn seeds() -> Vec<String> {
    let mut v = Vec::new();
    for dir in [
        "models",
        "tests/compile/good",
        "tests/compile/bad",
        "tests/compile/warn",
    ] {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                if e.path().extension().is_some_and(|x| x == "bnn") {
                    v.push(std::fs::read_to_string(e.path()).expect("read seed"));
                }
            }
        }
    }
    v.sort();
    assert!(!v.is_empty(), "no seed models found");
    v
}

fn boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn mutate(rng: &mut ChaCha8Rng, seed: &str) -> String {
    let mut s = seed.to_string();
    let edits = rng.random_range(1..6);
    for _ in 0..edits {
        let len = s.len().max(1);
        let a = boundary(&s, rng.random_range(0..len));
        let b = boundary(&s, a + rng.random_range(0..20));
        match rng.random_range(0..7) {
            0 => s.replace_range(a..b, ""),
            1 => s.insert_str(a, TOKENS[rng.random_range(0..TOKENS.len())]),
            2 => {
                let piece = s[a..b].to_string();
                let c = boundary(&s, rng.random_range(0..len));
                s.insert_str(c, &piece);
            }
            3 => s.truncate(a),
            4 => s.replace_range(a..b, TOKENS[rng.random_range(0..TOKENS.len())]),
            5 => {
                let c: char = char::from_u32(rng.random_range(32..0x250)).unwrap_or('?');
                s.insert(a, c);
            }
            _ => {
                // Swap two lines.
                let mut lines: Vec<&str> = s.lines().collect();
                if lines.len() > 1 {
                    let i = rng.random_range(0..lines.len());
                    let j = rng.random_range(0..lines.len());
                    lines.swap(i, j);
                }
                s = lines.join("\n");
            }
        }
    }
    s
}

fn random_tokens(rng: &mut ChaCha8Rng) -> String {
    let n = rng.random_range(0..60);
    let mut s = String::new();
    for _ in 0..n {
        s.push_str(TOKENS[rng.random_range(0..TOKENS.len())]);
        if rng.random_bool(0.5) {
            s.push(' ');
        }
    }
    s
}

#[test]
fn ten_thousand_mutants_never_panic_and_point_at_valid_places() {
    let seeds = seeds();
    let mut rng = ChaCha8Rng::seed_from_u64(20261126);
    let mut slowest = Duration::ZERO;
    let mut rejected = 0;
    for case in 0..10_000 {
        let text = if case % 10 == 0 {
            random_tokens(&mut rng)
        } else {
            let seed = &seeds[rng.random_range(0..seeds.len())];
            mutate(&mut rng, seed)
        };
        let start = Instant::now();
        let result = std::panic::catch_unwind(|| Model::from_str("fuzz.bnn", &text));
        slowest = slowest.max(start.elapsed());
        let outcome = result.unwrap_or_else(|_| panic!("case {case} panicked on input:\n{text}"));
        if let Err(ModelError::Invalid { diagnostics, .. }) = outcome {
            rejected += 1;
            let file = SourceFile::new("fuzz.bnn", text.clone());
            for d in &diagnostics {
                assert!(
                    d.span.start <= text.len()
                        && d.span.end <= text.len()
                        && d.span.start <= d.span.end,
                    "case {case}: span {:?} outside the text of {} bytes: {}\n{text}",
                    d.span,
                    text.len(),
                    d.message
                );
                let (line, col) = file.line_col(d.span.start);
                assert!(
                    line >= 1 && line <= file.line_count(),
                    "case {case}: line {line}"
                );
                assert!(
                    col >= 1 && col <= file.line_text(line).chars().count() + 1,
                    "case {case}: col {col} on line {line}"
                );
                let _ = d.render(&file);
            }
        }
    }
    // Not a timing test: a hang (exponential backtracking) would take seconds, not milliseconds.
    assert!(
        slowest < Duration::from_secs(2),
        "slowest input took {slowest:?}"
    );
    assert!(
        rejected > 5_000,
        "only {rejected} of 10,000 mutants were rejected; the mutator is too gentle"
    );
}
