//! `[alerts] webhook`: one JSON POST when a source changes state.
//!
//! A source is `ok`, `degraded` (failing, not yet paused), `paused` (the
//! circuit breaker is open) or `disabled` (it answered 410 Gone). The state
//! is read from what the round persisted, so an alert says exactly what
//! `herald sources` shows. Deliveries run on their own task, in order, with
//! the shared retry loop (exponential backoff with jitter); a round never
//! waits for them. A webhook that keeps failing is logged once per state it
//! failed to announce, not once per round.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::fetch::RetryPolicy;
use crate::fetch::retry::retry_transient;
use crate::fetch::webhook::{DeliveryError, WebhookClient};
use crate::model::outcome::SourceMemory;

/// How long one alert may keep retrying before it is given up.
const DELIVERY_DEADLINE: Duration = Duration::from_secs(300);

/// What an operator needs to know about a source at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SourceState {
    /// Answering.
    Ok,
    /// Failing, not yet paused.
    Degraded,
    /// The circuit breaker is open.
    Paused,
    /// It answered 410 Gone.
    Disabled,
}

impl SourceState {
    /// The name used in alerts and log lines.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SourceState::Ok => "ok",
            SourceState::Degraded => "degraded",
            SourceState::Paused => "paused",
            SourceState::Disabled => "disabled",
        }
    }

    /// Derives the state from the source's persisted breaker memory.
    pub(crate) fn of(memory: &SourceMemory, now: DateTime<Utc>) -> SourceState {
        if memory.gone_at.is_some() {
            SourceState::Disabled
        } else if memory.paused_until.is_some_and(|until| until > now) {
            SourceState::Paused
        } else if memory.consecutive_failures > 0 {
            SourceState::Degraded
        } else {
            SourceState::Ok
        }
    }
}

/// The message POSTed to the webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Alert {
    /// The source's name.
    pub source: String,
    /// Its state before.
    pub old_state: SourceState,
    /// Its state now.
    pub new_state: SourceState,
    /// The last error (already free of secrets), or why it recovered.
    pub reason: String,
    /// When the change was seen (RFC 3339 UTC).
    pub time: String,
}

/// Remembers each source's last state and says when it changed.
#[derive(Debug, Default)]
pub(crate) struct StateTracker {
    states: HashMap<String, SourceState>,
}

impl StateTracker {
    /// Starts from the states the database already holds, so a restart does
    /// not re-announce every failing source.
    pub(crate) fn seeded<'a>(
        memories: impl IntoIterator<Item = (&'a String, &'a SourceMemory)>,
        now: DateTime<Utc>,
    ) -> StateTracker {
        StateTracker {
            states: memories
                .into_iter()
                .map(|(name, memory)| (name.clone(), SourceState::of(memory, now)))
                .collect(),
        }
    }

    /// Records `state` for `source`; an [`Alert`] when it differs from the
    /// last one (a source seen for the first time counts as coming from `ok`).
    pub(crate) fn observe(
        &mut self,
        source: &str,
        state: SourceState,
        reason: impl FnOnce() -> String,
        now: DateTime<Utc>,
    ) -> Option<Alert> {
        let old = self
            .states
            .insert(source.to_owned(), state)
            .unwrap_or(SourceState::Ok);
        (old != state).then(|| Alert {
            source: source.to_owned(),
            old_state: old,
            new_state: state,
            reason: reason(),
            time: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })
    }
}

/// Starts the delivery task; alerts sent to the returned channel are POSTed
/// in order. Ends when every sender is dropped.
pub(crate) fn start_webhook(
    url: url::Url,
    client: WebhookClient,
    policy: RetryPolicy,
) -> (mpsc::UnboundedSender<Alert>, JoinHandle<()>) {
    let (sender, mut alerts) = mpsc::unbounded_channel::<Alert>();
    let task = tokio::spawn(async move {
        // Never log the URL itself: webhook URLs often carry a token.
        let target = url.host_str().unwrap_or("webhook").to_owned();
        let mut reported: HashSet<(String, SourceState)> = HashSet::new();
        while let Some(alert) = alerts.recv().await {
            let deadline = tokio::time::Instant::now() + DELIVERY_DEADLINE;
            let (result, attempts) = retry_transient(
                policy,
                deadline,
                || {
                    let json = serde_json::to_vec(&alert).unwrap_or_default();
                    client.post_json(&url, json)
                },
                |failure: &DeliveryError| failure.transient.then_some(None),
            )
            .await;
            let key = (alert.source.clone(), alert.new_state);
            match result {
                Ok(()) => {
                    debug!(source = %alert.source, state = alert.new_state.as_str(), attempts, "alert delivered");
                    reported.retain(|(source, _)| source != &alert.source);
                }
                Err(failure) => {
                    if reported.insert(key) {
                        warn!(source = %alert.source, state = alert.new_state.as_str(), attempts, webhook = %target, error = %failure.message, "alert not delivered");
                    }
                }
            }
        }
        info!("alert webhook stopped");
    });
    (sender, task)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn states_follow_the_breaker() {
        let now = at("2026-11-25T12:00:00Z");
        let mut memory = SourceMemory::default();
        assert_eq!(SourceState::of(&memory, now), SourceState::Ok);
        memory.consecutive_failures = 2;
        assert_eq!(SourceState::of(&memory, now), SourceState::Degraded);
        memory.paused_until = Some(at("2026-11-25T13:00:00Z"));
        assert_eq!(SourceState::of(&memory, now), SourceState::Paused);
        memory.paused_until = Some(at("2026-11-25T11:00:00Z"));
        assert_eq!(
            SourceState::of(&memory, now),
            SourceState::Degraded,
            "pause over"
        );
        memory.gone_at = Some(now);
        assert_eq!(SourceState::of(&memory, now), SourceState::Disabled);
    }

    #[test]
    fn alerts_only_on_change_and_not_for_seeded_states() {
        let now = at("2026-11-25T12:00:00Z");
        let failing = SourceMemory {
            consecutive_failures: 1,
            ..SourceMemory::default()
        };
        let seeded = [("a".to_owned(), failing)];
        let mut tracker = StateTracker::seeded(seeded.iter().map(|(n, m)| (n, m)), now);
        let reason = || "HTTP 500".to_owned();
        assert_eq!(
            tracker.observe("a", SourceState::Degraded, reason, now),
            None
        );
        let recovered = tracker
            .observe("a", SourceState::Ok, || "answered".to_owned(), now)
            .expect("a change");
        assert_eq!(
            (recovered.old_state, recovered.new_state),
            (SourceState::Degraded, SourceState::Ok)
        );
        assert_eq!(tracker.observe("b", SourceState::Ok, reason, now), None);
        assert!(
            tracker
                .observe("b", SourceState::Degraded, reason, now)
                .is_some()
        );
    }
}
