//! One aggregation round through the real binary: concurrency, partial
//! failure, the round deadline, and deduplication.

mod common;

use std::time::Duration;

use common::*;

const LATENCY: Duration = Duration::from_millis(200);

async fn max_in_flight(sources: usize, workers: usize) -> usize {
    let server = MockServer::start().await.expect("mock server");
    let blocks: Vec<String> = (0..sources)
        .map(|i| {
            let path = format!("/feed/{i}.xml");
            serve_feed(&server, &path, 3, LATENCY);
            feed_source(&format!("feed-{i}"), &server.url(&path))
        })
        .collect();
    // All mock sources share one host: lift the per-host cap to test the pool's.
    let env = TestEnv::new(&format!(
        "[http]\nper_host_concurrency = 100\n{}",
        config(&format!("workers = {workers}"), &blocks)
    ));
    let (code, report) = env.once_json().await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["totals"]["ok"], sources);
    assert_eq!(env.article_count(), (sources * 3) as i64);
    env.assert_integrity();
    server.max_in_flight()
}

#[tokio::test]
async fn fetches_run_concurrently_up_to_the_worker_cap() {
    assert_eq!(
        max_in_flight(8, 16).await,
        8,
        "all sources at once when workers > sources"
    );
    assert_eq!(
        max_in_flight(8, 3).await,
        3,
        "never more than `workers` at once"
    );
    assert_eq!(
        max_in_flight(4, 1).await,
        1,
        "one worker fetches one at a time"
    );
}

#[tokio::test]
async fn one_failing_source_never_stops_the_others() {
    let server = MockServer::start().await.expect("mock server");
    serve_feed(&server, "/good-1.xml", 5, Duration::ZERO);
    serve_feed(&server, "/good-2.xml", 4, Duration::ZERO);
    server.route("/broken.xml", MockResponse::status(500));
    server.route(
        "/slow.xml",
        MockResponse::ok("application/rss+xml", rss_feed("slow", 1))
            .delayed(Duration::from_secs(20)),
    );
    server.route(
        "/garbage.xml",
        MockResponse::ok("application/rss+xml", "<html><body>oops</body></html>"),
    );
    let refused = refused_url();
    let sources = [
        feed_source("good-1", &server.url("/good-1.xml")),
        feed_source("server-error", &server.url("/broken.xml")),
        feed_source("refused", &refused),
        feed_source("slow", &server.url("/slow.xml")),
        feed_source("malformed", &server.url("/garbage.xml")),
        feed_source("good-2", &server.url("/good-2.xml")),
    ];
    let env = TestEnv::new(&format!(
        "[http]\ntimeout = \"1s\"\n{}",
        config("", &sources)
    ));
    let (code, report) = env.once_json().await;

    assert_eq!(code, 0, "some sources succeeded: {report:#}");
    assert_eq!(report["totals"]["ok"], 2);
    assert_eq!(report["totals"]["failed"], 4);
    assert_eq!(report["totals"]["new"], 9);
    let names: Vec<&str> = report["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .map(|s| s["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        [
            "good-1",
            "server-error",
            "refused",
            "slow",
            "malformed",
            "good-2"
        ],
        "config order"
    );

    let line = source_line(&report, "server-error");
    assert_eq!(line["status"], "failed");
    assert_eq!(line["http_status"], 500);
    assert_eq!(line["error"], "HTTP 500 Internal Server Error");
    let line = source_line(&report, "refused");
    assert_eq!(line["status"], "failed");
    assert!(
        line["error"]
            .as_str()
            .expect("error")
            .starts_with("connection failed:"),
        "{line}"
    );
    let line = source_line(&report, "slow");
    assert_eq!(line["status"], "timeout");
    assert_eq!(line["error"], "request timed out after 1s");
    let line = source_line(&report, "malformed");
    assert_eq!(line["status"], "failed");
    assert_eq!(line["http_status"], 200);
    assert_eq!(
        line["error"],
        "not a feed: an HTML page that links no feed (HTTP 200)"
    );

    // The same reasons are in the database, next to the stored articles.
    let conn = env.db();
    let stored: Vec<(String, String, Option<String>)> = conn
        .prepare("SELECT source, status, error FROM fetches ORDER BY source")
        .and_then(|mut st| {
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .expect("read fetches");
    assert_eq!(stored.len(), 6);
    assert!(
        stored
            .iter()
            .all(|(_, status, error)| (status == "ok") == error.is_none()),
        "{stored:?}"
    );
    assert_eq!(env.article_count(), 9);
    let failures: i64 = conn
        .query_row(
            "SELECT consecutive_failures FROM sources WHERE name = 'server-error'",
            [],
            |r| r.get(0),
        )
        .expect("source state");
    assert_eq!(failures, 1);
    env.assert_integrity();
}

#[tokio::test]
async fn exit_code_is_1_when_every_source_fails() {
    let server = MockServer::start().await.expect("mock server");
    // A 500: a 503 would (rightly) put the host in backoff for the second run.
    server.route("/a.xml", MockResponse::status(500));
    let sources = [
        feed_source("a", &server.url("/a.xml")),
        feed_source("b", &refused_url()),
    ];
    let env = TestEnv::new(&config("", &sources));
    let (code, report) = env.once_json().await;
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["totals"]["failed"], 2);

    let output = env.herald(&["once"]).await;
    assert_eq!(output.status.code(), Some(1));
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.contains("HTTP 500 Internal Server Error"), "{table}");
    assert!(table.contains("0 ok, 2 failed"), "{table}");
}

#[tokio::test]
async fn round_deadline_times_out_the_straggler_and_keeps_the_rest() {
    let server = MockServer::start().await.expect("mock server");
    serve_feed(&server, "/fast.xml", 7, Duration::ZERO);
    serve_feed(&server, "/hang.xml", 3, Duration::from_secs(30));
    let sources = [
        feed_source("fast", &server.url("/fast.xml")),
        feed_source("hang", &server.url("/hang.xml")),
    ];
    let env = TestEnv::new(&config("round_timeout = \"1s\"", &sources));
    let (code, report) = env.once_json().await;
    assert_eq!(code, 0);
    let line = source_line(&report, "hang");
    assert_eq!(line["status"], "timeout");
    assert_eq!(line["error"], "round deadline reached while fetching");
    assert_eq!(source_line(&report, "fast")["new"], 7);
    assert!(
        report["wall_ms"].as_u64().expect("wall_ms") < 10_000,
        "the round ended at its deadline: {report}"
    );
    assert_eq!(env.article_count(), 7);
    env.assert_integrity();
}

#[tokio::test]
async fn a_feed_fetched_twice_is_stored_once() {
    let server = MockServer::start().await.expect("mock server");
    serve_feed(&server, "/feed.xml", 12, Duration::ZERO);
    let env = TestEnv::new(&config("", &[feed_source("f", &server.url("/feed.xml"))]));
    let (_, first) = env.once_json().await;
    assert_eq!(source_line(&first, "f")["new"], 12);
    assert_eq!(source_line(&first, "f")["seen"], 0);
    let (_, second) = env.once_json().await;
    assert_eq!(source_line(&second, "f")["new"], 0);
    assert_eq!(source_line(&second, "f")["seen"], 12);
    assert_eq!(env.article_count(), 12);
    let rounds: i64 = env
        .db()
        .query_row(
            "SELECT count(*) FROM rounds WHERE finished_at IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .expect("rounds");
    assert_eq!(rounds, 2);
    env.assert_integrity();
}

#[tokio::test]
async fn tracking_parameters_and_fragments_do_not_make_new_articles() {
    let server = MockServer::start().await.expect("mock server");
    let item = |link: &str| {
        format!(
            "<item><title>Same story</title><link>{}</link></item>",
            link.replace('&', "&amp;")
        )
    };
    let feed = format!(
        "<rss version=\"2.0\"><channel><title>t</title>{}{}{}{}</channel></rss>",
        item("https://News.Example:443/story?id=1&utm_source=rss"),
        item("https://news.example/story?id=1#comments"),
        item("https://news.example/story?fbclid=abc&id=1"),
        item("https://news.example/other"),
    );
    server.route("/feed.xml", MockResponse::ok("application/rss+xml", feed));
    let env = TestEnv::new(&config("", &[feed_source("f", &server.url("/feed.xml"))]));
    let (_, report) = env.once_json().await;
    let line = source_line(&report, "f");
    assert_eq!(
        (line["new"].as_u64(), line["seen"].as_u64()),
        (Some(2), Some(2)),
        "{line}"
    );
    let urls: Vec<String> = env
        .db()
        .prepare("SELECT url FROM articles ORDER BY url")
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
        .expect("read urls");
    assert_eq!(
        urls,
        [
            "https://news.example/other",
            "https://news.example/story?id=1"
        ]
    );
}
