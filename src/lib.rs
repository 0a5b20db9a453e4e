//! herald: a news-aggregation daemon.
//!
//! Data moves one way: config → plan → jobs → outcomes → rows.
//!
//! - [`config`] reads and validates the TOML file (with environment overrides)
//!   into [`sources::SourceSpec`]s, each holding a [`sources::Source`] of its kind.
//! - [`round`] turns the sources due into [`pool::FetchJob`]s on a bounded
//!   queue; the [`pool`] of workers drains it, fetching with the one shared
//!   client in [`fetch`] and parsing with the source's kind; each job's
//!   [`outcome::FetchOutcome`] goes back to its round.
//! - [`storage`] owns SQLite: one writer thread commits each fetch's batch in
//!   one transaction, so the async runtime never blocks on disk.
//! - [`supervisor`] is `herald run`: cron ticks ([`scheduler`]) and signals
//!   ([`signals`]) in, rounds out, with hot reload and a graceful drain
//!   ([`shutdown`]). [`app`] wires the parts for `herald once`; `main.rs` is
//!   the CLI around both.
//!
//! - [`metrics`] serves `/metrics` and `/healthz` from what rounds report;
//!   [`alerts`] POSTs source state changes to a webhook. Both watch the
//!   daemon from the side: neither can delay a round.
//! - [`read`] is the read-only commands (`latest`, `search`, `export`, ...).
//!
//! Only `fetch` knows reqwest (alert webhooks included), only `storage` knows rusqlite, and a source
//! kind knows neither: it turns bytes into [`article::ItemDraft`]s.

pub mod alerts;
pub mod app;
pub mod article;
pub mod bench;
pub mod breaker;
pub mod config;
pub mod error;
pub mod explain;
pub mod export;
pub mod fetch;
pub mod metrics;
pub mod mock;
pub mod outcome;
pub mod pool;
pub mod read;
pub mod redact;
pub mod report;
pub mod round;
pub mod scheduler;
pub mod shutdown;
pub mod signals;
pub mod sources;
pub mod storage;
pub mod supervisor;
pub mod telemetry;

pub use error::{Error, Result};
