//! CmdStan-format CSV: a writer that appends and flushes one draw at a time, and a reader back into named columns.
//!
//! The layout follows the CmdStan guide's "Stan CSV File Format" appendix and what CmdStan's
//! NUTS sampler actually prints:
//!
//! ```text
//! # model = mlp                         configuration, one `# key = value` per line
//! # seed = 42
//! lp__,accept_stat__,stepsize__,treedepth__,n_leapfrog__,divergent__,energy__,w.1.1,w.2.1
//! ...                                   warmup draws, only when the run saves them
//! # Adaptation terminated
//! # Step size = 0.8
//! # Diagonal elements of inverse mass matrix:
//! # 1, 0.5
//! -3.2,0.91,0.8,3,7,0,4.1,0.25,-1.5     one line per draw
//! #
//! #  Elapsed Time: 0.012 seconds (Warm-up)
//! #                0.034 seconds (Sampling)
//! #                0.046 seconds (Total)
//! #
//! ```
//!
//! Decisions:
//! - **Container order.** Stan serializes every container (vector, matrix, array) in column-major
//!   ("Fortran") order: the first index varies fastest, `m.1.1, m.2.1, m.1.2, …`. CmdStan's own
//!   readers, rstan (`read_stan_csv(col_major = TRUE)`) and ArviZ (which places each column by
//!   the indices in its name, so it accepts any order) all read that. [`stan_column_names`]
//!   produces it.
//! - **Numbers.** CmdStan prints 6 significant digits by default; we print every `f64` in its
//!   shortest form that parses back to the same bits (Rust's `{}`, switching to `{:e}` outside
//!   10⁻⁵ ≤ |x| < 10¹⁶ so huge and tiny values stay short), so the same draws always give the
//!   same bytes and nothing is lost. Non-finite values are written `nan`, `inf`, `-inf`, as
//!   CmdStan's C++ streams write them. `treedepth__`, `n_leapfrog__` and `divergent__` are
//!   integers.
//! - **Flushing.** Every draw is written with one `write_all` of a complete line followed by
//!   `flush`, so a run that is killed leaves a file whose last line is a complete draw (or, at
//!   worst, one partial line). The reader skips a last line without its line break — what a
//!   writer killed mid-line leaves, even when the cut fell inside the last number — and says
//!   which line it skipped ([`StanCsv::unfinished_line`]).
//! - **Configuration.** The writer prints the pairs it is given, in order, without CmdStan's
//!   nested indentation or `(Default)` tags. ArviZ reads `num_warmup`, `save_warmup` and `thin`
//!   to find saved warmup rows, so pass those keys when warmup draws are written.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::Write;

/// The sampler columns CmdStan's NUTS writes before the model's columns, in order.
pub const SAMPLER_COLUMNS: [&str; 7] = [
    "lp__",
    "accept_stat__",
    "stepsize__",
    "treedepth__",
    "n_leapfrog__",
    "divergent__",
    "energy__",
];

/// Stan's CSV column names for a variable of the given shape: 1-based indices joined by `.`,
/// in column-major order (first index fastest), as CmdStan writes matrices and arrays.
///
/// A scalar (`shape = []`) is just `name`; a shape with a zero extent has no columns.
/// `stan_column_names("m", &[2, 3])` is `m.1.1, m.2.1, m.1.2, m.2.2, m.1.3, m.2.3`.
pub fn stan_column_names(name: &str, shape: &[usize]) -> Vec<String> {
    let total: usize = shape.iter().product();
    (0..total)
        .map(|mut k| {
            let mut s = name.to_string();
            for &extent in shape {
                let _ = write!(s, ".{}", k % extent + 1);
                k /= extent;
            }
            s
        })
        .collect()
}

/// The per-draw NUTS statistics written in the seven `__` columns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplerStats {
    /// Log density at the draw, up to a constant, in unconstrained space with Jacobian (`lp__`).
    pub lp: f64,
    /// Mean Metropolis acceptance probability over the trajectory (`accept_stat__`).
    pub accept_stat: f64,
    /// Leapfrog step size used for this transition (`stepsize__`).
    pub stepsize: f64,
    /// Depth of the NUTS tree (`treedepth__`).
    pub treedepth: u32,
    /// Leapfrog steps taken (`n_leapfrog__`).
    pub n_leapfrog: u32,
    /// Whether the trajectory diverged (`divergent__`, written 0 or 1).
    pub divergent: bool,
    /// Hamiltonian at the draw: potential plus kinetic energy (`energy__`).
    pub energy: f64,
}

/// Why a Stan CSV could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The underlying writer failed.
    #[error("could not write the CSV: {0}")]
    Io(#[from] std::io::Error),
    /// A draw did not have one value per user column.
    #[error("a draw has {found} values but the header has {expected} model columns")]
    WrongWidth {
        /// Number of user columns in the header.
        expected: usize,
        /// Number of values passed.
        found: usize,
    },
    /// A configuration key cannot be written as `# key = value`.
    #[error(
        "configuration key {key:?} cannot be written as '# key = value' \
         (it is empty, or contains '=' or a line break)"
    )]
    BadConfigKey {
        /// The key as given.
        key: String,
    },
    /// A configuration value contains a line break.
    #[error("the configuration value of '{key}' contains a line break")]
    BadConfigValue {
        /// The key whose value is bad.
        key: String,
    },
    /// A column name cannot appear in a CSV header.
    #[error(
        "column name {name:?} cannot be written in a Stan CSV header \
         (it is empty, or contains ',', '#', a space or a line break)"
    )]
    BadColumnName {
        /// The name as given.
        name: String,
    },
    /// Two columns have the same name.
    #[error("column '{name}' appears twice")]
    DuplicateColumn {
        /// The repeated name.
        name: String,
    },
    /// The adaptation block was written twice.
    #[error("the adaptation block was already written; CmdStan writes it once, after warmup")]
    AdaptationTwice,
}

/// Writes a CmdStan-format CSV for one chain, draw by draw, flushing after every line.
#[derive(Debug)]
pub struct StanCsvWriter<W: Write> {
    out: W,
    /// Number of model (non-`__`) columns each draw must supply.
    n_user: usize,
    /// Reused line buffer, so a draw costs no allocation once it has grown.
    line: String,
    adapted: bool,
}

impl<W: Write> StanCsvWriter<W> {
    /// Writes the configuration comments and the column header, then flushes.
    ///
    /// `config` pairs are written in order as `# key = value`; `user_columns` follow the seven
    /// [`SAMPLER_COLUMNS`] (build them with [`stan_column_names`]).
    pub fn new(
        mut out: W,
        config: &[(String, String)],
        user_columns: &[String],
    ) -> Result<Self, WriteError> {
        let mut text = String::new();
        for (key, value) in config {
            if key.trim().is_empty() || key.contains(['=', '\n', '\r']) {
                return Err(WriteError::BadConfigKey { key: key.clone() });
            }
            if value.contains(['\n', '\r']) {
                return Err(WriteError::BadConfigValue { key: key.clone() });
            }
            let _ = writeln!(text, "# {} = {}", key.trim(), value.trim());
        }
        let mut seen: HashSet<&str> = SAMPLER_COLUMNS.into_iter().collect();
        for name in user_columns {
            if name.is_empty() || name.contains([',', '#', ' ', '\n', '\r', '\t']) {
                return Err(WriteError::BadColumnName { name: name.clone() });
            }
            if !seen.insert(name) {
                return Err(WriteError::DuplicateColumn { name: name.clone() });
            }
        }
        text.push_str(&SAMPLER_COLUMNS.join(","));
        for name in user_columns {
            text.push(',');
            text.push_str(name);
        }
        text.push('\n');
        out.write_all(text.as_bytes())?;
        out.flush()?;
        Ok(StanCsvWriter {
            out,
            n_user: user_columns.len(),
            line: String::new(),
            adapted: false,
        })
    }

    /// A writer that continues a chain file already holding its header and adaptation block
    /// (a resumed chain), with `n_user` model columns; writes nothing yet.
    pub fn append(out: W, n_user: usize) -> Self {
        StanCsvWriter {
            out,
            n_user,
            line: String::new(),
            adapted: true,
        }
    }

    /// Appends one draw (sampler statistics, then one value per user column) and flushes.
    pub fn write_draw(&mut self, stats: &SamplerStats, values: &[f64]) -> Result<(), WriteError> {
        if values.len() != self.n_user {
            return Err(WriteError::WrongWidth {
                expected: self.n_user,
                found: values.len(),
            });
        }
        let line = &mut self.line;
        line.clear();
        push_f64(line, stats.lp);
        line.push(',');
        push_f64(line, stats.accept_stat);
        line.push(',');
        push_f64(line, stats.stepsize);
        let _ = write!(
            line,
            ",{},{},{},",
            stats.treedepth,
            stats.n_leapfrog,
            u8::from(stats.divergent)
        );
        push_f64(line, stats.energy);
        for &v in values {
            line.push(',');
            push_f64(line, v);
        }
        line.push('\n');
        self.out.write_all(line.as_bytes())?;
        self.out.flush()?;
        Ok(())
    }

    /// Writes CmdStan's post-warmup block: `# Adaptation terminated`, the step size and the
    /// diagonal of the inverse mass matrix (one entry per unconstrained parameter).
    pub fn write_adaptation(
        &mut self,
        step_size: f64,
        inv_mass_diag: &[f64],
    ) -> Result<(), WriteError> {
        if self.adapted {
            return Err(WriteError::AdaptationTwice);
        }
        self.adapted = true;
        let mut text = String::from("# Adaptation terminated\n# Step size = ");
        push_f64(&mut text, step_size);
        text.push_str("\n# Diagonal elements of inverse mass matrix:\n# ");
        for (i, &v) in inv_mass_diag.iter().enumerate() {
            if i > 0 {
                text.push_str(", ");
            }
            push_f64(&mut text, v);
        }
        text.push('\n');
        self.out.write_all(text.as_bytes())?;
        self.out.flush()?;
        Ok(())
    }

    /// Writes CmdStan's closing timing block (seconds, printed to the millisecond).
    pub fn write_timing(
        &mut self,
        warmup_seconds: f64,
        sampling_seconds: f64,
    ) -> Result<(), WriteError> {
        let text = format!(
            "# \n\
             #  Elapsed Time: {warmup_seconds:.3} seconds (Warm-up)\n\
             #                {sampling_seconds:.3} seconds (Sampling)\n\
             #                {:.3} seconds (Total)\n\
             # \n",
            warmup_seconds + sampling_seconds
        );
        self.out.write_all(text.as_bytes())?;
        self.out.flush()?;
        Ok(())
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> Result<W, WriteError> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Appends the shortest text that parses back to exactly `x` (see the module doc).
fn push_f64(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("nan");
    } else if x.is_infinite() {
        out.push_str(if x > 0.0 { "inf" } else { "-inf" });
    } else if x == 0.0 || (1e-5..1e16).contains(&x.abs()) {
        let _ = write!(out, "{x}");
    } else {
        let _ = write!(out, "{x:e}");
    }
}

/// The text [`StanCsvWriter`] writes for `x`: shortest round-trip form, `nan`/`inf`/`-inf`.
pub fn format_f64(x: f64) -> String {
    let mut s = String::new();
    push_f64(&mut s, x);
    s
}

// ---------------------------------------------------------------------------------------------
// Reading.

/// A Stan CSV file read into memory.
#[derive(Debug, Clone, PartialEq)]
pub struct StanCsv {
    /// `# key = value` comments before the header, in file order, with CmdStan's indentation
    /// and ` (Default)` tag removed. Keys can repeat (CmdStan has several `file` keys).
    pub config: Vec<(String, String)>,
    /// Column names from the header row, in order.
    pub columns: Vec<String>,
    /// One `Vec` per column (same order as `columns`), one entry per draw row.
    pub values: Vec<Vec<f64>>,
    /// The post-warmup adaptation block, when the file has one.
    pub adaptation: Option<Adaptation>,
    /// The closing timing block, when the file has one.
    pub elapsed: Option<Elapsed>,
    /// The 1-based number of a last line that ends without a line break, which was skipped: the
    /// writer was stopped while writing it (SIGKILL, a full disk, power loss).
    pub unfinished_line: Option<usize>,
}

/// What CmdStan's `# Adaptation terminated` block says.
#[derive(Debug, Clone, PartialEq)]
pub struct Adaptation {
    /// Number of draw rows before the block: the saved warmup draws (0 unless warmup was saved).
    pub after_rows: usize,
    /// Adapted leapfrog step size.
    pub step_size: f64,
    /// Adapted inverse mass matrix (metric).
    pub inv_metric: InvMetric,
}

/// The inverse mass matrix written after adaptation.
#[derive(Debug, Clone, PartialEq)]
pub enum InvMetric {
    /// No matrix lines (CmdStan's `unit_e` metric).
    Unit,
    /// `# Diagonal elements of inverse mass matrix:` and one line of values.
    Diagonal(Vec<f64>),
    /// `# Elements of inverse mass matrix:` and one line per row (`dense_e`).
    Dense(Vec<Vec<f64>>),
}

/// CmdStan's elapsed-time comments, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Elapsed {
    /// Warmup time.
    pub warmup: f64,
    /// Sampling time.
    pub sampling: f64,
    /// Total time.
    pub total: f64,
}

impl StanCsv {
    /// The draws of one column by name.
    pub fn column(&self, name: &str) -> Option<&[f64]> {
        self.columns
            .iter()
            .position(|c| c == name)
            .map(|i| self.values[i].as_slice())
    }

    /// The first configuration value for `key`.
    pub fn config_value(&self, key: &str) -> Option<&str> {
        self.config
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Number of draw rows.
    pub fn n_rows(&self) -> usize {
        self.values.first().map_or(0, Vec::len)
    }
}

/// Why a Stan CSV could not be read; every variant that concerns a line names it (1-based).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// Every line is a comment or blank.
    #[error("no header row: every line is a comment or blank")]
    MissingHeader,
    /// The header has an empty name.
    #[error("line {line}: column {index} of the header has no name")]
    EmptyColumnName {
        /// Line number.
        line: usize,
        /// 1-based column position.
        index: usize,
    },
    /// The header repeats a name.
    #[error("line {line}: column '{name}' appears twice in the header")]
    DuplicateColumn {
        /// Line number.
        line: usize,
        /// The repeated name.
        name: String,
    },
    /// A draw row has the wrong number of fields.
    #[error("line {line}: expected {expected} comma-separated values (one per column) but found {found}")]
    WrongFieldCount {
        /// Line number.
        line: usize,
        /// Number of header columns.
        expected: usize,
        /// Number of fields on the line.
        found: usize,
    },
    /// A field is not a number.
    #[error("line {line}: {text:?} in column '{column}' is not a number")]
    BadNumber {
        /// Line number.
        line: usize,
        /// The column's name.
        column: String,
        /// The field as written.
        text: String,
    },
    /// The adaptation block is malformed.
    #[error("line {line}: {message}")]
    BadAdaptation {
        /// Line number.
        line: usize,
        /// What was expected.
        message: String,
    },
}

/// Parses one field as CmdStan and NumPy would: decimal or exponent notation, `nan`, `inf`,
/// `+inf`, `-inf` (any case), surrounding blanks ignored.
fn parse_f64(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok()
}

/// The text of a comment line without its `#` and surrounding blanks.
fn comment_body(line: &str) -> &str {
    line.trim_start().strip_prefix('#').unwrap_or(line).trim()
}

fn parse_number_list(body: &str, line: usize, what: &str) -> Result<Vec<f64>, ReadError> {
    body.split(',')
        .map(|t| {
            parse_f64(t).ok_or_else(|| ReadError::BadAdaptation {
                line,
                message: format!("{:?} in the {what} is not a number", t.trim()),
            })
        })
        .collect()
}

/// A `# key = value` configuration comment as a pair, CmdStan's indentation and ` (Default)`
/// tag removed; `None` for other comments.
fn config_entry(comment: &str) -> Option<(String, String)> {
    let (k, v) = comment_body(comment).split_once('=')?;
    let v = v.trim();
    let v = v.strip_suffix("(Default)").unwrap_or(v).trim();
    Some((k.trim().to_string(), v.to_string()))
}

/// Reads only the configuration comments of a CmdStan-format CSV, stopping at its header, as
/// [`read_stan_csv`] reads them: what a run's output directory says about a chain file without
/// reading its draws.
pub fn read_stan_csv_config(
    reader: impl std::io::BufRead,
) -> std::io::Result<Vec<(String, String)>> {
    let mut config = Vec::new();
    for line in reader.lines() {
        let line = line?;
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if !trimmed.starts_with('#') {
            break;
        }
        config.extend(config_entry(trimmed));
    }
    Ok(config)
}

/// Reads a CmdStan-format CSV: configuration comments, header, draws, and the adaptation and
/// timing comment blocks. Comment lines anywhere else are skipped, as are blank lines, and so is
/// an unfinished last line (no line break; see [`StanCsv::unfinished_line`]) — together with an
/// adaptation block it left incomplete.
pub fn read_stan_csv(text: &str) -> Result<StanCsv, ReadError> {
    let (text, unfinished_line) = match text.rfind('\n') {
        Some(end) if !text[end + 1..].trim().is_empty() => {
            (&text[..=end], Some(text[..=end].lines().count() + 1))
        }
        None if !text.trim().is_empty() => ("", Some(1)),
        _ => (text, None),
    };
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l)).peekable();
    let mut config = Vec::new();

    // Configuration comments, up to the header.
    let (header_line, header) = loop {
        let Some((n, line)) = lines.next() else {
            return Err(ReadError::MissingHeader);
        };
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if trimmed.starts_with('#') {
            config.extend(config_entry(trimmed));
            continue;
        }
        break (n, trimmed);
    };

    let columns: Vec<String> = header.split(',').map(|s| s.trim().to_string()).collect();
    let mut seen = HashSet::new();
    for (i, c) in columns.iter().enumerate() {
        if c.is_empty() {
            return Err(ReadError::EmptyColumnName {
                line: header_line,
                index: i + 1,
            });
        }
        if !seen.insert(c.as_str()) {
            return Err(ReadError::DuplicateColumn {
                line: header_line,
                name: c.clone(),
            });
        }
    }

    let mut values: Vec<Vec<f64>> = vec![Vec::new(); columns.len()];
    let mut adaptation = None;
    let mut elapsed_parts: Vec<f64> = Vec::new();
    while let Some((n, line)) = lines.next() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if trimmed.starts_with('#') {
            let body = comment_body(trimmed);
            if body == "Adaptation terminated" {
                match read_adaptation(&mut lines, n, values[0].len()) {
                    Ok(a) => adaptation = Some(a),
                    // Cut short by the unfinished line: there is no adaptation to read yet.
                    Err(_) if unfinished_line.is_some() && lines.peek().is_none() => {}
                    Err(e) => return Err(e),
                }
            } else if let Some(seconds) = elapsed_seconds(body) {
                elapsed_parts.push(seconds);
            }
            continue;
        }
        let mut found = 0;
        for (field, column) in trimmed.split(',').zip(0..) {
            found += 1;
            if column >= columns.len() {
                continue;
            }
            let v = parse_f64(field).ok_or_else(|| ReadError::BadNumber {
                line: n,
                column: columns[column].clone(),
                text: field.to_string(),
            })?;
            values[column].push(v);
        }
        if found != columns.len() {
            return Err(ReadError::WrongFieldCount {
                line: n,
                expected: columns.len(),
                found,
            });
        }
    }

    let elapsed = match elapsed_parts[..] {
        [warmup, sampling, total] => Some(Elapsed {
            warmup,
            sampling,
            total,
        }),
        _ => None,
    };
    Ok(StanCsv {
        config,
        columns,
        values,
        adaptation,
        elapsed,
        unfinished_line,
    })
}

/// `Elapsed Time: 0.012 seconds (Warm-up)` or `0.034 seconds (Sampling)` → seconds.
fn elapsed_seconds(body: &str) -> Option<f64> {
    let body = body.strip_prefix("Elapsed Time:").unwrap_or(body).trim();
    let (number, rest) = body.split_once(' ')?;
    let rest = rest.trim();
    if !rest.starts_with("seconds") {
        return None;
    }
    parse_f64(number)
}

/// Reads the lines after `# Adaptation terminated` (line `start`).
fn read_adaptation<'a, I>(
    lines: &mut std::iter::Peekable<I>,
    start: usize,
    after_rows: usize,
) -> Result<Adaptation, ReadError>
where
    I: Iterator<Item = (usize, &'a str)>,
{
    let missing = |line: usize, what: &str| ReadError::BadAdaptation {
        line,
        message: format!("expected {what} after '# Adaptation terminated' (line {start})"),
    };
    let (n, line) = lines
        .next()
        .ok_or_else(|| missing(start + 1, "'# Step size = <number>'"))?;
    let step_size = comment_body(line)
        .strip_prefix("Step size")
        .and_then(|r| r.trim().strip_prefix('='))
        .and_then(parse_f64)
        .ok_or_else(|| missing(n, "'# Step size = <number>'"))?;

    let next_body = |lines: &mut std::iter::Peekable<I>| {
        lines
            .peek()
            .filter(|(_, l)| l.trim_start().starts_with('#'))
            .map(|&(n, l)| (n, comment_body(l).to_string()))
    };
    let inv_metric = match next_body(lines) {
        Some((_, b)) if b == "Diagonal elements of inverse mass matrix:" => {
            lines.next();
            let (n, body) = next_body(lines)
                .ok_or_else(|| missing(start + 3, "a comment line of inverse-mass values"))?;
            lines.next();
            InvMetric::Diagonal(parse_number_list(&body, n, "inverse mass matrix")?)
        }
        Some((_, b)) if b == "Elements of inverse mass matrix:" => {
            lines.next();
            let mut rows: Vec<Vec<f64>> = Vec::new();
            // A dense metric is square: read as many rows as the first row has entries.
            loop {
                let (n, body) = next_body(lines)
                    .ok_or_else(|| missing(start + 3, "a comment line of inverse-mass values"))?;
                lines.next();
                rows.push(parse_number_list(&body, n, "inverse mass matrix")?);
                if rows.len() == rows[0].len() {
                    break;
                }
            }
            InvMetric::Dense(rows)
        }
        _ => InvMetric::Unit,
    };
    Ok(Adaptation {
        after_rows,
        step_size,
        inv_metric,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_major_names() {
        assert_eq!(stan_column_names("mu", &[]), vec!["mu"]);
        assert_eq!(stan_column_names("b", &[3]), vec!["b.1", "b.2", "b.3"]);
        // CmdStan's matrix[2, 3] m: the first index varies fastest.
        assert_eq!(
            stan_column_names("m", &[2, 3]),
            vec!["m.1.1", "m.2.1", "m.1.2", "m.2.2", "m.1.3", "m.2.3"]
        );
        assert_eq!(
            stan_column_names("a", &[2, 1, 2]),
            vec!["a.1.1.1", "a.2.1.1", "a.1.1.2", "a.2.1.2"]
        );
        assert!(stan_column_names("e", &[0, 4]).is_empty());
    }

    #[test]
    fn numbers_are_shortest_and_exact() {
        for (x, text) in [
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (3.0, "3"),
            (0.0, "0"),
            (-0.0, "-0"),
            (1e-5, "0.00001"),
            (1.5e-7, "1.5e-7"),
            (1e16, "1e16"),
            (123456789.125, "123456789.125"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (f64::NAN, "nan"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            assert_eq!(format_f64(x), text);
            let back = parse_f64(text).expect("parses");
            assert!(back.to_bits() == x.to_bits() || (x.is_nan() && back.is_nan()));
        }
    }

    #[test]
    fn an_unfinished_last_line_is_skipped_and_named() {
        let whole = "# model = m\nlp__,mu\n# Adaptation terminated\n# Step size = 0.5\n\
                     # Diagonal elements of inverse mass matrix:\n# 1\n-1,0.25\n-2,0.5\n";
        let csv = read_stan_csv(whole).expect("whole");
        assert_eq!((csv.n_rows(), csv.unfinished_line), (2, None));
        // Cut inside the last number of line 8: "-2,0.5" became "-2,0." — every column is there
        // but the value is wrong, so the line is skipped for its missing line break.
        let cut = &whole[..whole.len() - 2];
        let csv = read_stan_csv(cut).expect("cut");
        assert_eq!(csv.n_rows(), 1);
        assert_eq!(csv.column("mu"), Some(&[0.25][..]));
        assert_eq!(csv.unfinished_line, Some(8));
        assert!(csv.adaptation.is_some());
        // Cut inside the adaptation block: no draws and no adaptation yet, but no error.
        let cut = &whole[..whole.find("# 1").expect("metric line") + 1];
        let csv = read_stan_csv(cut).expect("cut in the adaptation block");
        assert_eq!((csv.n_rows(), csv.adaptation), (0, None));
        assert_eq!(csv.unfinished_line, Some(6));
        // Trailing blanks without a line break lose nothing.
        let csv = read_stan_csv(&format!("{whole}  ")).expect("blanks");
        assert_eq!((csv.n_rows(), csv.unfinished_line), (2, None));
        // A whole file whose adaptation block is broken is still an error.
        let broken = whole.replace("# 1\n", "");
        assert!(read_stan_csv(&broken).is_err());
    }
}
