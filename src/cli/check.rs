//! `herald check`: validate the config and list the sources.

use std::process::ExitCode;

use super::render::table;
use herald::config::Config;
use herald::model::secret::redact_url;

/// Prints what a valid config runs; an invalid one never gets here (`main`
/// reports every problem and exits 2).
pub(crate) fn run(config: &Config) -> ExitCode {
    print!("{}", describe(config));
    ExitCode::SUCCESS
}

/// What `herald check` prints for a valid config.
fn describe(config: &Config) -> String {
    let d = &config.daemon;
    let metrics = config.metrics.listen.map_or_else(
        || "off".to_owned(),
        |addr| format!("http://{addr}/ (/feed.atom, /feed.json, /feed.opml, /metrics, /healthz)"),
    );
    let alerts = config
        .alerts
        .webhook
        .as_deref()
        .and_then(|w| url::Url::parse(w).ok())
        .map_or_else(
            || "off".to_owned(),
            // The host only: webhook URLs often carry a token.
            |url| format!("webhook to {}", url.host_str().unwrap_or("?")),
        );
    let spread = if d.spread.is_zero() {
        "off (every source starts at the tick)".to_owned()
    } else {
        format!(
            "{} (each source at a stable offset)",
            humantime::format_duration(d.spread)
        )
    };
    let mut out = format!(
        "{}: ok\ndatabase: {}\nworkers: {}, queue capacity: {}, round timeout: {}, schedule: {:?}\n\
         time zone: {} (from {}), spread: {spread}\nproxy: {}\nextra root certificates: {}\n\
         server: {metrics}\nalerts: {alerts}\n\n",
        config.path.display(),
        d.database.display(),
        d.workers,
        d.queue_capacity,
        humantime::format_duration(d.round_timeout),
        d.schedule.written(),
        d.timezone.name(),
        d.timezone_origin,
        config.http.proxy_setup().describe(),
        config
            .http
            .ca_file
            .as_ref()
            .map_or_else(|| "none".to_owned(), |p| p.display().to_string()),
    );
    let rows: Vec<Vec<String>> = config
        .sources
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.kind.to_string(),
                if s.enabled { "yes" } else { "no" }.to_owned(),
                if s.own_schedule {
                    s.schedule.describe()
                } else {
                    format!("{}, global", s.schedule.describe())
                },
                redact_url(&s.source.request().url, &s.secrets()),
            ]
        })
        .collect();
    let enabled = config.sources.iter().filter(|s| s.enabled).count();
    out.push_str(&format!(
        "{} sources, {enabled} enabled\n",
        config.sources.len()
    ));
    out.push_str(&table(
        &["NAME", "KIND", "ENABLED", "SCHEDULE", "URL"],
        &rows,
    ));
    out
}
