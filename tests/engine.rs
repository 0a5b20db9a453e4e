//! The engine and the supervisor, driven in-process through the library:
//! a real pool, real rounds and a real SQLite file against the mock server
//! on 127.0.0.1, and the daemon fed control messages instead of signals.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use herald::app;
use herald::config::{self, Config};
use herald::daemon::supervisor::{self, Control, Exit};
use herald::engine::job::{FetchJob, JobReply};
use herald::engine::pool::WorkerPool;
use herald::engine::round::{RoundRunner, RoundSettings};
use herald::engine::shutdown::Shutdown;
use herald::fetch::HostLimits;
use herald::model::outcome::{FetchStatus, SkipReason, SourceMemory};
use herald::storage::{Role, Storage};
use tokio::sync::mpsc;

/// Upper bound for anything a test waits on.
const PATIENCE: Duration = Duration::from_secs(20);

fn load(env: &TestEnv) -> Config {
    config::load(&env.config).expect("valid config")
}

/// Polls `condition` until it holds.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn count(env: &TestEnv, sql: &str) -> i64 {
    env.db()
        .query_row(sql, [], |r| r.get(0))
        .expect("count query runs")
}

fn feeds(server: &MockServer, n: usize, delay: Duration) -> Vec<String> {
    (0..n)
        .map(|i| {
            let path = format!("/f{i}.xml");
            serve_feed(server, &path, 3, delay);
            feed_source(&format!("f{i}"), &server.url(&path))
        })
        .collect()
}

#[tokio::test]
async fn the_pool_answers_every_job_once_and_never_exceeds_its_size() {
    let server = MockServer::start().await.expect("mock server");
    let env = TestEnv::new(&format!(
        "[http]\nper_host_concurrency = 100\n{}",
        config(
            "workers = 3",
            &feeds(&server, 12, Duration::from_millis(50))
        )
    ));
    let config = load(&env);
    let pool = WorkerPool::start(3, 4, app::fetcher(&config).expect("client"));
    let (reply, mut replies) = mpsc::unbounded_channel();
    let queue = pool.queue();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    for source in config.enabled_sources() {
        let job = FetchJob {
            round_id: 1,
            source,
            follow_up: None,
            deadline,
            reply: reply.clone(),
            shutdown: Shutdown::new(),
            memory: SourceMemory::default(),
            host_permit: None,
            not_before: None,
        };
        queue.send(job).await.expect("the pool is running");
    }
    drop(queue);
    let mut answered = Vec::new();
    for _ in 0..12 {
        match replies.recv().await.expect("a reply") {
            JobReply::Source(outcome) => {
                assert_eq!(outcome.status, FetchStatus::Ok, "{outcome:?}");
                assert_eq!(outcome.articles.len(), 3);
                answered.push(outcome.source.clone());
            }
            JobReply::Item(item) => panic!("no follow-ups were queued: {item:?}"),
        }
    }
    pool.stop().await;
    drop(reply);
    assert!(
        replies.recv().await.is_none(),
        "no second answer to any job"
    );
    answered.sort();
    answered.dedup();
    assert_eq!(answered.len(), 12, "each job answered exactly once");
    assert_eq!(server.max_in_flight(), 3, "never more than the pool size");
}

#[tokio::test]
async fn a_round_reports_in_config_order_skips_busy_sources_and_stores_everything() {
    let server = MockServer::start().await.expect("mock server");
    // The first source is the slowest, so replies arrive out of config order.
    serve_feed(&server, "/slow.xml", 2, Duration::from_millis(150));
    serve_feed(&server, "/fast.xml", 4, Duration::ZERO);
    server.route("/gone.xml", MockResponse::status(404));
    let env = TestEnv::new(&config(
        "workers = 4",
        &[
            feed_source("slow", &server.url("/slow.xml")),
            feed_source("fast", &server.url("/fast.xml")),
            feed_source("gone", &server.url("/gone.xml")),
        ],
    ));
    let config = load(&env);
    let storage = Storage::open(&config.daemon.database, Role::Once)
        .await
        .expect("database");
    let pool = app::start_pool(&config).expect("pool");
    let runner = app::runner_for(
        &config,
        &pool,
        &storage,
        &Shutdown::new(),
        HostLimits::new(4),
    );
    let report = runner
        .run(&config.enabled_sources(), &["elsewhere".to_owned()], "test")
        .await
        .expect("the round is recorded");
    let names: Vec<&str> = report.sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["slow", "fast", "gone", "elsewhere"]);
    let busy = &report.sources[3];
    assert_eq!(busy.status, FetchStatus::Skipped);
    assert_eq!(busy.skip, Some(SkipReason::StillRunning));
    assert_eq!(
        (
            report.totals.ok,
            report.totals.failed,
            report.totals.skipped
        ),
        (2, 1, 1)
    );
    assert_eq!(report.totals.new, 6);
    drop(runner);
    pool.stop().await;
    storage.close().await.expect("close");
    assert_eq!(count(&env, "SELECT count(*) FROM articles"), 6);
    assert_eq!(
        count(
            &env,
            "SELECT count(*) FROM rounds WHERE finished_at IS NOT NULL AND skipped = 1"
        ),
        1
    );
}

#[tokio::test]
async fn a_round_answers_jobs_that_never_reached_a_worker_by_its_deadline() {
    let server = MockServer::start().await.expect("mock server");
    let env = TestEnv::new(&format!(
        "[http]\nper_host_concurrency = 100\nretries = 0\n{}",
        config(
            "workers = 1\nqueue_capacity = 1\nround_timeout = \"500ms\"",
            &feeds(&server, 6, Duration::from_millis(200))
        )
    ));
    let config = load(&env);
    let storage = Storage::open(&config.daemon.database, Role::Once)
        .await
        .expect("database");
    let pool = app::start_pool(&config).expect("pool");
    let runner = RoundRunner::new(
        RoundSettings {
            round_timeout: config.daemon.round_timeout,
            workers: 1,
            max_consecutive_failures: 5,
        },
        pool.queue(),
        storage.clone(),
        Shutdown::new(),
        HostLimits::new(100),
    );
    let started = Instant::now();
    let report = runner
        .run(&config.enabled_sources(), &[], "test")
        .await
        .expect("recorded");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the deadline ends the round: {:?}",
        started.elapsed()
    );
    assert_eq!(report.sources.len(), 6, "every source has its line");
    // One worker, 200 ms a fetch, 500 ms in all: about two fit.
    let ok = report.totals.ok;
    assert!((1..=3).contains(&ok), "{:#?}", report.sources);
    assert_eq!(report.totals.failed, 6 - ok, "the rest are cut off");
    assert!(
        report
            .sources
            .iter()
            .filter(|s| s.status != FetchStatus::Ok)
            .all(|s| s.status == FetchStatus::Timeout
                && s.error.as_deref().is_some_and(|e| e.contains("deadline"))),
        "{:#?}",
        report.sources
    );
    drop(runner);
    pool.stop().await;
    storage.close().await.expect("close");
    assert_eq!(count(&env, "SELECT count(*) FROM fetches"), 6);
}

#[tokio::test]
async fn the_supervisor_reloads_and_drains_on_control_messages() {
    let server = MockServer::start().await.expect("mock server");
    serve_feed(&server, "/a.xml", 2, Duration::ZERO);
    serve_feed(&server, "/b.xml", 3, Duration::ZERO);
    let a = feed_source("a", &server.url("/a.xml"));
    let b = feed_source("b", &server.url("/b.xml"));
    let every_second = "schedule = \"* * * * * *\"";
    let env = TestEnv::new(&config(every_second, std::slice::from_ref(&a)));
    let (controls, receiver) = mpsc::channel(4);
    let daemon = tokio::spawn(supervisor::run(load(&env), receiver));
    // The file appears before its tables do: until they do, not yet.
    eventually("the start-up round stores a's articles", || {
        env.db_path().exists()
            && env
                .db()
                .query_row(
                    "SELECT count(*) FROM articles WHERE source = 'a'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .is_ok_and(|n| n == 2)
    })
    .await;
    env.rewrite(&config(every_second, &[a, b]));
    controls.send(Control::Reload).await.expect("running");
    eventually("the added source is fetched and stored", || {
        count(&env, "SELECT count(*) FROM articles WHERE source = 'b'") == 3
    })
    .await;
    controls.send(Control::Shutdown).await.expect("running");
    let exit = tokio::time::timeout(PATIENCE, daemon)
        .await
        .expect("drains in time")
        .expect("no panic")
        .expect("clean run");
    assert_eq!(exit, Exit::Clean);
    assert_eq!(
        count(
            &env,
            "SELECT count(*) FROM rounds WHERE finished_at IS NULL"
        ),
        0,
        "every round closed"
    );
    env.assert_integrity();
}

#[tokio::test]
async fn a_second_shutdown_during_the_drain_forces_the_exit() {
    let server = MockServer::start().await.expect("mock server");
    serve_feed(&server, "/slow.xml", 1, Duration::from_secs(60));
    let env = TestEnv::new(&config(
        "schedule = \"0 0 1 1 *\"\nshutdown_grace = \"30s\"",
        &[feed_source("slow", &server.url("/slow.xml"))],
    ));
    let (controls, receiver) = mpsc::channel(4);
    let daemon = tokio::spawn(supervisor::run(load(&env), receiver));
    eventually("the slow fetch is in flight", || {
        server.hits("/slow.xml") == 1
    })
    .await;
    controls.send(Control::Shutdown).await.expect("running");
    controls
        .send(Control::Shutdown)
        .await
        .expect("still draining");
    let exit = tokio::time::timeout(Duration::from_secs(5), daemon)
        .await
        .expect("exits without waiting for the grace period")
        .expect("no panic")
        .expect("ran");
    assert_eq!(exit, Exit::Forced);
}

/// A kind whose code panics outside its parser (where `contain_panic` does
/// not reach): the hook for "a panic anywhere in a job". A job asks for the
/// credential after a permanent redirect (a move carrying a key is never
/// remembered), so serving the source behind a 301 sets it off.
#[derive(Debug)]
struct PanicsAfterFetching {
    url: url::Url,
}

impl herald::model::source::Source for PanicsAfterFetching {
    fn request(&self) -> herald::model::http::FetchRequest {
        herald::model::http::FetchRequest::get(self.url.clone(), "application/rss+xml")
    }

    fn parse(
        &self,
        _payload: &herald::model::http::Payload,
    ) -> Result<herald::model::source::Parsed, herald::model::source::ParseError> {
        Ok(herald::model::source::Parsed::default())
    }

    fn credential(&self) -> Option<&herald::model::secret::ApiKey> {
        panic!("a bug in a source kind")
    }
}

#[tokio::test]
async fn a_panic_inside_a_job_is_answered_and_the_round_ends() {
    let server = MockServer::start().await.expect("mock server");
    serve_feed(&server, "/fine.xml", 2, Duration::ZERO);
    server.route(
        "/boom.xml",
        MockResponse::status(301).header("location", "/moved.xml"),
    );
    serve_feed(&server, "/moved.xml", 2, Duration::ZERO);
    let env = TestEnv::new(&config(
        "",
        &[feed_source("fine", &server.url("/fine.xml"))],
    ));
    let config = load(&env);
    let fine = config.enabled_sources().remove(0);
    let url = url::Url::parse(&server.url("/boom.xml")).expect("url");
    let boom = Arc::new(herald::model::source::SourceSpec {
        name: "boom".to_owned(),
        kind: herald::model::source::Kind::Feed,
        enabled: true,
        schedule: fine.schedule.clone(),
        own_schedule: false,
        limit: None,
        rate_limit: None,
        respect_server_hints: true,
        keep: None,
        tags: Vec::new(),
        filters: Vec::new(),
        input: fine.input.clone(),
        source: Arc::new(PanicsAfterFetching { url }),
    });
    let storage = Storage::open(&config.daemon.database, Role::Once)
        .await
        .expect("database");
    let pool = app::start_pool(&config).expect("pool");
    let runner = app::runner_for(
        &config,
        &pool,
        &storage,
        &Shutdown::new(),
        HostLimits::new(4),
    );
    let report = tokio::time::timeout(PATIENCE, runner.run(&[boom, fine], &[], "test"))
        .await
        .expect("the round ends")
        .expect("recorded");
    let boom = &report.sources[0];
    assert_eq!(boom.status, FetchStatus::Failed);
    assert_eq!(
        boom.error.as_deref(),
        Some("internal error: a bug in a source kind")
    );
    assert_eq!(
        report.sources[1].status,
        FetchStatus::Ok,
        "the others are fine"
    );
    drop(runner);
    pool.stop().await;
    storage.close().await.expect("close");
}
