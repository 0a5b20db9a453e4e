//! Dates as feeds and APIs write them, which is rarely as the RFCs say.
//!
//! Read, in order: RFC 3339 and W3CDTF (ISO 8601 and its partial forms:
//! `2026`, `2026-11`, `2026-11-22`, minutes without seconds, a space for
//! the `T`, a lower-case `z`, fractions); RFC 822/2822 with or without the
//! weekday, with two- or four-digit years, named (`GMT`, `EST`, `PDT`,
//! military letters) or numeric (`+0200`, `+02:00`) zones, full month and
//! day names, missing seconds, missing commas, doubled spaces; the US
//! `November 22, 2026 10:00` form; unix seconds or milliseconds. Anything
//! else is `None`: a date herald cannot read is unknown, never invented.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

/// Reads a date in any of the forms above.
pub fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    // The strict RFC 2822 form is what most RSS writes: read it the cheap
    // way first.
    if let Ok(at) = DateTime::parse_from_rfc2822(text) {
        return Some(at.with_timezone(&Utc));
    }
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        && !text.starts_with('-')
        && let Ok(number) = text.parse::<i64>()
        && text.len() >= 9
    {
        return unix_time(number);
    }
    iso(text).or_else(|| words(text))
}

/// Unix seconds (or milliseconds, for values too large to be seconds).
pub fn unix_time(value: i64) -> Option<DateTime<Utc>> {
    const MS_THRESHOLD: i64 = 100_000_000_000;
    let seconds = if value.abs() >= MS_THRESHOLD {
        value / 1000
    } else {
        value
    };
    Utc.timestamp_opt(seconds, 0).single()
}

/// W3CDTF / ISO 8601, including partial dates and the usual slips.
fn iso(text: &str) -> Option<DateTime<Utc>> {
    let bytes = text.as_bytes();
    if bytes.len() < 4 || !bytes[..4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let year: i32 = text[..4].parse().ok()?;
    let mut rest = &text[4..];
    let mut month = 1;
    let mut day = 1;
    if let Some(r) = rest.strip_prefix('-') {
        let (m, r) = digits(r, 2)?;
        month = m;
        rest = r;
        if let Some(r) = rest.strip_prefix('-') {
            let (d, r) = digits(r, 2)?;
            day = d;
            rest = r;
        }
    }
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let rest = rest.trim_start_matches(['T', 't', ' ']);
    if rest.is_empty() {
        return Some(date.and_hms_opt(0, 0, 0)?.and_utc());
    }
    let (hour, r) = digits(rest, 2)?;
    let r = r.strip_prefix(':')?;
    let (minute, mut r) = digits(r, 2)?;
    let mut second = 0;
    if let Some(after) = r.strip_prefix(':') {
        let (s, after) = digits(after, 2)?;
        second = s;
        r = after;
    }
    if let Some(after) = r.strip_prefix(['.', ',']) {
        r = after.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let time = NaiveTime::from_hms_opt(hour, minute, second.min(59))?;
    let local = NaiveDateTime::new(date, time);
    let offset = zone(r.trim())?;
    offset
        .from_local_datetime(&local)
        .single()
        .map(|at| at.with_timezone(&Utc))
}

/// Exactly `count` digits at the start of `text`, and what follows.
fn digits(text: &str, count: usize) -> Option<(u32, &str)> {
    let head = text.get(..count)?;
    if !head.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((head.parse().ok()?, &text[count..]))
}

/// RFC 822 and its relatives, read word by word: a weekday is skipped, a
/// month name, a day, a year (two digits: 2000–2049 and 1950–1999, as RFC 2822 says), a time and a zone
/// are picked up in whatever order they come.
fn words(text: &str) -> Option<DateTime<Utc>> {
    let mut day = None;
    let mut month = None;
    let mut year: Option<i32> = None;
    let mut time = None;
    let mut offset = None;
    // Every feed item's date passes here: no allocation on the way.
    let mut buffer = [0; 16];
    for word in text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
    {
        let lower = lower_ascii(word, &mut buffer);
        if let Some(m) = lower.and_then(month_of) {
            month = Some(m);
        } else if lower.is_some_and(is_weekday) {
        } else if word.contains(':') && time.is_none() {
            time = Some(clock(word)?);
        } else if word.bytes().all(|b| b.is_ascii_digit()) {
            let n: i32 = word.parse().ok()?;
            match (word.len(), day, year) {
                (1 | 2, None, _) if (1..=31).contains(&n) => day = Some(n as u32),
                (4, _, None) => year = Some(n),
                (2, Some(_), None) => year = Some(if n < 50 { 2000 + n } else { 1900 + n }),
                _ => return None,
            }
        } else if let Some(z) = zone(word) {
            offset = Some(z);
        } else if word.len() == 2
            && word.ends_with(['.', 'h'])
            && word[..1].bytes().all(|b| b.is_ascii_digit())
        {
            // "22." as in some European feeds' "22. Nov".
            day = word[..1].parse().ok();
        } else {
            return None;
        }
    }
    let date = NaiveDate::from_ymd_opt(year?, month?, day?)?;
    let local = NaiveDateTime::new(date, time.unwrap_or_default());
    offset
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"))
        .from_local_datetime(&local)
        .single()
        .map(|at| at.with_timezone(&Utc))
}

/// `word` in ASCII lower case, in `buffer`; `None` when it is longer than
/// any month, weekday or zone name, or not ASCII.
fn lower_ascii<'b>(word: &str, buffer: &'b mut [u8; 16]) -> Option<&'b str> {
    fold_ascii(word, buffer, <[u8]>::make_ascii_lowercase)
}

/// `word` copied into `buffer` and case-folded there by `fold`.
fn fold_ascii<'b>(word: &str, buffer: &'b mut [u8; 16], fold: fn(&mut [u8])) -> Option<&'b str> {
    let bytes = word.as_bytes();
    if bytes.len() > buffer.len() || !word.is_ascii() {
        return None;
    }
    let out = &mut buffer[..bytes.len()];
    out.copy_from_slice(bytes);
    fold(out);
    std::str::from_utf8(out).ok()
}

/// `10:00`, `10:00:05`, `10:00:05.123`.
fn clock(word: &str) -> Option<NaiveTime> {
    let mut parts = word.split(':');
    let hour: u32 = parts.next()?.parse().ok()?;
    let minute: u32 = parts.next()?.parse().ok()?;
    let second: u32 = match parts.next() {
        Some(s) => s.split(['.', ',']).next()?.parse().ok()?,
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }
    NaiveTime::from_hms_opt(hour, minute, second.min(59))
}

fn month_of(word: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let word = word.trim_end_matches('.');
    if word.len() < 3 {
        return None;
    }
    let position = MONTHS.iter().position(|m| word.starts_with(m))?;
    // "mar" must not match "march" alone but "martes" (Spanish) must not be March.
    let full = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    (word.len() == 3 || full[position].starts_with(word) || word == "sept")
        .then_some(position as u32 + 1)
}

fn is_weekday(word: &str) -> bool {
    const DAYS: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let word = word.trim_end_matches('.');
    word.len() >= 2
        && DAYS
            .iter()
            .any(|d| d.starts_with(word) && (word.len() >= 3 || *d == "thursday"))
}

/// A zone: `Z`, `UT`, `GMT`, North American names, military letters,
/// `+0200`, `+02:00`, `+02`, `UTC+2`.
fn zone(word: &str) -> Option<FixedOffset> {
    let word = word.trim_matches(|c| c == '(' || c == ')');
    if word.is_empty() {
        return FixedOffset::east_opt(0);
    }
    let mut buffer = [0; 16];
    let upper = fold_ascii(word, &mut buffer, <[u8]>::make_ascii_uppercase)?;
    let hours = match upper {
        "Z" | "UT" | "UTC" | "GMT" | "WET" => Some(0),
        "BST" | "CET" | "WEST" => Some(1),
        "CEST" | "EET" => Some(2),
        "EEST" | "MSK" => Some(3),
        "EDT" => Some(-4),
        "EST" | "CDT" => Some(-5),
        "CST" | "MDT" => Some(-6),
        "MST" | "PDT" => Some(-7),
        "PST" => Some(-8),
        "JST" | "KST" => Some(9),
        "IST" => None,
        // RFC 822 got the military zones' signs backwards, so RFC 2822
        // says to read them as +0000.
        military if military.len() == 1 && military.chars().all(|c| c.is_ascii_uppercase()) => {
            Some(0)
        }
        _ => None,
    };
    if let Some(hours) = hours {
        return FixedOffset::east_opt(hours * 3600);
    }
    if upper == "IST" {
        return FixedOffset::east_opt(5 * 3600 + 1800);
    }
    let signed = upper
        .strip_prefix("UTC")
        .or_else(|| upper.strip_prefix("GMT"))
        .unwrap_or(upper);
    let (sign, digits) = match signed.as_bytes().first()? {
        b'+' => (1, &signed[1..]),
        b'-' => (-1, &signed[1..]),
        _ => return None,
    };
    let mut values = [0_i32; 4];
    let mut count = 0;
    for b in digits.bytes().filter(|b| *b != b':') {
        if !b.is_ascii_digit() || count == values.len() {
            return None;
        }
        values[count] = i32::from(b - b'0');
        count += 1;
    }
    let (h, m) = match count {
        1 => (values[0], 0),
        2 => (values[0] * 10 + values[1], 0),
        3 => (values[0], values[1] * 10 + values[2]),
        4 => (values[0] * 10 + values[1], values[2] * 10 + values[3]),
        _ => return None,
    };
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("valid")
            .with_timezone(&Utc)
    }

    #[test]
    fn rfc822_in_its_many_real_forms() {
        let want = at("2026-11-22T10:00:00Z");
        for text in [
            "Sun, 22 Nov 2026 10:00:00 GMT",
            "Sun, 22 Nov 2026 10:00:00 +0000",
            "22 Nov 2026 10:00:00 GMT",
            "Sun, 22 Nov 26 10:00:00 GMT",
            "Sunday, 22 November 2026 10:00:00 UT",
            "Sun 22 Nov 2026 10:00 GMT",
            "Sun,  22  Nov  2026  10:00:00  Z",
            "Sun, 22 Nov 2026 05:00:00 EST",
            "Sun, 22 Nov 2026 02:00:00 PST",
            "Sun, 22 Nov 2026 12:00:00 +02:00",
            "Sun, 22 Nov 2026 11:00:00 CET",
            "sun, 22 nov 2026 10:00:00 gmt",
            "Sun, 22 Nov 2026 10:00:00",
            "November 22, 2026 10:00:00",
            "22 Nov 2026 10:00:00 A",
            "Sun, 22 Nov 2026 10:00:00 (GMT)",
        ] {
            assert_eq!(parse_date(text), Some(want), "{text}");
        }
    }

    #[test]
    fn w3cdtf_full_and_partial() {
        for (text, want) in [
            ("2026-11-22T10:00:00Z", "2026-11-22T10:00:00Z"),
            ("2026-11-22T12:00:00+02:00", "2026-11-22T10:00:00Z"),
            ("2026-11-22T10:00Z", "2026-11-22T10:00:00Z"),
            ("2026-11-22 10:00:00", "2026-11-22T10:00:00Z"),
            ("2026-11-22t10:00:00.123456z", "2026-11-22T10:00:00Z"),
            ("2026-11-22T10:00:00+0200", "2026-11-22T08:00:00Z"),
            ("2026-11-22", "2026-11-22T00:00:00Z"),
            ("2026-11", "2026-11-01T00:00:00Z"),
            ("2026", "2026-01-01T00:00:00Z"),
            ("1795341600", "2026-11-22T10:00:00Z"),
            ("1795341600000", "2026-11-22T10:00:00Z"),
        ] {
            assert_eq!(
                parse_date(text).map(|d| d.timestamp()),
                Some(at(want).timestamp()),
                "{text}"
            );
        }
    }

    #[test]
    fn nonsense_is_unknown() {
        for text in [
            "",
            "yesterday",
            "soon-ish",
            "32 Nov 2026",
            "2026-13-01",
            "Sun, 22 Foo 2026",
            "12:00",
        ] {
            assert_eq!(parse_date(text), None, "{text}");
        }
    }
}
