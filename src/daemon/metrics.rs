//! `[metrics] listen`: Prometheus `/metrics` and a `/healthz` probe.
//!
//! The daemon feeds [`Metrics`] from two places: every finished round (its
//! report, plus each source's persisted breaker state read back afterwards)
//! and the live worker pool (fetches in flight, jobs queued). Counters count
//! since the daemon started, as Prometheus expects (`rate()` handles the
//! reset on restart). Rendering and health are pure functions of that state,
//! so the tests check them without a clock; the listener is a small hyper
//! server bound only to the configured address.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::mpsc::WeakSender;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::feeds::{Answer as FeedAnswer, Conditions, Document, FeedServer};
use crate::engine::job::FetchJob;
use crate::engine::pool::WorkerPool;
use crate::engine::report::RoundReport;
use crate::model::outcome::{FetchStatus, SkipReason, SourceMemory};

/// Upper bounds (seconds) of the round-duration histogram: from a round of
/// cached 304s to one that hits a long round timeout.
const DURATION_BUCKETS: [f64; 11] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// How long a scraper may take to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything `/metrics` and `/healthz` report; shared, cheap to update.
#[derive(Debug)]
pub(crate) struct Metrics {
    started: Instant,
    state: Mutex<State>,
    pool: Mutex<PoolView>,
}

/// The current pool, seen without keeping it alive: a weak queue handle
/// (so a retired pool still shuts down) and its in-flight counter.
#[derive(Debug, Default)]
struct PoolView {
    queue: Option<WeakSender<FetchJob>>,
    in_flight: Option<Arc<AtomicUsize>>,
}

#[derive(Debug, Default)]
struct State {
    rounds_total: u64,
    duration_buckets: [u64; DURATION_BUCKETS.len()],
    duration_sum: f64,
    fetches: BTreeMap<(String, &'static str), u64>,
    articles_stored: u64,
    /// The last round that got anywhere: not every source in it was held
    /// up by its previous round still running.
    last_round: Option<(Instant, SystemTime)>,
    /// The last round in which at least one source answered.
    last_successful_round: Option<SystemTime>,
    /// The shortest schedule interval: `/healthz` allows two of them.
    expected_interval: Option<Duration>,
    sources: BTreeMap<String, SourceSeries>,
}

#[derive(Debug, Default, Clone)]
struct SourceSeries {
    last_success: Option<SystemTime>,
    consecutive_failures: u32,
    /// Fetches that reached the server (ok, not modified, failed, timeout).
    fetches: u64,
    not_modified: u64,
    /// Size of the last full response, which a 304 spared us from downloading again.
    last_body_bytes: u64,
    bytes_saved: u64,
}

/// The answer `/healthz` gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Health {
    /// 200 when true, 503 when false.
    pub healthy: bool,
    /// One line saying why.
    pub reason: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Fresh state; health counts from now.
    pub(crate) fn new() -> Metrics {
        Metrics {
            started: Instant::now(),
            state: Mutex::new(State::default()),
            pool: Mutex::new(PoolView::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Points the live gauges at the running pool (at start and after a reload).
    pub(crate) fn watch_pool(&self, running: &WorkerPool) {
        let (queue, in_flight) = running.gauges();
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        pool.queue = Some(queue);
        pool.in_flight = Some(in_flight);
    }

    /// The shortest interval between rounds the schedules promise.
    pub(crate) fn set_expected_interval(&self, interval: Option<Duration>) {
        self.state().expected_interval = interval;
    }

    /// Counts a finished round.
    pub(crate) fn record_round(&self, report: &RoundReport) {
        let now = (Instant::now(), SystemTime::now());
        let mut state = self.state();
        state.rounds_total += 1;
        let seconds = report.wall_ms as f64 / 1000.0;
        state.duration_sum += seconds;
        for (bucket, bound) in state.duration_buckets.iter_mut().zip(DURATION_BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        state.articles_stored += report.totals.new as u64;
        let progressed = report
            .sources
            .iter()
            .any(|s| s.skip.as_ref().is_none_or(SkipReason::is_polite));
        let mut answered = false;
        for source in &report.sources {
            *state
                .fetches
                .entry((source.name.clone(), source.status.as_str()))
                .or_default() += 1;
            let series = state.sources.entry(source.name.clone()).or_default();
            match source.status {
                FetchStatus::Skipped => continue,
                FetchStatus::Ok => {
                    series.last_body_bytes = source.body_bytes;
                    series.last_success = Some(now.1);
                }
                FetchStatus::NotModified => {
                    series.not_modified += 1;
                    series.bytes_saved += series.last_body_bytes;
                    series.last_success = Some(now.1);
                }
                FetchStatus::Failed | FetchStatus::Timeout => {}
            }
            series.fetches += 1;
            answered |= source.status.is_success();
        }
        if progressed {
            state.last_round = Some(now);
        }
        if answered {
            state.last_successful_round = Some(now.1);
        }
    }

    /// Forgets every per-source series of sources no longer configured, so
    /// an alert on a source removed by a reload stops firing.
    pub(crate) fn retain_sources(&self, configured: &std::collections::HashSet<&str>) {
        let mut state = self.state();
        state
            .fetches
            .retain(|(source, _), _| configured.contains(source.as_str()));
        state
            .sources
            .retain(|source, _| configured.contains(source.as_str()));
    }

    /// Takes each source's breaker state as stored after a round.
    pub(crate) fn record_source_state(&self, name: &str, memory: &SourceMemory) {
        self.state()
            .sources
            .entry(name.to_owned())
            .or_default()
            .consecutive_failures = memory.consecutive_failures;
    }

    /// Healthy while rounds keep finishing: the last one within two schedule
    /// intervals (or, before the first, the daemon started less than two ago).
    /// Sources skipped politely (not due, paused) still count as progress; a
    /// round in which every source was stuck behind its previous one does not.
    pub(crate) fn health(&self) -> Health {
        let state = self.state();
        let Some(interval) = state.expected_interval else {
            return Health {
                healthy: true,
                reason: "no enabled sources are scheduled".to_owned(),
            };
        };
        let allowed = interval * 2;
        let (since, what) = match state.last_round {
            Some((at, _)) => (at.elapsed(), "the last round finished".to_owned()),
            // Rounds may have finished with every source stuck behind its
            // previous round: say so, not "none finished".
            None if state.rounds_total > 0 => (
                self.started.elapsed(),
                format!(
                    "{} round(s) finished but every source in them was still busy with its previous round; started",
                    state.rounds_total
                ),
            ),
            None => (
                self.started.elapsed(),
                "started, no round has finished yet;".to_owned(),
            ),
        };
        let healthy = since <= allowed;
        Health {
            healthy,
            reason: format!(
                "{what} {:.1} s ago; rounds are due every {} (allowed: {})",
                since.as_secs_f64(),
                humantime::format_duration(interval),
                humantime::format_duration(allowed),
            ),
        }
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub(crate) fn render(&self) -> String {
        let (queued, in_flight) = {
            let pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
            let queued = pool
                .queue
                .as_ref()
                .and_then(WeakSender::upgrade)
                .map_or(0, |queue| queue.max_capacity() - queue.capacity());
            let in_flight = pool
                .in_flight
                .as_ref()
                .map_or(0, |n| n.load(Ordering::Relaxed));
            (queued, in_flight)
        };
        let state = self.state();
        let mut out = String::new();
        header(
            &mut out,
            "herald_rounds_total",
            "counter",
            "Aggregation rounds finished since the daemon started.",
        );
        let _ = writeln!(out, "herald_rounds_total {}", state.rounds_total);
        header(
            &mut out,
            "herald_round_duration_seconds",
            "histogram",
            "Wall time of a round, from the first job queued to the last commit.",
        );
        for (count, bound) in state.duration_buckets.iter().zip(DURATION_BUCKETS) {
            let _ = writeln!(
                out,
                "herald_round_duration_seconds_bucket{{le=\"{bound}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "herald_round_duration_seconds_bucket{{le=\"+Inf\"}} {}\nherald_round_duration_seconds_sum {}\nherald_round_duration_seconds_count {}",
            state.rounds_total,
            (state.duration_sum * 1000.0).round() / 1000.0,
            state.rounds_total
        );
        header(
            &mut out,
            "herald_fetches_total",
            "counter",
            "Source fetches by outcome (ok, not_modified, failed, timeout, skipped).",
        );
        for ((source, status), count) in &state.fetches {
            let _ = writeln!(
                out,
                "herald_fetches_total{{source=\"{}\",status=\"{status}\"}} {count}",
                escape(source)
            );
        }
        header(
            &mut out,
            "herald_articles_stored_total",
            "counter",
            "New articles written to the database.",
        );
        let _ = writeln!(
            out,
            "herald_articles_stored_total {}",
            state.articles_stored
        );
        header(
            &mut out,
            "herald_fetches_in_flight",
            "gauge",
            "Requests the worker pool is making right now.",
        );
        let _ = writeln!(out, "herald_fetches_in_flight {in_flight}");
        header(
            &mut out,
            "herald_queue_depth",
            "gauge",
            "Fetch jobs waiting for a worker.",
        );
        let _ = writeln!(out, "herald_queue_depth {queued}");
        header(
            &mut out,
            "herald_last_successful_round_timestamp_seconds",
            "gauge",
            "When a round last finished with at least one source answering (Unix time; absent before the first).",
        );
        if let Some(at) = state.last_successful_round {
            let _ = writeln!(
                out,
                "herald_last_successful_round_timestamp_seconds {}",
                unix(at)
            );
        }
        let per_source: [(&str, &str, &str, SeriesValue); 4] = [
            (
                "herald_source_last_success_timestamp_seconds",
                "gauge",
                "When the source last answered (200 or 304), Unix time.",
                |s| s.last_success.map(unix),
            ),
            (
                "herald_source_consecutive_failures",
                "gauge",
                "Failures in a row, as the circuit breaker counts them.",
                |s| Some(f64::from(s.consecutive_failures)),
            ),
            (
                "herald_source_not_modified_ratio",
                "gauge",
                "Share of the source's fetches answered 304 Not Modified.",
                |s| (s.fetches > 0).then(|| s.not_modified as f64 / s.fetches as f64),
            ),
            (
                "herald_source_conditional_get_bytes_saved_total",
                "counter",
                "Bytes not downloaded thanks to 304s (each counted at the size of the last full response).",
                |s| Some(s.bytes_saved as f64),
            ),
        ];
        for (name, kind, help, value) in per_source {
            header(&mut out, name, kind, help);
            for (source, series) in &state.sources {
                if let Some(value) = value(series) {
                    let _ = writeln!(out, "{name}{{source=\"{}\"}} {value}", escape(source));
                }
            }
        }
        out
    }
}

/// Reads one per-source value; `None` leaves the sample out.
type SeriesValue = fn(&SourceSeries) -> Option<f64>;

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn unix(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| (d.as_millis() as f64) / 1000.0)
}

/// A label value as the exposition format wants it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Binds `addr` now (so a taken port fails the start, loudly) and serves
/// until `stop` is cancelled.
///
/// # Errors
/// The address cannot be bound (taken, not local, no permission).
pub(crate) async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    feeds: FeedServer,
    stop: CancellationToken,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    info!(address = %bound, "listening: /feed.atom, /feed.json, /feed.opml, /metrics, /healthz");
    Ok(tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                () = stop.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        warn!(error = %e, "metrics listener: accept failed");
                        continue;
                    }
                },
            };
            let metrics = Arc::clone(&metrics);
            let feeds = feeds.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let metrics = Arc::clone(&metrics);
                    let feeds = feeds.clone();
                    async move {
                        let document = Document::at(request.uri().path())
                            .filter(|_| request.method() == hyper::Method::GET);
                        Ok::<_, Infallible>(match document {
                            Some(document) => {
                                let header = |name: hyper::header::HeaderName| {
                                    request
                                        .headers()
                                        .get(name)
                                        .and_then(|v| v.to_str().ok())
                                        .map(str::to_owned)
                                };
                                let conditions = Conditions {
                                    host: header(hyper::header::HOST),
                                    if_none_match: header(hyper::header::IF_NONE_MATCH),
                                    if_modified_since: header(hyper::header::IF_MODIFIED_SINCE),
                                };
                                let query = request.uri().query().map(str::to_owned);
                                respond(feeds.answer(document, query, conditions).await)
                            }
                            None => answer(&metrics, &request),
                        })
                    }
                });
                let connection =
                    // A client that never finishes its request headers is dropped.
                    http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(HEADER_READ_TIMEOUT)
                        .serve_connection(TokioIo::new(stream), service);
                tokio::select! {
                    _ = connection => {}
                    () = stop.cancelled() => {}
                }
            });
        }
    }))
}

fn answer(metrics: &Metrics, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (request.method().as_str(), request.uri().path()) {
        ("GET", "/metrics") => (
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            metrics.render(),
        ),
        ("GET", "/healthz") => {
            let health = metrics.health();
            (
                if health.healthy { 200 } else { 503 },
                "text/plain; charset=utf-8",
                format!(
                    "{}: {}\n",
                    if health.healthy { "ok" } else { "unhealthy" },
                    health.reason
                ),
            )
        }
        ("GET", _) => (
            404,
            "text/plain",
            "try /feed.atom, /feed.json, /feed.opml, /metrics or /healthz\n".to_owned(),
        ),
        _ => (405, "text/plain", "GET only\n".to_owned()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

/// A served feed's answer as an HTTP response.
fn respond(answer: FeedAnswer) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(answer.body)));
    *response.status_mut() = hyper::StatusCode::from_u16(answer.status).unwrap_or_default();
    let headers = response.headers_mut();
    if answer.status != 304
        && let Ok(value) = hyper::header::HeaderValue::from_str(answer.content_type)
    {
        headers.insert(hyper::header::CONTENT_TYPE, value);
    }
    for (name, value) in answer.headers {
        if let Ok(value) = hyper::header::HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::report::{SourceReport, Totals};

    fn report(sources: &[(&str, FetchStatus, u64)], new: usize, wall_ms: u64) -> RoundReport {
        RoundReport {
            ideal_bound: None,
            round_id: 1,
            started_at: String::new(),
            wall_ms,
            ideal_ms: wall_ms,
            sources: sources
                .iter()
                .map(|(name, status, body_bytes)| SourceReport {
                    name: (*name).to_owned(),
                    status: *status,
                    http_status: None,
                    elapsed_ms: 1,
                    attempts: 1,
                    new: 0,
                    seen: 0,
                    failed_items: 0,
                    error: (*status == FetchStatus::Skipped)
                        .then(|| SkipReason::StillRunning.to_string()),
                    skip: (*status == FetchStatus::Skipped).then_some(SkipReason::StillRunning),
                    body_bytes: *body_bytes,
                    stored_late_ms: None,
                    warnings: Vec::new(),
                    filtered: 0,
                })
                .collect(),
            totals: Totals {
                new,
                ..Totals::default()
            },
            peak_rss_kb: None,
        }
    }

    #[test]
    fn counts_rounds_fetches_and_conditional_get_savings() {
        let metrics = Metrics::new();
        metrics.record_round(&report(&[("a\"b", FetchStatus::Ok, 1000)], 5, 300));
        metrics.record_round(&report(&[("a\"b", FetchStatus::NotModified, 0)], 0, 40));
        let text = metrics.render();
        for line in [
            "herald_rounds_total 2",
            "herald_round_duration_seconds_bucket{le=\"0.1\"} 1",
            "herald_round_duration_seconds_bucket{le=\"0.5\"} 2",
            "herald_round_duration_seconds_count 2",
            "herald_fetches_total{source=\"a\\\"b\",status=\"ok\"} 1",
            "herald_fetches_total{source=\"a\\\"b\",status=\"not_modified\"} 1",
            "herald_articles_stored_total 5",
            "herald_source_not_modified_ratio{source=\"a\\\"b\"} 0.5",
            "herald_source_conditional_get_bytes_saved_total{source=\"a\\\"b\"} 1000",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }

    #[test]
    fn health_needs_a_round_within_two_intervals() {
        let metrics = Metrics::new();
        assert!(metrics.health().healthy, "nothing scheduled");
        metrics.set_expected_interval(Some(Duration::ZERO));
        let health = metrics.health();
        assert!(!health.healthy);
        assert!(
            health.reason.contains("no round has finished"),
            "{health:?}"
        );
        metrics.set_expected_interval(Some(Duration::from_secs(3600)));
        metrics.record_round(&report(&[("a", FetchStatus::Failed, 0)], 0, 1));
        let health = metrics.health();
        assert!(health.healthy, "{health:?}");
        assert!(
            health.reason.contains("the last round finished"),
            "{health:?}"
        );
    }

    #[test]
    fn a_source_removed_by_a_reload_leaves_no_series_behind() {
        let metrics = Metrics::new();
        metrics.record_round(&report(
            &[
                ("kept", FetchStatus::Ok, 10),
                ("gone", FetchStatus::Failed, 0),
            ],
            1,
            10,
        ));
        metrics.record_source_state(
            "gone",
            &SourceMemory {
                consecutive_failures: 6,
                ..SourceMemory::default()
            },
        );
        assert!(metrics.render().contains("source=\"gone\""));
        metrics.retain_sources(&["kept"].into_iter().collect());
        let text = metrics.render();
        assert!(!text.contains("source=\"gone\""), "{text}");
        assert!(
            text.contains("herald_fetches_total{source=\"kept\",status=\"ok\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn only_rounds_stuck_behind_their_predecessor_do_not_count_as_progress() {
        let metrics = Metrics::new();
        metrics.set_expected_interval(Some(Duration::from_secs(60)));
        metrics.record_round(&report(&[("a", FetchStatus::Skipped, 0)], 0, 1));
        let health = metrics.health();
        assert!(
            health
                .reason
                .contains("1 round(s) finished but every source in them was still busy"),
            "all stuck is no progress, and says so: {health:?}"
        );
        let mut polite = report(&[("a", FetchStatus::Skipped, 0)], 0, 1);
        polite.sources[0].skip = Some(SkipReason::NotDue {
            until: chrono::Utc::now(),
            why: "ttl 30 min".into(),
        });
        metrics.record_round(&polite);
        let health = metrics.health();
        assert!(
            health.reason.contains("the last round finished"),
            "a polite skip is progress: {health:?}"
        );
    }
}
