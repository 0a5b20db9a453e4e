//! `herald run` as systemd runs it: the real binary, real signals, and the
//! sd_notify protocol on a socket the test listens to. Readiness and round
//! completion are taken from `READY=1` and `STATUS=` messages, never guessed
//! with a sleep.

mod common;

use std::time::{Duration, Instant};

use common::daemon::{Daemon, PATIENCE, eventually};
use common::*;
use nix::sys::signal::Signal;
use rusqlite::OptionalExtension as _;

/// One number from the database; a query that fails fails the test (it
/// must never read as 0 and let "nothing left open" pass by accident).
fn count(env: &TestEnv, sql: &str) -> i64 {
    env.db()
        .query_row(sql, [], |r| r.get::<_, Option<i64>>(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or(0)
}

const EVERY_SECOND: &str = "schedule = \"* * * * * *\"";
const YEARLY: &str = "schedule = \"0 0 1 1 *\"";

#[tokio::test]
async fn rounds_fire_on_schedule() {
    let server = MockServer::start().await.expect("mock server");
    serve_feed(&server, "/a.xml", 2, Duration::ZERO);
    let env = TestEnv::new(&config(
        &format!("{EVERY_SECOND}\nrun_on_start = false"),
        &[feed_source("a", &server.url("/a.xml"))],
    ));
    let started = Instant::now();
    let mut daemon = Daemon::start(&env).await;
    daemon.wait_rounds(3).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "3 rounds of an every-second schedule took {:?}",
        started.elapsed()
    );
    assert!(
        count(
            &env,
            "SELECT count(*) FROM rounds WHERE finished_at IS NOT NULL"
        ) >= 3
    );
    assert_eq!(
        count(
            &env,
            "SELECT count(*) FROM rounds WHERE trigger LIKE '* * * * * * (%)'"
        ),
        count(&env, "SELECT count(*) FROM rounds"),
        "no start-up round when run_on_start = false"
    );
    daemon.signal(Signal::SIGTERM);
    assert!(daemon.wait_exit(PATIENCE).await.success());
}

#[tokio::test]
async fn sigterm_mid_round_keeps_what_was_fetched_and_exits_within_grace() {
    let server = MockServer::start().await.expect("mock server");
    serve_feed(&server, "/fast.xml", 6, Duration::ZERO);
    serve_feed(&server, "/slow.xml", 6, Duration::from_secs(60));
    // A breaker that opens at the first failure: a cancelled fetch must not count.
    let env = TestEnv::new(&config(
        &format!(
            "{YEARLY}\nshutdown_grace = \"1s\"\nround_timeout = \"5m\"\nmax_consecutive_failures = 1"
        ),
        &[
            feed_source("fast", &server.url("/fast.xml")),
            feed_source("slow", &server.url("/slow.xml")),
        ],
    ));
    let mut daemon = Daemon::start(&env).await;
    eventually("the fast source's articles are committed", || {
        count(&env, "SELECT count(*) FROM articles WHERE source = 'fast'") == 6
    })
    .await;
    assert_eq!(server.hits("/slow.xml"), 1, "the slow fetch is in flight");

    let signalled = Instant::now();
    daemon.signal(Signal::SIGTERM);
    let status = daemon.wait_exit(Duration::from_secs(10)).await;
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(0), "{}", daemon.log());
    assert!(
        took < Duration::from_secs(2),
        "exit took {took:?}, grace is 1s"
    );
    assert!(daemon.all_messages().iter().any(|m| m == "STOPPING=1"));

    assert_eq!(count(&env, "SELECT count(*) FROM articles"), 6);
    let slow: (String, String) = env
        .db()
        .query_row(
            "SELECT status, error FROM fetches WHERE source = 'slow'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the cancelled fetch is recorded");
    assert_eq!(
        slow,
        (
            "timeout".to_owned(),
            "cancelled: the shutdown grace period ended".to_owned()
        )
    );
    assert_eq!(
        count(
            &env,
            "SELECT count(*) FROM rounds WHERE finished_at IS NULL"
        ),
        0,
        "the round was closed"
    );
    let (failures, paused, last_status): (i64, Option<String>, Option<String>) = env
        .db()
        .query_row(
            "SELECT consecutive_failures, paused_until, last_status FROM sources WHERE name = 'slow'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .expect("the sources query runs")
        .unwrap_or((0, None, None));
    assert_eq!(
        (failures, paused, last_status),
        (0, None, None),
        "a fetch cut off by shutdown is neither a failure nor a success"
    );
    env.assert_integrity();
    let wal = env.dir.path().join("herald.db-wal");
    assert!(
        !wal.exists() || std::fs::metadata(&wal).expect("wal").len() == 0,
        "WAL checkpointed on exit"
    );
}

#[tokio::test]
async fn a_second_signal_exits_at_once() {
    let server = MockServer::start().await.expect("mock server");
    serve_feed(&server, "/slow.xml", 1, Duration::from_secs(60));
    let env = TestEnv::new(&config(
        &format!("{YEARLY}\nshutdown_grace = \"30s\""),
        &[feed_source("slow", &server.url("/slow.xml"))],
    ));
    let mut daemon = Daemon::start(&env).await;
    eventually("the slow fetch is in flight", || {
        server.hits("/slow.xml") == 1
    })
    .await;
    daemon.signal(Signal::SIGINT);
    daemon.wait_message(|m| m == "STOPPING=1").await;
    daemon.signal(Signal::SIGINT);
    let status = daemon.wait_exit(Duration::from_secs(5)).await;
    assert_eq!(status.code(), Some(130), "{}", daemon.log());
    env.assert_integrity();
}

#[tokio::test]
async fn sigkill_mid_round_leaves_a_sound_database() {
    let server = MockServer::start().await.expect("mock server");
    let blocks: Vec<String> = (0..30)
        .map(|i| {
            let path = format!("/f{i}.xml");
            serve_feed(&server, &path, 20, Duration::from_millis(20 * i));
            feed_source(&format!("f{i}"), &server.url(&path))
        })
        .collect();
    let env = TestEnv::new(&config(&format!("{YEARLY}\nworkers = 4"), &blocks));
    let mut daemon = Daemon::start(&env).await;
    eventually("some articles are committed", || {
        count(&env, "SELECT count(*) FROM articles") > 0
    })
    .await;
    daemon.signal(Signal::SIGKILL);
    daemon.wait_exit(PATIENCE).await;
    env.assert_integrity();
    let before = count(&env, "SELECT count(*) FROM articles");
    assert!(before < 600, "killed mid-round, not after it");
    assert_eq!(
        count(
            &env,
            "SELECT count(*) FROM rounds WHERE finished_at IS NULL"
        ),
        1,
        "the kill left its round open"
    );

    let (code, report) = env.once_json().await;
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["totals"]["ok"], 30);
    assert_eq!(count(&env, "SELECT count(*) FROM articles"), 600);
    assert_eq!(
        count(&env, "SELECT count(DISTINCT url) FROM articles"),
        600,
        "no duplicates"
    );
    assert_eq!(
        report["totals"]["seen"].as_i64(),
        Some(before),
        "what survived the kill is seen, not re-added"
    );
    assert_eq!(
        count(
            &env,
            "SELECT count(*) FROM rounds WHERE finished_at IS NULL"
        ),
        0,
        "the next start closed it"
    );
    let (interrupted, rebuilt_new): (i64, i64) = env
        .db()
        .query_row(
            "SELECT interrupted, new FROM rounds WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("round 1");
    assert_eq!(interrupted, 1, "marked interrupted");
    assert_eq!(
        rebuilt_new, before,
        "its totals rebuilt from what it committed"
    );
    env.assert_integrity();
}

#[tokio::test]
async fn a_second_writer_is_refused_and_sigusr1_is_the_way_to_fetch_now() {
    let server = MockServer::start().await.expect("mock server");
    serve_feed(&server, "/a.xml", 2, Duration::ZERO);
    let env = TestEnv::new(&config(
        &format!("{YEARLY}\nrun_on_start = false"),
        &[feed_source("a", &server.url("/a.xml"))],
    ));
    let mut daemon = Daemon::start(&env).await;
    let pid = daemon.pid();
    let db = env.db_path().display().to_string();

    let once = env.herald(&["once"]).await;
    assert_eq!(once.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&once.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains(&db)
            && stderr.contains(&format!("herald run (PID {pid})"))
            && stderr.contains("systemctl kill -s USR1 herald")
            && stderr.contains(&format!("kill -USR1 {pid}")),
        "{stderr}"
    );
    let run = env.herald(&["run"]).await;
    assert_eq!(run.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains(&db) && stderr.contains("stop it first"),
        "{stderr}"
    );
    assert_eq!(
        server.hits("/a.xml"),
        0,
        "neither second writer fetched anything"
    );
    let read = env.herald(&["latest"]).await;
    assert_eq!(read.status.code(), Some(0), "read commands take no lock");

    daemon.signal(Signal::SIGUSR1);
    daemon.wait_rounds(1).await;
    assert_eq!(server.hits("/a.xml"), 1);
    assert_eq!(
        count(&env, "SELECT count(*) FROM rounds WHERE trigger = 'now'"),
        1
    );
    daemon.signal(Signal::SIGTERM);
    assert!(daemon.wait_exit(PATIENCE).await.success());
}

#[tokio::test]
async fn sighup_adds_a_source_and_a_broken_config_changes_nothing() {
    let server = MockServer::start().await.expect("mock server");
    serve_feed(&server, "/a.xml", 2, Duration::ZERO);
    serve_feed(&server, "/b.xml", 3, Duration::ZERO);
    let a = feed_source("a", &server.url("/a.xml"));
    let b = feed_source("b", &server.url("/b.xml"));
    let env = TestEnv::new(&config(EVERY_SECOND, std::slice::from_ref(&a)));
    let mut daemon = Daemon::start(&env).await;
    daemon.wait_rounds(1).await;
    assert_eq!(server.hits("/b.xml"), 0);

    env.rewrite(&config(EVERY_SECOND, &[a.clone(), b]));
    daemon.signal(Signal::SIGHUP);
    eventually("the added source is fetched", || server.hits("/b.xml") >= 1).await;
    eventually("its articles are stored", || {
        count(&env, "SELECT count(*) FROM articles WHERE source = 'b'") == 3
    })
    .await;
    assert!(
        daemon.log().contains("config reloaded: +1 source (b)"),
        "{}",
        daemon.log()
    );

    env.rewrite(&format!(
        "{}\n[daemon]\nworkrs = 3\n",
        config(EVERY_SECOND, &[a])
    ));
    let hits_b = server.hits("/b.xml");
    daemon.signal(Signal::SIGHUP);
    eventually("the refusal is logged", || {
        daemon.log().contains("reload refused")
    })
    .await;
    let hits_a = server.hits("/a.xml");
    eventually("the old sources are still fetched", || {
        server.hits("/a.xml") >= hits_a + 2
    })
    .await;
    assert!(
        server.hits("/b.xml") > hits_b,
        "b is still configured: the broken file was ignored"
    );
    let log = daemon.log();
    assert!(
        log.contains("keeping the running config (2 sources)"),
        "{log}"
    );
    assert!(
        log.contains(&env.config.display().to_string()),
        "the error names the file: {log}"
    );
    daemon.signal(Signal::SIGTERM);
    assert!(daemon.wait_exit(PATIENCE).await.success());
}

#[tokio::test]
async fn a_slow_source_is_never_fetched_twice_at_once() {
    let server = MockServer::start().await.expect("mock server");
    serve_feed(&server, "/slow.xml", 1, Duration::from_millis(2500));
    let env = TestEnv::new(&config(
        EVERY_SECOND,
        &[feed_source("slow", &server.url("/slow.xml"))],
    ));
    let mut daemon = Daemon::start(&env).await;
    // Let the schedule fire several times while the first fetch is running.
    eventually("a tick found the source busy", || {
        count(
            &env,
            "SELECT count(*) FROM fetches WHERE status = 'skipped'",
        ) >= 2
    })
    .await;
    daemon
        .wait_message(|m| m.starts_with("STATUS=last") && m.contains("1/1 ok"))
        .await;
    daemon.signal(Signal::SIGTERM);
    assert!(daemon.wait_exit(PATIENCE).await.success());
    assert_eq!(
        server.max_in_flight(),
        1,
        "overlapping fetches of one source"
    );
    let skipped_error: String = env
        .db()
        .query_row(
            "SELECT error FROM fetches WHERE status = 'skipped' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .expect("skipped row");
    assert_eq!(skipped_error, "previous round still running");
    assert!(
        count(&env, "SELECT sum(skipped) FROM rounds") >= 2,
        "skips are counted in the rounds table"
    );
}

#[tokio::test]
async fn the_log_file_has_round_lines_in_text_and_json() {
    for format in ["text", "json"] {
        let server = MockServer::start().await.expect("mock server");
        serve_feed(&server, "/ok.xml", 4, Duration::ZERO);
        server.route("/down.xml", MockResponse::status(502));
        let env = TestEnv::new(&format!(
            "[log]\ndir = \"logs\"\nrotation = \"never\"\nformat = \"{format}\"\n{}",
            config(
                YEARLY,
                &[
                    feed_source("ok", &server.url("/ok.xml")),
                    feed_source("down", &server.url("/down.xml"))
                ]
            )
        ));
        let mut daemon = Daemon::start(&env).await;
        daemon.wait_rounds(1).await;
        daemon.signal(Signal::SIGTERM);
        assert!(daemon.wait_exit(PATIENCE).await.success());

        let text = std::fs::read_to_string(env.dir.path().join("logs/herald.log"))
            .expect("log file exists");
        let lines: Vec<&str> = text.lines().collect();
        let want = [
            "herald started",
            "source failed",
            "round 1: 1/2 ok, 1 failed, 4 new",
            "stopped cleanly",
        ];
        for w in want {
            assert!(
                lines.iter().any(|l| l.contains(w)),
                "{format}: no line with {w:?} in:\n{text}"
            );
        }
        let failure = lines
            .iter()
            .find(|l| l.contains("source failed"))
            .expect("failure line");
        assert!(
            failure.contains("down") && failure.contains("HTTP 502 Bad Gateway"),
            "{failure}"
        );
        if format == "json" {
            for line in &lines {
                let value: serde_json::Value =
                    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                assert!(
                    value["timestamp"].is_string() && value["level"].is_string(),
                    "{line}"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_round_that_skips_everything_politely_logs_one_line() {
    let server = MockServer::start().await.expect("mock server");
    let sources: Vec<String> = (0..30)
        .map(|i| {
            let path = format!("/cached{i}.xml");
            server.route(
                &path,
                MockResponse::ok("application/rss+xml", rss_feed(&path, 1))
                    .header("cache-control", "max-age=3600"),
            );
            feed_source(&format!("cached{i}"), &server.url(&path))
        })
        .collect();
    let env = TestEnv::new(&format!(
        "[log]\ndir = \"logs\"\nrotation = \"never\"\n{}",
        config(EVERY_SECOND, &sources)
    ));
    let mut daemon = Daemon::start(&env).await;
    daemon.wait_rounds(3).await;
    daemon.signal(Signal::SIGTERM);
    assert!(daemon.wait_exit(PATIENCE).await.success());
    let text = std::fs::read_to_string(env.dir.path().join("logs/herald.log")).expect("log file");
    for round in [2, 3] {
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(&format!("round_id={round}")))
            .collect();
        assert_eq!(lines.len(), 1, "round {round}: {lines:#?}");
        assert!(
            lines[0].contains(&format!(
                "round {round}: 0/30 ok, 0 failed, 30 skipped (30 not due), 0 new"
            )),
            "{}",
            lines[0]
        );
    }
}

/// A loopback port free right now, for a listener the daemon will bind.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.expect("the listener answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("text body"))
}

/// Parses Prometheus text: every sample line is `name{labels} value` with a
/// number, and every family has HELP and TYPE lines before its samples.
fn samples(text: &str) -> std::collections::BTreeMap<String, f64> {
    let mut typed = std::collections::HashSet::new();
    let mut out = std::collections::BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().expect("family name");
            let kind = parts.next().expect("family type");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            typed.insert(name.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("name and value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("number in {line}"));
        let name = series.split('{').next().expect("name");
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "metric name {name}"
        );
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix).filter(|f| typed.contains(*f)))
            .unwrap_or(name);
        assert!(typed.contains(family), "TYPE before samples of {name}");
        out.insert(series.to_owned(), value);
    }
    out
}

#[tokio::test]
async fn metrics_counters_match_the_tables_and_healthz_reports_ok() {
    let server = MockServer::start().await.expect("mock server");
    server.route(
        "/a.xml",
        MockResponse::ok("application/rss+xml", rss_feed("a", 3)).header("etag", "\"v1\""),
    );
    server.route("/down.xml", MockResponse::status(500));
    let port = free_port();
    let metrics = format!("\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n");
    let sources = [
        feed_source("a", &server.url("/a.xml")),
        feed_source("down", &server.url("/down.xml")),
    ];
    let env = TestEnv::new(&config(&format!("{EVERY_SECOND}{metrics}"), &sources));
    let mut daemon = Daemon::start(&env).await;
    daemon.wait_rounds(3).await;
    // Stop the rounds (a yearly schedule), then the counters must settle on
    // exactly what the tables hold.
    env.rewrite(&config(&format!("{YEARLY}{metrics}"), &sources));
    daemon.signal(Signal::SIGHUP);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (status, text) = get(&format!("http://127.0.0.1:{port}/metrics")).await;
        assert_eq!(status, 200);
        let found = samples(&text);
        let mut expected = std::collections::BTreeMap::new();
        expected.insert(
            "herald_rounds_total".to_owned(),
            count(
                &env,
                "SELECT count(*) FROM rounds WHERE finished_at IS NOT NULL",
            ) as f64,
        );
        expected.insert(
            "herald_articles_stored_total".to_owned(),
            count(&env, "SELECT count(*) FROM articles") as f64,
        );
        let db = env.db();
        let mut statement = db
            .prepare("SELECT source, status, count(*) FROM fetches GROUP BY source, status")
            .expect("query");
        let rows = statement
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .expect("rows");
        for row in rows {
            let (source, status, n) = row.expect("row");
            expected.insert(
                format!("herald_fetches_total{{source=\"{source}\",status=\"{status}\"}}"),
                n as f64,
            );
        }
        let fetch_series = found
            .keys()
            .filter(|k| k.starts_with("herald_fetches_total{"))
            .count();
        let settled = fetch_series + 2 == expected.len()
            && expected.iter().all(|(k, v)| found.get(k) == Some(v));
        if settled {
            assert!(found["herald_rounds_total"] >= 3.0);
            assert_eq!(
                found["herald_source_consecutive_failures{source=\"down\"}"],
                count(
                    &env,
                    "SELECT consecutive_failures FROM sources WHERE name = 'down'"
                ) as f64
            );
            assert!(
                found["herald_source_not_modified_ratio{source=\"a\"}"] > 0.0,
                "the etag made later fetches 304s"
            );
            assert!(found["herald_source_conditional_get_bytes_saved_total{source=\"a\"}"] > 0.0);
            assert!(found["herald_last_successful_round_timestamp_seconds"] > 1.7e9);
            assert_eq!(found["herald_fetches_in_flight"], 0.0);
            assert_eq!(
                found["herald_round_duration_seconds_count"],
                found["herald_rounds_total"]
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "metrics never matched the tables:\nexpected {expected:#?}\nfound {found:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = get(&format!("http://127.0.0.1:{port}/healthz")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("ok: the last round finished"), "{body}");

    daemon.signal(Signal::SIGTERM);
    assert!(daemon.wait_exit(PATIENCE).await.success());
    assert!(
        reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
            .await
            .is_err(),
        "the listener shuts down with the daemon"
    );
}

#[tokio::test]
async fn healthz_turns_503_when_rounds_stop_finishing() {
    let server = MockServer::start().await.expect("mock server");
    // Answers once, then hangs past the test: every later round is stuck.
    server.route_sequence(
        "/a.xml",
        vec![
            MockResponse::ok("application/rss+xml", rss_feed("a", 2)),
            MockResponse::ok("application/rss+xml", rss_feed("a", 2))
                .delayed(Duration::from_secs(120)),
        ],
    );
    let port = free_port();
    let env = TestEnv::new(&config(
        &format!(
            "{EVERY_SECOND}\nrun_on_start = false\nround_timeout = \"100s\"\nshutdown_grace = \"100ms\"\n[http]\ntimeout = \"100s\"\nretries = 0\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n"
        ),
        &[feed_source("a", &server.url("/a.xml"))],
    ));
    let mut daemon = Daemon::start(&env).await;
    daemon.wait_rounds(1).await;
    let url = format!("http://127.0.0.1:{port}/healthz");
    let deadline = Instant::now() + PATIENCE;
    let body = loop {
        let (status, body) = get(&url).await;
        if status == 503 {
            break body;
        }
        assert_eq!(status, 200, "{body}");
        assert!(Instant::now() < deadline, "never turned unhealthy: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        body.starts_with("unhealthy: the last round finished")
            && body.contains("rounds are due every 1s (allowed: 2s)"),
        "{body}"
    );
    assert!(
        server.hits("/a.xml") >= 2,
        "the second fetch is the one hanging"
    );
    daemon.signal(Signal::SIGTERM);
    assert!(daemon.wait_exit(PATIENCE).await.success());
}

#[tokio::test]
async fn a_state_change_is_posted_to_the_webhook_once_with_retries() {
    let server = MockServer::start().await.expect("mock server");
    let feed = MockResponse::ok("application/rss+xml", rss_feed("f", 2));
    // ok, then failing: one alert (ok → degraded), then nothing more while it keeps failing.
    server.route_sequence("/f.xml", vec![feed, MockResponse::status(500)]);
    // The webhook fails once (retried), then accepts.
    server.route_sequence(
        "/hook",
        vec![MockResponse::status(502), MockResponse::status(204)],
    );
    let env = TestEnv::new(&config(
        &format!(
            // A high breaker threshold: no second change (degraded → paused)
            // however slowly the machine runs the rounds.
            "{EVERY_SECOND}\nmax_consecutive_failures = 1000\n[http]\nbackoff_initial = \"10ms\"\n[alerts]\nwebhook = \"{}\"\n",
            server.url("/hook?token=s3cret")
        ),
        &[feed_source("f", &server.url("/f.xml"))],
    ));
    let mut daemon = Daemon::start(&env).await;
    eventually("the alert is delivered after a retry", || {
        server.hits("/hook") >= 2
    })
    .await;
    daemon.wait_rounds(4).await;
    let posts: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path == "/hook")
        .collect();
    assert_eq!(
        posts.len(),
        2,
        "one alert, one retry; no repeat while still degraded"
    );
    let alert: serde_json::Value = serde_json::from_slice(&posts[1].body).expect("JSON alert");
    assert_eq!(alert["source"], "f");
    assert_eq!(alert["old_state"], "ok");
    assert_eq!(alert["new_state"], "degraded");
    assert_eq!(alert["reason"], "HTTP 500 Internal Server Error");
    assert!(alert["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(
        posts[0].body, posts[1].body,
        "the retry sends the same message"
    );
    daemon.signal(Signal::SIGTERM);
    assert!(daemon.wait_exit(PATIENCE).await.success());
    let log = daemon.log();
    assert!(log.contains("source state changed"), "{log}");
    assert!(
        !log.contains("s3cret"),
        "the webhook's token never reaches the log"
    );
}

/// The daemon indexes a round's articles for search once its writer is
/// idle, without waiting for the next round or for shutdown.
#[tokio::test]
async fn a_rounds_articles_become_searchable_while_the_daemon_idles() {
    let server = MockServer::start().await.expect("mock server");
    serve_feed(&server, "/a.xml", 5, Duration::ZERO);
    let env = TestEnv::new(&config(YEARLY, &[feed_source("a", &server.url("/a.xml"))]));
    let mut daemon = Daemon::start(&env).await;
    daemon.wait_rounds(1).await;
    assert_eq!(count(&env, "SELECT count(*) FROM articles"), 5);
    eventually("the round's articles in the search index", || {
        count(
            &env,
            "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH 'story'",
        ) == 5
    })
    .await;
    assert_eq!(
        count(&env, "SELECT indexed_through FROM search_index"),
        count(&env, "SELECT max(id) FROM articles")
    );
    daemon.signal(Signal::SIGTERM);
    assert!(daemon.wait_exit(PATIENCE).await.success());
}

#[tokio::test]
async fn a_source_added_by_reload_is_fetched_at_once_not_at_its_next_tick() {
    let server = MockServer::start().await.expect("mock server");
    serve_feed(&server, "/a.xml", 1, Duration::ZERO);
    serve_feed(&server, "/b.xml", 2, Duration::ZERO);
    let a = feed_source("a", &server.url("/a.xml"));
    let b = feed_source("b", &server.url("/b.xml"));
    // A yearly schedule: without the reload round, b would wait months.
    let env = TestEnv::new(&config(YEARLY, std::slice::from_ref(&a)));
    let mut daemon = Daemon::start(&env).await;
    daemon.wait_rounds(1).await;
    env.rewrite(&config(YEARLY, &[a, b]));
    daemon.signal(Signal::SIGHUP);
    daemon.wait_rounds(2).await;
    assert_eq!(server.hits("/b.xml"), 1, "{}", daemon.log());
    assert_eq!(server.hits("/a.xml"), 1, "only the new source is fetched");
    assert_eq!(
        count(&env, "SELECT count(*) FROM rounds WHERE trigger = 'reload'"),
        1
    );
    assert!(
        daemon.log().contains("config reloaded: +1 source (b)"),
        "{}",
        daemon.log()
    );
    daemon.signal(Signal::SIGTERM);
    assert!(daemon.wait_exit(PATIENCE).await.success());
}

#[tokio::test]
async fn spread_starts_each_source_at_its_own_stable_offset() {
    let server = MockServer::start().await.expect("mock server");
    let names: Vec<String> = (0..8).map(|i| format!("s{i}")).collect();
    let sources: Vec<String> = names
        .iter()
        .map(|name| {
            let path = format!("/{name}.xml");
            serve_feed(&server, &path, 1, Duration::ZERO);
            feed_source(name, &server.url(&path))
        })
        .collect();
    let window = Duration::from_secs(3);
    let env = TestEnv::new(&config(
        "schedule = \"*/5 * * * * *\"\nrun_on_start = false\nspread = \"3s\"",
        &sources,
    ));
    let mut daemon = Daemon::start(&env).await;
    daemon.wait_rounds(1).await;
    daemon.signal(Signal::SIGTERM);
    assert!(daemon.wait_exit(PATIENCE).await.success());

    // Each source's first request, against its offset within the window:
    // the gaps between requests are the gaps between offsets.
    let requests = server.requests();
    let first = |name: &str| {
        requests
            .iter()
            .find(|r| r.path == format!("/{name}.xml"))
            .map(|r| r.received_at)
            .unwrap_or_else(|| panic!("{name} was fetched"))
    };
    let offsets: Vec<Duration> = names
        .iter()
        .map(|name| herald::model::schedule::spread_offset(name, window))
        .collect();
    let earliest = (0..names.len())
        .min_by_key(|&i| offsets[i])
        .expect("sources");
    for (i, name) in names.iter().enumerate() {
        let seen = first(name).duration_since(first(&names[earliest]));
        let planned = offsets[i] - offsets[earliest];
        let error = seen.abs_diff(planned);
        assert!(
            error < Duration::from_millis(300),
            "{name}: planned +{planned:?}, came +{seen:?}"
        );
    }
    let span = offsets.iter().max().copied().unwrap_or_default() - offsets[earliest];
    assert!(
        span > Duration::from_secs(1),
        "offsets {offsets:?} spread out"
    );
}

#[tokio::test]
async fn the_aggregate_is_served_as_feeds_real_readers_accept() {
    let server = MockServer::start().await.expect("mock server");
    serve_feed(&server, "/alpha.xml", 3, Duration::ZERO);
    // An item without a date: its JSON Feed item must not invent one.
    server.route(
        "/beta.xml",
        MockResponse::ok(
            "application/rss+xml",
            "<rss version=\"2.0\"><channel><title>b</title><item><title>Undated &amp; fine</title>\
             <link>https://beta.example/undated</link></item></channel></rss>",
        ),
    );
    let port = free_port();
    let env = TestEnv::new(&format!(
        "{}\n[server]\nlisten = \"127.0.0.1:{port}\"\n",
        config(
            YEARLY,
            &[
                format!(
                    "{}tags = [\"tech\"]\n",
                    feed_source("alpha", &server.url("/alpha.xml"))
                ),
                format!(
                    "{}tags = [\"news\"]\n",
                    feed_source("beta", &server.url("/beta.xml"))
                ),
            ],
        )
    ));
    let mut daemon = Daemon::start(&env).await;
    daemon.wait_rounds(1).await;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("{base}{path}")).send();

    let atom = get("/feed.atom").await.expect("atom");
    assert_eq!(atom.status(), 200);
    let etag = atom.headers()["etag"].to_str().expect("etag").to_owned();
    assert!(atom.headers().contains_key("last-modified"));
    assert!(
        atom.headers()["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("application/atom+xml"))
    );
    let text = atom.text().await.expect("body");
    assert!(
        text.contains(&format!(
            "<link rel=\"self\" type=\"application/atom+xml\" href=\"{base}/feed.atom\"/>"
        )),
        "{text}"
    );
    assert!(text.contains("<id>urn:herald:feed:all</id>"), "{text}");
    assert_eq!(text.matches("<entry>").count(), 4);

    // The same document again, conditionally: 304 and no body.
    let again = client
        .get(format!("{base}/feed.atom"))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("conditional");
    assert_eq!(again.status(), 304);
    assert!(again.bytes().await.expect("body").is_empty());

    // A selection is another feed, with its own id and self link.
    let tech = get("/feed.atom?tag=tech")
        .await
        .expect("tech")
        .text()
        .await
        .expect("body");
    assert!(tech.contains("<id>urn:herald:feed:tag=tech</id>"), "{tech}");
    assert_eq!(tech.matches("<entry>").count(), 3);
    let json: serde_json::Value = serde_json::from_str(
        &get("/feed.json?source=beta")
            .await
            .expect("json")
            .text()
            .await
            .expect("body"),
    )
    .expect("json feed");
    assert_eq!(json["feed_url"], format!("{base}/feed.json?source=beta"));
    assert_eq!(json["home_page_url"], format!("{base}/"));
    let items = json["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert!(
        items[0].get("date_published").is_none(),
        "an unknown date is not invented: {json:#}"
    );
    let opml = get("/feed.opml")
        .await
        .expect("opml")
        .text()
        .await
        .expect("body");
    assert!(
        opml.contains(&format!("xmlUrl=\"{base}/feed.atom?source=alpha\"")),
        "{opml}"
    );
    assert!(
        opml.contains("<outline text=\"news\" title=\"news\">"),
        "grouped by tag: {opml}"
    );
    assert_eq!(
        get("/feed.atom?source=nope").await.expect("404").status(),
        404
    );
    assert_eq!(get("/feed.atom?n=0").await.expect("400").status(), 400);

    // Real readers: Python's feedparser and newsboat.
    let script = format!(
        "import feedparser, sys\n\
         d = feedparser.parse('{base}/feed.atom')\n\
         assert not d.bozo, d.bozo_exception\n\
         assert len(d.entries) == 4, len(d.entries)\n\
         assert any(l.rel == 'self' for l in d.feed.links)\n\
         assert d.feed.id == 'urn:herald:feed:all'\n\
         print('feedparser ok', len(d.entries))\n"
    );
    let python = tokio::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .await
        .expect("python3 runs (CI installs python3-feedparser)");
    assert!(
        python.status.success(),
        "feedparser: {}{}",
        String::from_utf8_lossy(&python.stdout),
        String::from_utf8_lossy(&python.stderr)
    );
    let urls = env.dir.path().join("newsboat-urls");
    std::fs::write(
        &urls,
        format!("{base}/feed.atom\n{base}/feed.atom?tag=news\n"),
    )
    .expect("urls");
    let newsboat = tokio::process::Command::new("newsboat")
        .arg("-u")
        .arg(&urls)
        .arg("-c")
        .arg(env.dir.path().join("newsboat-cache.db"))
        .arg("-C")
        .arg("/dev/null")
        .args(["-x", "reload", "print-unread"])
        .env("HOME", env.dir.path())
        .output()
        .await
        .expect("newsboat runs (CI installs it)");
    let said = String::from_utf8_lossy(&newsboat.stdout);
    assert!(
        newsboat.status.success(),
        "newsboat: {said}{}",
        String::from_utf8_lossy(&newsboat.stderr)
    );
    // 4 entries, and the news feed's one again: newsboat keys articles by
    // their id, which herald keeps the same in every feed it serves.
    assert!(said.contains("4 unread articles"), "{said}");

    daemon.signal(Signal::SIGTERM);
    assert!(daemon.wait_exit(PATIENCE).await.success());
}

#[tokio::test]
async fn keyword_alerts_announce_each_match_once_even_across_a_restart() {
    let server = MockServer::start().await.expect("mock server");
    let item = |title: &str, n: usize| {
        format!("<item><title>{title}</title><link>https://k.example/{n}</link></item>")
    };
    let feed = |items: &[String]| {
        MockResponse::ok(
            "application/rss+xml",
            format!(
                "<rss version=\"2.0\"><channel><title>k</title>{}</channel></rss>",
                items.concat()
            ),
        )
    };
    let first = [
        item("Rust 1.96 released", 1),
        item("Weather", 2),
        item("Cargo tips", 3),
    ];
    server.route("/k.xml", feed(&first));
    server.route("/hook", MockResponse::ok("text/plain", "ok"));
    server.route("/slack", MockResponse::ok("text/plain", "ok"));
    let rules = format!(
        "\n[[notify]]\nname = \"rusty\"\nmatch = [\"rust\", \"cargo\"]\nsources = [\"k\"]\nwebhook = \"{}\"\n\
         \n[[notify]]\nname = \"chat\"\nmatch = [\"weather\"]\ntags = [\"misc\"]\nwebhook = \"{}\"\nformat = \"slack\"\n",
        server.url("/hook"),
        server.url("/slack")
    );
    let env = TestEnv::new(&format!(
        "{}{rules}",
        config(
            YEARLY,
            &[format!(
                "{}tags = [\"misc\"]\n",
                feed_source("k", &server.url("/k.xml"))
            )]
        )
    ));
    let bodies = |path: &str| -> Vec<serde_json::Value> {
        server
            .requests()
            .into_iter()
            .filter(|r| r.path == path)
            .map(|r| serde_json::from_slice(&r.body).expect("json body"))
            .collect()
    };
    let mut daemon = Daemon::start(&env).await;
    daemon.wait_rounds(1).await;
    eventually("the batch is delivered", || server.hits("/hook") == 1).await;
    eventually("the slack batch is delivered", || {
        server.hits("/slack") == 1
    })
    .await;
    let batch = &bodies("/hook")[0];
    assert_eq!(batch["rule"], "rusty");
    let titles: Vec<&str> = batch["articles"]
        .as_array()
        .expect("articles")
        .iter()
        .filter_map(|a| a["title"].as_str())
        .collect();
    assert_eq!(
        titles,
        ["Rust 1.96 released", "Cargo tips"],
        "in order: {batch:#}"
    );
    assert_eq!(batch["articles"][0]["tags"], serde_json::json!(["misc"]));
    assert_eq!(batch["articles"][0]["source"], "k");
    let slack = &bodies("/slack")[0];
    assert_eq!(
        slack["text"],
        "*chat*: 1 new article\n• <https://k.example/2|Weather> (k)"
    );
    daemon.signal(Signal::SIGTERM);
    assert!(daemon.wait_exit(PATIENCE).await.success());

    // A restart re-reads the same feed plus one new match: only the new
    // one is announced.
    let mut second = first.to_vec();
    second.push(item("Rust 1.97 released", 4));
    server.route("/k.xml", feed(&second));
    drop(daemon);
    std::fs::remove_file(env.dir.path().join("notify.sock")).expect("old socket");
    let mut daemon = Daemon::start(&env).await;
    // Round ids go on from the first run's.
    daemon
        .wait_message(|m| m.starts_with("STATUS=last round "))
        .await;
    eventually("the second batch is delivered", || {
        server.hits("/hook") == 2
    })
    .await;
    let batch = &bodies("/hook")[1];
    let titles: Vec<&str> = batch["articles"]
        .as_array()
        .expect("articles")
        .iter()
        .filter_map(|a| a["title"].as_str())
        .collect();
    assert_eq!(titles, ["Rust 1.97 released"]);
    daemon.signal(Signal::SIGTERM);
    assert!(daemon.wait_exit(PATIENCE).await.success());
    assert_eq!(server.hits("/slack"), 1, "nothing new for the other rule");
    let log = daemon.log();
    assert!(
        !log.contains(&server.url("/hook")),
        "the webhook URL is never logged:\n{log}"
    );
    assert_eq!(
        count(&env, "SELECT count(*) FROM notified WHERE rule = 'rusty'"),
        3
    );
}

/// The daemon on either store: scheduled rounds store what the sources
/// serve, state reaches `sources`, the served feeds read it back, a
/// SIGHUP adds a source, and SIGTERM ends it cleanly.
async fn the_daemon_runs_rounds_serves_feeds_and_reloads(store: common::store::Store) {
    let server = MockServer::start().await.expect("mock server");
    serve_feed(&server, "/a.xml", 2, Duration::ZERO);
    serve_feed(&server, "/b.xml", 3, Duration::ZERO);
    let port = free_port();
    let text = |sources: &[String]| {
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n\n{}",
            config(
                &format!("{}\n{EVERY_SECOND}", store.database_line()),
                sources
            )
        )
    };
    let a = feed_source("a", &server.url("/a.xml"));
    let env = TestEnv::new(&text(std::slice::from_ref(&a)));
    let mut daemon = Daemon::start(&env).await;
    eventually("a's feed is fetched twice", || server.hits("/a.xml") >= 2).await;
    let (status, body) = get(&format!("http://127.0.0.1:{port}/feed.json")).await;
    assert_eq!(status, 200, "{body}");
    let feed: serde_json::Value = serde_json::from_str(&body).expect("JSON Feed");
    assert_eq!(feed["items"].as_array().map(Vec::len), Some(2), "{feed:#}");

    env.rewrite(&text(&[a, feed_source("b", &server.url("/b.xml"))]));
    daemon.signal(Signal::SIGHUP);
    eventually("the added source is fetched", || server.hits("/b.xml") >= 1).await;
    daemon.signal(Signal::SIGTERM);
    assert!(
        daemon.wait_exit(PATIENCE).await.success(),
        "{}",
        daemon.log()
    );

    let sources = env.herald(&["sources", "--format", "json"]).await;
    let sources: serde_json::Value = serde_json::from_slice(&sources.stdout).expect("JSON");
    let articles = |name: &str| {
        sources
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["name"] == name))
            .map(|r| r["state"]["articles"].clone())
    };
    assert_eq!(articles("a"), Some(2.into()));
    assert_eq!(articles("b"), Some(3.into()));
    let stats = env.herald(&["stats", "--format", "json"]).await;
    let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).expect("JSON");
    let rounds = stats["rounds"].as_array().expect("rounds");
    assert!(rounds.len() >= 2, "{stats:#}");
    assert!(
        rounds.iter().all(|r| r["interrupted"] == false),
        "a clean stop leaves no round open: {stats:#}"
    );
}

on_both_stores!(the_daemon_runs_rounds_serves_feeds_and_reloads);
