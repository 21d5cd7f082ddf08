//! SVG pictures of predictions: the 1-D regression band picture and a classifier's reliability
//! diagram, drawn with plotters' SVG backend (text becomes SVG `<text>`, so no font files).

use super::metrics::Calibration;
use super::{Predictions, QUANTILES};
use plotters::prelude::*;
use std::path::Path;

fn q(pred: &Predictions, level: f64) -> &[f64] {
    let k = QUANTILES
        .iter()
        .position(|&l| (l - level).abs() < 1e-12)
        .expect("internal: level in QUANTILES");
    &pred.quantiles[k]
}

fn band(xs: &[f64], lo: &[f64], hi: &[f64]) -> Vec<(f64, f64)> {
    xs.iter()
        .copied()
        .zip(lo.iter().copied())
        .chain(xs.iter().copied().zip(hi.iter().copied()).rev())
        .collect()
}

/// The 1-D regression picture: the points, the predictive mean, its 50 % and 95 % predictive
/// bands, and the epistemic band mean ± 2·√Var[μ] drawn separately. `x` is the single input
/// column, one value per predicted row.
pub fn regression_1d(
    path: &Path,
    x: &[f64],
    pred: &Predictions,
    points: &[(f64, f64)],
    title: &str,
) -> Result<(), String> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let pick = |v: &[f64]| order.iter().map(|&i| v[i]).collect::<Vec<f64>>();
    let xs = pick(x);
    let mean = pick(&pred.mean);
    let (lo95, hi95) = (pick(q(pred, 0.025)), pick(q(pred, 0.975)));
    let (lo50, hi50) = (pick(q(pred, 0.25)), pick(q(pred, 0.75)));
    let epi_sd: Vec<f64> = pick(&pred.epistemic).iter().map(|v| v.sqrt()).collect();
    let epi_lo: Vec<f64> = mean.iter().zip(&epi_sd).map(|(m, s)| m - 2.0 * s).collect();
    let epi_hi: Vec<f64> = mean.iter().zip(&epi_sd).map(|(m, s)| m + 2.0 * s).collect();

    let finite = |v: &f64| v.is_finite();
    let all_y = lo95
        .iter()
        .chain(&hi95)
        .chain(points.iter().map(|p| &p.1))
        .copied()
        .filter(finite);
    let (ymin, ymax) = all_y.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let all_x = xs.iter().chain(points.iter().map(|p| &p.0)).copied();
    let (xmin, xmax) = all_x.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let pad = 0.05 * (ymax - ymin).max(1e-9);

    let e = |e: &dyn std::fmt::Display| e.to_string();
    let root = SVGBackend::new(path, (900, 540)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(xmin..xmax, (ymin - pad)..(ymax + pad))
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .x_desc("x")
        .y_desc("y")
        .light_line_style(WHITE)
        .draw()
        .map_err(|x| e(&x))?;
    let blue = RGBColor(31, 119, 180);
    let orange = RGBColor(255, 127, 14);
    chart
        .draw_series(std::iter::once(Polygon::new(
            band(&xs, &lo95, &hi95),
            blue.mix(0.15).filled(),
        )))
        .map_err(|x| e(&x))?
        .label("95 % predictive")
        .legend(move |(x, y)| {
            Rectangle::new([(x, y - 5), (x + 20, y + 5)], blue.mix(0.15).filled())
        });
    chart
        .draw_series(std::iter::once(Polygon::new(
            band(&xs, &lo50, &hi50),
            blue.mix(0.3).filled(),
        )))
        .map_err(|x| e(&x))?
        .label("50 % predictive")
        .legend(move |(x, y)| {
            Rectangle::new([(x, y - 5), (x + 20, y + 5)], blue.mix(0.3).filled())
        });
    chart
        .draw_series(std::iter::once(Polygon::new(
            band(&xs, &epi_lo, &epi_hi),
            orange.mix(0.35).filled(),
        )))
        .map_err(|x| e(&x))?
        .label("epistemic: mean ± 2 sd of f")
        .legend(move |(x, y)| {
            Rectangle::new([(x, y - 5), (x + 20, y + 5)], orange.mix(0.35).filled())
        });
    chart
        .draw_series(LineSeries::new(
            xs.iter().copied().zip(mean.iter().copied()),
            blue.stroke_width(2),
        ))
        .map_err(|x| e(&x))?
        .label("predictive mean")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], blue.stroke_width(2)));
    if !points.is_empty() {
        chart
            .draw_series(
                points
                    .iter()
                    .map(|&(px, py)| Circle::new((px, py), 3, BLACK.filled())),
            )
            .map_err(|x| e(&x))?
            .label("data")
            .legend(|(x, y)| Circle::new((x + 10, y), 3, BLACK.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|x| e(&x))?;
    root.present().map_err(|x| e(&x))?;
    Ok(())
}

/// A reliability diagram: accuracy against mean confidence per bin, with the diagonal of
/// perfect calibration; the caption gives ECE and MCE.
pub fn reliability(path: &Path, cal: &Calibration, title: &str) -> Result<(), String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let root = SVGBackend::new(path, (640, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let caption = format!("{title} (ECE {:.3}, MCE {:.3})", cal.ece, cal.mce);
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..1.0, 0.0..1.0)
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .x_desc("confidence (probability of the predicted class)")
        .y_desc("accuracy")
        .light_line_style(WHITE)
        .draw()
        .map_err(|x| e(&x))?;
    let blue = RGBColor(31, 119, 180);
    chart
        .draw_series(
            cal.bins
                .iter()
                .filter(|b| b.count > 0)
                .map(|b| Rectangle::new([(b.lo, 0.0), (b.hi, b.accuracy)], blue.mix(0.6).filled())),
        )
        .map_err(|x| e(&x))?
        .label("accuracy per bin")
        .legend(move |(x, y)| {
            Rectangle::new([(x, y - 5), (x + 20, y + 5)], blue.mix(0.6).filled())
        });
    chart
        .draw_series(
            cal.bins
                .iter()
                .filter(|b| b.count > 0)
                .map(|b| Circle::new((b.confidence, b.accuracy), 3, BLACK.filled())),
        )
        .map_err(|x| e(&x))?
        .label("(mean confidence, accuracy)")
        .legend(|(x, y)| Circle::new((x + 10, y), 3, BLACK.filled()));
    chart
        .draw_series(LineSeries::new(
            [(0.0, 0.0), (1.0, 1.0)],
            RED.stroke_width(1),
        ))
        .map_err(|x| e(&x))?
        .label("perfect calibration")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|x| e(&x))?;
    root.present().map_err(|x| e(&x))?;
    Ok(())
}
