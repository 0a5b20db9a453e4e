//! The shared HTTP client and its failure vocabulary.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use url::Url;

use crate::config::HttpConfig;
use crate::sources::{FetchRequest, Header};

/// Why a request produced no usable body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("request timed out after {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    #[error("DNS lookup failed for {host}: {reason}")]
    Dns { host: String, reason: String },
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("HTTP {status}{}", .reason.map(|r| format!(" {r}")).unwrap_or_default())]
    Status {
        status: u16,
        reason: Option<&'static str>,
    },
    #[error("body exceeds max_body_bytes ({limit} bytes)")]
    TooLarge { limit: u64 },
    #[error("request failed: {0}")]
    Other(String),
}

impl FetchError {
    /// The HTTP status that came with the failure, if any.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            FetchError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A 2xx response with its body read in full.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub final_url: Url,
    pub content_type: Option<String>,
    pub body: Bytes,
}

/// One `reqwest::Client` for the whole process: it pools connections, so a
/// round over many feeds on one host reuses them.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    timeout: Duration,
    max_body_bytes: u64,
}

impl HttpClient {
    /// Builds the client from `[http]`.
    pub fn new(http: &HttpConfig) -> Result<Self, FetchError> {
        let inner = reqwest::Client::builder()
            .user_agent(http.user_agent.as_str())
            .timeout(http.timeout)
            .connect_timeout(http.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| FetchError::Other(root_cause(&e)))?;
        Ok(HttpClient {
            inner,
            timeout: http.timeout,
            max_body_bytes: http.max_body_bytes,
        })
    }

    /// GETs `request`, failing on non-2xx statuses and on bodies over the limit.
    pub async fn get(&self, request: &FetchRequest) -> Result<HttpResponse, FetchError> {
        let mut builder = self
            .inner
            .get(request.url.clone())
            .header(ACCEPT, request.accept);
        for header in &request.headers {
            let (name, value, sensitive) = match header {
                Header::Plain(name, value) => (*name, value.as_str(), false),
                Header::Credential(name, secret) => (*name, secret.expose(), true),
            };
            let mut value = HeaderValue::from_str(value).map_err(|_| {
                FetchError::Other(format!("header {name} has characters HTTP does not allow"))
            })?;
            // Sensitive values are left out of reqwest's and hyper's Debug output.
            value.set_sensitive(sensitive);
            builder = builder.header(name, value);
        }
        let mut response = builder.send().await.map_err(|e| self.classify(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status {
                status: status.as_u16(),
                reason: status.canonical_reason(),
            });
        }
        let limit = self.max_body_bytes;
        // Content-Length can lie or be absent, so this is only a fast path;
        // the loop below counts what actually arrives (after decompression).
        if response.content_length().is_some_and(|len| len > limit) {
            return Err(FetchError::TooLarge { limit });
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let final_url = response.url().clone();
        let capacity = response.content_length().unwrap_or(64 * 1024).min(limit);
        let mut body = BytesMut::with_capacity(usize::try_from(capacity).unwrap_or(0));
        while let Some(chunk) = response.chunk().await.map_err(|e| self.classify(&e))? {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(FetchError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse {
            status: status.as_u16(),
            final_url,
            content_type,
            body: body.freeze(),
        })
    }

    fn classify(&self, error: &reqwest::Error) -> FetchError {
        if error.is_timeout() {
            FetchError::Timeout(self.timeout)
        } else if error.is_connect() {
            let cause = root_cause(error);
            match cause.strip_prefix("failed to lookup address information: ") {
                Some(reason) => FetchError::Dns {
                    host: error
                        .url()
                        .and_then(|u| u.host_str())
                        .unwrap_or("?")
                        .to_owned(),
                    reason: reason.to_owned(),
                },
                None => FetchError::Connect(cause),
            }
        } else {
            FetchError::Other(root_cause(error))
        }
    }
}

/// The innermost cause: "Connection refused (os error 111)" says more than
/// "error sending request", and it never carries the URL (which may hold a key).
fn root_cause(error: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    let text = cause.to_string();
    if std::ptr::addr_eq(cause, error) {
        // No inner cause: reqwest's own text, without the URL.
        let mut bare = error.to_string();
        if let Some(url) = error.url() {
            bare = bare
                .replace(&format!(" ({url})"), "")
                .replace(url.as_str(), "<url>");
        }
        return bare;
    }
    text
}
