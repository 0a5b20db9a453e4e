//! A mock news server on 127.0.0.1, for `herald bench` and the tests.
//!
//! Routes answer with a fixed status, headers and body after a fixed delay;
//! the server records every request (path, headers, arrival time) and the
//! largest number of requests it was serving at once, which is how the tests
//! prove that fetches really run concurrently and really respect a cap.
//! It binds port 0 and never reaches beyond loopback.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What a route answers.
#[derive(Debug, Clone)]
pub struct MockResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Waited before answering: the simulated latency of a real server.
    pub delay: Duration,
    /// Send the body one byte at a time, this far apart (a slow-drip server).
    pub drip: Option<Duration>,
}

impl MockResponse {
    /// 200 with `body` and a content type.
    pub fn ok(content_type: &str, body: impl Into<Bytes>) -> Self {
        MockResponse {
            status: 200,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
            delay: Duration::ZERO,
            drip: None,
        }
    }

    /// An empty response with `status`.
    pub fn status(status: u16) -> Self {
        MockResponse {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
            delay: Duration::ZERO,
            drip: None,
        }
    }

    /// The same answer with another status.
    pub fn status_code(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// Answers after `delay`.
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Sends the body one byte every `interval`.
    pub fn dripping(mut self, interval: Duration) -> Self {
        self.drip = Some(interval);
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub received_at: Instant,
    /// The request body (webhook payloads), read before answering.
    pub body: Bytes,
}

type Fallback = Arc<dyn Fn(&str) -> Option<MockResponse> + Send + Sync>;

#[derive(Default)]
struct State {
    /// Each route answers its responses in turn; the last one repeats.
    routes: Mutex<HashMap<String, (Vec<MockResponse>, usize)>>,
    fallback: Mutex<Option<Fallback>>,
    requests: Mutex<Vec<RecordedRequest>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking test thread must not hide the data from the others.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running mock server; it stops when dropped.
pub struct MockServer {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

/// Decrements the in-flight count however a request ends (answered, or
/// dropped because the client hung up).
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl MockServer {
    /// Starts a server on 127.0.0.1 with an ephemeral port.
    pub async fn start() -> std::io::Result<MockServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State::default());
        let accept_state = Arc::clone(&state);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = Arc::clone(&accept_state);
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(handle(&state, req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(MockServer { addr, state, task })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Serves `response` at `path` (query strings are ignored for matching).
    /// A response with an `etag` header answers 304 to a matching
    /// `If-None-Match`, as real servers do.
    pub fn route(&self, path: &str, response: MockResponse) {
        self.route_sequence(path, vec![response]);
    }

    /// Serves `responses` at `path` one request after another; the last repeats.
    pub fn route_sequence(&self, path: &str, responses: Vec<MockResponse>) {
        lock(&self.state.routes).insert(path.to_owned(), (responses, 0));
    }

    /// Answers paths without a route (return `None` for a 404); lets one
    /// server play thousands of distinct feeds without a table of them.
    pub fn fallback(&self, f: impl Fn(&str) -> Option<MockResponse> + Send + Sync + 'static) {
        *lock(&self.state.fallback) = Some(Arc::new(f));
    }

    /// The most requests that were being served at the same moment.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.requests).clone()
    }

    /// How many requests arrived for `path`.
    pub fn hits(&self, path: &str) -> usize {
        lock(&self.state.requests)
            .iter()
            .filter(|r| r.path == path)
            .count()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<MockBody> {
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    let _guard = InFlight(&state.in_flight);
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let path = req.uri().path().to_owned();
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default();
    lock(&state.requests).push(RecordedRequest {
        path: path.clone(),
        query: parts.uri.query().map(str::to_owned),
        body,
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        received_at: Instant::now(),
    });
    let routed = lock(&state.routes)
        .get_mut(&path)
        .and_then(|(responses, next)| {
            let response = responses
                .get((*next).min(responses.len().saturating_sub(1)))
                .cloned();
            *next += 1;
            response
        });
    let fallback = lock(&state.fallback).clone();
    let mut response = routed
        .or_else(|| fallback.and_then(|f| f(&path)))
        .unwrap_or_else(|| MockResponse::status(404));
    let etag = response
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("etag"))
        .map(|(_, v)| v.clone());
    let if_none_match = parts
        .headers
        .get("if-none-match")
        .and_then(|v| v.to_str().ok());
    if etag.is_some() && etag.as_deref() == if_none_match {
        response.status = 304;
        response.body = Bytes::new();
    }
    if !response.delay.is_zero() {
        tokio::time::sleep(response.delay).await;
    }
    let mut builder = Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(name, value);
    }
    let body: MockBody = match response.drip {
        None => Full::new(response.body)
            .map_err(|never| match never {})
            .boxed(),
        Some(interval) => {
            let bytes = response.body;
            let frames = futures::stream::unfold(0usize, move |at| {
                let bytes = bytes.clone();
                async move {
                    if at >= bytes.len() {
                        return None;
                    }
                    tokio::time::sleep(interval).await;
                    Some((Ok(Frame::data(bytes.slice(at..=at))), at + 1))
                }
            });
            StreamBody::new(frames).boxed()
        }
    };
    builder.body(body).unwrap_or_else(|_| {
        Response::new(
            Full::new(Bytes::from_static(b"bad mock response"))
                .map_err(|never| match never {})
                .boxed(),
        )
    })
}

type MockBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// An RSS 2.0 document with `items` distinct items, the links unique per `feed_id`.
pub fn rss_feed(feed_id: &str, items: usize) -> String {
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>Mock feed {feed_id}</title><link>https://mock.example/{feed_id}</link><description>mock</description>\n"
    );
    for i in 0..items {
        xml.push_str(&format!(
            "<item><title>Story {i} of feed {feed_id}</title><link>https://mock.example/{feed_id}/story/{i}</link><guid>https://mock.example/{feed_id}/story/{i}</guid><pubDate>Sun, 22 Nov 2026 10:{:02}:00 GMT</pubDate><description>Summary of story {i} from feed {feed_id}.</description></item>\n",
            i % 60
        ));
    }
    xml.push_str("</channel></rss>\n");
    xml
}
