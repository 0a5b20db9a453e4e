//! The built-in API kinds against mocks that answer in the real APIs'
//! shapes (fixtures in tests/fixtures), checked field by field in the
//! database; and the rule that a key never shows anywhere.

mod common;

use std::time::Duration;

use common::*;
use rusqlite::Row;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture exists")
}

fn json(body: impl Into<String>) -> MockResponse {
    MockResponse::ok("application/json; charset=utf-8", body.into())
}

#[derive(Debug, PartialEq)]
struct Stored {
    title: String,
    url: String,
    published_at: Option<String>,
    summary: Option<String>,
    author: Option<String>,
    origin: Option<String>,
}

fn stored(env: &TestEnv, source: &str) -> Vec<Stored> {
    let conn = env.db();
    let mut statement = conn
        .prepare("SELECT title, url, published_at, summary, author, origin FROM articles WHERE source = ?1 ORDER BY id")
        .expect("query");
    statement
        .query_map([source], |r: &Row<'_>| {
            Ok(Stored {
                title: r.get(0)?,
                url: r.get(1)?,
                published_at: r.get(2)?,
                summary: r.get(3)?,
                author: r.get(4)?,
                origin: r.get(5)?,
            })
        })
        .and_then(Iterator::collect)
        .expect("rows")
}

fn block(name: &str, kind: &str, base: &str, extra: &str) -> String {
    format!("\n[[sources]]\nname = \"{name}\"\nkind = \"{kind}\"\nbase_url = \"{base}\"\n{extra}\n")
}

fn header<'a>(request: &'a mock::RecordedRequest, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn hn_item(id: u64, title: &str, url: Option<&str>) -> String {
    let url = url.map(|u| format!(r#","url":"{u}""#)).unwrap_or_default();
    format!(
        r#"{{"by":"user{id}","descendants":3,"id":{id},"kids":[1,2],"score":57,"time":1795341600,"title":"{title}","type":"story"{url}}}"#
    )
}

#[tokio::test]
async fn hackernews_fans_out_items_on_the_same_pool_and_cap() {
    let server = MockServer::start().await.expect("mock server");
    let ids: Vec<String> = (1..=40).map(|i| i.to_string()).collect();
    server.route("/v0/topstories.json", json(format!("[{}]", ids.join(","))));
    for id in 1..=30u64 {
        let body = match id {
            1 => hn_item(
                1,
                "Show HN: A tiny \\u00e9diteur &amp; <b>friends</b>",
                Some("https://example.com/editor?utm_source=hn"),
            ),
            2 => hn_item(2, "Ask HN: How do you back up SQLite?", None),
            _ => hn_item(
                id,
                &format!("Story {id}"),
                Some(&format!("https://example.com/{id}")),
            ),
        };
        server.route(
            &format!("/v0/item/{id}.json"),
            json(body).delayed(Duration::from_millis(100)),
        );
    }
    // The pool's cap is under test here, not the per-host one.
    let env = TestEnv::new(&format!(
        "[http]\nper_host_concurrency = 50\n{}",
        config(
            "workers = 10",
            &[block("hn", "hackernews", &server.url("/"), "limit = 30")]
        )
    ));
    let (code, report) = env.once_json().await;
    assert_eq!(code, 0, "{report:#}");
    let line = source_line(&report, "hn");
    assert_eq!(
        (
            line["status"].as_str(),
            line["new"].as_u64(),
            line["failed_items"].as_u64()
        ),
        (Some("ok"), Some(30), Some(0)),
        "{line}"
    );
    assert_eq!(
        server.max_in_flight(),
        10,
        "items fetched concurrently, never above the pool size"
    );
    assert_eq!(
        server.hits("/v0/item/31.json"),
        0,
        "only the first `limit` ids"
    );

    let articles = stored(&env, "hn");
    assert_eq!(articles.len(), 30);
    assert_eq!(articles[0].title, "Show HN: A tiny éditeur & friends");
    assert_eq!(articles[0].url, "https://example.com/editor");
    assert_eq!(articles[0].author.as_deref(), Some("user1"));
    assert_eq!(
        articles[0].published_at.as_deref(),
        Some("2026-11-22T10:00:00Z")
    );
    assert_eq!(
        articles[1].url, "https://news.ycombinator.com/item?id=2",
        "Ask HN links to its discussion"
    );
    assert_eq!(articles[29].title, "Story 30", "stored in list order");
}

#[tokio::test]
async fn hackernews_dead_null_and_failing_items_leave_the_rest_stored() {
    let server = MockServer::start().await.expect("mock server");
    server.route("/v0/newstories.json", json("[11, 12, 13, 14, 15]"));
    server.route(
        "/v0/item/11.json",
        json(hn_item(11, "Kept one", Some("https://a.example/11"))),
    );
    server.route(
        "/v0/item/12.json",
        json(r#"{"id":12,"dead":true,"by":"x","time":1795341600,"type":"story"}"#),
    );
    server.route("/v0/item/13.json", json("null"));
    server.route("/v0/item/14.json", MockResponse::status(500));
    server.route(
        "/v0/item/15.json",
        json(r#"{"id":15,"deleted":true,"time":1795341600,"type":"story"}"#),
    );
    let env = TestEnv::new(&config(
        "",
        &[block(
            "hn-new",
            "hackernews",
            &server.url("/"),
            "list = \"new\"",
        )],
    ));
    let (code, report) = env.once_json().await;
    assert_eq!(code, 0, "{report:#}");
    let line = source_line(&report, "hn-new");
    assert_eq!(line["status"], "ok");
    assert_eq!(line["new"], 1);
    assert_eq!(line["failed_items"], 1);
    assert_eq!(
        line["error"],
        "1 of 5 items failed (first: HTTP 500 Internal Server Error)"
    );
    let (status, failed): (String, i64) = env
        .db()
        .query_row(
            "SELECT status, failed_items FROM fetches WHERE source = 'hn-new'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("fetch row");
    assert_eq!((status.as_str(), failed), ("ok", 1));
    assert_eq!(
        stored(&env, "hn-new")
            .iter()
            .map(|a| a.title.as_str())
            .collect::<Vec<_>>(),
        ["Kept one"]
    );
}

#[tokio::test]
async fn hackernews_fan_out_through_a_tiny_queue_does_not_deadlock() {
    let server = MockServer::start().await.expect("mock server");
    let ids: Vec<String> = (1..=30).map(|i| i.to_string()).collect();
    server.route("/v0/topstories.json", json(format!("[{}]", ids.join(","))));
    server.fallback(|path| {
        let id: u64 = path
            .strip_prefix("/v0/item/")?
            .strip_suffix(".json")?
            .parse()
            .ok()?;
        Some(MockResponse::ok(
            "application/json",
            hn_item(
                id,
                &format!("S{id}"),
                Some(&format!("https://s.example/{id}")),
            ),
        ))
    });
    let env = TestEnv::new(&config(
        "workers = 2\nqueue_capacity = 2",
        &[
            block("hn", "hackernews", &server.url("/"), "limit = 30"),
            feed_source("side", &server.url("/none.xml")),
        ],
    ));
    // A deadlock fails here (the harness times out) instead of hanging the suite.
    let (_, report) = tokio::time::timeout(Duration::from_secs(30), env.once_json())
        .await
        .expect("round completed: no deadlock");
    assert_eq!(source_line(&report, "hn")["new"], 30, "{report:#}");
}

#[tokio::test]
async fn newsapi_maps_articles_and_sends_the_key_as_a_header() {
    let server = MockServer::start().await.expect("mock server");
    server.route(
        "/v2/top-headlines",
        json(fixture("newsapi_top_headlines.json")),
    );
    let env = TestEnv::new(&config(
        "",
        &[block(
            "newsapi",
            "newsapi",
            &server.url("/"),
            "country = \"gb\"\ncategory = \"technology\"\npage_size = 20\napi_key_env = \"HERALD_TEST_NEWSAPI_KEY\"",
        )],
    ));
    let (code, report) = env
        .once_json_with_env(&[("HERALD_TEST_NEWSAPI_KEY", "newsapi-test-key-0001")])
        .await;
    assert_eq!(code, 0, "{report:#}");
    let request = &server.requests()[0];
    assert_eq!(
        request.query.as_deref(),
        Some("country=gb&category=technology&pageSize=20"),
        "no key in the query"
    );
    assert_eq!(header(request, "x-api-key"), Some("newsapi-test-key-0001"));

    let articles = stored(&env, "newsapi");
    assert_eq!(
        articles.len(),
        2,
        "[Removed] placeholders are skipped: {articles:#?}"
    );
    assert_eq!(
        articles[0],
        Stored {
            title: "Quantum chip \"Willow\" breaks records – what it means".into(),
            url: "https://www.bbc.co.uk/news/articles/c0l1ndy?at_medium=RSS".into(),
            published_at: Some("2026-11-22T09:41:07Z".into()),
            summary: Some("Google says its new chip solved a problem in five minutes.".into()),
            author: Some("Zoë Kleinman & Tom Gerken".into()),
            origin: Some("BBC News".into()),
        }
    );
    assert_eq!(
        articles[1].published_at.as_deref(),
        Some("2026-11-22T07:00:00Z"),
        "offset converted to UTC"
    );
    assert_eq!(
        (
            articles[1].summary.as_deref(),
            articles[1].author.as_deref()
        ),
        (None, None)
    );
    assert_eq!(articles[1].origin.as_deref(), Some("Le Monde.fr"));
}

#[tokio::test]
async fn api_errors_read_as_their_message_and_401_names_the_key_setting() {
    let server = MockServer::start().await.expect("mock server");
    server.route("/v2/everything", json(r#"{"status":"error","code":"parameterInvalid","message":"You are trying to request results too far in the past."}"#));
    server.route("/unauth/search", MockResponse::status(401));
    server.route(
        "/shape/search",
        json(r#"{"response":{"status":"ok","total":0}}"#),
    );
    let key = "api_key_env = \"HERALD_TEST_GUARDIAN_KEY\"";
    let env = TestEnv::new(&config(
        "",
        &[
            block(
                "news-error",
                "newsapi",
                &server.url("/"),
                "endpoint = \"everything\"\nq = \"rust\"\napi_key = \"k-0123456789\"",
            ),
            block("guardian-401", "guardian", &server.url("/unauth/"), key),
            block("guardian-shape", "guardian", &server.url("/shape/"), key),
        ],
    ));
    let (code, report) = env
        .once_json_with_env(&[("HERALD_TEST_GUARDIAN_KEY", "g-key-0123456789")])
        .await;
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(
        source_line(&report, "news-error")["error"],
        "API error: You are trying to request results too far in the past. (HTTP 200)"
    );
    let unauthorized = source_line(&report, "guardian-401");
    assert_eq!(
        unauthorized["error"],
        "unauthorized (check api_key_env HERALD_TEST_GUARDIAN_KEY)"
    );
    assert_eq!(unauthorized["attempts"], 1);
    assert_eq!(server.hits("/unauth/search"), 1, "a 401 is not retried");
    assert_eq!(
        source_line(&report, "guardian-shape")["error"],
        "unexpected shape: missing field `response.results` (HTTP 200)"
    );
}

#[tokio::test]
async fn guardian_maps_results_with_fields() {
    let server = MockServer::start().await.expect("mock server");
    server.route("/search", json(fixture("guardian_search.json")));
    let env = TestEnv::new(&config(
        "",
        &[block(
            "guardian",
            "guardian",
            &server.url("/"),
            "section = \"world\"\nq = \"climate\"\npage_size = 2\napi_key = \"guardian-inline-key\"",
        )],
    ));
    std::fs::set_permissions(
        &env.config,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("chmod");
    let (code, report) = env.once_json().await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        server.requests()[0].query.as_deref(),
        Some(
            "section=world&q=climate&page-size=2&order-by=newest&show-fields=trailText%2Cbyline&api-key=guardian-inline-key"
        )
    );
    let articles = stored(&env, "guardian");
    assert_eq!(
        articles[0],
        Stored {
            title: "Cop31: nations agree €300bn climate deal after all-night talks".into(),
            url: "https://www.theguardian.com/world/2026/nov/22/cop31-climate-deal".into(),
            published_at: Some("2026-11-22T10:15:00Z".into()),
            summary: Some("Deal reached in Belém – but critics say it falls short".into()),
            author: Some("Fiona Harvey in Belém".into()),
            origin: None,
        }
    );
    assert_eq!(
        (
            articles[1].summary.as_deref(),
            articles[1].author.as_deref()
        ),
        (None, None),
        "no fields object"
    );
}

#[tokio::test]
async fn devto_and_github_map_their_fields() {
    let server = MockServer::start().await.expect("mock server");
    server.route("/api/articles", json(fixture("devto_articles.json")));
    server.route(
        "/repos/tokio-rs/tokio/releases",
        json(fixture("github_releases.json")),
    );
    server.route("/search/repositories", json(fixture("github_search.json")));
    let env = TestEnv::new(&config(
        "",
        &[
            block(
                "devto",
                "devto",
                &server.url("/"),
                "top = 7\ntag = \"rust\"\nper_page = 10",
            ),
            block(
                "tokio",
                "github",
                &server.url("/"),
                "mode = \"releases\"\nrepo = \"tokio-rs/tokio\"\napi_key_env = \"HERALD_TEST_GH_TOKEN\"",
            ),
            block(
                "gh-search",
                "github",
                &server.url("/"),
                "q = \"language:rust stars:>1000\"\nsort = \"updated\"",
            ),
        ],
    ));
    let (code, report) = env
        .once_json_with_env(&[("HERALD_TEST_GH_TOKEN", "ghp_testtoken0001")])
        .await;
    assert_eq!(code, 0, "{report:#}");

    let devto = stored(&env, "devto");
    assert_eq!(
        devto[0].title,
        "Async Rust in 2026: what finally clicked 🦀"
    );
    assert_eq!(
        devto[0].summary.as_deref(),
        Some("Pinning, cancellation & structured concurrency, explained with diagrams.")
    );
    assert_eq!(devto[0].author.as_deref(), Some("Ana Müller"));
    assert_eq!(
        devto[0].published_at.as_deref(),
        Some("2026-11-20T14:03:11Z")
    );
    assert_eq!(
        (devto[1].summary.as_deref(), devto[1].author.as_deref()),
        (None, None),
        "empty and null fields"
    );
    let devto_request = server
        .requests()
        .into_iter()
        .find(|r| r.path == "/api/articles")
        .expect("DEV.to was asked");
    assert_eq!(
        devto_request.query.as_deref(),
        Some("top=7&tag=rust&per_page=10")
    );
    assert_eq!(
        header(&devto_request, "accept"),
        Some("application/vnd.forem.api-v1+json"),
        "plain application/json selects DEV.to's deprecated v0 API"
    );

    let releases = stored(&env, "tokio");
    assert_eq!(
        releases
            .iter()
            .map(|r| r.title.as_str())
            .collect::<Vec<_>>(),
        [
            "tokio-rs/tokio Tokio v1.54.1",
            "tokio-rs/tokio tokio-1.54.0"
        ],
        "drafts skipped; empty name falls back to the tag"
    );
    assert_eq!(releases[0].author.as_deref(), Some("Darksonn"));
    assert_eq!(
        releases[0].summary.as_deref(),
        Some("# 1.54.1 (November 18th, 2026) ### Fixed - sync: fix `<Semaphore>` fairness (#7001)"),
        "markdown kept as text (angle brackets too), whitespace folded"
    );
    let release_request = server
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/releases"))
        .expect("release request");
    assert_eq!(
        header(&release_request, "authorization"),
        Some("Bearer ghp_testtoken0001")
    );
    assert_eq!(
        header(&release_request, "accept"),
        Some("application/vnd.github+json")
    );
    assert_eq!(
        header(&release_request, "x-github-api-version"),
        Some("2022-11-28")
    );
    assert!(header(&release_request, "user-agent").is_some_and(|ua| ua.starts_with("herald/")));

    let search = stored(&env, "gh-search");
    assert_eq!(
        search[0].title,
        "BurntSushi/ripgrep: ripgrep recursively searches directories for a regex pattern while respecting your gitignore"
    );
    assert_eq!(search[0].url, "https://github.com/BurntSushi/ripgrep");
    assert_eq!(search[1].title, "someone/nodesc");
    let search_request = server
        .requests()
        .into_iter()
        .find(|r| r.path == "/search/repositories")
        .expect("search request");
    assert_eq!(
        header(&search_request, "authorization"),
        None,
        "no token configured, none sent"
    );
}

#[tokio::test]
async fn a_missing_key_disables_the_source_with_one_warning() {
    let server = MockServer::start().await.expect("mock server");
    serve_feed(&server, "/ok.xml", 2, Duration::ZERO);
    let env = TestEnv::new(&config(
        "",
        &[
            block(
                "guardian",
                "guardian",
                &server.url("/"),
                "api_key_env = \"HERALD_TEST_UNSET_KEY\"",
            ),
            feed_source("ok", &server.url("/ok.xml")),
        ],
    ));
    let output = env.herald(&["check"]).await;
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.matches("disabled").count(), 1, "{stderr}");
    assert!(
        stderr
            .contains("source \"guardian\" disabled: api_key_env HERALD_TEST_UNSET_KEY is not set"),
        "{stderr}"
    );
    let (code, report) = env.once_json().await;
    assert_eq!(code, 0);
    assert_eq!(
        report["sources"].as_array().map(Vec::len),
        Some(1),
        "only the feed ran: {report}"
    );
    assert_eq!(server.hits("/search"), 0);
}

#[tokio::test]
async fn keys_never_reach_logs_reports_the_database_or_check() {
    const KEY: &str = "SUPERSECRET-guardian-key-42";
    let server = MockServer::start().await.expect("mock server");
    // A hostile or careless server that echoes the key back in its error.
    server.route(
        "/g/search",
        json(format!(
            r#"{{"response":{{"status":"error","message":"Invalid key {KEY} for tier"}}}}"#
        )),
    );
    server.route(
        "/n/v2/top-headlines",
        MockResponse::ok("text/plain", format!("bad key {KEY}")).header("x-why", "echo"),
    );
    server.route("/gh/search/repositories", MockResponse::status(403));
    let env = TestEnv::new(&config(
        "",
        &[
            block(
                "guardian",
                "guardian",
                &server.url("/g/"),
                "q = \"x\"\napi_key_env = \"HERALD_TEST_KEY\"",
            ),
            block(
                "newsapi",
                "newsapi",
                &server.url("/n/"),
                "q = \"x\"\napi_key_env = \"HERALD_TEST_KEY\"",
            ),
            block(
                "github",
                "github",
                &server.url("/gh/"),
                "q = \"x\"\napi_key_env = \"HERALD_TEST_KEY\"",
            ),
        ],
    ));
    let env_vars = [("HERALD_TEST_KEY", KEY), ("HERALD_LOG", "trace")];
    let once = env
        .herald_with_env(&["once", "--format", "json"], &env_vars)
        .await;
    let check = env.herald_with_env(&["check"], &env_vars).await;
    assert_eq!(once.status.code(), Some(1), "every source failed");
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.query.as_deref().is_some_and(|q| q.contains(KEY))),
        "the key was really used"
    );

    let report = String::from_utf8_lossy(&once.stdout);
    assert!(
        report.contains("Invalid key [REDACTED] for tier"),
        "{report}"
    );
    assert!(String::from_utf8_lossy(&check.stdout).contains("api-key=[REDACTED]"));
    let mut places = vec![
        ("report", once.stdout.clone()),
        ("logs", once.stderr.clone()),
        ("check", check.stdout.clone()),
        ("check logs", check.stderr.clone()),
    ];
    for entry in std::fs::read_dir(env.dir.path()).expect("list") {
        let path = entry.expect("entry").path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("herald.db"))
        {
            places.push(("database", std::fs::read(&path).expect("read db")));
        }
    }
    for (place, bytes) in places {
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(KEY),
            "the key leaked into the {place}:\n{text}"
        );
    }
    assert!(
        !String::from_utf8_lossy(&once.stderr).is_empty(),
        "trace logging was on"
    );
}

#[tokio::test]
async fn fetch_explain_shows_headers_caching_and_items_without_the_key() {
    let server = MockServer::start().await.expect("mock server");
    server.route(
        "/v2/top-headlines",
        json(fixture("newsapi_top_headlines.json"))
            .header("etag", "\"nv1\"")
            .header("cache-control", "max-age=600"),
    );
    server.route(
        "/feed.xml",
        MockResponse::ok("application/rss+xml", rss_feed("f", 3)),
    );
    let key = ("HERALD_TEST_NEWSAPI_KEY", "newsapi-explain-key-0042");
    let env = TestEnv::new(&config(
        "",
        &[block(
            "newsapi",
            "newsapi",
            &server.url("/"),
            "country = \"gb\"\napi_key_env = \"HERALD_TEST_NEWSAPI_KEY\"",
        )],
    ));

    // Never fetched: no validators; the key is sent but never printed.
    let first = env
        .herald_with_env(&["fetch", "newsapi", "--explain", "-n", "2"], &[key])
        .await;
    let text = String::from_utf8_lossy(&first.stdout).into_owned();
    assert_eq!(first.status.code(), Some(0), "{text}");
    assert!(!text.contains(key.1), "the key leaked:\n{text}");
    assert!(text.contains("> x-api-key: [REDACTED]"), "{text}");
    assert!(text.contains("validators sent: none"), "{text}");
    assert!(text.contains("< etag: \"nv1\""), "{text}");
    assert!(text.contains("max-age 600"), "{text}");
    assert!(
        text.contains("  1. ") && text.contains("  2. ") && !text.contains("  3. "),
        "{text}"
    );
    assert_eq!(
        server.requests()[0]
            .headers
            .iter()
            .find(|(k, _)| k == "x-api-key")
            .map(|(_, v)| v.as_str()),
        Some(key.1),
        "the real request carried it"
    );

    // After a round stored the validators, explain sends them and gets a 304.
    env.once_json_with_env(&[key]).await;
    let again = env
        .herald_with_env(&["fetch", "newsapi", "--explain"], &[key])
        .await;
    let text = String::from_utf8_lossy(&again.stdout).into_owned();
    assert!(text.contains("> If-None-Match: \"nv1\""), "{text}");
    assert!(text.contains("< HTTP 304"), "{text}");
    assert!(
        text.contains("304 Not Modified: the stored copy is current"),
        "{text}"
    );
    assert!(!text.contains(key.1), "{text}");
    // A 304 shows what the database holds, not nothing.
    let plain = env
        .herald_with_env(&["fetch", "newsapi", "-n", "2"], &[key])
        .await;
    let text = String::from_utf8_lossy(&plain.stdout).into_owned();
    assert!(
        text.contains("not modified since the last fetch that stored it (ETag \"nv1\")"),
        "{text}"
    );
    assert!(text.contains("stored items (newest first):"), "{text}");
    assert!(
        text.contains("  1. ") && text.contains("  2. ") && !text.contains("  3. "),
        "{text}"
    );
    assert!(!String::from_utf8_lossy(&again.stderr).contains(key.1));

    // Any URL, parsed as a feed by default.
    let feed = env
        .herald(&["fetch", &server.url("/feed.xml"), "--explain"])
        .await;
    let text = String::from_utf8_lossy(&feed.stdout).into_owned();
    assert!(
        text.contains("parsed as feed: 3 items, 3 usable, 0 dropped"),
        "{text}"
    );
    assert!(text.contains("first items:"), "{text}");

    // Without --explain: just the items.
    let plain = env.herald(&["fetch", &server.url("/feed.xml")]).await;
    let text = String::from_utf8_lossy(&plain.stdout).into_owned();
    assert!(text.starts_with("  1. "), "{text}");

    let schemeless = env.herald(&["fetch", "127.0.0.1:8765/x.xml"]).await;
    assert!(
        String::from_utf8_lossy(&schemeless.stderr)
            .contains("did you mean http://127.0.0.1:8765/x.xml ?"),
        "{}",
        String::from_utf8_lossy(&schemeless.stderr)
    );
    let wrong = env.herald(&["fetch", "no-such-source"]).await;
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&wrong.stderr)
            .contains("\"no-such-source\" is neither a source in"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
    let down = env.herald(&["fetch", &server.url("/missing.xml")]).await;
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stdout).contains("HTTP 404"));
}

#[tokio::test]
async fn a_credential_in_a_feed_url_is_never_stored_nor_printed() {
    let server = MockServer::start().await.expect("mock server");
    let token = "tok-9f8e7d6c5b4a";
    // A private feed with its token in the query answers 301 to a URL that
    // carries the token too; another moves to a plain URL.
    server.route(
        "/private.xml",
        MockResponse::status(301).header("location", &format!("/private-v2.xml?token={token}")),
    );
    serve_feed(&server, "/private-v2.xml", 2, Duration::ZERO);
    server.route(
        "/public.xml",
        MockResponse::status(301).header("location", "/public-v2.xml"),
    );
    serve_feed(&server, "/public-v2.xml", 2, Duration::ZERO);
    let env = TestEnv::new(&config(
        "",
        &[
            feed_source(
                "private",
                &server.url(&format!("/private.xml?token={token}")),
            ),
            feed_source("public", &server.url("/public.xml")),
        ],
    ));
    let output = env
        .herald_with_env(&["once", "--format", "json"], &[("HERALD_LOG", "info")])
        .await;
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("permanent redirect not remembered: the URL carries a credential"),
        "the operator is told why: {stderr}"
    );
    let moves: Vec<(String, Option<String>)> = env
        .db()
        .prepare("SELECT name, moved_to FROM sources ORDER BY name")
        .and_then(|mut st| st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .expect("sources");
    assert_eq!(
        moves,
        [
            ("private".to_owned(), None),
            ("public".to_owned(), Some(server.url("/public-v2.xml"))),
        ],
        "the plain move is remembered, the one with a credential is not"
    );
    let check = env.herald(&["check"]).await;
    let sources = env.herald(&["sources", "--format", "json"]).await;
    let explain = env
        .herald(&[
            "fetch",
            &server.url(&format!("/public-v2.xml?api_key={token}")),
            "--explain",
        ])
        .await;
    assert_eq!(explain.status.code(), Some(0));
    for (what, out) in [
        ("once stderr", stderr.into_owned()),
        (
            "once report",
            String::from_utf8_lossy(&output.stdout).into_owned(),
        ),
        ("check", String::from_utf8_lossy(&check.stdout).into_owned()),
        (
            "sources",
            String::from_utf8_lossy(&sources.stdout).into_owned(),
        ),
        (
            "fetch --explain",
            String::from_utf8_lossy(&explain.stdout).into_owned(),
        ),
    ] {
        assert!(!out.contains(token), "{what} shows the token:\n{out}");
    }
    for file in ["herald.db", "herald.db-wal"] {
        let path = env.dir.path().join(file);
        if let Ok(bytes) = std::fs::read(&path) {
            assert!(
                !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
                "{file} holds the token"
            );
        }
    }
}

#[tokio::test]
async fn github_rate_limits_wait_for_the_reset_and_never_count_as_failures() {
    let server = MockServer::start().await.expect("mock server");
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 3600;
    // The primary limit: 403, nothing left, reset in an hour.
    server.route(
        "/primary/repos/o/r/releases",
        json(r#"{"message":"API rate limit exceeded for 203.0.113.9.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}"#)
            .status_code(403)
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", &reset.to_string()),
    );
    // A secondary limit: 403 with Retry-After.
    server.route(
        "/secondary/repos/o/r/releases",
        json(r#"{"message":"You have exceeded a secondary rate limit."}"#)
            .status_code(403)
            .header("retry-after", "120"),
    );
    let env = TestEnv::new(&config(
        "max_consecutive_failures = 1",
        &[
            block(
                "primary",
                "github",
                &server.url("/primary/"),
                "mode = \"releases\"\nrepo = \"o/r\"",
            ),
            block(
                "secondary",
                "github",
                &format!("http://localhost:{}/secondary/", server.port()),
                "mode = \"releases\"\nrepo = \"o/r\"",
            ),
        ],
    ));
    let (code, report) = env.once_json().await;
    assert_eq!(code, 1, "{report:#}");
    let primary = source_line(&report, "primary");
    let until = chrono::DateTime::from_timestamp(reset as i64, 0)
        .expect("time")
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let error = primary["error"].as_str().expect("a reason");
    assert!(
        error.starts_with("rate limited until ") && error.ends_with("(HTTP 403)"),
        "{error}"
    );
    let said = &error["rate limited until ".len()..error.len() - " (HTTP 403)".len()];
    let said = chrono::DateTime::parse_from_rfc3339(said).expect("a time");
    let want = chrono::DateTime::parse_from_rfc3339(&until).expect("a time");
    assert!(
        (said - want).num_seconds().abs() <= 2,
        "the reset, not a guess: {error}"
    );
    assert_eq!(primary["attempts"], 1, "no retry before the reset");
    let secondary = source_line(&report, "secondary")["error"]
        .as_str()
        .expect("a reason");
    assert!(secondary.starts_with("rate limited until "), "{secondary}");

    let breaker: Vec<(String, i64, Option<String>)> = env
        .db()
        .prepare("SELECT name, consecutive_failures, paused_until FROM sources ORDER BY name")
        .and_then(|mut st| {
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .expect("sources");
    assert!(
        breaker
            .iter()
            .all(|(_, failures, paused)| *failures == 0 && paused.is_none()),
        "a rate limit is never a failure, even with a breaker at 1: {breaker:?}"
    );
    let backoff: String = env
        .db()
        .query_row(
            "SELECT backoff_until FROM hosts WHERE host = ?1",
            [format!("127.0.0.1:{}", server.port())],
            |r| r.get(0),
        )
        .expect("the host backs off, persisted");
    let backoff = chrono::DateTime::parse_from_rfc3339(&backoff).expect("time");
    assert!(
        (backoff - want).num_seconds().abs() <= 2,
        "until the reset: {backoff}"
    );

    let (_, again) = env.once_json().await;
    assert_eq!(source_line(&again, "primary")["status"], "skipped");
    assert_eq!(
        server.hits("/primary/repos/o/r/releases"),
        1,
        "nothing is asked of a limited host before its reset"
    );
}

#[tokio::test]
async fn api_error_bodies_explain_4xx_answers() {
    let server = MockServer::start().await.expect("mock server");
    let key = "k-9a8b7c6d5e4f";
    server.route(
        "/news/v2/everything",
        json(format!(r#"{{"status":"error","code":"parameterInvalid","message":"The q parameter is too long (you sent key {key})."}}"#))
            .status_code(400),
    );
    server.route(
        "/guardian/search",
        json(r#"{"response":{"status":"error","message":"requested page is beyond the number of available pages"}}"#)
            .status_code(400),
    );
    server.route(
        "/github/search/repositories",
        json(r#"{"message":"Validation Failed","documentation_url":"https://docs.github.com/rest/search"}"#)
            .status_code(422),
    );
    server.route(
        "/denied/search/repositories",
        json(r#"{"message":"Bad credentials"}"#).status_code(401),
    );
    let env = TestEnv::new(&config(
        "",
        &[
            block(
                "news",
                "newsapi",
                &server.url("/news/"),
                &format!("endpoint = \"everything\"\nq = \"rust\"\napi_key = \"{key}\""),
            ),
            block(
                "guardian",
                "guardian",
                &server.url("/guardian/"),
                "api_key = \"g-0123456789\"",
            ),
            block("github", "github", &server.url("/github/"), "q = \"rust\""),
            block(
                "denied",
                "github",
                &server.url("/denied/"),
                "q = \"rust\"\napi_key_env = \"HERALD_TEST_GH\"",
            ),
        ],
    ));
    let (_, report) = env
        .once_json_with_env(&[("HERALD_TEST_GH", "ghp-0123456789")])
        .await;
    assert_eq!(
        source_line(&report, "news")["error"],
        "API error: The q parameter is too long (you sent key [REDACTED]). (HTTP 400)"
    );
    assert_eq!(
        source_line(&report, "guardian")["error"],
        "API error: requested page is beyond the number of available pages (HTTP 400)"
    );
    assert_eq!(
        source_line(&report, "github")["error"],
        "API error: Validation Failed (HTTP 422)"
    );
    assert_eq!(
        source_line(&report, "denied")["error"],
        "unauthorized (check api_key_env HERALD_TEST_GH): API error: Bad credentials (HTTP 401)"
    );
}
