//! HTTP: the one place that knows reqwest (sources, and alert webhooks in [`webhook`]).
//!
//! Sources describe requests ([`crate::sources::FetchRequest`]); this module
//! performs them with one shared client (connection pooling, decompression,
//! timeouts, user agent) and enforces the body limit. Its errors are one-line
//! reasons fit for a log line and the `fetches` table.

mod client;
pub mod guard;
pub mod limits;
pub mod retry;
pub mod webhook;

pub use client::{
    Exchange, FetchError, HttpClient, HttpResponse, MAX_REDIRECTS, ServerHint, Validators,
};
pub use limits::HostLimits;
pub use retry::RetryPolicy;
