//! What a source asks the fetcher for and what comes back, as plain data:
//! the fetcher turns a [`FetchRequest`] into a [`Payload`] without either
//! side knowing the other.

use std::time::Duration;

use url::Url;

use super::secret::Secret;

/// What a source asks the fetcher for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// The URL to GET.
    pub url: Url,
    /// Sent as `Accept`, so servers that negotiate pick the right format.
    pub accept: &'static str,
    /// Extra headers (API versions, credentials).
    pub headers: Vec<Header>,
}

impl FetchRequest {
    /// A plain GET of `url`.
    pub fn get(url: Url, accept: &'static str) -> Self {
        FetchRequest {
            url,
            accept,
            headers: Vec::new(),
        }
    }
}

/// A request header; credential values are [`Secret`]s so they never print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Header {
    /// A header that is safe to show (`X-GitHub-Api-Version`).
    Plain(&'static str, String),
    /// A header carrying a credential: sent, never shown.
    Credential(&'static str, Secret),
}

/// A successful response as a parser sees it.
#[derive(Debug, Clone)]
pub struct Payload {
    /// The body, decompressed, within `max_body_bytes`.
    pub body: bytes::Bytes,
    /// The `Content-Type` header, for its `charset`.
    pub content_type: Option<String>,
    /// Where the body really came from (after redirects): the base for relative links.
    pub url: Url,
}

/// Validators from the last successful fetch, for a conditional GET.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    /// Sent back as `If-None-Match`.
    pub etag: Option<String>,
    /// Sent back as `If-Modified-Since`.
    pub last_modified: Option<String>,
}

impl Validators {
    /// `If-None-Match: "v1", If-Modified-Since: …`, or `None` when there are none.
    pub fn describe(&self) -> Option<String> {
        let parts: Vec<String> = [
            self.etag.as_ref().map(|e| format!("If-None-Match: {e}")),
            self.last_modified
                .as_ref()
                .map(|d| format!("If-Modified-Since: {d}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// The longest a server's hint may delay a source: a `max-age` of a year
/// must not silence a feed for a year.
pub const MAX_HINT_WAIT: Duration = Duration::from_secs(24 * 3600);

/// A server's word on when to come back, and where it said so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHint {
    /// How long to wait before the next fetch.
    pub wait: Duration,
    /// `max-age 3600`, `Expires`, `ttl 60 min`, `Retry-After 120 s`.
    pub reason: String,
}

impl ServerHint {
    /// The later of two hints (HTTP freshness and the feed's own `<ttl>`).
    pub fn later(a: Option<ServerHint>, b: Option<ServerHint>) -> Option<ServerHint> {
        match (a, b) {
            (Some(a), Some(b)) => Some(if a.wait >= b.wait { a } else { b }),
            (a, b) => a.or(b),
        }
    }
}
