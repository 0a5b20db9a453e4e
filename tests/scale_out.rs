//! Several `herald run` instances sharing one PostgreSQL database: they
//! divide each schedule slot's sources by leasing rows, a killed
//! instance's leases expire and others take its sources, instances
//! starting together migrate once. Real binaries, a real server (the
//! cluster `.ci/postgres.sh` starts), a mock news server on 127.0.0.1
//! whose request log is the witness.
//!
//! Without `HERALD_TEST_POSTGRES` these tests skip, except under CI.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::daemon::{Daemon, eventually};
use common::store::Store;
use common::*;
use nix::sys::signal::Signal;

/// Serves `/f/N.xml` (N < `count`) as a two-item feed after `delay`.
fn serve_many(server: &MockServer, count: usize, delay: Duration) -> Vec<String> {
    server.fallback(move |path| {
        let n: usize = path
            .strip_prefix("/f/")?
            .strip_suffix(".xml")?
            .parse()
            .ok()?;
        (n < count).then(|| {
            MockResponse::ok("application/rss+xml", rss_feed(&format!("f{n}"), 2)).delayed(delay)
        })
    });
    (0..count)
        .map(|n| feed_source(&format!("f{n}"), &server.url(&format!("/f/{n}.xml"))))
        .collect()
}

/// A second config file in the test's folder (the same text: one config
/// for every instance, as the docs ask).
fn config_copy(env: &TestEnv, name: &str, text: &str) -> PathBuf {
    let path = env.dir.path().join(name);
    std::fs::write(&path, text).expect("write config");
    path
}

/// Two `herald run` on copies of `text`, started at the same moment.
async fn start_pair(env: &TestEnv, text: &str) -> (Daemon, Daemon) {
    let (one, two) = (
        config_copy(env, "one.toml", text),
        config_copy(env, "two.toml", text),
    );
    tokio::join!(
        Daemon::start_as(env, &one, "one"),
        Daemon::start_as(env, &two, "two")
    )
}

/// SIGTERM to each, then each must exit cleanly.
async fn stop_all(daemons: &mut [&mut Daemon]) {
    for daemon in daemons.iter() {
        daemon.signal(Signal::SIGTERM);
    }
    for daemon in daemons.iter_mut() {
        let exit = daemon.wait_exit(Duration::from_secs(20)).await;
        assert!(exit.success(), "{exit:?}\n{}", daemon.log());
    }
}

/// Waits until `daemon` has reported `rounds` finished rounds (on a shared
/// database round ids interleave, so this counts STATUS lines).
async fn wait_round_count(daemon: &mut Daemon, rounds: usize) {
    daemon
        .wait_messages(|m| m.starts_with("STATUS=last round"), rounds)
        .await;
}

/// One number from the test database.
async fn pg_count(store: &Store, sql: &str) -> i64 {
    store
        .client()
        .await
        .query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get(0)
}

/// When the mock saw a request, as seconds since the epoch.
fn wall_clock(anchor: (Instant, SystemTime), at: Instant) -> f64 {
    let since_epoch = anchor
        .1
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64();
    since_epoch + at.saturating_duration_since(anchor.0).as_secs_f64()
        - anchor.0.saturating_duration_since(at).as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_fetch_every_source_exactly_once_per_slot() {
    let Some(store) = Store::postgres().await else {
        return;
    };
    let server = MockServer::start().await.expect("mock server");
    let sources = serve_many(&server, 300, Duration::from_millis(20));
    let text = config(
        &format!(
            "{}\nschedule = \"*/3 * * * * *\"\nrun_on_start = false\nworkers = 16",
            store.database_line()
        ),
        &sources,
    );
    let env = TestEnv::new(&text);
    let anchor = (Instant::now(), SystemTime::now());
    let mut instances = Vec::new();
    for (i, tag) in ["a", "b", "c"].iter().enumerate() {
        let path = config_copy(&env, &format!("herald-{tag}.toml"), &text);
        instances.push((Daemon::start_as(&env, &path, tag).await, i));
    }
    let all_started = wall_clock(anchor, Instant::now());
    for (daemon, _) in &mut instances {
        wait_round_count(daemon, 4).await;
    }
    let first_stop = wall_clock(anchor, Instant::now());
    stop_all(&mut instances.iter_mut().map(|(d, _)| d).collect::<Vec<_>>()).await;

    // Per slot (3 s wide, by the mock's clock), how often each feed was asked.
    let mut per_slot: BTreeMap<u64, HashMap<String, usize>> = BTreeMap::new();
    for request in server.requests() {
        let slot = (wall_clock(anchor, request.received_at) / 3.0).floor() as u64;
        *per_slot
            .entry(slot)
            .or_default()
            .entry(request.path)
            .or_default() += 1;
    }
    for (slot, hits) in &per_slot {
        let twice: Vec<_> = hits.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "slot {slot}: fetched twice: {twice:?}");
    }
    // Slots wholly inside the time all three ran: every source, once.
    let full: Vec<_> = per_slot
        .iter()
        .filter(|(slot, _)| {
            (**slot as f64) * 3.0 > all_started && (**slot as f64 + 1.0) * 3.0 < first_stop
        })
        .collect();
    assert!(full.len() >= 2, "slots covered: {:?}", per_slot.keys());
    for (slot, hits) in &full {
        assert_eq!(hits.len(), 300, "slot {slot}: every source fetched");
    }
    // The work was shared: every instance fetched, none fetched everything.
    let instances_seen = pg_count(
        &store,
        "SELECT count(DISTINCT instance) FROM fetches WHERE status = 'ok'",
    )
    .await;
    assert_eq!(instances_seen, 3, "each instance took part of the work");
    assert_eq!(pg_count(&store, "SELECT count(*) FROM articles").await, 600);
    assert_eq!(
        pg_count(
            &store,
            "SELECT count(*) FROM sources WHERE leased_by IS NOT NULL"
        )
        .await,
        0,
        "every lease given back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instances_sources_are_fetched_by_another_after_its_lease() {
    let Some(store) = Store::postgres().await else {
        return;
    };
    let server = MockServer::start().await.expect("mock server");
    let sources = serve_many(&server, 30, Duration::from_millis(1500));
    let text = "[http]\nper_host_concurrency = 100\n".to_owned()
        + &config(
            &format!(
                "{}\nschedule = \"*/5 * * * * *\"\nround_timeout = \"3s\"\nlease = \"4s\"\nworkers = 40",
                store.database_line()
            ),
            &sources,
        );
    let env = TestEnv::new(&text);
    let first = config_copy(&env, "first.toml", &text);
    let mut doomed = Daemon::start_as(&env, &first, "first").await;
    // Its start-up round claims all 30 and asks for them; answers take 1.5 s.
    eventually("the first instance asks for every source", || {
        server.requests().len() == 30
    })
    .await;
    doomed.signal(Signal::SIGKILL);
    doomed.wait_exit(Duration::from_secs(5)).await;
    let claimed_at = server
        .requests()
        .iter()
        .map(|r| r.received_at)
        .min()
        .expect("requests");

    let second = config_copy(&env, "second.toml", &text);
    let mut survivor = Daemon::start_as(&env, &second, "second").await;
    // Its first ticks find every source leased; the first after the lease
    // ran out takes them all.
    let deadline = Instant::now() + Duration::from_secs(30);
    while pg_count(&store, "SELECT count(*) FROM articles").await < 60 {
        assert!(
            Instant::now() < deadline,
            "the survivor never stored them:\n{}",
            survivor.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    survivor.signal(Signal::SIGTERM);
    assert!(survivor.wait_exit(Duration::from_secs(20)).await.success());

    let mut hits: HashMap<String, Vec<Instant>> = HashMap::new();
    for request in server.requests() {
        hits.entry(request.path)
            .or_default()
            .push(request.received_at);
    }
    assert_eq!(hits.len(), 30);
    for (path, times) in &hits {
        // Once by each; a later slot may have come round before the stop.
        assert!(times.len() >= 2, "{path}: once by each instance");
        let retaken = times[1].duration_since(claimed_at);
        assert!(
            retaken >= Duration::from_millis(3500),
            "{path} taken back {retaken:?} after the claim: before its 4 s lease ran out"
        );
    }
    assert_eq!(
        pg_count(&store, "SELECT count(*) FROM articles").await,
        60,
        "two items per source, stored once"
    );
    assert_eq!(
        pg_count(
            &store,
            "SELECT count(*) - count(DISTINCT url) FROM articles"
        )
        .await,
        0
    );
    assert_eq!(
        pg_count(
            &store,
            "SELECT count(DISTINCT instance) FROM fetches WHERE status = 'ok'"
        )
        .await,
        1,
        "only the survivor committed fetches"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_starting_at_once_on_an_empty_database_migrate_once_and_both_run() {
    let Some(store) = Store::postgres().await else {
        return;
    };
    let server = MockServer::start().await.expect("mock server");
    let sources = serve_many(&server, 10, Duration::ZERO);
    let text = config(
        &format!("{}\nschedule = \"0 0 1 1 *\"", store.database_line()),
        &sources,
    );
    let env = TestEnv::new(&text);
    let (mut a, mut b) = start_pair(&env, &text).await;
    wait_round_count(&mut a, 1).await;
    wait_round_count(&mut b, 1).await;
    stop_all(&mut [&mut a, &mut b]).await;
    let migrated = [a.log(), b.log()]
        .iter()
        .filter(|log| log.contains("database schema migrated"))
        .count();
    assert_eq!(migrated, 1, "one migrates:\n{}\n---\n{}", a.log(), b.log());
    // Between them the start-up rounds fetched each source once.
    assert_eq!(server.requests().len(), 10);
    assert_eq!(pg_count(&store, "SELECT count(*) FROM articles").await, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_host_cap_holds_per_instance() {
    let Some(store) = Store::postgres().await else {
        return;
    };
    let server = MockServer::start().await.expect("mock server");
    let sources = serve_many(&server, 40, Duration::from_millis(300));
    let text = format!(
        "[http]\nper_host_concurrency = 2\n{}",
        config(
            &format!(
                "{}\nworkers = 8\nschedule = \"0 0 1 1 *\"",
                store.database_line()
            ),
            &sources
        )
    );
    let env = TestEnv::new(&text);
    // Their start-up rounds divide the 40 sources (all due) between them.
    let (mut a, mut b) = start_pair(&env, &text).await;
    eventually("every source is fetched", || server.requests().len() == 40).await;
    wait_round_count(&mut a, 1).await;
    wait_round_count(&mut b, 1).await;
    stop_all(&mut [&mut a, &mut b]).await;
    assert_eq!(server.requests().len(), 40, "each source once");
    assert_eq!(
        pg_count(&store, "SELECT count(DISTINCT instance) FROM fetches").await,
        2,
        "both took a share"
    );
    assert_eq!(
        server.max_in_flight(),
        4,
        "two per host per instance, two instances"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn differing_configs_are_warned_about_and_a_newer_schema_is_refused() {
    let Some(store) = Store::postgres().await else {
        return;
    };
    let server = MockServer::start().await.expect("mock server");
    let sources = serve_many(&server, 2, Duration::ZERO);
    let Store::Postgres(conninfo) = &store else {
        unreachable!("a PostgreSQL store")
    };
    // A password in the string (the test cluster trusts local users, so
    // any password works): it must never be shown.
    let with_secret = format!("{conninfo} password=hunter2secret");
    let text = config(
        &format!("database = \"{with_secret}\"\nschedule = \"0 0 1 1 *\"\ninstance = \"alpha\""),
        &sources,
    );
    let env = TestEnv::new(&text);
    let mut alpha = Daemon::start(&env).await;
    wait_round_count(&mut alpha, 1).await;
    let other = TestEnv::new(&config(
        &format!("database = \"{with_secret}\"\ninstance = \"beta\""),
        &sources[..1],
    ));
    let check = other.herald(&["check"]).await;
    let shown = String::from_utf8_lossy(&check.stdout).into_owned();
    assert_eq!(check.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains("store: postgresql, schema version"),
        "{shown}"
    );
    assert!(
        shown.contains("alpha (herald") && shown.contains("DIFFERENT CONFIG"),
        "{shown}"
    );
    let beta = other.herald(&["once"]).await;
    assert_eq!(beta.status.code(), Some(0));
    let said = String::from_utf8_lossy(&beta.stderr).into_owned();
    assert!(
        said.contains("another running instance has a different config"),
        "{said}"
    );
    let effective = other.herald(&["config"]).await;
    alpha.signal(Signal::SIGTERM);
    assert!(alpha.wait_exit(Duration::from_secs(20)).await.success());
    for text in [
        shown,
        said,
        alpha.log(),
        String::from_utf8_lossy(&effective.stdout).into_owned(),
    ] {
        assert!(!text.contains("hunter2secret"), "password shown:\n{text}");
    }

    store
        .client()
        .await
        .execute("UPDATE herald_schema SET version = 99", &[])
        .await
        .expect("pretend a newer herald ran");
    let refused = env.herald(&["once"]).await;
    assert_ne!(refused.status.code(), Some(0));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("database schema version 99 is newer than this herald understands"),
        "{said}"
    );
}

/// `latest --format json` on `env`, as (title, url, sources) triples.
async fn stories(env: &TestEnv) -> Vec<(String, String, String)> {
    let output = env
        .herald(&["latest", "--format", "json", "-n", "100"])
        .await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    rows.as_array()
        .expect("array")
        .iter()
        .map(|a| {
            (
                a["title"].as_str().unwrap_or_default().to_owned(),
                a["url"].as_str().unwrap_or_default().to_owned(),
                a["sources"].to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_store_copies_sqlite_to_postgres_and_back_and_resumes() {
    let Some(store) = Store::postgres().await else {
        return;
    };
    let Store::Postgres(conninfo) = &store else {
        unreachable!("a PostgreSQL store")
    };
    let server = MockServer::start().await.expect("mock server");
    let mut sources = serve_many(&server, 5, Duration::ZERO);
    // A second source carrying the first one's stories: shared appearances.
    sources.push(feed_source("f0-mirror", &server.url("/f/0.xml")));
    let local = TestEnv::new(&config("", &sources));
    local.once_json().await;
    local.once_json().await;
    let before = stories(&local).await;
    assert_eq!(before.len(), 10);

    let db = local.db_path().display().to_string();
    let copy = |from: String, to: String| {
        let local = &local;
        async move {
            local
                .herald(&["migrate-store", "--from", &from, "--to", &to])
                .await
        }
    };
    let first = copy(db.clone(), conninfo.clone()).await;
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let shared = TestEnv::new(&config(&store.database_line(), &sources));
    assert_eq!(
        stories(&shared).await,
        before,
        "the same stories, sources and all"
    );

    // An interrupted copy: the newest half of the articles never arrived.
    store
        .client()
        .await
        .execute(
            "DELETE FROM articles WHERE id > (SELECT max(id) / 2 FROM articles)",
            &[],
        )
        .await
        .expect("cut the copy short");
    let resumed = copy(db.clone(), conninfo.clone()).await;
    let said = String::from_utf8_lossy(&resumed.stdout).into_owned();
    assert!(
        said.contains("articles: 5 row(s) copied, 5 already there"),
        "{said}"
    );
    assert_eq!(stories(&shared).await, before, "resumed to the end");

    // The shared database goes on from there: a round finds nothing new,
    // and new ids continue above the copied ones.
    let (code, report) = shared.once_json().await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["totals"]["new"], 0);

    let back = local.dir.path().join("back.db").display().to_string();
    let returned = copy(conninfo.clone(), back.clone()).await;
    assert_eq!(returned.status.code(), Some(0));
    let round_trip = TestEnv::new(&config(&format!("database = \"{back}\""), &sources));
    assert_eq!(stories(&round_trip).await, before);
    let found = round_trip
        .herald(&["search", "story", "--format", "json"])
        .await;
    let found: serde_json::Value = serde_json::from_slice(&found.stdout).expect("JSON");
    assert_eq!(
        found.as_array().map(Vec::len),
        Some(10),
        "searchable at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_removed_from_the_config_is_given_back_not_fetched() {
    let Some(store) = Store::postgres().await else {
        return;
    };
    let server = MockServer::start().await.expect("mock server");
    let sources = serve_many(&server, 10, Duration::ZERO);
    let every = format!(
        "{}\nschedule = \"*/2 * * * * *\"\nrun_on_start = false",
        store.database_line()
    );
    // Ten sources on the schedule, then the same schedule with five.
    let all = TestEnv::new(&config(&every, &sources));
    let mut before = Daemon::start(&all).await;
    wait_round_count(&mut before, 1).await;
    stop_all(&mut [&mut before]).await;
    let fetched_before = server.requests().len();
    assert_eq!(fetched_before, 10);

    let fewer = TestEnv::new(&config(&every, &sources[..5]));
    let mut after = Daemon::start(&fewer).await;
    wait_round_count(&mut after, 2).await;
    stop_all(&mut [&mut after]).await;
    let mut hits: HashMap<String, usize> = HashMap::new();
    for request in server.requests().iter().skip(fetched_before) {
        *hits.entry(request.path.clone()).or_default() += 1;
    }
    let removed: Vec<_> = (5..10)
        .map(|n| format!("/f/{n}.xml"))
        .filter(|path| hits.contains_key(path))
        .collect();
    assert!(removed.is_empty(), "removed sources fetched: {removed:?}");
    assert!(
        (0..5).all(|n| hits.get(&format!("/f/{n}.xml")) >= Some(&2)),
        "the configured ones, every slot: {hits:?}"
    );
    assert_eq!(
        pg_count(
            &store,
            "SELECT count(*) FROM sources WHERE leased_by IS NOT NULL"
        )
        .await,
        0,
        "what it claimed and did not fetch was given back"
    );
}
