//! Behind a corporate proxy: `[http] proxy`, `no_proxy` and `ca_file`,
//! against a small CONNECT proxy and an HTTPS feed server whose certificate
//! comes from a throwaway CA, both started here on 127.0.0.1.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// A forward proxy: `CONNECT host:port` opens a tunnel, an absolute-form
/// `GET http://…` is passed on as is. Every request line is logged.
struct Proxy {
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    async fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::clone(&log);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, Arc::clone(&shared)));
            }
        });
        Proxy { port, log }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn lines(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }
}

async fn relay(mut client: TcpStream, log: Arc<Mutex<Vec<String>>>) {
    // Read the head of the request: enough to route it.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let request_line = text.lines().next().unwrap_or_default().to_owned();
    log.lock().expect("log").push(request_line.clone());
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method == "CONNECT" {
        let Ok(mut upstream) = TcpStream::connect(target).await else {
            let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
            return;
        };
        let _ = client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await;
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    } else {
        let Some(authority) = target
            .strip_prefix("http://")
            .and_then(|rest| rest.split('/').next())
        else {
            return;
        };
        let Ok(mut upstream) = TcpStream::connect(authority).await else {
            return;
        };
        let _ = upstream.write_all(&head).await;
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    }
}

/// A throwaway CA, and an HTTPS server for `localhost` with a certificate
/// it signed, answering every request with an RSS feed of `items` items.
struct TlsFeedServer {
    port: u16,
    ca_pem: String,
}

impl TlsFeedServer {
    async fn start(items: usize) -> TlsFeedServer {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "herald test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA cert");
        let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
        let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .expect("leaf")
            .signed_by(&leaf_key, &ca)
            .expect("leaf cert");
        let key =
            rustls_pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).expect("key der");
        let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
        let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocols")
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone()], key)
            .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind tls");
        let port = listener.local_addr().expect("addr").port();
        let body = rss_feed("tls", items);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let body = body.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let mut head = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/rss+xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(answer.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        TlsFeedServer {
            port,
            ca_pem: ca.pem(),
        }
    }

    fn url(&self) -> String {
        format!("https://localhost:{}/feed.xml", self.port)
    }
}

fn http_section(lines: &str) -> String {
    format!("[http]\nretries = 0\n{lines}\n")
}

#[tokio::test]
async fn feeds_go_through_the_configured_proxy_and_trust_the_extra_ca() {
    let proxy = Proxy::start().await;
    let tls = TlsFeedServer::start(3).await;
    let plain = MockServer::start().await.expect("mock server");
    serve_feed(&plain, "/plain.xml", 2, std::time::Duration::ZERO);
    let sources = [
        feed_source("secure", &tls.url()),
        feed_source("plain", &plain.url("/plain.xml")),
    ];
    let env = TestEnv::new(&format!(
        "{}{}",
        http_section(&format!(
            "proxy = \"{}\"\nca_file = \"ca.pem\"",
            proxy.url()
        )),
        config("", &sources)
    ));
    std::fs::write(env.dir.path().join("ca.pem"), &tls.ca_pem).expect("write CA");

    let check = env.herald(&["check"]).await;
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        text.contains(&format!("proxy: {}/ (from [http] proxy)", proxy.url())),
        "{text}"
    );
    assert!(text.contains("ca.pem"), "{text}");

    let (code, report) = env.once_json().await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(source_line(&report, "secure")["new"], 3, "{report:#}");
    assert_eq!(source_line(&report, "plain")["new"], 2, "{report:#}");
    let lines = proxy.lines();
    assert!(
        lines.contains(&format!("CONNECT localhost:{} HTTP/1.1", tls.port)),
        "https is tunnelled: {lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("GET {} ", plain.url("/plain.xml")))),
        "http is forwarded: {lines:?}"
    );
}

#[tokio::test]
async fn without_the_ca_file_the_certificate_is_refused() {
    let tls = TlsFeedServer::start(1).await;
    let env = TestEnv::new(&format!(
        "{}{}",
        http_section(""),
        config("", &[feed_source("secure", &tls.url())])
    ));
    let (code, report) = env.once_json().await;
    assert_eq!(code, 1, "{report:#}");
    let error = source_line(&report, "secure")["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(error.contains("UnknownIssuer"), "{error}");
}

#[tokio::test]
async fn no_proxy_hosts_go_direct_and_a_dead_proxy_is_named() {
    let proxy = Proxy::start().await;
    let plain = MockServer::start().await.expect("mock server");
    serve_feed(&plain, "/direct.xml", 1, std::time::Duration::ZERO);
    let env = TestEnv::new(&format!(
        "{}{}",
        http_section(&format!(
            "proxy = \"{}\"\nno_proxy = [\"127.0.0.1\"]",
            proxy.url()
        )),
        config("", &[feed_source("direct", &plain.url("/direct.xml"))])
    ));
    let (code, _) = env.once_json().await;
    assert_eq!(code, 0);
    assert!(proxy.lines().is_empty(), "{:?}", proxy.lines());
    assert_eq!(plain.hits("/direct.xml"), 1);

    // Nothing listens where the proxy should be: the error says so.
    let dead = refused_url();
    let dead_proxy = dead.trim_end_matches("/feed.xml");
    let env = TestEnv::new(&format!(
        "{}{}",
        http_section(&format!("proxy = \"{dead_proxy}\"")),
        config("", &[feed_source("behind", &plain.url("/direct.xml"))])
    ));
    let (code, report) = env.once_json().await;
    assert_eq!(code, 1);
    let error = source_line(&report, "behind")["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        error.starts_with(&format!("proxy {dead_proxy}/ (from [http] proxy) failed: ")),
        "{error}"
    );
    assert_eq!(
        plain.hits("/direct.xml"),
        1,
        "the feed itself was never reached"
    );
}

#[tokio::test]
async fn a_bad_proxy_or_ca_file_is_refused_with_its_line() {
    let env = TestEnv::new(&http_section(
        "proxy = \"proxy.example:3128\"\nca_file = \"missing.pem\"",
    ));
    let output = env.herald(&["check"]).await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(":3") && stderr.contains("http.proxy"),
        "{stderr}"
    );
    assert!(
        stderr.contains(":4") && stderr.contains("http.ca_file") && stderr.contains("missing.pem"),
        "{stderr}"
    );
}
