//! The worker pool: `workers` tasks draining one bounded queue of fetch jobs.
//! Plumbing only: what a job does is [`super::job`]'s business.
//!
//! Shape: N long-lived tasks share the queue's single `Receiver` behind a
//! `tokio::sync::Mutex` (miniflux's "N workers on one channel"). Only the
//! worker holding the lock waits in `recv`; the rest queue fairly on the
//! mutex, so a job goes to the next idle worker. The pool size is therefore
//! exactly the cap on fetches in flight, with no semaphore to keep in sync.
//! A dispatcher spawning into a `JoinSet` would work too, but would allocate
//! a task per job and need a semaphore for the same guarantee.
//!
//! Workers never touch the database: each job carries a reply channel and the
//! worker sends the job's one reply back to the round that queued it, so one
//! pool serves any number of concurrent rounds (the daemon runs several
//! schedules at once).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::FutureExt as _;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;
use tracing::{Instrument, error};

use super::job::{FetchJob, Fetcher, panic_message};
use crate::model::outcome::FetchStatus;

/// A running pool. Dropping every queue sender lets the workers finish.
#[derive(Debug)]
pub struct WorkerPool {
    queue: mpsc::Sender<FetchJob>,
    workers: Vec<JoinHandle<()>>,
    /// Jobs being worked on right now, for the metrics gauge.
    in_flight: Arc<AtomicUsize>,
}

impl WorkerPool {
    /// Starts `workers` tasks on a queue holding up to `capacity` jobs.
    pub fn start(workers: usize, capacity: usize, fetcher: Fetcher) -> WorkerPool {
        let (queue, receiver) = mpsc::channel(capacity.max(1));
        let receiver = Arc::new(Mutex::new(receiver));
        let fetcher = Arc::new(fetcher);
        let in_flight = Arc::new(AtomicUsize::new(0));
        let workers = (0..workers.max(1))
            .map(|id| {
                let receiver = Arc::clone(&receiver);
                let fetcher = Arc::clone(&fetcher);
                tokio::spawn(worker(id, receiver, fetcher, Arc::clone(&in_flight)))
            })
            .collect();
        WorkerPool {
            queue,
            workers,
            in_flight,
        }
    }

    /// A handle for enqueuing jobs.
    pub fn queue(&self) -> mpsc::Sender<FetchJob> {
        self.queue.clone()
    }

    /// What the metrics gauges watch: the queue (weakly, so watching never
    /// keeps a retired pool alive) and the in-flight counter.
    pub fn gauges(&self) -> (mpsc::WeakSender<FetchJob>, Arc<AtomicUsize>) {
        (self.queue.downgrade(), Arc::clone(&self.in_flight))
    }

    /// Closes the queue and waits for the workers to finish the jobs already in it.
    pub async fn stop(self) {
        drop(self.queue);
        for handle in self.workers {
            let _ = handle.await;
        }
    }
}

async fn worker(
    id: usize,
    receiver: Arc<Mutex<mpsc::Receiver<FetchJob>>>,
    fetcher: Arc<Fetcher>,
    in_flight: Arc<AtomicUsize>,
) {
    loop {
        // The lock is held only while waiting for the next job.
        let next = receiver.lock().await.recv().await;
        let Some(job) = next else { break };
        let busy = InFlight::enter(&in_flight);
        let span = tracing::debug_span!("fetch", round_id = job.round_id, source = %job.source.name, worker = id);
        // A panic anywhere in a job (a dependency, a bug of ours) is answered
        // like any failure: every job gets exactly one reply, whatever happens.
        let reply = match AssertUnwindSafe(job.run(&fetcher).instrument(span))
            .catch_unwind()
            .await
        {
            Ok(reply) => reply,
            Err(panic) => {
                let message = panic_message(panic.as_ref());
                error!(round_id = job.round_id, source = %job.source.name, panic = %message, "a fetch job panicked");
                job.unanswered(FetchStatus::Failed, &format!("internal error: {message}"))
            }
        };
        // A worker never blocks here (the channel is unbounded) and never
        // enqueues: follow-ups are queued by the round, so a full queue can
        // never leave every worker waiting on itself.
        drop(busy);
        let _ = job.reply.send(reply);
    }
}

/// Counts a job as in flight for as long as it lives, even if the fetch panics.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        InFlight(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
