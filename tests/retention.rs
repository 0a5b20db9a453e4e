//! Retention: `keep`, `keep_history`, `herald prune` and the daemon's own
//! hourly prune. Time is moved by rewriting the stored timestamps, never by
//! waiting.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

fn item(n: u32) -> String {
    format!("<item><title>Story {n} zeppelin</title><link>https://news.example/{n}</link></item>")
}

fn feed(items: &[u32]) -> Vec<u8> {
    let items: String = items.iter().map(|n| item(*n)).collect();
    format!("<rss version=\"2.0\"><channel><title>t</title>{items}</channel></rss>").into_bytes()
}

/// Everything stored so far happened 100 days ago.
fn age_everything(env: &TestEnv) {
    env.db()
        .execute_batch(
            "UPDATE articles SET fetched_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-100 days');
             UPDATE appearances SET first_seen = strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-100 days'),
                                    last_seen = strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-100 days');
             UPDATE fetches SET finished_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-100 days');
             UPDATE rounds SET started_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-100 days'),
                               finished_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-100 days');",
        )
        .expect("age the database");
}

async fn prune(env: &TestEnv, args: &[&str]) -> Value {
    let mut all = vec!["prune", "--format", "json"];
    all.extend_from_slice(args);
    let output = env.herald(&all).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON report")
}

fn count(env: &TestEnv, sql: &str) -> i64 {
    env.db()
        .query_row(sql, [], |row| row.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[tokio::test]
async fn prune_removes_what_no_source_still_serves_and_it_never_comes_back_as_new() {
    let server = MockServer::start().await.expect("mock server");
    server.route(
        "/news.xml",
        MockResponse::ok("application/rss+xml", feed(&[1, 2, 3])),
    );
    server.route(
        "/archive.xml",
        MockResponse::ok("application/rss+xml", feed(&[7])),
    );
    let env = TestEnv::new(&config(
        "keep = \"90d\"\nkeep_history = \"30d\"",
        &[
            feed_source("news", &server.url("/news.xml")),
            format!(
                "{}keep = \"forever\"\n",
                feed_source("archive", &server.url("/archive.xml"))
            ),
        ],
    ));
    let (code, _) = env.once_json().await;
    assert_eq!(code, 0);
    assert_eq!(env.article_count(), 4);
    age_everything(&env);

    // Story 3 is no longer served; 1 and 2 still are; the archive serves
    // nothing any more but keeps its articles forever.
    server.route(
        "/news.xml",
        MockResponse::ok("application/rss+xml", feed(&[1, 2])),
    );
    server.route(
        "/archive.xml",
        MockResponse::ok("application/rss+xml", feed(&[])),
    );
    let (code, report) = env.once_json().await;
    assert_eq!(code, 0);
    assert_eq!(source_line(&report, "news")["seen"], 2);

    let dry = prune(&env, &["--dry-run"]).await;
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["articles"], 1, "only story 3: {dry:#}");
    assert_eq!(
        dry["fetches"], 2,
        "the two fetches of 100 days ago: {dry:#}"
    );
    assert_eq!(dry["rounds"], 1, "{dry:#}");
    assert_eq!(env.article_count(), 4, "a dry run removes nothing");

    let done = prune(&env, &[]).await;
    assert_eq!(
        (
            done["articles"].as_u64(),
            done["fetches"].as_u64(),
            done["rounds"].as_u64()
        ),
        (Some(1), Some(2), Some(1)),
        "{done:#}"
    );
    assert!(done["longest_step_ms"].is_u64(), "{done:#}");
    assert_eq!(
        count(
            &env,
            "SELECT count(*) FROM articles WHERE url = 'https://news.example/3'"
        ),
        0
    );
    assert_eq!(
        env.article_count(),
        3,
        "1, 2 (still served) and the archive's 7"
    );
    assert_eq!(
        count(&env, "SELECT count(*) FROM appearances"),
        3,
        "cascaded"
    );
    assert_eq!(
        count(
            &env,
            "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH 'zeppelin'"
        ),
        3,
        "the index lost the pruned article too"
    );
    assert_eq!(
        count(&env, "SELECT count(*) FROM rounds"),
        1,
        "the recent round stays"
    );
    env.db()
        .execute(
            "INSERT INTO articles_fts (articles_fts, rank) VALUES ('integrity-check', 1)",
            [],
        )
        .expect("full-text index consistent");
    env.assert_integrity();

    // Still-served articles are still known: nothing comes back as new.
    let (code, report) = env.once_json().await;
    assert_eq!(code, 0);
    assert_eq!(source_line(&report, "news")["new"], 0, "{report:#}");
    assert_eq!(source_line(&report, "news")["seen"], 2);
}

#[tokio::test]
async fn a_new_database_gives_space_back_after_pruning() {
    let server = MockServer::start().await.expect("mock server");
    let many: Vec<u32> = (1..=400).collect();
    server.route(
        "/news.xml",
        MockResponse::ok("application/rss+xml", feed(&many)),
    );
    let env = TestEnv::new(&config(
        "",
        &[feed_source("news", &server.url("/news.xml"))],
    ));
    let (code, _) = env.once_json().await;
    assert_eq!(code, 0);
    assert_eq!(
        count(&env, "PRAGMA auto_vacuum"),
        2,
        "incremental on a new file"
    );
    age_everything(&env);
    server.route(
        "/news.xml",
        MockResponse::ok("application/rss+xml", feed(&[])),
    );
    let done = prune(&env, &[]).await;
    assert_eq!(done["articles"], 400, "{done:#}");
    let (before, after) = (
        done["bytes_before"].as_u64().expect("size"),
        done["bytes_after"].as_u64().expect("size"),
    );
    assert!(after < before, "{before} → {after}");
    assert_eq!(
        count(&env, "PRAGMA freelist_count"),
        0,
        "every free page handed back"
    );
}

#[tokio::test]
async fn the_daemon_prunes_by_itself_after_a_round() {
    let server = MockServer::start().await.expect("mock server");
    server.route(
        "/news.xml",
        MockResponse::ok("application/rss+xml", feed(&[1, 2])),
    );
    let env = TestEnv::new(&config(
        "schedule = \"0 0 1 1 *\"",
        &[feed_source("news", &server.url("/news.xml"))],
    ));
    let (code, _) = env.once_json().await;
    assert_eq!(code, 0);
    age_everything(&env);
    server.route(
        "/news.xml",
        MockResponse::ok("application/rss+xml", feed(&[2])),
    );
    let log_path = env.dir.path().join("daemon.log");
    let log_file = std::fs::File::create(&log_path).expect("log file");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["--config", &env.config.display().to_string(), "run"])
        .stdout(std::process::Stdio::null())
        .stderr(log_file)
        .kill_on_drop(true)
        .spawn()
        .expect("start herald run");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    while !read_log().contains("pruned 1 article(s) no source served within its keep") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the daemon did not report a prune:\n{}",
            read_log()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        count(&env, "SELECT count(*) FROM articles"),
        1,
        "story 2 stays"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id().expect("pid")).expect("pid fits")),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM");
    assert!(child.wait().await.expect("herald exits").success());
}

#[tokio::test]
async fn a_keep_shorter_than_a_day_is_refused_with_its_line() {
    let env = TestEnv::new(
        "[daemon]\nkeep = \"12h\"\n\n[[sources]]\nname = \"a\"\nkind = \"feed\"\nurl = \"https://a.example/feed\"\nkeep = \"soon\"\n",
    );
    let output = env.herald(&["check"]).await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let file = env.config.display().to_string();
    assert!(
        stderr.contains(&format!(
            "{file}:2: key `daemon.keep`: \"12h\" is shorter than the minimum of 1 day"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{file}:8: source \"a\": key `keep`: \"soon\" is not a duration"
        )),
        "{stderr}"
    );
}
