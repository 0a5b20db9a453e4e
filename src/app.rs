//! Wiring: builds the parts (storage, HTTP client, worker pool, round runner)
//! from a [`Config`] and tears them down in order. The only module that
//! turns a config into running parts; the daemon and the commands call it.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::time::Instant;

use crate::config::Config;
use crate::engine::job::{Failure, Fetched, Fetcher};
use crate::engine::pool::WorkerPool;
use crate::engine::report::RoundReport;
use crate::engine::round::{Progress, RoundRunner, RoundSettings};
use crate::engine::shutdown::Shutdown;
use crate::error::{Error, Result};
use crate::fetch::{Exchange, HostLimits, HttpClient};
use crate::model::http::Validators;
use crate::model::schedule::{Schedule, spread_offset};
use crate::model::secret::redact_url;
use crate::model::source::{Kind, SourceInput, SourceSpec};
use crate::sources::{self, BuildContext};
use crate::storage::{self, PruneReport, Reader, Role, SourceRow, Storage};

/// The job runner `config` asks for: its HTTP client and retry policy.
///
/// # Errors
/// The HTTP client cannot be built (a bad user agent, a TLS backend failure).
pub fn fetcher(config: &Config) -> Result<Fetcher> {
    Ok(Fetcher::new(
        HttpClient::new(&config.http)?,
        config.http.retry_policy(),
    ))
}

/// The worker pool `config` asks for, its HTTP clients already being built
/// in the background for the enabled sources. Must be called inside the
/// runtime.
///
/// # Errors
/// As [`fetcher`].
pub fn start_pool(config: &Config) -> Result<WorkerPool> {
    let fetcher = fetcher(config)?;
    let first_requests: Vec<_> = config
        .enabled_sources()
        .iter()
        .map(|spec| spec.source.request().url)
        .collect();
    fetcher.warm_up(&first_requests);
    Ok(WorkerPool::start(
        config.daemon.workers,
        config.daemon.queue_capacity,
        fetcher,
    ))
}

/// The round runner for `config` on `pool` and `storage`: the one place a
/// runner is put together, for `once` and for the daemon.
pub fn runner_for(
    config: &Config,
    pool: &WorkerPool,
    storage: &Storage,
    shutdown: &Shutdown,
    hosts: HostLimits,
) -> RoundRunner {
    RoundRunner::new(
        RoundSettings {
            round_timeout: config.daemon.round_timeout,
            workers: config.daemon.workers,
            max_consecutive_failures: config.daemon.max_consecutive_failures,
        },
        pool.queue(),
        storage.clone(),
        shutdown.clone(),
        hosts,
    )
}

/// `herald once`: one round over every enabled source, then a clean close
/// (queue drained, WAL checkpointed) so the database file is self-contained.
///
/// # Errors
/// The database or the HTTP client could not start, or the writer stopped.
pub async fn once(config: &Config) -> Result<RoundReport> {
    once_with_progress(config, None, false).await
}

/// As [`once`], telling `progress` about each source as it finishes;
/// `force` (`once --force`) also fetches sources the circuit breaker paused
/// or a server asked not to check yet.
///
/// # Errors
/// As [`once`].
pub async fn once_with_progress(
    config: &Config,
    progress: Option<Progress>,
    force: bool,
) -> Result<RoundReport> {
    // The pool first: its HTTP clients are built while the database opens.
    let pool = start_pool(config)?;
    let storage = Storage::open_as(&config.daemon.database, Role::Once, config.identity()).await?;
    run_once(config, pool, storage, progress, force).await
}

/// `once` on a storage opened by the caller (a dry run's shadow).
async fn once_on(config: &Config, storage: Storage, force: bool) -> Result<RoundReport> {
    let pool = start_pool(config)?;
    run_once(config, pool, storage, None, force).await
}

/// One round of every enabled source on `pool` into `storage`, then a clean
/// close.
async fn run_once(
    config: &Config,
    pool: WorkerPool,
    storage: Storage,
    progress: Option<Progress>,
    force: bool,
) -> Result<RoundReport> {
    let runner = runner_for(
        config,
        &pool,
        &storage,
        &Shutdown::new(),
        HostLimits::new(config.http.per_host_concurrency),
    )
    .with_progress(progress)
    .forced(force);
    // A write lock another process holds is waited out, but not forever:
    // once the round's own deadline and a shutdown's grace have passed, what
    // is still waiting is reported as not stored.
    let give_up = {
        let storage = storage.clone();
        let patience = config.daemon.round_timeout + config.daemon.shutdown_grace;
        tokio::spawn(async move {
            tokio::time::sleep(patience).await;
            storage.give_up_waiting();
        })
    };
    let report = runner.run(&config.enabled_sources(), &[], "once").await;
    give_up.abort();
    drop(runner);
    pool.stop().await;
    storage.close().await?;
    let mut report = report?;
    report.peak_rss_kb = crate::telemetry::peak_rss_kb();
    Ok(report)
}

/// `herald prune`: what `[daemon] keep`, each source's `keep` and
/// `keep_history` no longer cover goes (or, `dry_run`, is only counted);
/// `vacuum` rewrites the file afterwards.
///
/// # Errors
/// The database is held by another writer, or a step failed.
pub async fn prune(config: &Config, dry_run: bool, vacuum: bool) -> Result<PruneReport> {
    let storage = Storage::open_as(&config.daemon.database, Role::Prune, config.identity()).await?;
    let report = storage.prune(config.retention(), dry_run, vacuum).await;
    storage.close().await?;
    Ok(report?)
}

/// What `once --dry-run` says about one source: when it would next be
/// fetched, and what decides that.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NextDue {
    /// The source's name.
    pub source: String,
    /// RFC 3339; `None` when it will not be fetched again.
    pub at: Option<String>,
    /// What decides it.
    pub reason: String,
}

/// The round that would have run, and what would follow it.
#[derive(Debug, Clone, Serialize)]
pub struct DryRun {
    /// The database that was left untouched.
    pub database: std::path::PathBuf,
    /// The round, as it ran against the scratch copy.
    pub report: RoundReport,
    /// Per enabled source, when it is next due.
    pub next_due: Vec<NextDue>,
}

/// `herald once --dry-run`: a real round (same requests, validators, breaker
/// and dedup decisions) against a scratch database thrown away afterwards.
/// The real file is only read: the scratch one shadows it (its source state
/// and last day of history copied, its articles consulted in place), so a
/// dry run costs the same on a 1 GB database as on an empty one. A file at
/// an older schema version is copied whole instead (`VACUUM INTO`) and the
/// copy migrated, leaving the real one untouched.
///
/// # Errors
/// The scratch database could not be made, or the round could not run.
pub async fn dry_run(config: &Config, force: bool) -> Result<DryRun> {
    let Some(real) = config.daemon.database.sqlite_path().map(Path::to_path_buf) else {
        return Err(storage::StorageError::Unsupported(format!(
            "once --dry-run shadows a SQLite file; {} is a shared PostgreSQL database: try one source without storing anything with `herald fetch NAME`",
            config.daemon.database
        ))
        .into());
    };
    let scratch = tempfile::tempdir().map_err(Error::Scratch)?;
    let copy = scratch.path().join("dry-run.db");
    let mut scratch_config = config.clone();
    scratch_config.daemon.database = storage::Location::Sqlite(copy.clone());
    let live_version = if real.exists() {
        let path = real.clone();
        tokio::task::spawn_blocking(move || Reader::open(&path.into())?.schema_version()).await??
    } else {
        0
    };
    let report = if live_version == storage::CURRENT_VERSION {
        let storage = Storage::open_shadow(&copy, &real).await?;
        once_on(config, storage, force).await?
    } else {
        if live_version > 0 {
            let (from, to) = (real.clone(), copy.clone());
            tokio::task::spawn_blocking(move || storage::snapshot(&from, &to)).await??;
        }
        once_with_progress(&scratch_config, None, force).await?
    };
    let rows = tokio::task::spawn_blocking(move || Reader::open(&copy.into())?.sources()).await??;
    let now = Utc::now();
    let next_due = config
        .enabled_sources()
        .iter()
        .map(|spec| {
            let row = rows.get(&spec.name).cloned().unwrap_or_default();
            let offset = spread_offset(&spec.name, config.daemon.spread);
            next_due(&spec.name, &spec.schedule, offset, &row, now)
        })
        .collect();
    Ok(DryRun {
        database: real,
        report,
        next_due,
    })
}

/// When a source is next fetched: its schedule's next tick plus its place
/// in a spread round (`offset`), pushed back by an open circuit breaker or a
/// server's requested wait; never once gone.
pub fn next_due(
    source: &str,
    schedule: &Schedule,
    offset: std::time::Duration,
    row: &SourceRow,
    now: DateTime<Utc>,
) -> NextDue {
    let parse = |t: &Option<String>| {
        t.as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let format = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    if row.gone_at.is_some() {
        return NextDue {
            source: source.to_owned(),
            at: None,
            reason: "never: it answered 410 Gone (fix its URL or remove it)".to_owned(),
        };
    }
    let mut at = schedule.next_after(now);
    let mut reason = format!("next tick of {}", schedule.describe());
    // Each hold pushes the source to the first tick at or after it.
    let holds = [
        parse(&row.paused_until).map(|until| {
            let why = format!(
                "circuit breaker open until {} after {} failures in a row",
                format(until),
                row.consecutive_failures
            );
            (until, why)
        }),
        parse(&row.next_check_at).map(|wait| {
            let why = format!(
                "the server asked not to be checked before {} ({})",
                format(wait),
                row.next_check_reason
                    .as_deref()
                    .unwrap_or("no reason given")
            );
            (wait, why)
        }),
    ];
    for (until, why) in holds.into_iter().flatten() {
        if at.is_some_and(|tick| until > tick) {
            at = schedule.next_after(until - chrono::Duration::seconds(1));
            reason = why;
        }
    }
    // Shown to the second, like every time here.
    let offset = chrono::Duration::seconds(offset.as_secs() as i64);
    if !offset.is_zero() {
        reason.push_str(&format!(", +{}s of spread", offset.num_seconds()));
    }
    NextDue {
        source: source.to_owned(),
        at: at.map(|at| format(at + offset)),
        reason,
    }
}

/// The source `herald fetch` fetches, and what the daemon would send with it.
#[derive(Debug)]
pub struct FetchTarget {
    /// A configured source, or one built from the URL.
    pub spec: Arc<SourceSpec>,
    /// Validators the database holds for it.
    pub validators: Option<Validators>,
    /// A permanent redirect remembered from earlier fetches.
    pub moved: Option<url::Url>,
    /// One line saying where all this came from.
    pub origin: String,
}

/// Resolves `herald fetch`'s target: a configured source by name (with the
/// validators and move the database remembers for it), else a URL built
/// into a source of `kind` (default `feed`). Reads the database: call it
/// off the async runtime.
///
/// # Errors
/// [`Error::Usage`] for a target that is neither, or a kind that needs keys
/// only a config entry can give; a database that cannot be read.
pub fn fetch_target(config: &Config, target: &str, kind: Option<Kind>) -> Result<FetchTarget> {
    if let Some(spec) = config.sources.iter().find(|s| s.name == target) {
        let database = &config.daemon.database;
        let (validators, moved) = match database.sqlite_path() {
            Some(path) if !path.exists() => (None, None),
            _ => match Reader::open(database) {
                Ok(reader) => reader.validators_of(&spec.name)?,
                Err(storage::StorageError::Empty { .. }) => (None, None),
                Err(e) => return Err(e.into()),
            },
        };
        return Ok(FetchTarget {
            spec: Arc::clone(spec),
            validators,
            moved: moved.and_then(|m| url::Url::parse(&m).ok()),
            origin: format!(
                "configured source \"{}\" (kind {}); validators from {}",
                spec.name, spec.kind, database
            ),
        });
    }
    let not_found = |why: String| {
        let names: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
        Error::Usage(format!(
            "{target:?} is neither a source in {} nor a URL ({why}){}",
            config.path.display(),
            if names.is_empty() {
                String::new()
            } else {
                format!("; the configured sources are: {}", names.join(", "))
            }
        ))
    };
    let url = match url::Url::parse(target) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => url,
        // `localhost:8080/feed` parses with the scheme "localhost", and
        // `127.0.0.1:8080/feed` not at all: both want a scheme.
        Ok(_) | Err(url::ParseError::RelativeUrlWithoutBase)
            if !target.contains("://") && target.contains(['.', ':', '/']) =>
        {
            return Err(not_found(format!(
                "no scheme: did you mean http://{target} ?"
            )));
        }
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            return Err(not_found("no source has that name".to_owned()));
        }
        Ok(url) => {
            return Err(not_found(format!(
                "scheme {:?} is not http or https",
                url.scheme()
            )));
        }
        Err(e) => return Err(not_found(e.to_string())),
    };
    let kind = kind.unwrap_or(Kind::Feed);
    let input = SourceInput {
        name: "fetch".to_owned(),
        kind,
        url: Some(url.to_string()),
        limit: None,
        options: std::collections::BTreeMap::new(),
    };
    let context = BuildContext {
        config_dir: config.path.parent().map(Into::into).unwrap_or_default(),
    };
    let built = sources::build(&input, &context).map_err(|problems| {
        let reasons: Vec<String> = problems
            .iter()
            .map(|p| format!("key `{}`: {}", p.key, p.message))
            .collect();
        Error::Usage(format!(
            "cannot fetch {} as kind {kind}: {}; configure it as a [[sources]] entry and fetch it by name",
            redact_url(&url, &[]),
            reasons.join("; ")
        ))
    })?;
    Ok(FetchTarget {
        spec: Arc::new(SourceSpec {
            name: input.name.clone(),
            kind,
            enabled: true,
            schedule: config.daemon.schedule.clone(),
            own_schedule: false,
            limit: None,
            rate_limit: None,
            respect_server_hints: true,
            keep: None,
            tags: Vec::new(),
            filters: Vec::new(),
            input,
            source: built.source,
        }),
        validators: None,
        moved: None,
        origin: format!(
            "{} as kind {kind}; no stored validators",
            redact_url(&url, &[])
        ),
    })
}

/// One traced fetch of a [`FetchTarget`], as `herald fetch` shows it.
#[derive(Debug)]
pub struct TracedFetch {
    /// Every hop's request and response headers.
    pub trace: Vec<Exchange>,
    /// What came of it.
    pub result: std::result::Result<Fetched, Failure>,
    /// Wall time of the fetch and parse.
    pub elapsed: std::time::Duration,
}

/// Fetches and parses `target` once, through the same job code a round
/// uses, recording each hop. Writes nothing.
///
/// # Errors
/// The HTTP client cannot be built.
pub async fn fetch_traced(config: &Config, target: &FetchTarget) -> Result<TracedFetch> {
    let fetcher = fetcher(config)?;
    let mut request = target.spec.source.request();
    if let Some(moved) = &target.moved {
        request.url = moved.clone();
    }
    let mut trace = Vec::new();
    let started = Instant::now();
    let deadline = started + config.daemon.round_timeout;
    let (result, _) = fetcher
        .fetch_source(
            &target.spec,
            &request,
            target.validators.as_ref(),
            deadline,
            Some(&mut trace),
        )
        .await;
    Ok(TracedFetch {
        trace,
        result,
        elapsed: started.elapsed(),
    })
}

/// A feed `herald add` found and read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundFeed {
    /// Where it is (after redirects).
    pub url: url::Url,
    /// Its own title, when it has one.
    pub title: Option<String>,
    /// Items it lists now.
    pub items: usize,
}

/// What `herald add URL` found behind a URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovery {
    /// Feeds that were fetched and parsed, best first: the URL itself when
    /// it is a feed, else the page's declared feeds in page order, else the
    /// first usual path that answered with a feed.
    pub feeds: Vec<FoundFeed>,
    /// Every URL tried that gave no feed, with why.
    pub tried: Vec<(url::Url, String)>,
    /// Whether the URL was an HTML page (its feeds were looked for).
    pub was_page: bool,
}

/// The paths where sites usually keep their feed, tried when a page
/// declares none: beside the page, then at the site's root.
pub const USUAL_FEED_PATHS: [&str; 7] = [
    "/feed",
    "/rss",
    "/feed.xml",
    "/rss.xml",
    "/atom.xml",
    "/index.xml",
    "/feed.json",
];

/// Finds the feeds behind `url`, as Miniflux does: the URL itself if it is
/// a feed; else the feeds its HTML declares (`<link rel="alternate">`,
/// relative links resolved against the page and its `<base>`); else the
/// usual paths. Every candidate is fetched through the real client (size
/// caps, timeouts, redirects checked hop by hop; a URL the operator typed
/// counts as configured, so it may be private) and must parse.
///
/// # Errors
/// The HTTP client cannot be built.
pub async fn discover(config: &Config, url: url::Url) -> Result<Discovery> {
    let client = HttpClient::new(&config.http)?;
    let mut discovery = Discovery::default();
    let page = match probe(&client, &url).await {
        Probe::Feed(found) => {
            discovery.feeds.push(found);
            return Ok(discovery);
        }
        Probe::Page(page, final_url) => (page, final_url),
        Probe::Nothing(why) => {
            discovery.tried.push((url.clone(), why));
            (String::new(), url.clone())
        }
    };
    let (html, page_url) = page;
    discovery.was_page = !html.is_empty();
    let declared = sources::feed::discover::feed_links(&html, &page_url);
    for link in &declared {
        match probe(&client, &link.url).await {
            Probe::Feed(found) => discovery.feeds.push(found),
            Probe::Page(..) => discovery
                .tried
                .push((link.url.clone(), "an HTML page, not a feed".to_owned())),
            Probe::Nothing(why) => discovery.tried.push((link.url.clone(), why)),
        }
    }
    if declared.is_empty() {
        // Beside the page first (a blog under /blog/ keeps /blog/feed),
        // then at the site's root.
        let mut candidates: Vec<url::Url> = Vec::new();
        for path in USUAL_FEED_PATHS {
            for joined in [page_url.join(&path[1..]), page_url.join(path)] {
                if let Ok(candidate) = joined
                    && !candidates.contains(&candidate)
                {
                    candidates.push(candidate);
                }
            }
        }
        for candidate in candidates {
            match probe(&client, &candidate).await {
                Probe::Feed(found) => {
                    discovery.feeds.push(found);
                    break;
                }
                Probe::Page(..) => discovery
                    .tried
                    .push((candidate, "an HTML page, not a feed".to_owned())),
                Probe::Nothing(why) => discovery.tried.push((candidate, why)),
            }
        }
    }
    Ok(discovery)
}

/// What one URL turned out to be.
enum Probe {
    Feed(FoundFeed),
    /// An HTML page (its text and final URL).
    Page(String, url::Url),
    Nothing(String),
}

async fn probe(client: &HttpClient, url: &url::Url) -> Probe {
    let request = crate::model::http::FetchRequest::get(
        url.clone(),
        "application/rss+xml, application/atom+xml, application/feed+json, text/html;q=0.9, */*;q=0.8",
    );
    let response = match client.get(&request, None).await {
        Ok(response) => response,
        Err(e) => return Probe::Nothing(e.to_string()),
    };
    let payload = crate::model::http::Payload {
        body: response.body.clone(),
        content_type: response.content_type.clone(),
        url: response.final_url.clone(),
    };
    match sources::feed::read(&payload) {
        Ok(feed) => Probe::Feed(FoundFeed {
            url: response.final_url,
            title: feed.title,
            items: feed.parsed.items.len(),
        }),
        Err(e) => {
            let text = String::from_utf8_lossy(&response.body);
            if sources::feed::discover::looks_like_html(&text) {
                Probe::Page(text.into_owned(), response.final_url)
            } else {
                Probe::Nothing(e.to_string())
            }
        }
    }
}
