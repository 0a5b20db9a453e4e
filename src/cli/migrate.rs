//! `herald migrate-store`: copy a whole database to another store (a
//! SQLite file to a shared PostgreSQL database, or back), resumable, with a
//! progress bar on a terminal.

use std::io::IsTerminal;
use std::process::ExitCode;

use super::Outcome;
use super::render::ReadFormat;
use herald::storage::{CopyProgress, Location};

/// `herald migrate-store` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The store to copy from: a SQLite path, `sqlite:PATH`, or a
    /// `postgres://` URL / libpq `key=value` string. Stop herald on it first.
    #[arg(long, value_name = "PATH_OR_URL")]
    from: String,
    /// The store to copy into (created and migrated if new). Running it
    /// again after an interruption resumes where it stopped.
    #[arg(long, value_name = "PATH_OR_URL")]
    to: String,
    #[arg(long, value_enum, default_value_t = ReadFormat::Table)]
    format: ReadFormat,
}

/// Copies and prints per table what was copied.
pub(crate) fn run(args: &Args) -> Outcome {
    let parse = |flag: &str, text: &str| {
        text.parse::<Location>()
            .map_err(|e| herald::Error::Usage(format!("--{flag}: {e}")))
    };
    let (from, to) = (parse("from", &args.from)?, parse("to", &args.to)?);
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {elapsed:>3} [{bar:30}] {pos}/{len} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar
    });
    let mut progress = |step: CopyProgress<'_>| {
        if let Some(bar) = &bar {
            bar.set_length(step.total);
            bar.set_position(step.done);
            bar.set_message(step.table.to_owned());
        }
    };
    let report = herald::storage::copy_store(&from, &to, &mut progress)?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    match args.format {
        ReadFormat::Json | ReadFormat::Ndjson => println!("{}", serde_json::to_string(&report)?),
        ReadFormat::Table => {
            println!("copied {from} → {to}");
            for (table, copied, already) in &report.tables {
                println!("  {table}: {copied} row(s) copied, {already} already there");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
