//! The read commands: `sources`, `latest`, `search`, `stats`, `export`.
//!
//! Each opens the database read-only (safe next to a running daemon),
//! queries through [`crate::storage::reads`], and renders for people
//! (tables that fit the terminal) or programs (JSON, NDJSON).

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::config::Config;
use crate::report;
use crate::storage::{self, StorageError, reads};

/// How a read command prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
    Ndjson,
}

/// "3 min ago", "5 h ago", "2 d ago"; "-" for never.
pub fn ago(timestamp: Option<&str>, now: DateTime<Utc>) -> String {
    let Some(at) = timestamp.and_then(|t| DateTime::parse_from_rfc3339(t).ok()) else {
        return "-".to_owned();
    };
    let seconds = (now - at.with_timezone(&Utc)).num_seconds();
    match seconds {
        s if s < 0 => "in the future".to_owned(),
        s if s < 60 => format!("{s} s ago"),
        s if s < 3600 => format!("{} min ago", s / 60),
        s if s < 86_400 => format!("{} h ago", s / 3600),
        s => format!("{} d ago", s / 86_400),
    }
}

/// The terminal's width, or 120 when output is not a terminal.
fn width() -> usize {
    terminal_size::terminal_size().map_or(120, |(w, _)| usize::from(w.0))
}

/// `herald sources`: configured sources joined with their stored state.
pub fn sources(config: &Config, output: Output) -> Result<String, StorageError> {
    let conn = storage::open_read_only(&config.daemon.database)?;
    let state = reads::sources(&conn)?;
    let now = Utc::now();
    let rows: Vec<(String, serde_json::Value, Vec<String>)> = config
        .sources
        .iter()
        .map(|spec| {
            let s = state.get(&spec.name).cloned().unwrap_or_default();
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
            let json = json!({
                "name": spec.name,
                "kind": spec.kind,
                "enabled": spec.enabled,
                "schedule": config.schedule_of(spec),
                "state": s,
            });
            let mut error = s.last_error.clone().unwrap_or_default();
            if let Some(moved) = &s.moved_to {
                error = format!(
                    "moved to {moved}{}",
                    if error.is_empty() {
                        String::new()
                    } else {
                        format!("; {error}")
                    }
                );
            }
            let table = vec![
                spec.name.clone(),
                spec.kind.clone(),
                if spec.enabled { "yes" } else { "no" }.to_owned(),
                spec.schedule
                    .clone()
                    .unwrap_or_else(|| config.daemon.schedule.clone()),
                ago(s.last_success_at.as_deref(), now),
                s.last_status.clone().unwrap_or_else(|| "-".to_owned()),
                health,
                s.articles.to_string(),
                s.last_new.map_or_else(|| "-".to_owned(), |n| n.to_string()),
                error,
            ];
            (spec.name.clone(), json, table)
        })
        .collect();
    Ok(match output {
        Output::Table => {
            let body: Vec<Vec<String>> = rows.into_iter().map(|(_, _, t)| t).collect();
            fit(
                &report::table(
                    &[
                        "NAME",
                        "KIND",
                        "ENABLED",
                        "SCHEDULE",
                        "LAST SUCCESS",
                        "LAST STATUS",
                        "HEALTH",
                        "ARTICLES",
                        "LAST NEW",
                        "NOTE",
                    ],
                    &body,
                ),
                width(),
            )
        }
        Output::Json => format!(
            "{}\n",
            json!(rows.into_iter().map(|(_, j, _)| j).collect::<Vec<_>>())
        ),
        Output::Ndjson => rows.into_iter().map(|(_, j, _)| format!("{j}\n")).collect(),
    })
}

/// Cuts every line to `width` characters (never wraps a row).
fn fit(table: &str, width: usize) -> String {
    table
        .lines()
        .map(|line| {
            let mut line = crate::article::truncate_chars(line, width.max(20));
            line.push('\n');
            line
        })
        .collect()
}

/// `herald latest`: newest articles first, one per story.
pub fn latest(
    config: &Config,
    limit: usize,
    sources: &[String],
    since: Option<std::time::Duration>,
    output: Output,
) -> Result<String, StorageError> {
    let conn = storage::open_read_only(&config.daemon.database)?;
    let now = Utc::now();
    let since = since
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .map(|d| (now - d).to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let articles = reads::latest(&conn, limit, sources, since.as_deref())?;
    Ok(articles_output(&articles, output, now))
}

/// `herald search`: full-text matches in titles and summaries, best first.
pub fn search(
    config: &Config,
    query: &str,
    limit: usize,
    output: Output,
) -> Result<String, StorageError> {
    let conn = storage::open_read_only(&config.daemon.database)?;
    let version = storage::schema::version(&conn)?;
    if version < 2 {
        return Err(StorageError::Outdated {
            path: config.daemon.database.clone(),
            version,
            needed: 2,
        });
    }
    let articles = reads::search(&conn, query, limit)?;
    Ok(articles_output(&articles, output, Utc::now()))
}

/// Articles as `SOURCE  AGE  TITLE  URL` rows fitting the terminal, or JSON.
fn articles_output(
    articles: &[reads::StoredArticle],
    output: Output,
    now: DateTime<Utc>,
) -> String {
    match output {
        Output::Table => {
            let width = width();
            let chars = |text: &str| text.chars().count();
            let ages: Vec<String> = articles
                .iter()
                .map(|a| {
                    ago(
                        Some(a.published_at.as_deref().unwrap_or(&a.fetched_at)),
                        now,
                    )
                })
                .collect();
            let widest = |texts: &mut dyn Iterator<Item = usize>| texts.max().unwrap_or(0);
            let source_width = widest(&mut articles.iter().map(|a| chars(&a.source)));
            let age_width = widest(&mut ages.iter().map(|a| chars(a)));
            let title_max = widest(&mut articles.iter().map(|a| chars(&a.title)));
            let url_max = widest(&mut articles.iter().map(|a| chars(&a.url)));
            // SOURCE  AGE  TITLE  URL, aligned; when they do not fit, the URL
            // gives up all but a third of the room, then the title is cut.
            let room = width.saturating_sub(source_width + age_width + 6);
            let (title_width, url_width) = if title_max + 2 + url_max <= room {
                (title_max, url_max)
            } else {
                let url_width = url_max.min((room / 3).max(20));
                (room.saturating_sub(url_width + 2).max(10), url_width)
            };
            let mut out = String::new();
            for (a, age) in articles.iter().zip(&ages) {
                let title = crate::article::truncate_chars(&a.title, title_width);
                out.push_str(&format!(
                    "{:source_width$}  {:>age_width$}  {:title_width$}  {}\n",
                    a.source,
                    age,
                    title,
                    crate::article::truncate_chars(&a.url, url_width),
                ));
            }
            fit(&out, width)
        }
        Output::Json => format!("{}\n", json!(articles)),
        Output::Ndjson => articles.iter().map(|a| format!("{}\n", json!(a))).collect(),
    }
}

/// `herald stats`: recent rounds, then per-source latency and failure rate.
pub fn stats(config: &Config, rounds: usize, output: Output) -> Result<String, StorageError> {
    let conn = storage::open_read_only(&config.daemon.database)?;
    let recent = reads::rounds(&conn, rounds)?;
    let from_round = recent.iter().map(|r| r.id).min().unwrap_or(i64::MAX);
    let per_source = reads::source_stats(&conn, from_round)?;
    Ok(match output {
        Output::Json | Output::Ndjson => {
            format!("{}\n", json!({ "rounds": recent, "sources": per_source }))
        }
        Output::Table => {
            let now = Utc::now();
            let ms = |v: Option<i64>| {
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
                        ms(r.wall_ms),
                        ms(r.ideal_ms),
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
            let mut out = report::table(
                &[
                    "ROUND", "WHEN", "OK", "FAILED", "SKIPPED", "NEW", "WALL S", "IDEAL S",
                ],
                &round_rows,
            );
            out.push('\n');
            out.push_str(&report::table(
                &["SOURCE", "FETCHES", "AVG MS", "FAILURES"],
                &source_rows,
            ));
            fit(&out, width())
        }
    })
}

/// Feed formats `herald export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedFormat {
    Atom,
    Json,
}

/// `herald export`: the newest articles as a feed.
pub fn export(
    config: &Config,
    format: FeedFormat,
    limit: usize,
    sources: &[String],
) -> Result<String, StorageError> {
    let conn = storage::open_read_only(&config.daemon.database)?;
    let articles = reads::latest(&conn, limit, sources, None)?;
    let title = if sources.is_empty() {
        "herald".to_owned()
    } else {
        format!("herald: {}", sources.join(", "))
    };
    Ok(match format {
        FeedFormat::Atom => {
            let updated = reads::newest_fetch(&conn)?
                .unwrap_or_else(|| Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            crate::export::atom(&articles, &title, &updated)
        }
        FeedFormat::Json => format!("{:#}\n", crate::export::json_feed(&articles, &title)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T12:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(ago(Some("2026-11-22T11:59:30Z"), now), "30 s ago");
        assert_eq!(ago(Some("2026-11-22T11:00:00Z"), now), "1 h ago");
        assert_eq!(ago(Some("2026-11-19T12:00:00Z"), now), "3 d ago");
        assert_eq!(ago(None, now), "-");
    }

    #[test]
    fn fit_cuts_lines_never_wraps() {
        let out = fit("short\na much longer line than fits here\n", 20);
        assert_eq!(out, "short\na much longer line …\n");
    }
}
