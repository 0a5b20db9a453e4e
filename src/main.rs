//! The `herald` binary: parse the arguments, load the config, set up
//! logging, run the command, and turn its outcome into an exit code.
//!
//! Exit codes: 0 success (for `once`: at least one source answered, or there
//! were none); 1 every source failed; 2 usage or config error; 3 a runtime
//! failure (the database could not be opened or written); 130 `run` was
//! stopped by a second signal before it finished draining.

#![warn(clippy::pedantic)]
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss,
    reason = "bench and report figures cast for display, far inside every bound"
)]
#![allow(
    clippy::format_push_string,
    reason = "report rendering, never on a hot path; format! reads better than write! there"
)]

mod cli;

use std::process::ExitCode;

use clap::Parser;

use herald::config;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    if !matches!(cli.command, cli::Command::Run) {
        // `herald latest | head` ends quietly when `head` has read enough,
        // as any Unix filter does, instead of panicking on a broken pipe.
        // The daemon keeps Rust's default (SIGPIPE ignored): it writes to
        // sockets, where EPIPE is an error to handle, not a reason to die.
        // SAFETY: called first in main, before any thread exists; SIG_DFL
        // installs no handler code.
        unsafe {
            let _ = nix::sys::signal::signal(
                nix::sys::signal::Signal::SIGPIPE,
                nix::sys::signal::SigHandler::SigDfl,
            );
        }
    }
    let config = if cli.command.needs_config() {
        match config::discover(cli.config.as_deref()).and_then(|path| config::load(&path)) {
            Ok(config) => Some(config),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(herald::error::EXIT_USAGE);
            }
        }
    } else {
        None
    };
    // Warnings are about fetching: the commands that fetch (or check) show
    // them; the read commands do not repeat them on every query.
    if let Some(config) = config.as_ref().filter(|_| cli.command.fetches()) {
        for warning in &config.warnings {
            eprintln!("warning: {}: {warning}", config.path.display());
        }
    }
    let (log, stderr_level) = cli.command.logging(config.as_ref());
    // Held until main returns, so the log file gets every line.
    let _log_guard = herald::telemetry::init(&log, &stderr_level);
    let daemon = matches!(cli.command, cli::Command::Run);
    cli.command.run(config).unwrap_or_else(|e| {
        if daemon {
            // The daemon's log goes to stderr and to its file: one line, both places.
            tracing::error!("{e}");
        } else {
            eprintln!("error: {e}");
        }
        ExitCode::from(e.exit_code())
    })
}
