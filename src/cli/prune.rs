//! `herald prune`: retention on demand — what `keep` and `keep_history` no
//! longer cover goes, and the file gives the space back.

use std::process::ExitCode;

use super::render::ReadFormat;
use super::{Outcome, runtime};
use herald::config::Config;
use herald::model::retention::human_bytes;
use herald::storage::PruneReport;

/// `herald prune` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Count what would go; remove nothing.
    #[arg(long)]
    dry_run: bool,
    /// Afterwards rewrite the whole file (compacts it; an older database
    /// switches to handing space back after every prune). Holds the database
    /// for the duration.
    #[arg(long, conflicts_with = "dry_run")]
    vacuum: bool,
    #[arg(long, value_enum, default_value_t = ReadFormat::Table)]
    format: ReadFormat,
}

/// Prunes and prints what went.
pub(crate) fn run(config: &Config, args: &Args) -> Outcome {
    let report = runtime()?.block_on(herald::app::prune(config, args.dry_run, args.vacuum))?;
    match args.format {
        ReadFormat::Json | ReadFormat::Ndjson => println!("{}", serde_json::to_string(&report)?),
        ReadFormat::Table => print!("{}", describe(config, &report)),
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(config: &Config, report: &PruneReport) -> String {
    let verb = if report.dry_run {
        "would remove"
    } else {
        "removed"
    };
    let mut out = format!(
        "{}: {verb} {} article(s) no source served within its keep ([daemon] keep = \"{}\"{}), \
         {} fetch row(s) and {} round row(s) older than keep_history = \"{}\"\n",
        config.daemon.database,
        report.articles,
        config.daemon.keep,
        if config.sources.iter().any(|s| s.keep.is_some()) {
            ", some sources their own"
        } else {
            ""
        },
        report.fetches,
        report.rounds,
        config.daemon.keep_history,
    );
    if !report.dry_run {
        out.push_str(&format!(
            "size {} → {}{}; {} step(s), the longest {} ms\n",
            human_bytes(report.bytes_before),
            human_bytes(report.bytes_after),
            if report.vacuumed { " (rewritten)" } else { "" },
            report.steps,
            report.longest_step.as_millis(),
        ));
    }
    out
}
