//! Logging setup: `tracing` to stderr.
//!
//! Plain text without ANSI colours unless stderr is a terminal, so journald
//! and log files show clean lines. `HERALD_LOG` (then `RUST_LOG`) overrides
//! the level with the usual filter syntax, e.g. `HERALD_LOG=herald=debug`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; `default_level` applies when no
/// environment override is set.
pub fn init(default_level: &str) {
    let filter = std::env::var("HERALD_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new(default_level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
