//! The read commands against a database filled by a real round.

mod common;

use common::store::Store;
use common::*;
use serde_json::Value;

fn item(title: &str, link: &str, date: &str) -> String {
    format!(
        "<item><title>{title}</title><link>{link}</link><pubDate>{date}</pubDate><description>About {title}</description></item>"
    )
}

/// Two feeds sharing one syndicated headline, a failing source, two rounds.
async fn filled(store: &Store) -> (MockServer, TestEnv) {
    let server = MockServer::start().await.expect("mock server");
    let alpha = format!(
        "<rss version=\"2.0\"><channel><title>a</title>{}{}{}</channel></rss>",
        item(
            "Rust &amp; &lt;SQLite&gt; news",
            "https://a.example/1",
            "Sun, 22 Nov 2026 10:00:00 GMT"
        ),
        item(
            "Older alpha story",
            "https://a.example/2",
            "Sat, 21 Nov 2026 10:00:00 GMT"
        ),
        item(
            "Same headline everywhere",
            "https://a.example/3",
            "Sun, 22 Nov 2026 09:00:00 GMT"
        ),
    );
    let beta = format!(
        "<rss version=\"2.0\"><channel><title>b</title>{}{}</channel></rss>",
        item(
            "Beta exclusive",
            "https://b.example/1",
            "Sun, 22 Nov 2026 11:00:00 GMT"
        ),
        item(
            "Same Headline, everywhere!",
            "https://b.example/syndicated",
            "Sun, 22 Nov 2026 08:00:00 GMT"
        ),
    );
    server.route("/a.xml", MockResponse::ok("application/rss+xml", alpha));
    server.route("/b.xml", MockResponse::ok("application/rss+xml", beta));
    server.route("/down.xml", MockResponse::status(500));
    let env = TestEnv::new(&config(
        &store.database_line(),
        &[
            feed_source("alpha", &server.url("/a.xml")),
            feed_source("beta", &server.url("/b.xml")),
            feed_source("down", &server.url("/down.xml")),
        ],
    ));
    env.once_json().await;
    env.once_json().await;
    (server, env)
}

async fn json_of(env: &TestEnv, args: &[&str]) -> Value {
    let output = env.herald(args).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON output")
}

async fn latest_is_newest_first_one_per_story_and_filters(store: Store) {
    let (_server, env) = filled(&store).await;
    let all = json_of(&env, &["latest", "--format", "json"]).await;
    let titles: Vec<&str> = all
        .as_array()
        .expect("array")
        .iter()
        .map(|a| a["title"].as_str().expect("title"))
        .collect();
    assert_eq!(
        titles,
        [
            "Beta exclusive",
            "Rust & <SQLite> news",
            "Same headline everywhere",
            "Older alpha story"
        ],
        "newest first; the syndicated copy collapsed into the first"
    );
    let beta = json_of(
        &env,
        &["latest", "--source", "beta", "-n", "1", "--format", "json"],
    )
    .await;
    assert_eq!(beta.as_array().map(Vec::len), Some(1));
    assert_eq!(beta[0]["source"], "beta");

    let output = env
        .herald(&["latest", "--format", "ndjson", "-n", "2"])
        .await;
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    assert_eq!(lines.len(), 2);

    let table = String::from_utf8_lossy(&env.herald(&["latest"]).await.stdout).into_owned();
    assert!(
        table.lines().all(|l| l.chars().count() <= 120),
        "fits the width:\n{table}"
    );
    assert!(table.contains("Rust & <SQLite> news"), "{table}");
}

async fn sources_and_stats_report_state_from_the_tables(store: Store) {
    let (_server, env) = filled(&store).await;
    let sources = json_of(&env, &["sources", "--format", "json"]).await;
    let by_name = |name: &str| {
        sources
            .as_array()
            .and_then(|s| s.iter().find(|r| r["name"] == name))
            .cloned()
            .expect("listed")
    };
    assert_eq!(by_name("alpha")["state"]["articles"], 3);
    assert_eq!(
        by_name("beta")["state"]["last_new"],
        0,
        "second round found nothing new"
    );
    let down = by_name("down");
    assert_eq!(down["state"]["consecutive_failures"], 2);
    assert_eq!(
        down["state"]["last_error"],
        "HTTP 500 Internal Server Error"
    );

    let stats = json_of(&env, &["stats", "--format", "json"]).await;
    assert_eq!(stats["rounds"].as_array().map(Vec::len), Some(2));
    assert_eq!(stats["rounds"][0]["new"], 0);
    assert_eq!(stats["rounds"][1]["new"], 5);
    let down_stats = stats["sources"]
        .as_array()
        .and_then(|s| s.iter().find(|r| r["source"] == "down"))
        .expect("down");
    assert_eq!(
        (
            down_stats["fetches"].as_i64(),
            down_stats["failure_rate"].as_f64()
        ),
        (Some(2), Some(1.0))
    );
    let ndjson = env.herald(&["stats", "--format", "ndjson"]).await;
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&ndjson.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one object per line"))
        .collect();
    let kinds: Vec<&str> = lines.iter().filter_map(|l| l["type"].as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "round").count(),
        2,
        "{lines:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "source").count(),
        stats["sources"].as_array().map_or(0, Vec::len)
    );
    let table = String::from_utf8_lossy(&env.herald(&["stats"]).await.stdout).into_owned();
    assert!(
        table.contains("WALL S") && table.contains("100%"),
        "{table}"
    );
}

async fn export_is_a_valid_atom_and_json_feed(store: Store) {
    let (_server, env) = filled(&store).await;
    let output = env.herald(&["export", "--format", "atom"]).await;
    assert_eq!(output.status.code(), Some(0));
    let payload = herald::model::http::Payload {
        body: output.stdout.clone().into(),
        content_type: Some("application/atom+xml".into()),
        url: url::Url::parse("https://herald.example/export").expect("url"),
    };
    let entries = herald::sources::feed::parse_feed(&payload).expect("herald's own Atom parses");
    assert_eq!(entries.len(), 4);
    assert_eq!(
        entries[1].title.as_deref(),
        Some("Rust & <SQLite> news"),
        "escaped, and unescaped back"
    );
    assert_eq!(entries[1].link.as_deref(), Some("https://a.example/1"));
    assert!(entries.iter().all(|e| e.published_at.is_some()));

    let feed = json_of(
        &env,
        &["export", "--format", "json", "-n", "2", "--source", "alpha"],
    )
    .await;
    assert_eq!(feed["version"], "https://jsonfeed.org/version/1.1");
    assert_eq!(feed["title"], "herald: alpha");
    let items = feed["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    for required in ["id", "url", "title", "content_text", "date_published"] {
        assert!(
            items.iter().all(|i| i[required].is_string()),
            "{required} in {items:#?}"
        );
    }
}

#[tokio::test]
async fn a_missing_database_is_explained() {
    let env = TestEnv::new("");
    let output = env.herald(&["latest"]).await;
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim(),
        format!(
            "error: no database yet at {}: has `herald run` or `herald once` run with this config?",
            env.db_path().display()
        ),
        "one line"
    );
}

fn described(title: &str, summary: &str, link: &str, date: &str) -> String {
    format!(
        "<item><title>{title}</title><link>{link}</link><pubDate>{date}</pubDate><description>{summary}</description></item>"
    )
}

async fn search_finds_title_and_summary_words_best_match_first(store: Store) {
    let server = MockServer::start().await.expect("mock server");
    let feed = format!(
        "<rss version=\"2.0\"><channel><title>s</title>{}{}{}</channel></rss>",
        described(
            "Rust 2.0 released",
            "The compiler team ships a new edition.",
            "https://s.example/rust",
            "Sat, 21 Nov 2026 10:00:00 GMT"
        ),
        described(
            "Gardening tips",
            "Why rust on your tools is bad news.",
            "https://s.example/garden",
            "Sun, 22 Nov 2026 10:00:00 GMT"
        ),
        described(
            "Café prices",
            "Nothing to see.",
            "https://s.example/cafe",
            "Sun, 22 Nov 2026 11:00:00 GMT"
        ),
    );
    server.route("/s.xml", MockResponse::ok("application/rss+xml", feed));
    let env = TestEnv::new(&config(
        &store.database_line(),
        &[feed_source("s", &server.url("/s.xml"))],
    ));
    env.once_json().await;

    let urls = |found: &Value| -> Vec<String> {
        found
            .as_array()
            .expect("array")
            .iter()
            .map(|a| a["url"].as_str().expect("url").to_owned())
            .collect()
    };
    let rust = json_of(&env, &["search", "rust", "--format", "json"]).await;
    assert_eq!(
        urls(&rust),
        ["https://s.example/rust", "https://s.example/garden"],
        "the title hit ranks above the newer summary hit"
    );
    let edition = json_of(&env, &["search", "edition", "--format", "json"]).await;
    assert_eq!(urls(&edition), ["https://s.example/rust"], "summary words");
    let stemmed = json_of(&env, &["search", "releases", "--format", "json"]).await;
    assert_eq!(
        urls(&stemmed),
        ["https://s.example/rust"],
        "English stems: releases finds released"
    );
    let none = json_of(&env, &["search", "nonexistent", "--format", "json"]).await;
    assert_eq!(urls(&none), Vec::<String>::new());

    let table = String::from_utf8_lossy(&env.herald(&["search", "rust"]).await.stdout).into_owned();
    assert!(table.contains("Rust 2.0 released"), "{table}");

    let cafe = json_of(&env, &["search", "café", "--format", "json"]).await;
    assert_eq!(urls(&cafe), ["https://s.example/cafe"], "accented words");
    let phrase = json_of(&env, &["search", "\"new edition\"", "--format", "json"]).await;
    assert_eq!(urls(&phrase), ["https://s.example/rust"], "a quoted phrase");
    if store == Store::Sqlite {
        // FTS5 folds accents, and refuses what it cannot parse.
        let cafe = json_of(&env, &["search", "cafe", "--format", "json"]).await;
        assert_eq!(urls(&cafe), ["https://s.example/cafe"], "diacritics folded");
        let bad = env.herald(&["search", "\"unbalanced"]).await;
        assert_eq!(bad.status.code(), Some(2), "a bad query is a usage error");
        let stderr = String::from_utf8_lossy(&bad.stderr);
        assert!(
            stderr.contains("search query \"\\\"unbalanced\" is not valid"),
            "{stderr}"
        );
    } else {
        // websearch_to_tsquery reads any input: `-word` excludes.
        let without = json_of(&env, &["search", "rust -edition", "--format", "json"]).await;
        assert_eq!(
            urls(&without),
            ["https://s.example/garden"],
            "minus excludes"
        );
    }
}

#[tokio::test]
async fn once_dry_run_shows_what_would_be_stored_and_writes_nothing() {
    let server = MockServer::start().await.expect("mock server");
    let two = format!(
        "<rss version=\"2.0\"><channel><title>d</title>{}{}</channel></rss>",
        item(
            "First",
            "https://d.example/1",
            "Sun, 22 Nov 2026 10:00:00 GMT"
        ),
        item(
            "Second",
            "https://d.example/2",
            "Sun, 22 Nov 2026 11:00:00 GMT"
        ),
    );
    let three = two.replace(
        "</channel>",
        &format!(
            "{}</channel>",
            item(
                "Third",
                "https://d.example/3",
                "Sun, 22 Nov 2026 12:00:00 GMT"
            )
        ),
    );
    server.route_sequence(
        "/d.xml",
        vec![
            MockResponse::ok("application/rss+xml", two.clone()),
            MockResponse::ok("application/rss+xml", two),
            MockResponse::ok("application/rss+xml", three).header("cache-control", "max-age=7200"),
        ],
    );
    server.route("/down.xml", MockResponse::status(500));
    let env = TestEnv::new(&config(
        "",
        &[
            feed_source("d", &server.url("/d.xml")),
            feed_source("down", &server.url("/down.xml")),
        ],
    ));

    // On a fresh machine: everything would be new, and no database appears.
    let first = json_of(&env, &["once", "--dry-run", "--format", "json"]).await;
    assert_eq!(first["report"]["sources"][0]["new"], 2);
    assert!(!env.db_path().exists(), "a dry run creates no database");

    env.once_json().await;
    let before = std::fs::read(env.db_path()).expect("database");
    let dry = json_of(&env, &["once", "--dry-run", "--format", "json"]).await;
    let line = |name: &str| {
        dry["report"]["sources"]
            .as_array()
            .and_then(|s| s.iter().find(|l| l["name"] == name))
            .cloned()
            .expect("reported")
    };
    assert_eq!(
        (line("d")["new"].as_i64(), line("d")["seen"].as_i64()),
        (Some(1), Some(2))
    );
    assert_eq!(line("down")["status"], "failed");
    let next = |name: &str| {
        dry["next_due"]
            .as_array()
            .and_then(|s| s.iter().find(|n| n["source"] == name))
            .cloned()
            .expect("next due")
    };
    assert!(
        next("d")["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("the server asked not to be checked before")),
        "{dry:#}"
    );
    assert!(
        next("down")["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("next tick of")),
        "{dry:#}"
    );
    assert_eq!(
        std::fs::read(env.db_path()).expect("database"),
        before,
        "the database file is byte for byte the same"
    );
    let db = env.db();
    let count = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).expect(sql) };
    assert_eq!(count("SELECT count(*) FROM articles"), 2);
    assert_eq!(count("SELECT count(*) FROM rounds"), 1);
    assert_eq!(
        count("SELECT consecutive_failures FROM sources WHERE name = 'down'"),
        1,
        "the dry run's failure was not counted"
    );

    let table =
        String::from_utf8_lossy(&env.herald(&["once", "--dry-run"]).await.stdout).into_owned();
    assert!(
        table.starts_with("dry run: nothing was written to"),
        "{table}"
    );
    assert!(table.contains("WOULD ADD"), "{table}");
}

#[tokio::test]
async fn characters_xml_forbids_never_reach_the_database_or_the_export() {
    let server = MockServer::start().await.expect("mock server");
    // JSON escapes can carry any code point into a title.
    let controls = r#"{"version":"https://jsonfeed.org/version/1","title":"c","items":[
        {"id":"1","url":"https://c.example/1","title":"Nul\u0000here"},
        {"id":"2","url":"https://c.example/2","title":"Non\uffffchar \ufffex"},
        {"id":"3","url":"https://c.example/3","title":"Raw\u0001\u0008control\u009b"}]}"#;
    server.route(
        "/c.json",
        MockResponse::ok("application/feed+json", controls),
    );
    let json_feed = r#"{"version":"https://jsonfeed.org/version/1.1","title":"j","items":[
        {"id":"1","url":"https://j.example/1","title":"Half an emoji \ud83d here"},
        {"id":"2","url":"https://j.example/2","title":"Whole crab \ud83e\udd80"}]}"#;
    server.route(
        "/j.json",
        MockResponse::ok("application/feed+json", json_feed),
    );
    let env = TestEnv::new(&config(
        "",
        &[
            feed_source("c", &server.url("/c.json")),
            feed_source("j", &server.url("/j.json")),
        ],
    ));
    let (code, report) = env.once_json().await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        source_line(&report, "j")["new"],
        2,
        "a lone surrogate does not fail the feed: {report:#}"
    );
    let titles: Vec<String> = env
        .db()
        .prepare("SELECT title FROM articles ORDER BY url")
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
        .expect("titles");
    assert_eq!(
        titles,
        [
            "Nulhere",
            "Nonchar x",
            "Rawcontrol",
            "Half an emoji \u{FFFD} here",
            "Whole crab 🦀"
        ],
        "{report:#}"
    );
    let atom = env.herald(&["export", "--format", "atom"]).await;
    let text = String::from_utf8(atom.stdout).expect("UTF-8");
    assert!(
        text.chars()
            .all(|c| matches!(c, '\t' | '\n' | '\r') || herald::model::article::is_text_char(c)),
        "every character of the export is XML text"
    );
    let payload = herald::model::http::Payload {
        body: text.into_bytes().into(),
        content_type: Some("application/atom+xml".into()),
        url: url::Url::parse("https://herald.example/export").expect("url"),
    };
    let entries = herald::sources::feed::parse_feed(&payload).expect("well-formed");
    assert_eq!(entries.len(), 5);
}

/// A feed with everyday markup errors: a bare ampersand (twice), an HTML
/// entity XML does not define, a misspelled end tag. Categories and an
/// enclosure ride along.
const REPAIRED_FEED: &str = "<rss version=\"2.0\"><channel><title>Fish & Chips Weekly</title>\
<language>en</langauge>\
<item><title>Fish & Chips&nbsp;prices</title><link>https://fish.example/1</link>\
<category>Food</category><category>Prices</category>\
<enclosure url=\"/audio/1.mp3\" type=\"audio/mpeg\" length=\"12345\"/></item>\
</channel></rss>";

async fn a_repaired_feed_is_ok_and_says_what_was_repaired_in_every_place(store: Store) {
    let server = MockServer::start().await.expect("mock server");
    server.route(
        "/repaired.xml",
        MockResponse::ok("application/rss+xml", REPAIRED_FEED.as_bytes().to_vec()),
    );
    serve_feed(&server, "/clean.xml", 2, std::time::Duration::ZERO);
    let env = TestEnv::new(&config(
        &store.database_line(),
        &[
            feed_source("fishy", &server.url("/repaired.xml")),
            feed_source("clean", &server.url("/clean.xml")),
        ],
    ));
    let want = [
        "bare ampersand escaped ×2",
        "HTML entity decoded",
        "mismatched end tag read as the open element's",
    ];

    // 1. `once --format json`: ok, with the repairs; the clean feed has none.
    let (code, report) = env.once_json().await;
    assert_eq!(code, 0, "{report:#}");
    let fishy = source_line(&report, "fishy");
    assert_eq!(fishy["status"], "ok", "{fishy:#}");
    assert_eq!(fishy["new"], 1, "{fishy:#}");
    let warnings: Vec<&str> = fishy["warnings"]
        .as_array()
        .expect("warnings array")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for part in want {
        assert!(warnings.contains(&part), "{part:?} in {warnings:?}");
    }
    assert_eq!(
        source_line(&report, "clean")["warnings"],
        serde_json::json!([])
    );

    // 2. `sources --format json`: the last fetch's repairs.
    let sources = json_of(&env, &["sources", "--format", "json"]).await;
    let row = sources
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["name"] == "fishy"))
        .unwrap_or_else(|| panic!("fishy in {sources:#}"));
    assert_eq!(row["state"]["warnings"], fishy["warnings"], "{row:#}");
    let clean = sources
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["name"] == "clean"))
        .expect("clean row");
    assert_eq!(clean["state"]["warnings"], serde_json::json!([]));

    // 3. `fetch --explain`: one "repaired:" line naming them.
    let output = env.herald(&["fetch", "fishy", "--explain"]).await;
    let explain = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{explain}");
    let line = explain
        .lines()
        .find(|l| l.trim_start().starts_with("repaired:"))
        .unwrap_or_else(|| panic!("no repaired: line in\n{explain}"));
    for part in want {
        assert!(line.contains(part), "{part:?} in {line}");
    }

    // The article itself: the title repaired, categories and the enclosure
    // (resolved against the feed's URL) kept and exported.
    let feed = json_of(&env, &["export", "--format", "json", "--source", "fishy"]).await;
    let item = &feed["items"][0];
    assert_eq!(
        item["title"], "Fish & Chips prices",
        "whitespace, nbsp included, collapsed"
    );
    assert_eq!(item["tags"], serde_json::json!(["fishy", "Food", "Prices"]));
    assert_eq!(
        item["attachments"],
        serde_json::json!([{
            "url": server.url("/audio/1.mp3"),
            "mime_type": "audio/mpeg",
            "size_in_bytes": 12345
        }])
    );
    let atom = env
        .herald(&["export", "--format", "atom", "--source", "fishy"])
        .await;
    let atom = String::from_utf8_lossy(&atom.stdout);
    assert!(atom.contains("<category term=\"Food\"/>"), "{atom}");
    assert!(
        atom.contains(&format!(
            "<link rel=\"enclosure\" href=\"{}\" type=\"audio/mpeg\" length=\"12345\"/>",
            server.url("/audio/1.mp3")
        )),
        "{atom}"
    );
}

async fn every_source_that_carried_a_story_is_listed_and_recurring_titles_stay(store: Store) {
    let server = MockServer::start().await.expect("mock server");
    // `main` and `category` carry the same two stories (same URLs).
    let shared = format!(
        "{}{}",
        item(
            "Shared one",
            "https://site.example/1",
            "Sun, 22 Nov 2026 10:00:00 GMT"
        ),
        item(
            "Shared two",
            "https://site.example/2",
            "Sun, 22 Nov 2026 09:00:00 GMT"
        ),
    );
    let rss = |items: &str| {
        format!("<rss version=\"2.0\"><channel><title>t</title>{items}</channel></rss>")
    };
    server.route(
        "/main.xml",
        MockResponse::ok("application/rss+xml", rss(&shared)),
    );
    server.route(
        "/category.xml",
        MockResponse::ok("application/rss+xml", rss(&shared)),
    );
    // One source's recurring title, on two days at two URLs: two articles.
    let digest = format!(
        "{}{}",
        item(
            "Daily Digest",
            "https://digest.example/30",
            "Mon, 30 Nov 2026 07:00:00 GMT"
        ),
        item(
            "Daily Digest",
            "https://digest.example/29",
            "Sun, 29 Nov 2026 07:00:00 GMT"
        ),
    );
    server.route(
        "/digest.xml",
        MockResponse::ok("application/rss+xml", rss(&digest)),
    );
    let tagged = |name: &str, path: &str, tags: &str| {
        format!("{}tags = [{tags}]\n", feed_source(name, &server.url(path)))
    };
    let env = TestEnv::new(&config(
        &store.database_line(),
        &[
            tagged("main", "/main.xml", "\"site\""),
            tagged("category", "/category.xml", "\"site\", \"tech\""),
            tagged("digest", "/digest.xml", "\"news\""),
        ],
    ));
    let (code, _) = env.once_json().await;
    assert_eq!(code, 0);

    // Both sources list the stories they carried, whichever stored them first.
    for source in ["main", "category"] {
        let rows = json_of(&env, &["latest", "--source", source, "--format", "json"]).await;
        let urls: Vec<&str> = rows
            .as_array()
            .expect("rows")
            .iter()
            .filter_map(|r| r["url"].as_str())
            .collect();
        assert_eq!(
            urls,
            ["https://site.example/1", "https://site.example/2"],
            "{source}: {rows:#}"
        );
    }
    let sources = json_of(&env, &["sources", "--format", "json"]).await;
    // Each source counts what it carried: two stories each.
    let rows = sources.as_array().expect("rows");
    assert_eq!(rows.len(), 3, "{sources:#}");
    for row in rows {
        assert_eq!(row["state"]["articles"], 2, "{row}");
    }
    // Unfiltered: each story once, with every source that carried it.
    let all = json_of(&env, &["latest", "--format", "json"]).await;
    let rows = all.as_array().expect("rows");
    let shared_one = rows
        .iter()
        .find(|r| r["url"] == "https://site.example/1")
        .expect("shared");
    let mut carriers: Vec<&str> = shared_one["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    carriers.sort_unstable();
    assert_eq!(carriers, ["category", "main"]);
    assert_eq!(
        rows.iter()
            .filter(|r| r["url"] == "https://site.example/1")
            .count(),
        1
    );
    let digests = rows.iter().filter(|r| r["title"] == "Daily Digest").count();
    assert_eq!(
        digests, 2,
        "one source's recurring title is two articles: {all:#}"
    );
    let table = String::from_utf8_lossy(&env.herald(&["latest"]).await.stdout).into_owned();
    assert!(
        table.contains(" +1 "),
        "the table names the first source and how many more: {table}"
    );

    // Tags select by any of the sources carrying them.
    let tech = json_of(&env, &["latest", "--tag", "tech", "--format", "json"]).await;
    assert_eq!(tech.as_array().map(Vec::len), Some(2), "{tech:#}");
    let news = json_of(
        &env,
        &[
            "latest", "--tag", "news", "--tag", "tech", "--format", "json",
        ],
    )
    .await;
    assert_eq!(news.as_array().map(Vec::len), Some(4), "{news:#}");
    let found = json_of(
        &env,
        &["search", "digest", "--tag", "site", "--format", "json"],
    )
    .await;
    assert_eq!(found.as_array().map(Vec::len), Some(0), "{found:#}");
    let unknown = env.herald(&["latest", "--tag", "nope"]).await;
    assert_eq!(unknown.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("tags in use: news, site, tech"), "{stderr}");
}

on_both_stores!(
    latest_is_newest_first_one_per_story_and_filters,
    sources_and_stats_report_state_from_the_tables,
    export_is_a_valid_atom_and_json_feed,
    search_finds_title_and_summary_words_best_match_first,
    a_repaired_feed_is_ok_and_says_what_was_repaired_in_every_place,
    every_source_that_carried_a_story_is_listed_and_recurring_titles_stay,
);
