//! Per-host politeness: at most `per_host_concurrency` requests in flight
//! to one host (host and port), whichever sources and rounds they belong to.
//!
//! The registry hands out one semaphore per host and lives as long as the
//! process (a reload with a new limit starts a new registry), so twenty
//! feeds on one site or a Hacker News fan-out never burst a single server.
//! Rounds take a host's permit *before* a job enters the shared queue, one
//! task per host, so a job waiting for a busy host never occupies a worker
//! or holds up jobs for other hosts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Semaphore;
use url::Url;

/// Semaphores by host, created on first use.
#[derive(Debug, Clone)]
pub struct HostLimits {
    per_host: usize,
    hosts: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

impl HostLimits {
    /// A registry allowing `per_host` requests in flight per host.
    pub fn new(per_host: usize) -> Self {
        HostLimits {
            per_host: per_host.max(1),
            hosts: Arc::default(),
        }
    }

    /// Requests allowed in flight per host (`per_host_concurrency`).
    pub fn per_host(&self) -> usize {
        self.per_host
    }

    /// The semaphore of `host` (a [`host_key`]).
    pub fn of(&self, host: &str) -> Arc<Semaphore> {
        let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            hosts
                .entry(host.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_host))),
        )
    }
}

/// `host:port`, the unit of politeness.
pub(crate) fn host_key(url: &Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or(0)
    )
}
