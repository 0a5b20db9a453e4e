//! `[http]`: how herald talks to other people's servers. The fetcher owns
//! its settings (the config module only validates them), so the client can
//! be built and tested without a config file.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::RetryPolicy;

/// `[http]`: how herald talks to other people's servers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
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
}

impl ClientSettings {
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
        }
    }
}
