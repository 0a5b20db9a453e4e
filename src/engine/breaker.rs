//! Whether a source should be fetched this round, and what its result
//! teaches us: the circuit breaker, 410 Gone, and per-source rate limits.
//!
//! Pure functions over a source's persisted state, so every rule is tested
//! without a clock or a network:
//! - A source that answered 410 Gone is disabled until removed from the config.
//! - After `max_consecutive_failures` failures in a row (transient or
//!   permanent), a source is paused with an exponential cooldown of 1, 2,
//!   4 ... of its schedule intervals, capped at 24 h, and probed at that
//!   pace forever; one success closes the breaker.
//! - A 429 slows a source down (Retry-After) but never counts as broken.
//! - When most of a round's sources fail with network errors at once, the
//!   machine is offline, not the sources: nothing is counted.
//! - `rate_limit = "N/unit"` is a sliding window over the requests recorded
//!   in the `fetches` table, so it holds across rounds and restarts.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::model::outcome::{BreakerState, FetchStatus, SkipReason, SourceMemory};
use crate::model::rate_limit::RateLimit;

/// The longest a breaker keeps a source paused.
pub(crate) const MAX_COOLDOWN: Duration = Duration::from_secs(24 * 3600);

/// Why a source is not fetched this round, or `None` to fetch it.
/// `respect_hints` lets a server's Cache-Control, Expires, `<ttl>` or
/// Retry-After delay the next fetch. `forced` (`once --force`) fetches a
/// source the breaker paused or a server asked not to check yet, but never
/// one whose host asked everyone to back off (429/503), one over its rate
/// limit, or one that answered 410 Gone.
pub(crate) fn skip_reason(
    memory: &SourceMemory,
    rate_limit: Option<RateLimit>,
    respect_hints: bool,
    now: DateTime<Utc>,
    forced: bool,
) -> Option<SkipReason> {
    if let Some(since) = memory.gone_at {
        return Some(SkipReason::Gone { since });
    }
    if let Some(until) = memory.paused_until.filter(|until| *until > now && !forced) {
        return Some(SkipReason::Paused {
            failures: memory.consecutive_failures,
            until,
        });
    }
    if let Some((until, why)) = memory.host_backoff.as_ref().filter(|(at, _)| *at > now) {
        return Some(SkipReason::HostBackoff {
            until: *until,
            why: why.clone(),
        });
    }
    if let Some((until, why)) = memory
        .next_check
        .as_ref()
        .filter(|(at, _)| respect_hints && *at > now && !forced)
    {
        return Some(SkipReason::NotDue {
            until: *until,
            why: why.clone(),
        });
    }
    let limit = rate_limit?;
    let window = chrono::Duration::from_std(limit.window).ok()?;
    let mut recent: Vec<(DateTime<Utc>, u32)> = memory
        .recent_requests
        .iter()
        .copied()
        .filter(|(at, _)| *at > now - window)
        .collect();
    let used: u32 = recent.iter().map(|(_, n)| n).sum();
    if used < limit.max {
        return None;
    }
    // Free again when enough of the oldest requests leave the window.
    recent.sort_by_key(|(at, _)| *at);
    let mut over = used + 1 - limit.max;
    let mut until = now;
    for (at, n) in recent {
        until = at + window;
        if n >= over {
            break;
        }
        over -= n;
    }
    Some(SkipReason::RateLimited { until })
}

/// What one source did this round, as the breaker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// How the fetch ended.
    pub status: FetchStatus,
    /// The HTTP status, if any.
    pub http_status: Option<u16>,
    /// Connection, DNS or timeout: could be our own network.
    pub network_failure: bool,
    /// A rate limit: the server is fine, we are too eager.
    pub rate_limited: bool,
}

/// True when the round looks like our machine lost its network: at least
/// three sources fetched and four in five of them failed at the network level.
pub(crate) fn looks_offline(verdicts: &[Verdict]) -> bool {
    let fetched = verdicts
        .iter()
        .filter(|v| v.status != FetchStatus::Skipped)
        .count();
    let network = verdicts.iter().filter(|v| v.network_failure).count();
    fetched >= 3 && network * 5 >= fetched * 4
}

/// The new state of a source after `verdict`; `None` when nothing changes
/// (skipped, a 429, or an offline round).
pub(crate) fn next_state(
    before: &SourceMemory,
    verdict: Verdict,
    offline: bool,
    threshold: u32,
    interval: Duration,
    now: DateTime<Utc>,
) -> Option<BreakerState> {
    if verdict.status.is_success() {
        let changed = before.consecutive_failures > 0 || before.paused_until.is_some();
        return changed.then_some(BreakerState {
            consecutive_failures: 0,
            paused_until: None,
            gone_at: None,
        });
    }
    if !verdict.status.is_failure() || verdict.rate_limited || (offline && verdict.network_failure)
    {
        return None;
    }
    if verdict.http_status == Some(410) {
        return Some(BreakerState {
            consecutive_failures: before.consecutive_failures + 1,
            paused_until: None,
            gone_at: Some(now),
        });
    }
    let failures = before.consecutive_failures + 1;
    let paused_until = (failures >= threshold.max(1)).then(|| {
        let doublings = (failures - threshold.max(1)).min(20);
        let cooldown = interval.saturating_mul(1 << doublings).min(MAX_COOLDOWN);
        now + chrono::Duration::from_std(cooldown).unwrap_or(chrono::Duration::hours(24))
    });
    Some(BreakerState {
        consecutive_failures: failures,
        paused_until,
        gone_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_341_600 + seconds, 0).expect("valid time")
    }

    const FAILED: Verdict = Verdict {
        status: FetchStatus::Failed,
        http_status: Some(500),
        network_failure: false,
        rate_limited: false,
    };
    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn breaker_opens_at_the_threshold_with_doubling_cooldown_and_closes_on_success() {
        let mut memory = SourceMemory::default();
        let mut pauses = Vec::new();
        for round in 0..7 {
            let state =
                next_state(&memory, FAILED, false, 5, MINUTE, at(0)).expect("failure counts");
            memory.consecutive_failures = state.consecutive_failures;
            memory.paused_until = state.paused_until;
            pauses.push(state.paused_until.map(|u| (u - at(0)).num_seconds()));
            assert_eq!(state.consecutive_failures, round + 1);
        }
        assert_eq!(
            pauses,
            [None, None, None, None, Some(60), Some(120), Some(240)]
        );
        let reason = skip_reason(&memory, None, true, at(10), false).expect("paused");
        assert_eq!(
            reason.to_string(),
            "paused after 7 failures, next try 2026-11-22T10:04:00Z"
        );
        let ok = Verdict {
            status: FetchStatus::Ok,
            http_status: Some(200),
            network_failure: false,
            rate_limited: false,
        };
        let closed = next_state(&memory, ok, false, 5, MINUTE, at(300)).expect("closes");
        assert_eq!(
            (closed.consecutive_failures, closed.paused_until),
            (0, None)
        );
    }

    #[test]
    fn cooldown_is_capped_at_a_day() {
        let memory = SourceMemory {
            consecutive_failures: 40,
            ..SourceMemory::default()
        };
        let state = next_state(&memory, FAILED, false, 5, Duration::from_secs(3600), at(0))
            .expect("counts");
        assert_eq!(state.paused_until, Some(at(86_400)));
    }

    #[test]
    fn rate_limits_offline_rounds_and_gone_sources() {
        let limited = Verdict {
            status: FetchStatus::Failed,
            http_status: Some(429),
            network_failure: false,
            rate_limited: true,
        };
        assert_eq!(
            next_state(&SourceMemory::default(), limited, false, 5, MINUTE, at(0)),
            None,
            "429 is not broken"
        );
        let refused = Verdict {
            status: FetchStatus::Failed,
            http_status: None,
            network_failure: true,
            rate_limited: false,
        };
        assert!(looks_offline(&[refused, refused, refused, refused, FAILED]));
        assert!(!looks_offline(&[refused, FAILED, FAILED]));
        assert_eq!(
            next_state(&SourceMemory::default(), refused, true, 5, MINUTE, at(0)),
            None,
            "offline rounds count nothing"
        );
        let gone = Verdict {
            status: FetchStatus::Failed,
            http_status: Some(410),
            network_failure: false,
            rate_limited: false,
        };
        let state =
            next_state(&SourceMemory::default(), gone, false, 5, MINUTE, at(0)).expect("gone");
        let memory = SourceMemory {
            gone_at: state.gone_at,
            ..SourceMemory::default()
        };
        assert!(
            skip_reason(&memory, None, true, at(60), false)
                .is_some_and(|r| r.to_string().starts_with("gone (HTTP 410)"))
        );
    }

    #[test]
    fn sliding_window_counts_attempts_and_says_when_it_frees_up() {
        let limit = Some(RateLimit {
            max: 3,
            window: MINUTE,
        });
        let memory = SourceMemory {
            recent_requests: vec![(at(-90), 5), (at(-50), 1), (at(-20), 2)],
            ..SourceMemory::default()
        };
        // In the window: 1 + 2 = 3 attempts: full until the one at -50 s leaves it.
        assert_eq!(
            skip_reason(&memory, limit, true, at(0), false),
            Some(SkipReason::RateLimited { until: at(10) })
        );
        assert_eq!(skip_reason(&memory, limit, true, at(15), false), None);
    }
}
