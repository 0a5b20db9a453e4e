//! `herald bench`: the concurrency claim, measured on the real pipeline.
//! Binary-only: the library never runs a mock server.
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

use std::process::ExitCode;

use serde::Serialize;

use super::render::{ReportFormat, json_line, table as render_table};
use super::{Outcome, runtime};
use herald::app;
use herald::config;
use mock::{MockResponse, MockServer, rss_feed};

#[allow(
    dead_code,
    reason = "the test harness includes this file too and uses all of it"
)]
pub(crate) mod mock;
mod plot;

/// `herald bench` arguments: what to measure.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Args {
    /// Number of mock sources (distinct RSS feeds).
    #[arg(long, default_value_t = 100)]
    sources: usize,
    /// Latency of every mock response.
    #[arg(long, default_value = "100ms", value_parser = humantime::parse_duration)]
    latency: Duration,
    /// Worker pool size; repeat to sweep (--workers 10 --workers 100).
    #[arg(long = "workers", default_values_t = [100])]
    workers: Vec<usize>,
    /// Also run the one-at-a-time baseline (one worker).
    #[arg(long)]
    sequential: bool,
    /// Rounds per measurement; the median is reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Items per mock feed.
    #[arg(long = "items", default_value_t = 20)]
    items_per_feed: usize,
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    format: ReportFormat,
    /// Also sweep N/10, N/4, N/2, N sources and draw wall time against N to this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
}

/// Runs the bench and prints its table.
pub(crate) fn run(args: &Args) -> Outcome {
    if args.sources == 0 || args.workers.contains(&0) {
        return Err(BenchError::Usage("--sources and --workers must be at least 1").into());
    }
    let rows = runtime()?.block_on(measure_all(args))?;
    print!(
        "{}",
        match args.format {
            ReportFormat::Table => table(&rows),
            ReportFormat::Json => json_line(&rows)?,
        }
    );
    if let Some(plot) = &args.plot {
        eprintln!("plot written to {}", plot.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// One line of the bench table.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct BenchRow {
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
pub(crate) enum BenchError {
    #[error("{0}")]
    Usage(&'static str),
    #[error("cannot start the mock server: {0}")]
    Mock(std::io::Error),
    #[error("temporary folder: {0}")]
    TempDir(std::io::Error),
    #[error("generated config was refused: {0}")]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Run(#[from] herald::Error),
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
async fn measure_all(options: &Args) -> Result<Vec<BenchRow>, BenchError> {
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
        plot::draw(path, &rows, options).map_err(BenchError::Plot)?;
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
    options: &Args,
    sources: usize,
    workers: usize,
    mode: &'static str,
) -> Result<BenchRow, BenchError> {
    let mut walls = Vec::new();
    let mut cpus = Vec::new();
    let mut peak_rss: f64 = 0.0;
    let mut articles = 0;
    let rounds = options.rounds.max(1);
    let expected = sources.div_ceil(workers) as f64 * options.latency.as_secs_f64();
    for round in 1..=rounds {
        // Progress on stderr (stdout is the results): a sequential sweep
        // takes tens of seconds and must not look hung.
        eprintln!(
            "bench: {mode}, {sources} sources, {workers} worker(s), round {round}/{rounds} (ideal {expected:.2} s)…"
        );
        let dir = tempfile::tempdir().map_err(BenchError::TempDir)?;
        let config = bench_config(dir.path(), server, sources, workers)?;
        reset_peak_rss();
        let cpu_before = cpu_time();
        let report = app::once(&config).await?;
        cpus.push(cpu_time().saturating_sub(cpu_before).as_secs_f64());
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
    let median_wall = median(&mut walls);
    let latency_s = options.latency.as_secs_f64();
    let ideal_s = sources.div_ceil(workers) as f64 * latency_s;
    Ok(BenchRow {
        mode,
        sources,
        workers,
        latency_ms: options.latency.as_millis() as u64,
        wall_s: median_wall,
        ideal_s,
        wall_over_ideal: if ideal_s > 0.0 {
            median_wall / ideal_s
        } else {
            0.0
        },
        speedup: None,
        articles,
        articles_per_s: articles as f64 / median_wall.max(f64::EPSILON),
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
        n => f64::midpoint(values[n / 2 - 1], values[n / 2]),
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

/// Linux: writing 5 to `clear_refs` resets the peak RSS (`VmHWM`).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_mb() -> f64 {
    herald::telemetry::peak_rss_kb().map_or(0.0, |kb| kb as f64 / 1024.0)
}

/// The bench table for people.
fn table(rows: &[BenchRow]) -> String {
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
    render_table(
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
