//! `herald latest`: newest articles first, one per story.

use std::process::ExitCode;

use chrono::Utc;

use super::Outcome;
use super::render::{ReadFormat, articles};
use super::select::Selection;
use herald::config::Config;
use herald::storage::Reader;

/// `herald latest` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// How many.
    #[arg(short = 'n', default_value_t = 20)]
    count: usize,
    #[command(flatten)]
    select: Selection,
    /// Only articles from the last DURATION (e.g. 24h).
    #[arg(long, value_parser = humantime::parse_duration)]
    since: Option<std::time::Duration>,
    #[arg(long, value_enum, default_value_t = ReadFormat::Table)]
    format: ReadFormat,
}

/// Prints the newest articles.
pub(crate) fn run(config: &Config, args: &Args) -> Outcome {
    let reader = Reader::open(&config.daemon.database)?;
    let now = Utc::now();
    let since = args
        .since
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .map(|d| (now - d).to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let mut filter = args.select.filter(config, args.count)?;
    filter.since = since;
    let found = reader.latest(&filter)?;
    print!("{}", articles(&found, args.format, now)?);
    Ok(ExitCode::SUCCESS)
}
