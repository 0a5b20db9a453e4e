//! `[http]`: how herald talks to other people's servers. The fetcher owns
//! its settings (the config module only validates them), so the client can
//! be built and tested without a config file.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::RetryPolicy;

/// `[http]`: how herald talks to other people's servers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    /// Whole-request timeout, body included: stops slow-drip servers.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// TCP and TLS connection set-up.
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Largest body accepted, counted after decompression.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: u64,
    /// Sent with every request.
    #[serde(default = "default_user_agent")]
    pub user_agent: String,
    /// Extra attempts for transient failures (timeouts, connection errors,
    /// 408, 429, 502, 503, 504).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// First retry delay; doubles with ±25% jitter.
    #[serde(default = "default_backoff_initial", with = "humantime_serde")]
    pub backoff_initial: Duration,
    /// The longest retry delay.
    #[serde(default = "default_backoff_max", with = "humantime_serde")]
    pub backoff_max: Duration,
    /// Requests in flight to one host (host and port) at once, across all sources.
    #[serde(default = "default_per_host_concurrency")]
    pub per_host_concurrency: usize,
    /// Let sources configured with a public URL reach private addresses
    /// (through DNS or redirects). Off: a public feed cannot point herald
    /// at its own network.
    #[serde(default)]
    pub allow_private_networks: bool,
    /// Host pins, like curl's `--resolve`: `{ "news.example" = "203.0.113.7" }`.
    #[serde(default)]
    pub resolve: BTreeMap<String, std::net::IpAddr>,
    /// Every request goes through this HTTP proxy (`http://proxy:3128`);
    /// the `HTTPS_PROXY`/`HTTP_PROXY` environment is then ignored. Unset:
    /// the environment's proxies apply, as curl's would.
    pub proxy: Option<String>,
    /// Hosts reached directly, not through `proxy`: a name matches itself
    /// and its subdomains (`corp.example` covers `news.corp.example`), `*`
    /// matches all.
    #[serde(default)]
    pub no_proxy: Vec<String>,
    /// A PEM file of extra root certificates trusted besides the system's
    /// (a TLS-inspecting proxy, an internal feed's own CA).
    pub ca_file: Option<std::path::PathBuf>,
}

/// The proxy a request goes through, as messages name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyRoute {
    /// The proxy's URL, any password masked.
    pub shown: String,
    /// Where it was set: `[http] proxy`, `HTTPS_PROXY`, …
    pub origin: String,
}

/// Which proxy each request takes: from `[http] proxy`, else from the
/// environment reqwest reads (`http_proxy`/`HTTP_PROXY` for http URLs,
/// `https_proxy`/`HTTPS_PROXY` for https, `ALL_PROXY` for both, `NO_PROXY`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxySetup {
    /// For `http://` URLs.
    pub http: Option<ProxyRoute>,
    /// For `https://` URLs.
    pub https: Option<ProxyRoute>,
    /// Hosts that bypass the proxy.
    pub bypass: Vec<String>,
}

impl ProxySetup {
    /// The proxy `url` goes through, if any.
    pub fn route_for(&self, url: &url::Url) -> Option<&ProxyRoute> {
        let host = url
            .host_str()?
            .trim_start_matches('[')
            .trim_end_matches(']');
        if self.bypass.iter().any(|entry| bypasses(entry, host)) {
            return None;
        }
        match url.scheme() {
            "https" => self.https.as_ref(),
            _ => self.http.as_ref(),
        }
    }

    /// One line for `check` and `herald config`.
    pub fn describe(&self) -> String {
        let bypass = if self.bypass.is_empty() {
            String::new()
        } else {
            format!("; direct for: {}", self.bypass.join(", "))
        };
        match (&self.http, &self.https) {
            (None, None) => "none (set [http] proxy, or HTTPS_PROXY in the environment)".to_owned(),
            (Some(a), Some(b)) if a == b => format!("{} (from {}){bypass}", a.shown, a.origin),
            (http, https) => {
                let one = |route: &Option<ProxyRoute>| {
                    route.as_ref().map_or_else(
                        || "direct".to_owned(),
                        |r| format!("{} (from {})", r.shown, r.origin),
                    )
                };
                format!("https via {}, http via {}{bypass}", one(https), one(http))
            }
        }
    }
}

/// Whether a `no_proxy` entry covers `host`, as curl reads it.
fn bypasses(entry: &str, host: &str) -> bool {
    let entry = entry.trim().trim_start_matches('.');
    let entry = entry.split_once(':').map_or(entry, |(name, _)| name);
    entry == "*"
        || host.eq_ignore_ascii_case(entry)
        || host
            .to_ascii_lowercase()
            .ends_with(&format!(".{}", entry.to_ascii_lowercase()))
}

/// `url` with its password masked, for messages.
fn shown(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => url.to_owned(),
    }
}

impl ClientSettings {
    /// The proxies in effect, and where each came from.
    pub fn proxy_setup(&self) -> ProxySetup {
        if let Some(proxy) = &self.proxy {
            let route = ProxyRoute {
                shown: shown(proxy),
                origin: "[http] proxy".to_owned(),
            };
            return ProxySetup {
                http: Some(route.clone()),
                https: Some(route),
                bypass: self.no_proxy.clone(),
            };
        }
        let env = |names: &[&'static str]| {
            names.iter().find_map(|name| {
                std::env::var(name)
                    .ok()
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| ProxyRoute {
                        shown: shown(v.trim()),
                        origin: (*name).to_owned(),
                    })
            })
        };
        let bypass = ["no_proxy", "NO_PROXY"]
            .iter()
            .find_map(|name| std::env::var(name).ok())
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|e| !e.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        ProxySetup {
            // reqwest ignores HTTP_PROXY under CGI (REQUEST_METHOD set);
            // herald is no CGI program, so both spellings count.
            http: env(&["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]),
            https: env(&["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]),
            bypass,
        }
    }

    /// The retry settings as the fetcher takes them.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            retries: self.retries,
            initial: self.backoff_initial,
            max: self.backoff_max,
        }
    }
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_max_body_bytes() -> u64 {
    10 * 1024 * 1024
}
fn default_retries() -> u32 {
    2
}
fn default_backoff_initial() -> Duration {
    Duration::from_millis(500)
}
fn default_backoff_max() -> Duration {
    Duration::from_secs(30)
}
fn default_per_host_concurrency() -> usize {
    4
}
fn default_user_agent() -> String {
    let version = env!("CARGO_PKG_VERSION");
    match env!("CARGO_PKG_REPOSITORY") {
        "" => format!("herald/{version}"),
        repository => format!("herald/{version} (+{repository})"),
    }
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            timeout: default_timeout(),
            connect_timeout: default_connect_timeout(),
            max_body_bytes: default_max_body_bytes(),
            user_agent: default_user_agent(),
            retries: default_retries(),
            backoff_initial: default_backoff_initial(),
            backoff_max: default_backoff_max(),
            per_host_concurrency: default_per_host_concurrency(),
            allow_private_networks: false,
            resolve: BTreeMap::new(),
            proxy: None,
            no_proxy: Vec::new(),
            ca_file: None,
        }
    }
}
