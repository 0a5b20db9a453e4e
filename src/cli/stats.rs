//! `herald stats`: recent rounds, then per-source latency and failure rate.

use std::process::ExitCode;

use chrono::Utc;
use serde_json::json;

use super::Outcome;
use super::render::{ReadFormat, ago, fit, json_line, table, width};
use herald::config::Config;
use herald::storage::Reader;

/// `herald stats` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// How many recent rounds.
    #[arg(long, default_value_t = 20)]
    rounds: usize,
    #[arg(long, value_enum, default_value_t = ReadFormat::Table)]
    format: ReadFormat,
}

/// Prints the rounds table and the per-source table.
pub(crate) fn run(config: &Config, args: &Args) -> Outcome {
    let reader = Reader::open(&config.daemon.database)?;
    let recent = reader.rounds(args.rounds)?;
    let from_round = recent.iter().map(|r| r.id).min().unwrap_or(i64::MAX);
    let per_source = reader.source_stats(from_round)?;
    let text = match args.format {
        ReadFormat::Json => json_line(&json!({ "rounds": recent, "sources": per_source }))?,
        // One object per line, each saying what it is, for `jq` and log shippers.
        ReadFormat::Ndjson => {
            let mut out = String::new();
            let tagged = |kind: &str, value: serde_json::Value| {
                let mut value = value;
                if let Some(object) = value.as_object_mut() {
                    object.insert("type".to_owned(), json!(kind));
                }
                value
            };
            for round in &recent {
                out.push_str(&json_line(&tagged("round", serde_json::to_value(round)?))?);
            }
            for source in &per_source {
                out.push_str(&json_line(&tagged(
                    "source",
                    serde_json::to_value(source)?,
                ))?);
            }
            out
        }
        ReadFormat::Table => {
            let now = Utc::now();
            let seconds = |v: Option<i64>| {
                v.map_or_else(|| "-".to_owned(), |v| format!("{:.2}", v as f64 / 1000.0))
            };
            let round_rows: Vec<Vec<String>> = recent
                .iter()
                .map(|r| {
                    vec![
                        r.id.to_string(),
                        ago(Some(&r.started_at), now),
                        format!("{}/{}", r.ok.unwrap_or(0), r.sources),
                        r.failed.unwrap_or(0).to_string(),
                        r.skipped.unwrap_or(0).to_string(),
                        r.new.unwrap_or(0).to_string(),
                        seconds(r.wall_ms),
                        seconds(r.ideal_ms),
                        if r.interrupted { "interrupted" } else { "" }.to_owned(),
                    ]
                })
                .collect();
            let source_rows: Vec<Vec<String>> = per_source
                .iter()
                .map(|s| {
                    vec![
                        s.source.clone(),
                        s.fetches.to_string(),
                        format!("{:.0}", s.avg_elapsed_ms),
                        format!("{:.0}%", s.failure_rate * 100.0),
                    ]
                })
                .collect();
            let mut out = table(
                &[
                    "ROUND", "WHEN", "OK", "FAILED", "SKIPPED", "NEW", "WALL S", "IDEAL S", "NOTE",
                ],
                &round_rows,
            );
            out.push('\n');
            out.push_str(&table(
                &["SOURCE", "FETCHES", "AVG MS", "FAILURES"],
                &source_rows,
            ));
            fit(&out, width())
        }
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}
