//! The fixed-width text table of summary rows, with its number formatting.

use super::SummaryRow;
use std::fmt::Write as _;

/// Column headings of [`render_table`], in order.
pub const TABLE_HEADINGS: [&str; 10] = [
    "name",
    "mean",
    "sd",
    "mcse_mean",
    "q5",
    "q50",
    "q95",
    "ess_bulk",
    "ess_tail",
    "rhat",
];

/// Renders rows as a fixed-width text table with `posterior`-style headings.
///
/// Values show 3 significant digits (scientific notation outside 10⁻³ ≤ |x| < 10⁶), ESS as a
/// whole number, R̂ with 3 decimals, NaN as `NA`. Each column is as wide as its widest cell
/// (at least 8 characters for numbers), names left-aligned, numbers right-aligned.
pub fn render_table(rows: &[SummaryRow]) -> String {
    let cells: Vec<[String; 10]> = rows
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                fmt_sig(r.mean),
                fmt_sig(r.sd),
                fmt_sig(r.mcse_mean),
                fmt_sig(r.q5),
                fmt_sig(r.q50),
                fmt_sig(r.q95),
                fmt_ess(r.ess_bulk),
                fmt_ess(r.ess_tail),
                fmt_rhat(r.rhat),
            ]
        })
        .collect();
    let mut widths = [0usize; 10];
    for (i, w) in widths.iter_mut().enumerate() {
        let min = if i == 0 { 4 } else { 8 };
        *w = cells
            .iter()
            .map(|c| c[i].chars().count())
            .chain([TABLE_HEADINGS[i].len(), min])
            .max()
            .expect("internal: chain has elements");
    }
    let mut out = String::new();
    let mut line = |row: &[&str]| {
        let mut s = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i == 0 {
                let _ = write!(s, "{:<w$}", cell, w = widths[0]);
            } else {
                let _ = write!(s, "  {:>w$}", cell, w = widths[i]);
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(&TABLE_HEADINGS);
    for c in &cells {
        let row: Vec<&str> = c.iter().map(String::as_str).collect();
        line(&row);
    }
    out
}

/// Three significant digits: fixed notation for 10⁻³ ≤ |x| < 10⁶ (and 0), scientific outside.
fn fmt_sig(x: f64) -> String {
    const SIG: i32 = 3;
    if x.is_nan() {
        return "NA".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if x == 0.0 {
        return format!("{:.*}", (SIG - 1) as usize, 0.0);
    }
    // The exponent after rounding to SIG digits (so 999.7 counts as 1.00e3).
    let sci = format!("{:.*e}", (SIG - 1) as usize, x);
    let exp: i32 = sci
        .rsplit('e')
        .next()
        .and_then(|e| e.parse().ok())
        .expect("internal: {:e} output has an exponent");
    if (-3..6).contains(&exp) {
        let decimals = (SIG - 1 - exp).max(0) as usize;
        format!("{x:.decimals$}")
    } else {
        sci
    }
}

fn fmt_ess(x: f64) -> String {
    if x.is_nan() {
        "NA".to_string()
    } else {
        format!("{x:.0}")
    }
}

fn fmt_rhat(x: f64) -> String {
    if x.is_nan() {
        "NA".to_string()
    } else {
        format!("{x:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fmt_sig_keeps_three_digits() {
        assert_eq!(fmt_sig(0.123456), "0.123");
        assert_eq!(fmt_sig(-12.3456), "-12.3");
        assert_eq!(fmt_sig(999.7), "1000");
        assert_eq!(fmt_sig(123456.0), "123456");
        assert_eq!(fmt_sig(0.0001234), "1.23e-4");
        assert_eq!(fmt_sig(0.0), "0.00");
        assert_eq!(fmt_sig(f64::NAN), "NA");
    }
}
