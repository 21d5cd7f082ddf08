//! Trace and rank plots of one quantity across chains (`bnnppl plot DIR --trace NAME`): the
//! draws in order per chain, and per-chain histograms of the pooled ranks, which are flat when
//! the chains agree (Vehtari et al. 2021, rank plots).

use plotters::prelude::*;
use std::path::Path;

/// Number of rank bins.
const BINS: usize = 20;

/// Draws an SVG with the trace (left) and the rank histograms (right) of `chains`.
pub fn trace_and_rank(path: &Path, name: &str, chains: &[Vec<f64>]) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("cannot draw {}: {e}", path.display());
    let n_max = chains.iter().map(Vec::len).max().unwrap_or(0);
    if n_max == 0 {
        return Err(format!("no draws of '{name}' to plot"));
    }
    let finite: Vec<f64> = chains
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let (lo, hi) = finite
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let pad = 0.05 * (hi - lo).max(1e-9);

    // Ranks of the pooled draws (ties broken by order), then a histogram per chain.
    let mut pooled: Vec<(f64, usize)> = Vec::new();
    for (c, draws) in chains.iter().enumerate() {
        pooled.extend(draws.iter().map(|&v| (v, c)));
    }
    pooled.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = pooled.len();
    let mut counts = vec![vec![0usize; BINS]; chains.len()];
    for (rank, &(_, c)) in pooled.iter().enumerate() {
        counts[c][(rank * BINS / total).min(BINS - 1)] += 1;
    }
    let expected = |c: usize| chains[c].len() as f64 / BINS as f64;
    let ymax = counts.iter().flatten().copied().max().unwrap_or(1) as f64 * 1.15;

    let root = SVGBackend::new(path, (1100, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (left, right) = root.split_horizontally(650);
    let mut trace = ChartBuilder::on(&left)
        .caption(format!("trace of {name}"), ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(55)
        .build_cartesian_2d(0f64..n_max as f64, (lo - pad)..(hi + pad))
        .map_err(|e| err(&e))?;
    trace
        .configure_mesh()
        .x_desc("draw")
        .y_desc(name)
        .draw()
        .map_err(|e| err(&e))?;
    for (c, draws) in chains.iter().enumerate() {
        let color = Palette99::pick(c).to_rgba();
        trace
            .draw_series(LineSeries::new(
                draws
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| v.is_finite())
                    .map(|(i, &v)| (i as f64, v)),
                color.stroke_width(1),
            ))
            .map_err(|e| err(&e))?
            .label(format!("chain {}", c + 1))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], color));
    }
    trace
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;

    let mut ranks = ChartBuilder::on(&right)
        .caption(
            "rank histograms (flat when chains agree)",
            ("sans-serif", 16),
        )
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(0f64..1f64, 0f64..ymax)
        .map_err(|e| err(&e))?;
    ranks
        .configure_mesh()
        .x_desc("pooled rank / draws")
        .y_desc("count")
        .draw()
        .map_err(|e| err(&e))?;
    for (c, row) in counts.iter().enumerate() {
        let color = Palette99::pick(c).to_rgba();
        // A step line per chain.
        let mut pts = Vec::with_capacity(2 * BINS);
        for (b, &n) in row.iter().enumerate() {
            pts.push((b as f64 / BINS as f64, n as f64));
            pts.push(((b + 1) as f64 / BINS as f64, n as f64));
        }
        ranks
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(|e| err(&e))?;
        let e = expected(c);
        ranks
            .draw_series(LineSeries::new(vec![(0.0, e), (1.0, e)], BLACK.mix(0.4)))
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
