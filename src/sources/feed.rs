//! `kind = "feed"`: RSS 0.9x/1.0/2.0, Atom 0.3/1.0 and JSON Feed, via feed-rs.
//!
//! feed-rs is strict about a few things real feeds get wrong, so the body is
//! transcoded to UTF-8 and its prologue repaired first: an `<rss>` without
//! (or with an odd) `version` is read as RSS 2.0, and Atom 0.3 is mapped onto
//! the Atom 1.0 namespace and element names it differs by.

use std::borrow::Cow;

use serde::Deserialize;

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
        let (items, ttl) = read_feed(payload)?;
        Ok(Parsed {
            items,
            follow_ups: Vec::new(),
            ttl,
        })
    }
}

/// Parses any feed format feed-rs knows into drafts.
///
/// # Errors
/// [`ParseError::Feed`] for a body that is not a feed.
pub fn parse_feed(payload: &Payload) -> Result<Vec<ItemDraft>, ParseError> {
    read_feed(payload).map(|(items, _)| items)
}

/// The drafts and the feed's `<ttl>` (minutes, RSS only).
fn read_feed(
    payload: &Payload,
) -> Result<(Vec<ItemDraft>, Option<std::time::Duration>), ParseError> {
    let first = payload
        .body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .copied();
    let text = if first == Some(b'{') {
        text::decode_json(&payload.body, payload.content_type.as_deref())
    } else {
        let xml = text::decode_xml(&payload.body, payload.content_type.as_deref());
        repair_prologue(&xml).into_owned()
    };
    let feed = feed_rs::parser::Builder::new()
        .base_uri(Some(payload.url.as_str()))
        .sanitize_content(false)
        .build()
        .parse(text.as_bytes())
        .map_err(|e| ParseError::Feed(describe(&e)))?;
    let ttl = feed
        .ttl
        .map(|minutes| std::time::Duration::from_secs(u64::from(minutes) * 60));
    Ok((feed.entries.into_iter().map(draft_of).collect(), ttl))
}

fn describe(error: &feed_rs::parser::ParseFeedError) -> String {
    use feed_rs::parser::{ParseErrorKind, ParseFeedError};
    match error {
        ParseFeedError::ParseError(ParseErrorKind::NoFeedRoot) => {
            "no RSS, Atom or JSON Feed root element".to_owned()
        }
        other => other
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
    }
}

fn draft_of(entry: feed_rs::model::Entry) -> ItemDraft {
    let link = entry
        .links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|rel| rel == "alternate"))
        .or_else(|| entry.links.first())
        .map(|l| l.href.clone())
        .or_else(|| entry.id.starts_with("http").then(|| entry.id.clone()));
    ItemDraft {
        title: entry.title.map(|t| t.content),
        link,
        published_at: entry.published.or(entry.updated),
        summary: entry
            .summary
            .map(|s| s.content)
            .or_else(|| entry.content.and_then(|c| c.body)),
        author: entry.authors.into_iter().find_map(|p| p.name),
        origin: None,
    }
}

const ATOM_03_NS: &str = "http://purl.org/atom/ns#";
const ATOM_10_NS: &str = "http://www.w3.org/2005/Atom";

/// Makes the root element something feed-rs accepts (see the module doc).
fn repair_prologue(xml: &str) -> Cow<'_, str> {
    let Some(root_at) = root_element_start(xml) else {
        return Cow::Borrowed(xml);
    };
    let root = &xml[root_at..];
    if root.starts_with("<rss") {
        let Some(tag_end) = root.find('>') else {
            return Cow::Borrowed(xml);
        };
        let tag = &root[..tag_end];
        let version = attribute(tag, "version");
        if matches!(version, Some("2.0" | "0.91" | "0.92")) {
            return Cow::Borrowed(xml);
        }
        let rest = match version {
            // Replace the odd version (0.90, 0.93, 0.94, 2.0.1 ...) with 2.0.
            Some(v) => tag.replacen(&format!("\"{v}\""), "\"2.0\"", 1).replacen(
                &format!("'{v}'"),
                "'2.0'",
                1,
            ),
            None => format!("<rss version=\"2.0\"{}", &tag["<rss".len()..]),
        };
        return Cow::Owned(format!("{}{}{}", &xml[..root_at], rest, &root[tag_end..]));
    }
    if root.starts_with("<feed")
        && root[..root.find('>').unwrap_or(root.len())].contains(ATOM_03_NS)
    {
        let mut fixed = xml.replacen(ATOM_03_NS, ATOM_10_NS, 1);
        for (old, new) in [
            ("issued", "published"),
            ("modified", "updated"),
            ("tagline", "subtitle"),
        ] {
            fixed = fixed
                .replace(&format!("<{old}>"), &format!("<{new}>"))
                .replace(&format!("</{old}>"), &format!("</{new}>"));
        }
        return Cow::Owned(fixed);
    }
    Cow::Borrowed(xml)
}

/// Byte offset of the first element that is not a comment, PI or doctype.
fn root_element_start(xml: &str) -> Option<usize> {
    let mut at = 0;
    loop {
        let offset = xml[at..].find('<')?;
        let here = at + offset;
        let rest = &xml[here..];
        if rest.starts_with("<!--") {
            at = here + rest.find("-->")? + 3;
        } else if rest.starts_with("<?") || rest.starts_with("<!") {
            at = here + rest.find('>')? + 1;
        } else {
            return Some(here);
        }
    }
}

/// The value of `name="..."` (or single-quoted) inside a start tag.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let mut search = tag;
    while let Some(at) = search.find(name) {
        let before = search[..at].chars().last();
        let after = search[at + name.len()..].trim_start();
        if before.is_some_and(char::is_whitespace) {
            if let Some(value) = after.strip_prefix('=') {
                let value = value.trim_start();
                let quote = value.chars().next()?;
                let inner = &value[1..];
                return Some(&inner[..inner.find(quote)?]);
            }
        }
        search = &search[at + name.len()..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &[u8], content_type: Option<&str>) -> Result<Vec<ItemDraft>, ParseError> {
        parse_feed(&Payload {
            body: bytes::Bytes::copy_from_slice(body),
            content_type: content_type.map(str::to_owned),
            url: url::Url::parse("https://news.example/feed").expect("static URL"),
        })
    }

    fn titles(drafts: &[ItemDraft]) -> Vec<&str> {
        drafts.iter().filter_map(|d| d.title.as_deref()).collect()
    }

    const RSS_ITEM: &str = "<item><title>One</title><link>https://e.com/1</link><pubDate>Sun, 22 Nov 2026 10:00:00 GMT</pubDate><description>first</description></item>";

    #[test]
    fn rss2_maps_every_field() {
        let xml =
            format!("<rss version=\"2.0\"><channel><title>t</title>{RSS_ITEM}</channel></rss>");
        let items = parse(xml.as_bytes(), None).expect("parses");
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].title.as_deref(), Some("One"));
        assert_eq!(items[0].link.as_deref(), Some("https://e.com/1"));
        assert_eq!(items[0].summary.as_deref(), Some("first"));
        assert!(items[0].published_at.is_some());
    }

    #[test]
    fn rss_without_or_with_odd_version_is_read_as_rss2() {
        for root in [
            "<rss>",
            "<rss version=\"0.94\">",
            "<rss version='2.0.1' xmlns:dc=\"x\">",
        ] {
            let xml = format!(
                "<?xml version=\"1.0\"?>\n<!-- hi -->{root}<channel><title>t</title>{RSS_ITEM}</channel></rss>"
            );
            let items = parse(xml.as_bytes(), None).unwrap_or_else(|e| panic!("{root}: {e}"));
            assert_eq!(titles(&items), ["One"], "{root}");
        }
    }

    #[test]
    fn rss_091_and_rdf() {
        let rss091 =
            format!("<rss version=\"0.91\"><channel><title>t</title>{RSS_ITEM}</channel></rss>");
        assert_eq!(
            titles(&parse(rss091.as_bytes(), None).expect("0.91")),
            ["One"]
        );
        let rdf = r#"<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">
            <channel rdf:about="https://e.com"><title>t</title></channel>
            <item rdf:about="https://e.com/1"><title>One</title><link>https://e.com/1</link></item></rdf:RDF>"#;
        assert_eq!(titles(&parse(rdf.as_bytes(), None).expect("rdf")), ["One"]);
    }

    #[test]
    fn atom_03_and_10() {
        let atom03 = r#"<feed version="0.3" xmlns="http://purl.org/atom/ns#"><title>t</title>
            <entry><title>Old</title><link rel="alternate" type="text/html" href="https://e.com/old"/>
            <issued>2004-01-01T00:00:00Z</issued><modified>2004-01-02T00:00:00Z</modified><id>x</id></entry></feed>"#;
        let items = parse(atom03.as_bytes(), None).expect("atom 0.3");
        assert_eq!(titles(&items), ["Old"]);
        assert_eq!(items[0].link.as_deref(), Some("https://e.com/old"));
        assert!(items[0].published_at.is_some());
        let atom10 = r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>f</id><updated>2026-01-01T00:00:00Z</updated>
            <entry><title type="html">&lt;b&gt;New&lt;/b&gt;</title><link href="/rel/1"/><id>y</id><updated>2026-01-01T00:00:00Z</updated>
            <oddity><nested>ignored</nested></oddity><author><name>Ada</name></author></entry></feed>"#;
        let items = parse(atom10.as_bytes(), None).expect("atom 1.0");
        assert_eq!(titles(&items), ["<b>New</b>"]);
        assert_eq!(items[0].author.as_deref(), Some("Ada"));
        assert_eq!(items[0].link.as_deref(), Some("https://news.example/rel/1"));
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
    fn garbage_is_a_clear_error() {
        let err = parse(b"<html><body>Not found</body></html>", None).expect_err("html is no feed");
        assert_eq!(
            err.to_string(),
            "not a feed: no RSS, Atom or JSON Feed root element"
        );
        let err = parse(b"", None).expect_err("empty body is no feed");
        assert!(err.to_string().starts_with("not a feed"), "{err}");
    }
}
