//! Bytes to UTF-8 text, the way a forgiving feed reader does it.
//!
//! Real feeds lie about their encoding, omit it, or send UTF-16 without a
//! byte-order mark. The rules, in order: a BOM wins; UTF-16 is recognised by
//! its zero bytes; then the HTTP `charset`, then the XML declaration; a
//! declared UTF-8 that is not valid UTF-8 falls through to the next clue; the
//! last resort is Windows-1252, which decodes any byte and is what most
//! mislabelled Western feeds really are.

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252};

/// Decodes an XML body and rewrites its prologue so the XML parser sees
/// UTF-8 with no stale `encoding=` declaration.
pub(super) fn decode_xml(body: &[u8], content_type: Option<&str>) -> String {
    let declared = xml_declared_encoding(body);
    let text = decode(body, content_type, declared.as_deref());
    strip_xml_declaration(&text).to_owned()
}

/// Decodes a JSON body (RFC 8259 says UTF-8, but servers send what they send).
/// A lone surrogate escape (`"\ud83d"`, half an emoji cut by a truncating
/// server) becomes U+FFFD instead of failing the whole document.
pub(super) fn decode_json(body: &[u8], content_type: Option<&str>) -> String {
    let text = decode(body, content_type, None);
    match repair_lone_surrogates(&text) {
        Some(repaired) => repaired,
        None => text.into_owned(),
    }
}

/// Rewrites `\uD800`–`\uDFFF` escapes that are not a valid high-low pair as
/// `\uFFFD`; `None` when there are none (the common case costs one scan).
fn repair_lone_surrogates(json: &str) -> Option<String> {
    fn escape_at(bytes: &[u8], at: usize) -> Option<u32> {
        let hex = bytes.get(at..at + 6)?;
        if hex[0] != b'\\' || hex[1] != b'u' {
            return None;
        }
        u32::from_str_radix(std::str::from_utf8(&hex[2..]).ok()?, 16).ok()
    }
    let bytes = json.as_bytes();
    let mut out: Option<String> = None;
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
            at += 6;
            copied = at;
        } else {
            at += 6;
        }
    }
    out.map(|mut out| {
        out.push_str(&json[copied..]);
        out
    })
}

fn decode<'a>(body: &'a [u8], content_type: Option<&str>, declared: Option<&str>) -> Cow<'a, str> {
    if let Some((encoding, bom_len)) = Encoding::for_bom(body) {
        return Cow::Owned(
            encoding
                .decode_without_bom_handling(&body[bom_len..])
                .0
                .into_owned(),
        );
    }
    if let Some(encoding) = sniff_utf16(body) {
        return Cow::Owned(encoding.decode_without_bom_handling(body).0.into_owned());
    }
    let clues = [content_type.and_then(http_charset), declared];
    for label in clues.into_iter().flatten() {
        let Some(encoding) = Encoding::for_label(label.trim().as_bytes()) else {
            continue;
        };
        if encoding == UTF_16LE || encoding == UTF_16BE {
            // Declared UTF-16 but no zero bytes: the declaration is stale.
            continue;
        }
        if encoding == UTF_8 {
            match std::str::from_utf8(body) {
                Ok(text) => return Cow::Borrowed(text),
                Err(_) => continue,
            }
        }
        return Cow::Owned(encoding.decode_without_bom_handling(body).0.into_owned());
    }
    match std::str::from_utf8(body) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => Cow::Owned(
            WINDOWS_1252
                .decode_without_bom_handling(body)
                .0
                .into_owned(),
        ),
    }
}

/// UTF-16 without a BOM shows as ASCII interleaved with zero bytes.
fn sniff_utf16(body: &[u8]) -> Option<&'static Encoding> {
    match body {
        [a, 0, b, 0, ..] if *a != 0 && *b != 0 => Some(UTF_16LE),
        [0, a, 0, b, ..] if *a != 0 && *b != 0 => Some(UTF_16BE),
        _ => None,
    }
}

/// `text/xml; charset="ISO-8859-1"` → `ISO-8859-1`.
fn http_charset(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches(['"', '\'']))
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

fn strip_xml_declaration(text: &str) -> &str {
    let trimmed = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    match trimmed.strip_prefix("<?xml") {
        Some(rest) => rest.find("?>").map_or(trimmed, |end| &rest[end + 2..]),
        None => trimmed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(text: &str, bom: bool) -> Vec<u8> {
        let mut out = if bom { vec![0xFF, 0xFE] } else { Vec::new() };
        out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        out
    }

    fn utf16be(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_be_bytes).collect()
    }

    #[test]
    fn utf16_with_and_without_bom() {
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><rss>é</rss>";
        assert_eq!(decode_xml(&utf16le(xml, true), None), "<rss>é</rss>");
        assert_eq!(decode_xml(&utf16le(xml, false), None), "<rss>é</rss>");
        assert_eq!(decode_xml(&utf16be(xml), None), "<rss>é</rss>");
    }

    #[test]
    fn declared_latin1_is_transcoded_and_declaration_dropped() {
        let body = b"<?xml version='1.0' encoding='ISO-8859-1'?>\n<rss>caf\xe9</rss>";
        assert_eq!(
            decode_xml(body, Some("application/xml")),
            "\n<rss>café</rss>"
        );
    }

    #[test]
    fn http_charset_beats_declaration() {
        let body = b"<?xml version='1.0' encoding='utf-8'?><rss>\xe9</rss>";
        assert_eq!(
            decode_xml(body, Some("text/xml; charset=\"windows-1252\"")),
            "<rss>é</rss>"
        );
    }

    #[test]
    fn false_utf8_claim_falls_back_to_windows_1252() {
        let body = b"<rss>smart \x93quotes\x94</rss>";
        assert_eq!(
            decode_xml(body, Some("text/xml; charset=utf-8")),
            "<rss>smart \u{201c}quotes\u{201d}</rss>"
        );
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        assert_eq!(
            decode_json(
                br#"{"a":"\ud83d cut","b":"\ud83e\udd80 crab","c":"\udc00","d":"\\ud83d"}"#,
                None
            ),
            r#"{"a":"\uFFFD cut","b":"\ud83e\udd80 crab","c":"\uFFFD","d":"\\ud83d"}"#
        );
        let plain = r#"{"a":"no escapes"}"#;
        assert_eq!(decode_json(plain.as_bytes(), None), plain);
    }

    #[test]
    fn utf8_bom_is_removed_for_json() {
        assert_eq!(decode_json(b"\xEF\xBB\xBF{\"a\":1}", None), "{\"a\":1}");
    }
}
