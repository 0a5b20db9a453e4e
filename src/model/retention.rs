//! How long things are kept: `keep = "90d"` or `"forever"`.
//!
//! A database that only grows is a daemon that needs babysitting; these
//! are the words of the retention settings, parsed once.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The shortest `keep` accepted: a seen article's "last seen" time is
/// refreshed at most hourly, and rate limits look back up to a day, so
/// anything shorter would forget what is still needed.
pub const MIN_KEEP: Duration = Duration::from_secs(86_400);

/// How long something is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Keep {
    /// Never removed.
    Forever,
    /// Removed once older than this.
    For(Duration),
}

impl Keep {
    /// The moment before which things go, seen from `now`; `None` for
    /// [`Keep::Forever`].
    pub fn cutoff(
        self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        match self {
            Keep::Forever => None,
            Keep::For(age) => chrono::Duration::from_std(age)
                .ok()
                .and_then(|age| now.checked_sub_signed(age)),
        }
    }
}

/// Why a `keep` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeepError {
    /// Neither a duration nor `forever`.
    #[error("{0:?} is not a duration (\"90d\", \"12weeks\") or \"forever\"")]
    Unreadable(String),
    /// Shorter than [`MIN_KEEP`].
    #[error("{0:?} is shorter than the minimum of 1 day")]
    TooShort(String),
}

impl FromStr for Keep {
    type Err = KeepError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("forever") {
            return Ok(Keep::Forever);
        }
        let age =
            humantime::parse_duration(text).map_err(|_| KeepError::Unreadable(text.to_owned()))?;
        if age < MIN_KEEP {
            return Err(KeepError::TooShort(text.to_owned()));
        }
        Ok(Keep::For(age))
    }
}

impl fmt::Display for Keep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Keep::Forever => f.write_str("forever"),
            Keep::For(age) if age.as_secs() % 86_400 == 0 => {
                write!(f, "{}d", age.as_secs() / 86_400)
            }
            Keep::For(age) => write!(f, "{}", humantime::format_duration(*age)),
        }
    }
}

/// What a prune removes: articles by each source's `keep`, and the
/// `fetches` and `rounds` history by `keep_history`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// `[daemon] keep`: for articles of sources without their own.
    pub keep: Keep,
    /// Per-source `keep`, where set.
    pub per_source: Vec<(String, Keep)>,
    /// `[daemon] keep_history`.
    pub keep_history: Keep,
}

/// `12.3 MB`: a database size for people (decimal units, as `ls -h --si`).
pub fn human_bytes(bytes: u64) -> String {
    #[allow(
        clippy::cast_precision_loss,
        reason = "a size for people, to one decimal"
    )]
    let value = bytes as f64;
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} kB", value / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", value / 1e6),
        _ => format!("{:.2} GB", value / 1e9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_forever_are_read_and_short_ones_refused() {
        assert_eq!("forever".parse(), Ok(Keep::Forever));
        assert_eq!(
            "90d".parse(),
            Ok(Keep::For(Duration::from_secs(90 * 86_400)))
        );
        assert_eq!(
            "2weeks".parse(),
            Ok(Keep::For(Duration::from_secs(14 * 86_400)))
        );
        assert_eq!(
            "12h".parse::<Keep>(),
            Err(KeepError::TooShort("12h".into()))
        );
        assert!(matches!(
            "soon".parse::<Keep>(),
            Err(KeepError::Unreadable(_))
        ));
        let now = chrono::Utc::now();
        assert_eq!(Keep::Forever.cutoff(now), None);
        assert_eq!(
            Keep::For(MIN_KEEP).cutoff(now),
            Some(now - chrono::Duration::days(1))
        );
    }
}
