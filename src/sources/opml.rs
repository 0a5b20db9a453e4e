//! OPML subscription lists (`herald import`), read as leniently as feeds.
//!
//! What other readers export is often not well-formed XML: bare `&` and
//! HTML entities (`&eacute;`, `&nbsp;`) in `text` and `title`, a BOM, a
//! Windows-1252 body declared as UTF-8, no `version`, OPML 1.0 or 2.0,
//! `type="rss"`, `"atom"` or none. quick-xml runs with its checks off, the
//! body is decoded as feeds are, and attribute values are unescaped with the
//! HTML entity table. Outlines nest to any depth; each one with an
//! `xmlUrl` is a subscription, labelled by its enclosing outlines and its
//! `category`. A file that is not OPML at all (no `<opml>` root, markup
//! that cannot be read) fails with the line and the reason.

use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

use super::repairs::Repairs;
use super::text::decode_xml;

/// One subscription found in an OPML file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpmlFeed {
    /// `title`, else `text`, trimmed; `None` when both are empty.
    pub title: Option<String>,
    /// `xmlUrl`, as written (trimmed).
    pub xml_url: String,
    /// `htmlUrl`, when given.
    pub html_url: Option<String>,
    /// The titles of the outlines around it (outermost first), then the
    /// entries of its `category` attribute (`/Tech/Rust,News` gives `Rust`
    /// and `News`).
    pub labels: Vec<String>,
    /// The line it starts on, for messages.
    pub line: usize,
}

/// Why a file is not a readable OPML document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct OpmlError {
    /// Where it went wrong (1-based).
    pub line: usize,
    /// What went wrong.
    pub reason: String,
}

/// The subscriptions in `body`, in document order.
///
/// # Errors
/// The document has no `<opml>` root, or markup that cannot be read.
pub fn read_opml(body: &[u8]) -> Result<Vec<OpmlFeed>, OpmlError> {
    let mut repairs = Repairs::default();
    let text = decode_xml(body, None, &mut repairs);
    // The line of the first non-blank byte at or after `position` (an
    // event starts after the blanks trimmed before it).
    let line_at = |position: u64| {
        let bytes = text.as_bytes();
        let mut end = usize::try_from(position)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        while end < bytes.len() && bytes[end].is_ascii_whitespace() {
            end += 1;
        }
        // Segments between newlines: the line number (byte-safe at any offset).
        bytes[..end].split(|b| *b == b'\n').count()
    };
    let mut reader = Reader::from_str(&text);
    let config = reader.config_mut();
    config.check_end_names = false;
    config.allow_unmatched_ends = true;
    config.allow_dangling_amp = true;
    config.trim_text(true);
    let mut saw_root = false;
    // Titles of the open outlines (None for one without a title).
    let mut open: Vec<Option<String>> = Vec::new();
    let mut feeds = Vec::new();
    loop {
        let position = reader.buffer_position();
        let event = reader.read_event().map_err(|e| OpmlError {
            line: line_at(reader.error_position()),
            reason: format!("unreadable markup: {e}"),
        })?;
        match event {
            Event::Start(e) | Event::Empty(e) if local(&e) == "opml" => {
                saw_root = true;
            }
            Event::Start(e) if is_outline(&e) => {
                let attributes = attributes(&e);
                if let Some(feed) = feed(&attributes, &open, line_at(position)) {
                    feeds.push(feed);
                }
                open.push(label(&attributes));
            }
            Event::Empty(e) if is_outline(&e) => {
                let attributes = attributes(&e);
                if let Some(feed) = feed(&attributes, &open, line_at(position)) {
                    feeds.push(feed);
                }
            }
            Event::End(e) if local_of(e.name().0).eq_ignore_ascii_case("outline") => {
                open.pop();
            }
            Event::Start(e) | Event::Empty(e) if !saw_root => {
                return Err(OpmlError {
                    line: line_at(position),
                    reason: format!(
                        "not an OPML document: the root element is <{}>, not <opml>",
                        e.name().0
                    ),
                });
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root {
        return Err(OpmlError {
            line: 1,
            reason: "not an OPML document: no <opml> element".to_owned(),
        });
    }
    Ok(feeds)
}

fn is_outline(e: &BytesStart<'_>) -> bool {
    local(e).eq_ignore_ascii_case("outline")
}

/// An element's name without its namespace prefix.
fn local<'a>(e: &'a BytesStart<'_>) -> &'a str {
    local_of(e.name().0)
}

fn local_of(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

/// Attribute names (lower-cased: `xmlurl` and `xmlUrl` both occur) and
/// values, unescaped with the HTML entity table; a bare `&` stays itself.
fn attributes(e: &BytesStart<'_>) -> Vec<(String, String)> {
    e.html_attributes()
        .with_checks(false)
        .flatten()
        .map(|a| {
            let name = local_of(a.key.0).to_ascii_lowercase();
            let value = html_escape::decode_html_entities(&a.value);
            (name, collapse(&value))
        })
        .collect()
}

/// Whitespace runs (newlines in attribute values too) as one space, trimmed.
fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn value<'a>(attributes: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// What an outline is called: `title`, else `text`.
fn label(attributes: &[(String, String)]) -> Option<String> {
    value(attributes, "title")
        .or_else(|| value(attributes, "text"))
        .map(str::to_owned)
}

/// The subscription an outline stands for, when it has an `xmlUrl`.
fn feed(attributes: &[(String, String)], open: &[Option<String>], line: usize) -> Option<OpmlFeed> {
    let xml_url = value(attributes, "xmlurl")?.to_owned();
    let mut labels: Vec<String> = open.iter().flatten().cloned().collect();
    for category in value(attributes, "category").unwrap_or_default().split(',') {
        if let Some(last) = category.rsplit('/').map(str::trim).find(|c| !c.is_empty())
            && !labels.iter().any(|l| l == last)
        {
            labels.push(last.to_owned());
        }
    }
    Some(OpmlFeed {
        title: label(attributes),
        xml_url,
        html_url: value(attributes, "htmlurl").map(str::to_owned),
        labels,
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_outlines_label_their_feeds() {
        let opml = br#"<?xml version="1.0"?><opml version="2.0"><body>
            <outline text="Tech"><outline text="Rust">
              <outline type="rss" text="This Week" xmlUrl="https://this-week.example/rss.xml"/>
            </outline></outline>
            <outline title="Loose" xmlUrl="https://loose.example/feed" category="/News/World,Politics"/>
            </body></opml>"#;
        let feeds = read_opml(opml).expect("valid");
        assert_eq!(feeds.len(), 2);
        assert_eq!(feeds[0].labels, ["Tech", "Rust"]);
        assert_eq!(feeds[0].title.as_deref(), Some("This Week"));
        assert_eq!(feeds[1].labels, ["World", "Politics"]);
        assert_eq!(feeds[1].line, 5);
    }

    #[test]
    fn messy_markup_is_read_as_meant() {
        let opml = "\u{feff}<opml><body><outline text=\"Caf&eacute; & Bar&nbsp;News\" xmlUrl=\"http://x.example/?a=1&b=2\"/></body></opml>";
        let feeds = read_opml(opml.as_bytes()).expect("valid");
        assert_eq!(feeds[0].title.as_deref(), Some("Café & Bar News"));
        assert_eq!(feeds[0].xml_url, "http://x.example/?a=1&b=2");
    }

    #[test]
    fn what_is_not_opml_says_where() {
        let err = read_opml(b"<rss version=\"2.0\"><channel/></rss>").expect_err("not opml");
        assert!(err.reason.contains("<rss>"), "{err}");
        let err =
            read_opml(b"<opml><body>\n\n<outline text=\"x\" xmlUrl=\"http://a").expect_err("cut");
        assert_eq!(err.line, 3, "{err}");
    }
}
