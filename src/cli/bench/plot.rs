//! `herald bench --plot`: wall time against the number of sources, as SVG.
//!
//! Every measured series (sequential, each `--workers` value) and, dashed,
//! each series' ideal (`ceil(sources / workers) × latency`), on log-log
//! axes: the sequential line is 100× the concurrent one, and on linear axes
//! the concurrent one would lie flat on the floor.

use std::path::Path;

use super::{Args, BenchRow};

/// Draws wall time against the number of sources.
pub(super) fn draw(path: &Path, rows: &[BenchRow], options: &Args) -> Result<(), String> {
    use plotters::prelude::*;

    // (label, measured points, ideal points), sequential first.
    type Points = Vec<(f64, f64)>;
    let mut series: Vec<(String, Points, Points)> = Vec::new();
    let mut keys: Vec<(&str, usize)> = Vec::new();
    for row in rows {
        if !keys.contains(&(row.mode, row.workers)) {
            keys.push((row.mode, row.workers));
        }
    }
    keys.sort_by_key(|(mode, workers)| (*mode != "sequential", *workers));
    for (mode, workers) in keys {
        let of_series: Vec<&BenchRow> = rows
            .iter()
            .filter(|r| r.mode == mode && r.workers == workers)
            .collect();
        let label = if mode == "sequential" {
            "sequential (1 worker)".to_owned()
        } else {
            format!("concurrent ({workers} workers)")
        };
        series.push((
            label,
            of_series
                .iter()
                .map(|r| (r.sources as f64, r.wall_s))
                .collect(),
            of_series
                .iter()
                .map(|r| (r.sources as f64, r.ideal_s))
                .collect(),
        ));
    }
    let all_y = rows.iter().flat_map(|r| [r.wall_s, r.ideal_s]);
    let max_y = all_y.clone().fold(0.0, f64::max).max(0.001) * 2.0;
    let min_y = all_y
        .filter(|y| *y > 0.0)
        .fold(f64::MAX, f64::min)
        .min(max_y)
        / 2.0;
    let max_x = rows.iter().map(|r| r.sources).max().unwrap_or(1) as f64 * 1.5;
    let min_x = rows.iter().map(|r| r.sources).min().unwrap_or(1).max(1) as f64 / 1.5;

    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let caption = format!(
        "herald bench: wall time vs sources ({} ms latency each; dashed: ideal)",
        options.latency.as_millis()
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((min_x..max_x).log_scale(), (min_y..max_y).log_scale())
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("sources (log)")
        .y_desc("wall time, s (log)")
        .draw()
        .map_err(|e| e.to_string())?;
    for (index, (label, measured, ideal)) in series.into_iter().enumerate() {
        let colour = Palette99::pick(index).to_rgba();
        chart
            .draw_series(LineSeries::new(measured.clone(), colour.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
        chart
            .draw_series(
                measured
                    .into_iter()
                    .map(|p| Circle::new(p, 3, colour.filled())),
            )
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(DashedLineSeries::new(ideal, 6, 4, colour.stroke_width(1)))
            .map_err(|e| e.to_string())?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}
