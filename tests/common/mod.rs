//! Test harness: a temporary folder with a config file, the real `herald`
//! binary, and the database it writes. Every test talks to a mock server on
//! 127.0.0.1 only.

#![allow(dead_code)] // each test file uses a different part of the harness

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use rusqlite::Connection;
use serde_json::Value;
use tempfile::TempDir;

/// The mock news server `herald bench` uses, shared with the tests.
#[path = "../../src/cli/bench/mock.rs"]
pub mod mock;

pub use mock::{MockResponse, MockServer, rss_feed};

pub mod daemon;
pub mod store;

/// How long any single herald invocation may take before the test fails
/// instead of hanging.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// A scratch folder holding `herald.toml` (and the database it names).
pub struct TestEnv {
    pub dir: TempDir,
    pub config: PathBuf,
}

impl TestEnv {
    /// Writes `toml` as the config file.
    pub fn new(toml: &str) -> TestEnv {
        let dir = tempfile::tempdir().expect("create temp dir");
        let config = dir.path().join("herald.toml");
        std::fs::write(&config, toml).expect("write config");
        TestEnv { dir, config }
    }

    /// Replaces the config file's text.
    pub fn rewrite(&self, toml: &str) {
        std::fs::write(&self.config, toml).expect("rewrite config");
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("herald.db")
    }

    /// Runs `herald --config <file> ARGS...` with a clean environment.
    pub async fn herald(&self, args: &[&str]) -> Output {
        self.herald_with_env(args, &[]).await
    }

    /// As [`TestEnv::herald`], with extra environment variables.
    pub async fn herald_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"));
        command.arg("--config").arg(&self.config).args(args);
        for (key, _) in std::env::vars() {
            if key.starts_with("HERALD") || key == "RUST_LOG" {
                command.env_remove(key);
            }
        }
        command.envs(env.iter().copied()).kill_on_drop(true);
        tokio::time::timeout(COMMAND_TIMEOUT, command.output())
            .await
            .expect("herald did not finish in time")
            .expect("herald binary runs")
    }

    /// `herald once --format json`, parsed; also returns the exit code.
    pub async fn once_json(&self) -> (i32, Value) {
        self.once_json_with_env(&[]).await
    }

    pub async fn once_json_with_env(&self, env: &[(&str, &str)]) -> (i32, Value) {
        let output = self
            .herald_with_env(&["once", "--format", "json"], env)
            .await;
        let code = output.status.code().expect("herald exited normally");
        let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}); exit {code}\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        });
        (code, report)
    }

    /// A connection to the database herald wrote.
    pub fn db(&self) -> Connection {
        Connection::open(self.db_path()).expect("open test database")
    }

    /// Asserts SQLite finds the file sound.
    pub fn assert_integrity(&self) {
        assert_integrity(&self.db_path());
    }

    /// Number of rows in `articles`.
    pub fn article_count(&self) -> i64 {
        self.db()
            .query_row("SELECT count(*) FROM articles", [], |r| r.get(0))
            .expect("count articles")
    }
}

pub fn assert_integrity(path: &Path) {
    let conn = Connection::open(path).expect("open database");
    let result: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check runs");
    assert_eq!(result, "ok", "integrity_check of {}", path.display());
}

/// A `[[sources]]` block of kind feed.
pub fn feed_source(name: &str, url: &str) -> String {
    format!("\n[[sources]]\nname = \"{name}\"\nkind = \"feed\"\nurl = \"{url}\"\n")
}

/// A config with the given `[daemon]` lines and sources.
pub fn config(daemon: &str, sources: &[String]) -> String {
    format!("[daemon]\n{daemon}\n{}", sources.concat())
}

/// The report line for source `name`.
pub fn source_line<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["sources"]
        .as_array()
        .and_then(|lines| lines.iter().find(|l| l["name"] == name))
        .unwrap_or_else(|| panic!("no line for {name} in {report:#}"))
}

/// An address on 127.0.0.1 where nothing listens.
pub fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("local addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}/feed.xml")
}

/// Serves an RSS feed of `items` items at `path`, after `delay`.
pub fn serve_feed(server: &MockServer, path: &str, items: usize, delay: Duration) {
    server.route(
        path,
        MockResponse::ok("application/rss+xml", rss_feed(path, items)).delayed(delay),
    );
}
