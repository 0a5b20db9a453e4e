//! The command line: `check`, config errors, environment overrides, exit codes.

mod common;

use std::time::Duration;

use common::*;

#[tokio::test]
async fn check_lists_sources_and_schedules() {
    let env = TestEnv::new(&format!(
        "[daemon]\nschedule = \"*/5 * * * *\"\n{}\n[[sources]]\nname = \"api\"\nkind = \"json\"\nurl = \"https://api.example/news\"\nitems = \"/data\"\nschedule = \"0 */2 * * * *\"\nenabled = false\n",
        feed_source("blog", "https://blog.example/feed.xml")
    ));
    let output = env.herald_with_env(&["check"], &[("TZ", "UTC")]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("2 sources, 1 enabled"), "{stdout}");
    assert!(
        stdout.contains("time zone: UTC (from the TZ environment variable)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "blog  feed  yes      */5 * * * * (UTC), global  https://blog.example/feed.xml"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("api   json  no       0 */2 * * * * (UTC)        https://api.example/news"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&env.db_path().display().to_string()),
        "database resolved next to the config: {stdout}"
    );
}

#[tokio::test]
async fn check_reports_every_problem_with_file_line_source_and_key() {
    let env = TestEnv::new(
        "[daemon]\nworkers = 0\n\n[[sources]]\nname = \"x\"\nkind = \"feed\"\nurl = \"ftp://files.example/feed\"\nschedule = \"now\"\n\n[[sources]]\nname = \"x\"\nkind = \"carrier-pigeon\"\n",
    );
    let output = env.herald(&["check"]).await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let file = env.config.display().to_string();
    for expected in [
        format!("{file}:2: key `daemon.workers`: must be at least 1"),
        format!(
            "{file}:7: source \"x\": key `url`: \"ftp://files.example/feed\": only http and https are fetched"
        ),
        format!("{file}:8: source \"x\": key `schedule`: cron \"now\" has 1 field(s)"),
        format!("{file}:11: source \"x\": key `name`: is used by another source"),
        format!(
            "{file}:12: source \"x\": key `kind`: unknown kind \"carrier-pigeon\"; known kinds: feed, json"
        ),
    ] {
        assert!(
            stderr.contains(&expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    assert!(stderr.contains("5 problem(s)"), "{stderr}");
}

#[tokio::test]
async fn a_typo_is_refused_with_its_line() {
    let env = TestEnv::new("[http]\ntimeout = \"5s\"\nuser_agnet = \"me\"\n");
    let output = env.herald(&["once"]).await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&env.config.display().to_string()),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{}:3: key `http.user_agnet`: unknown key `user_agnet`; did you mean `user_agent`?",
            env.config.display()
        )),
        "{stderr}"
    );
    assert!(!env.db_path().exists(), "a refused config touches nothing");
}

#[tokio::test]
async fn environment_overrides_the_file() {
    let server = MockServer::start().await.expect("mock server");
    let blocks: Vec<String> = (0..4)
        .map(|i| {
            let path = format!("/f{i}.xml");
            serve_feed(&server, &path, 1, Duration::from_millis(150));
            feed_source(&format!("f{i}"), &server.url(&path))
        })
        .collect();
    let env = TestEnv::new(&format!(
        "[http]\nper_host_concurrency = 8\n{}",
        config("workers = 8", &blocks)
    ));
    let (code, report) = env
        .once_json_with_env(&[("HERALD__DAEMON__WORKERS", "1")])
        .await;
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        server.max_in_flight(),
        1,
        "HERALD__DAEMON__WORKERS=1 beat workers = 8"
    );

    let output = env
        .herald_with_env(
            &["check"],
            &[
                ("HERALD__DAEMON__WORKERS", "3"),
                ("HERALD__DAEMON__ROUND_TIMEOUT", "45s"),
            ],
        )
        .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("workers: 3,") && stdout.contains("round timeout: 45s"),
        "{stdout}"
    );

    let output = env
        .herald_with_env(&["check"], &[("HERALD__DAEMON__WORKRS", "3")])
        .await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("environment override") && stderr.contains("workrs"),
        "{stderr}"
    );
}

#[tokio::test]
async fn herald_config_variable_names_the_file() {
    let env = TestEnv::new(&feed_source("a", "https://a.example/feed"));
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("check")
        .env("HERALD_CONFIG", &env.config)
        .output()
        .await
        .expect("herald runs");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["--config", "/nonexistent/herald.toml", "check"])
        .output()
        .await
        .expect("herald runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("/nonexistent/herald.toml: cannot read config file")
    );
}

#[tokio::test]
async fn no_sources_is_a_warning_and_exit_0() {
    let env = TestEnv::new("");
    let output = env.herald(&["once"]).await;
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no enabled sources"));
}

#[tokio::test]
async fn the_shipped_config_is_valid() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/config/herald.toml");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["--config", shipped, "check"])
        .env_remove("HERALD_CONFIG")
        .output()
        .await
        .expect("herald runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "no warnings expected: {stderr}");
    assert!(stdout.contains("11 sources, 10 enabled"), "{stdout}");
}

#[tokio::test]
async fn bench_runs_the_real_pipeline_without_a_config() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plot = dir.path().join("plot.svg");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "bench",
            "--sources",
            "8",
            "--workers",
            "4",
            "--workers",
            "8",
            "--latency",
            "20ms",
            "--rounds",
            "1",
            "--sequential",
            "--format",
            "json",
            "--plot",
        ])
        .arg(&plot)
        .env_remove("HERALD_CONFIG")
        .current_dir(dir.path())
        .output()
        .await
        .expect("herald runs");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON rows");
    let rows = rows.as_array().expect("array");
    // --plot sweeps N/10 (0, dropped), N/4, N/2, N: three sizes × (sequential + 2 pool sizes).
    assert_eq!(rows.len(), 9, "{rows:#?}");
    let full: Vec<&serde_json::Value> = rows.iter().filter(|r| r["sources"] == 8).collect();
    assert_eq!(
        full.iter()
            .map(|r| r["workers"].as_u64())
            .collect::<Vec<_>>(),
        [Some(1), Some(4), Some(8)]
    );
    for row in &full {
        assert_eq!(row["articles"], 8 * 20, "every mock item stored: {row}");
        assert!(row["wall_s"].as_f64().expect("wall") > 0.0);
    }
    assert_eq!(
        full[0]["ideal_s"].as_f64(),
        Some(0.16),
        "8 sources × 20 ms one at a time"
    );
    assert!(full[1]["speedup"].as_f64().is_some() && full[0]["speedup"].is_null());
    let svg = std::fs::read_to_string(&plot).expect("plot written");
    assert!(
        svg.starts_with("<svg") && svg.contains("sequential (1 worker)"),
        "{}",
        &svg[..svg.len().min(200)]
    );
    assert!(
        std::fs::read_dir(dir.path()).expect("list").all(|e| !e
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .ends_with(".db")),
        "bench databases are temporary"
    );
}

#[tokio::test]
async fn once_draws_progress_on_a_terminal_and_never_in_a_pipe() {
    let server = MockServer::start().await.expect("mock server");
    serve_feed(&server, "/a.xml", 2, Duration::ZERO);
    serve_feed(&server, "/b.xml", 2, Duration::from_millis(600));
    serve_feed(&server, "/c.xml", 2, Duration::ZERO);
    let env = TestEnv::new(&config(
        "",
        &[
            feed_source("a", &server.url("/a.xml")),
            feed_source("b", &server.url("/b.xml")),
            feed_source("c", &server.url("/c.xml")),
        ],
    ));
    let piped = env.herald(&["once"]).await;
    let stderr = String::from_utf8_lossy(&piped.stderr);
    let stdout = String::from_utf8_lossy(&piped.stdout);
    assert_eq!(piped.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("3 ok, 0 failed"),
        "the round ran and reported: {stdout}"
    );
    assert!(
        stderr.is_empty(),
        "no bar (nor anything else) on stderr in a pipe: {stderr:?}"
    );

    // `script` gives herald a pseudo-terminal, as an interactive shell would.
    let command = format!(
        "{} --config {} once",
        env!("CARGO_BIN_EXE_herald"),
        env.config.display()
    );
    let transcript = env.dir.path().join("typescript");
    let output = tokio::process::Command::new("script")
        .args(["-q", "-e", "-c", &command])
        .arg(&transcript)
        .env_remove("HERALD_CONFIG")
        .env_remove("HERALD_LOG")
        .env("TERM", "xterm")
        .output()
        .await
        .expect("script(1) from bsdutils runs");
    let screen = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{screen}");
    assert!(
        screen.contains("/3 sources"),
        "a bar on a terminal: {screen:?}"
    );
    assert!(
        screen.contains("3 ok, 0 failed"),
        "then the report: {screen}"
    );
}

#[tokio::test]
async fn runaway_limits_are_refused_with_their_line_not_obeyed() {
    let env = TestEnv::new(
        "[daemon]\nworkers = 100000000000\nqueue_capacity = 3000000000000000000\nround_timeout = \"300years\"\n\n[http]\nper_host_concurrency = 9000000000000000000\nretries = 4000\n",
    );
    for command in ["check", "once"] {
        let output = env.herald(&[command]).await;
        assert_eq!(output.status.code(), Some(2), "{command} refuses");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let file = env.config.display().to_string();
        for expected in [
            format!("{file}:2: key `daemon.workers`: must be at most 4096 (got 100000000000)"),
            format!("{file}:3: key `daemon.queue_capacity`: must be at most 1000000"),
            format!("{file}:4: key `daemon.round_timeout`: must be at most 1day"),
            format!("{file}:7: key `http.per_host_concurrency`: must be at most 1024"),
            format!("{file}:8: key `http.retries`: must be at most 10 (got 4000)"),
        ] {
            assert!(
                stderr.contains(&expected),
                "{command}: missing {expected:?} in:\n{stderr}"
            );
        }
    }
    assert!(!env.db_path().exists(), "nothing ran");
}

#[tokio::test]
async fn check_warns_when_metrics_listen_beyond_loopback() {
    let env = TestEnv::new("[metrics]\nlisten = \"0.0.0.0:9464\"\n");
    let output = env.herald(&["check"]).await;
    assert_eq!(output.status.code(), Some(0), "a warning, not an error");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("[server] listen = \"0.0.0.0:9464\" is not a loopback address")
            && stderr.contains("bind 127.0.0.1"),
        "{stderr}"
    );
    // The section's new name reads the same; both at once is refused.
    let renamed = TestEnv::new("[server]\nlisten = \"0.0.0.0:9464\"\n");
    let output = renamed.herald(&["check"]).await;
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not a loopback address"));
    let both =
        TestEnv::new("[server]\nlisten = \"127.0.0.1:1\"\n[metrics]\nlisten = \"127.0.0.1:2\"\n");
    let output = both.herald(&["check"]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("keep one"));
    let quiet = TestEnv::new("[metrics]\nlisten = \"127.0.0.1:9464\"\n");
    let output = quiet.herald(&["check"]).await;
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("loopback"),
        "no warning on loopback"
    );
}

#[tokio::test]
async fn a_log_file_that_cannot_be_written_is_reported_once_and_nothing_stops() {
    let server = MockServer::start().await.expect("mock server");
    server.route("/down.xml", MockResponse::status(500));
    serve_feed(&server, "/up.xml", 2, Duration::ZERO);
    let env = TestEnv::new(&format!(
        "[log]\ndir = \"logs\"\nrotation = \"never\"\n{}",
        config(
            "",
            &[
                feed_source("down", &server.url("/down.xml")),
                feed_source("up", &server.url("/up.xml")),
            ]
        )
    ));
    // A full disk, as the kernel reports it: every write fails with ENOSPC.
    let logs = env.dir.path().join("logs");
    std::fs::create_dir_all(&logs).expect("log dir");
    std::os::unix::fs::symlink("/dev/full", logs.join("herald.log")).expect("symlink");
    let output = env.herald(&["once"]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr.matches("cannot write the log file").count(),
        1,
        "said once: {stderr}"
    );
    assert!(
        stderr.contains("herald.log: No space left on device"),
        "{stderr}"
    );
    assert_eq!(env.article_count(), 2, "the round ran regardless");
}

/// The installed service and every command an operator runs with
/// `--config /etc/herald/herald.toml` read the same database: the config the
/// install guide (and the package) writes says where, and the unit does not
/// override it behind the operator's back.
#[tokio::test]
async fn the_installed_config_and_the_unit_agree_on_the_database() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let made = std::process::Command::new("sh")
        .arg(root.join("systemd/system-config.sh"))
        .output()
        .expect("run systemd/system-config.sh");
    assert!(made.status.success());
    let env = TestEnv::new(&String::from_utf8(made.stdout).expect("UTF-8 config"));
    let output = env.herald(&["check"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("database: /var/lib/herald/herald.db"),
        "{stdout}"
    );
    let unit = std::fs::read_to_string(root.join("systemd/herald.service")).expect("unit");
    assert!(
        unit.contains("--config /etc/herald/herald.toml run"),
        "{unit}"
    );
    assert!(
        !unit.contains("HERALD__DAEMON__DATABASE") && !unit.contains("HERALD__LOG__DIR"),
        "the unit must not override what the config says"
    );
    assert!(unit.contains("StateDirectory=herald") && unit.contains("LogsDirectory=herald"));
}

/// Under systemd (stderr is the journal stream `JOURNAL_STREAM` names),
/// every line starts with its syslog priority for `journalctl -p`, and
/// carries no timestamp of herald's own; a stderr that merely inherited the
/// variable keeps the normal format.
#[tokio::test]
async fn under_journald_lines_carry_their_priority_and_no_timestamp() {
    use std::os::unix::fs::MetadataExt;
    let env = TestEnv::new(&config("", &[feed_source("down", &refused_url())]));
    let run = |stream: String| {
        let path = env.dir.path().join(format!("stderr-{}.log", stream.len()));
        let file = std::fs::File::create(&path).expect("stderr file");
        let meta = file.metadata().expect("metadata");
        let value = if stream.is_empty() {
            format!("{}:{}", meta.dev(), meta.ino())
        } else {
            stream
        };
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["--config", &env.config.display().to_string(), "once"])
            .env("JOURNAL_STREAM", value)
            .stdout(std::process::Stdio::null())
            .stderr(file)
            .status()
            .expect("run herald");
        assert_eq!(status.code(), Some(1), "the only source fails");
        std::fs::read_to_string(&path).expect("stderr")
    };
    let journal = run(String::new());
    let warning = journal
        .lines()
        .find(|l| l.contains("source failed"))
        .unwrap_or_else(|| panic!("no warning in:\n{journal}"));
    assert!(warning.starts_with("<4> WARN"), "{warning}");
    assert!(
        !warning.contains("2026-") && !warning.contains("Z "),
        "no timestamp: {warning}"
    );
    assert!(
        journal.lines().all(|l| l.starts_with('<')),
        "every line prefixed:\n{journal}"
    );
    let inherited = run("1:1".to_owned());
    assert!(
        inherited
            .lines()
            .any(|l| l.contains("source failed") && !l.starts_with('<')),
        "{inherited}"
    );
}

#[tokio::test]
async fn check_and_sources_say_which_time_zone_and_when_each_source_starts() {
    let source = |name: &str, extra: &str| {
        format!(
            "\n[[sources]]\nname = \"{name}\"\nkind = \"feed\"\nurl = \"http://127.0.0.1:9/{name}.xml\"\n{extra}\n"
        )
    };
    let env = TestEnv::new(&format!(
        "[daemon]\ntimezone = \"Asia/Tokyo\"\nschedule = \"0 7 * * *\"\n{}{}",
        source("tokyo", ""),
        source("kolkata", "timezone = \"Asia/Kolkata\""),
    ));
    let check = env.herald(&["check"]).await;
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        text.contains("time zone: Asia/Tokyo (from [daemon] timezone)"),
        "{text}"
    );
    assert!(text.contains("0 7 * * * (Asia/Kolkata)"), "{text}");
    // Read commands need a database: one round makes it.
    env.herald(&["once"]).await;
    let output = env.herald(&["sources", "--format", "json"]).await;
    let rows: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let next = |name: &str| {
        rows.as_array()
            .and_then(|rows| rows.iter().find(|r| r["name"] == name))
            .and_then(|r| r["next_start"].as_str())
            .unwrap_or_else(|| panic!("{name} in {rows}"))
            .to_owned()
    };
    // 7 am in Tokyo (UTC+9, no DST) is 22:00 UTC; in Kolkata (UTC+5:30) 01:30.
    assert!(next("tokyo").ends_with("T22:00:00Z"), "{rows}");
    assert!(next("kolkata").ends_with("T01:30:00Z"), "{rows}");

    let overlapping = TestEnv::new(&config(
        "spread = \"20m\"",
        &[feed_source("a", "http://127.0.0.1:9/a.xml")],
    ));
    let output = overlapping.herald(&["check"]).await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("daemon.spread") && stderr.contains("rounds would overlap"),
        "{stderr}"
    );

    let bad = TestEnv::new("[daemon]\ntimezone = \"Mars/Olympus\"\n");
    let output = bad.herald(&["check"]).await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(":2") && stderr.contains("unknown time zone \"Mars/Olympus\""),
        "{stderr}"
    );
}

#[tokio::test]
async fn read_commands_never_cut_in_a_pipe_and_say_when_there_is_nothing() {
    // A permanent move to a long URL: the NOTE column names it.
    let server = MockServer::start().await.expect("mock server");
    let long_path = format!("/{}.xml", "x".repeat(200));
    server.route(
        "/old.xml",
        MockResponse::status(301).header("Location", &long_path),
    );
    server.route(
        &long_path,
        MockResponse::ok("application/rss+xml", rss_feed("f", 0)),
    );
    let env = TestEnv::new(&config("", &[feed_source("far", &server.url("/old.xml"))]));
    env.herald(&["once"]).await;
    let piped = env.herald(&["sources"]).await;
    let text = String::from_utf8_lossy(&piped.stdout);
    assert!(text.contains(&"x".repeat(200)), "the whole error: {text}");
    let narrow = env
        .herald_with_env(&["sources"], &[("COLUMNS", "100")])
        .await;
    let text = String::from_utf8_lossy(&narrow.stdout);
    let row = text.lines().nth(1).expect("a row");
    assert!(
        row.ends_with('…') && !row.contains(&"x".repeat(200)),
        "{text}"
    );
    assert_eq!(
        row.split_whitespace().take(4).collect::<Vec<_>>(),
        ["far", "feed", "-", "yes"],
        "no column dropped: {text}"
    );
    assert!(row.contains("moved to http://127"), "{text}");
    let latest = env.herald(&["latest"]).await;
    assert_eq!(String::from_utf8_lossy(&latest.stdout), "no articles\n");
    let search = env.herald(&["search", "anything"]).await;
    assert_eq!(String::from_utf8_lossy(&search.stdout), "no articles\n");
}

#[tokio::test]
async fn config_prints_the_effective_values_with_their_origin_and_no_secret() {
    let env = TestEnv::new(
        "[daemon]\nschedule = \"*/5 * * * *\"\n\n[alerts]\nwebhook = \"https://hooks.example/T000/very-secret-token\"\n\n[[sources]]\nname = \"news\"\nkind = \"newsapi\"\napi_key = \"inline-key-123456\"\ncountry = \"gb\"\n",
    );
    let output = env
        .herald_with_env(&["config"], &[("HERALD__DAEMON__WORKERS", "7")])
        .await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let file = env.config.display().to_string();
    for line in [
        "workers = 7  # HERALD__DAEMON__WORKERS".to_owned(),
        format!("schedule = \"*/5 * * * *\"  # {file}:2"),
        "queue_capacity = 1024  # default".to_owned(),
        format!("database = \"{}\"  # default", env.db_path().display()),
        format!("kind = \"newsapi\"  # {file}:9"),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
    for secret in ["inline-key-123456", "very-secret-token", "T000"] {
        assert!(!text.contains(secret), "{secret} leaked:\n{text}");
    }
    // What it prints is itself a config herald accepts.
    let copy = TestEnv::new(&text);
    let check = copy.herald(&["check"]).await;
    assert_eq!(check.status.code(), Some(0), "{check:?}");
}

#[tokio::test]
async fn completions_and_the_man_page_need_no_config() {
    let env = TestEnv::new("");
    std::fs::remove_file(&env.config).expect("no config at all");
    for shell in ["bash", "zsh", "fish"] {
        let output = env.herald(&["completions", shell]).await;
        assert_eq!(output.status.code(), Some(0), "{shell}: {output:?}");
        let script = String::from_utf8_lossy(&output.stdout);
        assert!(
            script.contains("prune") && script.contains("sources"),
            "{shell}"
        );
    }
    let man = env.herald(&["man"]).await;
    assert_eq!(man.status.code(), Some(0));
    let page = String::from_utf8_lossy(&man.stdout);
    assert!(
        page.starts_with(".ie") && page.contains(".TH herald 1"),
        "{page}"
    );
    assert!(page.contains("/var/lib/herald/herald.db") && page.contains("SIGHUP"));
}

#[tokio::test]
async fn a_broken_notify_rule_is_refused_with_its_lines_and_its_webhook_never_printed() {
    let env = TestEnv::new(
        "[daemon]\n\n[[notify]]\nname = \"z\"\nmatch = [\"(bad\"]\nwebhook = \"ftp://secret-token@x\"\ncolour = \"red\"\n\n[[notify]]\nname = \"y\"\n",
    );
    let output = env.herald(&["check"]).await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in [
        ":5: key `notify.match of rule \"z\"`: \"(bad\" is not a valid regular expression",
        ":6: key `notify.webhook of rule \"z\"`: must be an http:// or https:// URL",
        ":7: key `notify.colour`: unknown key",
        ":9: key `notify.match`: is required (rule #2)",
        ":9: key `notify.webhook`: is required (rule #2)",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    assert!(!stderr.contains("secret-token"), "{stderr}");
}
