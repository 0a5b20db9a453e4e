//! `herald export`: the newest articles as an Atom or JSON Feed document.

use std::process::ExitCode;

use chrono::Utc;
use clap::ValueEnum;

use super::select::Selection;
use super::{CliError, Outcome};
use herald::config::Config;
use herald::export::{FeedMeta, Outline};
use herald::model::source::Kind;
use herald::storage::Reader;

/// Feed formats `herald export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FeedFormat {
    /// Atom 1.0.
    Atom,
    /// JSON Feed 1.1.
    Json,
    /// OPML 2.0: the feed sources themselves, for another reader.
    Opml,
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
    let text = match args.format {
        // The sources, from the config alone: no database needed.
        FeedFormat::Opml => opml(config, &args.select)?,
        FeedFormat::Atom | FeedFormat::Json => articles(config, args)?,
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// The newest stories of the selection as Atom or JSON Feed.
fn articles(config: &Config, args: &Args) -> Result<String, CliError> {
    let reader = Reader::open(&config.daemon.database)?;
    let articles = reader.latest(&args.select.filter(config, args.count)?)?;
    let title = herald::export::selection_title(&args.select.sources, &args.select.tags);
    let meta = FeedMeta::exported(&title, &args.select.describe());
    Ok(if args.format == FeedFormat::Atom {
        let updated = reader
            .newest_fetch()?
            .unwrap_or_else(|| Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        herald::export::atom(&articles, &meta, &updated)
    } else {
        format!("{:#}\n", herald::export::json_feed(&articles, &meta))
    })
}

/// The configured feed sources as OPML 2.0 (their own URLs), grouped by
/// first tag: what another reader imports, and what `herald import` reads
/// back to the same set. Needs no database.
fn opml(config: &Config, select: &Selection) -> Result<String, CliError> {
    let names = select.source_names(config)?;
    let outlines: Vec<Outline> = config
        .sources
        .iter()
        .filter(|s| s.kind == Kind::Feed && (names.is_empty() || names.contains(&s.name)))
        .filter_map(|s| {
            Some(Outline {
                text: s.name.clone(),
                xml_url: s.input.url.clone()?,
                html_url: None,
                tags: s.tags.clone(),
            })
        })
        .collect();
    Ok(herald::export::opml("herald sources", &outlines))
}
