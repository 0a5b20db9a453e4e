//! `herald bench`: the concurrency claim, measured on the real pipeline.
//!
//! A mock news server runs in this process on 127.0.0.1, serving a distinct
//! RSS feed per source after a fixed latency. Each measurement writes a
//! generated config, loads it through the normal validation, and runs a real
//! round (queue, worker pool, reqwest, parsing, the SQLite writer) into a
//! fresh temporary database. Nothing leaves loopback.
//!
//! What the numbers include: CPU time and peak RSS are the whole process's,
//! so they count the mock server too (an upper bound on herald's own cost).
//! Peak RSS is reset before each round where the kernel allows it
//! (`/proc/self/clear_refs`), otherwise it is the peak so far.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::app;
use crate::config;
use crate::mock::{MockResponse, MockServer, rss_feed};
use crate::report;

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub sources: usize,
    pub latency: Duration,
    /// Pool sizes to sweep.
    pub workers: Vec<usize>,
    /// Also measure the one-at-a-time baseline (one worker).
    pub sequential: bool,
    /// Rounds per measurement; the median is reported.
    pub rounds: usize,
    pub items_per_feed: usize,
    /// Draw wall time against the number of sources to this SVG file.
    pub plot: Option<PathBuf>,
}

/// One line of the bench table.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    pub mode: &'static str,
    pub sources: usize,
    pub workers: usize,
    pub latency_ms: u64,
    /// Median over the rounds.
    pub wall_s: f64,
    /// `ceil(sources / workers) × latency`.
    pub ideal_s: f64,
    pub wall_over_ideal: f64,
    /// Sequential wall ÷ this wall (only with `--sequential`).
    pub speedup: Option<f64>,
    pub articles: usize,
    pub articles_per_s: f64,
    /// Median CPU time (user + system) of the process during a round.
    pub cpu_s: f64,
    /// Largest peak RSS over the rounds, in MB.
    pub peak_rss_mb: f64,
}

/// Why a bench could not produce numbers.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("cannot start the mock server: {0}")]
    Mock(std::io::Error),
    #[error("temporary folder: {0}")]
    TempDir(std::io::Error),
    #[error("generated config was refused: {0}")]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Run(#[from] crate::Error),
    #[error(
        "{failed} of {sources} fetches failed (first: {first}); the numbers would be meaningless"
    )]
    Failures {
        failed: usize,
        sources: usize,
        first: String,
    },
    #[error("cannot draw the plot: {0}")]
    Plot(String),
}

/// Runs every requested measurement and returns the table rows.
pub async fn run(options: &BenchOptions) -> Result<Vec<BenchRow>, BenchError> {
    let server = MockServer::start().await.map_err(BenchError::Mock)?;
    let latency = options.latency;
    let items = options.items_per_feed;
    server.fallback(move |path| {
        let id = path.strip_prefix("/feed/")?.strip_suffix(".xml")?;
        Some(MockResponse::ok("application/rss+xml", rss_feed(id, items)).delayed(latency))
    });

    let mut rows = Vec::new();
    let sizes = if options.plot.is_some() {
        sweep_sizes(options.sources)
    } else {
        vec![options.sources]
    };
    for &n in &sizes {
        let sequential = if options.sequential {
            let row = measure(&server, options, n, 1, "sequential").await?;
            rows.push(row.clone());
            Some(row)
        } else {
            None
        };
        for &workers in &options.workers {
            let mut row = measure(&server, options, n, workers, "concurrent").await?;
            row.speedup = sequential.as_ref().map(|s| s.wall_s / row.wall_s);
            rows.push(row);
        }
    }
    if let Some(path) = &options.plot {
        plot(path, &rows, options).map_err(BenchError::Plot)?;
    }
    Ok(rows)
}

/// N/10, N/4, N/2, N: enough points for a line, few enough to be quick.
fn sweep_sizes(n: usize) -> Vec<usize> {
    let mut sizes: Vec<usize> = [n / 10, n / 4, n / 2, n]
        .into_iter()
        .filter(|&s| s > 0)
        .collect();
    sizes.dedup();
    sizes
}

async fn measure(
    server: &MockServer,
    options: &BenchOptions,
    sources: usize,
    workers: usize,
    mode: &'static str,
) -> Result<BenchRow, BenchError> {
    let mut walls = Vec::new();
    let mut cpus = Vec::new();
    let mut peak_rss: f64 = 0.0;
    let mut articles = 0;
    for _ in 0..options.rounds.max(1) {
        let dir = tempfile::tempdir().map_err(BenchError::TempDir)?;
        let config = bench_config(dir.path(), server, sources, workers)?;
        reset_peak_rss();
        let cpu_before = cpu_time();
        let report = app::once(&config).await?;
        cpus.push((cpu_time() - cpu_before).as_secs_f64());
        peak_rss = peak_rss.max(peak_rss_mb());
        if report.totals.failed > 0 {
            let first = report
                .sources
                .iter()
                .find_map(|s| s.error.clone())
                .unwrap_or_default();
            return Err(BenchError::Failures {
                failed: report.totals.failed,
                sources,
                first,
            });
        }
        walls.push(report.wall_ms as f64 / 1000.0);
        articles = report.totals.new;
    }
    let wall_s = median(&mut walls);
    let latency_s = options.latency.as_secs_f64();
    let ideal_s = sources.div_ceil(workers) as f64 * latency_s;
    Ok(BenchRow {
        mode,
        sources,
        workers,
        latency_ms: options.latency.as_millis() as u64,
        wall_s,
        ideal_s,
        wall_over_ideal: if ideal_s > 0.0 { wall_s / ideal_s } else { 0.0 },
        speedup: None,
        articles,
        articles_per_s: articles as f64 / wall_s.max(f64::EPSILON),
        cpu_s: median(&mut cpus),
        peak_rss_mb: peak_rss,
    })
}

fn bench_config(
    dir: &Path,
    server: &MockServer,
    sources: usize,
    workers: usize,
) -> Result<config::Config, BenchError> {
    let mut text = format!(
        "[daemon]\ndatabase = \"bench.db\"\nworkers = {workers}\nqueue_capacity = {}\nround_timeout = \"30m\"\n\n[http]\ntimeout = \"5m\"\nper_host_concurrency = {}\n",
        sources.max(1),
        // Every mock feed lives on one host; real sources spread over many.
        // The bench measures the pool, so the per-host cap must not bind.
        sources.max(1)
    );
    for i in 0..sources {
        text.push_str(&format!(
            "\n[[sources]]\nname = \"bench-{i}\"\nkind = \"feed\"\nurl = \"{}\"\n",
            server.url(&format!("/feed/{i}.xml"))
        ));
    }
    Ok(config::load_from_str(&dir.join("bench.toml"), &text)?)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn cpu_time() -> Duration {
    use nix::sys::resource::{UsageWho, getrusage};
    use nix::sys::time::TimeValLike;
    getrusage(UsageWho::RUSAGE_SELF)
        .map(|u| {
            let micros = u.user_time().num_microseconds() + u.system_time().num_microseconds();
            Duration::from_micros(u64::try_from(micros).unwrap_or(0))
        })
        .unwrap_or_default()
}

/// Linux: writing 5 to clear_refs resets the peak RSS (VmHWM).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_mb() -> f64 {
    crate::telemetry::peak_rss_kb().map_or(0.0, |kb| kb as f64 / 1024.0)
}

/// The bench table for people.
pub fn table(rows: &[BenchRow]) -> String {
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.mode.to_owned(),
                r.sources.to_string(),
                r.workers.to_string(),
                format!("{}ms", r.latency_ms),
                format!("{:.3}", r.wall_s),
                format!("{:.3}", r.ideal_s),
                format!("{:.2}", r.wall_over_ideal),
                r.speedup
                    .map_or_else(|| "-".to_owned(), |s| format!("{s:.1}x")),
                r.articles.to_string(),
                format!("{:.0}", r.articles_per_s),
                format!("{:.2}", r.cpu_s),
                format!("{:.1}", r.peak_rss_mb),
            ]
        })
        .collect();
    report::table(
        &[
            "MODE",
            "SOURCES",
            "WORKERS",
            "LATENCY",
            "WALL S",
            "IDEAL S",
            "WALL/IDEAL",
            "SPEEDUP",
            "ARTICLES",
            "ARTICLES/S",
            "CPU S",
            "PEAK RSS MB",
        ],
        &body,
    )
}

fn plot(path: &Path, rows: &[BenchRow], options: &BenchOptions) -> Result<(), String> {
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
