//! `herald bench --plot`: wall time against the number of sources, as SVG.

use std::path::Path;

use super::{Args, BenchRow};

/// Draws wall time against the number of sources.
pub(super) fn draw(path: &Path, rows: &[BenchRow], options: &Args) -> Result<(), String> {
    use plotters::prelude::*;

    let series = |mode: &str| -> Vec<(f64, f64)> {
        rows.iter()
            .filter(|r| {
                r.mode == mode
                    && (mode == "sequential" || Some(&r.workers) == options.workers.first())
            })
            .map(|r| (r.sources as f64, r.wall_s))
            .collect()
    };
    let concurrent = series("concurrent");
    let sequential = series("sequential");
    let max_x = rows.iter().map(|r| r.sources).max().unwrap_or(1) as f64;
    let max_y = rows.iter().map(|r| r.wall_s).fold(0.0, f64::max).max(0.001) * 1.1;

    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let caption = format!(
        "herald bench: wall time vs sources ({} ms latency each)",
        options.latency.as_millis()
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..max_x * 1.05, 0.0..max_y)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("sources")
        .y_desc("wall time (s)")
        .draw()
        .map_err(|e| e.to_string())?;
    let workers = options.workers.first().copied().unwrap_or(1);
    for (points, colour, label) in [
        (sequential, RED, "sequential (1 worker)".to_owned()),
        (concurrent, BLUE, format!("concurrent ({workers} workers)")),
    ] {
        if points.is_empty() {
            continue;
        }
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, colour.filled())),
            )
            .map_err(|e| e.to_string())?;
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}
