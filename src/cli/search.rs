//! `herald search`: full-text matches in titles and summaries, best first.

use std::process::ExitCode;

use chrono::Utc;

use super::Outcome;
use super::render::{ReadFormat, articles};
use super::select::Selection;
use herald::config::Config;
use herald::storage::Reader;

/// `herald search` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// FTS5 query: words (all must match), "a phrase", OR, NOT, prefix*.
    query: String,
    /// How many.
    #[arg(short = 'n', default_value_t = 20)]
    count: usize,
    #[command(flatten)]
    select: Selection,
    #[arg(long, value_enum, default_value_t = ReadFormat::Table)]
    format: ReadFormat,
}

/// Prints the best matches.
pub(crate) fn run(config: &Config, args: &Args) -> Outcome {
    let reader = Reader::open(&config.daemon.database)?;
    let found = reader.search(&args.query, args.count, &args.select.source_names(config)?)?;
    print!("{}", articles(&found, args.format, Utc::now())?);
    let missing = reader.unsearchable()?;
    if missing > 0 {
        eprintln!(
            "note: the {missing} newest article(s) are not in the search index yet; \
             the writer adds them as soon as it is idle, and always before the next round"
        );
    }
    Ok(ExitCode::SUCCESS)
}
