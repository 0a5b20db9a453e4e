//! The shared HTTP client and its failure vocabulary.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT, CACHE_CONTROL, CONTENT_TYPE, ETAG, EXPIRES, HeaderValue, IF_MODIFIED_SINCE,
    IF_NONE_MATCH, LAST_MODIFIED, LOCATION, RETRY_AFTER,
};
use std::collections::HashMap;
use std::sync::Arc;

use url::Url;

use super::guard::{self, GuardedResolver};
use super::{ClientSettings, ProxySetup};

use crate::model::http::{FetchRequest, Header, ServerHint, Validators};

/// Which of [`HttpClient`]'s clients fetches `url` for a source that is
/// `trusted` (private addresses allowed).
fn client_slot(trusted: bool, url: &Url) -> usize {
    usize::from(trusted) * 2 + usize::from(url.scheme() == "https")
}

/// What a reqwest client is built from (cheap to keep, slow to build).
#[derive(Debug)]
struct ClientRecipe {
    user_agent: HeaderValue,
    timeout: Duration,
    connect_timeout: Duration,
    /// `http.resolve`: host names pinned to addresses.
    pins: Arc<HashMap<String, std::net::IpAddr>>,
    /// `[http] proxy` and `no_proxy`; `None` leaves reqwest reading the
    /// environment's proxies.
    proxy: Option<(String, Vec<String>)>,
    /// `[http] ca_file`: extra roots, read when a TLS client is built.
    ca_file: Option<std::path::PathBuf>,
}

impl ClientRecipe {
    /// Builds a client; blocking when `tls` (it reads the system's
    /// certificates). A client without `tls` trusts no certificate at all
    /// and is only ever given `http` URLs.
    fn build(&self, block_private: bool, tls: bool) -> Result<reqwest::Client, FetchError> {
        let mut builder = if tls {
            reqwest::Client::builder()
        } else {
            reqwest::Client::builder().tls_certs_only(std::iter::empty())
        };
        if let (true, Some(path)) = (tls, &self.ca_file) {
            let roots = read_ca_file(path)
                .map_err(|why| FetchError::Other(format!("http.ca_file: {why}")))?;
            builder = builder.tls_certs_merge(roots);
        }
        // The proxy's own name may resolve to a private address (it usually
        // does, in an office): the operator chose it, so it is exempt.
        let mut exempt = None;
        if let Some((url, bypass)) = &self.proxy {
            let proxy = reqwest::Proxy::all(url.as_str())
                .map_err(|e| FetchError::Other(format!("http.proxy: {}", root_cause(&e))))?
                .no_proxy(reqwest::NoProxy::from_string(&bypass.join(",")));
            exempt = url::Url::parse(url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
            builder = builder.proxy(proxy);
        }
        builder
            .user_agent(self.user_agent.clone())
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(GuardedResolver {
                block_private,
                pins: Arc::clone(&self.pins),
                exempt,
            })
            .build()
            .map_err(|e| FetchError::Other(root_cause(&e)))
    }
}

/// The root certificates in the PEM file `path` (`[http] ca_file`).
///
/// # Errors
/// The file cannot be read or holds no certificate, said with its path.
pub fn read_ca_file(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        _ => Err(format!(
            "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        )),
    }
}

/// Why a request produced no usable body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The whole request (body included) took longer than `[http] timeout`.
    #[error("request timed out after {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    /// The host name did not resolve.
    #[error("DNS lookup failed for {host}: {reason}")]
    Dns {
        /// The host.
        host: String,
        /// The resolver's reason.
        reason: String,
    },
    /// No connection (refused, reset, TLS failure).
    #[error("connection failed: {0}")]
    Connect(String),
    /// The proxy in the way failed (refused, unreachable, or it refused the
    /// tunnel): named, so nobody hunts for a fault at the site.
    #[error("proxy {proxy} (from {origin}) failed: {reason}")]
    Proxy {
        /// The proxy, any password masked.
        proxy: String,
        /// `[http] proxy` or the environment variable that set it.
        origin: String,
        /// What went wrong.
        reason: String,
    },
    /// An answer other than 2xx or 304.
    #[error("HTTP {status}{}", .reason.map(|r| format!(" {r}")).unwrap_or_default())]
    Status {
        /// The status code.
        status: u16,
        /// Its canonical reason phrase.
        reason: Option<&'static str>,
        /// How long the server asked us to wait: `Retry-After` (429, 503,
        /// a 403 secondary rate limit) or the time to a rate limit's reset.
        retry_after: Option<Duration>,
        /// A rate limit (429, or a 403 that says it is one): a wait, not a
        /// failure of the source.
        rate_limited: bool,
        /// The start of the answer's body (at most 16 KiB), where APIs
        /// explain their errors.
        body: Option<Bytes>,
    },
    /// A redirect herald will not follow (loop, too many, bad scheme, private).
    #[error("redirect refused: {0}")]
    Redirect(String),
    /// The address is in a private network and the source may not go there.
    #[error("blocked: {0}")]
    Blocked(String),
    /// The decompressed body passed `max_body_bytes`.
    #[error("body exceeds max_body_bytes ({limit} bytes)")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// Anything else the HTTP stack reported.
    #[error("request failed: {0}")]
    Other(String),
}

/// How much of an error answer's body is read: enough for any API's JSON
/// explanation, never a whole error page.
const ERROR_BODY_MAX: usize = 16 * 1024;

impl FetchError {
    /// A bare status answer (tests, and statuses without more to say).
    pub fn http(status: u16) -> FetchError {
        FetchError::Status {
            status,
            reason: StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason()),
            retry_after: None,
            rate_limited: false,
            body: None,
        }
    }

    /// Whether the server said "slow down" rather than "broken".
    pub fn is_rate_limit(&self) -> bool {
        matches!(
            self,
            FetchError::Status {
                rate_limited: true,
                ..
            }
        )
    }

    /// The HTTP status that came with the failure, if any.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            FetchError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// How long the server asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// `Cache-Control: max-age` (unless `no-cache`/`no-store`), else `Expires`.
fn freshness(headers: &reqwest::header::HeaderMap) -> Option<ServerHint> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(control) = text(CACHE_CONTROL) {
        let directives: Vec<String> = control
            .split(',')
            .map(|d| d.trim().to_ascii_lowercase())
            .collect();
        if directives
            .iter()
            .any(|d| d == "no-cache" || d == "no-store")
        {
            return None;
        }
        if let Some(age) = directives.iter().find_map(|d| {
            d.strip_prefix("max-age=")?
                .trim_matches('"')
                .parse::<u64>()
                .ok()
        }) {
            return (age > 0).then(|| ServerHint {
                wait: Duration::from_secs(age),
                reason: format!("max-age {age}"),
            });
        }
    }
    let expires = httpdate::parse_http_date(text(EXPIRES)?).ok()?;
    let wait = expires.duration_since(std::time::SystemTime::now()).ok()?;
    Some(ServerHint {
        wait,
        reason: "Expires".to_owned(),
    })
}

/// Whether an error answer is a rate limit, and how long to wait: 429 is
/// one; so is a 403 that says so, as GitHub's does (`x-ratelimit-remaining:
/// 0` with `x-ratelimit-reset`, or a secondary limit with `Retry-After`).
/// A 503's `Retry-After` is kept as a wait without being a rate limit.
fn rate_limit(status: u16, headers: &reqwest::header::HeaderMap) -> (bool, Option<Duration>) {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let retry_after = text(RETRY_AFTER.as_str()).and_then(super::retry::parse_retry_after);
    let exhausted = text("x-ratelimit-remaining").is_some_and(|v| v.trim() == "0");
    let reset = text("x-ratelimit-reset")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|epoch| {
            (std::time::UNIX_EPOCH + Duration::from_secs(epoch))
                .duration_since(std::time::SystemTime::now())
                .unwrap_or(Duration::ZERO)
        });
    match status {
        429 => (true, retry_after.or(reset.filter(|_| exhausted))),
        403 if exhausted => (true, reset.or(retry_after)),
        403 if retry_after.is_some() => (true, retry_after),
        503 => (false, retry_after),
        _ => (false, None),
    }
}

/// Redirects followed before giving up (browsers and curl use similar limits).
pub const MAX_REDIRECTS: usize = 10;

/// A 2xx (body read in full) or 304 (no body) response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// 2xx or 304.
    pub status: u16,
    /// Where the body came from, after redirects.
    pub final_url: Url,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The body, decompressed (empty for a 304).
    pub body: Bytes,
    /// The validators to send next time.
    pub validators: Validators,
    /// Where a chain of permanent redirects (301, 308) from the requested
    /// URL ended, so the next fetch can go there directly.
    pub moved_to: Option<Url>,
    /// `Cache-Control: max-age` or `Expires`, if the server gave one.
    pub freshness: Option<ServerHint>,
}

impl HttpResponse {
    /// A 304: the copy we have is current.
    pub fn not_modified(&self) -> bool {
        self.status == 304
    }
}

/// One request and its answer, as `herald fetch --explain` shows them.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The URL requested at this hop.
    pub url: Url,
    /// Headers herald set: `(name, value, sensitive)`; sensitive values
    /// (credentials) are for redaction, never for printing.
    pub request_headers: Vec<(String, String, bool)>,
    /// The answer's status (`None`: no answer).
    pub status: Option<u16>,
    /// The answer's headers, as received.
    pub response_headers: Vec<(String, String)>,
}

/// One `reqwest::Client` for the whole process: it pools connections, so a
/// round over many feeds on one host reuses them.
///
/// Four reqwest clients: for sources whose configured URL is public
/// (private addresses refused) or private (or when private networks are
/// allowed), each for plain `http` and for `https`. Each is built on first
/// use (or by [`HttpClient::warm_up`]) on the blocking pool: a TLS client
/// loads the system's trusted certificates, milliseconds of file reading
/// that must neither stall the runtime nor be paid when no URL needs TLS.
/// Redirects are followed by hand, so each hop takes the client its scheme
/// needs.
#[derive(Debug, Clone)]
pub struct HttpClient {
    /// Indexed by [`client_slot`].
    clients: Arc<[tokio::sync::OnceCell<reqwest::Client>; 4]>,
    /// What they are built from.
    recipe: Arc<ClientRecipe>,
    allow_private: bool,
    timeout: Duration,
    user_agent: String,
    max_body_bytes: u64,
    /// Which proxy each URL goes through, to name it in errors.
    proxies: Arc<ProxySetup>,
}

impl HttpClient {
    /// Builds the client from `[http]`. Redirects are followed by hand in
    /// [`HttpClient::get`], so each hop can be checked.
    ///
    /// # Errors
    /// The TLS backend or the resolver cannot be set up.
    pub fn new(http: &ClientSettings) -> Result<Self, FetchError> {
        let recipe = ClientRecipe {
            user_agent: HeaderValue::from_str(&http.user_agent).map_err(|_| {
                FetchError::Other("http.user_agent has characters HTTP does not allow".to_owned())
            })?,
            timeout: http.timeout,
            connect_timeout: http.connect_timeout,
            pins: Arc::new(
                http.resolve
                    .iter()
                    .map(|(host, ip)| (host.to_ascii_lowercase(), *ip))
                    .collect(),
            ),
            proxy: http
                .proxy
                .as_ref()
                .map(|proxy| (proxy.clone(), http.no_proxy.clone())),
            ca_file: http.ca_file.clone(),
        };
        Ok(HttpClient {
            proxies: Arc::new(http.proxy_setup()),
            clients: Arc::default(),
            recipe: Arc::new(recipe),
            allow_private: http.allow_private_networks,
            timeout: http.timeout,
            user_agent: http.user_agent.clone(),
            max_body_bytes: http.max_body_bytes,
        })
    }

    /// Starts building, in the background, the client each of `urls` will
    /// be fetched with, so that the first request does not wait for it.
    /// Must be called inside the runtime.
    pub fn warm_up<'u>(&self, urls: impl IntoIterator<Item = &'u Url>) {
        let mut wanted = [false; 4];
        for url in urls {
            wanted[client_slot(self.trusted(url), url)] = true;
        }
        for (slot, wanted) in wanted.into_iter().enumerate() {
            if wanted {
                let client = self.clone();
                tokio::spawn(async move {
                    // A failure here is reported by the first request.
                    let _ = client.client_in(slot).await;
                });
            }
        }
    }

    /// Whether `url` is fetched with private addresses allowed.
    fn trusted(&self, url: &Url) -> bool {
        self.allow_private || guard::is_private_origin(url)
    }

    /// The client in `slot` (see [`client_slot`]), built once.
    async fn client_in(&self, slot: usize) -> Result<&reqwest::Client, FetchError> {
        let trusted = slot & 2 != 0;
        let tls = slot & 1 != 0;
        let block_private = !trusted && !self.allow_private;
        self.clients[slot]
            .get_or_try_init(|| {
                let recipe = Arc::clone(&self.recipe);
                async move {
                    tokio::task::spawn_blocking(move || recipe.build(block_private, tls))
                        .await
                        .map_err(|e| FetchError::Other(format!("building the HTTP client: {e}")))?
                }
            })
            .await
    }

    /// GETs `request`, following redirects, sending `validators` as
    /// `If-None-Match` / `If-Modified-Since`. Fails on statuses other than
    /// 2xx and 304, and on bodies over the limit.
    ///
    /// Each redirect hop is checked: at most [`MAX_REDIRECTS`], http(s) only,
    /// no loops, and credential headers are dropped when the host changes
    /// (a key for one API must never be handed to another server).
    ///
    /// # Errors
    /// A [`FetchError`] naming why no usable body came back.
    pub async fn get(
        &self,
        request: &FetchRequest,
        validators: Option<&Validators>,
    ) -> Result<HttpResponse, FetchError> {
        self.get_traced(request, validators, None).await
    }

    /// As [`HttpClient::get`], recording every hop's headers in `trace`.
    ///
    /// # Errors
    /// As [`HttpClient::get`].
    pub async fn get_traced(
        &self,
        request: &FetchRequest,
        validators: Option<&Validators>,
        mut trace: Option<&mut Vec<Exchange>>,
    ) -> Result<HttpResponse, FetchError> {
        let mut url = request.url.clone();
        let trusted = self.trusted(&url);
        let mut visited = vec![url.clone()];
        let mut send_credentials = true;
        let mut moved_to = None;
        let mut permanent_so_far = true;
        let mut response = loop {
            let response = self
                .send(
                    self.client_in(client_slot(trusted, &url)).await?,
                    request,
                    &url,
                    validators,
                    send_credentials,
                    trace.as_deref_mut(),
                )
                .await?;
            let status = response.status();
            if let Some(exchange) = trace.as_deref_mut().and_then(|t| t.last_mut()) {
                exchange.status = Some(status.as_u16());
                exchange.response_headers = response
                    .headers()
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.as_str().to_owned(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect();
            }
            if !status.is_redirection() || status == StatusCode::NOT_MODIFIED {
                break response;
            }
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    FetchError::Redirect(format!(
                        "HTTP {} without a Location header",
                        status.as_u16()
                    ))
                })?;
            let next = url
                .join(location)
                .map_err(|e| FetchError::Redirect(format!("bad Location header: {e}")))?;
            if !matches!(next.scheme(), "http" | "https") {
                return Err(FetchError::Redirect(format!("to a {}: URL", next.scheme())));
            }
            if let Some(ip) = guard::private_literal(&next).filter(|_| !trusted) {
                return Err(FetchError::Redirect(format!(
                    "to a private address ({ip}); set http.allow_private_networks = true to allow it"
                )));
            }
            if visited.contains(&next) {
                return Err(FetchError::Redirect("redirect loop".into()));
            }
            if visited.len() > MAX_REDIRECTS {
                return Err(FetchError::Redirect(format!(
                    "more than {MAX_REDIRECTS} redirects"
                )));
            }
            permanent_so_far &= matches!(
                status,
                StatusCode::MOVED_PERMANENTLY | StatusCode::PERMANENT_REDIRECT
            );
            if permanent_so_far {
                moved_to = Some(next.clone());
            }
            if next.host_str() != url.host_str()
                || next.port_or_known_default() != url.port_or_known_default()
            {
                send_credentials = false;
            }
            visited.push(next.clone());
            url = next;
        };
        let status = response.status();
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let validators = Validators {
            etag: header(ETAG),
            last_modified: header(LAST_MODIFIED),
        };
        let fresh = freshness(response.headers());
        if status == StatusCode::NOT_MODIFIED {
            return Ok(HttpResponse {
                status: 304,
                final_url: url,
                content_type: None,
                body: Bytes::new(),
                validators,
                moved_to,
                freshness: fresh,
            });
        }
        if !status.is_success() {
            let (rate_limited, retry_after) = rate_limit(status.as_u16(), response.headers());
            // APIs explain errors in the body: keep its start.
            let mut body = BytesMut::new();
            while body.len() < ERROR_BODY_MAX {
                match response.chunk().await {
                    Ok(Some(chunk)) => {
                        let room = ERROR_BODY_MAX - body.len();
                        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    }
                    Ok(None) | Err(_) => break,
                }
            }
            return Err(FetchError::Status {
                status: status.as_u16(),
                reason: status.canonical_reason(),
                retry_after,
                rate_limited,
                body: (!body.is_empty()).then(|| body.freeze()),
            });
        }
        let limit = self.max_body_bytes;
        // Content-Length can lie or be absent, so this is only a fast path;
        // the loop below counts what actually arrives (after decompression).
        if response.content_length().is_some_and(|len| len > limit) {
            return Err(FetchError::TooLarge { limit });
        }
        let content_type = header(CONTENT_TYPE);
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
            final_url: url,
            content_type,
            body: body.freeze(),
            validators,
            moved_to,
            freshness: fresh,
        })
    }

    async fn send(
        &self,
        client: &reqwest::Client,
        request: &FetchRequest,
        url: &Url,
        validators: Option<&Validators>,
        with_credentials: bool,
        trace: Option<&mut Vec<Exchange>>,
    ) -> Result<reqwest::Response, FetchError> {
        let mut builder = client.get(url.clone()).header(ACCEPT, request.accept);
        // What was sent, kept only when someone asked to see it.
        let mut sent = Vec::new();
        let mut note = |name: &str, value: &str, sensitive: bool| {
            if trace.is_some() {
                sent.push((name.to_owned(), value.to_owned(), sensitive));
            }
        };
        note("User-Agent", &self.user_agent, false);
        note("Accept", request.accept, false);
        for header in &request.headers {
            let (name, value, sensitive) = match header {
                Header::Plain(name, value) => (*name, value.as_str(), false),
                Header::Credential(_, _) if !with_credentials => continue,
                Header::Credential(name, secret) => (*name, secret.expose(), true),
            };
            note(name, value, sensitive);
            let mut value = HeaderValue::from_str(value).map_err(|_| {
                FetchError::Other(format!("header {name} has characters HTTP does not allow"))
            })?;
            // Sensitive values are left out of reqwest's and hyper's Debug output.
            value.set_sensitive(sensitive);
            builder = builder.header(name, value);
        }
        if let Some(v) = validators {
            if let Some(etag) = &v.etag {
                builder = builder.header(IF_NONE_MATCH, etag);
                note("If-None-Match", etag, false);
            }
            if let Some(date) = &v.last_modified {
                builder = builder.header(IF_MODIFIED_SINCE, date);
                note("If-Modified-Since", date, false);
            }
        }
        if let Some(trace) = trace {
            trace.push(Exchange {
                url: url.clone(),
                request_headers: sent,
                status: None,
                response_headers: Vec::new(),
            });
        }
        builder.send().await.map_err(|e| self.classify(&e))
    }

    fn classify(&self, error: &reqwest::Error) -> FetchError {
        if error.is_timeout() {
            FetchError::Timeout(self.timeout)
        } else if error.is_connect() {
            let cause = root_cause(error);
            if cause.contains("resolves to a private address") {
                return FetchError::Blocked(cause);
            }
            if let Some(route) = error.url().and_then(|url| self.proxies.route_for(url)) {
                return FetchError::Proxy {
                    proxy: route.shown.clone(),
                    origin: route.origin.clone(),
                    reason: cause,
                };
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).expect("test URL")
    }

    /// The client without TLS trusts no certificate: an https URL, first
    /// hop or redirect, must always get a TLS client.
    #[test]
    fn every_https_url_gets_a_tls_client_and_only_those_skip_tls() {
        for trusted in [false, true] {
            let https = client_slot(trusted, &url("https://news.example/feed"));
            let http = client_slot(trusted, &url("http://news.example/feed"));
            assert_eq!(https & 1, 1, "https → TLS client");
            assert_eq!(http & 1, 0, "http → plain client");
            assert_eq!(https & 2 != 0, trusted);
            assert_eq!(http & 2 != 0, trusted);
        }
    }
}
