//! Micro-benchmarks of the hot paths: parsing per kind, URL canonicalisation
//! and fingerprinting, and the SQLite writer. `cargo bench`; figures and
//! commands are recorded in docs/performance.md.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use herald::model::article::{Article, ItemDraft, canonical_url, fingerprint};
use herald::model::http::Payload;
use herald::model::outcome::{FetchOutcome, FetchStatus};
use herald::model::source::{Kind, SourceInput};
use herald::sources;
use herald::storage::{Role, Storage};

/// The mock server's feed generator, shared with `herald bench` and the tests.
#[allow(dead_code, reason = "only the feed generator is used here")]
#[path = "../src/cli/bench/mock.rs"]
mod mock;
use mock::rss_feed;
use url::Url;

fn payload(body: String, content_type: &str) -> Payload {
    Payload {
        body: Bytes::from(body),
        content_type: Some(content_type.to_owned()),
        url: Url::parse("https://bench.example/feed").expect("static URL"),
    }
}

fn atom_feed(items: usize) -> String {
    let mut xml = String::from(
        r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:f</id><updated>2026-11-22T10:00:00Z</updated>"#,
    );
    for i in 0..items {
        xml.push_str(&format!(
            r#"<entry><title>Entry {i}</title><link href="https://bench.example/a/{i}"/><id>urn:e:{i}</id><updated>2026-11-22T10:00:00Z</updated><summary>Summary {i}</summary><author><name>Ann</name></author></entry>"#
        ));
    }
    xml + "</feed>"
}

fn json_items(items: usize) -> String {
    let list: Vec<String> = (0..items)
        .map(|i| format!(r#"{{"title":"Story {i}","url":"https://bench.example/j/{i}","published":"2026-11-22T10:00:00Z","summary":"Summary {i}"}}"#))
        .collect();
    format!(r#"{{"data":{{"items":[{}]}}}}"#, list.join(","))
}

fn parsing(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_20_items");
    group.throughput(Throughput::Elements(20));
    let rss = payload(rss_feed("bench", 20), "application/rss+xml");
    group.bench_function("feed_rss2", |b| {
        b.iter(|| sources::feed::parse_feed(black_box(&rss)))
    });
    let atom = payload(atom_feed(20), "application/atom+xml");
    group.bench_function("feed_atom", |b| {
        b.iter(|| sources::feed::parse_feed(black_box(&atom)))
    });
    let options: BTreeMap<String, serde_json::Value> = [
        ("items", "/data/items"),
        ("published", "/published"),
        ("summary", "/summary"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), serde_json::Value::String(v.to_owned())))
    .collect();
    let input = SourceInput {
        name: "bench".into(),
        kind: Kind::Json,
        url: Some("https://bench.example/api".into()),
        limit: None,
        options,
    };
    let json_source = sources::build(&input, &sources::BuildContext::default())
        .expect("valid json source")
        .source;
    let json = payload(json_items(20), "application/json");
    group.bench_function("json_pointers", |b| {
        b.iter(|| json_source.parse(black_box(&json)))
    });
    group.finish();
}

fn normalising(c: &mut Criterion) {
    let url = Url::parse("https://News.Example.com:443/world/2026/11/22/story-title?id=42&utm_source=rss&utm_medium=feed#comments").expect("static URL");
    c.bench_function("canonical_url", |b| {
        b.iter(|| canonical_url(black_box(&url)))
    });
    c.bench_function("fingerprint", |b| {
        b.iter(|| {
            fingerprint(black_box(
                "Rust 2.0 released: what's new in the language, and why it matters",
            ))
        })
    });
    let draft = ItemDraft {
        title: Some("<b>Rust</b> &amp; tokio: a <i>story</i> of async".into()),
        link: Some("/world/story?utm_campaign=x".into()),
        published_at: Some(Utc::now()),
        summary: Some("<p>Some <a href=\"#\">summary</a> text with &eacute;ntities.</p>".into()),
        author: Some("Ann".into()),
        origin: None,
        categories: vec!["World".into(), "Politics".into()],
        enclosure: None,
    };
    let base = Url::parse("https://news.example/feed.xml").expect("static URL");
    c.bench_function("article_from_draft", |b| {
        b.iter(|| Article::from_draft(black_box(&draft), Some(&base), Utc::now()))
    });
}

fn batch(round: usize, size: usize) -> FetchOutcome {
    let now = Utc::now();
    let articles = (0..size)
        .map(|i| {
            let title = format!("Story {i} of batch {round}");
            Article {
                fingerprint: fingerprint(&title),
                title,
                url: format!("https://bench.example/{round}/{i}"),
                published_at: Some(now),
                summary: Some("A summary of reasonable length for a news article.".into()),
                author: Some("Ann".into()),
                origin: None,
                categories: Vec::new(),
                enclosure: None,
            }
        })
        .collect();
    FetchOutcome {
        http_status: Some(200),
        articles,
        error: None,
        ..FetchOutcome::without_response(
            "bench",
            FetchStatus::Ok,
            Duration::from_millis(1),
            String::new(),
        )
    }
}

fn storing(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = runtime
        .block_on(Storage::open(&dir.path().join("bench.db"), Role::Once))
        .expect("open database");
    let round = runtime
        .block_on(storage.begin_round("bench", 1))
        .expect("round");
    let mut next = 0;
    let mut group = c.benchmark_group("writer");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("insert_1000_new_articles", |b| {
        b.iter_batched(
            || {
                next += 1;
                batch(next, 1000)
            },
            |outcome| {
                runtime
                    .block_on(storage.commit_fetch(round, outcome))
                    .expect("stored")
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, parsing, normalising, storing);
criterion_main!(benches);
