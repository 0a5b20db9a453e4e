//! The PostgreSQL store: the only code in herald that names tokio-postgres
//! and deadpool-postgres. Several herald instances share one database;
//! they divide the sources by leasing rows (`FOR UPDATE SKIP LOCKED`, see
//! [`writes::claim`]) rather than by talking to each other.
//!
//! Writes run on a connection pool from async code (each fetch its own
//! transaction); the read commands, synchronous, drive one connection on a
//! small runtime of their own.

pub(crate) mod prune;
pub(crate) mod reads;
pub(crate) mod schema;
mod writes;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;
use tracing::{info, warn};

use super::location::PostgresTarget;
use super::rows::{
    ClaimRequest, Claimed, Memories, NotifyClaim, PruneReport, RoundId, RoundSummary, Stored,
    StoredArticle,
};
use super::{Identity, StorageError};
use crate::model::outcome::FetchOutcome;
use crate::model::retention::RetentionPolicy;

/// How often the daemon prunes (one instance at a time: an advisory lock).
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// Key of the advisory lock a prune holds.
const PRUNE_LOCK: i64 = 0x0000_6865_7261_6c65;
/// Transactions retried after a deadlock or serialization failure.
const RETRIES: usize = 5;

/// One line for a driver error: the server's own message when it sent one.
pub(crate) fn describe(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{}: {} ({})", db.severity(), db.message(), db.code().code());
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

impl From<tokio_postgres::Error> for StorageError {
    fn from(error: tokio_postgres::Error) -> Self {
        StorageError::Postgres(describe(&error))
    }
}

impl From<deadpool_postgres::PoolError> for StorageError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        match error {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => StorageError::Postgres(format!("connection pool: {other}")),
        }
    }
}

/// Whether retrying the transaction is the answer (deadlock, serialization).
fn is_transient(error: &tokio_postgres::Error) -> bool {
    error.code().is_some_and(|code| {
        *code == tokio_postgres::error::SqlState::T_R_DEADLOCK_DETECTED
            || *code == tokio_postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
    })
}

fn connect_error(target: &PostgresTarget, reason: String) -> StorageError {
    StorageError::Connect {
        location: super::Location::Postgres(target.clone()).to_string(),
        reason,
    }
}

/// The async handle the daemon and `once` write through.
#[derive(Clone)]
pub(crate) struct Store {
    pool: Pool,
    identity: Arc<Identity>,
    /// When this instance last pruned, and whether one runs now.
    pruning: Arc<Mutex<(Option<Instant>, bool)>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("instance", &self.identity.name)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Connects, migrates (one instance at a time), registers this instance
    /// and closes rounds that killed instances left open. Warns when other
    /// running instances have another config.
    pub(crate) async fn open(
        target: &PostgresTarget,
        identity: Identity,
        connections: usize,
    ) -> Result<Store, StorageError> {
        let (pool, mut client) = connect(target, connections).await?;
        let from = schema::migrate(&mut client)
            .await
            .map_err(|e| migrate_error(target, e))?;
        if from != schema::CURRENT_VERSION {
            info!(
                from,
                to = schema::CURRENT_VERSION,
                "database schema migrated"
            );
        }
        // Tools (`migrate-store`) open the store without a config: they
        // are not instances.
        if !identity.config_digest.is_empty() {
            let differing = writes::register_instance(
                &client,
                &identity.name,
                &identity.config_digest,
                identity.lease * 2,
            )
            .await?;
            warn_differing(&identity, &differing);
        }
        let closed =
            writes::close_interrupted_rounds(&client, Some(&identity.name), identity.lease * 2)
                .await?;
        if closed > 0 {
            warn!(
                rounds = closed,
                "closed rounds an instance left open (killed or crashed): marked interrupted"
            );
        }
        drop(client);
        Ok(Store {
            pool,
            identity: Arc::new(identity),
            pruning: Arc::new(Mutex::new((None, false))),
        })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StorageError> {
        Ok(self.pool.get().await?)
    }

    pub(crate) async fn begin_round(
        &self,
        trigger: &str,
        planned: usize,
    ) -> Result<RoundId, StorageError> {
        let client = self.client().await?;
        writes::heartbeat(&client, &self.identity.name).await?;
        Ok(writes::begin_round(&client, trigger, Utc::now(), planned, &self.identity.name).await?)
    }

    /// Stores one fetch in its own transaction, retried after a deadlock.
    /// The commit starts now, on a task of its own (as many run at once as
    /// the pool has connections): the round awaits the answer later, and
    /// the source's lease is given back as soon as its fetch is stored.
    pub(crate) fn commit_fetch(
        &self,
        round_id: RoundId,
        outcome: FetchOutcome,
    ) -> impl std::future::Future<Output = Result<Stored, StorageError>> + Send + 'static + use<>
    {
        let store = self.clone();
        let commit = tokio::spawn(async move {
            let mut client = store.client().await?;
            let mut attempt = 0;
            loop {
                attempt += 1;
                let tx = client.transaction().await?;
                let result =
                    writes::record_fetch(&tx, round_id, &outcome, &store.identity.name).await;
                let result = match result {
                    Ok(stored) => tx.commit().await.map(|()| stored),
                    Err(e) => Err(e),
                };
                match result {
                    Err(e) if is_transient(&e) && attempt < RETRIES => {}
                    other => return Ok(other?),
                }
            }
        });
        async move {
            commit
                .await
                .map_err(|e| StorageError::Postgres(format!("commit task failed: {e}")))?
        }
    }

    pub(crate) async fn source_memory(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Memories, StorageError> {
        let client = self.client().await?;
        Ok(Memories {
            sources: writes::source_memory(&client, None, since).await?,
            hosts: writes::host_backoffs(&client).await?,
        })
    }

    pub(crate) async fn claim(&self, request: &ClaimRequest) -> Result<Claimed, StorageError> {
        let mut client = self.client().await?;
        Ok(writes::claim(
            &mut client,
            request,
            &self.identity.name,
            self.identity.lease,
        )
        .await?)
    }

    pub(crate) async fn release(&self, names: &[String]) -> Result<(), StorageError> {
        let client = self.client().await?;
        writes::release(&client, names, &self.identity.name).await?;
        Ok(())
    }

    pub(crate) async fn claim_notifications(
        &self,
        claim: NotifyClaim,
    ) -> Result<Vec<StoredArticle>, StorageError> {
        let mut client = self.client().await?;
        Ok(writes::claim_notifications(&mut client, &claim).await?)
    }

    pub(crate) async fn finish_round(&self, summary: RoundSummary) -> Result<(), StorageError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        writes::finish_round(&tx, &summary).await?;
        writes::heartbeat(&tx, &self.identity.name).await?;
        tx.commit().await?;
        // A killed instance's rounds are closed by whoever finishes a round
        // after it has been silent for two leases.
        let closed =
            writes::close_interrupted_rounds(&client, None, self.identity.lease * 2).await?;
        if closed > 0 {
            warn!(
                rounds = closed,
                "closed rounds a silent instance left open (killed or crashed): marked interrupted"
            );
        }
        Ok(())
    }

    pub(crate) async fn prune(
        &self,
        policy: RetentionPolicy,
        dry_run: bool,
        vacuum: bool,
    ) -> Result<PruneReport, StorageError> {
        let mut client = self.client().await?;
        Ok(prune::prune(&mut client, &policy, Utc::now(), dry_run, vacuum).await?)
    }

    /// At most hourly, and by one instance at a time (the others find the
    /// advisory lock taken and skip), prunes in the background.
    pub(crate) fn prune_when_idle(&self, policy: RetentionPolicy) {
        {
            let Ok(mut state) = self.pruning.lock() else {
                return;
            };
            let due = state.0.is_none_or(|last| last.elapsed() >= PRUNE_EVERY);
            if state.1 || !due {
                return;
            }
            *state = (Some(Instant::now()), true);
        }
        let store = self.clone();
        tokio::spawn(async move {
            let outcome = async {
                let mut client = store.client().await?;
                let locked: bool = client
                    .query_one("SELECT pg_try_advisory_lock($1)", &[&PRUNE_LOCK])
                    .await?
                    .get(0);
                if !locked {
                    return Ok::<_, StorageError>(None);
                }
                let report = prune::prune(&mut client, &policy, Utc::now(), false, false).await;
                client
                    .execute("SELECT pg_advisory_unlock($1)", &[&PRUNE_LOCK])
                    .await?;
                Ok(Some(report?))
            }
            .await;
            match outcome {
                Ok(Some(report)) if report.articles + report.fetches + report.rounds > 0 => {
                    info!(
                        articles = report.articles,
                        fetches = report.fetches,
                        rounds = report.rounds,
                        "pruned"
                    );
                }
                Ok(_) => {}
                Err(e) => warn!(error = %e, "prune failed"),
            }
            if let Ok(mut state) = store.pruning.lock() {
                state.1 = false;
            }
        });
    }

    /// Gives back this instance's leases and marks it stopped.
    pub(crate) async fn close(self) -> Result<(), StorageError> {
        let client = self.client().await?;
        writes::release_all(&client, &self.identity.name).await?;
        client
            .execute(
                "UPDATE instances SET stopped_at = now(), seen_at = now() WHERE name = $1",
                &[&self.identity.name],
            )
            .await?;
        drop(client);
        self.pool.close();
        Ok(())
    }
}

/// One connection, for tools that need no pool.
pub(crate) async fn connect_one(
    target: &PostgresTarget,
) -> Result<deadpool_postgres::Client, StorageError> {
    Ok(connect(target, 1).await?.1)
}

/// A pool of up to `connections`, and its first connection (so a server
/// that cannot be reached is reported now, by name).
async fn connect(
    target: &PostgresTarget,
    connections: usize,
) -> Result<(Pool, deadpool_postgres::Client), StorageError> {
    let config = target
        .driver_config()
        .map_err(|e| connect_error(target, e.to_string()))?;
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool = Pool::builder(manager)
        .max_size(connections.max(1))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(60)))
        .create_timeout(Some(Duration::from_secs(10)))
        .build()
        .map_err(|e| connect_error(target, e.to_string()))?;
    let client = pool.get().await.map_err(|e| {
        connect_error(
            target,
            match e {
                deadpool_postgres::PoolError::Backend(e) => describe(&e),
                other => other.to_string(),
            },
        )
    })?;
    Ok((pool, client))
}

fn warn_differing(identity: &Identity, differing: &[(String, String)]) {
    for (other, digest) in differing {
        warn!(
            instance = %other,
            their_config = %digest,
            our_config = %identity.config_digest,
            "another running instance has a different config: instances sharing a database should run the same config file"
        );
    }
}

fn migrate_error(target: &PostgresTarget, error: schema::MigrateError) -> StorageError {
    match error {
        schema::MigrateError::Newer(version) => StorageError::Newer {
            location: super::Location::Postgres(target.clone()).to_string(),
            version,
            known: schema::CURRENT_VERSION,
        },
        schema::MigrateError::Database(e) => connect_error(target, describe(&e)),
    }
}

/// Synchronous access for the read commands: one connection driven by a
/// runtime of its own (the commands run none).
pub(crate) struct Reader {
    runtime: tokio::runtime::Runtime,
    client: deadpool_postgres::Client,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("postgres::Reader")
    }
}

impl Reader {
    /// Connects (one connection).
    pub(crate) fn open(target: &PostgresTarget) -> Result<Reader, StorageError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| connect_error(target, e.to_string()))?;
        let client = runtime.block_on(connect(target, 1))?.1;
        Ok(Reader { runtime, client })
    }

    /// Runs one async read to completion.
    pub(crate) fn run<'a, T, F>(
        &'a self,
        read: impl FnOnce(&'a deadpool_postgres::Client) -> F,
    ) -> T
    where
        F: std::future::Future<Output = T> + 'a,
    {
        self.runtime.block_on(read(&self.client))
    }

    /// The config digests of the running instances (`check`).
    pub(crate) fn instances(&self) -> Result<Vec<super::InstanceRow>, StorageError> {
        let rows = self.run(|client| async move {
            client
                .query(
                    "SELECT name, config_digest, version, to_char(seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                            stopped_at IS NULL
                     FROM instances
                     WHERE stopped_at IS NULL OR stopped_at > now() - interval '1 day'
                     ORDER BY seen_at DESC",
                    &[],
                )
                .await
        })?;
        Ok(rows
            .iter()
            .map(|row| super::InstanceRow {
                name: row.get(0),
                config_digest: row.get(1),
                version: row.get(2),
                seen_at: row.get(3),
                running: row.get(4),
            })
            .collect())
    }
}
