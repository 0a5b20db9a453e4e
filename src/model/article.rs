//! The article model: what a source hands over, and how it is normalised.
//!
//! Every source kind produces [`ItemDraft`]s, loose and untrusted. This module
//! turns them into [`Article`]s in exactly one way, so every kind gets the same
//! URL canonicalisation (the key that makes "seen again" work), the same
//! plain-text cleaning and the same length limits. It knows nothing of HTTP or SQL.

use chrono::{DateTime, Duration, Utc};
use url::Url;

/// Titles longer than this (in characters) are cut, so one hostile feed cannot
/// bloat every listing; the cut ends in an ellipsis.
pub const MAX_TITLE_CHARS: usize = 300;
/// Summaries longer than this (in characters) are cut.
pub const MAX_SUMMARY_CHARS: usize = 2_000;
/// Author and origin names longer than this are cut.
pub const MAX_NAME_CHARS: usize = 200;
/// At most this many categories are kept per article, each at most
/// [`MAX_CATEGORY_CHARS`] characters: enough to filter on, never a dump.
pub const MAX_CATEGORIES: usize = 20;
/// A category longer than this is cut.
pub const MAX_CATEGORY_CHARS: usize = 100;

/// A file attached to an item (a podcast episode, an image): its URL, and
/// what the feed says of its type and size.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Enclosure {
    /// Where the file is (absolute once cleaned).
    pub url: String,
    /// Its MIME type, as the feed says.
    pub mime_type: Option<String>,
    /// Its size in bytes, as the feed says.
    pub length: Option<u64>,
}

/// An item as a parser found it, before any cleaning: fields may hold HTML,
/// entities, relative links or nonsense dates.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemDraft {
    /// The title as found (may hold markup or entities).
    pub title: Option<String>,
    /// The link as found (may be relative).
    pub link: Option<String>,
    /// The publication time, if it parsed.
    pub published_at: Option<DateTime<Utc>>,
    /// A summary or the content, as found.
    pub summary: Option<String>,
    /// The author's name.
    pub author: Option<String>,
    /// The outlet behind an aggregator API (NewsAPI's `source.name`).
    pub origin: Option<String>,
    /// Categories or tags, as found.
    pub categories: Vec<String>,
    /// The first enclosure, as found (its URL may be relative).
    pub enclosure: Option<Enclosure>,
}

/// A cleaned article, ready to store: `url` is canonical and unique per article.
#[derive(Debug, Clone, PartialEq)]
pub struct Article {
    /// Plain text, at most 300 characters; the URL when the item had none.
    pub title: String,
    /// Canonical: the article's identity across fetches and sources.
    pub url: String,
    /// Publication time; `None` when unknown or more than a day ahead.
    pub published_at: Option<DateTime<Utc>>,
    /// Plain text, at most 2,000 characters.
    pub summary: Option<String>,
    /// Plain text, at most 200 characters.
    pub author: Option<String>,
    /// The outlet behind an aggregator API.
    pub origin: Option<String>,
    /// Plain-text categories, without duplicates, in the feed's order.
    pub categories: Vec<String>,
    /// The first enclosure with an http(s) URL.
    pub enclosure: Option<Enclosure>,
    /// Hash of the normalised title: the same headline syndicated under
    /// different URLs shares it, so readers can collapse duplicates.
    pub fingerprint: String,
}

/// Why a draft was not kept; counted per fetch, never fatal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropReason {
    /// The item had no link at all.
    NoLink,
    /// The link was not an http(s) URL.
    BadLink,
}

impl Article {
    /// Cleans a draft. `base` resolves relative links (the feed's own URL);
    /// `now` bounds publication dates (more than a day ahead is treated as unknown).
    ///
    /// # Errors
    /// A [`DropReason`] when the draft has no usable link.
    pub fn from_draft(
        draft: &ItemDraft,
        base: Option<&Url>,
        now: DateTime<Utc>,
    ) -> Result<Article, DropReason> {
        let raw_link = draft.link.as_deref().map(str::trim).unwrap_or_default();
        if raw_link.is_empty() {
            return Err(DropReason::NoLink);
        }
        let parsed = match base {
            Some(base) => base.join(raw_link),
            None => Url::parse(raw_link),
        };
        let url = parsed
            .ok()
            .and_then(|u| canonical_url(&u))
            .ok_or(DropReason::BadLink)?;
        let title = draft
            .title
            .as_deref()
            .map(|t| clean_text(t, MAX_TITLE_CHARS))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| url.clone());
        let published_at = draft
            .published_at
            .filter(|at| *at <= now + Duration::days(1));
        let mut categories: Vec<String> = Vec::new();
        for category in &draft.categories {
            if categories.len() == MAX_CATEGORIES {
                break;
            }
            let clean = clean_text(category, MAX_CATEGORY_CHARS);
            if !clean.is_empty() && !categories.contains(&clean) {
                categories.push(clean);
            }
        }
        let enclosure = draft.enclosure.as_ref().and_then(|e| {
            let url = match base {
                Some(base) => base.join(e.url.trim()),
                None => Url::parse(e.url.trim()),
            }
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))?;
            Some(Enclosure {
                url: url.into(),
                mime_type: clean_optional(e.mime_type.as_deref(), MAX_NAME_CHARS),
                length: e.length,
            })
        });
        Ok(Article {
            fingerprint: fingerprint(&title),
            title,
            url,
            published_at,
            summary: clean_optional(draft.summary.as_deref(), MAX_SUMMARY_CHARS),
            author: clean_optional(draft.author.as_deref(), MAX_NAME_CHARS),
            origin: clean_optional(draft.origin.as_deref(), MAX_NAME_CHARS),
            categories,
            enclosure,
        })
    }
}

fn clean_optional(text: Option<&str>, max_chars: usize) -> Option<String> {
    text.map(|t| clean_text(t, max_chars))
        .filter(|t| !t.is_empty())
}

/// [`plain_text`] cut to `max_chars`, copying only when it has to be cut.
fn clean_text(text: &str, max_chars: usize) -> String {
    let clean = plain_text(text);
    if clean.len() <= max_chars {
        // At most `max_chars` bytes, so at most that many characters.
        clean
    } else {
        truncate_chars(&clean, max_chars)
    }
}

/// Query parameters that only track the reader; dropping them lets the same
/// article shared through different campaigns count once.
fn is_tracking_param(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "rb_clickid",
        "s_cid",
        "ncid",
        "cmpid",
        "ocid",
        "_ga",
        "_gl",
    ];
    let lower = name.to_ascii_lowercase();
    lower.starts_with("utm_") || EXACT.contains(&lower.as_str())
}

/// The identity of an article: http(s) only, lower-case scheme and host (the
/// `url` crate does both), default port dropped, no fragment, no tracking
/// parameters. Returns `None` for anything that is not a web link.
pub fn canonical_url(url: &Url) -> Option<String> {
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    let mut url = url.clone();
    url.set_fragment(None);
    if url.query().is_some() {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| !is_tracking_param(k))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    Some(url.into())
}

/// FNV-1a over the title's lower-cased words: stable across releases and
/// platforms (unlike `DefaultHasher`), which matters for a value on disk.
pub fn fingerprint(title: &str) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    let mut first = true;
    for word in title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !first {
            hash = (hash ^ u64::from(b' ')).wrapping_mul(PRIME);
        }
        first = false;
        if word.is_ascii() {
            // Fast path (most headlines): same bytes as the general case.
            for byte in word.bytes() {
                hash = (hash ^ u64::from(byte.to_ascii_lowercase())).wrapping_mul(PRIME);
            }
            continue;
        }
        for c in word.chars().flat_map(char::to_lowercase) {
            let mut buf = [0u8; 4];
            for byte in c.encode_utf8(&mut buf).bytes() {
                hash = (hash ^ u64::from(byte)).wrapping_mul(PRIME);
            }
        }
    }
    format!("{hash:016x}")
}

/// Markup to plain text: drops tags (and the contents of `script`/`style`),
/// decodes entities, folds whitespace. Titles are stored as text so that no
/// reader of the database ever renders a feed's HTML by accident.
pub fn plain_text(input: &str) -> String {
    if is_plain_ascii(input) {
        return input.to_owned();
    }
    clean_markup(input)
}

/// The full cleaning behind [`plain_text`].
fn clean_markup(input: &str) -> String {
    let without_tags = if input.contains('<') {
        strip_tags(input)
    } else {
        input.to_owned()
    };
    let decoded = html_escape::decode_html_entities(&without_tags);
    let decoded = if decoded.contains("&#") {
        std::borrow::Cow::Owned(drop_unstorable_references(&decoded))
    } else {
        decoded
    };
    let mut out = String::with_capacity(decoded.len());
    for word in decoded.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().filter(|c| is_text_char(*c)));
    }
    // A word made only of dropped characters leaves a trailing space.
    out.truncate(out.trim_end().len());
    out
}

/// Whether `text` is already what [`plain_text`] would make of it, judged
/// cheaply: printable ASCII without markup or entities, single spaces, no
/// space at either end. Most titles and many summaries are; they skip the
/// copies of the full cleaning.
fn is_plain_ascii(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut previous_space = true;
    for &b in bytes {
        match b {
            b' ' if previous_space => return false,
            b' ' => previous_space = true,
            b'<' | b'&' => return false,
            0x21..=0x7E => previous_space = false,
            _ => return false,
        }
    }
    !previous_space || bytes.is_empty()
}

/// Removes the numeric character references the entity decoder left alone
/// because they name no storable character (`&#0;`, `&#x1;`, `&#xFFFF;`,
/// `&#x110000;`): they are markup errors, not text.
fn drop_unstorable_references(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("&#") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let (digits, radix) = match after.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16),
            None => (after, 10),
        };
        let len = digits
            .find(|c: char| !c.is_digit(radix))
            .unwrap_or(digits.len());
        let unstorable = digits[len..].starts_with(';')
            && len > 0
            && u32::from_str_radix(&digits[..len], radix)
                .ok()
                .and_then(char::from_u32)
                .is_none_or(|c| !is_text_char(c));
        if unstorable {
            rest = &digits[len + 1..];
        } else {
            out.push_str("&#");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Whether `c` belongs in stored text: XML 1.0's `Char` production (so
/// every export is well-formed XML) without C0 and C1 control characters
/// (tab and newline are folded into spaces before this runs).
pub fn is_text_char(c: char) -> bool {
    let code = u32::from(c);
    !(code < 0x20 || (0x7F..=0x9F).contains(&code) || code == 0xFFFE || code == 0xFFFF)
}

fn strip_tags(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        if !looks_like_markup(&after[1..]) {
            // "a < b", "Vec<T>", "<SQLite>" are text, not tags.
            out.push('<');
            rest = &after[1..];
            continue;
        }
        let Some(close) = after.find('>') else {
            // A lone '<' is text ("a < b"), not a tag.
            out.push_str(after);
            return out;
        };
        let tag = after[1..close].trim_start_matches('/').to_ascii_lowercase();
        let name: String = tag.chars().take_while(|c| c.is_alphanumeric()).collect();
        rest = &after[close + 1..];
        if !after.starts_with("</") && (name == "script" || name == "style") {
            let end = format!("</{name}");
            match rest.to_ascii_lowercase().find(&end) {
                Some(at) => {
                    let skip = rest[at..].find('>').map_or(rest.len(), |gt| at + gt + 1);
                    rest = &rest[skip..];
                }
                None => return out,
            }
        }
        if !is_inline(&name) {
            out.push(' ');
        }
    }
    out.push_str(rest);
    out
}

/// Whether the text after a `<` opens markup: a comment, a declaration or
/// processing instruction, or a known HTML element (opening or closing).
/// Anything else in angle brackets is text a headline really contains.
fn looks_like_markup(after_lt: &str) -> bool {
    const ELEMENTS: &[&str] = &[
        "a",
        "abbr",
        "address",
        "article",
        "aside",
        "audio",
        "b",
        "bdi",
        "bdo",
        "big",
        "blockquote",
        "body",
        "br",
        "button",
        "caption",
        "center",
        "cite",
        "code",
        "col",
        "colgroup",
        "dd",
        "del",
        "details",
        "dfn",
        "div",
        "dl",
        "dt",
        "em",
        "embed",
        "figcaption",
        "figure",
        "font",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "head",
        "header",
        "hr",
        "html",
        "i",
        "iframe",
        "img",
        "input",
        "ins",
        "kbd",
        "label",
        "li",
        "link",
        "main",
        "mark",
        "meta",
        "nav",
        "noscript",
        "object",
        "ol",
        "option",
        "p",
        "picture",
        "pre",
        "q",
        "s",
        "samp",
        "script",
        "section",
        "small",
        "source",
        "span",
        "strike",
        "strong",
        "style",
        "sub",
        "summary",
        "sup",
        "svg",
        "table",
        "tbody",
        "td",
        "template",
        "tfoot",
        "th",
        "thead",
        "time",
        "title",
        "tr",
        "tt",
        "u",
        "ul",
        "var",
        "video",
        "wbr",
    ];
    if after_lt.starts_with('!') || after_lt.starts_with('?') {
        return true;
    }
    let name: String = after_lt
        .trim_start_matches('/')
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    ELEMENTS.contains(&name.as_str())
}

/// Inline elements sit inside a word run ("<b>five</b>." reads "five.");
/// anything else (paragraphs, breaks, list items) separates words.
fn is_inline(tag: &str) -> bool {
    const INLINE: &[&str] = &[
        "a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "font", "i", "kbd",
        "mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u", "var",
    ];
    INLINE.contains(&tag)
}

/// Cuts at a character (not byte) boundary, marking the cut with an ellipsis.
pub fn truncate_chars(text: &str, max_chars: usize) -> String {
    if text.len() <= max_chars {
        return text.to_owned();
    }
    match text.char_indices().nth(max_chars) {
        None => text.to_owned(),
        Some((cut, _)) => {
            let mut short = text[..cut].trim_end().to_owned();
            short.pop();
            short.push('…');
            short
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> Option<String> {
        canonical_url(&Url::parse(s).expect("test URL parses"))
    }

    #[test]
    fn canonical_url_lowercases_and_drops_default_port_and_fragment() {
        assert_eq!(
            canon("HTTPS://Example.COM:443/Path/A?b=1#section").as_deref(),
            Some("https://example.com/Path/A?b=1")
        );
        assert_eq!(
            canon("http://example.com:80/").as_deref(),
            Some("http://example.com/")
        );
        assert_eq!(
            canon("http://example.com:8080/x").as_deref(),
            Some("http://example.com:8080/x")
        );
    }

    #[test]
    fn canonical_url_drops_tracking_parameters_only() {
        assert_eq!(
            canon("https://e.com/a?utm_source=x&id=7&UTM_Medium=y&fbclid=z&gclid=q").as_deref(),
            Some("https://e.com/a?id=7")
        );
        assert_eq!(
            canon("https://e.com/a?utm_source=x").as_deref(),
            Some("https://e.com/a")
        );
    }

    #[test]
    fn canonical_url_rejects_non_web_links() {
        assert_eq!(canon("mailto:a@b.c"), None);
        assert_eq!(canon("javascript:alert(1)"), None);
        assert_eq!(canon("ftp://e.com/x"), None);
    }

    proptest::proptest! {
        /// The fast path only takes text the full cleaning would leave as it is.
        #[test]
        fn plain_ascii_is_what_the_full_cleaning_leaves_alone(text in "[ -~]{0,40}") {
            if is_plain_ascii(&text) {
                proptest::prop_assert_eq!(clean_markup(&text), text);
            }
        }
    }

    #[test]
    fn plain_text_strips_markup_scripts_and_entities() {
        assert_eq!(
            plain_text("<b>Rust</b> &amp; <i>tokio</i>&nbsp;1.0 <script>alert('x')</script>done"),
            "Rust & tokio 1.0 done"
        );
        assert_eq!(
            plain_text("<p>In <b>five</b>.</p><p>Next<br/>line</p>"),
            "In five. Next line"
        );
        assert_eq!(plain_text("a < b and c > d"), "a < b and c > d");
        assert_eq!(
            plain_text("Rust &amp; <SQLite>: Vec<T> <b>bold</b>"),
            "Rust & <SQLite>: Vec<T> bold"
        );
        assert_eq!(plain_text("  many \n\t spaces "), "many spaces");
    }

    #[test]
    fn control_and_non_xml_characters_never_reach_the_database() {
        assert_eq!(
            plain_text("Null\u{0}byte \u{1b}[31mred\u{85} and \u{FFFE}\u{FFFF}nonchars"),
            "Nullbyte [31mred and nonchars"
        );
        assert_eq!(plain_text("&#0;&#x1;ok&#xFFFF; \u{7}"), "ok");
        assert_eq!(plain_text("tab\tand\nnewline"), "tab and newline");
        assert_eq!(plain_text("emoji 🦀 and é"), "emoji 🦀 and é");
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate_chars("héllo wörld", 5), "héll…");
        assert_eq!(truncate_chars("short", 10), "short");
        let long = "é".repeat(MAX_TITLE_CHARS * 3);
        assert_eq!(
            truncate_chars(&long, MAX_TITLE_CHARS).chars().count(),
            MAX_TITLE_CHARS
        );
    }

    #[test]
    fn fingerprint_ignores_case_and_punctuation() {
        assert_eq!(
            fingerprint("Rust 2.0 released!"),
            fingerprint("rust 2 0   RELEASED")
        );
        assert_ne!(fingerprint("Rust released"), fingerprint("Go released"));
        assert_eq!(fingerprint("ÉTÉ Zürich"), fingerprint("été zürich"));
        // The published FNV-1a 64 test vector for "a".
        assert_eq!(fingerprint("a"), "af63dc4c8601ec8c");
    }

    #[test]
    fn from_draft_resolves_relative_links_and_nulls_future_dates() {
        let now = Utc::now();
        let base = Url::parse("https://news.example/feed.xml").expect("base parses");
        let draft = ItemDraft {
            title: Some("<em>Hello</em>".into()),
            link: Some("/posts/1?utm_campaign=x#top".into()),
            published_at: Some(now + Duration::days(30)),
            ..ItemDraft::default()
        };
        let article = Article::from_draft(&draft, Some(&base), now).expect("draft is valid");
        assert_eq!(article.url, "https://news.example/posts/1");
        assert_eq!(article.title, "Hello");
        assert_eq!(article.published_at, None);
    }

    #[test]
    fn from_draft_without_link_is_dropped_and_without_title_uses_url() {
        let now = Utc::now();
        assert_eq!(
            Article::from_draft(&ItemDraft::default(), None, now),
            Err(DropReason::NoLink)
        );
        let draft = ItemDraft {
            link: Some("https://e.com/x".into()),
            ..ItemDraft::default()
        };
        let article = Article::from_draft(&draft, None, now).expect("draft is valid");
        assert_eq!(article.title, "https://e.com/x");
    }
}
