//! Which store a test runs against. The shared suites run every test on
//! SQLite and again on PostgreSQL: the cluster `.ci/postgres.sh` starts,
//! named by `HERALD_TEST_POSTGRES` (a libpq string without `dbname`). Each
//! test gets a database of its own. Without the variable the PostgreSQL
//! half is skipped with a note, except under CI (`CI` set), where that is a
//! failure: CI must run them.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The variable naming the test cluster.
pub const POSTGRES_VAR: &str = "HERALD_TEST_POSTGRES";

/// A store for one test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    /// `herald.db` in the test's folder.
    Sqlite,
    /// A fresh database on the test cluster (a libpq string).
    Postgres(String),
}

impl Store {
    /// A fresh PostgreSQL database, or `None` (skip) when no cluster is
    /// configured outside CI.
    pub async fn postgres() -> Option<Store> {
        let Ok(base) = std::env::var(POSTGRES_VAR) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "{POSTGRES_VAR} is not set, and CI must run the PostgreSQL tests: start a cluster with .ci/postgres.sh"
            );
            eprintln!(
                "skipped: {POSTGRES_VAR} is not set (export {POSTGRES_VAR}=\"$(.ci/postgres.sh)\")"
            );
            return None;
        };
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "herald_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let (client, connection) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connect to the test cluster ({base}): {e}"));
        tokio::spawn(connection);
        for statement in [
            format!("DROP DATABASE IF EXISTS {name}"),
            format!("CREATE DATABASE {name}"),
        ] {
            client
                .batch_execute(&statement)
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
        Some(Store::Postgres(with_dbname(&base, &name)))
    }

    /// The `[daemon]` line naming this store.
    pub fn database_line(&self) -> String {
        match self {
            Store::Sqlite => String::new(),
            Store::Postgres(conninfo) => format!("database = \"{conninfo}\""),
        }
    }

    /// A client on this store's database (PostgreSQL only), for tests that
    /// look at rows herald wrote.
    pub async fn client(&self) -> tokio_postgres::Client {
        let Store::Postgres(conninfo) = self else {
            panic!("not a PostgreSQL store");
        };
        let (client, connection) = tokio_postgres::connect(conninfo, tokio_postgres::NoTls)
            .await
            .expect("connect to the test database");
        tokio::spawn(connection);
        client
    }
}

/// `base` with its `dbname` replaced by `name`.
fn with_dbname(base: &str, name: &str) -> String {
    let mut parts: Vec<&str> = base
        .split_whitespace()
        .filter(|part| !part.starts_with("dbname="))
        .collect();
    let dbname = format!("dbname={name}");
    parts.push(&dbname);
    parts.join(" ")
}

/// Runs a store-agnostic test body on SQLite and on PostgreSQL: each name
/// becomes `sqlite::NAME` and `postgres::NAME`, calling `NAME(store)`.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::store::Store::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(store) = $crate::common::store::Store::postgres().await {
                        super::$name(store).await;
                    }
                }
            )*
        }
    };
}
