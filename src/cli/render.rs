//! Rendering for people: aligned plain-text tables, relative times, lines
//! cut to the terminal, and the JSON / NDJSON forms of the same rows.
//!
//! No colour and no box drawing, so the output reads the same in a terminal,
//! a pipe, a log file and an e-mail from cron.

use chrono::{DateTime, Utc};
use clap::ValueEnum;
use serde::Serialize;

use super::CliError;
use herald::model::article::truncate_chars;
use herald::storage::StoredArticle;

/// How a read command prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ReadFormat {
    /// Aligned columns fitting the terminal.
    Table,
    /// One JSON document.
    Json,
    /// One JSON object per line.
    Ndjson,
}

/// How `once` and `bench` print their report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ReportFormat {
    /// Aligned columns.
    Table,
    /// One JSON object.
    Json,
}

/// `value` as one line of JSON.
pub(crate) fn json_line<T: Serialize + ?Sized>(value: &T) -> Result<String, CliError> {
    Ok(format!("{}\n", serde_json::to_string(value)?))
}

/// `rows` as one JSON array, or one object per line.
pub(crate) fn json_rows<T: Serialize>(rows: &[T], format: ReadFormat) -> Result<String, CliError> {
    if format == ReadFormat::Ndjson {
        rows.iter().map(json_line).collect()
    } else {
        json_line(rows)
    }
}

/// A table with a header row; columns are padded to their widest cell.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let last = row.len().saturating_sub(1);
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                let pad = widths[i] - cell.chars().count() + 2;
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        // An empty last cell must not leave padding behind.
        out.truncate(out.trim_end_matches(' ').len());
        out.push('\n');
    }
    out
}

/// "3 min ago", "5 h ago", "2 d ago"; "-" for never.
pub(crate) fn ago(timestamp: Option<&str>, now: DateTime<Utc>) -> String {
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
pub(crate) fn width() -> usize {
    terminal_size::terminal_size().map_or(120, |(w, _)| usize::from(w.0))
}

/// Cuts every line to `width` characters (never wraps a row).
pub(crate) fn fit(table: &str, width: usize) -> String {
    table
        .lines()
        .map(|line| {
            let mut line = truncate_chars(line, width.max(20));
            line.push('\n');
            line
        })
        .collect()
}

/// Articles as `SOURCE  AGE  TITLE  URL` rows fitting the terminal, or JSON.
pub(crate) fn articles(
    articles: &[StoredArticle],
    format: ReadFormat,
    now: DateTime<Utc>,
) -> Result<String, CliError> {
    if format != ReadFormat::Table {
        return json_rows(articles, format);
    }
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
        let title = truncate_chars(&a.title, title_width);
        out.push_str(&format!(
            "{:source_width$}  {:>age_width$}  {:title_width$}  {}\n",
            a.source,
            age,
            title,
            truncate_chars(&a.url, url_width),
        ));
    }
    Ok(fit(&out, width))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_on_unicode_width() {
        let out = table(
            &["A", "B"],
            &[
                vec!["zürich".into(), "1".into()],
                vec!["x".into(), "22".into()],
            ],
        );
        assert_eq!(out, "A       B\nzürich  1\nx       22\n");
    }

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
