//! `herald sources`: configured sources joined with their stored state.

use std::process::ExitCode;

use chrono::Utc;
use serde_json::json;

use super::Outcome;
use super::render::{ReadFormat, ago, fit, json_rows, table, until, width};
use herald::app::next_due;
use herald::config::Config;
use herald::model::schedule::spread_offset;
use herald::model::secret::redact_url_text;
use herald::storage::Reader;

/// `herald sources` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[arg(long, value_enum, default_value_t = ReadFormat::Table)]
    format: ReadFormat,
}

/// Prints one row per configured source.
pub(crate) fn run(config: &Config, args: &Args) -> Outcome {
    let state = Reader::open(&config.daemon.database)?.sources()?;
    let now = Utc::now();
    let mut json_rows_out = Vec::new();
    let mut table_rows = Vec::new();
    for spec in &config.sources {
        let mut s = state.get(&spec.name).cloned().unwrap_or_default();
        // A database written by an older herald may hold a move with a key.
        s.moved_to = s.moved_to.as_deref().map(redact_url_text);
        let health = if let Some(gone) = &s.gone_at {
            format!("gone since {}", &gone[..10.min(gone.len())])
        } else if let Some(until) = s
            .paused_until
            .as_ref()
            .filter(|u| u.as_str() > now.to_rfc3339().as_str())
        {
            format!("paused until {until}")
        } else if s.consecutive_failures > 0 {
            format!(
                "{} failure{}",
                s.consecutive_failures,
                if s.consecutive_failures == 1 { "" } else { "s" }
            )
        } else {
            "ok".to_owned()
        };
        let next = spec.enabled.then(|| {
            let offset = spread_offset(&spec.name, config.daemon.spread);
            next_due(&spec.name, &spec.schedule, offset, &s, now)
        });
        json_rows_out.push(json!({
            "name": spec.name,
            "kind": spec.kind.as_str(),
            "enabled": spec.enabled,
            "schedule": spec.schedule.as_str(),
            "timezone": spec.schedule.zone().name(),
            "tags": spec.tags,
            "next_start": next.as_ref().and_then(|n| n.at.clone()),
            "next_start_reason": next.as_ref().map(|n| n.reason.clone()),
            "state": s,
        }));
        let mut note = s.last_error.clone().unwrap_or_default();
        if let Some(moved) = &s.moved_to {
            note = format!(
                "moved to {moved}{}",
                if note.is_empty() {
                    String::new()
                } else {
                    format!("; {note}")
                }
            );
        }
        table_rows.push(vec![
            spec.name.clone(),
            spec.kind.to_string(),
            if spec.tags.is_empty() {
                "-".to_owned()
            } else {
                spec.tags.join(",")
            },
            if spec.enabled { "yes" } else { "no" }.to_owned(),
            spec.schedule.describe(),
            next.as_ref()
                .map_or_else(|| "-".to_owned(), |n| until(n.at.as_deref(), now)),
            ago(s.last_success_at.as_deref(), now),
            s.last_status.clone().unwrap_or_else(|| "-".to_owned()),
            health,
            s.articles.to_string(),
            match (s.last_new, s.last_filtered.filter(|f| *f > 0)) {
                (None, _) => "-".to_owned(),
                (Some(new), None) => new.to_string(),
                (Some(new), Some(filtered)) => format!("{new} ({filtered} filtered out)"),
            },
            s.last_instance.clone().unwrap_or_else(|| "-".to_owned()),
            note,
        ]);
    }
    // The instance column says something only when several share the store.
    let shared = config.daemon.database.is_shared();
    if !shared {
        for row in &mut table_rows {
            row.remove(row.len() - 2);
        }
    }
    let text = match args.format {
        ReadFormat::Table => fit(&table(&headers(shared), &table_rows), width()),
        format => json_rows(&json_rows_out, format)?,
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// The table's columns; INSTANCE only when several instances share the store.
fn headers(shared: bool) -> Vec<&'static str> {
    let mut headers = vec![
        "NAME",
        "KIND",
        "TAGS",
        "ENABLED",
        "SCHEDULE",
        "NEXT START",
        "LAST SUCCESS",
        "LAST STATUS",
        "HEALTH",
        "ARTICLES",
        "LAST NEW",
        "INSTANCE",
        "NOTE",
    ];
    if !shared {
        headers.retain(|h| *h != "INSTANCE");
    }
    headers
}
