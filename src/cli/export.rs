//! `herald export`: the newest articles as an Atom or JSON Feed document.

use std::process::ExitCode;

use chrono::Utc;
use clap::ValueEnum;

use super::Outcome;
use super::select::Selection;
use herald::config::Config;
use herald::export::FeedMeta;
use herald::storage::Reader;

/// Feed formats `herald export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FeedFormat {
    /// Atom 1.0.
    Atom,
    /// JSON Feed 1.1.
    Json,
}

/// `herald export` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[arg(long, value_enum)]
    format: FeedFormat,
    #[arg(short = 'n', default_value_t = 100)]
    count: usize,
    #[command(flatten)]
    select: Selection,
}

/// Prints the feed.
pub(crate) fn run(config: &Config, args: &Args) -> Outcome {
    let reader = Reader::open(&config.daemon.database)?;
    let articles = reader.latest(&args.select.filter(config, args.count)?)?;
    let mut named: Vec<String> = args.select.sources.clone();
    named.extend(args.select.tags.iter().map(|t| format!("#{t}")));
    let title = if named.is_empty() {
        "herald".to_owned()
    } else {
        format!("herald: {}", named.join(", "))
    };
    let meta = FeedMeta::exported(&title, &args.select.describe());
    let text = match args.format {
        FeedFormat::Atom => {
            let updated = reader
                .newest_fetch()?
                .unwrap_or_else(|| Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            herald::export::atom(&articles, &meta, &updated)
        }
        FeedFormat::Json => format!("{:#}\n", herald::export::json_feed(&articles, &meta)),
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}
