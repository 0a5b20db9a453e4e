//! `herald fetch`: one source, or one URL, through the real client and the
//! same job code a round runs, with everything decided along the way
//! spelled out (`--explain`): each hop's request and response headers, the
//! caching decision, how the body parsed, and the first items. The tool to
//! reach for when a source misbehaves; it never writes to the database.
//!
//! Secrets never appear: credential headers print as `[REDACTED]`, and every
//! line passes through [`redact`] with the source's keys.

use std::fmt::Write as _;
use std::process::ExitCode;

use super::{CliError, EXIT_ALL_FAILED, Outcome, runtime};
use herald::app::{self, FetchTarget, TracedFetch};
use herald::config::Config;
use herald::engine::job::Fetched;
use herald::fetch::Exchange;
use herald::model::secret::{MASK, Secret, redact, redact_url};
use herald::model::source::{Kind, SourceSpec};
use herald::storage::Reader;

/// `herald fetch` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A source name from the config, or a URL.
    target: String,
    /// How to parse a URL (a configured source uses its own kind).
    #[arg(long, value_parser = parse_kind, value_name = "KIND")]
    kind: Option<Kind>,
    /// Show each request and response (secrets redacted), the caching
    /// decision, and how the body parsed.
    #[arg(long)]
    explain: bool,
    /// How many items to list.
    #[arg(short = 'n', default_value_t = 5)]
    count: usize,
}

fn parse_kind(text: &str) -> Result<Kind, String> {
    text.parse()
        .map_err(|e: herald::model::source::UnknownKind| e.to_string())
}

/// Fetches the target and prints what happened.
pub(crate) fn run(config: &Config, args: &Args) -> Outcome {
    // Reading the stored validators is a SQLite read: before the runtime.
    let target = app::fetch_target(config, &args.target, args.kind)?;
    let fetched = runtime()?.block_on(app::fetch_traced(config, &target))?;
    let secrets = target.spec.secrets();
    let (mut text, ok) = render(&target, &fetched, args, &secrets);
    let not_modified = matches!(&fetched.result, Ok(response) if response.http_status == 304);
    if not_modified {
        not_modified_note(&mut text, config, &target, args.count)?;
    }
    print!("{}", redact(&text, &secrets));
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_ALL_FAILED)
    })
}

/// The report, and whether the fetch and parse succeeded.
fn render(
    target: &FetchTarget,
    fetched: &TracedFetch,
    args: &Args,
    secrets: &[Secret],
) -> (String, bool) {
    let spec = &target.spec;
    let mut out = String::new();
    if args.explain {
        let _ = writeln!(out, "{}", target.origin);
        if let Some(moved) = &target.moved {
            let _ = writeln!(
                out,
                "remembered permanent redirect: {} → {}",
                redact_url(&spec.source.request().url, secrets),
                redact_url(moved, secrets)
            );
        }
        for exchange in &fetched.trace {
            describe_exchange(&mut out, exchange, secrets);
        }
        let _ = writeln!(out, "\ncaching:");
        let _ = writeln!(
            out,
            "  validators sent: {}",
            target
                .validators
                .as_ref()
                .and_then(herald::model::http::Validators::describe)
                .unwrap_or_else(|| "none (never fetched, or the server gave none)".to_owned())
        );
    }
    let elapsed = fetched.elapsed.as_millis();
    let response = match &fetched.result {
        Ok(response) => response,
        Err(herald::engine::job::Failure::Parse { error, .. }) => {
            let _ = writeln!(out, "\nparse failed (kind {}): {error}", spec.kind);
            return (out, false);
        }
        Err(failure) => {
            let _ = writeln!(
                out,
                "\nfailed after {elapsed} ms: {}",
                failure.describe(spec)
            );
            return (out, false);
        }
    };
    let not_modified = response.http_status == 304;
    if args.explain {
        explain_caching(&mut out, target, response, elapsed, secrets);
    }
    if not_modified {
        return (out, true);
    }
    if args.explain {
        let beyond = response.listed - response.articles.len() - response.dropped;
        let _ = writeln!(
            out,
            "\nparsed as {}: {} items, {} usable, {} dropped (no usable link or title){}{}",
            spec.kind,
            response.listed,
            response.articles.len(),
            response.dropped,
            response.ttl.map_or_else(String::new, |ttl| format!(
                "; feed ttl {}",
                humantime::format_duration(ttl)
            )),
            match response.follow_ups.first() {
                None => String::new(),
                Some(first) => format!(
                    "; {} follow-up requests (one per item, not made here), first {}",
                    response.follow_ups.len(),
                    redact_url(&first.url, secrets)
                ),
            },
        );
        if !response.warnings.is_empty() {
            let _ = writeln!(out, "  repaired: {}", response.warnings.join("; "));
        }
        explain_filters(&mut out, spec, response);
        if let Some(limit) = spec.limit {
            let _ = writeln!(
                out,
                "  limit = {limit}: the daemon keeps the first {limit} ({beyond} more left out)"
            );
        }
        let _ = writeln!(out, "\nfirst items:");
    }
    for (index, article) in response.articles.iter().take(args.count).enumerate() {
        let when = article.published_at.map_or_else(
            || "no date".to_owned(),
            |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        );
        item_line(&mut out, index, &article.title, &article.url, &when);
    }
    if response.listed == 0 {
        let _ = writeln!(out, "(no items)");
    }
    (out, true)
}

/// `  1. Title` / `     url  (date)`: one listed item.
fn item_line(out: &mut String, index: usize, title: &str, url: &str, when: &str) {
    let _ = writeln!(out, "{:>3}. {title}\n     {url}  ({when})", index + 1);
}

/// What the source's `include`/`exclude` (and `[filters]`) would keep.
fn explain_filters(out: &mut String, spec: &SourceSpec, response: &Fetched) {
    if spec.filters.is_empty() {
        return;
    }
    let kept = response
        .articles
        .iter()
        .filter(|a| spec.keeps(&a.title, a.summary.as_deref()))
        .count();
    let _ = writeln!(
        out,
        "  filters: {kept} kept, {} filtered out by include/exclude",
        response.articles.len() - kept
    );
}

/// After a 304: since when the copy is current, by which validator, and the
/// items the database holds for the source (nothing was parsed to show).
fn not_modified_note(
    out: &mut String,
    config: &Config,
    target: &FetchTarget,
    count: usize,
) -> Result<(), CliError> {
    let validators = target.validators.clone().unwrap_or_default();
    let since = validators
        .last_modified
        .as_deref()
        .unwrap_or("the last fetch that stored it");
    let etag = validators
        .etag
        .as_deref()
        .map_or_else(String::new, |etag| format!(" (ETag {etag})"));
    let _ = writeln!(out, "not modified since {since}{etag}");
    let database = &config.daemon.database;
    let stored = if database.sqlite_path().is_none_or(std::path::Path::exists) {
        Reader::open(database)?.latest(&herald::storage::ArticleFilter {
            sources: vec![target.spec.name.clone()],
            ..herald::storage::ArticleFilter::newest(count)
        })?
    } else {
        Vec::new()
    };
    if stored.is_empty() {
        let _ = writeln!(out, "(no stored items for {})", target.spec.name);
        return Ok(());
    }
    let _ = writeln!(out, "stored items (newest first):");
    for (index, article) in stored.iter().enumerate() {
        let when = article.published_at.as_deref().unwrap_or("no date");
        item_line(out, index, &article.title, &article.url, when);
    }
    Ok(())
}

/// The answer, the validators and hints for next time, a permanent move.
fn explain_caching(
    out: &mut String,
    target: &FetchTarget,
    response: &Fetched,
    elapsed: u128,
    secrets: &[Secret],
) {
    let not_modified = response.http_status == 304;
    let _ = writeln!(
        out,
        "  answer: {}",
        if not_modified {
            "304 Not Modified: the stored copy is current, nothing to parse".to_owned()
        } else {
            format!(
                "{} with a body of {} bytes (decompressed) in {elapsed} ms",
                response.http_status, response.body_bytes,
            )
        }
    );
    let _ = writeln!(
        out,
        "  validators for next time: {}",
        response.validators.describe().unwrap_or_else(|| {
            if not_modified {
                "none given (after a 304 the stored ones are kept)".into()
            } else {
                "none given (the next fetch is unconditional)".into()
            }
        })
    );
    let _ = writeln!(
        out,
        "  server hint: {}",
        response.freshness.as_ref().map_or_else(
            || "none (no Cache-Control max-age or Expires)".to_owned(),
            |hint| format!(
                "{} → {}",
                hint.reason,
                if target.spec.respect_server_hints {
                    format!(
                        "not fetched again for at least {}",
                        humantime::format_duration(hint.wait)
                    )
                } else {
                    "ignored (respect_server_hints = false)".to_owned()
                }
            )
        )
    );
    if let Some(moved) = &response.moved_to {
        let _ = writeln!(
            out,
            "  permanent redirect to {}: the daemon would remember it",
            redact_url(moved, secrets)
        );
    }
}

fn describe_exchange(out: &mut String, exchange: &Exchange, secrets: &[Secret]) {
    let _ = writeln!(out, "\n> GET {}", redact_url(&exchange.url, secrets));
    for (name, value, sensitive) in &exchange.request_headers {
        let _ = writeln!(out, "> {name}: {}", if *sensitive { MASK } else { value });
    }
    match exchange.status {
        Some(status) => {
            let _ = writeln!(out, "< HTTP {status}");
            for (name, value) in &exchange.response_headers {
                let _ = writeln!(out, "< {name}: {value}");
            }
        }
        None => {
            let _ = writeln!(out, "< (no response)");
        }
    }
}
