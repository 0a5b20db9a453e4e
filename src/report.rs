//! Rendering reports for people: aligned plain-text tables.
//!
//! No colour and no box drawing, so the output reads the same in a terminal,
//! a pipe, a log file and an e-mail from cron.

use crate::app::DryRun;
use crate::round::RoundReport;

/// A table with a header row; columns are padded to their widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
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

/// SOURCE, STATUS, HTTP: how each report table starts a source's row.
fn outcome_cells(s: &crate::round::SourceReport) -> Vec<String> {
    vec![
        s.name.clone(),
        s.status.as_str().to_owned(),
        s.http_status
            .map_or_else(|| "-".to_owned(), |c| c.to_string()),
    ]
}

/// The per-source table and the totals line printed by `herald once`.
pub fn round_table(report: &RoundReport) -> String {
    let rows: Vec<Vec<String>> = report
        .sources
        .iter()
        .map(|s| {
            let mut row = outcome_cells(s);
            row.extend([
                s.elapsed_ms.to_string(),
                s.attempts.to_string(),
                s.new.to_string(),
                s.seen.to_string(),
                s.error.clone().unwrap_or_default(),
            ]);
            row
        })
        .collect();
    let mut out = table(
        &[
            "SOURCE", "STATUS", "HTTP", "MS", "ATTEMPTS", "NEW", "SEEN", "ERROR",
        ],
        &rows,
    );
    out.push('\n');
    out.push_str(&format!(
        "{} ok, {} failed, {} skipped; {} new, {} seen; wall {} ms (ideal {} ms)\n",
        report.totals.ok,
        report.totals.failed,
        report.totals.skipped,
        report.totals.new,
        report.totals.seen,
        report.wall_ms,
        report.ideal_ms,
    ));
    out
}

/// `herald once --dry-run`: per source, what would be stored and when it
/// is next due, under a line saying nothing was written.
pub fn dry_run_table(dry: &DryRun) -> String {
    let rows: Vec<Vec<String>> = dry
        .report
        .sources
        .iter()
        .map(|s| {
            let next = dry.next_due.iter().find(|n| n.source == s.name);
            let mut row = outcome_cells(s);
            row.extend([
                s.new.to_string(),
                s.seen.to_string(),
                next.and_then(|n| n.at.clone())
                    .unwrap_or_else(|| "never".into()),
                match (&s.error, next) {
                    // A skip's reason already says what holds the source back.
                    (Some(error), _) if s.status == crate::outcome::FetchStatus::Skipped => {
                        format!("skipped: {error}")
                    }
                    (Some(error), Some(n)) => format!("{error}; next: {}", n.reason),
                    (Some(error), None) => error.clone(),
                    (None, Some(n)) => n.reason.clone(),
                    (None, None) => String::new(),
                },
            ]);
            row
        })
        .collect();
    let mut out = format!(
        "dry run: nothing was written to {}\n\n",
        dry.database.display()
    );
    out.push_str(&table(
        &[
            "SOURCE",
            "STATUS",
            "HTTP",
            "WOULD ADD",
            "ALREADY SEEN",
            "NEXT DUE",
            "WHY",
        ],
        &rows,
    ));
    let totals = &dry.report.totals;
    out.push_str(&format!(
        "\n{} ok, {} failed, {} skipped; would add {} new, {} already seen\n",
        totals.ok, totals.failed, totals.skipped, totals.new, totals.seen
    ));
    out
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
}
