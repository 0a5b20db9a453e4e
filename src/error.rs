//! The library's error type: what can stop herald as a whole (as opposed to
//! one source failing, which is an outcome, not an error), and the exit code
//! each maps to.

use crate::config::ConfigError;
use crate::fetch::FetchError;
use crate::storage::StorageError;

/// Exit code: usage or config error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: a runtime failure (database, listener, internal task).
pub const EXIT_RUNTIME: u8 = 3;

/// Errors that end a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config file is missing, unreadable or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database could not be opened, read or written.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[from] FetchError),
    /// The signal handlers could not be installed.
    #[error("cannot listen for signals: {0}")]
    Signals(std::io::Error),
    /// The cron scheduler could not start or change.
    #[error("scheduler: {0}")]
    Scheduler(#[from] tokio_cron_scheduler::JobSchedulerError),
    /// `[metrics] listen` could not be bound.
    #[error("[metrics] listen = \"{addr}\": cannot listen: {source}")]
    MetricsListen {
        /// The configured address.
        addr: std::net::SocketAddr,
        /// Why the bind failed.
        source: std::io::Error,
    },
    /// `[alerts] webhook` is not a URL (validation makes this unreachable
    /// for a loaded config).
    #[error("[alerts] webhook: {0}")]
    AlertsUrl(url::ParseError),
    /// A command-line argument that makes no sense.
    #[error("{0}")]
    Usage(String),
    /// A round task panicked; the daemon stops rather than lose track of
    /// its sources (systemd restarts it).
    #[error("a round task failed: {0}")]
    RoundPanicked(tokio::task::JoinError),
    /// A blocking task (a database read, a parse) panicked or was cancelled.
    #[error("internal task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// `once --dry-run` could not make its scratch copy.
    #[error("cannot make a scratch copy of the database for the dry run: {0}")]
    Scratch(std::io::Error),
}

impl Error {
    /// The process exit code for this error: 2 for what the operator typed
    /// (arguments, config, a search query), 3 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::Config(_) | Error::Storage(StorageError::BadQuery { .. }) => {
                EXIT_USAGE
            }
            _ => EXIT_RUNTIME,
        }
    }
}

/// Shorthand for results carrying [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
