//! The feed corpus: every fixture in `tests/feeds/cases/` read by herald's
//! feed reader and cleaned the way a round cleans it, then compared with the
//! expectations written next to it by `tests/feeds/generate.py`.
//!
//! All mismatches are reported together, by fixture name, so one run shows
//! the whole picture rather than the first failure.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{SecondsFormat, Utc};
use herald::model::article::Article;
use herald::model::http::Payload;
use herald::sources::feed;
use serde_json::{Value, json};
use url::Url;

const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/feeds/cases");
const BASE: &str = "https://fixtures.example/feeds/";

/// One fixture: its body and what it should give.
struct Case {
    name: String,
    body: Vec<u8>,
    expected: Value,
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let mut paths: Vec<PathBuf> = fs::read_dir(CASES)
        .expect("tests/feeds/cases exists (python3 tests/feeds/generate.py writes it)")
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| {
            !path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".expected.json"))
        })
        .collect();
    paths.sort();
    for path in paths {
        let name = stem(&path);
        let expected_path = Path::new(CASES).join(format!("{name}.expected.json"));
        let expected: Value = serde_json::from_slice(
            &fs::read(&expected_path).unwrap_or_else(|e| panic!("{name}: no expectation: {e}")),
        )
        .unwrap_or_else(|e| panic!("{name}: expectation is not JSON: {e}"));
        let body = fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        out.push(Case {
            name,
            body,
            expected,
        });
    }
    out
}

fn stem(path: &Path) -> String {
    let file = path
        .file_name()
        .and_then(|n| n.to_str())
        .expect("UTF-8 file name");
    file.rsplit_once('.')
        .map_or(file, |(stem, _)| stem)
        .to_owned()
}

/// An article as the expectations describe it.
fn describe(article: &Article) -> Value {
    json!({
        "title": article.title,
        "link": article.url,
        "published": article
            .published_at
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
        "author": article.author,
        "summary": article.summary,
        "categories": article.categories,
        "enclosure": article.enclosure.as_ref().map(|e| json!({
            "url": e.url,
            "type": e.mime_type,
            "length": e.length,
        })),
    })
}

/// Every way `case` differs from its expectation (empty when it matches).
fn check(case: &Case) -> Vec<String> {
    let mut problems = Vec::new();
    let url = Url::parse(&format!("{BASE}{}", case.name)).expect("fixture URL");
    let payload = Payload {
        body: bytes::Bytes::from(case.body.clone()),
        content_type: case.expected["content_type"].as_str().map(str::to_owned),
        url: url.clone(),
    };
    let result = feed::read(&payload);
    if let Some(want) = case.expected["error"].as_str() {
        match result {
            Ok(feed) => problems.push(format!(
                "expected an error starting {want:?}, read {} items",
                feed.parsed.items.len()
            )),
            Err(err) if !err.to_string().starts_with(want) => {
                problems.push(format!(
                    "error {:?}, expected it to start {want:?}",
                    err.to_string()
                ));
            }
            Err(_) => {}
        }
        return problems;
    }
    let feed = match result {
        Ok(feed) => feed,
        Err(err) => return vec![format!("failed: {err}")],
    };
    let now = Utc::now();
    let articles: Vec<Article> = feed
        .parsed
        .items
        .iter()
        .filter_map(|draft| Article::from_draft(draft, Some(&url), now).ok())
        .collect();
    if let Some(want) = case.expected["items"].as_array() {
        if want.len() == articles.len() {
            for (index, (want, article)) in want.iter().zip(&articles).enumerate() {
                let got = describe(article);
                for (key, want_value) in want.as_object().expect("item is an object") {
                    if got[key.as_str()] != *want_value {
                        problems.push(format!(
                            "item {index} {key}: got {}, expected {want_value}",
                            got[key.as_str()]
                        ));
                    }
                }
            }
        } else {
            let titles: Vec<&str> = articles.iter().map(|a| a.title.as_str()).collect();
            problems.push(format!(
                "{} items {titles:?}, expected {}",
                articles.len(),
                want.len()
            ));
        }
    }
    let warnings = &feed.parsed.warnings;
    if let Some(want) = case.expected["warnings"].as_array() {
        let want: Vec<&str> = want.iter().filter_map(Value::as_str).collect();
        if *warnings != want {
            problems.push(format!("repairs {warnings:?}, expected {want:?}"));
        }
    }
    if let Some(want) = case.expected["warnings_include"].as_array() {
        for part in want.iter().filter_map(Value::as_str) {
            if !warnings.iter().any(|w| w.contains(part)) {
                problems.push(format!("repairs {warnings:?} lack {part:?}"));
            }
        }
    }
    if let Some(want) = case.expected["ttl_minutes"].as_u64() {
        let got = feed.parsed.ttl.map(|ttl| ttl.as_secs() / 60);
        if got != Some(want) {
            problems.push(format!("ttl {got:?} minutes, expected {want}"));
        }
    }
    problems
}

#[test]
fn every_fixture_reads_as_its_expectation_says() {
    let cases = cases();
    assert!(
        cases.len() >= 150,
        "only {} fixtures: regenerate with python3 tests/feeds/generate.py",
        cases.len()
    );
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let problems = check(case);
            (!problems.is_empty())
                .then(|| format!("{}:\n    {}", case.name, problems.join("\n    ")))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} fixtures differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// A fixture nobody reads is a promise nobody checks: every expectation has
/// its feed and every feed its expectation.
#[test]
fn every_fixture_has_an_expectation_and_every_expectation_a_fixture() {
    let mut feeds = Vec::new();
    let mut expectations = Vec::new();
    for entry in fs::read_dir(CASES).expect("cases directory") {
        let path = entry.expect("entry").path();
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
            .to_owned();
        match file.strip_suffix(".expected.json") {
            Some(name) => expectations.push(name.to_owned()),
            None => feeds.push(stem(&path)),
        }
    }
    feeds.sort();
    expectations.sort();
    assert_eq!(feeds, expectations);
}

/// Pieces that have broken feed readers: half references, section markers,
/// entity declarations, byte-order marks, encodings, JSON structure.
const SNIPPETS: &[&[u8]] = &[
    b"&",
    b"&amp",
    b"&#",
    b"&#x110000;",
    b"&#99999999999999999999;",
    b"&nbsp",
    b"<",
    b"</",
    b"</item>",
    b"<item>",
    b"<entry>",
    b"<![CDATA[",
    b"]]>",
    b"<!DOCTYPE r [<!ENTITY a \"&a;&a;\"><!ENTITY b \"&a;\">]>",
    b"<!ENTITY",
    b"xml:base=\"::\"",
    b" xml:base=\"../../../\"",
    b"<content type=\"application/octet-stream\" mode=\"base64\">",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\x00",
    b"\xff",
    b"<?xml version=\"1.0\" encoding=\"utf-16\"?>",
    b"<?xml version=\"1.0\" encoding=\"no-such-charset\"?>",
    b"{",
    b"\"items\":[",
    b"\"\\ud800\"",
    b"<pubDate>Sun, 99 Foo 99999 99:99:99 +9999</pubDate>",
    b"<enclosure url=\"\" length=\"-1\" type=\"\"/>",
];

/// One change to a fixture, its position given as a fraction of the length.
#[derive(Debug, Clone)]
enum Mutation {
    Truncate(f64),
    FlipByte(f64, u8),
    Insert(f64, usize),
    Duplicate(f64, f64),
    Delete(f64, f64),
}

fn mutation() -> impl proptest::strategy::Strategy<Value = Mutation> {
    use proptest::prelude::*;
    prop_oneof![
        (0.0..1.0).prop_map(Mutation::Truncate),
        (0.0..1.0, any::<u8>()).prop_map(|(at, b)| Mutation::FlipByte(at, b)),
        (0.0..1.0, 0..SNIPPETS.len()).prop_map(|(at, s)| Mutation::Insert(at, s)),
        (0.0..1.0, 0.0..1.0).prop_map(|(a, b)| Mutation::Duplicate(a, b)),
        (0.0..1.0, 0.0..1.0).prop_map(|(a, b)| Mutation::Delete(a, b)),
    ]
}

#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]
fn apply(body: &mut Vec<u8>, change: &Mutation) {
    let at = |fraction: f64, len: usize| ((fraction * len as f64) as usize).min(len);
    match *change {
        Mutation::Truncate(f) => body.truncate(at(f, body.len())),
        Mutation::FlipByte(f, byte) => {
            if !body.is_empty() {
                let i = at(f, body.len() - 1);
                body[i] = byte;
            }
        }
        Mutation::Insert(f, snippet) => {
            let i = at(f, body.len());
            body.splice(i..i, SNIPPETS[snippet].iter().copied());
        }
        Mutation::Duplicate(a, b) | Mutation::Delete(a, b) => {
            let (start, end) = (at(a.min(b), body.len()), at(a.max(b), body.len()));
            if matches!(change, Mutation::Duplicate(..)) {
                let copy = body[start..end].to_vec();
                body.splice(end..end, copy);
            } else {
                body.drain(start..end);
            }
        }
    }
}

proptest::proptest! {
    // Short in CI; `HERALD_FUZZ_CASES=20000000 cargo test --release --test feeds
    // mutated` is the long run.
    #![proptest_config(proptest::test_runner::Config {
        cases: std::env::var("HERALD_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(4000),
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    })]

    /// Nothing about feed content may panic: any mutation of any fixture is
    /// read (or refused) and its items cleaned without one.
    #[test]
    fn mutated_fixtures_never_panic(
        which in 0usize..10_000,
        changes in proptest::collection::vec(mutation(), 1..6),
    ) {
        static ALL: std::sync::OnceLock<Vec<Case>> = std::sync::OnceLock::new();
        let all = ALL.get_or_init(cases);
        let case = &all[which % all.len()];
        let mut body = case.body.clone();
        for change in &changes {
            apply(&mut body, change);
        }
        let url = Url::parse(&format!("{BASE}{}", case.name)).expect("fixture URL");
        let payload = Payload {
            body: bytes::Bytes::from(body),
            content_type: case.expected["content_type"].as_str().map(str::to_owned),
            url: url.clone(),
        };
        if let Ok(feed) = feed::read(&payload) {
            for draft in &feed.parsed.items {
                let _ = Article::from_draft(draft, Some(&url), Utc::now());
            }
        }
    }
}
