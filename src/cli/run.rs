//! `herald run`: the daemon in the foreground, until SIGTERM or SIGINT.

use std::process::ExitCode;

use super::{CliError, Outcome, runtime};
use herald::config::Config;
use herald::daemon::signals;
use herald::daemon::supervisor::{self, Exit};

/// Exit code when a second signal cut the drain short.
const EXIT_FORCED: u8 = 130;

/// Runs the supervisor with signals as its control messages.
pub(crate) fn run(config: Config) -> Outcome {
    let runtime = runtime()?;
    let exit = runtime.block_on(async {
        let (handle, controls) = signals::listen().map_err(herald::Error::Signals)?;
        let exit = supervisor::run(config, controls).await;
        handle.close();
        Ok::<_, CliError>(exit?)
    })?;
    // Parsing tasks on the blocking pool are short; do not wait on stragglers.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    Ok(match exit {
        Exit::Clean => ExitCode::SUCCESS,
        Exit::Forced => ExitCode::from(EXIT_FORCED),
    })
}
