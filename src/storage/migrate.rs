//! `herald migrate-store`: copies everything one store holds into another
//! (SQLite → PostgreSQL when one machine is outgrown, or back), rows as
//! they are, ids included, so history and article identities survive.
//!
//! Resumable: tables keyed by id are copied in id order, a batch per
//! transaction, starting after the highest id the target already holds;
//! an article's appearances travel in its batch. Tables keyed by name are
//! merged (`ON CONFLICT DO NOTHING`). Run it with herald stopped on the
//! source: rows written meanwhile may be missed.

use std::path::Path;

use super::location::{Location, PostgresTarget};
use super::{Identity, Role, Storage, StorageError, postgres, sqlite};

/// A column value in transit: both schemas hold only integers and text.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    Int(i64),
    Text(String),
}

/// What a table is keyed by, for resuming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    /// An `id` column: copy after the target's highest.
    Id,
    /// Small tables keyed by name: merge them whole.
    Merge,
}

/// Tables in copy order (a referenced table before its referrers), with
/// the columns both stores have.
const TABLES: &[(&str, Key, &[&str])] = &[
    (
        "sources",
        Key::Merge,
        &[
            "name",
            "last_attempt_at",
            "last_success_at",
            "last_status",
            "last_error",
            "consecutive_failures",
            "etag",
            "last_modified",
            "moved_to",
            "paused_until",
            "gone_at",
            "next_check_at",
            "next_check_reason",
        ],
    ),
    (
        "hosts",
        Key::Merge,
        &["host", "backoff_until", "backoff_s", "reason"],
    ),
    (
        "rounds",
        Key::Id,
        &[
            "id",
            "trigger",
            "started_at",
            "finished_at",
            "planned",
            "ok",
            "failed",
            "skipped",
            "new",
            "seen",
            "wall_ms",
            "ideal_ms",
            "interrupted",
            "instance",
        ],
    ),
    (
        "fetches",
        Key::Id,
        &[
            "id",
            "round_id",
            "source",
            "status",
            "http_status",
            "elapsed_ms",
            "attempts",
            "new",
            "seen",
            "dropped",
            "failed_items",
            "error",
            "finished_at",
            "warnings",
            "filtered",
            "instance",
        ],
    ),
    (
        "articles",
        Key::Id,
        &[
            "id",
            "source",
            "title",
            "url",
            "published_at",
            "fetched_at",
            "summary",
            "author",
            "origin",
            "fingerprint",
            "categories",
            "enclosure_url",
            "enclosure_type",
            "enclosure_length",
        ],
    ),
    ("notify_marks", Key::Merge, &["rule", "through_id"]),
    (
        "notified",
        Key::Merge,
        &["rule", "article_id", "notified_at"],
    ),
];

/// The columns of `appearances`, copied with their articles.
const APPEARANCES: &[&str] = &["article_id", "source", "first_seen", "last_seen"];

/// Rows per transaction.
const BATCH: usize = 2_000;

/// How far a copy has got, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyProgress<'a> {
    /// The table being copied.
    pub table: &'a str,
    /// Rows of it copied (this run and earlier ones).
    pub done: u64,
    /// Rows it holds in the source.
    pub total: u64,
}

/// What a copy did, per table: rows written by this run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CopyReport {
    /// `(table, rows copied now, rows already there)`.
    pub tables: Vec<(String, u64, u64)>,
}

/// Copies every row of `from` into `to` (created and migrated if needed),
/// telling `progress` as it goes. Synchronous: run it off any runtime.
///
/// # Errors
/// Either store cannot be opened, is at an older schema than this herald
/// (start herald on it once to migrate), or a write failed (what was
/// copied before stays; run it again to resume).
pub fn copy(
    from: &Location,
    to: &Location,
    progress: &mut dyn FnMut(CopyProgress<'_>),
) -> Result<CopyReport, StorageError> {
    if from == to {
        return Err(StorageError::Unsupported(
            "--from and --to name the same database".to_owned(),
        ));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StorageError::Unsupported(format!("cannot start a runtime: {e}")))?;
    // The target gets its schema the way herald itself would create it.
    open_and_close(&runtime, to)?;
    let source = Side::open(from, &runtime, false)?;
    let mut target = Side::open(to, &runtime, true)?;
    let mut report = CopyReport::default();
    for (table, key, columns) in TABLES {
        let total = source.count(table)?;
        let mut copied = 0;
        let already = match key {
            Key::Merge => {
                let rows = source.rows(table, columns, None, usize::MAX)?;
                let before = target.count(table)?;
                target.insert(table, columns, &rows)?;
                copied = target.count(table)? - before;
                before
            }
            Key::Id => {
                let mut after = target.max_id(table)?;
                let already = target.count(table)?;
                loop {
                    progress(CopyProgress {
                        table,
                        done: already + copied,
                        total,
                    });
                    let rows = source.rows(table, columns, Some(after), BATCH)?;
                    let Some(Value::Int(last)) = rows.last().and_then(|r| r.first()).cloned()
                    else {
                        break;
                    };
                    let appearances = if *table == "articles" {
                        source.appearances(after, last)?
                    } else {
                        Vec::new()
                    };
                    target.insert_batch(table, columns, &rows, &appearances)?;
                    copied += rows.len() as u64;
                    after = last;
                }
                target.reset_identity(table)?;
                already
            }
        };
        progress(CopyProgress {
            table,
            done: already + copied,
            total,
        });
        report.tables.push(((*table).to_owned(), copied, already));
    }
    drop(target);
    if to.sqlite_path().is_some() {
        // The writer indexes for search what the file lacks when it closes.
        open_and_close(&runtime, to)?;
    }
    Ok(report)
}

/// Opens `location` as herald does (creating and migrating it; a SQLite
/// writer indexes for search at close) and closes it.
fn open_and_close(
    runtime: &tokio::runtime::Runtime,
    location: &Location,
) -> Result<(), StorageError> {
    runtime.block_on(async {
        Storage::open_as(location, Role::Prune, Identity::anonymous())
            .await?
            .close()
            .await
    })
}

/// One end of a copy.
enum Side<'a> {
    Sqlite(rusqlite::Connection),
    Postgres(&'a tokio::runtime::Runtime, deadpool_postgres::Client),
}

impl<'a> Side<'a> {
    fn open(
        location: &Location,
        runtime: &'a tokio::runtime::Runtime,
        write: bool,
    ) -> Result<Side<'a>, StorageError> {
        match location {
            Location::Sqlite(path) => Ok(Side::Sqlite(open_sqlite(path, write)?)),
            Location::Postgres(target) => Ok(Side::Postgres(runtime, connect(runtime, target)?)),
        }
    }

    fn count(&self, table: &str) -> Result<u64, StorageError> {
        let sql = format!("SELECT count(*) FROM {table}");
        let n: i64 = match self {
            Side::Sqlite(conn) => conn.query_row(&sql, [], |row| row.get(0))?,
            Side::Postgres(runtime, client) => {
                runtime.block_on(client.query_one(&sql, &[]))?.get(0)
            }
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn max_id(&self, table: &str) -> Result<i64, StorageError> {
        let sql = format!("SELECT coalesce(max(id), 0) FROM {table}");
        Ok(match self {
            Side::Sqlite(conn) => conn.query_row(&sql, [], |row| row.get(0))?,
            Side::Postgres(runtime, client) => {
                runtime.block_on(client.query_one(&sql, &[]))?.get(0)
            }
        })
    }

    /// Up to `limit` rows, by id after `after` (or all, unordered).
    fn rows(
        &self,
        table: &str,
        columns: &[&str],
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Vec<Value>>, StorageError> {
        let mut sql = format!("SELECT {} FROM {table}", columns.join(", "));
        if let Some(after) = after {
            sql.push_str(&format!(" WHERE id > {after} ORDER BY id LIMIT {limit}"));
        }
        self.select(&sql)
    }

    /// The appearances of the articles with ids in `(after, upto]`.
    fn appearances(&self, after: i64, upto: i64) -> Result<Vec<Vec<Value>>, StorageError> {
        self.select(&format!(
            "SELECT {} FROM appearances WHERE article_id > {after} AND article_id <= {upto}",
            APPEARANCES.join(", ")
        ))
    }

    fn select(&self, sql: &str) -> Result<Vec<Vec<Value>>, StorageError> {
        match self {
            Side::Sqlite(conn) => {
                let mut statement = conn.prepare(sql)?;
                let width = statement.column_count();
                let rows = statement.query_map([], |row| {
                    (0..width)
                        .map(|i| {
                            Ok(match row.get_ref(i)? {
                                rusqlite::types::ValueRef::Null => Value::Null,
                                rusqlite::types::ValueRef::Integer(n) => Value::Int(n),
                                rusqlite::types::ValueRef::Real(x) => Value::Int(x as i64),
                                rusqlite::types::ValueRef::Text(t)
                                | rusqlite::types::ValueRef::Blob(t) => {
                                    Value::Text(String::from_utf8_lossy(t).into_owned())
                                }
                            })
                        })
                        .collect::<rusqlite::Result<Vec<Value>>>()
                })?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            }
            Side::Postgres(runtime, client) => {
                let rows = runtime.block_on(client.query(sql, &[]))?;
                Ok(rows
                    .iter()
                    .map(|row| {
                        (0..row.len())
                            .map(|i| {
                                if *row.columns()[i].type_() == tokio_postgres::types::Type::INT8 {
                                    row.get::<_, Option<i64>>(i).map_or(Value::Null, Value::Int)
                                } else {
                                    row.get::<_, Option<String>>(i)
                                        .map_or(Value::Null, Value::Text)
                                }
                            })
                            .collect()
                    })
                    .collect())
            }
        }
    }

    /// Inserts `rows` (keeping what is there) in one transaction.
    fn insert(
        &mut self,
        table: &str,
        columns: &[&str],
        rows: &[Vec<Value>],
    ) -> Result<(), StorageError> {
        self.insert_batch(table, columns, rows, &[])
    }

    /// Inserts `rows` and, for articles, their `appearances`, in one
    /// transaction.
    fn insert_batch(
        &mut self,
        table: &str,
        columns: &[&str],
        rows: &[Vec<Value>],
        appearances: &[Vec<Value>],
    ) -> Result<(), StorageError> {
        let sets = [
            (table, columns, rows),
            ("appearances", APPEARANCES, appearances),
        ];
        match self {
            Side::Sqlite(conn) => {
                let tx = conn.transaction()?;
                for (table, columns, rows) in sets {
                    let marks = vec!["?"; columns.len()].join(", ");
                    let mut statement = tx.prepare(&format!(
                        "INSERT OR IGNORE INTO {table} ({}) VALUES ({marks})",
                        columns.join(", ")
                    ))?;
                    for row in rows {
                        statement.execute(rusqlite::params_from_iter(row.iter().map(|value| {
                            match value {
                                Value::Null => rusqlite::types::Value::Null,
                                Value::Int(n) => rusqlite::types::Value::Integer(*n),
                                Value::Text(t) => rusqlite::types::Value::Text(t.clone()),
                            }
                        })))?;
                    }
                }
                tx.commit()?;
                Ok(())
            }
            Side::Postgres(runtime, client) => runtime.block_on(async {
                let tx = client.transaction().await?;
                for (table, columns, rows) in sets {
                    if rows.is_empty() {
                        continue;
                    }
                    let marks: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
                    let statement = tx
                        .prepare(&format!(
                            "INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT DO NOTHING",
                            columns.join(", "),
                            marks.join(", ")
                        ))
                        .await?;
                    let types = statement.params().to_vec();
                    for row in rows {
                        let values: Vec<Box<dyn tokio_postgres::types::ToSql + Sync + Send>> = row
                            .iter()
                            .zip(&types)
                            .map(|(value, kind)| pg_value(value, kind))
                            .collect();
                        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = values
                            .iter()
                            .map(|v| v.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync))
                            .collect();
                        tx.execute(&statement, &refs).await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }),
        }
    }

    /// After ids were copied as they are, new rows continue above them.
    fn reset_identity(&self, table: &str) -> Result<(), StorageError> {
        if let Side::Postgres(runtime, client) = self {
            runtime.block_on(client.execute(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'),
                                   greatest((SELECT max(id) FROM {table}), 1))"
                ),
                &[],
            ))?;
        }
        Ok(())
    }
}

/// A value bound as the column's type (integers stored as text in an old
/// SQLite file are converted, and the other way round).
fn pg_value(
    value: &Value,
    kind: &tokio_postgres::types::Type,
) -> Box<dyn tokio_postgres::types::ToSql + Sync + Send> {
    let integer = *kind == tokio_postgres::types::Type::INT8;
    match value {
        Value::Null if integer => Box::new(Option::<i64>::None),
        Value::Null => Box::new(Option::<String>::None),
        Value::Int(n) if integer => Box::new(*n),
        Value::Int(n) => Box::new(n.to_string()),
        Value::Text(t) if integer => Box::new(t.parse::<i64>().ok()),
        Value::Text(t) => Box::new(t.clone()),
    }
}

fn open_sqlite(path: &Path, write: bool) -> Result<rusqlite::Connection, StorageError> {
    let conn = if write {
        rusqlite::Connection::open(path).map_err(|source| StorageError::Open {
            path: path.to_path_buf(),
            source,
        })?
    } else {
        sqlite::open_read_only(path)?
    };
    let version = sqlite::schema::version(&conn)?;
    if version != sqlite::schema::CURRENT_VERSION {
        return Err(StorageError::Outdated {
            path: path.to_path_buf(),
            version,
            needed: sqlite::schema::CURRENT_VERSION,
        });
    }
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    Ok(conn)
}

fn connect(
    runtime: &tokio::runtime::Runtime,
    target: &PostgresTarget,
) -> Result<deadpool_postgres::Client, StorageError> {
    let reader = runtime.block_on(postgres::connect_one(target))?;
    let version = runtime.block_on(postgres::schema::version(&reader))?;
    if version != postgres::schema::CURRENT_VERSION {
        return Err(StorageError::Empty {
            location: Location::Postgres(target.clone()).to_string(),
        });
    }
    Ok(reader)
}
