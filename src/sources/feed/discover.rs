//! The feeds an HTML page declares: `<link rel="alternate">` with an RSS,
//! Atom or JSON Feed type, their `href`s resolved against the page's URL
//! (or its `<base href>`). HTML is not XML, so this is a small scanner of
//! its own that only looks at `<base>` and `<link>` tags.

use url::Url;

/// A feed a page links to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedLink {
    /// Absolute URL of the feed.
    pub url: Url,
    /// Its `title` attribute, when the page gives one.
    pub title: Option<String>,
    /// Its `type` (`application/rss+xml`, …).
    pub mime_type: String,
}

/// The media types that mark a feed link.
const FEED_TYPES: &[&str] = &[
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/json",
    "application/rdf+xml",
    "application/xml",
    "text/xml",
];

/// Whether `text` looks like an HTML page rather than a feed.
pub fn looks_like_html(text: &str) -> bool {
    let head: String = text
        .chars()
        .take(1024)
        .collect::<String>()
        .to_ascii_lowercase();
    head.contains("<!doctype html") || head.contains("<html") || head.contains("<head")
}

/// The feeds `html` links to, in page order, without duplicates.
pub fn feed_links(html: &str, page: &Url) -> Vec<FeedLink> {
    let mut base = page.clone();
    let mut found: Vec<FeedLink> = Vec::new();
    for (name, attributes) in tags(html) {
        match name.as_str() {
            "base" => {
                if let Some(href) = value(&attributes, "href")
                    && let Ok(url) = page.join(href)
                {
                    base = url;
                }
            }
            "link" => {
                let rel = value(&attributes, "rel")
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                let mime = value(&attributes, "type")
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase();
                let alternate = rel
                    .split_whitespace()
                    .any(|r| r == "alternate" || r == "feed");
                if !alternate || !FEED_TYPES.contains(&mime.as_str()) {
                    continue;
                }
                let Some(url) = value(&attributes, "href").and_then(|h| base.join(h.trim()).ok())
                else {
                    continue;
                };
                if !matches!(url.scheme(), "http" | "https") || found.iter().any(|f| f.url == url) {
                    continue;
                }
                found.push(FeedLink {
                    url,
                    title: value(&attributes, "title")
                        .map(|t| html_escape::decode_html_entities(t.trim()).into_owned())
                        .filter(|t| !t.is_empty()),
                    mime_type: mime,
                });
            }
            _ => {}
        }
    }
    found
}

fn value<'a>(attributes: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Every `<base …>` and `<link …>` tag: its lower-cased name and attributes.
fn tags(html: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    let lower = html.to_ascii_lowercase();
    let mut at = 0;
    while let Some(offset) = lower[at..].find('<') {
        let start = at + offset + 1;
        let name_end = lower[start..]
            .find(|c: char| !c.is_ascii_alphanumeric())
            .map_or(lower.len(), |n| start + n);
        let name = &lower[start..name_end];
        let Some(close) = html[name_end..].find('>').map(|c| name_end + c) else {
            break;
        };
        if name == "link" || name == "base" {
            out.push((name.to_owned(), attributes(&html[name_end..close])));
        }
        at = close;
    }
    out
}

/// `a="1" b='2' c=3 d` → pairs (names lower-cased, entities decoded).
fn attributes(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
    while !rest.is_empty() {
        let name_end = rest
            .find(|c: char| c.is_whitespace() || c == '=' || c == '/')
            .unwrap_or(rest.len());
        let name = rest[..name_end].to_ascii_lowercase();
        rest = rest[name_end..].trim_start();
        let mut value = String::new();
        if let Some(after) = rest.strip_prefix('=') {
            let after = after.trim_start();
            let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'');
            let (raw, remaining) = if let Some(quote) = quote {
                let inner = &after[1..];
                let end = inner.find(quote).unwrap_or(inner.len());
                (&inner[..end], inner.get(end + 1..).unwrap_or_default())
            } else {
                let end = after.find(char::is_whitespace).unwrap_or(after.len());
                (&after[..end], &after[end..])
            };
            value = html_escape::decode_html_entities(raw).into_owned();
            rest = remaining;
        }
        if !name.is_empty() {
            out.push((name, value));
        }
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternate_links_are_found_and_resolved_against_base() {
        let page = Url::parse("https://blog.example/posts/hello").expect("url");
        let html = r#"<!DOCTYPE html><html><head>
            <base href="/news/">
            <LINK REL="alternate" TYPE="application/rss+xml" title="Posts &amp; notes" HREF="feed.xml">
            <link rel="alternate" type="application/atom+xml" href='https://blog.example/atom.xml' />
            <link rel="stylesheet" type="text/css" href="style.css">
            <link rel=alternate type=application/feed+json href=/feed.json>
            <link rel="alternate" type="application/rss+xml" href="feed.xml">
            </head><body><p>Hi</p></body></html>"#;
        let links = feed_links(html, &page);
        let urls: Vec<&str> = links.iter().map(|l| l.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://blog.example/news/feed.xml",
                "https://blog.example/atom.xml",
                "https://blog.example/feed.json"
            ]
        );
        assert_eq!(links[0].title.as_deref(), Some("Posts & notes"));
        assert!(looks_like_html(html));
        assert!(!looks_like_html("<rss version=\"2.0\"><channel/></rss>"));
    }
}
