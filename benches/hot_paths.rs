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

/// Words for realistic titles and summaries: the full-text index's cost
/// grows with the words it is given.
const WORDS: &[&str] = &[
    "canal",
    "reactor",
    "tariff",
    "satellite",
    "signal",
    "rally",
    "market",
    "strike",
    "quantum",
    "railway",
    "border",
    "summit",
    "chip",
    "compiler",
    "kernel",
    "treaty",
    "protocol",
    "pipeline",
    "glacier",
    "vote",
    "storm",
    "startup",
    "league",
    "orbit",
    "audit",
    "climate",
    "museum",
    "vaccine",
    "forest",
    "ferry",
    "drought",
    "virus",
    "rocket",
    "minister",
    "festival",
    "island",
    "merger",
    "harbor",
    "river",
    "election",
    "opera",
    "archive",
];

/// `count` words picked deterministically from `seed`.
fn words(seed: usize, count: usize) -> String {
    (0..count)
        .map(|i| WORDS[(seed * 31 + i * 17 + i * i) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

/// One feed's worth of articles as the bench mock serves them: a 6-word
/// title and a 25-word summary (about 200 bytes).
fn realistic_fetch(feed: usize, items: usize) -> FetchOutcome {
    let now = Utc::now();
    let articles = (0..items)
        .map(|i| {
            let title = format!("Feed {feed} story {i}: {}", words(feed + i, 5));
            Article {
                fingerprint: fingerprint(&title),
                title,
                url: format!("https://news.example.com/feed/{feed}/item/{i}"),
                published_at: Some(now - chrono::Duration::hours(i as i64)),
                summary: Some(words(feed * 7 + i, 25)),
                author: None,
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
            &format!("s{feed}"),
            FetchStatus::Ok,
            Duration::from_millis(100),
            String::new(),
        )
    }
}

fn storing(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = runtime
        .block_on(Storage::open(
            &dir.path().join("bench.db").into(),
            Role::Once,
        ))
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

    // A wave of a round as it reaches the writer: 100 feeds of 20
    // articles, each its own commit, all queued at once (group commit),
    // into a copy of a database that already holds one round (20,000
    // articles): every sample starts from the same state, so the figure
    // does not drift as the database grows under the benchmark.
    let template = dir.path().join("template.db");
    runtime.block_on(async {
        let storage = Storage::open(&template.clone().into(), Role::Once)
            .await
            .expect("open");
        let round = storage.begin_round("bench", 1000).await.expect("round");
        let pending: Vec<_> = (0..1000)
            .map(|feed| storage.commit_fetch(round, realistic_fetch(feed, 20)))
            .collect();
        for commit in pending {
            commit.await.expect("stored");
        }
        storage.close().await.expect("closed");
    });
    let mut group = c.benchmark_group("writer");
    group.throughput(Throughput::Elements(2000));
    group.sample_size(30);
    group.bench_function("wave_100_feeds_x_20_after_a_round", |b| {
        b.iter_custom(|iterations| {
            let mut spent = Duration::ZERO;
            for iteration in 0..iterations {
                let copy = dir.path().join(format!("wave-{iteration}.db"));
                std::fs::copy(&template, &copy).expect("copy template");
                let storage = runtime
                    .block_on(Storage::open(&copy.clone().into(), Role::Once))
                    .expect("open copy");
                let round = runtime
                    .block_on(storage.begin_round("bench", 100))
                    .expect("round");
                let wave: Vec<FetchOutcome> = (0..100)
                    .map(|feed| realistic_fetch(10_000 + feed, 20))
                    .collect();
                let started = std::time::Instant::now();
                runtime.block_on(async {
                    let pending: Vec<_> = wave
                        .into_iter()
                        .map(|outcome| storage.commit_fetch(round, outcome))
                        .collect();
                    for commit in pending {
                        commit.await.expect("stored");
                    }
                });
                spent += started.elapsed();
                runtime.block_on(storage.close()).expect("closed");
                for suffix in ["", "-wal", "-shm", ".lock"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", copy.display()));
                }
            }
            spent
        })
    });
    group.finish();
}

criterion_group!(benches, parsing, normalising, storing);
criterion_main!(benches);
