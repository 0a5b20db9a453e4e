//! RSS (every version from 0.90 to 2.x, RDF included) and Atom (0.3 and
//! 1.0), read the way a forgiving reader reads them.
//!
//! quick-xml runs in its most lenient settings (no end-name checks, dangling
//! `&` allowed, unmatched end tags allowed) and hands its events to a builder
//! of ours that keeps its own stack of open elements and recovers from what
//! real feeds get wrong, noting each repair:
//! - a bare `&` is text; HTML entities (`&nbsp;`, `&eacute;`, the HTML5
//!   list) are decoded; references to code points XML forbids are dropped;
//!   an unknown entity stays as text;
//! - a misspelled end tag (`<language>en</langauge>`) closes the element
//!   it stands for; an end tag for an outer element closes what is still
//!   open; a stray end tag inside HTML content is content;
//! - a document cut off in the middle keeps every item before the cut;
//! - internal DTD entities are expanded, but never beyond a bound, and
//!   external ones are never fetched;
//! - undeclared namespace prefixes are fine (elements are matched by their
//!   local name and a conventional prefix);
//! - `xml:base` on any element resolves the links below it.
//!
//! Items are built straight into [`ItemDraft`]s: no intermediate document.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use base64::Engine as _;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;
use url::Url;

use crate::model::keys::edit_distance;

use crate::model::article::{Enclosure, ItemDraft};
use crate::sources::date::parse_date;
use crate::sources::repairs::Repairs;

/// The largest expansion of one internal entity, and of all of them in one
/// document: enough for any real use, nowhere near a billion laughs.
const ENTITY_MAX_BYTES: usize = 1024;
const ENTITY_BUDGET_BYTES: usize = 64 * 1024;
/// How many unreadable stretches of markup are skipped before giving up.
const MAX_RECOVERIES: usize = 64;

/// What kind of XML feed it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    /// RSS 0.91–2.x (and a bare `<channel>`).
    Rss,
    /// RSS 0.90 and 1.0 (`rdf:RDF`).
    Rdf,
    /// Atom 1.0.
    Atom,
    /// Atom 0.3.
    Atom03,
}

/// A feed, as far as herald needs it.
#[derive(Debug, Default)]
pub(super) struct Document {
    pub(super) title: Option<String>,
    pub(super) link: Option<String>,
    pub(super) ttl: Option<Duration>,
    pub(super) items: Vec<ItemDraft>,
}

/// Why a document is not a feed.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum NotAFeed {
    /// An HTML page (its links are looked for by the caller).
    Html,
    /// Some other XML document.
    Root(String),
    /// Nothing that reads as XML at all.
    Unreadable(String),
}

/// Reads `text` (already UTF-8, starting at its first `<`) as a feed.
pub(super) fn parse(text: &str, base: &Url, repairs: &mut Repairs) -> Result<Document, NotAFeed> {
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.allow_dangling_amp = true;
    config.allow_unmatched_ends = true;
    config.check_end_names = false;
    config.check_comments = false;
    config.expand_empty_elements = false;
    let mut builder = Builder::new(base.clone(), repairs);
    let mut recoveries = 0;
    loop {
        let position = reader.buffer_position();
        match reader.read_event() {
            Ok(Event::Start(e)) => builder.start(&e)?,
            Ok(Event::Empty(e)) => {
                builder.start(&e)?;
                builder.close_top();
            }
            Ok(Event::End(e)) => builder.end(e.name().as_ref()),
            Ok(Event::Text(t)) => builder.text(&t),
            Ok(Event::CData(c)) => builder.append(&c),
            Ok(Event::GeneralRef(r)) => builder.reference(&r),
            Ok(Event::DocType(d)) => builder.doctype(&d),
            Ok(Event::Eof) => break,
            Ok(Event::Comment(_) | Event::Decl(_) | Event::PI(_)) => {}
            Err(error) => {
                recoveries += 1;
                let stuck = reader.buffer_position() <= position;
                if builder.format.is_none() {
                    return Err(NotAFeed::Unreadable(error.to_string()));
                }
                if stuck || recoveries > MAX_RECOVERIES {
                    builder.repairs.note(
                        "unreadable markup: the document was read up to it, the items before it kept",
                    );
                    break;
                }
                builder.repairs.note("unreadable markup skipped");
            }
        }
    }
    builder.finish()
}

/// One open element.
#[derive(Debug)]
struct Frame {
    /// Where its name (as written, prefix included) sits in
    /// [`Builder::names`]: one buffer for every open name, so opening an
    /// element allocates nothing.
    name: std::ops::Range<usize>,
    /// Its `xml:base`, resolved (or the inherited one).
    base: Option<Url>,
}

/// Where a captured text goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    FeedTitle,
    FeedLink,
    Ttl,
    Title,
    Link,
    Guid,
    Published,
    Created,
    Updated,
    Summary,
    Content,
    Author,
    Category,
}

/// The text of one element being collected.
#[derive(Debug)]
struct Capture {
    /// Index of its frame in the stack.
    frame: usize,
    target: Target,
    text: String,
    /// Base64 content (Atom 0.3 `mode="base64"`, or a non-text MIME type).
    base64: bool,
}

/// An item being read.
#[derive(Debug, Default)]
struct Item {
    /// Index of its frame in the stack.
    frame: usize,
    title: Option<String>,
    link: Option<String>,
    guid: Option<String>,
    published: Option<String>,
    created: Option<String>,
    updated: Option<String>,
    summary: Option<String>,
    content: Option<String>,
    author: Option<String>,
    /// Index of an Atom `<author>` frame whose `<name>` is wanted.
    author_frame: Option<usize>,
    categories: Vec<String>,
    enclosure: Option<Enclosure>,
}

struct Builder<'r> {
    base: Url,
    repairs: &'r mut Repairs,
    stack: Vec<Frame>,
    format: Option<Format>,
    /// Index of the element whose children are the feed's own fields.
    container: Option<usize>,
    /// The open elements' names, end to end (see [`Frame::name`]).
    names: String,
    doc: Document,
    item: Option<Item>,
    capture: Option<Capture>,
    entities: HashMap<String, String>,
    /// Each internal entity's expanded size, computed once.
    entity_sizes: HashMap<String, usize>,
    entity_budget: usize,
    prefixes: HashSet<String>,
}

impl<'r> Builder<'r> {
    fn new(base: Url, repairs: &'r mut Repairs) -> Self {
        let mut prefixes = HashSet::new();
        prefixes.insert("xml".to_owned());
        prefixes.insert("xmlns".to_owned());
        Builder {
            base,
            repairs,
            stack: Vec::new(),
            format: None,
            container: None,
            names: String::new(),
            doc: Document::default(),
            item: None,
            capture: None,
            entities: HashMap::new(),
            entity_sizes: HashMap::new(),
            entity_budget: ENTITY_BUDGET_BYTES,
            prefixes,
        }
    }

    /// The base for links at the top of the stack.
    fn current_base(&self) -> Option<&Url> {
        self.stack.iter().rev().find_map(|f| f.base.as_ref())
    }

    fn start(&mut self, e: &BytesStart<'_>) -> Result<(), NotAFeed> {
        let name: &str = e.name().0;
        let (prefix, local) = split_name(name);
        let attributes = self.attributes(e);
        for (key, _) in &attributes {
            if let Some(declared) = key.strip_prefix("xmlns:") {
                self.prefixes.insert(declared.to_owned());
            }
        }
        if let Some(prefix) = prefix
            && !self.prefixes.contains(prefix)
        {
            self.repairs.note("undeclared namespace prefix");
            self.prefixes.insert(prefix.to_owned());
        }
        let lower = ascii_lowercase(local);
        self.close_what_this_implies(&lower);
        let base = attr(&attributes, "xml:base").and_then(|b| {
            let parent = self.current_base().unwrap_or(&self.base);
            parent.join(b.trim()).ok()
        });
        let index = self.stack.len();
        let start = self.names.len();
        self.names.push_str(name);
        self.stack.push(Frame {
            name: start..self.names.len(),
            base,
        });
        // Markup inside captured content is content: keep it as tags, which
        // the article cleaner strips (with word breaks for block elements).
        if let Some(capture) = &mut self.capture {
            capture.text.push('<');
            capture.text.push_str(&lower);
            capture.text.push('>');
            return Ok(());
        }
        let Some(format) = self.format else {
            return self.root(&lower, &attributes, index);
        };
        if index == 0 {
            // A second document glued after the first (a CMS appending its
            // footer, two feeds concatenated): read on, and say so.
            self.repairs.note("markup after the root element read");
        }
        if self.item.is_none() {
            let is_item = match format {
                Format::Rss | Format::Rdf => lower == "item",
                Format::Atom | Format::Atom03 => lower == "entry",
            };
            if is_item {
                self.item = Some(Item {
                    frame: index,
                    ..Item::default()
                });
                return Ok(());
            }
            if lower == "channel" && matches!(format, Format::Rss | Format::Rdf) {
                self.container = Some(index);
                return Ok(());
            }
            // (A second root after the first closed sits at index 0.)
            if index
                .checked_sub(1)
                .is_some_and(|parent| self.container == Some(parent))
            {
                self.feed_field(prefix, &lower, &attributes, index);
            }
            return Ok(());
        }
        self.item_field(format, prefix, &lower, &attributes, index);
        Ok(())
    }

    /// An element that cannot be inside what is open closes it: a feed field
    /// ends an unclosed text field (`<title>A<link>…`), and an item ends an
    /// unclosed item. HTML inside content (`<b>`, `<p>`) stays content.
    fn close_what_this_implies(&mut self, lower: &str) {
        if let Some(capture) = &self.capture {
            const FIELDS: &[&str] = &[
                "title",
                "link",
                "description",
                "pubdate",
                "guid",
                "author",
                "category",
                "enclosure",
                "comments",
                "item",
                "entry",
                "id",
                "updated",
                "published",
                "content",
                "encoded",
                "creator",
                "date",
                "subject",
                "issued",
                "modified",
            ];
            let markup = matches!(capture.target, Target::Summary | Target::Content);
            if FIELDS.contains(&lower) || (!markup && matches!(lower, "summary" | "source")) {
                self.repairs.note("unclosed element closed");
                let at = capture.frame;
                self.close_to(at, false);
            }
        }
        if let (Some(format), Some(item)) = (self.format, &self.item) {
            let is_item = match format {
                Format::Rss | Format::Rdf => lower == "item",
                Format::Atom | Format::Atom03 => lower == "entry",
            };
            if is_item {
                self.repairs.note("unclosed element closed");
                let at = item.frame;
                self.close_to(at, false);
            }
        }
    }

    /// The first element decides what the document is.
    fn root(
        &mut self,
        lower: &str,
        attributes: &[(String, String)],
        index: usize,
    ) -> Result<(), NotAFeed> {
        let format = match lower {
            "rss" => Format::Rss,
            "channel" => {
                self.repairs.note("RSS channel without an <rss> root");
                Format::Rss
            }
            "rdf" => Format::Rdf,
            "feed" => {
                let old = attr(attributes, "version").is_some_and(|v| v.trim() == "0.3")
                    || attr(attributes, "xmlns").is_some_and(|ns| ns.contains("purl.org/atom/ns"));
                if old { Format::Atom03 } else { Format::Atom }
            }
            "html" => return Err(NotAFeed::Html),
            other => return Err(NotAFeed::Root(other.to_owned())),
        };
        self.format = Some(format);
        // Atom's and RSS's own fields sit under the root; a channel (RSS, RDF)
        // takes over when it comes, so items straight under <rss> work too.
        self.container = Some(index);
        Ok(())
    }

    /// A child of the channel or the feed.
    fn feed_field(
        &mut self,
        prefix: Option<&str>,
        lower: &str,
        attributes: &[(String, String)],
        index: usize,
    ) {
        if prefix.is_some_and(|p| p != "atom") {
            return;
        }
        match lower {
            "title" if self.doc.title.is_none() => self.capture(index, Target::FeedTitle, false),
            "link" => match attr(attributes, "href") {
                Some(href) => {
                    let rel = attr(attributes, "rel").unwrap_or("alternate");
                    if rel == "alternate" && self.doc.link.is_none() {
                        self.doc.link = Some(self.resolve(href));
                    }
                }
                None if self.doc.link.is_none() => self.capture(index, Target::FeedLink, false),
                None => {}
            },
            "ttl" => self.capture(index, Target::Ttl, false),
            _ => {}
        }
    }

    /// A child of an item or entry (or a grandchild, for Atom's author name).
    fn item_field(
        &mut self,
        format: Format,
        prefix: Option<&str>,
        lower: &str,
        attributes: &[(String, String)],
        index: usize,
    ) {
        let Some(item) = &self.item else {
            return;
        };
        if item.author_frame == Some(index - 1) && lower == "name" {
            self.capture(index, Target::Author, false);
            return;
        }
        if item.frame != index - 1 {
            return;
        }
        let atom = matches!(format, Format::Atom | Format::Atom03);
        let prefix = prefix.map(ascii_lowercase);
        let target = match (prefix.as_deref(), lower) {
            (None | Some("atom"), "title") => Some(Target::Title),
            (None | Some("atom"), "link") => {
                match attr(attributes, "href") {
                    Some(href) => self.atom_link(href, attributes),
                    None => return self.capture(index, Target::Link, false),
                }
                None
            }
            (None, "guid" | "id") => Some(Target::Guid),
            (None, "pubdate" | "published" | "issued") | (Some("dc"), "date") => {
                Some(Target::Published)
            }
            (None, "created") | (Some("dcterms"), "issued" | "created") => Some(Target::Created),
            (None, "updated" | "modified") | (Some("dcterms"), "modified") => Some(Target::Updated),
            (None, "description" | "summary") | (Some("dc"), "description") => {
                Some(Target::Summary)
            }
            (Some("content"), "encoded") | (None, "content" | "body") | (Some("xhtml"), "body") => {
                Some(Target::Content)
            }
            (None, "author") if atom => {
                if let Some(item) = &mut self.item {
                    item.author_frame = Some(index);
                }
                None
            }
            (None, "author") | (Some("dc"), "creator") => Some(Target::Author),
            (None, "category") => match attr(attributes, "term") {
                Some(term) => {
                    let term = term.trim().to_owned();
                    if let Some(item) = &mut self.item {
                        item.categories.push(term);
                    }
                    None
                }
                None => Some(Target::Category),
            },
            (Some("dc"), "subject") => Some(Target::Category),
            (None, "enclosure") => {
                self.enclosure(attr(attributes, "url"), attributes);
                None
            }
            _ => None,
        };
        if let Some(target) = target {
            let base64 = atom && is_base64(attributes);
            self.capture(index, target, base64);
        }
    }

    /// `<link href rel type length>`: the item's link, or its enclosure.
    fn atom_link(&mut self, href: &str, attributes: &[(String, String)]) {
        let rel = attr(attributes, "rel").unwrap_or("alternate").trim();
        match rel {
            "enclosure" => self.enclosure(Some(href), attributes),
            "alternate" => {
                let resolved = self.resolve(href);
                if let Some(item) = &mut self.item {
                    item.link.get_or_insert(resolved);
                }
            }
            _ => {}
        }
    }

    fn enclosure(&mut self, url: Option<&str>, attributes: &[(String, String)]) {
        let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
            return;
        };
        let url = self.resolve(url);
        let Some(item) = &mut self.item else {
            return;
        };
        if item.enclosure.is_none() {
            item.enclosure = Some(Enclosure {
                url,
                mime_type: attr(attributes, "type")
                    .map(|t| t.trim().to_owned())
                    .filter(|t| !t.is_empty()),
                length: attr(attributes, "length").and_then(|l| l.trim().parse().ok()),
            });
        }
    }

    /// A link as written, made absolute when an `xml:base` is in force.
    fn resolve(&self, href: &str) -> String {
        let href = href.trim();
        match self.current_base() {
            Some(base) => base.join(href).map_or_else(|_| href.to_owned(), Into::into),
            None => href.to_owned(),
        }
    }

    fn capture(&mut self, frame: usize, target: Target, base64: bool) {
        self.capture = Some(Capture {
            frame,
            target,
            text: String::new(),
            base64,
        });
    }

    /// Attributes, leniently: HTML-style values are accepted and values are
    /// unescaped the forgiving way.
    fn attributes(&mut self, e: &BytesStart<'_>) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for attribute in e.html_attributes().with_checks(false).flatten() {
            let key = attribute.key.0.to_owned();
            let value = self.unescape(&attribute.value);
            out.push((key, value));
        }
        out
    }

    fn text(&mut self, text: &str) {
        if text.starts_with('&') {
            self.repairs.note("bare ampersand escaped");
        }
        self.append(text);
    }

    fn append(&mut self, text: &str) {
        if let Some(capture) = &mut self.capture {
            capture.text.push_str(text);
        }
    }

    /// `&name;` or `&#number;`.
    fn reference(&mut self, name: &str) {
        if self.capture.is_none() {
            return;
        }
        let expanded = self.expand(name, 0);
        self.append(&expanded);
    }

    /// The text a reference stands for, noting what it took.
    fn expand(&mut self, name: &str, depth: usize) -> String {
        if let Some(number) = name.strip_prefix('#') {
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => number.parse().ok(),
            };
            let storable = code.and_then(char::from_u32).filter(|c| {
                crate::model::article::is_text_char(*c) || matches!(c, '\t' | '\n' | '\r')
            });
            if let Some(c) = storable {
                return c.to_string();
            }
            self.repairs.note("invalid character reference dropped");
            return String::new();
        }
        match name {
            "amp" => return "&".to_owned(),
            "lt" => return "<".to_owned(),
            "gt" => return ">".to_owned(),
            "quot" => return "\"".to_owned(),
            "apos" => return "'".to_owned(),
            _ => {}
        }
        if let Some(value) = self.entities.get(name).cloned() {
            let size = self.entity_size(name, 0);
            if depth > 8 || size > ENTITY_MAX_BYTES || size > self.entity_budget {
                self.repairs
                    .note("internal entity too large to expand, kept as text");
                return format!("&{name};");
            }
            self.entity_budget -= size;
            return self.unescape_with_depth(&value, depth + 1);
        }
        let reference = format!("&{name};");
        let decoded = html_escape::decode_html_entities(&reference);
        if decoded != reference {
            self.repairs.note("HTML entity decoded");
            return decoded.into_owned();
        }
        self.repairs.note("unknown entity kept as text");
        reference
    }

    /// How many bytes an internal entity expands to (saturating), each
    /// entity's size computed once: a billion laughs costs ten lookups.
    fn entity_size(&mut self, name: &str, depth: usize) -> usize {
        if let Some(size) = self.entity_sizes.get(name) {
            return *size;
        }
        let Some(value) = self.entities.get(name).cloned() else {
            return name.len() + 2;
        };
        if depth > 8 {
            return usize::MAX;
        }
        let mut size = 0usize;
        let mut rest = value.as_str();
        while let Some(at) = rest.find('&') {
            size = size.saturating_add(at);
            let after = &rest[at + 1..];
            match after.find(';') {
                Some(end) if !after[..end].contains(char::is_whitespace) => {
                    size = size.saturating_add(self.entity_size(&after[..end], depth + 1));
                    rest = &after[end + 1..];
                }
                _ => {
                    size = size.saturating_add(1);
                    rest = after;
                }
            }
        }
        let size = size.saturating_add(rest.len());
        self.entity_sizes.insert(name.to_owned(), size);
        size
    }

    /// Unescapes raw text (attribute values, entity values) leniently.
    fn unescape(&mut self, raw: &str) -> String {
        self.unescape_with_depth(raw, 0)
    }

    fn unescape_with_depth(&mut self, raw: &str, depth: usize) -> String {
        if !raw.contains('&') {
            return raw.to_owned();
        }
        let mut out = String::with_capacity(raw.len());
        let mut rest = raw;
        while let Some(at) = rest.find('&') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            let end = after
                .find(|c: char| c == ';' || c == '&' || c == '<' || c.is_whitespace())
                .filter(|end| after[*end..].starts_with(';') && *end > 0);
            if let Some(end) = end {
                let expanded = self.expand(&after[..end], depth);
                out.push_str(&expanded);
                rest = &after[end + 1..];
            } else {
                self.repairs.note("bare ampersand escaped");
                out.push('&');
                rest = after;
            }
        }
        out.push_str(rest);
        out
    }

    /// Reads `<!ENTITY name "value">` declarations of the internal subset;
    /// parameter and external entities are ignored (never fetched).
    fn doctype(&mut self, text: &str) {
        let mut rest = text;
        while let Some(at) = rest.find("<!ENTITY") {
            rest = &rest[at + "<!ENTITY".len()..];
            let declaration = rest.trim_start();
            if declaration.starts_with('%') {
                continue;
            }
            let name_end = declaration
                .find(char::is_whitespace)
                .unwrap_or(declaration.len());
            let name = &declaration[..name_end];
            let value = declaration[name_end..].trim_start();
            let Some(quote) = value.chars().next().filter(|c| *c == '"' || *c == '\'') else {
                continue;
            };
            if let Some(end) = value[1..].find(quote) {
                self.entities
                    .insert(name.to_owned(), value[1..=end].to_owned());
            }
        }
    }

    /// `</name>`: closes what it names, as forgivingly as it can.
    fn end(&mut self, name: &str) {
        let capture_frame = self.capture.as_ref().map(|c| c.frame);
        // Summaries and content are HTML: a stray `</b>` there is the
        // author's markup, not the feed's structure.
        let in_markup = self
            .capture
            .as_ref()
            .is_some_and(|c| matches!(c.target, Target::Summary | Target::Content));
        let names = &self.names;
        let matches = |frame: &Frame| {
            let open = &names[frame.name.clone()];
            open == name || split_name(open).1.eq_ignore_ascii_case(split_name(name).1)
        };
        let found = self.stack.iter().rposition(matches);
        match (found, capture_frame) {
            // Inside captured content: close what it names there, or keep a
            // stray end tag as content.
            (Some(at), Some(frame)) if at > frame => self.close_to(at, false),
            (None, Some(frame)) if in_markup || self.stack.len() > frame + 1 => {
                if let Some(capture) = &mut self.capture {
                    capture.text.push_str("</");
                    capture
                        .text
                        .push_str(&split_name(name).1.to_ascii_lowercase());
                    capture.text.push('>');
                }
            }
            (Some(at), _) => self.close_to(at, true),
            // A typo'd end tag (`</titel>` for `<title>`) closes what it
            // plainly meant; anything else is dropped, so one stray tag
            // cannot close the item or channel around it.
            (None, _)
                if self.stack.last().is_some_and(|top| {
                    edit_distance(
                        split_name(&self.names[top.name.clone()]).1,
                        split_name(name).1,
                    ) <= 2
                }) =>
            {
                self.repairs
                    .note("mismatched end tag read as the open element's");
                self.close_top();
            }
            (None, _) => self.repairs.note("stray end tag ignored"),
        }
    }

    /// Closes every open element down to and including `index`.
    fn close_to(&mut self, index: usize, note_unclosed: bool) {
        while self.stack.len() > index + 1 {
            let inside_content = self
                .capture
                .as_ref()
                .is_some_and(|c| c.frame < self.stack.len() - 1);
            if note_unclosed && !inside_content {
                self.repairs.note("unclosed element closed");
            }
            self.close_top();
        }
        self.close_top();
    }

    /// Closes the innermost open element.
    fn close_top(&mut self) {
        let index = self.stack.len().saturating_sub(1);
        let Some(frame) = self.stack.pop() else {
            return;
        };
        if let Some(capture) = &mut self.capture
            && capture.frame < index
        {
            capture.text.push_str("</");
            let local = split_name(&self.names[frame.name.clone()]).1;
            let at = capture.text.len();
            capture.text.push_str(local);
            capture.text[at..].make_ascii_lowercase();
            capture.text.push('>');
            self.names.truncate(frame.name.start);
            return;
        }
        self.names.truncate(frame.name.start);
        if self.capture.as_ref().is_some_and(|c| c.frame == index)
            && let Some(capture) = self.capture.take()
        {
            self.finish_capture(capture, frame.base.as_ref());
        }
        if let Some(item) = &mut self.item {
            if item.author_frame == Some(index) {
                item.author_frame = None;
            }
            if item.frame == index
                && let Some(item) = self.item.take()
            {
                self.finish_item(item);
            }
        }
        if self.container == Some(index) {
            // After a channel closes, the root is the container again.
            self.container = (index > 0).then_some(0);
        }
    }

    fn finish_capture(&mut self, capture: Capture, base: Option<&Url>) {
        let mut text = capture.text;
        if capture.base64 {
            let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(compact.as_bytes())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok());
            let Some(decoded) = decoded else {
                self.repairs.note("binary content skipped");
                return;
            };
            text = decoded;
        }
        if text.trim().is_empty() {
            return;
        }
        // Most fields need no trimming: keep the captured buffer then.
        let end = text.trim_end().len();
        text.truncate(end);
        let start = text.len() - text.trim_start().len();
        text.drain(..start);
        let trimmed = text.as_str();
        let link = |builder: &Builder<'_>| match base.or_else(|| builder.current_base()) {
            Some(base) => base
                .join(trimmed)
                .map_or_else(|_| trimmed.to_owned(), Into::into),
            None => trimmed.to_owned(),
        };
        match capture.target {
            Target::FeedTitle => self.doc.title = Some(text),
            Target::FeedLink => self.doc.link = Some(link(self)),
            Target::Ttl => {
                self.doc.ttl = trimmed
                    .parse::<u64>()
                    .ok()
                    .map(|minutes| Duration::from_secs(minutes.saturating_mul(60)));
            }
            target => {
                let link = matches!(target, Target::Link).then(|| link(self));
                let Some(item) = &mut self.item else {
                    return;
                };
                let slot = match target {
                    Target::Title => &mut item.title,
                    Target::Link => &mut item.link,
                    Target::Guid => &mut item.guid,
                    Target::Published => &mut item.published,
                    Target::Created => &mut item.created,
                    Target::Updated => &mut item.updated,
                    Target::Summary => &mut item.summary,
                    Target::Content => &mut item.content,
                    Target::Author => &mut item.author,
                    Target::Category => {
                        item.categories.push(text);
                        return;
                    }
                    Target::FeedTitle | Target::FeedLink | Target::Ttl => return,
                };
                if slot.is_none() {
                    *slot = Some(link.unwrap_or(text));
                }
            }
        }
    }

    fn finish_item(&mut self, item: Item) {
        let mut date = |text: Option<&String>| {
            let text = text?;
            let parsed = parse_date(text);
            if parsed.is_none() {
                self.repairs.note("unreadable date left unknown");
            }
            parsed
        };
        let published_at = date(item.published.as_ref())
            .or_else(|| date(item.created.as_ref()))
            .or_else(|| date(item.updated.as_ref()));
        let link = item.link.or_else(|| {
            item.guid
                .filter(|g| g.starts_with("http://") || g.starts_with("https://"))
        });
        self.doc.items.push(ItemDraft {
            title: item.title,
            link,
            published_at,
            summary: item.summary.or(item.content),
            author: item.author.map(|a| author_name(&a)),
            origin: None,
            categories: item.categories,
            enclosure: item.enclosure,
        });
    }

    fn finish(mut self) -> Result<Document, NotAFeed> {
        if self.format.is_none() {
            return Err(NotAFeed::Unreadable("no element at all".to_owned()));
        }
        if !self.stack.is_empty() {
            if self.item.take().is_some() {
                self.repairs.note(
                    "document cut off: the items before the cut are kept, the one cut is dropped",
                );
            } else {
                self.repairs
                    .note("document cut off: its end tags are missing");
            }
        }
        Ok(self.doc)
    }
}

/// `name` in ASCII lower case, borrowed when it already is (most names).
fn ascii_lowercase(name: &str) -> std::borrow::Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(name.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

/// `prefix:local` → (Some(prefix), local).
fn split_name(name: &str) -> (Option<&str>, &str) {
    match name.split_once(':') {
        Some((prefix, local)) => (Some(prefix), local),
        None => (None, name),
    }
}

fn attr<'a>(attributes: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|(k, _)| {
            k == name
                || k.rsplit_once(':')
                    .is_some_and(|(_, local)| local == name && !name.contains(':'))
        })
        .map(|(_, v)| v.as_str())
}

/// Whether Atom content is base64: `mode="base64"` (Atom 0.3), or a MIME
/// type that is neither text nor markup (Atom 1.0).
fn is_base64(attributes: &[(String, String)]) -> bool {
    if attr(attributes, "mode").is_some_and(|m| m.trim().eq_ignore_ascii_case("base64")) {
        return true;
    }
    let Some(kind) = attr(attributes, "type").map(|t| t.trim().to_ascii_lowercase()) else {
        return false;
    };
    let textual = kind.is_empty()
        || matches!(kind.as_str(), "text" | "html" | "xhtml")
        || kind.starts_with("text/")
        || kind.ends_with("xml")
        || kind.ends_with("+json")
        || kind == "application/json"
        || kind == "application/javascript";
    !textual && kind.contains('/')
}

/// RSS puts `jane@example.com (Jane Doe)` in `<author>`: the name is wanted.
fn author_name(text: &str) -> String {
    let trimmed = text.trim();
    if let (Some(open), true) = (trimmed.find('('), trimmed.ends_with(')')) {
        let name = trimmed[open + 1..trimmed.len() - 1].trim();
        if !name.is_empty() && trimmed[..open].contains('@') {
            return name.to_owned();
        }
    }
    trimmed.to_owned()
}
