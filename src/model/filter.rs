//! `include` / `exclude`: which items of a source are stored at all.
//!
//! Patterns are regular expressions of the `regex` crate, matched
//! case-insensitively against an item's title and its summary. That crate
//! runs in time linear in the text (no backtracking), so a pattern from a
//! config can never hang a round however the text is made. An item is
//! kept when it matches some `include` (or there is none) and no `exclude`;
//! the global `[filters]` and the source's own lists both apply.

use regex::{RegexSet, RegexSetBuilder};

/// Compiled `include` and `exclude` lists.
#[derive(Debug, Clone)]
pub struct ItemFilter {
    include: Option<RegexSet>,
    exclude: Option<RegexSet>,
    /// As written: what makes two filters the same (for reload diffs).
    written: (Vec<String>, Vec<String>),
}

impl PartialEq for ItemFilter {
    fn eq(&self, other: &Self) -> bool {
        self.written == other.written
    }
}

/// A pattern that does not compile, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{pattern:?} is not a valid regular expression: {reason}")]
pub struct BadPattern {
    /// As written.
    pub pattern: String,
    /// The compiler's message, on one line.
    pub reason: String,
}

/// The largest compiled program one list may take: patterns far beyond any
/// real filter are refused instead of costing memory.
const SIZE_LIMIT: usize = 1 << 20;

fn compile(patterns: &[String]) -> Result<Option<RegexSet>, BadPattern> {
    if patterns.is_empty() {
        return Ok(None);
    }
    // Each pattern alone first, so the error names the one at fault.
    for pattern in patterns {
        RegexSetBuilder::new([pattern])
            .case_insensitive(true)
            .size_limit(SIZE_LIMIT)
            .build()
            .map_err(|e| BadPattern {
                pattern: pattern.clone(),
                reason: e
                    .to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
            })?;
    }
    RegexSetBuilder::new(patterns)
        .case_insensitive(true)
        .size_limit(SIZE_LIMIT)
        .build()
        .map(Some)
        .map_err(|e| BadPattern {
            pattern: patterns.join(" | "),
            reason: e.to_string(),
        })
}

impl ItemFilter {
    /// Compiles the two lists.
    ///
    /// # Errors
    /// The first pattern that does not compile.
    pub fn new(include: &[String], exclude: &[String]) -> Result<ItemFilter, BadPattern> {
        Ok(ItemFilter {
            include: compile(include)?,
            exclude: compile(exclude)?,
            written: (include.to_vec(), exclude.to_vec()),
        })
    }

    /// Whether the filter lets everything through.
    pub fn is_empty(&self) -> bool {
        self.include.is_none() && self.exclude.is_none()
    }

    /// Whether an item with this title and summary is stored.
    pub fn keeps(&self, title: &str, summary: Option<&str>) -> bool {
        let matches =
            |set: &RegexSet| set.is_match(title) || summary.is_some_and(|s| set.is_match(s));
        self.include.as_ref().is_none_or(matches) && !self.exclude.as_ref().is_some_and(matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(patterns: &[&str]) -> Vec<String> {
        patterns.iter().map(|p| (*p).to_owned()).collect()
    }

    #[test]
    fn include_then_exclude_case_insensitively_on_title_and_summary() {
        let filter = ItemFilter::new(
            &list(&["rust", r"\bsqlite\b"]),
            &list(&["(?:sponsored|ad):"]),
        )
        .expect("valid");
        assert!(filter.keeps("Rust 1.96 released", None));
        assert!(filter.keeps("A database story", Some("all about SQLite")));
        assert!(!filter.keeps("Sponsored: learn RUST fast", None));
        assert!(!filter.keeps("Weather", Some("sunny")));
        let exclude_only = ItemFilter::new(&[], &list(&["crypto"])).expect("valid");
        assert!(exclude_only.keeps("Weather", None));
        assert!(!exclude_only.keeps("CRYPTO news", None));
        assert!(ItemFilter::new(&[], &[]).expect("valid").is_empty());
    }

    #[test]
    fn a_bad_pattern_is_named() {
        let error = ItemFilter::new(&list(&["fine", "(unclosed"]), &[]).expect_err("bad");
        assert_eq!(error.pattern, "(unclosed");
    }

    #[test]
    fn a_pathological_pattern_is_linear_not_catastrophic() {
        // (a+)+$ against "aaaa…b" is the classic exponential backtracking
        // case; here it is one linear pass.
        let filter = ItemFilter::new(&list(&["(a+)+$"]), &[]).expect("valid");
        let text = format!("{}b", "a".repeat(100_000));
        assert!(!filter.keeps(&text, None));
    }
}
