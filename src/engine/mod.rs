//! The engine: rounds, the worker pool, one job's fetch-and-parse, the
//! circuit breaker and the shutdown signal.
//!
//! A [`round::RoundRunner`] turns the sources due into [`job::FetchJob`]s on
//! the [`pool::WorkerPool`]'s bounded queue, gathers every reply, hands each
//! outcome to storage as it arrives and reports. The engine knows the model,
//! the fetcher and the storage interface; it never reads the config file
//! (its settings come in as [`round::RoundSettings`]) and never knows which
//! kinds exist.

pub(crate) mod breaker;
pub mod job;
pub mod pool;
pub mod report;
pub mod round;
pub mod shutdown;
