//! HTTP: the one place that knows reqwest (sources, and alert webhooks in [`webhook`]).
//!
//! Sources describe requests ([`FetchRequest`](crate::model::http::FetchRequest)); this module
//! performs them with one shared client (connection pooling, decompression,
//! timeouts, user agent) and enforces the body limit. Its errors are one-line
//! reasons fit for a log line and the `fetches` table.

mod client;
mod guard;
pub(crate) mod limits;
pub(crate) mod retry;
mod settings;
pub(crate) mod webhook;

pub use client::{Exchange, FetchError, HttpClient, HttpResponse, MAX_REDIRECTS, read_ca_file};
pub use limits::HostLimits;
pub use retry::RetryPolicy;
pub use settings::{ClientSettings, ProxyRoute, ProxySetup};
