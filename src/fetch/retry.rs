//! Retries: which failures are worth another try, and when.
//!
//! One function decides ([`should_retry`]): connection errors, DNS failures,
//! timeouts, 408, 429, 502, 503 and 504 are transient; any other status,
//! an oversized body and every parse error are not (trying again would get
//! the same answer and only load the server). Delays grow exponentially with
//! jitter (the `backoff` crate, kept inside this file because it is
//! unmaintained upstream and may need replacing), a server's `Retry-After`
//! replaces the computed delay, and no attempt starts past the round
//! deadline.

use std::future::Future;
use std::time::{Duration, SystemTime};

use backoff::backoff::Backoff;
use tokio::time::Instant;

use super::FetchError;

/// `[http] retries`, `backoff_initial`, `backoff_max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Extra attempts after the first (0 = no retries).
    pub retries: u32,
    /// The first delay (doubled each time, with ±25% jitter).
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
}

/// Whether `error` is transient.
pub(crate) fn should_retry(error: &FetchError) -> bool {
    match error {
        FetchError::Timeout(_)
        | FetchError::Connect(_)
        | FetchError::Proxy { .. }
        | FetchError::Dns { .. } => true,
        FetchError::Status {
            status,
            rate_limited,
            ..
        } => *rate_limited || matches!(status, 408 | 429 | 502 | 503 | 504),
        FetchError::TooLarge { .. }
        | FetchError::Redirect(_)
        | FetchError::Blocked(_)
        | FetchError::Other(_) => false,
    }
}

/// `Retry-After` as seconds or an HTTP date, relative to now.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Runs `attempt` until it succeeds, fails permanently, runs out of retries,
/// or the next try would start after `deadline`. Returns the last result and
/// how many attempts were made.
pub(crate) async fn with_retries<T, F, Fut>(
    policy: RetryPolicy,
    deadline: Instant,
    attempt: F,
) -> (Result<T, FetchError>, u32)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, FetchError>>,
{
    retry_transient(policy, deadline, attempt, |error: &FetchError| {
        should_retry(error).then(|| error.retry_after())
    })
    .await
}

/// The retry loop itself, for any error: `transient` says whether an error
/// is worth another try (`Some`) and whether the server named a delay
/// (`Some(Some(d))`). Shared by fetches and alert webhooks.
pub(crate) async fn retry_transient<T, E, F, Fut>(
    policy: RetryPolicy,
    deadline: Instant,
    mut attempt: F,
    transient: impl Fn(&E) -> Option<Option<Duration>>,
) -> (Result<T, E>, u32)
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut delays = backoff::ExponentialBackoffBuilder::new()
        .with_initial_interval(policy.initial)
        .with_max_interval(policy.max)
        .with_multiplier(2.0)
        // ±25%: enough to spread a herd of retries, small enough that each
        // delay is still longer than the one before (with doubling).
        .with_randomization_factor(0.25)
        .with_max_elapsed_time(None)
        .build();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let error = match attempt().await {
            Ok(value) => return (Ok(value), attempts),
            Err(error) => error,
        };
        let hint = match transient(&error) {
            Some(hint) if attempts <= policy.retries => hint,
            _ => return (Err(error), attempts),
        };
        let computed = delays.next_backoff().unwrap_or(policy.max);
        // The server knows best when it will be ready.
        let delay = hint.unwrap_or(computed);
        if Instant::now() + delay >= deadline {
            return (Err(error), attempts);
        }
        tracing::debug!(attempt = attempts, delay_ms = delay.as_millis() as u64, error = %error, "retrying");
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_and_permanent_failures() {
        let status = FetchError::http;
        for transient in [408, 429, 502, 503, 504] {
            assert!(should_retry(&status(transient)), "{transient}");
        }
        for permanent in [400, 401, 403, 404, 410, 500, 501] {
            assert!(!should_retry(&status(permanent)), "{permanent}");
        }
        assert!(should_retry(&FetchError::Timeout(Duration::from_secs(1))));
        assert!(should_retry(&FetchError::Connect("refused".into())));
        assert!(!should_retry(&FetchError::TooLarge { limit: 1 }));
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
        let soon = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        let parsed = parse_retry_after(&soon).expect("date parses");
        assert!(
            parsed <= Duration::from_secs(30) && parsed >= Duration::from_secs(28),
            "{parsed:?}"
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO),
            "past dates mean now"
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_failures_with_growing_delays_then_stops() {
        let policy = RetryPolicy {
            retries: 3,
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
        };
        let started = Instant::now();
        let mut at = Vec::new();
        let (result, attempts): (Result<(), _>, _) =
            with_retries(policy, started + Duration::from_secs(60), || {
                at.push(started.elapsed());
                async { Err(FetchError::http(503)) }
            })
            .await;
        assert!(result.is_err());
        assert_eq!(attempts, 4);
        let gaps: Vec<Duration> = at.windows(2).map(|w| w[1].saturating_sub(w[0])).collect();
        // Jitter is ±25% around 100, 200, 400 ms: every gap longer than the last.
        assert!(
            gaps[0] >= Duration::from_millis(75) && gaps[0] <= Duration::from_millis(125),
            "{gaps:?}"
        );
        assert!(
            gaps[2] >= Duration::from_millis(300) && gaps[2] <= Duration::from_millis(500),
            "{gaps:?}"
        );
        assert!(gaps.windows(2).all(|w| w[1] > w[0]), "{gaps:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn never_retries_past_the_deadline_and_honours_retry_after() {
        let policy = RetryPolicy {
            retries: 5,
            initial: Duration::from_millis(10),
            max: Duration::from_secs(1),
        };
        let started = Instant::now();
        let mut calls = 0;
        let (result, attempts): (Result<(), _>, _) =
            with_retries(policy, started + Duration::from_secs(5), || {
                calls += 1;
                async {
                    Err(FetchError::Status {
                        status: 429,
                        reason: None,
                        retry_after: Some(Duration::from_secs(3)),
                        rate_limited: true,
                        body: None,
                    })
                }
            })
            .await;
        assert_eq!(
            attempts, 2,
            "waited 3 s once; a second 3 s wait would pass the 5 s deadline"
        );
        assert!(started.elapsed() >= Duration::from_secs(3));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "never sleeps past the deadline"
        );
        assert!(result.is_err());
        assert_eq!(calls, 2);
    }
}
