//! `rate_limit = "100/hour"`: requests allowed to one source in a sliding window.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// At most `max` requests (retries included) in any `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed in the window.
    pub max: u32,
    /// The window's length.
    pub window: Duration,
}

/// A rate that is not `N/unit`; the message says what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadRate(String);

impl FromStr for RateLimit {
    type Err = BadRate;

    /// Parses `N/second`, `N/minute`, `N/hour` or `N/day`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || {
            BadRate(format!(
                "{text:?} is not a rate: write N/second, N/minute, N/hour or N/day (e.g. \"100/hour\")"
            ))
        };
        let (max, unit) = text.split_once('/').ok_or_else(bad)?;
        let max: u32 = max.trim().parse().map_err(|_| bad())?;
        let window = match unit.trim() {
            "second" | "s" => Duration::from_secs(1),
            "minute" | "min" | "m" => Duration::from_secs(60),
            "hour" | "h" => Duration::from_secs(3600),
            "day" | "d" => Duration::from_secs(86_400),
            _ => return Err(bad()),
        };
        if max == 0 {
            return Err(BadRate(format!(
                "{text:?}: the rate must allow at least one request"
            )));
        }
        Ok(RateLimit { max, window })
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.window.as_secs() {
            1 => "second",
            60 => "minute",
            3600 => "hour",
            _ => "day",
        };
        write!(f, "{}/{unit}", self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_nonsense_is_explained() {
        assert_eq!(
            "100/hour".parse(),
            Ok(RateLimit {
                max: 100,
                window: Duration::from_secs(3600)
            })
        );
        assert_eq!(
            "3/minute".parse::<RateLimit>().map(|r| r.window),
            Ok(Duration::from_secs(60))
        );
        let err = "fast".parse::<RateLimit>().expect_err("not a rate");
        assert!(err.to_string().contains("N/minute"), "{err}");
        assert!("0/day".parse::<RateLimit>().is_err());
        assert_eq!(
            "20/h".parse::<RateLimit>().map(|r| r.to_string()),
            Ok("20/hour".to_owned())
        );
    }
}
