//! Politeness and resilience: retries, Retry-After, conditional GET, the
//! per-host cap, redirects, and hostile responses. Each hostile input must
//! fail only its own source, with a clear reason, in bounded memory.

mod common;

use std::io::Write as _;
use std::time::{Duration, Instant};

use common::*;

fn http(lines: &str) -> String {
    format!("[http]\n{lines}\n")
}

fn times(server: &MockServer, path: &str) -> Vec<Instant> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.path == path)
        .map(|r| r.received_at)
        .collect()
}

#[tokio::test]
async fn transient_failures_are_retried_with_growing_gaps_and_404_is_not() {
    let server = MockServer::start().await.expect("mock server");
    server.route_sequence(
        "/flaky.xml",
        vec![
            MockResponse::status(503),
            MockResponse::status(503),
            MockResponse::ok("application/rss+xml", rss_feed("flaky", 3)),
        ],
    );
    server.route("/gone.xml", MockResponse::status(404));
    let env = TestEnv::new(&format!(
        "{}{}",
        http("retries = 3\nbackoff_initial = \"200ms\""),
        config(
            "",
            &[
                feed_source("flaky", &server.url("/flaky.xml")),
                feed_source("missing", &server.url("/gone.xml"))
            ]
        )
    ));
    let (code, report) = env.once_json().await;
    assert_eq!(code, 0, "{report:#}");
    let flaky = source_line(&report, "flaky");
    assert_eq!(
        (
            flaky["status"].as_str(),
            flaky["attempts"].as_u64(),
            flaky["new"].as_u64()
        ),
        (Some("ok"), Some(3), Some(3)),
        "{flaky}"
    );
    let at = times(&server, "/flaky.xml");
    let gaps: Vec<Duration> = at.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps[0] >= Duration::from_millis(150) && gaps[1] > gaps[0],
        "backoff grows: {gaps:?}"
    );

    let missing = source_line(&report, "missing");
    assert_eq!(
        (missing["attempts"].as_u64(), missing["error"].as_str()),
        (Some(1), Some("HTTP 404 Not Found"))
    );
    assert_eq!(server.hits("/gone.xml"), 1, "a 404 is tried once");
    let attempts: i64 = env
        .db()
        .query_row(
            "SELECT attempts FROM fetches WHERE source = 'flaky'",
            [],
            |r| r.get(0),
        )
        .expect("fetch row");
    assert_eq!(attempts, 3, "the fetches row records the attempts");
}

#[tokio::test]
async fn retry_after_is_honoured_and_capped_by_the_round_deadline() {
    let server = MockServer::start().await.expect("mock server");
    server.route_sequence(
        "/busy.xml",
        vec![
            MockResponse::status(429).header("retry-after", "1"),
            MockResponse::ok("application/rss+xml", rss_feed("busy", 2)),
        ],
    );
    server.route(
        "/later.xml",
        MockResponse::status(503).header("retry-after", "3600"),
    );
    let env = TestEnv::new(&format!(
        "{}{}",
        http("backoff_initial = \"10ms\""),
        config(
            "round_timeout = \"4s\"",
            &[
                feed_source("busy", &server.url("/busy.xml")),
                feed_source("later", &server.url("/later.xml"))
            ]
        )
    ));
    let started = Instant::now();
    let (_, report) = env.once_json().await;
    let at = times(&server, "/busy.xml");
    assert_eq!(at.len(), 2);
    assert!(
        at[1] - at[0] >= Duration::from_secs(1),
        "waited as asked: {:?}",
        at[1] - at[0]
    );
    assert_eq!(source_line(&report, "busy")["new"], 2);
    let later = source_line(&report, "later");
    assert_eq!(
        (later["attempts"].as_u64(), later["http_status"].as_u64()),
        (Some(1), Some(503)),
        "an hour's wait does not fit the round"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "never slept past the deadline: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn conditional_get_turns_an_unchanged_feed_into_a_304() {
    let server = MockServer::start().await.expect("mock server");
    server.route(
        "/feed.xml",
        MockResponse::ok("application/rss+xml", rss_feed("c", 5))
            .header("etag", "\"v1\"")
            .header("last-modified", "Sun, 22 Nov 2026 10:00:00 GMT"),
    );
    let env = TestEnv::new(&config("", &[feed_source("c", &server.url("/feed.xml"))]));
    let (_, first) = env.once_json().await;
    assert_eq!(source_line(&first, "c")["new"], 5);
    let (code, second) = env.once_json().await;
    assert_eq!(code, 0);
    let line = source_line(&second, "c");
    assert_eq!(
        (line["status"].as_str(), line["http_status"].as_u64()),
        (Some("not_modified"), Some(304)),
        "{line}"
    );
    assert_eq!(
        (line["new"].as_u64(), line["seen"].as_u64()),
        (Some(0), Some(0)),
        "nothing parsed"
    );
    let second_request = &server.requests()[1];
    let sent = |name: &str| {
        second_request
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(sent("if-none-match").as_deref(), Some("\"v1\""));
    assert_eq!(
        sent("if-modified-since").as_deref(),
        Some("Sun, 22 Nov 2026 10:00:00 GMT")
    );
    let (fetches, etag): (i64, String) = env
        .db()
        .query_row(
            "SELECT (SELECT count(*) FROM fetches), etag FROM sources WHERE name = 'c'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("state");
    assert_eq!(
        (fetches, etag.as_str()),
        (2, "\"v1\""),
        "a 304 keeps the validators"
    );
}

#[tokio::test]
async fn per_host_cap_holds_and_a_busy_host_does_not_starve_others() {
    let busy = MockServer::start().await.expect("busy host");
    let other = MockServer::start().await.expect("other host");
    let mut sources: Vec<String> = (0..20)
        .map(|i| {
            let path = format!("/f{i}.xml");
            serve_feed(&busy, &path, 1, Duration::from_millis(200));
            feed_source(&format!("busy-{i}"), &busy.url(&path))
        })
        .collect();
    serve_feed(&other, "/o.xml", 1, Duration::ZERO);
    sources.push(feed_source("other", &other.url("/o.xml")));
    let env = TestEnv::new(&format!(
        "{}{}",
        http("per_host_concurrency = 4"),
        config("workers = 20", &sources)
    ));
    let (code, report) = env.once_json().await;
    assert_eq!(
        (code, report["totals"]["ok"].as_u64()),
        (0, Some(21)),
        "{report:#}"
    );
    assert_eq!(
        busy.max_in_flight(),
        4,
        "at most per_host_concurrency requests to one host"
    );
    let other_at = other.requests()[0].received_at;
    let busy_last = busy
        .requests()
        .iter()
        .map(|r| r.received_at)
        .max()
        .expect("busy requests");
    assert!(
        other_at < busy_last,
        "the other host was served while the busy one was still queued"
    );
    // The ideal counts the cap: 20 sources through 4 slots are 5 waves of
    // the slowest fetch, not one; and the report says which cap bound it.
    let slowest = report["sources"]
        .as_array()
        .expect("lines")
        .iter()
        .filter(|l| l["name"].as_str().is_some_and(|n| n.starts_with("busy-")))
        .filter_map(|l| l["elapsed_ms"].as_u64())
        .max()
        .expect("busy lines");
    assert_eq!(report["ideal_ms"].as_u64(), Some(5 * slowest), "{report:#}");
    let bound = format!("per_host_concurrency = 4 on 127.0.0.1:{}", busy.port());
    assert_eq!(
        report["ideal_bound"].as_str(),
        Some(bound.as_str()),
        "{report:#}"
    );
}

#[tokio::test]
async fn redirects_are_checked_hop_by_hop() {
    let server = MockServer::start().await.expect("mock server");
    let other = MockServer::start().await.expect("second host");
    let moved = |to: String, status: u16| MockResponse::status(status).header("location", &to);
    server.route("/loop-a", moved(server.url("/loop-b"), 302));
    server.route("/loop-b", moved(server.url("/loop-a"), 302));
    for hop in 0..12 {
        server.route(
            &format!("/hop{hop}"),
            moved(server.url(&format!("/hop{}", hop + 1)), 302),
        );
    }
    serve_feed(&server, "/hop12", 1, Duration::ZERO);
    server.route("/ftp", moved("ftp://files.example/feed.xml".into(), 302));
    server.route("/old.xml", moved(server.url("/new.xml"), 301));
    serve_feed(&server, "/new.xml", 2, Duration::ZERO);
    // A token for one host must never be handed to another.
    server.route(
        "/repos/o/r/releases",
        moved(other.url("/repos/o/r/releases"), 302),
    );
    other.route(
        "/repos/o/r/releases",
        MockResponse::ok("application/json", "[]"),
    );
    let github = format!(
        "\n[[sources]]\nname = \"gh\"\nkind = \"github\"\nmode = \"releases\"\nrepo = \"o/r\"\nbase_url = \"{}\"\napi_key = \"tok-123456\"\n",
        server.url("/")
    );
    let env = TestEnv::new(&config(
        "",
        &[
            feed_source("loop", &server.url("/loop-a")),
            feed_source("long", &server.url("/hop0")),
            feed_source("scheme", &server.url("/ftp")),
            feed_source("moved", &server.url("/old.xml")),
            github,
        ],
    ));
    let (_, report) = env.once_json().await;
    assert_eq!(
        source_line(&report, "loop")["error"],
        "redirect refused: redirect loop"
    );
    assert_eq!(
        source_line(&report, "long")["error"],
        "redirect refused: more than 10 redirects"
    );
    assert_eq!(
        source_line(&report, "scheme")["error"],
        "redirect refused: to a ftp: URL"
    );
    assert_eq!(source_line(&report, "moved")["new"], 2);
    assert_eq!(source_line(&report, "gh")["status"], "ok");
    let auth = |s: &MockServer| {
        s.requests()
            .into_iter()
            .find(|r| r.path == "/repos/o/r/releases")
            .and_then(|r| r.headers.into_iter().find(|(k, _)| k == "authorization"))
    };
    assert!(auth(&server).is_some(), "sent to the configured host");
    assert_eq!(
        auth(&other),
        None,
        "dropped on the redirect to another host"
    );

    // The 301 is remembered: the next round goes straight to the new URL.
    let (_, second) = env.once_json().await;
    assert_eq!(source_line(&second, "moved")["seen"], 2);
    assert_eq!(server.hits("/old.xml"), 1);
    assert_eq!(server.hits("/new.xml"), 2);
    let moved_to: String = env
        .db()
        .query_row(
            "SELECT moved_to FROM sources WHERE name = 'moved'",
            [],
            |r| r.get(0),
        )
        .expect("moved_to");
    assert_eq!(moved_to, server.url("/new.xml"));
}

fn gzip_of_zeros(bytes: usize) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..bytes / chunk.len() {
        encoder.write_all(&chunk).expect("compress");
    }
    encoder.finish().expect("finish gzip")
}

fn billion_laughs() -> String {
    let mut dtd = String::from("<!DOCTYPE rss [\n<!ENTITY lol \"lol\">\n");
    for level in 1..=9 {
        let previous = if level == 1 {
            "lol".to_owned()
        } else {
            format!("lol{}", level - 1)
        };
        dtd.push_str(&format!(
            "<!ENTITY lol{level} \"{}\">\n",
            format!("&{previous};").repeat(10)
        ));
    }
    dtd.push_str("]>\n");
    format!(
        "<?xml version=\"1.0\"?>\n{dtd}<rss version=\"2.0\"><channel><title>t</title><item><title>&lol9;</title><link>https://laughs.example/1</link></item></channel></rss>"
    )
}

#[tokio::test]
async fn hostile_responses_fail_only_their_source_in_bounded_memory() {
    let server = MockServer::start().await.expect("mock server");
    serve_feed(&server, "/good.xml", 4, Duration::ZERO);
    // 200 MB of zeros, about 200 KB on the wire.
    server.route(
        "/bomb.xml",
        MockResponse::ok("application/rss+xml", gzip_of_zeros(200 << 20))
            .header("content-encoding", "gzip"),
    );
    server.route(
        "/huge.xml",
        MockResponse::ok("application/rss+xml", vec![b' '; 3 << 20]),
    );
    server.route(
        "/laughs.xml",
        MockResponse::ok("application/rss+xml", billion_laughs()),
    );
    server.route(
        "/drip.xml",
        MockResponse::ok("application/rss+xml", rss_feed("drip", 1))
            .dripping(Duration::from_millis(500)),
    );
    let long_title = "Breaking ".repeat(200);
    let messy = format!(
        "<rss version=\"2.0\"><channel><title>m</title>\
         <item><title>caf\u{e9} &lt;script&gt;alert('x')&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;</title><link>https://m.example/1</link><pubDate>Fri, 01 Jan 2100 00:00:00 GMT</pubDate></item>\
         <item><title>{long_title}</title><link>https://m.example/2</link><pubDate>the day after tomorrow</pubDate></item>\
         </channel></rss>"
    );
    // Invalid UTF-8 (a Latin-1 byte) in a document that claims UTF-8.
    let mut latin1 = messy.replace('\u{e9}', "\u{1}").into_bytes();
    if let Some(at) = latin1.iter().position(|b| *b == 1) {
        latin1[at] = 0xE9;
    }
    server.route(
        "/messy.xml",
        MockResponse::ok("application/rss+xml; charset=utf-8", latin1),
    );
    server.route(
        "/shape.json",
        MockResponse::ok("application/json", r#"{"data": {"items": "not a list"}}"#),
    );
    let json_source = format!(
        "\n[[sources]]\nname = \"shape\"\nkind = \"json\"\nurl = \"{}\"\nitems = \"/data/items\"\n",
        server.url("/shape.json")
    );
    let env = TestEnv::new(&format!(
        "{}{}",
        http("max_body_bytes = 1048576\ntimeout = \"2s\"\nretries = 0"),
        config(
            "",
            &[
                feed_source("good", &server.url("/good.xml")),
                feed_source("bomb", &server.url("/bomb.xml")),
                feed_source("huge", &server.url("/huge.xml")),
                feed_source("laughs", &server.url("/laughs.xml")),
                feed_source("drip", &server.url("/drip.xml")),
                feed_source("messy", &server.url("/messy.xml")),
                json_source,
            ],
        )
    ));
    let (code, report) = env.once_json().await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        source_line(&report, "good")["new"],
        4,
        "the good source is stored"
    );
    assert_eq!(
        source_line(&report, "bomb")["error"],
        "body exceeds max_body_bytes (1048576 bytes)"
    );
    assert_eq!(
        source_line(&report, "huge")["error"],
        "body exceeds max_body_bytes (1048576 bytes)"
    );
    assert_eq!(
        source_line(&report, "drip")["error"],
        "request timed out after 2s"
    );
    assert_eq!(
        source_line(&report, "shape")["error"],
        "unexpected shape: `items` pointer \"/data/items\" points at a string, not an array (HTTP 200)"
    );
    // Entities are never expanded: the item is kept, its title stays short.
    let laughs = source_line(&report, "laughs");
    assert_eq!(laughs["status"], "ok", "{laughs}");
    let titles: Vec<String> = env
        .db()
        .prepare("SELECT title FROM articles WHERE source = 'laughs'")
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
        .expect("titles");
    assert_eq!(titles.len(), 1, "the one item is stored: {laughs}");
    assert!(
        titles[0].len() < 100,
        "entities were not expanded: {titles:?}"
    );

    let conn = env.db();
    let messy: Vec<(String, Option<String>)> = conn
        .prepare("SELECT title, published_at FROM articles WHERE source = 'messy' ORDER BY url")
        .and_then(|mut st| st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .expect("messy rows");
    assert_eq!(
        messy[0],
        ("café bold".to_owned(), None),
        "markup and scripts stripped, Latin-1 decoded, a date in 2100 dropped"
    );
    assert_eq!(
        messy[1].0.chars().count(),
        herald::model::article::MAX_TITLE_CHARS,
        "long titles are cut"
    );
    assert!(
        messy[1].0.ends_with('…') && messy[1].1.is_none(),
        "unparseable date kept as null"
    );

    // Bounded memory, as herald measured its own peak (VmHWM).
    let peak_mb = report["peak_rss_kb"]
        .as_f64()
        .expect("peak_rss_kb reported")
        / 1024.0;
    assert!(
        peak_mb < 100.0,
        "herald's peak RSS was {peak_mb:.1} MB while refusing a 200 MB gzip bomb"
    );
}

fn state(env: &TestEnv, name: &str) -> (i64, Option<String>, Option<String>) {
    env.db()
        .query_row(
            "SELECT consecutive_failures, paused_until, gone_at FROM sources WHERE name = ?1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap_or((0, None, None))
}

#[tokio::test]
async fn the_breaker_opens_at_the_threshold_skips_and_closes_on_success() {
    let server = MockServer::start().await.expect("mock server");
    server.route_sequence(
        "/shaky.xml",
        vec![
            MockResponse::status(500),
            MockResponse::status(500),
            MockResponse::ok("application/rss+xml", rss_feed("s", 2)),
        ],
    );
    // The global 15-minute schedule: the pause cannot expire during the test
    // by accident; the test moves it into the past below instead.
    let source = feed_source("shaky", &server.url("/shaky.xml"));
    let env = TestEnv::new(&config("max_consecutive_failures = 2", &[source]));
    env.once_json().await;
    assert_eq!(state(&env, "shaky").0, 1);
    env.once_json().await;
    let (failures, paused_until, _) = state(&env, "shaky");
    assert_eq!(failures, 2);
    assert!(paused_until.is_some(), "opened at the threshold");
    let (_, report) = env.once_json().await;
    let line = source_line(&report, "shaky");
    assert_eq!(line["status"], "skipped");
    assert!(
        line["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("paused after 2 failures, next try ")),
        "{line}"
    );
    assert_eq!(server.hits("/shaky.xml"), 2, "no request while paused");

    // One schedule interval of cooldown (15 min); then the source is probed
    // again. Elapsed time is simulated where herald keeps it: in the database.
    let until =
        chrono::DateTime::parse_from_rfc3339(&paused_until.expect("paused")).expect("timestamp");
    let cooldown = until.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!(
        cooldown > chrono::Duration::minutes(14),
        "one 15-minute interval: {cooldown}"
    );
    env.db()
        .execute(
            "UPDATE sources SET paused_until = '2000-01-01T00:00:00Z' WHERE name = 'shaky'",
            [],
        )
        .expect("fast-forward the cooldown");
    let (_, report) = env.once_json().await;
    assert_eq!(source_line(&report, "shaky")["status"], "ok");
    assert_eq!(
        state(&env, "shaky"),
        (0, None, None),
        "one success closes the breaker"
    );
}

#[tokio::test]
async fn offline_rounds_and_429s_never_open_the_breaker_and_410_disables() {
    let server = MockServer::start().await.expect("mock server");
    server.route("/slow-down.xml", MockResponse::status(429));
    server.route("/gone.xml", MockResponse::status(410));
    let offline: Vec<String> = (0..4)
        .map(|i| feed_source(&format!("unreachable-{i}"), &refused_url()))
        .collect();
    let env = TestEnv::new(&format!(
        "{}{}",
        http("retries = 0"),
        config("max_consecutive_failures = 1", &offline)
    ));
    let (code, _) = env.once_json().await;
    assert_eq!(code, 1);
    for i in 0..4 {
        assert_eq!(
            state(&env, &format!("unreachable-{i}")),
            (0, None, None),
            "an offline machine is not a broken source"
        );
    }

    let env = TestEnv::new(&format!(
        "{}{}",
        http("retries = 0"),
        config(
            "max_consecutive_failures = 1",
            &[
                feed_source("busy", &server.url("/slow-down.xml")),
                feed_source("gone", &server.url("/gone.xml"))
            ],
        )
    ));
    env.once_json().await;
    assert_eq!(
        state(&env, "busy"),
        (0, None, None),
        "a 429 slows down, it does not break"
    );
    let backoff: (String, i64) = env
        .db()
        .query_row("SELECT reason, backoff_s FROM hosts", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("the host is backing off");
    assert_eq!(
        backoff.1, 60,
        "no Retry-After: the backoff starts at a minute"
    );
    assert!(
        backoff.0.starts_with("HTTP 429 from 127.0.0.1:"),
        "{backoff:?}"
    );
    let (_, _, gone_at) = state(&env, "gone");
    assert!(gone_at.is_some(), "410 disables");
    let (_, report) = env.once_json().await;
    let line = source_line(&report, "gone");
    assert_eq!(line["status"], "skipped");
    assert!(
        line["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("gone (HTTP 410) since ")),
        "{line}"
    );
    assert_eq!(server.hits("/gone.xml"), 1);
    let busy = source_line(&report, "busy");
    assert!(
        busy["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("host backing off until ")),
        "{busy}"
    );
    assert_eq!(
        server.hits("/slow-down.xml"),
        1,
        "every source on the host waits out the backoff"
    );
}

#[tokio::test]
async fn a_rate_limit_lets_exactly_its_budget_through_across_rounds() {
    let server = MockServer::start().await.expect("mock server");
    serve_feed(&server, "/limited.xml", 1, Duration::ZERO);
    let source = format!(
        "{}rate_limit = \"3/minute\"\n",
        feed_source("limited", &server.url("/limited.xml"))
    );
    let env = TestEnv::new(&config("", &[source]));
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let (_, report) = env.once_json().await;
        statuses.push(source_line(&report, "limited").clone());
    }
    assert_eq!(
        server.hits("/limited.xml"),
        3,
        "exactly the budget reached the server"
    );
    let skipped = &statuses[3];
    assert_eq!(skipped["status"], "skipped");
    assert!(
        skipped["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("rate limited until ")),
        "{skipped}"
    );
}

#[tokio::test]
async fn server_hints_delay_the_next_fetch_unless_told_not_to() {
    let server = MockServer::start().await.expect("mock server");
    server.route(
        "/cached.xml",
        MockResponse::ok("application/rss+xml", rss_feed("c", 1))
            .header("cache-control", "public, max-age=3600"),
    );
    let ttl_feed = "<rss version=\"2.0\"><channel><title>t</title><ttl>90</ttl><item><title>x</title><link>https://t.example/1</link></item></channel></rss>";
    server.route(
        "/ttl.xml",
        MockResponse::ok("application/rss+xml", ttl_feed),
    );
    server.route(
        "/ignored.xml",
        MockResponse::ok("application/rss+xml", rss_feed("i", 1))
            .header("cache-control", "max-age=3600"),
    );
    let ignored = format!(
        "{}respect_server_hints = false\n",
        feed_source("ignored", &server.url("/ignored.xml"))
    );
    let env = TestEnv::new(&config(
        "",
        &[
            feed_source("cached", &server.url("/cached.xml")),
            feed_source("ttl", &server.url("/ttl.xml")),
            ignored,
        ],
    ));
    env.once_json().await;
    let (_, report) = env.once_json().await;
    let cached = source_line(&report, "cached");
    assert_eq!(cached["status"], "skipped");
    let reason = cached["error"].as_str().expect("reason");
    assert!(
        reason.starts_with("not due until ") && reason.ends_with("(max-age 3600)"),
        "{reason}"
    );
    let ttl = source_line(&report, "ttl")["error"]
        .as_str()
        .expect("reason")
        .to_owned();
    assert!(ttl.ends_with("(ttl 90 min)"), "{ttl}");
    assert_eq!(
        source_line(&report, "ignored")["status"],
        "ok",
        "respect_server_hints = false"
    );
    assert_eq!(
        (
            server.hits("/cached.xml"),
            server.hits("/ttl.xml"),
            server.hits("/ignored.xml")
        ),
        (1, 1, 2)
    );
}

#[tokio::test]
async fn a_public_source_cannot_be_redirected_into_private_networks() {
    let server = MockServer::start().await.expect("mock server");
    let port = server
        .url("/")
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .expect("port")
        .to_owned();
    serve_feed(&server, "/inside.xml", 1, Duration::ZERO);
    server.route(
        "/to-literal",
        MockResponse::status(302).header("location", &server.url("/inside.xml")),
    );
    server.route(
        "/to-name",
        MockResponse::status(302)
            .header("location", &format!("http://localhost:{port}/inside.xml")),
    );
    serve_feed(&server, "/plain.xml", 2, Duration::ZERO);
    // news.example is "public" by name; the pin (an operator's explicit
    // choice) makes it reach the mock server without any DNS.
    let sources = [
        feed_source("literal", &format!("http://news.example:{port}/to-literal")),
        feed_source("name", &format!("http://news.example:{port}/to-name")),
        feed_source("plain", &format!("http://news.example:{port}/plain.xml")),
        feed_source("operator-choice", &server.url("/to-literal")),
    ];
    let pins = "resolve = { \"news.example\" = \"127.0.0.1\" }\nretries = 0";
    let env = TestEnv::new(&format!("{}{}", http(pins), config("", &sources)));
    let (_, report) = env.once_json().await;
    let literal = source_line(&report, "literal")["error"]
        .as_str()
        .expect("refused")
        .to_owned();
    assert_eq!(
        literal,
        "redirect refused: to a private address (127.0.0.1); set http.allow_private_networks = true to allow it"
    );
    let name = source_line(&report, "name")["error"]
        .as_str()
        .expect("refused")
        .to_owned();
    assert!(
        name.starts_with("blocked: localhost resolves to a private address"),
        "{name}"
    );
    assert_eq!(
        source_line(&report, "plain")["new"],
        2,
        "the pinned host itself is allowed"
    );
    assert_eq!(
        source_line(&report, "operator-choice")["status"],
        "ok",
        "a private configured URL may redirect privately"
    );
    assert_eq!(
        server.hits("/inside.xml"),
        1,
        "only the operator's own private source got there"
    );

    let env = TestEnv::new(&format!(
        "{}{}",
        http(&format!("{pins}\nallow_private_networks = true")),
        config("", &sources)
    ));
    let (_, report) = env.once_json().await;
    for source in ["literal", "name", "plain"] {
        assert_eq!(
            source_line(&report, source)["status"],
            "ok",
            "allowed: {report:#}"
        );
    }
}

#[tokio::test]
async fn once_force_fetches_paused_sources_but_waits_out_a_host_backoff() {
    let server = MockServer::start().await.expect("mock server");
    server.route_sequence(
        "/shaky.xml",
        vec![
            MockResponse::status(500),
            MockResponse::ok("application/rss+xml", rss_feed("s", 2)),
        ],
    );
    serve_feed(&server, "/calm.xml", 1, Duration::ZERO);
    // Another host (its own port), which answers 429: a host-wide backoff.
    let busy_host = MockServer::start().await.expect("mock server");
    busy_host.route("/busy.xml", MockResponse::status(429));
    let env = TestEnv::new(&format!(
        "{}{}",
        http("retries = 0"),
        config(
            "max_consecutive_failures = 1",
            &[
                feed_source("shaky", &server.url("/shaky.xml")),
                feed_source("calm", &server.url("/calm.xml")),
                feed_source("busy", &busy_host.url("/busy.xml")),
            ],
        )
    ));
    env.once_json().await;
    assert!(state(&env, "shaky").1.is_some(), "the breaker opened");

    // --source: only the named source is touched.
    let output = env
        .herald(&["once", "--format", "json", "--source", "calm"])
        .await;
    assert!(output.status.success(), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(report["sources"].as_array().map(Vec::len), Some(1));
    assert_eq!(server.hits("/calm.xml"), 2);
    assert_eq!(server.hits("/shaky.xml"), 1);
    assert_eq!(busy_host.hits("/busy.xml"), 1);

    // Without --force the paused source is skipped; with it, it is fetched,
    // while the host that asked for a backoff is still left alone.
    let (_, report) = env.once_json().await;
    assert_eq!(source_line(&report, "shaky")["status"], "skipped");
    let output = env
        .herald(&[
            "once", "--format", "json", "--force", "--source", "shaky", "--source", "busy",
        ])
        .await;
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(source_line(&report, "shaky")["status"], "ok", "{report:#}");
    assert_eq!(source_line(&report, "shaky")["new"], 2);
    let busy = source_line(&report, "busy");
    assert_eq!(busy["status"], "skipped");
    assert!(
        busy["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("host backing off until ")),
        "{busy}"
    );
    assert_eq!(server.hits("/shaky.xml"), 2);
    assert_eq!(
        busy_host.hits("/busy.xml"),
        1,
        "--force keeps a host's 429 backoff"
    );
    assert_eq!(
        state(&env, "shaky"),
        (0, None, None),
        "the success closed it"
    );

    // A name that is not configured is a usage error naming the choices.
    let output = env.herald(&["once", "--source", "nope"]).await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--source nope") && stderr.contains("shaky, calm, busy"),
        "{stderr}"
    );
}
