//! Storage: the interface the rest of herald calls to keep what rounds
//! fetch and to read it back. The one backend today is SQLite ([`sqlite`],
//! the only module that names rusqlite); a second store plugs in behind
//! [`Storage`] (writes, from async code) and [`Reader`] (the read commands),
//! and nothing outside this folder changes.
//!
//! Writes go through one writer thread (see `sqlite/writer.rs`), so the async
//! runtime never blocks on disk; reads open their own read-only connection,
//! safe next to a running daemon.

mod rows;
mod sqlite;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

pub use rows::{
    ArticleFilter, Memories, NotifyClaim, PruneReport, RoundId, RoundRow, RoundSummary, SourceRow,
    SourceStats, Stored, StoredArticle,
};

use crate::model::http::Validators;
use crate::model::outcome::FetchOutcome;
use crate::model::retention::RetentionPolicy;

/// The schema version a fully migrated database reports.
pub const CURRENT_VERSION: i64 = sqlite::schema::CURRENT_VERSION;

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
    writer: sqlite::writer::Writer,
    path: PathBuf,
}

impl Storage {
    /// Takes the database's one-writer lock as `role`, opens (creating and
    /// migrating if needed) the database and starts its writer.
    ///
    /// # Errors
    /// [`StorageError::InUse`] when another herald writes it; the file
    /// cannot be opened, created or migrated.
    pub async fn open(path: &Path, role: Role) -> Result<Storage, StorageError> {
        Ok(Storage {
            writer: sqlite::writer::Writer::open(path, role).await?,
            path: path.to_path_buf(),
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
            writer: sqlite::writer::Writer::open_shadow(scratch, live).await?,
            path: scratch.to_path_buf(),
        })
    }

    /// Stops waiting for a write lock another process holds: writes still
    /// waiting are answered [`StorageError::Locked`] (and reported as not
    /// stored). Called when a shutdown's grace period or a `once` round ends.
    pub fn give_up_waiting(&self) {
        self.writer.give_up_waiting();
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
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
        self.writer.begin_round(trigger, planned).await
    }

    /// Stores one fetch (its row, its articles, the source's state) atomically.
    /// Returns a future so a round can queue many commits and await them later.
    pub fn commit_fetch(
        &self,
        round_id: RoundId,
        outcome: FetchOutcome,
    ) -> impl std::future::Future<Output = Result<Stored, StorageError>> + Send + 'static + use<>
    {
        self.writer.commit_fetch(round_id, outcome)
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
        self.writer.source_memory(since).await
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
        self.writer.claim_notifications(claim).await
    }

    /// Records a round's totals and the breaker states it changed.
    ///
    /// # Errors
    /// The write failed, or the writer has stopped.
    pub async fn finish_round(&self, summary: RoundSummary) -> Result<(), StorageError> {
        self.writer.finish_round(summary).await
    }

    /// Removes the articles no source served within its `keep` and the
    /// history older than `keep_history` (or, `dry_run`, only counts them),
    /// in short transactions, then hands free space back to the file
    /// system where the file allows it; `vacuum` then rewrites the whole
    /// file once (compact, and incremental auto-vacuum from then on).
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
        self.writer.prune(policy, dry_run, vacuum).await
    }

    /// Lets the writer prune by `policy` in its idle moments (a step of a
    /// few tens of milliseconds at a time), at most once an hour: what the
    /// daemon asks after every round.
    pub fn prune_when_idle(&self, policy: RetentionPolicy) {
        self.writer.prune_when_idle(policy);
    }

    /// Waits for every queued write, checkpoints the WAL and stops the writer.
    /// Other clones of this handle get [`StorageError::WriterGone`] afterwards.
    ///
    /// # Errors
    /// The checkpoint failed, or the writer had already stopped.
    pub async fn close(self) -> Result<(), StorageError> {
        self.writer.close().await
    }
}

/// Read-only access for the read commands: never takes a write lock, safe
/// while the daemon runs. Synchronous: the commands are one-shot and run
/// no async runtime.
#[derive(Debug)]
pub struct Reader {
    conn: rusqlite::Connection,
    path: PathBuf,
}

impl Reader {
    /// Opens the database at `path` read-only.
    ///
    /// # Errors
    /// The file does not exist or cannot be read.
    pub fn open(path: &Path) -> Result<Reader, StorageError> {
        Ok(Reader {
            conn: sqlite::open_read_only(path)?,
            path: path.to_path_buf(),
        })
    }

    /// The schema version of the file (0 for an empty one).
    ///
    /// # Errors
    /// The file cannot be read.
    pub fn schema_version(&self) -> Result<i64, StorageError> {
        Ok(sqlite::schema::version(&self.conn)?)
    }

    /// Newest first (by publication, else fetch time), one line per story:
    /// see [`ArticleFilter`].
    ///
    /// # Errors
    /// The query failed.
    pub fn latest(&self, filter: &ArticleFilter) -> Result<Vec<StoredArticle>, StorageError> {
        Ok(sqlite::reads::latest(&self.conn, filter)?)
    }

    /// Full-text search, best match first, then newest.
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
        let version = sqlite::schema::version(&self.conn)?;
        if version < 2 {
            return Err(StorageError::Outdated {
                path: self.path.clone(),
                version,
                needed: 2,
            });
        }
        sqlite::reads::search(&self.conn, query, limit, sources)
    }

    /// How many stored articles the full-text index does not hold yet (the
    /// writer adds them when idle and before each round): what a search
    /// right now would miss.
    ///
    /// # Errors
    /// The database cannot be read.
    pub fn unsearchable(&self) -> Result<u64, StorageError> {
        if sqlite::schema::version(&self.conn)? < 5 {
            return Ok(0);
        }
        Ok(sqlite::reads::unindexed(&self.conn)?)
    }

    /// The state of every source the database has seen, by name.
    ///
    /// # Errors
    /// The query failed.
    pub fn sources(&self) -> Result<HashMap<String, SourceRow>, StorageError> {
        Ok(sqlite::reads::sources(&self.conn)?)
    }

    /// The most recent `limit` finished rounds, newest first.
    ///
    /// # Errors
    /// The query failed.
    pub fn rounds(&self, limit: usize) -> Result<Vec<RoundRow>, StorageError> {
        Ok(sqlite::reads::rounds(&self.conn, limit)?)
    }

    /// Per-source latency and failure rate over rounds ≥ `from_round`.
    ///
    /// # Errors
    /// The query failed.
    pub fn source_stats(&self, from_round: RoundId) -> Result<Vec<SourceStats>, StorageError> {
        Ok(sqlite::reads::source_stats(&self.conn, from_round)?)
    }

    /// When the newest article was fetched, for feed `updated` stamps.
    ///
    /// # Errors
    /// The query failed.
    pub fn newest_fetch(&self) -> Result<Option<String>, StorageError> {
        Ok(sqlite::reads::newest_fetch(&self.conn)?)
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
        Ok(sqlite::reads::validators_of(&self.conn, source)?)
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
