//! Rendering for people: aligned plain-text tables, relative times, lines
//! cut to the terminal, and the JSON / NDJSON forms of the same rows.
//!
//! No colour and no box drawing, so the output reads the same in a terminal,
//! a pipe, a log file and an e-mail from cron.

use std::io::IsTerminal as _;

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

/// "in 40 s", "in 3 min", "in 5 h", "in 2 d"; "now" when due; "never".
pub(crate) fn until(timestamp: Option<&str>, now: DateTime<Utc>) -> String {
    let Some(at) = timestamp.and_then(|t| DateTime::parse_from_rfc3339(t).ok()) else {
        return "never".to_owned();
    };
    match (at.with_timezone(&Utc) - now).num_seconds() {
        s if s <= 0 => "now".to_owned(),
        s if s < 60 => format!("in {s} s"),
        s if s < 3600 => format!("in {} min", s / 60),
        s if s < 86_400 => format!("in {} h", s / 3600),
        s => format!("in {} d", s / 86_400),
    }
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

/// How wide output may be: `COLUMNS` when set, else the terminal's width;
/// `None` in a pipe or a file, where nothing is cut (`grep` must see it all).
pub(crate) fn width() -> Option<usize> {
    if let Some(columns) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|c| *c > 0)
    {
        return Some(columns);
    }
    if !std::io::stdout().is_terminal() {
        return None;
    }
    terminal_size::terminal_size().map(|(w, _)| usize::from(w.0))
}

/// Cuts a table's rows to `width` by shortening their last column only:
/// every other column stays whole (a narrow terminal wraps rather than
/// losing one), and the last keeps at least 20 characters.
pub(crate) fn fit(table: &str, width: Option<usize>) -> String {
    let Some(width) = width else {
        return table.to_owned();
    };
    // The last column starts where the header's last label does.
    let header = table.lines().next().unwrap_or_default().trim_end();
    let last_column = header
        .rfind("  ")
        .map_or(0, |at| header[..at + 2].chars().count());
    table
        .lines()
        .map(|line| {
            let mut line = truncate_chars(line, width.max(last_column + 20));
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
    if articles.is_empty() {
        return Ok("no articles\n".to_owned());
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
    // A story several sources carried: the first, and how many more.
    let carriers: Vec<String> = articles
        .iter()
        .map(|a| match a.sources.len() {
            0 | 1 => a.source.clone(),
            n => format!("{} +{}", a.sources[0], n - 1),
        })
        .collect();
    let source_width = widest(&mut carriers.iter().map(|c| chars(c)));
    let age_width = widest(&mut ages.iter().map(|a| chars(a)));
    let title_max = widest(&mut articles.iter().map(|a| chars(&a.title)));
    let url_max = widest(&mut articles.iter().map(|a| chars(&a.url)));
    // SOURCE  AGE  TITLE  URL, aligned; when they do not fit, the URL
    // gives up all but a third of the room, then the title is cut.
    let room = width.map_or(usize::MAX, |w| {
        w.saturating_sub(source_width + age_width + 6)
    });
    let (title_width, url_width) = if title_max + 2 + url_max <= room {
        (title_max, url_max)
    } else {
        let url_width = url_max.min((room / 3).max(20));
        (room.saturating_sub(url_width + 2).max(10), url_width)
    };
    let mut out = String::new();
    for ((a, age), carrier) in articles.iter().zip(&ages).zip(&carriers) {
        let title = truncate_chars(&a.title, title_width);
        out.push_str(&format!(
            "{:source_width$}  {:>age_width$}  {:title_width$}  {}\n",
            carrier,
            age,
            title,
            truncate_chars(&a.url, url_width),
        ));
    }
    Ok(out)
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
        let out = fit("short\na much longer line than fits here\n", Some(20));
        assert_eq!(out, "short\na much longer line …\n");
        let text = "A      NOTE\nalpha  a very long note that goes on and on and on\n";
        assert_eq!(fit(text, None), text, "a pipe gets everything");
        let out = fit(
            &format!("NAME{}  NOTE\nx{}  note\n", " ".repeat(40), " ".repeat(43)),
            Some(30),
        );
        assert!(
            out.lines()
                .all(|l| l.ends_with("NOTE") || l.ends_with("note")),
            "{out}"
        );
    }
}
