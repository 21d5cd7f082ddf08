//! Round trips through the Stan CSV writer and reader, and parsing of a hand-written CmdStan-style file.

use bnnppl::stan_csv::{
    read_stan_csv, stan_column_names, InvMetric, ReadError, SamplerStats, StanCsvWriter,
    WriteError, SAMPLER_COLUMNS,
};
use std::io::Read;

fn config() -> Vec<(String, String)> {
    [
        ("model", "mlp"),
        ("engine", "nuts"),
        ("seed", "42"),
        ("id", "1"),
        ("num_warmup", "2"),
        ("save_warmup", "1"),
        ("num_samples", "3"),
        ("thin", "1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn stats(i: u32) -> SamplerStats {
    SamplerStats {
        lp: -10.0 - f64::from(i) / 3.0,
        accept_stat: 0.9,
        stepsize: 0.123456789,
        treedepth: 3 + i % 2,
        n_leapfrog: 7 + i,
        divergent: i == 4,
        energy: 11.0 + f64::from(i) / 7.0,
    }
}

/// Awkward values: thirds, negative zero, subnormal, huge, tiny, non-finite.
fn user_draw(i: u32) -> Vec<f64> {
    let x = f64::from(i);
    vec![
        x / 3.0,
        -0.0,
        5e-324 * x,
        1.7976931348623157e308 / (x + 1.0),
        -1e-300 * x,
        if i == 2 { f64::NAN } else { x.sqrt() },
        if i == 3 { f64::NEG_INFINITY } else { 0.1 * x },
    ]
}

fn user_columns() -> Vec<String> {
    let mut cols = stan_column_names("w", &[2, 3]);
    cols.push("sigma".to_string());
    cols
}

/// Writes two warmup draws, the adaptation block, three draws and the timing block.
fn write_file() -> Vec<u8> {
    let mut w = StanCsvWriter::new(Vec::new(), &config(), &user_columns()).expect("header");
    for i in 0..2 {
        w.write_draw(&stats(i), &user_draw(i)).expect("warmup draw");
    }
    w.write_adaptation(0.123456789, &[1.0, 0.5, 2.0 / 3.0])
        .expect("adaptation");
    for i in 2..5 {
        w.write_draw(&stats(i), &user_draw(i)).expect("draw");
    }
    w.write_timing(0.25, 1.5).expect("timing");
    w.into_inner().expect("flush")
}

#[test]
fn written_file_has_cmdstan_layout() {
    let text = String::from_utf8(write_file()).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "# model = mlp");
    assert_eq!(lines[7], "# thin = 1");
    assert_eq!(
        lines[8],
        "lp__,accept_stat__,stepsize__,treedepth__,n_leapfrog__,divergent__,energy__,\
         w.1.1,w.2.1,w.1.2,w.2.2,w.1.3,w.2.3,sigma"
    );
    // -10 - 0/3 = -10; treedepth 3, n_leapfrog 7, divergent 0 as integers; 0/3 = 0, -0.0 → "-0".
    assert!(lines[9].starts_with("-10,0.9,0.123456789,3,7,0,11,0,-0,0,"));
    assert_eq!(lines[11], "# Adaptation terminated");
    assert_eq!(lines[12], "# Step size = 0.123456789");
    assert_eq!(lines[13], "# Diagonal elements of inverse mass matrix:");
    assert_eq!(lines[14], "# 1, 0.5, 0.6666666666666666");
    // Draw i = 4 is divergent: "...,4,11,1,..." (treedepth 3 + 4 % 2, n_leapfrog 7 + 4, 1).
    assert!(lines[17].contains(",3,11,1,"));
    assert_eq!(lines[18], "# ");
    assert_eq!(lines[19], "#  Elapsed Time: 0.250 seconds (Warm-up)");
    assert_eq!(lines[21], "#                1.750 seconds (Total)");
}

#[test]
fn round_trip_is_bit_exact() {
    let bytes = write_file();
    let csv = read_stan_csv(std::str::from_utf8(&bytes).expect("utf-8")).expect("parses");
    assert_eq!(csv.config, config());
    let mut expected_columns: Vec<String> = SAMPLER_COLUMNS.iter().map(|s| s.to_string()).collect();
    expected_columns.extend(user_columns());
    assert_eq!(csv.columns, expected_columns);
    assert_eq!(csv.n_rows(), 5);
    for i in 0..5u32 {
        let s = stats(i);
        let row: Vec<f64> = csv.values.iter().map(|c| c[i as usize]).collect();
        let mut expected = vec![
            s.lp,
            s.accept_stat,
            s.stepsize,
            f64::from(s.treedepth),
            f64::from(s.n_leapfrog),
            f64::from(u8::from(s.divergent)),
            s.energy,
        ];
        expected.extend(user_draw(i));
        for (j, (a, b)) in row.iter().zip(&expected).enumerate() {
            assert!(
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                "row {i} column {}: read {a:e}, wrote {b:e}",
                csv.columns[j]
            );
        }
    }
    let adaptation = csv.adaptation.expect("adaptation block");
    assert_eq!(
        adaptation.after_rows, 2,
        "two saved warmup draws precede the block"
    );
    assert_eq!(adaptation.step_size, 0.123456789);
    assert_eq!(
        adaptation.inv_metric,
        InvMetric::Diagonal(vec![1.0, 0.5, 2.0 / 3.0])
    );
    let elapsed = csv.elapsed.expect("timing block");
    assert_eq!(
        (elapsed.warmup, elapsed.sampling, elapsed.total),
        (0.25, 1.5, 1.75)
    );
}

#[test]
fn same_draws_give_same_bytes() {
    assert_eq!(write_file(), write_file());
}

#[test]
fn every_draw_is_on_disk_before_the_next_is_computed() {
    // A buffered file writer: without the per-draw flush the lines would sit in the buffer.
    let path = std::env::temp_dir().join(format!("bnnppl-flush-{}.csv", std::process::id()));
    let file = std::fs::File::create(&path).expect("create temp file");
    let mut w = StanCsvWriter::new(std::io::BufWriter::new(file), &config(), &user_columns())
        .expect("header");
    for i in 0..3 {
        w.write_draw(&stats(i), &user_draw(i)).expect("draw");
        // Read the file as another process would, while the writer is still alive (an
        // interrupted run never reaches `into_inner`).
        let mut text = String::new();
        std::fs::File::open(&path)
            .expect("open")
            .read_to_string(&mut text)
            .expect("read");
        let csv = read_stan_csv(&text).expect("a prefix of the file parses");
        assert_eq!(csv.n_rows(), i as usize + 1);
    }
    drop(w);
    std::fs::remove_file(&path).expect("remove temp file");
}

/// A CmdStan 2.33-style file, trimmed: nested configuration with (Default) tags, a dense
/// metric, comment lines between draws, a timing block, CRLF line ends on one line.
const CMDSTAN_STYLE: &str = "\
# stan_version_major = 2
# stan_version_minor = 33
# model = bernoulli_model
# method = sample (Default)
#   sample
#     num_samples = 3
#     num_warmup = 1000 (Default)
#     save_warmup = 0 (Default)
#     algorithm = hmc (Default)
#       hmc
#         engine = nuts (Default)
#           nuts
#             max_depth = 10 (Default)
#         metric = dense_e
# id = 1 (Default)
# data
#   file = bernoulli.data.json
# random
#   seed = 1234
# stancflags = --O1 --name=bernoulli_model
lp__,accept_stat__,stepsize__,treedepth__,n_leapfrog__,divergent__,energy__,theta.1,theta.2
# Adaptation terminated
# Step size = 0.932037
# Elements of inverse mass matrix:
# 0.591014, 0.1
# 0.1, 0.25
-7.28987,0.974062,0.932037,1,3,0,7.32684,0.312846,1e-07\r
-7.06343,1,0.932037,2,3,0,7.23862,0.282845,-inf
# a stray comment in the middle
-6.75103,0.999999,0.932037,1,1,0,7.03585,nan,0.5

# 
#  Elapsed Time: 0.004 seconds (Warm-up)
#                0.011 seconds (Sampling)
#                0.015 seconds (Total)
# 
";

#[test]
fn reads_a_cmdstan_style_file() {
    let csv = read_stan_csv(CMDSTAN_STYLE).expect("parses");
    assert_eq!(csv.config_value("model"), Some("bernoulli_model"));
    assert_eq!(
        csv.config_value("method"),
        Some("sample"),
        "(Default) is dropped"
    );
    assert_eq!(csv.config_value("num_warmup"), Some("1000"));
    assert_eq!(csv.config_value("seed"), Some("1234"));
    assert_eq!(csv.config_value("file"), Some("bernoulli.data.json"));
    // Only the first '=' separates key and value.
    assert_eq!(
        csv.config_value("stancflags"),
        Some("--O1 --name=bernoulli_model")
    );
    assert_eq!(csv.columns.len(), 9);
    assert_eq!(csv.n_rows(), 3);
    assert_eq!(
        csv.column("lp__"),
        Some(&[-7.28987, -7.06343, -6.75103][..])
    );
    assert_eq!(csv.column("treedepth__"), Some(&[1.0, 2.0, 1.0][..]));
    let theta2 = csv.column("theta.2").expect("column");
    assert_eq!(theta2[0], 1e-7);
    assert_eq!(theta2[1], f64::NEG_INFINITY);
    assert!(csv.column("theta.1").expect("column")[2].is_nan());
    let a = csv.adaptation.expect("adaptation");
    assert_eq!(a.after_rows, 0);
    assert_eq!(a.step_size, 0.932037);
    assert_eq!(
        a.inv_metric,
        InvMetric::Dense(vec![vec![0.591014, 0.1], vec![0.1, 0.25]])
    );
    let e = csv.elapsed.expect("timing");
    assert_eq!((e.warmup, e.sampling, e.total), (0.004, 0.011, 0.015));
}

#[test]
fn errors_name_the_line() {
    let text = "# model = m\na,b\n1,2\n3\n";
    assert_eq!(
        read_stan_csv(text),
        Err(ReadError::WrongFieldCount {
            line: 4,
            expected: 2,
            found: 1
        })
    );
    let text = "a,b\n1,2\n3,x4\n";
    let err = read_stan_csv(text).expect_err("bad number");
    assert_eq!(
        err.to_string(),
        "line 3: \"x4\" in column 'b' is not a number"
    );
    assert_eq!(
        read_stan_csv("# only\n# comments\n"),
        Err(ReadError::MissingHeader)
    );
    assert_eq!(
        read_stan_csv("a,,b\n"),
        Err(ReadError::EmptyColumnName { line: 1, index: 2 })
    );
    assert_eq!(
        read_stan_csv("a,b,a\n"),
        Err(ReadError::DuplicateColumn {
            line: 1,
            name: "a".to_string()
        })
    );
    let text = "a\n# Adaptation terminated\n# Stepsize 0.5\n1\n";
    let err = read_stan_csv(text).expect_err("bad adaptation");
    assert!(
        err.to_string()
            .starts_with("line 3: expected '# Step size = <number>'"),
        "{err}"
    );
}

#[test]
fn writer_rejects_what_would_corrupt_the_file() {
    let cols = user_columns();
    let bad_key = vec![("a=b".to_string(), "1".to_string())];
    assert!(matches!(
        StanCsvWriter::new(Vec::new(), &bad_key, &cols),
        Err(WriteError::BadConfigKey { .. })
    ));
    let bad_value = vec![("a".to_string(), "1\n2".to_string())];
    assert!(matches!(
        StanCsvWriter::new(Vec::new(), &bad_value, &cols),
        Err(WriteError::BadConfigValue { .. })
    ));
    let bad_col = vec!["w,1".to_string()];
    assert!(matches!(
        StanCsvWriter::new(Vec::new(), &[], &bad_col),
        Err(WriteError::BadColumnName { .. })
    ));
    let dup = vec!["lp__".to_string()];
    assert!(matches!(
        StanCsvWriter::new(Vec::new(), &[], &dup),
        Err(WriteError::DuplicateColumn { .. })
    ));
    let mut w = StanCsvWriter::new(Vec::new(), &[], &cols).expect("header");
    assert!(matches!(
        w.write_draw(&stats(0), &[1.0]),
        Err(WriteError::WrongWidth {
            expected: 7,
            found: 1
        })
    ));
    w.write_adaptation(1.0, &[1.0]).expect("first block");
    assert!(matches!(
        w.write_adaptation(1.0, &[1.0]),
        Err(WriteError::AdaptationTwice)
    ));
}
