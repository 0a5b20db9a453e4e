//! The one writer thread: it owns the write connection, and async code
//! talks to it over a channel and awaits a oneshot reply, so the runtime
//! never blocks on disk. One writer means no `SQLITE_BUSY` between our own
//! tasks, and readers (other processes, the read commands) never wait
//! thanks to WAL.
//!
//! The writer drains whatever commands are queued and commits them in one
//! transaction (group commit): a round of a thousand small feeds costs a few
//! fsyncs instead of a thousand.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot};

use super::{schema, writes};
use crate::model::outcome::FetchOutcome;
use crate::storage::StorageError;
use crate::storage::rows::{Memories, RoundId, RoundSummary, Stored};

/// How many queued commands one transaction may take.
const GROUP_COMMIT_MAX: usize = 512;

enum Command {
    BeginRound {
        trigger: String,
        started_at: DateTime<Utc>,
        planned: usize,
        reply: oneshot::Sender<Result<RoundId, StorageError>>,
    },
    Fetch {
        round_id: RoundId,
        outcome: Box<FetchOutcome>,
        reply: oneshot::Sender<Result<Stored, StorageError>>,
    },
    FinishRound {
        summary: RoundSummary,
        reply: oneshot::Sender<Result<(), StorageError>>,
    },
    Memory {
        since: Option<DateTime<Utc>>,
        reply: oneshot::Sender<Result<Memories, StorageError>>,
    },
    Close {
        reply: oneshot::Sender<Result<(), StorageError>>,
    },
}

/// A cheap, cloneable handle to the writer thread.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    commands: mpsc::UnboundedSender<Command>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::BeginRound { .. } => "BeginRound",
            Command::Fetch { .. } => "Fetch",
            Command::FinishRound { .. } => "FinishRound",
            Command::Memory { .. } => "Memory",
            Command::Close { .. } => "Close",
        })
    }
}

impl Writer {
    /// Opens (creating and migrating if needed) the database and starts its writer thread.
    pub(crate) async fn open(path: &Path) -> Result<Writer, StorageError> {
        let (commands, receiver) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = oneshot::channel();
        let thread_path = path.to_path_buf();
        std::thread::Builder::new()
            .name("herald-sqlite-writer".into())
            .spawn(move || match open_connection(&thread_path) {
                Ok(conn) => {
                    let _ = ready_tx.send(Ok(()));
                    writer_loop(conn, receiver);
                }
                Err(source) => {
                    let _ = ready_tx.send(Err(StorageError::Open {
                        path: thread_path,
                        source,
                    }));
                }
            })
            .map_err(|e| StorageError::Open {
                path: path.to_path_buf(),
                source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
            })?;
        ready_rx.await.map_err(|_| StorageError::WriterGone)??;
        Ok(Writer { commands })
    }

    /// Records the start of a round and returns its id.
    pub(crate) async fn begin_round(
        &self,
        trigger: &str,
        planned: usize,
    ) -> Result<RoundId, StorageError> {
        self.ask(|reply| Command::BeginRound {
            trigger: trigger.to_owned(),
            started_at: Utc::now(),
            planned,
            reply,
        })
        .await
    }

    /// Stores one fetch (its row, its articles, the source's state) atomically.
    /// Returns a future so a round can queue many commits and await them later.
    pub(crate) fn commit_fetch(
        &self,
        round_id: RoundId,
        outcome: FetchOutcome,
    ) -> impl std::future::Future<Output = Result<Stored, StorageError>> + Send + 'static + use<>
    {
        let (reply, answer) = oneshot::channel();
        let sent = self.commands.send(Command::Fetch {
            round_id,
            outcome: Box::new(outcome),
            reply,
        });
        async move {
            sent.map_err(|_| StorageError::WriterGone)?;
            answer.await.map_err(|_| StorageError::WriterGone)?
        }
    }

    /// Every source's persisted state (validators, moves, breaker), with the
    /// requests made since `since` for rate limits.
    pub(crate) async fn source_memory(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Memories, StorageError> {
        self.ask(|reply| Command::Memory { since, reply }).await
    }

    /// Records a round's totals.
    pub(crate) async fn finish_round(&self, summary: RoundSummary) -> Result<(), StorageError> {
        self.ask(|reply| Command::FinishRound { summary, reply })
            .await
    }

    /// Waits for every queued write, checkpoints the WAL and stops the writer.
    /// Other clones of this handle get [`StorageError::WriterGone`] afterwards.
    pub(crate) async fn close(self) -> Result<(), StorageError> {
        self.ask(|reply| Command::Close { reply }).await
    }

    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T, StorageError>>) -> Command,
    ) -> Result<T, StorageError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .map_err(|_| StorageError::WriterGone)?;
        answer.await.map_err(|_| StorageError::WriterGone)?
    }
}

fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        // A missing folder should be created, not reported as "unable to open".
        let _ = std::fs::create_dir_all(parent);
    }
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    schema::migrate(&mut conn)?;
    Ok(conn)
}

fn writer_loop(mut conn: Connection, mut receiver: mpsc::UnboundedReceiver<Command>) {
    let mut group = Vec::with_capacity(GROUP_COMMIT_MAX);
    while let Some(first) = receiver.blocking_recv() {
        group.push(first);
        while group.len() < GROUP_COMMIT_MAX {
            match receiver.try_recv() {
                Ok(command) => group.push(command),
                Err(_) => break,
            }
        }
        let close = apply_group(&mut conn, &mut group);
        if let Some(reply) = close {
            let result = conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .map_err(StorageError::from);
            let _ = reply.send(result);
            return;
        }
    }
    // Every handle dropped without `close`: still leave a tidy WAL.
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
}

/// What a command produced, before its reply is sent.
enum Answer {
    RoundId(RoundId),
    Stored(Stored),
    Memory(Memories),
    Done,
}

fn execute(conn: &Connection, command: &Command) -> rusqlite::Result<Answer> {
    match command {
        Command::BeginRound {
            trigger,
            started_at,
            planned,
            ..
        } => writes::begin_round(conn, trigger, *started_at, *planned).map(Answer::RoundId),
        Command::Fetch {
            round_id, outcome, ..
        } => writes::record_fetch(conn, *round_id, outcome).map(Answer::Stored),
        Command::FinishRound { summary, .. } => {
            writes::finish_round(conn, summary).map(|()| Answer::Done)
        }
        Command::Memory { since, .. } => Ok(Answer::Memory(Memories {
            sources: writes::source_memory(conn, *since)?,
            hosts: writes::host_backoffs(conn)?,
        })),
        Command::Close { .. } => Ok(Answer::Done),
    }
}

/// Runs `commands` in one transaction; all or nothing. New articles join
/// the full-text index in the same transaction, in one statement (see
/// [`writes::index_new_articles`]).
fn run_transaction(conn: &mut Connection, commands: &[Command]) -> rusqlite::Result<Vec<Answer>> {
    let tx = conn.transaction()?;
    let last_indexed = writes::last_article_id(&tx)?;
    let answers = commands
        .iter()
        .map(|command| execute(&tx, command))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    writes::index_new_articles(&tx, last_indexed)?;
    tx.commit()?;
    Ok(answers)
}

/// Commits `group` and answers each command. Returns the reply channel of a
/// `Close` found in the group (handled after the commit).
///
/// Fast path: the whole group in one transaction. Savepoints per command
/// would isolate failures too, but they make SQLite write a statement
/// journal for every page touched, which measured at half the writer's CPU.
/// Failures are rare (a full disk, a corrupt page), so on any error the group
/// is rolled back and replayed one command per transaction instead: each
/// batch is still all-or-nothing, and one bad batch fails only itself.
fn apply_group(
    conn: &mut Connection,
    group: &mut Vec<Command>,
) -> Option<oneshot::Sender<Result<(), StorageError>>> {
    let answers: Vec<Result<Answer, StorageError>> = match run_transaction(conn, group) {
        Ok(answers) => answers.into_iter().map(Ok).collect(),
        Err(_) if group.len() > 1 => group
            .iter()
            .map(|command| {
                run_transaction(conn, std::slice::from_ref(command))
                    .map(|mut one| one.pop().unwrap_or(Answer::Done))
                    .map_err(StorageError::from)
            })
            .collect(),
        Err(e) => vec![Err(StorageError::from(e))],
    };
    let mut close = None;
    for (command, answer) in group.drain(..).zip(answers) {
        match command {
            Command::BeginRound { reply, .. } => {
                let _ = reply.send(answer.and_then(|a| match a {
                    Answer::RoundId(id) => Ok(id),
                    _ => Err(StorageError::WriterGone),
                }));
            }
            Command::Fetch { reply, .. } => {
                let _ = reply.send(answer.and_then(|a| match a {
                    Answer::Stored(stored) => Ok(stored),
                    _ => Err(StorageError::WriterGone),
                }));
            }
            Command::FinishRound { reply, .. } => {
                let _ = reply.send(answer.map(|_| ()));
            }
            Command::Memory { reply, .. } => {
                let _ = reply.send(answer.and_then(|a| match a {
                    Answer::Memory(memory) => Ok(memory),
                    _ => Err(StorageError::WriterGone),
                }));
            }
            Command::Close { reply } => close = Some(reply),
        }
    }
    close
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::article::{Article, fingerprint};
    use crate::model::outcome::FetchStatus;

    fn outcome(source: &str, urls: &[&str]) -> FetchOutcome {
        FetchOutcome {
            http_status: Some(200),
            articles: urls
                .iter()
                .map(|url| Article {
                    title: format!("Story at {url}"),
                    fingerprint: fingerprint(url),
                    url: (*url).to_owned(),
                    published_at: None,
                    summary: Some("replayed summary".to_owned()),
                    author: None,
                    origin: None,
                })
                .collect(),
            error: None,
            ..FetchOutcome::without_response(
                source,
                FetchStatus::Ok,
                Duration::from_millis(1),
                String::new(),
            )
        }
    }

    fn fetch(
        round_id: RoundId,
        outcome: FetchOutcome,
    ) -> (Command, oneshot::Receiver<Result<Stored, StorageError>>) {
        let (reply, answer) = oneshot::channel();
        (
            Command::Fetch {
                round_id,
                outcome: Box::new(outcome),
                reply,
            },
            answer,
        )
    }

    #[test]
    fn a_failing_batch_is_replayed_alone_and_the_rest_of_its_group_commits() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut conn = open_connection(&dir.path().join("replay.db")).expect("open");
        let round = writes::begin_round(&conn, "test", chrono::Utc::now(), 3).expect("round");
        let (first, first_answer) = fetch(
            round,
            outcome("a", &["https://a.example/1", "https://a.example/2"]),
        );
        // No round 999: the fetch row's foreign key fails this batch, and with
        // it the group's one transaction.
        let (bad, bad_answer) = fetch(999, outcome("b", &["https://b.example/1"]));
        let (last, last_answer) = fetch(round, outcome("c", &["https://c.example/1"]));
        let mut group = vec![first, bad, last];
        assert!(apply_group(&mut conn, &mut group).is_none(), "no close");
        assert!(group.is_empty(), "every command answered");

        let stored = |answer: oneshot::Receiver<Result<Stored, StorageError>>| {
            answer.blocking_recv().expect("an answer")
        };
        assert_eq!(stored(first_answer).expect("first commits").new, 2);
        assert_eq!(stored(last_answer).expect("last commits").new, 1);
        let error = stored(bad_answer).expect_err("the bad batch fails");
        assert!(
            error.to_string().contains("FOREIGN KEY"),
            "its own reason: {error}"
        );
        let count =
            |sql: &str| -> i64 { conn.query_row(sql, [], |row| row.get(0)).expect("count") };
        assert_eq!(count("SELECT count(*) FROM articles"), 3);
        assert_eq!(
            count("SELECT count(*) FROM articles WHERE source = 'b'"),
            0,
            "nothing of the failed batch"
        );
        assert_eq!(count("SELECT count(*) FROM fetches"), 2);
        assert_eq!(
            count("SELECT count(*) FROM articles_fts WHERE articles_fts MATCH 'replayed'"),
            3,
            "the replayed commits are indexed too"
        );
    }
}
