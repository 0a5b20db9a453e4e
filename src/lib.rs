//! herald: a news-aggregation daemon.
//!
//! Data moves one way: config → plan → jobs → outcomes → rows. The modules
//! are layered, and `tests/architecture.rs` fails the build when an import
//! runs against the flow:
//!
//! 1. [`model`]: the shared vocabulary (requests, payloads, articles,
//!    outcomes, a configured source), plain data and pure functions. It
//!    imports nothing else from herald.
//! 2. [`sources`] (one file per kind: bytes → drafts), [`fetch`] (the only
//!    module that knows reqwest), [`storage`] (the only one that knows
//!    rusqlite) and [`telemetry`] build on the model and never on each other.
//! 3. [`config`] reads and validates the TOML file into model types; the
//!    parts own their sections (`[http]` is [`fetch::ClientSettings`],
//!    `[log]` is [`telemetry::LogConfig`]). [`export`] renders stored
//!    articles as feeds.
//! 4. [`engine`]: a round turns sources into jobs on a bounded queue, a pool
//!    of workers runs them ([`engine::job`] fetches and parses one), and each
//!    outcome goes to storage; the circuit breaker and the shutdown signal.
//! 5. [`app`] wires the parts from a config; [`error`] is what ends a command.
//! 6. [`daemon`]: `herald run`, a supervisor fed by control messages and
//!    cron ticks, with metrics and alerts beside it.
//!
//! The command line (`src/cli/`) belongs to the binary, not the library.
//! The map with a table of who may import whom: `docs/architecture.md`.

#![warn(missing_docs, unreachable_pub, clippy::pedantic)]
#![allow(
    clippy::must_use_candidate,
    reason = "getters and builders here are obviously used; the attribute on each would be noise"
)]
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss,
    reason = "counts and durations cast for SQLite, JSON and reports are far inside every bound"
)]
#![allow(
    clippy::too_many_lines,
    reason = "a round, the metrics exposition and the supervisor's start are one sequential story each"
)]
#![allow(
    clippy::similar_names,
    reason = "pairs like `observer`/`observed` name two ends of one channel on purpose"
)]
#![allow(
    clippy::format_push_string,
    reason = "report rendering, never on a hot path; format! reads better than write! there"
)]

pub mod app;
pub mod config;
pub mod daemon;
pub mod engine;
pub mod error;
pub mod export;
pub mod fetch;
pub mod model;
pub mod sources;
pub mod storage;
pub mod telemetry;

pub use error::{Error, Result};
