//! The library's error type: what can stop herald as a whole (as opposed to
//! one source failing, which is an outcome, not an error).

use crate::config::ConfigError;
use crate::fetch::FetchError;
use crate::storage::StorageError;

/// Errors that end a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[from] FetchError),
    #[error("cannot listen for signals: {0}")]
    Signals(std::io::Error),
    #[error("scheduler: {0}")]
    Scheduler(String),
    #[error("[metrics] listen = \"{addr}\": cannot listen: {source}")]
    MetricsListen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("[alerts] webhook: {0}")]
    Alerts(String),
    /// A command-line argument that makes no sense (exit code 2).
    #[error("{0}")]
    Usage(String),
    #[error("internal task failed: {0}")]
    Task(String),
    #[error("cannot make a scratch copy of the database for the dry run: {0}")]
    Scratch(std::io::Error),
}

/// Shorthand for results carrying [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
