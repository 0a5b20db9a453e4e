//! Bytes to UTF-8 text, the way a forgiving feed reader does it (RFC 7303
//! and feedparser's rules), noting every guess in the repair record.
//!
//! Real feeds lie about their encoding, omit it, or send UTF-16 without a
//! byte-order mark. The rules, in order:
//! 1. a byte-order mark wins (UTF-8, UTF-16 and UTF-32 in both byte orders);
//! 2. a body whose bytes are UTF-16 or UTF-32 (the zero bytes around `<`
//!    show it) is read so, whatever a header claims;
//! 3. the HTTP `charset`, for `text/*` and XML media types (and for JSON);
//! 4. the XML declaration's `encoding`;
//! 5. UTF-8.
//!
//! A charset name that is bogus or unknown is skipped (and noted). Bytes
//! invalid in the chosen encoding become U+FFFD; a "UTF-8" body with not a
//! single valid multi-byte sequence is what most mislabelled Western feeds
//! really are, Windows-1252, and is read so. Nothing here fails a feed.

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252};

use super::repairs::Repairs;

/// An encoding herald can read: `encoding_rs`'s, plus UTF-32 (which the
/// Encoding Standard leaves out and a few feeds still use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Charset {
    Known(&'static Encoding),
    Utf32Le,
    Utf32Be,
}

/// Decodes an XML body and drops what comes before its first tag (BOMs,
/// whitespace, junk), so the parser starts at the prolog or the root.
pub(crate) fn decode_xml<'a>(
    body: &'a [u8],
    content_type: Option<&str>,
    repairs: &mut Repairs,
) -> Cow<'a, str> {
    let header = content_type
        .filter(|ct| is_xml_or_text(ct))
        .and_then(http_charset);
    let text = decode(body, header, xml_declared_encoding, repairs);
    trim_prolog(text, repairs)
}

/// Decodes a JSON body (RFC 8259 says UTF-8, but servers send what they
/// send). A lone surrogate escape (`"\ud83d"`, half an emoji cut by a
/// truncating server) becomes U+FFFD instead of failing the document.
pub(crate) fn decode_json<'a>(
    body: &'a [u8],
    content_type: Option<&str>,
    repairs: &mut Repairs,
) -> Cow<'a, str> {
    let header = content_type.and_then(http_charset);
    let text = decode(body, header, |_| None, repairs);
    let text = match text {
        Cow::Borrowed(t) => Cow::Borrowed(t.trim_start_matches('\u{feff}')),
        Cow::Owned(t) => Cow::Owned(t.trim_start_matches('\u{feff}').to_owned()),
    };
    match repair_lone_surrogates(&text) {
        Some((repaired, n)) => {
            repairs.note_n("lone surrogate escape read as U+FFFD", n);
            Cow::Owned(repaired)
        }
        None => text,
    }
}

fn is_xml_or_text(content_type: &str) -> bool {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    mime.starts_with("text/") || mime.ends_with("/xml") || mime.ends_with("+xml")
}

fn decode<'a>(
    body: &'a [u8],
    header: Option<&str>,
    declared: impl Fn(&[u8]) -> Option<String>,
    repairs: &mut Repairs,
) -> Cow<'a, str> {
    if let Some((charset, bom)) = bom(body) {
        return decode_as(charset, &body[bom..], repairs);
    }
    if let Some(charset) = sniff_wide(body) {
        return decode_as(charset, body, repairs);
    }
    let declared = declared(body);
    for label in [header, declared.as_deref()].into_iter().flatten() {
        match charset_of(label) {
            // A UTF-16/32 label on bytes with no zero bytes is stale.
            Some(Charset::Known(e)) if e == UTF_16LE || e == UTF_16BE => {}
            Some(Charset::Utf32Le | Charset::Utf32Be) => {}
            Some(charset) => return decode_as(charset, body, repairs),
            None => repairs.note(format!("unknown charset {label:?} ignored")),
        }
    }
    decode_as(Charset::Known(UTF_8), body, repairs)
}

/// The byte-order mark at the start of `body`, and its length.
fn bom(body: &[u8]) -> Option<(Charset, usize)> {
    match body {
        [0x00, 0x00, 0xFE, 0xFF, ..] => Some((Charset::Utf32Be, 4)),
        [0xFF, 0xFE, 0x00, 0x00, ..] => Some((Charset::Utf32Le, 4)),
        _ => Encoding::for_bom(body).map(|(e, len)| (Charset::Known(e), len)),
    }
}

/// UTF-16 or UTF-32 without a BOM, as XML's appendix F recognises it: the
/// zero bytes around the first characters.
fn sniff_wide(body: &[u8]) -> Option<Charset> {
    match body {
        [0, 0, 0, a, ..] if *a != 0 => Some(Charset::Utf32Be),
        [a, 0, 0, 0, ..] if *a != 0 => Some(Charset::Utf32Le),
        [a, 0, b, 0, ..] if *a != 0 && *b != 0 => Some(Charset::Known(UTF_16LE)),
        [0, a, 0, b, ..] if *a != 0 && *b != 0 => Some(Charset::Known(UTF_16BE)),
        _ => None,
    }
}

fn charset_of(label: &str) -> Option<Charset> {
    let label = label.trim().trim_matches(['"', '\'']);
    match label.to_ascii_lowercase().replace('_', "-").as_str() {
        "utf-32" | "utf-32be" | "ucs-4" => Some(Charset::Utf32Be),
        "utf-32le" => Some(Charset::Utf32Le),
        _ => Encoding::for_label(label.as_bytes()).map(Charset::Known),
    }
}

fn decode_as<'a>(charset: Charset, bytes: &'a [u8], repairs: &mut Repairs) -> Cow<'a, str> {
    match charset {
        Charset::Known(e) if e == UTF_8 => utf8_or_guess(bytes, repairs),
        Charset::Known(e) => {
            let (text, had_errors) = e.decode_without_bom_handling(bytes);
            if had_errors {
                repairs.note(format!(
                    "bytes invalid in {} replaced with U+FFFD",
                    e.name()
                ));
            }
            text
        }
        Charset::Utf32Le | Charset::Utf32Be => {
            let big = charset == Charset::Utf32Be;
            let mut invalid = 0;
            let text = bytes
                .chunks(4)
                .map(|chunk| {
                    let mut quad = [0u8; 4];
                    quad[..chunk.len()].copy_from_slice(chunk);
                    let code = if big {
                        u32::from_be_bytes(quad)
                    } else {
                        u32::from_le_bytes(quad)
                    };
                    char::from_u32(code)
                        .filter(|_| chunk.len() == 4)
                        .unwrap_or_else(|| {
                            invalid += 1;
                            '\u{FFFD}'
                        })
                })
                .collect();
            if invalid > 0 {
                repairs.note_n("bytes invalid in UTF-32 replaced with U+FFFD", invalid);
            }
            Cow::Owned(text)
        }
    }
}

/// UTF-8 when it is; lossy UTF-8 when it mostly is (some multi-byte
/// sequences are valid); Windows-1252 when none is.
fn utf8_or_guess<'a>(bytes: &'a [u8], repairs: &mut Repairs) -> Cow<'a, str> {
    let error = match std::str::from_utf8(bytes) {
        Ok(text) => return Cow::Borrowed(text),
        Err(error) => error,
    };
    let head = &bytes[..error.valid_up_to()];
    let any_multibyte = |chunk: &[u8]| chunk.iter().any(|b| *b >= 0x80);
    let valid_multibyte = any_multibyte(head)
        || String::from_utf8_lossy(bytes)
            .chars()
            .any(|c| c != '\u{FFFD}' && !c.is_ascii());
    if valid_multibyte {
        let text = String::from_utf8_lossy(bytes);
        let replaced = text.matches('\u{FFFD}').count();
        repairs.note_n(
            "bytes invalid in UTF-8 replaced with U+FFFD",
            replaced.max(1),
        );
        text
    } else {
        repairs.note("not valid UTF-8: read as Windows-1252");
        WINDOWS_1252.decode_without_bom_handling(bytes).0
    }
}

/// `text/xml; charset="ISO-8859-1"` → `ISO-8859-1`.
fn http_charset(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches(['"', '\'']))
            .filter(|v| !v.is_empty())
    })
}

/// The `encoding` of `<?xml version="1.0" encoding="..."?>`, read as ASCII.
fn xml_declared_encoding(body: &[u8]) -> Option<String> {
    let head = &body[..body.len().min(512)];
    let head = String::from_utf8_lossy(head);
    let declaration = head.trim_start().strip_prefix("<?xml")?;
    let declaration = &declaration[..declaration.find("?>")?];
    let after = &declaration[declaration.find("encoding")? + "encoding".len()..];
    let after = after.trim_start().strip_prefix('=')?.trim_start();
    let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &after[1..];
    Some(value[..value.find(quote)?].to_owned())
}

/// Drops everything before the first `<`: whitespace, byte-order marks (the
/// first was taken off with the encoding; another is a repair) and junk (a
/// repair).
fn trim_prolog<'a>(text: Cow<'a, str>, repairs: &mut Repairs) -> Cow<'a, str> {
    let boms = text
        .chars()
        .take_while(|c| *c == '\u{feff}' || c.is_whitespace())
        .filter(|c| *c == '\u{feff}')
        .count();
    if boms > 0 {
        repairs.note("byte-order mark repeated");
    }
    let start = text.find('<').unwrap_or(text.len());
    if text[..start]
        .chars()
        .any(|c| c != '\u{feff}' && !c.is_whitespace())
    {
        repairs.note("junk before the root element skipped");
    }
    if start == 0 {
        return text;
    }
    match text {
        Cow::Borrowed(t) => Cow::Borrowed(&t[start..]),
        Cow::Owned(t) => Cow::Owned(t[start..].to_owned()),
    }
}

/// Rewrites `\uD800`–`\uDFFF` escapes that are not a valid high-low pair as
/// `\uFFFD`; `None` when there are none (the common case costs one scan).
fn repair_lone_surrogates(json: &str) -> Option<(String, usize)> {
    fn escape_at(bytes: &[u8], at: usize) -> Option<u32> {
        let hex = bytes.get(at..at + 6)?;
        if hex[0] != b'\\' || hex[1] != b'u' {
            return None;
        }
        u32::from_str_radix(std::str::from_utf8(&hex[2..]).ok()?, 16).ok()
    }
    let bytes = json.as_bytes();
    let mut out: Option<String> = None;
    let mut repaired = 0;
    let mut copied = 0;
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] != b'\\' {
            at += 1;
            continue;
        }
        let Some(code) = escape_at(bytes, at) else {
            // Any other escape, `\\` included: skip both characters.
            at += 2;
            continue;
        };
        let pair = (0xD800..0xDC00).contains(&code)
            && escape_at(bytes, at + 6).is_some_and(|low| (0xDC00..0xE000).contains(&low));
        if pair {
            at += 12;
        } else if (0xD800..0xE000).contains(&code) {
            let out = out.get_or_insert_with(|| String::with_capacity(json.len()));
            out.push_str(&json[copied..at]);
            out.push_str("\\uFFFD");
            repaired += 1;
            at += 6;
            copied = at;
        } else {
            at += 6;
        }
    }
    out.map(|mut out| {
        out.push_str(&json[copied..]);
        (out, repaired)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(body: &[u8], content_type: Option<&str>) -> (String, Vec<String>) {
        let mut repairs = Repairs::default();
        let text = decode_xml(body, content_type, &mut repairs).into_owned();
        (text, repairs.into_warnings())
    }

    fn utf16le(text: &str, bom: bool) -> Vec<u8> {
        let mut out = if bom { vec![0xFF, 0xFE] } else { Vec::new() };
        out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        out
    }

    fn utf16be(text: &str, bom: bool) -> Vec<u8> {
        let mut out = if bom { vec![0xFE, 0xFF] } else { Vec::new() };
        out.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
        out
    }

    fn utf32(text: &str, big: bool, bom: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if bom {
            out.extend(if big {
                [0, 0, 0xFE, 0xFF]
            } else {
                [0xFF, 0xFE, 0, 0]
            });
        }
        for c in text.chars() {
            let code = u32::from(c);
            out.extend(if big {
                code.to_be_bytes()
            } else {
                code.to_le_bytes()
            });
        }
        out
    }

    #[test]
    fn utf16_and_utf32_in_both_byte_orders_with_and_without_bom() {
        let doc = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><rss>é</rss>";
        for body in [
            utf16le(doc, true),
            utf16le(doc, false),
            utf16be(doc, true),
            utf16be(doc, false),
            utf32(doc, true, true),
            utf32(doc, true, false),
            utf32(doc, false, true),
            utf32(doc, false, false),
        ] {
            let (text, warnings) = xml(&body, Some("text/xml; charset=iso-8859-1"));
            assert_eq!(text, doc, "{body:?}");
            assert!(warnings.is_empty(), "{warnings:?}");
        }
    }

    #[test]
    fn header_then_declaration_then_utf8() {
        let body = b"<?xml version='1.0' encoding='ISO-8859-1'?>\n<rss>caf\xe9</rss>";
        assert_eq!(
            xml(body, Some("application/rss+xml")).0,
            "<?xml version='1.0' encoding='ISO-8859-1'?>\n<rss>café</rss>"
        );
        let body = b"<?xml version='1.0' encoding='utf-8'?><rss>\xe9</rss>";
        assert!(
            xml(body, Some("text/xml; charset=\"windows-1252\""))
                .0
                .ends_with("<rss>é</rss>"),
            "the header beats the declaration"
        );
        let (text, warnings) = xml(
            b"<?xml version='1.0' encoding='klingon'?><rss>ok</rss>",
            Some("application/octet-stream; charset=latin1"),
        );
        assert!(text.ends_with("<rss>ok</rss>"));
        assert_eq!(warnings, ["unknown charset \"klingon\" ignored"]);
    }

    #[test]
    fn a_false_utf8_claim_is_windows_1252_or_lossy_utf8() {
        let (text, warnings) = xml(
            b"<rss>smart \x93quotes\x94</rss>",
            Some("text/xml; charset=utf-8"),
        );
        assert_eq!(text, "<rss>smart \u{201c}quotes\u{201d}</rss>");
        assert_eq!(warnings, ["not valid UTF-8: read as Windows-1252"]);
        let (text, warnings) = xml(
            "<rss>café \u{2014} "
                .as_bytes()
                .iter()
                .copied()
                .chain(*b"\xff</rss>")
                .collect::<Vec<u8>>()
                .as_slice(),
            None,
        );
        assert_eq!(text, "<rss>café \u{2014} \u{FFFD}</rss>");
        assert_eq!(warnings, ["bytes invalid in UTF-8 replaced with U+FFFD"]);
    }

    #[test]
    fn boms_and_junk_before_the_root() {
        let (text, warnings) = xml("\u{feff}\u{feff}  <rss/>".as_bytes(), None);
        assert_eq!(text, "<rss/>");
        assert_eq!(warnings, ["byte-order mark repeated"]);
        // A UTF-8 BOM in front of a UTF-16 declaration: the BOM wins.
        let (text, warnings) = xml(
            b"\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-16\"?><rss/>",
            None,
        );
        assert_eq!(text, "<?xml version=\"1.0\" encoding=\"UTF-16\"?><rss/>");
        assert!(warnings.is_empty());
        let (text, warnings) = xml(b"Warning: something\n<rss/>", None);
        assert_eq!(text, "<rss/>");
        assert_eq!(warnings, ["junk before the root element skipped"]);
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        let mut repairs = Repairs::default();
        assert_eq!(
            decode_json(
                br#"{"a":"\ud83d cut","b":"\ud83e\udd80 crab","c":"\udc00","d":"\\ud83d"}"#,
                None,
                &mut repairs
            ),
            r#"{"a":"\uFFFD cut","b":"\ud83e\udd80 crab","c":"\uFFFD","d":"\\ud83d"}"#
        );
        assert_eq!(
            repairs.into_warnings(),
            ["lone surrogate escape read as U+FFFD ×2"]
        );
        let plain = r#"{"a":"no escapes"}"#;
        assert_eq!(
            decode_json(plain.as_bytes(), None, &mut Repairs::default()),
            plain
        );
        assert_eq!(
            decode_json(b"\xEF\xBB\xBF{\"a\":1}", None, &mut Repairs::default()),
            "{\"a\":1}"
        );
    }
}
