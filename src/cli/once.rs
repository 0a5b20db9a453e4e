//! `herald once`: one round now, a report, an exit code.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use super::render::{ReportFormat, json_line, table};
use super::{CliError, EXIT_ALL_FAILED, Outcome, runtime};
use herald::app::{self, DryRun};
use herald::config::Config;
use herald::engine::report::{RoundReport, SourceReport};
use herald::model::outcome::FetchStatus;

/// `herald once` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Output format of the report.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub(crate) format: ReportFormat,
    /// Fetch and parse everything but write nothing: show what would be
    /// stored (new / already seen) and when each source is next due.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Fetch now even sources the circuit breaker paused or a server asked
    /// not to check yet (per-host caps, rate limits and a host's 429/503
    /// backoff still hold).
    #[arg(long)]
    pub(crate) force: bool,
    /// Only this source (repeatable); the others are left alone.
    #[arg(long = "source", value_name = "NAME")]
    pub(crate) sources: Vec<String>,
}

/// `config` narrowed to the sources named by `--source` (all when none).
fn selected(config: &Config, names: &[String]) -> Result<Config, CliError> {
    if names.is_empty() {
        return Ok(config.clone());
    }
    let enabled: Vec<&str> = config
        .sources
        .iter()
        .filter(|s| s.enabled)
        .map(|s| s.name.as_str())
        .collect();
    for name in names {
        if !enabled.contains(&name.as_str()) {
            let why = if config.sources.iter().any(|s| &s.name == name) {
                format!("--source {name}: that source has `enabled = false`")
            } else {
                format!(
                    "--source {name}: no enabled source has that name; the enabled sources are: {}",
                    enabled.join(", ")
                )
            };
            return Err(herald::Error::Usage(why).into());
        }
    }
    let mut narrowed = config.clone();
    narrowed.sources.retain(|s| names.contains(&s.name));
    Ok(narrowed)
}

/// Runs the round (or the dry run) and prints its report.
pub(crate) fn run(config: &Config, args: &Args) -> Outcome {
    let config = &selected(config, &args.sources)?;
    let runtime = runtime()?;
    if args.dry_run {
        let dry = runtime.block_on(app::dry_run(config, args.force))?;
        print!(
            "{}",
            match args.format {
                ReportFormat::Table => dry_run_table(&dry),
                ReportFormat::Json => json_line(&dry)?,
            }
        );
        return Ok(exit_code(&dry.report));
    }
    // A progress bar only for a person watching: never in a pipe, a log or JSON.
    let show_progress = args.format == ReportFormat::Table && std::io::stdout().is_terminal();
    let report = runtime.block_on(async {
        let (progress, bar) = if show_progress {
            let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
            let total = config.enabled_sources().len();
            (
                Some(sender),
                Some(tokio::spawn(progress_bar(total, receiver))),
            )
        } else {
            (None, None)
        };
        let report = app::once_with_progress(config, progress, args.force).await;
        if let Some(bar) = bar {
            let _ = bar.await;
        }
        report
    })?;
    print!(
        "{}",
        match args.format {
            ReportFormat::Table => round_table(&report),
            ReportFormat::Json => json_line(&report)?,
        }
    );
    Ok(exit_code(&report))
}

fn exit_code(report: &RoundReport) -> ExitCode {
    if report.all_failed() {
        ExitCode::from(EXIT_ALL_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

/// Draws the progress on stderr until the round drops its sender.
async fn progress_bar(
    total: usize,
    mut done: tokio::sync::mpsc::UnboundedReceiver<(String, FetchStatus)>,
) {
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {elapsed:>3} [{bar:30}] {pos}/{len} sources  {wide_msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    while let Some((source, status)) = done.recv().await {
        bar.inc(1);
        bar.set_message(format!("{source}: {}", status.as_str()));
    }
    bar.finish_and_clear();
}

/// SOURCE, STATUS, HTTP: how each report table starts a source's row.
fn outcome_cells(s: &SourceReport) -> Vec<String> {
    vec![
        s.name.clone(),
        s.status.as_str().to_owned(),
        s.http_status
            .map_or_else(|| "-".to_owned(), |c| c.to_string()),
    ]
}

/// The per-source table and the totals line.
fn round_table(report: &RoundReport) -> String {
    let rows: Vec<Vec<String>> = report
        .sources
        .iter()
        .map(|s| {
            let mut row = outcome_cells(s);
            row.extend([
                s.elapsed_ms.to_string(),
                s.attempts.to_string(),
                if s.filtered > 0 {
                    format!("{} ({} filtered out)", s.new, s.filtered)
                } else {
                    s.new.to_string()
                },
                s.seen.to_string(),
                s.note().unwrap_or_default(),
            ]);
            row
        })
        .collect();
    let mut out = table(
        &[
            "SOURCE", "STATUS", "HTTP", "MS", "ATTEMPTS", "NEW", "SEEN", "ERROR",
        ],
        &rows,
    );
    out.push('\n');
    out.push_str(&format!(
        "{} ok, {} failed, {} skipped; {} new, {} seen{}; wall {} ms (ideal {} ms)\n",
        report.totals.ok,
        report.totals.failed,
        report.totals.skipped,
        report.totals.new,
        report.totals.seen,
        if report.totals.filtered > 0 {
            format!(", {} filtered out", report.totals.filtered)
        } else {
            String::new()
        },
        report.wall_ms,
        report.ideal_ms,
    ));
    out
}

/// Per source, what would be stored and when it is next due, under a line
/// saying nothing was written.
fn dry_run_table(dry: &DryRun) -> String {
    let rows: Vec<Vec<String>> = dry
        .report
        .sources
        .iter()
        .map(|s| {
            let next = dry.next_due.iter().find(|n| n.source == s.name);
            let mut row = outcome_cells(s);
            row.extend([
                s.new.to_string(),
                s.seen.to_string(),
                next.and_then(|n| n.at.clone())
                    .unwrap_or_else(|| "never".into()),
                match (&s.error, next) {
                    // A skip's reason already says what holds the source back.
                    (Some(error), _) if s.status == FetchStatus::Skipped => {
                        format!("skipped: {error}")
                    }
                    (Some(error), Some(n)) => format!("{error}; next: {}", n.reason),
                    (Some(error), None) => error.clone(),
                    (None, Some(n)) => n.reason.clone(),
                    (None, None) => String::new(),
                },
            ]);
            row
        })
        .collect();
    let mut out = format!(
        "dry run: nothing was written to {}\n\n",
        dry.database.display()
    );
    out.push_str(&table(
        &[
            "SOURCE",
            "STATUS",
            "HTTP",
            "WOULD ADD",
            "ALREADY SEEN",
            "NEXT DUE",
            "WHY",
        ],
        &rows,
    ));
    let totals = &dry.report.totals;
    out.push_str(&format!(
        "\n{} ok, {} failed, {} skipped; would add {} new, {} already seen\n",
        totals.ok, totals.failed, totals.skipped, totals.new, totals.seen
    ));
    out
}
