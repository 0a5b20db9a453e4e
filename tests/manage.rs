//! Managing sources from the command line: OPML import and export, add by
//! URL with feed discovery, remove; every edit keeps the config's comments
//! and lands atomically.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/opml")
        .join(name)
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// (name, url, tags) of every source, as `herald config` would load them.
fn sources_of(env: &TestEnv) -> Vec<(String, String, Vec<String>)> {
    let text = std::fs::read_to_string(&env.config).expect("config");
    let table: toml::Table = toml::from_str(&text).expect("valid TOML");
    table
        .get("sources")
        .and_then(toml::Value::as_array)
        .map(|sources| {
            sources
                .iter()
                .map(|s| {
                    let get = |k: &str| {
                        s.get(k)
                            .and_then(toml::Value::as_str)
                            .unwrap_or_default()
                            .to_owned()
                    };
                    let tags = s
                        .get("tags")
                        .and_then(toml::Value::as_array)
                        .map(|t| {
                            t.iter()
                                .filter_map(|v| v.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default();
                    (get("name"), get("url"), tags)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn messy_opml_files_import_as_their_authors_meant() {
    // (file, sources added)
    let cases = [
        ("01-opml2-nested.opml", 3),
        ("02-opml1-flat.opml", 2),
        ("03-no-version.opml", 2),
        ("04-bom.opml", 1),
        ("05-bare-ampersands-and-entities.opml", 2),
        ("06-latin1-declared-utf8.opml", 2),
        ("07-categories.opml", 3),
        ("08-types-and-case.opml", 3),
        ("09-duplicates-and-junk.opml", 2),
        ("10-deep-nesting.opml", 1),
        ("13-windows-newlines.opml", 1),
    ];
    for (file, added) in cases {
        let env = TestEnv::new("[daemon]\n");
        let output = env
            .herald(&["import", &fixture(file).display().to_string()])
            .await;
        assert_eq!(output.status.code(), Some(0), "{file}: {}", stderr(&output));
        assert_eq!(sources_of(&env).len(), added, "{file}: {}", stdout(&output));
        let check = env.herald(&["check"]).await;
        assert_eq!(check.status.code(), Some(0), "{file}: the result is valid");
    }

    let env = TestEnv::new("[daemon]\n");
    env.herald(&[
        "import",
        &fixture("01-opml2-nested.opml").display().to_string(),
    ])
    .await;
    assert_eq!(
        sources_of(&env),
        [
            (
                "LWN.net".into(),
                "https://lwn.example/headlines/rss".into(),
                vec!["Tech".into()]
            ),
            (
                "Rust Blog".into(),
                "https://blog.rust.example/feed.xml".into(),
                vec!["Tech".into()]
            ),
            (
                "World".into(),
                "https://news.example/world.atom".into(),
                vec!["News".into()]
            ),
        ]
    );
    let env = TestEnv::new("[daemon]\n");
    env.herald(&[
        "import",
        &fixture("05-bare-ampersands-and-entities.opml")
            .display()
            .to_string(),
    ])
    .await;
    let sources = sources_of(&env);
    assert_eq!(sources[0].0, "Café Society Weekly");
    assert_eq!(sources[0].1, "https://cafe.example/feed?lang=fr&format=rss");
    assert_eq!(sources[0].2, ["Science & Nature"]);
    let env = TestEnv::new("[daemon]\n");
    env.herald(&[
        "import",
        &fixture("06-latin1-declared-utf8.opml")
            .display()
            .to_string(),
    ])
    .await;
    assert_eq!(sources_of(&env)[0].0, "Zürich Zeitung");
    let env = TestEnv::new("[daemon]\n");
    env.herald(&[
        "import",
        &fixture("07-categories.opml").display().to_string(),
    ])
    .await;
    let names: Vec<String> = sources_of(&env).into_iter().map(|s| s.0).collect();
    assert_eq!(names, ["Kernel", "Untitled by text", "nameless.example"]);
    assert_eq!(sources_of(&env)[0].2, ["Linux", "Security"]);

    // Already configured (after canonicalisation), listed twice, not http,
    // not a URL: skipped and said.
    let env = TestEnv::new("[daemon]\n");
    let output = env
        .herald(&[
            "import",
            &fixture("09-duplicates-and-junk.opml").display().to_string(),
        ])
        .await;
    let text = stdout(&output);
    assert!(
        text.contains("5 feed(s) found, 2 added, 3 skipped"),
        "{text}"
    );
    assert!(text.contains("is already configured as \"Same\""), "{text}");
    assert!(
        text.contains("Same-2"),
        "a second \"Same\" gets a unique name: {text}"
    );
}

#[tokio::test]
async fn a_file_that_is_not_opml_fails_with_its_line_and_changes_nothing() {
    let original = "# keep me\n[daemon]\nworkers = 3\n";
    // --dry-run shows what would change and writes nothing.
    let env = TestEnv::new(original);
    let output = env
        .herald(&[
            "import",
            &fixture("01-opml2-nested.opml").display().to_string(),
            "--dry-run",
        ])
        .await;
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    assert!(
        text.contains("3 added") && text.contains("dry run: ") && text.contains("was not changed"),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(&env.config).expect("config"),
        original
    );
    for (file, line, reason) in [
        ("11-malformed.opml", "line 5", "unreadable markup"),
        ("12-not-opml.opml", "line 2", "not an OPML document"),
    ] {
        let env = TestEnv::new(original);
        let output = env
            .herald(&["import", &fixture(file).display().to_string()])
            .await;
        assert_eq!(output.status.code(), Some(2), "{file}");
        let text = stderr(&output);
        assert!(
            text.contains(line) && text.contains(reason) && text.contains(file),
            "{text}"
        );
        assert_eq!(
            std::fs::read_to_string(&env.config).expect("config"),
            original
        );
    }
}

#[tokio::test]
async fn two_thousand_outlines_import_and_round_trip_through_export() {
    let env = TestEnv::new("# my reader's export, imported\n[daemon]\nworkers = 8 # small box\n");
    let output = env
        .herald(&[
            "import",
            &fixture("14-two-thousand.opml").display().to_string(),
        ])
        .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).contains("2000 feed(s) found, 2000 added, 0 skipped"));
    let imported = sources_of(&env);
    assert_eq!(imported.len(), 2000);
    let text = std::fs::read_to_string(&env.config).expect("config");
    assert!(
        text.starts_with("# my reader's export, imported\n[daemon]\nworkers = 8 # small box\n")
    );

    // Export, import into an empty config: the same sources, names and tags.
    let exported = env.herald(&["export", "--format", "opml"]).await;
    assert_eq!(exported.status.code(), Some(0), "{}", stderr(&exported));
    let opml = env.dir.path().join("exported.opml");
    std::fs::write(&opml, &exported.stdout).expect("write");
    let again = TestEnv::new("[daemon]\n");
    let output = again.herald(&["import", &opml.display().to_string()]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(sources_of(&again), imported);
    // Importing the same file again adds nothing.
    let output = again.herald(&["import", &opml.display().to_string()]).await;
    assert!(stdout(&output).contains("2000 feed(s) found, 0 added, 2000 skipped"));

    // --tag exports one folder.
    let one = env
        .herald(&["export", "--format", "opml", "--tag", "Folder 07"])
        .await;
    assert_eq!(
        String::from_utf8_lossy(&one.stdout)
            .matches("xmlUrl=")
            .count(),
        50
    );
}

#[tokio::test]
async fn add_finds_the_feeds_a_page_declares_and_remove_takes_one_out() {
    let server = MockServer::start().await.expect("mock server");
    // A page with two relative alternate links, one through <base>.
    server.route(
        "/blog/",
        MockResponse::ok(
            "text/html",
            "<!doctype html><html><head><base href=\"/blog/feeds/\">\
             <link rel=\"alternate\" type=\"application/rss+xml\" title=\"Posts\" href=\"posts.xml\">\
             <link rel=\"alternate\" type=\"application/atom+xml\" href=\"/comments.atom\">\
             </head><body>hello</body></html>",
        ),
    );
    server.route(
        "/blog/feeds/posts.xml",
        MockResponse::ok("application/rss+xml", rss_feed("posts", 4)),
    );
    server.route(
        "/comments.atom",
        MockResponse::ok(
            "application/atom+xml",
            "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>Comments</title>\
             <entry><title>c</title><link href=\"https://c.example/1\"/><id>1</id></entry></feed>",
        ),
    );
    let env = TestEnv::new("# sources below\n[daemon]\n");
    let output = env
        .herald(&["add", &server.url("/blog/"), "--tag", "blogs"])
        .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains(&server.url("/blog/feeds/posts.xml")),
        "{text}"
    );
    assert!(text.contains("4 item(s)"), "{text}");
    assert!(text.contains("(1 more: --all adds every one)"), "{text}");
    let sources = sources_of(&env);
    assert_eq!(sources.len(), 1, "{text}");
    assert_eq!(sources[0].1, server.url("/blog/feeds/posts.xml"));
    assert_eq!(sources[0].2, ["blogs"]);

    // --all adds the other one; the first is already configured.
    let output = env.herald(&["add", &server.url("/blog/"), "--all"]).await;
    let text = stdout(&output);
    assert!(text.contains("is already configured as"), "{text}");
    assert!(text.contains("Comments"), "{text}");
    assert_eq!(sources_of(&env).len(), 2);

    // A page that declares nothing, but serves /feed.xml.
    let other = MockServer::start().await.expect("mock server");
    other.route(
        "/",
        MockResponse::ok(
            "text/html",
            "<html><head></head><body>no links</body></html>",
        ),
    );
    other.route(
        "/feed.xml",
        MockResponse::ok("application/rss+xml", rss_feed("fx", 2)),
    );
    let output = env
        .herald(&["add", &other.url("/"), "--name", "quiet site"])
        .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        sources_of(&env)
            .iter()
            .any(|s| s.0 == "quiet site" && s.1 == other.url("/feed.xml"))
    );

    // Nothing at all: exit 1, and what was tried.
    let empty = MockServer::start().await.expect("mock server");
    empty.route(
        "/",
        MockResponse::ok("text/html", "<html><body>nothing</body></html>"),
    );
    let output = env.herald(&["add", &empty.url("/")]).await;
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(
        text.contains("no feed found") && text.contains(&empty.url("/rss.xml")),
        "{text}"
    );
    assert_eq!(sources_of(&env).len(), 3);

    // Remove: the block goes, the comments stay, the articles are said to stay.
    let output = env.herald(&["remove", "quiet site"]).await;
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).contains("its articles stay in the database"));
    assert_eq!(sources_of(&env).len(), 2);
    assert!(
        std::fs::read_to_string(&env.config)
            .expect("config")
            .starts_with("# sources below\n")
    );
    let output = env.herald(&["remove", "nope"]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("the sources are: "));
}

#[tokio::test]
async fn a_reader_racing_the_edits_sees_the_old_file_or_the_new_never_half() {
    let env = TestEnv::new("[daemon]\n");
    let path = env.config.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let text = std::fs::read_to_string(&path).expect("the file is always there");
                let parsed: Result<toml::Table, _> = toml::from_str(&text);
                assert!(parsed.is_ok(), "a half-written file:\n{text}");
                reads += 1;
            }
            reads
        })
    };
    for file in [
        "01-opml2-nested.opml",
        "02-opml1-flat.opml",
        "03-no-version.opml",
        "14-two-thousand.opml",
    ] {
        let output = env
            .herald(&["import", &fixture(file).display().to_string()])
            .await;
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = watcher.join().expect("watcher");
    assert!(reads > 0);
    assert_eq!(sources_of(&env).len(), 2007);
}

#[tokio::test]
async fn import_with_reload_makes_the_running_daemon_fetch_the_new_sources() {
    let server = MockServer::start().await.expect("mock server");
    serve_feed(&server, "/a.xml", 1, Duration::ZERO);
    serve_feed(&server, "/b.xml", 2, Duration::ZERO);
    let env = TestEnv::new(&config(
        "schedule = \"0 0 1 1 *\"",
        &[feed_source("a", &server.url("/a.xml"))],
    ));
    let mut daemon = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("--config")
        .arg(&env.config)
        .arg("run")
        .env_remove("HERALD_CONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("herald run");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while server.hits("/a.xml") == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon never fetched a"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let opml = env.dir.path().join("b.opml");
    std::fs::write(
        &opml,
        format!(
            "<opml><body><outline text=\"b\" xmlUrl=\"{}\"/></body></opml>",
            server.url("/b.xml")
        ),
    )
    .expect("write");
    let output = env
        .herald(&["import", &opml.display().to_string(), "--reload"])
        .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("asked the daemon (PID"),
        "{}",
        stdout(&output)
    );
    while server.hits("/b.xml") == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the reload did not fetch b"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = daemon.start_kill();
    let _ = daemon.wait().await;
}

#[tokio::test]
async fn include_and_exclude_keep_items_out_and_count_them() {
    let server = MockServer::start().await.expect("mock server");
    let item = |title: &str, n: usize| {
        format!(
            "<item><title>{title}</title><link>https://f.example/{n}</link><description>text {n}</description></item>"
        )
    };
    let feed = format!(
        "<rss version=\"2.0\"><channel><title>f</title>{}{}{}{}{}</channel></rss>",
        item("Rust 1.96 released", 1),
        item("RUST and SQLite", 2),
        item("Sponsored: learn Rust", 3),
        item("Weather today", 4),
        item("Go 1.30", 5),
    );
    server.route("/f.xml", MockResponse::ok("application/rss+xml", feed));
    let env = TestEnv::new(&format!(
        "[filters]\nexclude = [\"^sponsored:\"]\n{}include = [\"rust\", \"sqlite\"]\n",
        config("", &[feed_source("filtered", &server.url("/f.xml"))])
    ));
    let (code, report) = env.once_json().await;
    assert_eq!(code, 0, "{report:#}");
    let line = source_line(&report, "filtered");
    assert_eq!(
        (line["new"].as_u64(), line["filtered"].as_u64()),
        (Some(2), Some(3)),
        "{line}"
    );
    assert_eq!(report["totals"]["filtered"], 3);
    assert_eq!(env.article_count(), 2);
    let table = String::from_utf8_lossy(&env.herald(&["once"]).await.stdout).into_owned();
    assert!(table.contains("3 filtered out"), "{table}");
    let sources = String::from_utf8_lossy(&env.herald(&["sources"]).await.stdout).into_owned();
    assert!(sources.contains("(3 filtered out)"), "{sources}");
    let explain = env.herald(&["fetch", "filtered", "--explain"]).await;
    let text = String::from_utf8_lossy(&explain.stdout);
    assert!(text.contains("filters: 2 kept, 3 filtered out"), "{text}");
    let recorded: i64 = env
        .db()
        .query_row(
            "SELECT filtered FROM fetches ORDER BY id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .expect("fetch row");
    assert_eq!(recorded, 3);

    // A pattern that does not compile is a config error with its line.
    let bad = TestEnv::new(&format!(
        "{}include = [\"(unclosed\"]\n",
        config("", &[feed_source("bad", "https://bad.example/feed")])
    ));
    let output = bad.herald(&["check"]).await;
    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains(":8")
            && text.contains("key `include`")
            && text.contains("\"(unclosed\" is not a valid regular expression"),
        "{text}"
    );
}
