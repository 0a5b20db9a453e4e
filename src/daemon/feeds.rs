//! The aggregate served to feed readers: `/feed.atom`, `/feed.json` and
//! `/feed.opml` on the `[server] listen` address, beside `/metrics`.
//!
//! `?source=NAME` and `?tag=TAG` (both repeatable, any of) and `?n=` (1 to
//! 1,000, default 50) select, as `latest` does. Each answer carries an
//! `ETag` (a hash of the document) and a `Last-Modified` (the newest fetch
//! among its items), and a conditional request that matches gets a bodiless
//! 304, so a reader polling every few minutes costs one small query. The
//! database is read on the blocking pool with its own read-only connection,
//! like every read command: serving never touches the writer.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use crate::config::Config;
use crate::export::{self, FeedMeta, Outline};
use crate::model::hash::fnv1a;
use crate::storage::{ArticleFilter, Reader, StoredArticle};

/// Items in a served feed unless `?n=` says otherwise.
const DEFAULT_ITEMS: usize = 50;
/// The most `?n=` may ask for.
const MAX_ITEMS: usize = 1000;

/// What the listener needs to serve feeds: the database, and the config
/// in effect (a reload sends the new one).
#[derive(Debug, Clone)]
pub(crate) struct FeedServer {
    pub database: crate::storage::Location,
    pub config: watch::Receiver<Arc<Config>>,
}

/// One of the served documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Document {
    Atom,
    Json,
    Opml,
    /// `/`: a page linking the others.
    Index,
}

impl Document {
    /// The document at `path`, if it is one.
    pub(crate) fn at(path: &str) -> Option<Document> {
        match path {
            "/feed.atom" => Some(Document::Atom),
            "/feed.json" => Some(Document::Json),
            "/feed.opml" => Some(Document::Opml),
            "/" => Some(Document::Index),
            _ => None,
        }
    }
}

/// A request's conditional headers and where it was addressed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Conditions {
    /// `Host`, for the self links.
    pub host: Option<String>,
    /// `If-None-Match`.
    pub if_none_match: Option<String>,
    /// `If-Modified-Since`.
    pub if_modified_since: Option<String>,
}

/// An answer: status, headers, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Answer {
    fn text(status: u16, body: String) -> Answer {
        Answer {
            status,
            content_type: "text/plain; charset=utf-8",
            headers: Vec::new(),
            body,
        }
    }
}

/// The selection a query string asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Selection {
    sources: Vec<String>,
    tags: Vec<String>,
    items: usize,
}

fn selection(query: Option<&str>) -> Result<Selection, String> {
    let mut selection = Selection {
        sources: Vec::new(),
        tags: Vec::new(),
        items: DEFAULT_ITEMS,
    };
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let values = value.split(',').map(str::trim).filter(|v| !v.is_empty());
        match key.as_ref() {
            "source" => selection.sources.extend(values.map(str::to_owned)),
            "tag" => selection.tags.extend(values.map(str::to_owned)),
            "n" => {
                selection.items = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_ITEMS).contains(n))
                    .ok_or_else(|| format!("n={value}: ask for 1 to {MAX_ITEMS} items"))?;
            }
            other => return Err(format!("unknown parameter {other:?}: use source, tag or n")),
        }
    }
    Ok(selection)
}

impl FeedServer {
    /// Serves `document` for `query`; reads the database on the blocking pool.
    pub(crate) async fn answer(
        &self,
        document: Document,
        query: Option<String>,
        conditions: Conditions,
    ) -> Answer {
        let config = Arc::clone(&self.config.borrow());
        let database = self.database.clone();
        tokio::task::spawn_blocking(move || {
            render(&database, &config, document, query.as_deref(), &conditions)
        })
        .await
        .unwrap_or_else(|e| Answer::text(500, format!("internal error: {e}\n")))
    }
}

/// The whole answer for one request (blocking: it reads SQLite).
fn render(
    database: &crate::storage::Location,
    config: &Config,
    document: Document,
    query: Option<&str>,
    conditions: &Conditions,
) -> Answer {
    let base = format!(
        "http://{}",
        conditions
            .host
            .clone()
            .or_else(|| config.metrics.listen.map(|a| a.to_string()))
            .unwrap_or_else(|| "localhost".to_owned())
    );
    if document == Document::Index {
        return index(&base);
    }
    let selection = match selection(query) {
        Ok(selection) => selection,
        Err(why) => return Answer::text(400, format!("{why}\n")),
    };
    for name in &selection.sources {
        if !config.sources.iter().any(|s| &s.name == name) {
            return Answer::text(404, format!("no source is named {name:?}\n"));
        }
    }
    let mut names = selection.sources.clone();
    if !selection.tags.is_empty() {
        match config.sources_tagged(&selection.tags) {
            Ok(tagged) => names.extend(
                tagged
                    .into_iter()
                    .filter(|n| !selection.sources.contains(n)),
            ),
            Err(why) => return Answer::text(404, format!("{why}\n")),
        }
    }
    let query_text = export::selection_query(&selection.sources, &selection.tags);
    let path = match document {
        Document::Atom => "/feed.atom",
        Document::Json => "/feed.json",
        _ => "/feed.opml",
    };
    let self_url = if query.unwrap_or_default().is_empty() {
        format!("{base}{path}")
    } else {
        format!("{base}{path}?{}", query.unwrap_or_default())
    };
    let title = export::selection_title(&selection.sources, &selection.tags);
    let (body, content_type, last_modified) = if document == Document::Opml {
        let outlines: Vec<Outline> = config
            .sources
            .iter()
            .filter(|s| s.enabled && (names.is_empty() || names.contains(&s.name)))
            .map(|s| Outline {
                text: s.name.clone(),
                xml_url: format!(
                    "{base}/feed.atom?{}",
                    export::selection_query(std::slice::from_ref(&s.name), &[])
                ),
                html_url: None,
                tags: s.tags.clone(),
            })
            .collect();
        (
            export::opml(&format!("{title}: sources"), &outlines),
            "text/x-opml; charset=utf-8",
            None,
        )
    } else {
        let read = Reader::open(database).and_then(|reader| {
            let filter = ArticleFilter {
                limit: selection.items,
                sources: names.clone(),
                since: None,
                same_story_window: config.daemon.same_story_window,
            };
            Ok((reader.latest(&filter)?, reader.newest_fetch()?))
        });
        let (articles, newest) = match read {
            Ok(found) => found,
            Err(e) => return Answer::text(503, format!("cannot read the database: {e}\n")),
        };
        let newest_item = newest_fetch_of(&articles);
        let updated = newest_item
            .clone()
            .or(newest)
            .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned());
        let meta = FeedMeta {
            title,
            id: export::feed_id(&query_text),
            self_url: Some(self_url),
            home_url: Some(format!("{base}/")),
        };
        match document {
            Document::Atom => (
                export::atom(&articles, &meta, &updated),
                "application/atom+xml; charset=utf-8",
                newest_item,
            ),
            _ => (
                format!("{:#}\n", export::json_feed(&articles, &meta)),
                "application/feed+json; charset=utf-8",
                newest_item,
            ),
        }
    };
    conditional(body, content_type, last_modified.as_deref(), conditions)
}

/// The newest `fetched_at` among `articles` (ISO-8601).
fn newest_fetch_of(articles: &[StoredArticle]) -> Option<String> {
    articles.iter().map(|a| a.fetched_at.clone()).max()
}

/// A 200 with validators, or a 304 when the request's validators match.
fn conditional(
    body: String,
    content_type: &'static str,
    last_modified: Option<&str>,
    conditions: &Conditions,
) -> Answer {
    let etag = format!("\"{:016x}\"", fnv1a(body.as_bytes()));
    let modified: Option<SystemTime> = last_modified
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| SystemTime::UNIX_EPOCH + Duration::from_secs(t.timestamp().max(0) as u64));
    let mut headers = vec![
        ("etag", etag.clone()),
        ("cache-control", "max-age=60".to_owned()),
    ];
    if let Some(modified) = modified {
        headers.push(("last-modified", httpdate::fmt_http_date(modified)));
    }
    // If-None-Match wins over If-Modified-Since when both are sent (RFC 9110).
    let not_modified = match (&conditions.if_none_match, &conditions.if_modified_since) {
        (Some(tags), _) => tags
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == etag || t == "*"),
        (None, Some(since)) => match (httpdate::parse_http_date(since), modified) {
            (Ok(since), Some(modified)) => modified <= since,
            _ => false,
        },
        (None, None) => false,
    };
    Answer {
        status: if not_modified { 304 } else { 200 },
        content_type,
        headers,
        body: if not_modified { String::new() } else { body },
    }
}

/// `/`: what is served here, as links.
fn index(base: &str) -> Answer {
    let body = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>herald</title>\n\
         <link rel=\"alternate\" type=\"application/atom+xml\" href=\"{base}/feed.atom\">\n\
         <link rel=\"alternate\" type=\"application/feed+json\" href=\"{base}/feed.json\">\n\
         </head><body><h1>herald</h1><ul>\n\
         <li><a href=\"/feed.atom\">/feed.atom</a>: the newest stories, Atom</li>\n\
         <li><a href=\"/feed.json\">/feed.json</a>: the same, JSON Feed</li>\n\
         <li><a href=\"/feed.opml\">/feed.opml</a>: one feed per source, OPML</li>\n\
         <li>select with <code>?source=NAME</code>, <code>?tag=TAG</code> (repeatable) and <code>?n=50</code></li>\n\
         <li><a href=\"/metrics\">/metrics</a>, <a href=\"/healthz\">/healthz</a></li>\n\
         </ul></body></html>\n"
    );
    Answer {
        status: 200,
        content_type: "text/html; charset=utf-8",
        headers: Vec::new(),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_select_and_bad_ones_are_explained() {
        let s = selection(Some("source=a&source=b,c&tag=tech&n=5")).expect("valid");
        assert_eq!(s.sources, ["a", "b", "c"]);
        assert_eq!(s.tags, ["tech"]);
        assert_eq!(s.items, 5);
        assert_eq!(selection(None).expect("valid").items, DEFAULT_ITEMS);
        assert!(selection(Some("n=0")).is_err());
        assert!(selection(Some("n=5000")).is_err());
        assert!(
            selection(Some("limit=3"))
                .expect_err("unknown")
                .contains("source, tag or n")
        );
    }

    #[test]
    fn validators_answer_304_and_a_change_200() {
        let conditions = |etag: Option<&str>, since: Option<&str>| Conditions {
            host: None,
            if_none_match: etag.map(str::to_owned),
            if_modified_since: since.map(str::to_owned),
        };
        let first = conditional(
            "body".into(),
            "text/plain",
            Some("2026-11-30T10:00:00Z"),
            &Conditions::default(),
        );
        assert_eq!(first.status, 200);
        let etag = first
            .headers
            .iter()
            .find(|(k, _)| *k == "etag")
            .map(|(_, v)| v.clone())
            .expect("etag");
        let again = conditional(
            "body".into(),
            "text/plain",
            None,
            &conditions(Some(&etag), None),
        );
        assert_eq!((again.status, again.body.as_str()), (304, ""));
        let changed = conditional(
            "body 2".into(),
            "text/plain",
            None,
            &conditions(Some(&etag), None),
        );
        assert_eq!(changed.status, 200);
        let since = conditional(
            "body".into(),
            "text/plain",
            Some("2026-11-30T10:00:00Z"),
            &conditions(None, Some("Mon, 30 Nov 2026 10:00:00 GMT")),
        );
        assert_eq!(since.status, 304);
        let older = conditional(
            "body".into(),
            "text/plain",
            Some("2026-11-30T10:00:01Z"),
            &conditions(None, Some("Mon, 30 Nov 2026 10:00:00 GMT")),
        );
        assert_eq!(older.status, 200);
    }
}
