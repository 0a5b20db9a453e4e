//! `herald completions SHELL` and `herald man`: generated from the same
//! clap definitions the parser uses, so they cannot drift from it. The
//! Debian package installs both.

use std::io::Write as _;
use std::process::ExitCode;

use clap::CommandFactory as _;

use super::{Cli, CliError, Outcome};

/// `herald completions` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct CompletionArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// Prints the completion script for `args.shell` on stdout.
pub(crate) fn completions(args: &CompletionArgs) -> ExitCode {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "herald", &mut std::io::stdout());
    ExitCode::SUCCESS
}

/// Prints the man page (roff) on stdout: `herald man | man -l -`.
pub(crate) fn man() -> Outcome {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .map_err(CliError::Runtime)?;
    page.extend_from_slice(MAN_EXTRA.as_bytes());
    std::io::stdout()
        .write_all(&page)
        .map_err(CliError::Runtime)?;
    Ok(ExitCode::SUCCESS)
}

/// What the generated page cannot know: files, environment, exit codes.
const MAN_EXTRA: &str = r".SH FILES
.TP
\fI/etc/herald/herald.toml\fR
The configuration (also ./herald.toml, then $XDG_CONFIG_HOME/herald/herald.toml).
.TP
\fI/var/lib/herald/herald.db\fR
The SQLite database the packaged service writes.
.TP
\fI/var/log/herald/herald.log\fR
The log file, when [log] dir is set; rotated copies carry their date.
.SH ENVIRONMENT
.TP
\fBHERALD_CONFIG\fR
The config file, as --config.
.TP
\fBHERALD__SECTION__KEY\fR
Overrides one key of the config file, e.g. HERALD__DAEMON__WORKERS=64; \fBherald config\fR shows where each value came from.
.TP
\fBHERALD_LOG\fR, \fBRUST_LOG\fR
The log filter, overriding [log] level.
.TP
\fBHTTPS_PROXY\fR, \fBHTTP_PROXY\fR, \fBNO_PROXY\fR
Proxies used when [http] proxy is not set.
.TP
\fBTZ\fR
The time zone schedules are read in when [daemon] timezone is not set.
.SH EXIT STATUS
0 success; 1 every source failed (once) or the fetch failed (fetch); 2 a usage or configuration error; 3 a runtime error.
.SH SIGNALS
SIGTERM and SIGINT stop the daemon gracefully; SIGHUP reloads the config; SIGUSR1 starts a round now.
.SH SEE ALSO
\fBsystemctl\fR(1), \fBjournalctl\fR(1)
";
