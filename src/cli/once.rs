//! `herald once`: one round now, a report, an exit code.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use super::render::{ReportFormat, json_line, table};
use super::{EXIT_ALL_FAILED, Outcome, runtime};
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
}

/// Runs the round (or the dry run) and prints its report.
pub(crate) fn run(config: &Config, args: &Args) -> Outcome {
    let runtime = runtime()?;
    if args.dry_run {
        let dry = runtime.block_on(app::dry_run(config))?;
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
        let report = app::once_with_progress(config, progress).await;
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
                s.new.to_string(),
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
        "{} ok, {} failed, {} skipped; {} new, {} seen; wall {} ms (ideal {} ms)\n",
        report.totals.ok,
        report.totals.failed,
        report.totals.skipped,
        report.totals.new,
        report.totals.seen,
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
