//! `herald fetch`: one source, or one URL, through the real client, with
//! everything the daemon decided along the way spelled out (`--explain`):
//! each hop's request and response headers, the caching decision, how the
//! body parsed, and the first items. The tool to reach for when a source
//! misbehaves; it never writes to the database.
//!
//! Secrets never appear: credential headers print as `<redacted>`, and every
//! line passes through [`redact`] with the source's keys.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;

use crate::article::Article;
use crate::config::{self, Config};
use crate::error::{Error, Result};
use crate::fetch::{Exchange, HttpClient, Validators};
use crate::redact::{MASK, redact, redact_url};
use crate::sources::{self, Payload, SourceSpec};
use crate::storage;

/// What `herald fetch` was asked to fetch.
#[derive(Debug, Clone, Copy)]
pub struct FetchArgs<'a> {
    /// A configured source's name, or a URL.
    pub target: &'a str,
    /// The kind to parse a URL as (`feed` when absent); ignored for a name.
    pub kind: Option<&'a str>,
    /// Show headers, caching and parsing, not just the items.
    pub explain: bool,
    /// How many items to list.
    pub items: usize,
}

/// The printed report and whether the fetch and parse succeeded.
#[derive(Debug)]
pub struct FetchReport {
    pub text: String,
    pub ok: bool,
}

/// The source to fetch and what the daemon would send with it.
struct Target {
    spec: Arc<SourceSpec>,
    validators: Option<Validators>,
    /// A permanent redirect remembered from earlier fetches.
    moved: Option<url::Url>,
    /// One line saying where all this came from.
    origin: String,
}

/// Resolves the target: a configured source (with the validators and move
/// the database remembers for it) or an ad-hoc source built from the URL.
fn resolve(config: &Config, target: &str, kind: Option<&str>) -> Result<Target> {
    if let Some(spec) = config.sources.iter().find(|s| s.name == target) {
        let database = &config.daemon.database;
        let (validators, moved) = if database.exists() {
            let conn = storage::open_read_only(database)?;
            storage::reads::validators_of(&conn, &spec.name).map_err(storage::StorageError::from)?
        } else {
            (None, None)
        };
        let origin = format!(
            "configured source \"{}\" (kind {}); validators from {}",
            spec.name,
            spec.kind,
            database.display()
        );
        return Ok(Target {
            spec: Arc::clone(spec),
            validators,
            moved: moved.and_then(|m| url::Url::parse(&m).ok()),
            origin,
        });
    }
    let url = url::Url::parse(target).map_err(|e| {
        Error::Usage(format!(
            "{target:?} is neither a source in {} nor a URL ({e})",
            config.path.display()
        ))
    })?;
    let kind = kind.unwrap_or("feed");
    let toml = format!(
        "[[sources]]\nname = \"fetch\"\nkind = {}\nurl = {}\n",
        toml_string(kind),
        toml_string(url.as_str())
    );
    let ad_hoc = config::load_from_str(Path::new("<command line>"), &toml)?;
    let spec = ad_hoc
        .sources
        .first()
        .cloned()
        .ok_or_else(|| Error::Usage("the command line built no source".into()))?;
    Ok(Target {
        spec,
        validators: None,
        moved: None,
        origin: format!("{url} as kind {kind}; no stored validators"),
    })
}

fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// Runs `herald fetch`.
pub async fn fetch(config: &Config, args: FetchArgs<'_>) -> Result<FetchReport> {
    // Reading the stored validators is a SQLite read: off the runtime.
    let Target {
        spec,
        validators,
        moved,
        origin,
    } = {
        let (config, target, kind) = (
            config.clone(),
            args.target.to_owned(),
            args.kind.map(str::to_owned),
        );
        tokio::task::spawn_blocking(move || resolve(&config, &target, kind.as_deref()))
            .await
            .map_err(|e| Error::Task(e.to_string()))??
    };
    let secrets = sources::secrets_of(spec.source.as_ref());
    let client = HttpClient::new(&config.http)?;
    let mut request = spec.source.request();
    let mut out = String::new();
    if args.explain {
        let _ = writeln!(out, "{origin}");
    }
    if let Some(moved) = moved {
        if args.explain {
            let _ = writeln!(
                out,
                "remembered permanent redirect: {} → {}",
                redact_url(&request.url, &secrets),
                redact_url(&moved, &secrets)
            );
        }
        request.url = moved;
    }
    let mut trace = Vec::new();
    let started = Instant::now();
    let result = client
        .get_traced(&request, validators.as_ref(), Some(&mut trace))
        .await;
    let elapsed = started.elapsed();
    if args.explain {
        for exchange in &trace {
            describe_exchange(&mut out, exchange, &secrets);
        }
        let _ = writeln!(out, "\ncaching:");
        match &validators {
            Some(v) => {
                let _ = writeln!(
                    out,
                    "  validators sent: {}",
                    validator_text(v).unwrap_or_else(|| "none".into())
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "  validators sent: none (never fetched, or the server gave none)"
                );
            }
        }
    }
    let response = match result {
        Ok(response) => response,
        Err(error) => {
            let _ = writeln!(
                out,
                "\nfailed after {} ms: {}",
                elapsed.as_millis(),
                redact(&error.to_string(), &secrets)
            );
            return Ok(FetchReport {
                text: redact(&out, &secrets),
                ok: false,
            });
        }
    };
    if args.explain {
        let _ = writeln!(
            out,
            "  answer: {}",
            if response.not_modified() {
                "304 Not Modified: the stored copy is current, nothing to parse".to_owned()
            } else {
                format!(
                    "{} with a body of {} bytes (decompressed) in {} ms",
                    response.status,
                    response.body.len(),
                    elapsed.as_millis()
                )
            }
        );
        let _ = writeln!(
            out,
            "  validators for next time: {}",
            validator_text(&response.validators).unwrap_or_else(|| {
                if response.not_modified() {
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
                    if spec.respect_server_hints {
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
                redact_url(moved, &secrets)
            );
        }
    }
    if response.not_modified() {
        return Ok(FetchReport {
            text: redact(&out, &secrets),
            ok: true,
        });
    }
    let payload = Payload {
        body: response.body,
        content_type: response.content_type,
        url: response.final_url,
    };
    let base = payload.url.clone();
    let source = Arc::clone(&spec.source);
    let parsed =
        tokio::task::spawn_blocking(move || sources::contain_panic(|| source.parse(&payload)))
            .await
            .map_err(|e| Error::Task(e.to_string()))?;
    let parsed = match parsed {
        Ok(parsed) => parsed,
        Err(error) => {
            let _ = writeln!(out, "\nparse failed (kind {}): {error}", spec.kind);
            return Ok(FetchReport {
                text: redact(&out, &secrets),
                ok: false,
            });
        }
    };
    let listed = parsed.items.len();
    let now = Utc::now();
    let articles: Vec<Article> = parsed
        .items
        .into_iter()
        .filter_map(|draft| Article::from_draft(draft, Some(&base), now).ok())
        .collect();
    let dropped = listed - articles.len();
    if args.explain {
        let _ = writeln!(
            out,
            "\nparsed as {}: {listed} items, {} usable, {} dropped (no usable link or title){}{}",
            spec.kind,
            articles.len(),
            dropped,
            parsed.ttl.map_or_else(String::new, |ttl| format!(
                "; feed ttl {}",
                humantime::format_duration(ttl)
            )),
            if parsed.follow_ups.is_empty() {
                String::new()
            } else {
                format!(
                    "; {} follow-up requests (one per item, not made here), first {}",
                    parsed.follow_ups.len(),
                    redact_url(&parsed.follow_ups[0].url, &secrets)
                )
            },
        );
        if let Some(limit) = spec.limit {
            let _ = writeln!(out, "  limit = {limit}: the daemon keeps the first {limit}");
        }
        let _ = writeln!(out, "\nfirst items:");
    }
    for (index, article) in articles.iter().take(args.items).enumerate() {
        let when = article.published_at.map_or_else(
            || "no date".to_owned(),
            |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        );
        let _ = writeln!(
            out,
            "{:>3}. {}\n     {}  ({when})",
            index + 1,
            article.title,
            article.url
        );
    }
    if articles.is_empty() && listed == 0 {
        let _ = writeln!(out, "(no items)");
    }
    Ok(FetchReport {
        text: redact(&out, &secrets),
        ok: true,
    })
}

fn validator_text(validators: &Validators) -> Option<String> {
    let parts: Vec<String> = [
        validators
            .etag
            .as_ref()
            .map(|e| format!("If-None-Match: {e}")),
        validators
            .last_modified
            .as_ref()
            .map(|d| format!("If-Modified-Since: {d}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn describe_exchange(out: &mut String, exchange: &Exchange, secrets: &[crate::redact::Secret]) {
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
