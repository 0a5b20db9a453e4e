//! The `herald` command line: one module per command, each with its
//! arguments (a clap `Args` struct) and its renderer. Commands call the
//! library ([`herald::app`], [`herald::daemon`], [`herald::storage`]) and
//! print; none of them holds logic the daemon also needs.

mod bench;
mod check;
mod docs;
mod export;
mod fetch;
mod latest;
mod manage;
mod migrate;
mod once;
mod prune;
mod render;
mod run;
mod search;
mod select;
mod sources;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use herald::config::Config;
use herald::error::{EXIT_RUNTIME, EXIT_USAGE};

/// Exit code: every source failed (`once`), or the fetch or parse failed (`fetch`).
pub(crate) const EXIT_ALL_FAILED: u8 = 1;

/// The command line as typed.
#[derive(Debug, Parser)]
#[command(
    name = "herald",
    version,
    about = "Gathers headlines from many news sources into one SQLite (or shared PostgreSQL) database."
)]
pub(crate) struct Cli {
    /// Config file [default: ./herald.toml, then `$XDG_CONFIG_HOME/herald/herald.toml`, then /etc/herald/herald.toml]
    #[arg(long, global = true, env = "HERALD_CONFIG", value_name = "PATH")]
    pub(crate) config: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run as a daemon: rounds on the configured schedules until SIGTERM/SIGINT;
    /// SIGHUP reloads the config.
    Run,
    /// Validate the config and list the sources and their schedules.
    Check,
    /// Print the effective configuration as TOML, each value's origin
    /// (`file:line`, environment variable, default) in a comment.
    Config,
    /// Add sources from an OPML file (another reader's export) to the config.
    Import(manage::ImportArgs),
    /// Add a source by URL: a feed, or a page whose feeds are found.
    Add(manage::AddArgs),
    /// Remove a source from the config (its articles stay in the database).
    Remove(manage::RemoveArgs),
    /// Print a shell completion script (bash, zsh, fish, …).
    Completions(docs::CompletionArgs),
    /// Print the man page (roff): `herald man | man -l -`.
    Man,
    /// Measure the pipeline against an in-process mock server (no config, no internet).
    Bench(bench::Args),
    /// One row per configured source: state, last success, failures, articles.
    Sources(sources::Args),
    /// The newest articles, one per story.
    Latest(latest::Args),
    /// Full-text search over titles and summaries, best match first.
    Search(search::Args),
    /// Recent rounds (wall vs ideal) and per-source latency and failure rate.
    Stats(stats::Args),
    /// The aggregate as an Atom 1.0 or JSON Feed 1.1 document on stdout.
    Export(export::Args),
    /// Fetch one configured source (by name) or one URL through the real
    /// client and list its items; `--explain` shows headers, caching and parsing.
    Fetch(fetch::Args),
    /// Run one aggregation round over every enabled source now, print a report, exit.
    Once(once::Args),
    /// Remove what `keep` and `keep_history` no longer cover, now, and say
    /// what went (the daemon does this by itself after rounds, hourly).
    Prune(prune::Args),
    /// Copy everything a database holds into another store (SQLite ⇄
    /// PostgreSQL), resumable: `--from herald.db --to postgres://…`.
    MigrateStore(migrate::Args),
}

/// What can stop a command, with the exit code each maps to.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// Anything the library reports.
    #[error(transparent)]
    Herald(#[from] herald::Error),
    /// The bench could not produce numbers.
    #[error(transparent)]
    Bench(#[from] bench::BenchError),
    /// The tokio runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// A report could not be written as JSON.
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl From<herald::storage::StorageError> for CliError {
    fn from(error: herald::storage::StorageError) -> Self {
        CliError::Herald(error.into())
    }
}

impl CliError {
    /// The exit code: 2 for what the operator typed, 3 otherwise.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            CliError::Herald(e) => e.exit_code(),
            CliError::Bench(bench::BenchError::Usage(_)) => EXIT_USAGE,
            _ => EXIT_RUNTIME,
        }
    }
}

/// What a command returns: its exit code, or what stopped it.
pub(crate) type Outcome = Result<ExitCode, CliError>;

/// A multi-threaded tokio runtime for the commands that need one.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("herald")
        .build()
        .map_err(CliError::Runtime)
}

impl Command {
    /// Whether the command needs the config file (`bench` does not).
    pub(crate) fn needs_config(&self) -> bool {
        !matches!(
            self,
            Command::Bench(_) | Command::Completions(_) | Command::Man | Command::MigrateStore(_)
        )
    }

    /// Whether the command fetches or judges the config (and so wants its
    /// warnings): `run`, `once`, `check`, `fetch`.
    pub(crate) fn fetches(&self) -> bool {
        matches!(
            self,
            Command::Run | Command::Once(_) | Command::Check | Command::Fetch(_)
        )
    }

    /// The log file settings and stderr level this command logs with: the
    /// daemon writes its log file at `[log] level`; `once` writes warnings
    /// to it (a dry run none: its rounds exist only in a scratch copy); read
    /// commands and `check` never touch it.
    pub(crate) fn logging(
        &self,
        config: Option<&Config>,
    ) -> (herald::telemetry::LogConfig, String) {
        let quiet = (herald::telemetry::LogConfig::default(), "warn".to_owned());
        match (self, config) {
            (Command::Run, Some(config)) => (config.log.clone(), config.log.level.clone()),
            (Command::Once(args), Some(config)) if !args.dry_run => {
                (config.log.clone(), "warn".to_owned())
            }
            _ => quiet,
        }
    }

    /// Runs the command.
    pub(crate) fn run(self, config: Option<Config>) -> Outcome {
        let Some(config) = config else {
            return match self {
                Command::Bench(args) => bench::run(&args),
                Command::Completions(args) => Ok(docs::completions(&args)),
                Command::Man => docs::man(),
                Command::MigrateStore(args) => migrate::run(&args),
                // `needs_config` guarantees a config for every other command.
                _ => Err(herald::Error::Usage("no config loaded".into()).into()),
            };
        };
        match self {
            Command::Run => run::run(config),
            Command::Check => Ok(check::run(&config)),
            Command::Config => {
                let text = herald::config::effective(&config.path).map_err(herald::Error::from)?;
                print!("{text}");
                Ok(ExitCode::SUCCESS)
            }
            Command::Completions(args) => Ok(docs::completions(&args)),
            Command::Man => docs::man(),
            Command::Bench(args) => bench::run(&args),
            Command::Sources(args) => sources::run(&config, &args),
            Command::Latest(args) => latest::run(&config, &args),
            Command::Search(args) => search::run(&config, &args),
            Command::Stats(args) => stats::run(&config, &args),
            Command::Export(args) => export::run(&config, &args),
            Command::Fetch(args) => fetch::run(&config, &args),
            Command::Once(args) => once::run(&config, &args),
            Command::Prune(args) => prune::run(&config, &args),
            Command::MigrateStore(args) => migrate::run(&args),
            Command::Import(args) => manage::import(&config, &args),
            Command::Add(args) => manage::add(&config, &args),
            Command::Remove(args) => manage::remove(&config, &args),
        }
    }
}
