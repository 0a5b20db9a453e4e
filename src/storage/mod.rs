//! Storage: the interface the rest of herald calls to keep what rounds
//! fetch and to read it back, whichever store [`Location`] names: SQLite
//! (`sqlite`, the only module that names rusqlite) or PostgreSQL
//! (`postgres`, the only one that names tokio-postgres). Both sit behind
//! [`Storage`] (writes, from async code) and [`Reader`] (the read
//! commands); nothing outside this folder knows which one it talks to,
//! except where sharing shows: [`Storage::claim`] leases sources on a
//! shared database.
//!
//! SQLite writes go through one writer thread (see `sqlite/writer.rs`), so
//! the async runtime never blocks on disk; PostgreSQL writes run on a
//! connection pool. Reads open their own connection, safe next to a
//! running daemon.

mod location;
mod migrate;
mod postgres;
mod rows;
mod sqlite;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use location::{Location, LocationError, PostgresTarget};
pub use migrate::{CopyProgress, CopyReport, copy as copy_store};
pub use rows::{
    ArticleFilter, ClaimRequest, Claimed, Memories, NotifyClaim, PruneReport, RoundId, RoundRow,
    RoundSummary, SourceRow, SourceStats, Stored, StoredArticle,
};

use crate::model::http::Validators;
use crate::model::outcome::FetchOutcome;
use crate::model::retention::RetentionPolicy;

/// The schema version a fully migrated SQLite database reports.
pub const CURRENT_VERSION: i64 = sqlite::schema::CURRENT_VERSION;

/// The schema version a fully migrated database at `location` reports.
pub fn current_version(location: &Location) -> i64 {
    match location {
        Location::Sqlite(_) => sqlite::schema::CURRENT_VERSION,
        Location::Postgres(_) => postgres::schema::CURRENT_VERSION,
    }
}

/// Who this process is to a shared database: its name on rounds, fetches
/// and leases, the digest of its config (instances with different configs
/// are warned about), and how long its leases last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `[daemon] instance` (hostname and PID by default).
    pub name: String,
    /// A hash of the config's sources and schedules.
    pub config_digest: String,
    /// `[daemon] lease`: a killed instance's sources are fetched by others
    /// after this.
    pub lease: Duration,
    /// Connections in the pool (PostgreSQL).
    pub connections: usize,
}

impl Identity {
    /// An identity for tools and tests: hostname and PID, no digest.
    pub fn anonymous() -> Identity {
        Identity {
            name: format!("herald-{}", std::process::id()),
            config_digest: String::new(),
            lease: Duration::from_secs(300),
            connections: 8,
        }
    }
}

/// An instance a shared database has seen (`herald check`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InstanceRow {
    /// Its `[daemon] instance`.
    pub name: String,
    /// Its config digest.
    pub config_digest: String,
    /// The herald version it ran.
    pub version: String,
    /// When it was last seen (ISO-8601 UTC).
    pub seen_at: String,
    /// Not stopped cleanly (running, or killed).
    pub running: bool,
}

/// Why the database could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A read command found no database: nothing has run with this config.
    #[error("no database yet at {}: has `herald run` or `herald once` run with this config?", .path.display())]
    Missing {
        /// Where the config says it is.
        path: PathBuf,
    },
    /// The file could not be opened, created or migrated.
    #[error("{}: cannot open database: {source}", .path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// SQLite's reason.
        source: rusqlite::Error,
    },
    /// A statement failed.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A PostgreSQL statement failed (the server's message).
    #[error("database: {0}")]
    Postgres(String),
    /// The PostgreSQL server could not be reached or refused herald.
    #[error("{location}: cannot connect: {reason}")]
    Connect {
        /// The server, without its password.
        location: String,
        /// Why.
        reason: String,
    },
    /// A shared database herald has never written to.
    #[error(
        "no herald data yet at {location}: has `herald run` or `herald once` run with this config?"
    )]
    Empty {
        /// The server, without its password.
        location: String,
    },
    /// A newer herald migrated the database: this one refuses to touch it.
    #[error(
        "{location}: database schema version {version} is newer than this herald understands ({known}); upgrade herald on every instance"
    )]
    Newer {
        /// The database.
        location: String,
        /// Its schema version.
        version: i64,
        /// The newest this herald knows.
        known: i64,
    },
    /// What only one of the stores can do.
    #[error("{0}")]
    Unsupported(String),
    /// The writer thread has stopped (closed, or it panicked).
    #[error("database writer has stopped")]
    WriterGone,
    /// The database predates a feature; the daemon (or `herald once`)
    /// migrates it on its next start.
    #[error("{}: database schema version {version} predates this command (needs {needed}); run `herald once` or restart the daemon to upgrade it", .path.display())]
    Outdated {
        /// The database file.
        path: PathBuf,
        /// Its schema version.
        version: i64,
        /// The version the command needs.
        needed: i64,
    },
    /// A `herald search` query FTS5 cannot parse; carries SQLite's reason.
    #[error(
        "search query {query:?} is not valid: {reason} (words are matched as given; quote phrases with \"...\", use AND / OR / NOT, prefix* for prefixes)"
    )]
    BadQuery {
        /// The query as given.
        query: String,
        /// Why FTS5 refused it.
        reason: String,
    },
    /// Another herald already writes this database (one writer per
    /// database); the message says what to do instead.
    #[error("{}", in_use_message(path, *.pid, *.holder, *.wanted))]
    InUse {
        /// The database.
        path: PathBuf,
        /// The holder's PID, as its lock file says.
        pid: Option<u32>,
        /// What the holder runs, as its lock file says.
        holder: Option<Role>,
        /// What this process wanted to run.
        wanted: Role,
    },
    /// The lock file next to the database cannot be created or written.
    #[error("{}: cannot use the lock file: {source}", .path.display())]
    LockFile {
        /// The lock file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another process held the database's write lock for longer than herald
    /// was willing to wait (shutdown, or the end of a `once` round); what
    /// was fetched in the meantime was not stored.
    #[error("{}: database locked by another process for {}", .path.display(), humantime::format_duration(*.waited))]
    Locked {
        /// The database.
        path: PathBuf,
        /// How long herald waited.
        waited: std::time::Duration,
    },
}

/// Who writes a database: the daemon, or a one-shot round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `herald run`.
    Daemon,
    /// `herald once`.
    Once,
    /// `herald prune`.
    Prune,
}

impl Role {
    /// The command, as the lock file records it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Daemon => "run",
            Role::Once => "once",
            Role::Prune => "prune",
        }
    }

    pub(crate) fn parse(word: &str) -> Option<Role> {
        match word {
            "run" => Some(Role::Daemon),
            "once" => Some(Role::Once),
            "prune" => Some(Role::Prune),
            _ => None,
        }
    }
}

/// One line saying who holds the database and what to do instead.
fn in_use_message(path: &Path, pid: Option<u32>, holder: Option<Role>, wanted: Role) -> String {
    let who = match (holder, pid) {
        (Some(holder), Some(pid)) => format!("herald {} (PID {pid})", holder.as_str()),
        (None, Some(pid)) => format!("another herald (PID {pid})"),
        (_, None) => "another herald".to_owned(),
    };
    let kill = pid.map_or_else(String::new, |pid| format!(" or `kill -USR1 {pid}`"));
    let what_to_do = match (holder, wanted) {
        (Some(Role::Daemon), Role::Once) => format!(
            "to fetch every source now, ask the daemon: `systemctl kill -s USR1 herald`{kill}"
        ),
        (Some(Role::Daemon), Role::Prune) => {
            "the daemon prunes by itself after rounds, at most hourly (see its log); \
             to prune now, stop it first (`systemctl stop herald`)"
                .to_owned()
        }
        (Some(Role::Daemon), Role::Daemon) => {
            "stop it first (`systemctl stop herald`), or give this one another daemon.database"
                .to_owned()
        }
        (Some(Role::Once), _) => "wait for that round to finish, then try again".to_owned(),
        (Some(Role::Prune), _) => "wait for that prune to finish, then try again".to_owned(),
        (None, _) => "stop it first, or give this one another daemon.database".to_owned(),
    };
    format!(
        "{} is already being written by {who}: one writer per database; {what_to_do}",
        path.display()
    )
}

/// A cheap, cloneable handle on the database for async code: every write
/// (and the state a round reads before it starts) goes through it.
#[derive(Debug, Clone)]
pub struct Storage {
    backend: Backend,
    location: Location,
}

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(sqlite::writer::Writer),
    Postgres(postgres::Store),
}

impl Storage {
    /// Opens the database at `location` for `role` as an anonymous
    /// instance: see [`Storage::open_as`].
    ///
    /// # Errors
    /// As [`Storage::open_as`].
    pub async fn open(location: &Location, role: Role) -> Result<Storage, StorageError> {
        Self::open_as(location, role, Identity::anonymous()).await
    }

    /// Opens the database as `identity`. SQLite: takes the file's
    /// one-writer lock as `role`, creates and migrates it if needed, and
    /// starts its writer. PostgreSQL: connects a pool, migrates under an
    /// advisory lock (one instance migrates, the others wait and find it
    /// done), and registers the instance.
    ///
    /// # Errors
    /// [`StorageError::InUse`] when another herald writes the SQLite file;
    /// the database cannot be reached, opened, created or migrated;
    /// [`StorageError::Newer`] for a schema from a newer herald.
    pub async fn open_as(
        location: &Location,
        role: Role,
        identity: Identity,
    ) -> Result<Storage, StorageError> {
        let backend = match location {
            Location::Sqlite(path) => {
                Backend::Sqlite(sqlite::writer::Writer::open(path, role, &identity.name).await?)
            }
            Location::Postgres(target) => {
                let connections = identity.connections;
                Backend::Postgres(postgres::Store::open(target, identity, connections).await?)
            }
        };
        Ok(Storage {
            backend,
            location: location.clone(),
        })
    }

    /// A scratch database at `scratch` that shadows `live` for a dry run:
    /// `live` is only read (attached read-only), its source state and
    /// recent history are copied in, and its articles count as seen. `live`
    /// must be at [`CURRENT_VERSION`].
    ///
    /// # Errors
    /// As [`Storage::open`], or `live` cannot be attached and read.
    pub async fn open_shadow(scratch: &Path, live: &Path) -> Result<Storage, StorageError> {
        Ok(Storage {
            backend: Backend::Sqlite(
                sqlite::writer::Writer::open_shadow(scratch, live, "dry-run").await?,
            ),
            location: Location::Sqlite(scratch.to_path_buf()),
        })
    }

    /// Stops waiting for a write lock another process holds: writes still
    /// waiting are answered [`StorageError::Locked`] (and reported as not
    /// stored). Called when a shutdown's grace period or a `once` round ends.
    pub fn give_up_waiting(&self) {
        if let Backend::Sqlite(writer) = &self.backend {
            writer.give_up_waiting();
        }
    }

    /// Where the database is (shown without a password).
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Whether several instances share it: rounds then claim their sources.
    pub fn is_shared(&self) -> bool {
        self.location.is_shared()
    }

    /// Records the start of a round and returns its id.
    ///
    /// # Errors
    /// The write failed, or the writer has stopped.
    pub async fn begin_round(
        &self,
        trigger: &str,
        planned: usize,
    ) -> Result<RoundId, StorageError> {
        match &self.backend {
            Backend::Sqlite(writer) => writer.begin_round(trigger, planned).await,
            Backend::Postgres(store) => store.begin_round(trigger, planned).await,
        }
    }

    /// Stores one fetch (its row, its articles, the source's state) atomically.
    /// Returns a future so a round can queue many commits and await them later.
    pub fn commit_fetch(
        &self,
        round_id: RoundId,
        outcome: FetchOutcome,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Stored, StorageError>> + Send>>
    {
        match &self.backend {
            Backend::Sqlite(writer) => Box::pin(writer.commit_fetch(round_id, outcome)),
            Backend::Postgres(store) => Box::pin(store.commit_fetch(round_id, outcome)),
        }
    }

    /// Every source's persisted state (validators, moves, breaker), with the
    /// requests made since `since` for rate limits.
    ///
    /// # Errors
    /// The read failed, or the writer has stopped.
    pub async fn source_memory(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Memories, StorageError> {
        match &self.backend {
            Backend::Sqlite(writer) => writer.source_memory(since).await,
            Backend::Postgres(store) => store.source_memory(since).await,
        }
    }

    /// The candidates this instance fetches now, with their state. SQLite
    /// has one writer: every candidate is its own. A shared database
    /// leases at most `request.limit` due ones no other instance holds.
    ///
    /// # Errors
    /// The read or the lease failed, or the writer has stopped.
    pub async fn claim(&self, request: &ClaimRequest) -> Result<Claimed, StorageError> {
        match &self.backend {
            Backend::Sqlite(writer) => Ok(Claimed {
                names: request.candidates.iter().map(|(n, _)| n.clone()).collect(),
                memories: writer.source_memory(request.since).await?,
                contended: false,
            }),
            Backend::Postgres(store) => store.claim(request).await,
        }
    }

    /// Gives back claimed sources this instance will not fetch (not in its
    /// config): they are next due at the following slot. Nothing to do on
    /// SQLite.
    ///
    /// # Errors
    /// The write failed.
    pub async fn release(&self, names: &[String]) -> Result<(), StorageError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(()),
            Backend::Postgres(store) => store.release(names).await,
        }
    }

    /// A `[[notify]]` rule's new matches, recorded as announced before they
    /// are returned (at most once per article per rule).
    ///
    /// # Errors
    /// The write failed, or the writer has stopped.
    pub async fn claim_notifications(
        &self,
        claim: NotifyClaim,
    ) -> Result<Vec<StoredArticle>, StorageError> {
        match &self.backend {
            Backend::Sqlite(writer) => writer.claim_notifications(claim).await,
            Backend::Postgres(store) => store.claim_notifications(claim).await,
        }
    }

    /// Records a round's totals and the breaker states it changed.
    ///
    /// # Errors
    /// The write failed, or the writer has stopped.
    pub async fn finish_round(&self, summary: RoundSummary) -> Result<(), StorageError> {
        match &self.backend {
            Backend::Sqlite(writer) => writer.finish_round(summary).await,
            Backend::Postgres(store) => store.finish_round(summary).await,
        }
    }

    /// Removes the articles no source served within its `keep` and the
    /// history older than `keep_history` (or, `dry_run`, only counts them),
    /// in short transactions, then hands free space back where the store
    /// allows it; `vacuum` then compacts (SQLite: rewrites the file once;
    /// PostgreSQL: `VACUUM (ANALYZE)`).
    ///
    /// # Errors
    /// A step failed (what was removed before it stays removed), or the
    /// writer has stopped.
    pub async fn prune(
        &self,
        policy: RetentionPolicy,
        dry_run: bool,
        vacuum: bool,
    ) -> Result<PruneReport, StorageError> {
        match &self.backend {
            Backend::Sqlite(writer) => writer.prune(policy, dry_run, vacuum).await,
            Backend::Postgres(store) => store.prune(policy, dry_run, vacuum).await,
        }
    }

    /// Prunes by `policy` in idle moments, at most once an hour (on a
    /// shared database, one instance at a time): what the daemon asks
    /// after every round.
    pub fn prune_when_idle(&self, policy: RetentionPolicy) {
        match &self.backend {
            Backend::Sqlite(writer) => writer.prune_when_idle(policy),
            Backend::Postgres(store) => store.prune_when_idle(policy),
        }
    }

    /// Waits for every queued write and closes: SQLite checkpoints the WAL
    /// and stops the writer; PostgreSQL gives back this instance's leases.
    /// Other clones of this handle get [`StorageError::WriterGone`]
    /// afterwards (SQLite).
    ///
    /// # Errors
    /// The last write failed, or the writer had already stopped.
    pub async fn close(self) -> Result<(), StorageError> {
        match self.backend {
            Backend::Sqlite(writer) => writer.close().await,
            Backend::Postgres(store) => store.close().await,
        }
    }
}

/// Read-only access for the read commands: never takes a write lock, safe
/// while the daemon runs. Synchronous: the commands are one-shot and run
/// no async runtime.
#[derive(Debug)]
pub struct Reader {
    backend: ReadBackend,
    location: Location,
}

#[derive(Debug)]
enum ReadBackend {
    Sqlite(rusqlite::Connection),
    Postgres(postgres::Reader),
}

impl Reader {
    /// Opens the database at `location` for reading.
    ///
    /// # Errors
    /// The file does not exist or cannot be read; the server cannot be
    /// reached, or herald has never written to it.
    pub fn open(location: &Location) -> Result<Reader, StorageError> {
        let backend = match location {
            Location::Sqlite(path) => ReadBackend::Sqlite(sqlite::open_read_only(path)?),
            Location::Postgres(target) => {
                let reader = postgres::Reader::open(target)?;
                if reader.run(postgres::schema::version)? == 0 {
                    return Err(StorageError::Empty {
                        location: location.to_string(),
                    });
                }
                ReadBackend::Postgres(reader)
            }
        };
        Ok(Reader {
            backend,
            location: location.clone(),
        })
    }

    /// The schema version (0 for an empty database).
    ///
    /// # Errors
    /// The database cannot be read.
    pub fn schema_version(&self) -> Result<i64, StorageError> {
        match &self.backend {
            ReadBackend::Sqlite(conn) => Ok(sqlite::schema::version(conn)?),
            ReadBackend::Postgres(reader) => Ok(reader.run(postgres::schema::version)?),
        }
    }

    /// Newest first (by publication, else fetch time), one line per story:
    /// see [`ArticleFilter`].
    ///
    /// # Errors
    /// The query failed.
    pub fn latest(&self, filter: &ArticleFilter) -> Result<Vec<StoredArticle>, StorageError> {
        match &self.backend {
            ReadBackend::Sqlite(conn) => Ok(sqlite::reads::latest(conn, filter)?),
            ReadBackend::Postgres(reader) => {
                Ok(reader.run(|c| postgres::reads::latest(c, filter))?)
            }
        }
    }

    /// Full-text search, best match first (a title hit over a summary
    /// hit), then newest.
    ///
    /// # Errors
    /// [`StorageError::BadQuery`] for a query FTS5 cannot parse;
    /// [`StorageError::Outdated`] for a database that predates search.
    pub fn search(
        &self,
        query: &str,
        limit: usize,
        sources: &[String],
    ) -> Result<Vec<StoredArticle>, StorageError> {
        match &self.backend {
            ReadBackend::Sqlite(conn) => {
                let version = sqlite::schema::version(conn)?;
                if version < 2 {
                    return Err(StorageError::Outdated {
                        path: self.location.to_string().into(),
                        version,
                        needed: 2,
                    });
                }
                sqlite::reads::search(conn, query, limit, sources)
            }
            ReadBackend::Postgres(reader) => {
                reader.run(|c| postgres::reads::search(c, query, limit, sources))
            }
        }
    }

    /// How many stored articles the full-text index does not hold yet
    /// (SQLite's writer adds them when idle and before each round): what a
    /// search right now would miss. PostgreSQL indexes as it stores: 0.
    ///
    /// # Errors
    /// The database cannot be read.
    pub fn unsearchable(&self) -> Result<u64, StorageError> {
        match &self.backend {
            ReadBackend::Sqlite(conn) => {
                if sqlite::schema::version(conn)? < 5 {
                    return Ok(0);
                }
                Ok(sqlite::reads::unindexed(conn)?)
            }
            ReadBackend::Postgres(_) => Ok(0),
        }
    }

    /// The state of every source the database has seen, by name.
    ///
    /// # Errors
    /// The query failed.
    pub fn sources(&self) -> Result<HashMap<String, SourceRow>, StorageError> {
        match &self.backend {
            ReadBackend::Sqlite(conn) => Ok(sqlite::reads::sources(conn)?),
            ReadBackend::Postgres(reader) => Ok(reader.run(postgres::reads::sources)?),
        }
    }

    /// The most recent `limit` finished rounds, newest first.
    ///
    /// # Errors
    /// The query failed.
    pub fn rounds(&self, limit: usize) -> Result<Vec<RoundRow>, StorageError> {
        match &self.backend {
            ReadBackend::Sqlite(conn) => Ok(sqlite::reads::rounds(conn, limit)?),
            ReadBackend::Postgres(reader) => Ok(reader.run(|c| postgres::reads::rounds(c, limit))?),
        }
    }

    /// Per-source latency and failure rate over rounds ≥ `from_round`.
    ///
    /// # Errors
    /// The query failed.
    pub fn source_stats(&self, from_round: RoundId) -> Result<Vec<SourceStats>, StorageError> {
        match &self.backend {
            ReadBackend::Sqlite(conn) => Ok(sqlite::reads::source_stats(conn, from_round)?),
            ReadBackend::Postgres(reader) => {
                Ok(reader.run(|c| postgres::reads::source_stats(c, from_round))?)
            }
        }
    }

    /// When the newest article was fetched, for feed `updated` stamps.
    ///
    /// # Errors
    /// The query failed.
    pub fn newest_fetch(&self) -> Result<Option<String>, StorageError> {
        match &self.backend {
            ReadBackend::Sqlite(conn) => Ok(sqlite::reads::newest_fetch(conn)?),
            ReadBackend::Postgres(reader) => Ok(reader.run(postgres::reads::newest_fetch)?),
        }
    }

    /// The validators and remembered move stored for `source`, to send what
    /// the daemon would send (`herald fetch NAME`).
    ///
    /// # Errors
    /// The query failed.
    pub fn validators_of(
        &self,
        source: &str,
    ) -> Result<(Option<Validators>, Option<String>), StorageError> {
        match &self.backend {
            ReadBackend::Sqlite(conn) => Ok(sqlite::reads::validators_of(conn, source)?),
            ReadBackend::Postgres(reader) => {
                Ok(reader.run(|c| postgres::reads::validators_of(c, source))?)
            }
        }
    }

    /// The instances a shared database has seen, newest first (none for
    /// SQLite: one writer, no names to compare).
    ///
    /// # Errors
    /// The query failed.
    pub fn instances(&self) -> Result<Vec<InstanceRow>, StorageError> {
        match &self.backend {
            ReadBackend::Sqlite(_) => Ok(Vec::new()),
            ReadBackend::Postgres(reader) => reader.instances(),
        }
    }
}

/// Copies the database at `from` into a new file `to` in one consistent
/// read, without writing to `from`: what `once --dry-run` rounds run against.
///
/// # Errors
/// `from` cannot be read or `to` cannot be written.
pub fn snapshot(from: &Path, to: &Path) -> Result<(), StorageError> {
    sqlite::snapshot(from, to)
}

/// Who writes `database` now: the PID and command in its lock file, or
/// `None` when no herald holds it (`herald add --reload` signals the daemon
/// it finds here).
pub fn writer_of(database: &Path) -> Option<(i32, Role)> {
    sqlite::lock::holder(database)
}
