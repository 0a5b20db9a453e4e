//! Logging: `tracing` to stderr and, when `[log] dir` is set, to a rolling
//! file through tracing-appender's non-blocking writer.
//!
//! stderr is plain text without ANSI colours unless it is a terminal, so
//! journald shows clean lines. The file writer runs on its own thread and is
//! configured to block rather than drop lines when it falls behind; the
//! returned guard flushes it on drop, so `main` must hold it until it returns.
//! A log folder that cannot be used is reported and logging continues on
//! stderr: a broken log setup must never stop the daemon. This module owns
//! `[log]` ([`LogConfig`]); the config module only validates it.

use std::io::IsTerminal;

mod rolling;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[log]`: where the daemon's log lines go besides stderr.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Folder for rolling log files; none means stderr only.
    pub dir: Option<PathBuf>,
    /// The current file's name, always the same (`tail -F` follows it);
    /// finished files are renamed with their date (or hour) appended.
    #[serde(default = "default_log_file")]
    pub file: String,
    /// When the file starts anew.
    #[serde(default)]
    pub rotation: Rotation,
    /// How many rotated files to keep (older ones are deleted).
    #[serde(default = "default_log_keep")]
    pub keep: usize,
    /// Filter in `tracing` syntax; `HERALD_LOG` / `RUST_LOG` override it.
    #[serde(default = "default_log_level")]
    pub level: String,
    /// Line format in the file.
    #[serde(default)]
    pub format: LogFormat,
}

/// When the log file starts anew.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rotation {
    /// A new file every day.
    #[default]
    Daily,
    /// A new file every hour.
    Hourly,
    /// One file, never rotated.
    Never,
}

/// Log line format in the file: `text` for people, `json` for log shippers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

fn default_log_file() -> String {
    "herald.log".to_owned()
}
fn default_log_keep() -> usize {
    7
}
fn default_log_level() -> String {
    "info".to_owned()
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            dir: None,
            file: default_log_file(),
            rotation: Rotation::default(),
            keep: default_log_keep(),
            level: default_log_level(),
            format: LogFormat::default(),
        }
    }
}

/// This process's peak resident memory (`VmHWM`) in KiB, on Linux.
/// Read from inside: a parent's view of a child (`RUSAGE_CHILDREN`) also
/// counts the parent's own peak when the child was spawned vfork-style.
pub fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Keeps the file writer alive; drop it last.
#[must_use = "dropping the guard stops the log file writer"]
pub struct LogGuard {
    _file: Option<WorkerGuard>,
}

/// The log file's writer, saying so on stderr (once, and once again when it
/// recovers) when the file cannot be written: tracing-appender drops write
/// errors silently, which on a full disk leaves a 0-byte file and no clue.
/// The daemon keeps running either way; stderr (journald) has every line.
struct ReportFailures<W> {
    inner: W,
    path: std::path::PathBuf,
    failing: bool,
}

impl<W> ReportFailures<W> {
    fn note<T>(&mut self, result: std::io::Result<T>) -> std::io::Result<T> {
        match &result {
            Ok(_) if self.failing => {
                self.failing = false;
                eprintln!("herald: writing the log file {} again", self.path.display());
            }
            Err(e) if !self.failing => {
                self.failing = true;
                eprintln!(
                    "herald: cannot write the log file {}: {e}; herald keeps running and logging to stderr",
                    self.path.display()
                );
            }
            _ => {}
        }
        result
    }
}

impl<W: std::io::Write> std::io::Write for ReportFailures<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let result = self.inner.write(buf);
        self.note(result)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let result = self.inner.flush();
        self.note(result)
    }
}

/// A bare level (`info`) means herald's own lines at that level and
/// dependencies' at `warn`; anything else is a full `tracing` filter.
pub fn expand_level(spec: &str) -> String {
    const LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace"];
    let spec = spec.trim();
    if LEVELS.contains(&spec.to_ascii_lowercase().as_str()) {
        format!("warn,herald={spec}")
    } else {
        spec.to_owned()
    }
}

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// Whether stderr is connected to the journal: systemd sets `JOURNAL_STREAM`
/// to the stream's `device:inode`, and only when those are stderr's own is
/// it still the journal (a child whose stderr was redirected inherits the
/// variable but not the stream).
fn stderr_is_journal() -> bool {
    use std::os::fd::AsFd;
    let Some((device, inode)) = std::env::var("JOURNAL_STREAM").ok().and_then(|v| {
        let (d, i) = v.split_once(':')?;
        Some((d.parse::<u64>().ok()?, i.parse::<u64>().ok()?))
    }) else {
        return false;
    };
    nix::sys::stat::fstat(std::io::stderr().as_fd())
        .is_ok_and(|stat| stat.st_dev == device && stat.st_ino == inode)
}

/// Prefixes each line with its syslog priority (`<3>` error … `<7>` debug),
/// which journald strips and records.
struct JournalPriority<F>(F);

impl<S, N, F> tracing_subscriber::fmt::FormatEvent<S, N> for JournalPriority<F>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
    F: tracing_subscriber::fmt::FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let priority = match *event.metadata().level() {
            tracing::Level::ERROR => 3,
            tracing::Level::WARN => 4,
            tracing::Level::INFO => 6,
            _ => 7,
        };
        write!(writer, "<{priority}>")?;
        self.0.format_event(ctx, writer, event)
    }
}

/// Installs the global subscriber. `stderr_level` is the default filter for
/// stderr; the file uses `log.level`. `HERALD_LOG` (then `RUST_LOG`)
/// overrides both.
pub fn init(log: &LogConfig, stderr_level: &str) -> LogGuard {
    let env_filter = std::env::var("HERALD_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok();
    let filter = |default: &str| {
        let spec = env_filter.as_deref().unwrap_or(default);
        EnvFilter::try_new(expand_level(spec)).unwrap_or_else(|_| EnvFilter::new("warn"))
    };

    let stderr: BoxedLayer = if stderr_is_journal() {
        // journald stamps each line itself and reads `<N>` as its priority,
        // so `journalctl -p warning` shows warnings and errors.
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .event_format(JournalPriority(
                tracing_subscriber::fmt::format()
                    .without_time()
                    .with_ansi(false),
            ))
            .with_filter(filter(stderr_level))
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .with_filter(filter(stderr_level))
            .boxed()
    };
    let mut layers = vec![stderr];
    let mut guard = None;
    let mut file_problem = None;
    if let Some(dir) = &log.dir {
        let appender = std::fs::create_dir_all(dir)
            .map_err(|e| e.to_string())
            .map(|()| rolling::RollingFile::new(dir, &log.file, log.rotation, log.keep));
        match appender {
            Ok(appender) => {
                let appender = ReportFailures {
                    inner: appender,
                    path: dir.join(&log.file),
                    failing: false,
                };
                let (writer, file_guard) =
                    tracing_appender::non_blocking::NonBlockingBuilder::default()
                        .lossy(false)
                        .finish(appender);
                guard = Some(file_guard);
                let layer: BoxedLayer = match log.format {
                    LogFormat::Text => tracing_subscriber::fmt::layer()
                        .with_writer(writer)
                        .with_ansi(false)
                        .with_filter(filter(&log.level))
                        .boxed(),
                    LogFormat::Json => tracing_subscriber::fmt::layer()
                        .json()
                        .with_writer(writer)
                        .with_filter(filter(&log.level))
                        .boxed(),
                };
                layers.push(layer);
            }
            Err(e) => file_problem = Some(format!("{}: {e}", dir.display())),
        }
    }
    let _ = tracing_subscriber::registry().with(layers).try_init();
    if let Some(problem) = file_problem {
        tracing::warn!("cannot write logs to [log] dir {problem}; logging to stderr only");
    }
    LogGuard { _file: guard }
}

#[cfg(test)]
mod tests {
    use super::expand_level;

    #[test]
    fn bare_levels_apply_to_herald_only() {
        assert_eq!(expand_level("info"), "warn,herald=info");
        assert_eq!(expand_level("DEBUG"), "warn,herald=DEBUG");
        assert_eq!(expand_level("info,hyper=debug"), "info,hyper=debug");
    }
}
