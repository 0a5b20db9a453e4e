//! `kind = "feed"`: RSS (0.90 to 2.x, RDF included), Atom (0.3, 1.0) and
//! JSON Feed (1.0, 1.1), read as forgivingly as Python's feedparser reads
//! them, with every repair recorded.
//!
//! Bytes become text by RFC 7303's rules ([`super::text`]); text is read by
//! herald's own streaming reader ([`xml`], on quick-xml) or, for JSON, by
//! [`json_feed`]. A document that is not a feed at all fails with a reason
//! that says what it is instead; an HTML page names the feeds it links to
//! ([`discover`]).

pub mod discover;
mod json_feed;
mod xml;

use std::time::Duration;

use serde::Deserialize;

use super::repairs::Repairs;
use super::{KeyProblem, options, required_url, text};
use crate::model::article::ItemDraft;
use crate::model::http::{FetchRequest, Payload};
use crate::model::source::{ParseError, Parsed, Source, SourceInput};

/// The feed kind has no keys beyond the common ones.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedOptions {}

/// An RSS, Atom or JSON Feed URL.
#[derive(Debug)]
pub struct FeedSource {
    url: url::Url,
}

impl FeedSource {
    /// Builds the source from its entry's keys.
    ///
    /// # Errors
    /// Every problem with the keys, each naming its key.
    pub fn from_input(input: &SourceInput) -> Result<Self, Vec<KeyProblem>> {
        let url = required_url(input);
        let opts = options::<FeedOptions>(input);
        match (url, opts) {
            (Ok(url), Ok(FeedOptions {})) => Ok(FeedSource { url }),
            (url, opts) => Err(url
                .err()
                .into_iter()
                .chain(opts.err().into_iter().flatten())
                .collect()),
        }
    }
}

impl Source for FeedSource {
    fn request(&self) -> FetchRequest {
        FetchRequest::get(
            self.url.clone(),
            "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8",
        )
    }

    fn parse(&self, payload: &Payload) -> Result<Parsed, ParseError> {
        read(payload).map(|feed| feed.parsed)
    }
}

/// A feed as read: its items, its own title and link, and the repairs.
#[derive(Debug)]
pub struct Feed {
    /// Items, `<ttl>` and repairs, as every kind returns them.
    pub parsed: Parsed,
    /// The feed's own title.
    pub title: Option<String>,
    /// The site the feed belongs to (its `<link>`, `home_page_url`).
    pub home_page: Option<String>,
}

/// Parses any feed format into drafts (tests and benches use this).
///
/// # Errors
/// [`ParseError::Feed`] for a body that is not a feed.
pub fn parse_feed(payload: &Payload) -> Result<Vec<ItemDraft>, ParseError> {
    read(payload).map(|feed| feed.parsed.items)
}

/// Reads a body as a feed: RSS, RDF, Atom or JSON Feed.
///
/// # Errors
/// [`ParseError::Feed`] naming what the body is instead (an empty body, an
/// HTML page and the feeds it links to, another XML document, JSON of
/// another shape).
pub fn read(payload: &Payload) -> Result<Feed, ParseError> {
    let mut repairs = Repairs::default();
    let body = &payload.body[..];
    let first = body
        .iter()
        .find(|b| !b.is_ascii_whitespace() && !matches!(b, 0xEF | 0xBB | 0xBF))
        .copied();
    let Some(first) = first else {
        return Err(ParseError::Feed("the body is empty".to_owned()));
    };
    let content_type = payload.content_type.as_deref();
    let doc = if first == b'{' || first == b'[' {
        let text = text::decode_json(body, content_type, &mut repairs);
        json_feed::parse(&text, &mut repairs).map_err(|e| match e {
            json_feed::NotJsonFeed::Invalid(reason) => {
                ParseError::Feed(format!("invalid JSON: {reason}"))
            }
            json_feed::NotJsonFeed::Shape => {
                ParseError::Feed("JSON, but not a JSON Feed (no \"items\" array)".to_owned())
            }
        })?
    } else {
        let text = text::decode_xml(body, content_type, &mut repairs);
        if !text.contains('<') {
            return Err(ParseError::Feed(
                "the body is neither XML nor JSON (no markup at all)".to_owned(),
            ));
        }
        match xml::parse(&text, &payload.url, &mut repairs) {
            Ok(doc) => doc,
            // An HTML page (even one that fails as XML) is answered with the
            // feeds it links: that is what the operator most likely wanted.
            Err(xml::NotAFeed::Html) => return Err(not_a_feed_html(&text, &payload.url)),
            Err(_) if discover::looks_like_html(&text) => {
                return Err(not_a_feed_html(&text, &payload.url));
            }
            Err(xml::NotAFeed::Root(name)) => {
                return Err(ParseError::Feed(format!(
                    "no RSS, Atom or JSON Feed root element (the document is <{name}>)"
                )));
            }
            Err(xml::NotAFeed::Unreadable(reason)) => {
                return Err(ParseError::Feed(format!("unreadable: {reason}")));
            }
        }
    };
    Ok(Feed {
        parsed: Parsed {
            items: doc.items,
            follow_ups: Vec::new(),
            ttl: doc.ttl.filter(|ttl| *ttl > Duration::ZERO),
            warnings: repairs.into_warnings(),
        },
        title: doc.title,
        home_page: doc.link,
    })
}

/// "an HTML page; it links 2 feeds: …" — the page's own feeds are what the
/// operator most likely wanted.
fn not_a_feed_html(text: &str, url: &url::Url) -> ParseError {
    let links = discover::feed_links(text, url);
    if links.is_empty() {
        return ParseError::Feed("an HTML page that links no feed".to_owned());
    }
    let urls: Vec<String> = links.iter().map(|l| l.url.to_string()).collect();
    ParseError::Feed(format!(
        "an HTML page; it links {} feed{}: {}",
        links.len(),
        if links.len() == 1 { "" } else { "s" },
        urls.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_str(body: &[u8], content_type: Option<&str>) -> Result<Feed, ParseError> {
        read(&Payload {
            body: bytes::Bytes::copy_from_slice(body),
            content_type: content_type.map(str::to_owned),
            url: url::Url::parse("https://news.example/feed").expect("static URL"),
        })
    }

    fn parse(body: &[u8], content_type: Option<&str>) -> Result<Vec<ItemDraft>, ParseError> {
        read_str(body, content_type).map(|f| f.parsed.items)
    }

    fn titles(drafts: &[ItemDraft]) -> Vec<&str> {
        drafts.iter().filter_map(|d| d.title.as_deref()).collect()
    }

    const RSS_ITEM: &str = "<item><title>One</title><link>https://e.com/1</link><pubDate>Sun, 22 Nov 2026 10:00:00 GMT</pubDate><description>first</description></item>";

    #[test]
    fn rss2_maps_every_field() {
        let xml = format!(
            "<rss version=\"2.0\"><channel><title>t</title><ttl>30</ttl>{RSS_ITEM}</channel></rss>"
        );
        let feed = read_str(xml.as_bytes(), None).expect("parses");
        let items = &feed.parsed.items;
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].title.as_deref(), Some("One"));
        assert_eq!(items[0].link.as_deref(), Some("https://e.com/1"));
        assert_eq!(items[0].summary.as_deref(), Some("first"));
        assert!(items[0].published_at.is_some());
        assert_eq!(feed.parsed.ttl, Some(Duration::from_secs(1800)));
        assert_eq!(feed.title.as_deref(), Some("t"));
        assert!(feed.parsed.warnings.is_empty());
    }

    #[test]
    fn rss_of_any_version_rdf_and_atom_both_versions() {
        for root in [
            "<rss>",
            "<rss version=\"0.94\">",
            "<rss version='2.0.1' xmlns:dc=\"x\">",
            "<rss version=\"0.91\">",
        ] {
            let xml = format!(
                "<?xml version=\"1.0\"?>\n<!-- hi -->{root}<channel><title>t</title>{RSS_ITEM}</channel></rss>"
            );
            let items = parse(xml.as_bytes(), None).unwrap_or_else(|e| panic!("{root}: {e}"));
            assert_eq!(titles(&items), ["One"], "{root}");
        }
        let rdf = r#"<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">
            <channel rdf:about="https://e.com"><title>t</title></channel>
            <item rdf:about="https://e.com/1"><title>One</title><link>https://e.com/1</link></item></rdf:RDF>"#;
        assert_eq!(titles(&parse(rdf.as_bytes(), None).expect("rdf")), ["One"]);
        let atom03 = r#"<feed version="0.3" xmlns="http://purl.org/atom/ns#"><title>t</title><tagline>a tag line</tagline>
            <entry><title>Old</title><link rel="alternate" type="text/html" href="https://e.com/old"/>
            <issued>2004-01-01T00:00:00Z</issued><modified>2004-01-02T00:00:00Z</modified><id>x</id></entry></feed>"#;
        let items = parse(atom03.as_bytes(), None).expect("atom 0.3");
        assert_eq!(titles(&items), ["Old"]);
        assert_eq!(items[0].link.as_deref(), Some("https://e.com/old"));
        assert!(items[0].published_at.is_some());
        let atom10 = r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>f</id><updated>2026-01-01T00:00:00Z</updated>
            <entry><title type="html">&lt;b&gt;New&lt;/b&gt;</title><link href="/rel/1"/><id>y</id><updated>2026-01-01T00:00:00Z</updated>
            <oddity><nested>ignored</nested></oddity><author><name>Ada</name></author>
            <category term="rust"/><link rel="enclosure" href="/a.mp3" type="audio/mpeg" length="123"/></entry></feed>"#;
        let items = parse(atom10.as_bytes(), None).expect("atom 1.0");
        assert_eq!(titles(&items), ["<b>New</b>"]);
        assert_eq!(items[0].author.as_deref(), Some("Ada"));
        assert_eq!(items[0].link.as_deref(), Some("/rel/1"));
        assert_eq!(items[0].categories, ["rust"]);
        let enclosure = items[0].enclosure.as_ref().expect("enclosure");
        assert_eq!(
            (
                enclosure.url.as_str(),
                enclosure.mime_type.as_deref(),
                enclosure.length
            ),
            ("/a.mp3", Some("audio/mpeg"), Some(123))
        );
    }

    #[test]
    fn json_feed() {
        let json = r#"{"version":"https://jsonfeed.org/version/1.1","title":"t","items":[
            {"id":"1","url":"https://e.com/j","title":"Jay","date_published":"2026-01-01T00:00:00Z"}]}"#;
        let items = parse(json.as_bytes(), Some("application/feed+json")).expect("json feed");
        assert_eq!(titles(&items), ["Jay"]);
    }

    #[test]
    fn latin1_and_utf16_feeds_decode() {
        let latin1 = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss version=\"2.0\"><channel><title>t</title><item><title>Caf\xe9</title><link>https://e.com/c</link></item></channel></rss>".to_vec();
        assert_eq!(titles(&parse(&latin1, None).expect("latin1")), ["Café"]);
        // The same document as UTF-16LE without a BOM: each Latin-1 byte is one code unit.
        let utf16: Vec<u8> = latin1.iter().flat_map(|b| [*b, 0]).collect();
        assert_eq!(
            titles(&parse(&utf16, None).expect("utf16 without BOM")),
            ["Café"]
        );
    }

    #[test]
    fn everyday_markup_errors_are_repaired_and_recorded() {
        let xml = b"<rss version=\"2.0\"><channel><title>Fish & Chips</title><language>en</langauge>\
            <item><title>Fish & Chips &amp; more&nbsp;today</title><link>https://e.com/1</link></item>\
            <item><title>Nul&#0;here</title><link>https://e.com/2</link></item>\
            <item><title>Cut off";
        let feed = read_str(xml, None).expect("repaired");
        assert_eq!(
            titles(&feed.parsed.items),
            ["Fish & Chips & more\u{a0}today", "Nulhere"]
        );
        assert_eq!(
            feed.parsed.warnings,
            [
                "bare ampersand escaped ×2",
                "mismatched end tag read as the open element's",
                "HTML entity decoded",
                "invalid character reference dropped",
                "document cut off: the items before the cut are kept, the one cut is dropped",
            ]
        );
    }

    #[test]
    fn what_is_not_a_feed_says_what_it_is() {
        let err = parse(b"<html><head><link rel=\"alternate\" type=\"application/rss+xml\" href=\"/rss\"></head><body>Not found</body></html>", None)
            .expect_err("html is no feed");
        assert_eq!(
            err.to_string(),
            "not a feed: an HTML page; it links 1 feed: https://news.example/rss"
        );
        let err = parse(b"", None).expect_err("empty body is no feed");
        assert_eq!(err.to_string(), "not a feed: the body is empty");
        let err = parse(b"<svg/>", None).expect_err("svg");
        assert!(err.to_string().contains("the document is <svg>"), "{err}");
        let err = parse(b"{\"data\":[]}", None).expect_err("other json");
        assert!(err.to_string().contains("not a JSON Feed"), "{err}");
        let empty = parse(
            b"<rss version=\"2.0\"><channel><title>t</title></channel></rss>",
            None,
        )
        .expect("an empty channel is a feed");
        assert!(empty.is_empty());
    }
}
