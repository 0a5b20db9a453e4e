//! The `herald` command line: parses arguments, loads the config, runs the
//! command and maps the result to an exit code.
//!
//! Exit codes: 0 success (for `once`: at least one source answered, or there
//! were none); 1 every source failed; 2 usage or config error; 3 a runtime
//! failure (the database could not be opened or written); 130 `run` was
//! stopped by a second signal before it finished draining.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

use herald::config::{self, Config};
use herald::report;

#[derive(Debug, Parser)]
#[command(
    name = "herald",
    version,
    about = "Gathers headlines from many news sources into one SQLite database."
)]
struct Cli {
    /// Config file [default: ./herald.toml, then $XDG_CONFIG_HOME/herald/herald.toml, then /etc/herald/herald.toml]
    #[arg(long, global = true, env = "HERALD_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run as a daemon: rounds on the configured schedules until SIGTERM/SIGINT;
    /// SIGHUP reloads the config.
    Run,
    /// Validate the config and list the sources and their schedules.
    Check,
    /// Measure the pipeline against an in-process mock server (no config, no internet).
    Bench {
        /// Number of mock sources (distinct RSS feeds).
        #[arg(long, default_value_t = 100)]
        sources: usize,
        /// Latency of every mock response.
        #[arg(long, default_value = "100ms", value_parser = humantime::parse_duration)]
        latency: std::time::Duration,
        /// Worker pool size; repeat to sweep (--workers 10 --workers 100).
        #[arg(long = "workers", default_values_t = [100])]
        workers: Vec<usize>,
        /// Also run the one-at-a-time baseline (one worker).
        #[arg(long)]
        sequential: bool,
        /// Rounds per measurement; the median is reported.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Items per mock feed.
        #[arg(long, default_value_t = 20)]
        items: usize,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Also sweep N/10, N/4, N/2, N sources and draw wall time against N to this SVG file.
        #[arg(long, value_name = "FILE.svg")]
        plot: Option<PathBuf>,
    },
    /// One row per configured source: state, last success, failures, articles.
    Sources {
        #[arg(long, value_enum, default_value_t = ReadFormat::Table)]
        format: ReadFormat,
    },
    /// The newest articles, one per story.
    Latest {
        /// How many.
        #[arg(short = 'n', default_value_t = 20)]
        count: usize,
        /// Only these sources (repeatable).
        #[arg(long = "source", value_name = "NAME")]
        sources: Vec<String>,
        /// Only articles from the last DURATION (e.g. 24h).
        #[arg(long, value_parser = humantime::parse_duration)]
        since: Option<std::time::Duration>,
        #[arg(long, value_enum, default_value_t = ReadFormat::Table)]
        format: ReadFormat,
    },
    /// Full-text search over titles and summaries, best match first.
    Search {
        /// FTS5 query: words (all must match), "a phrase", OR, NOT, prefix*.
        query: String,
        /// How many.
        #[arg(short = 'n', default_value_t = 20)]
        count: usize,
        #[arg(long, value_enum, default_value_t = ReadFormat::Table)]
        format: ReadFormat,
    },
    /// Recent rounds (wall vs ideal) and per-source latency and failure rate.
    Stats {
        /// How many recent rounds.
        #[arg(long, default_value_t = 20)]
        rounds: usize,
        #[arg(long, value_enum, default_value_t = ReadFormat::Table)]
        format: ReadFormat,
    },
    /// The aggregate as an Atom 1.0 or JSON Feed 1.1 document on stdout.
    Export {
        #[arg(long, value_enum)]
        format: ExportFormat,
        #[arg(short = 'n', default_value_t = 100)]
        count: usize,
        #[arg(long = "source", value_name = "NAME")]
        sources: Vec<String>,
    },
    /// Fetch one configured source (by name) or one URL through the real
    /// client and list its items; `--explain` shows headers, caching and parsing.
    Fetch {
        /// A source name from the config, or a URL.
        target: String,
        /// How to parse a URL: feed, json, hackernews, devto, github, ...
        #[arg(long)]
        kind: Option<String>,
        /// Show each request and response (secrets redacted), the caching
        /// decision, and how the body parsed.
        #[arg(long)]
        explain: bool,
        /// How many items to list.
        #[arg(short = 'n', default_value_t = 5)]
        count: usize,
    },
    /// Run one aggregation round over every enabled source now, print a report, exit.
    Once {
        /// Output format of the report.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Fetch and parse everything but write nothing: show what would be
        /// stored (new / already seen) and when each source is next due.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ReadFormat {
    Table,
    Json,
    Ndjson,
}

impl From<ReadFormat> for herald::read::Output {
    fn from(format: ReadFormat) -> Self {
        match format {
            ReadFormat::Table => herald::read::Output::Table,
            ReadFormat::Json => herald::read::Output::Json,
            ReadFormat::Ndjson => herald::read::Output::Ndjson,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExportFormat {
    Atom,
    Json,
}

const EXIT_ALL_FAILED: u8 = 1;
const EXIT_CONFIG: u8 = 2;
const EXIT_RUNTIME: u8 = 3;
const EXIT_FORCED: u8 = 130;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Bench {
        sources,
        latency,
        workers,
        sequential,
        rounds,
        items,
        format,
        plot,
    } = cli.command
    {
        let _log_guard = herald::telemetry::init(&Default::default(), "warn");
        let options = herald::bench::BenchOptions {
            sources,
            latency,
            workers,
            sequential,
            rounds,
            items_per_feed: items,
            plot,
        };
        return bench(&options, format).unwrap_or_else(|e| {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_RUNTIME)
        });
    }
    let config = match load_config(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    for warning in &config.warnings {
        eprintln!("warning: {}: {warning}", config.path.display());
    }
    // Held until main returns, so the log file gets every line.
    let _log_guard = match cli.command {
        Command::Run => herald::telemetry::init(&config.log, &config.log.level),
        // A dry run's rounds exist only in its scratch copy: keep them out of the log file.
        Command::Once { dry_run: false, .. } => herald::telemetry::init(&config.log, "warn"),
        // Read commands and `check` never write the daemon's log file.
        _ => herald::telemetry::init(&Default::default(), "warn"),
    };
    let result = match cli.command {
        Command::Check => {
            print!("{}", describe(&config));
            Ok(ExitCode::SUCCESS)
        }
        Command::Once {
            format,
            dry_run: false,
        } => once(&config, format),
        Command::Once {
            format,
            dry_run: true,
        } => dry_run(&config, format),
        Command::Run => run(config),
        Command::Sources { format } => print(herald::read::sources(&config, format.into())),
        Command::Latest {
            count,
            sources,
            since,
            format,
        } => print(herald::read::latest(
            &config,
            count,
            &sources,
            since,
            format.into(),
        )),
        Command::Fetch {
            target,
            kind,
            explain,
            count,
        } => fetch(
            &config,
            herald::explain::FetchArgs {
                target: &target,
                kind: kind.as_deref(),
                explain,
                items: count,
            },
        ),
        Command::Search {
            query,
            count,
            format,
        } => print(herald::read::search(&config, &query, count, format.into())),
        Command::Stats { rounds, format } => {
            print(herald::read::stats(&config, rounds, format.into()))
        }
        Command::Export {
            format,
            count,
            sources,
        } => {
            let format = match format {
                ExportFormat::Atom => herald::read::FeedFormat::Atom,
                ExportFormat::Json => herald::read::FeedFormat::Json,
            };
            print(herald::read::export(&config, format, count, &sources))
        }
        Command::Bench { .. } => unreachable!("handled before the config is loaded"),
    };
    result.unwrap_or_else(|e| {
        if let Some(bad @ herald::storage::StorageError::BadQuery { .. }) = e.downcast_ref() {
            eprintln!("error: {bad}");
            return ExitCode::from(EXIT_CONFIG);
        }
        if let Some(usage @ (herald::Error::Usage(_) | herald::Error::Config(_))) = e.downcast_ref()
        {
            eprintln!("error: {usage}");
            return ExitCode::from(EXIT_CONFIG);
        }
        tracing::error!("{e:#}");
        eprintln!("error: {e:#}");
        ExitCode::from(EXIT_RUNTIME)
    })
}

/// Prints a read command's output; a database that does not exist yet is
/// an error that says so.
fn print(result: Result<String, herald::storage::StorageError>) -> anyhow::Result<ExitCode> {
    let text = result?;
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("herald")
        .build()
        .context("cannot start the async runtime")
}

fn run(config: Config) -> anyhow::Result<ExitCode> {
    let runtime = runtime()?;
    let exit = runtime.block_on(herald::supervisor::run(config))?;
    // Parsing tasks on the blocking pool are short; do not wait on stragglers.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    Ok(match exit {
        herald::supervisor::Exit::Clean => ExitCode::SUCCESS,
        herald::supervisor::Exit::Forced => ExitCode::from(EXIT_FORCED),
    })
}

fn bench(options: &herald::bench::BenchOptions, format: Format) -> anyhow::Result<ExitCode> {
    if options.sources == 0 || options.workers.contains(&0) {
        anyhow::bail!("--sources and --workers must be at least 1");
    }
    let rows = runtime()?.block_on(herald::bench::run(options))?;
    match format {
        Format::Table => print!("{}", herald::bench::table(&rows)),
        Format::Json => println!("{}", serde_json::to_string(&rows)?),
    }
    if let Some(plot) = &options.plot {
        eprintln!("plot written to {}", plot.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn load_config(explicit: Option<&std::path::Path>) -> Result<Config, config::ConfigError> {
    let path = config::discover(explicit)?;
    config::load(&path)
}

fn once(config: &Config, format: Format) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal as _;
    let runtime = runtime()?;
    // A progress bar only for a person watching: never in a pipe, a log or JSON.
    let show_progress = format == Format::Table && std::io::stdout().is_terminal();
    let report = runtime.block_on(async {
        let (progress, bar) = if show_progress {
            let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
            let total = config.enabled_sources().len();
            (
                Some(sender),
                Some(tokio::spawn(progress_bar(total, receiver))),
            )
        } else {
            (None, None)
        };
        let report = herald::app::once_with_progress(config, progress).await;
        if let Some(bar) = bar {
            let _ = bar.await;
        }
        report
    })?;
    match format {
        Format::Table => print!("{}", report::round_table(&report)),
        Format::Json => println!("{}", serde_json::to_string(&report)?),
    }
    Ok(if report.all_failed() {
        ExitCode::from(EXIT_ALL_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

fn fetch(config: &Config, args: herald::explain::FetchArgs<'_>) -> anyhow::Result<ExitCode> {
    let report = runtime()?.block_on(herald::explain::fetch(config, args))?;
    print!("{}", report.text);
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_ALL_FAILED)
    })
}

fn dry_run(config: &Config, format: Format) -> anyhow::Result<ExitCode> {
    let runtime = runtime()?;
    let dry = runtime.block_on(herald::app::dry_run(config))?;
    match format {
        Format::Table => print!("{}", report::dry_run_table(&dry)),
        Format::Json => println!("{}", serde_json::to_string(&dry)?),
    }
    Ok(if dry.report.all_failed() {
        ExitCode::from(EXIT_ALL_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

/// Draws `once`'s progress on stderr until the round drops its sender.
async fn progress_bar(
    total: usize,
    mut done: tokio::sync::mpsc::UnboundedReceiver<(String, herald::outcome::FetchStatus)>,
) {
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {elapsed:>3} [{bar:30}] {pos}/{len} sources  {wide_msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    while let Some((source, status)) = done.recv().await {
        bar.inc(1);
        bar.set_message(format!("{source}: {}", status.as_str()));
    }
    bar.finish_and_clear();
}

/// What `herald check` prints for a valid config.
fn describe(config: &Config) -> String {
    let d = &config.daemon;
    let mut out = format!(
        "{}: ok\ndatabase: {}\nworkers: {}, queue capacity: {}, round timeout: {}, schedule: {:?}\n\n",
        config.path.display(),
        d.database.display(),
        d.workers,
        d.queue_capacity,
        humantime::format_duration(d.round_timeout),
        d.schedule,
    );
    out.insert_str(
        out.len() - 1,
        &format!(
            "metrics: {}\nalerts: {}\n",
            config.metrics.listen.map_or_else(
                || "off".to_owned(),
                |addr| format!("http://{addr}/metrics, /healthz")
            ),
            config
                .alerts
                .webhook
                .as_deref()
                .and_then(|w| url::Url::parse(w).ok())
                .map_or_else(
                    || "off".to_owned(),
                    // The host only: webhook URLs often carry a token.
                    |url| format!("webhook to {}", url.host_str().unwrap_or("?"))
                ),
        ),
    );
    let rows: Vec<Vec<String>> = config
        .sources
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.kind.clone(),
                if s.enabled { "yes" } else { "no" }.to_owned(),
                s.schedule
                    .clone()
                    .unwrap_or_else(|| format!("{} (global)", d.schedule)),
                herald::redact::redact_url(
                    &s.source.request().url,
                    &herald::sources::secrets_of(s.source.as_ref()),
                ),
            ]
        })
        .collect();
    let enabled = config.sources.iter().filter(|s| s.enabled).count();
    out.push_str(&format!(
        "{} sources, {enabled} enabled\n",
        config.sources.len()
    ));
    out.push_str(&report::table(
        &["NAME", "KIND", "ENABLED", "SCHEDULE", "URL"],
        &rows,
    ));
    out
}
