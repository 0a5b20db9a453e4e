//! Keeping secrets out of everything herald prints or stores.
//!
//! API keys live in [`Secret`], whose `Debug` and `Display` never show the
//! value. Anything that may echo a key (a URL with `?api-key=`, a server's
//! error message, a panic text) goes through [`redact`] or [`redact_url`]
//! before it reaches a log line, the `fetches` table or a report: one
//! function, so there is one place to get right and to test.

use std::fmt;

use url::Url;

/// What replaces a secret in printed text.
pub const MASK: &str = "[REDACTED]";

/// A credential. Cloneable, comparable, never printable.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// A key that was found, with a hint that names its origin (never its value).
#[derive(Debug, Clone)]
pub struct ApiKey {
    /// The key itself.
    pub secret: Secret,
    /// `api_key_env GUARDIAN_KEY`, `api_key_file guardian.key`, `api_key`.
    pub hint: String,
}

impl Secret {
    /// Wraps a credential so that it never prints.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that sends it (a header or query).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({MASK})")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

/// Replaces every occurrence of each secret in `text`. Secrets shorter than
/// 4 characters are ignored: masking "a" everywhere would destroy the text
/// and protect nothing.
pub fn redact(text: &str, secrets: &[Secret]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| s.0.len() >= 4) {
        if out.contains(&secret.0) {
            out = out.replace(&secret.0, MASK);
        }
    }
    out
}

/// Query parameters that carry credentials by convention (compared
/// without regard to case).
const CREDENTIAL_PARAMS: &[&str] = &[
    "api-key",
    "api_key",
    "apikey",
    "key",
    "token",
    "access_key",
    "access_token",
    "auth",
    "secret",
    "password",
    "client_secret",
    "signature",
    "sig",
];

fn is_credential_param(name: &str) -> bool {
    CREDENTIAL_PARAMS.contains(&name.to_ascii_lowercase().as_str())
}

/// Whether `url` carries a credential: user-info (`user:password@`), or a
/// query key that conventionally holds one (`?token=`, `?api_key=`, `?sig=`
/// …). The one definition herald uses to decide what it may store (a
/// permanent redirect to such a URL is never remembered) and what it must
/// mask when it prints (see [`redact_url`]).
pub fn carries_credential(url: &Url) -> bool {
    !url.username().is_empty()
        || url.password().is_some()
        || url
            .query_pairs()
            .any(|(name, _)| is_credential_param(&name))
}

/// A URL fit to print: the user-info and credential-like query values (what
/// [`carries_credential`] looks for) are masked, then any known secret
/// anywhere else.
pub fn redact_url(url: &Url, secrets: &[Secret]) -> String {
    let mut url = url.clone();
    if !url.username().is_empty() {
        let _ = url.set_username(MASK);
    }
    if url.password().is_some() {
        let _ = url.set_password(Some(MASK));
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let value = if is_credential_param(&k) {
                    MASK.to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    // Percent-encoding keeps the brackets readable in messages.
    redact(&url.as_str().replace("%5BREDACTED%5D", MASK), secrets)
}

/// [`redact_url`] for a URL held as text (a stored move, a typed target);
/// text that does not parse as a URL is returned as it is.
pub fn redact_url_text(text: &str) -> String {
    Url::parse(text).map_or_else(|_| text.to_owned(), |url| redact_url(&url, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let key = Secret::new("sk-live-123456");
        assert_eq!(format!("{key:?} {key}"), "Secret([REDACTED]) [REDACTED]");
        assert_eq!(key.expose(), "sk-live-123456");
    }

    #[test]
    fn redact_masks_every_occurrence_of_every_secret() {
        let secrets = [Secret::new("abcd1234"), Secret::new("zz")];
        assert_eq!(
            redact("bad key abcd1234 (was abcd1234); zz stays", &secrets),
            "bad key [REDACTED] (was [REDACTED]); zz stays"
        );
    }

    #[test]
    fn redact_url_masks_credential_params_passwords_and_known_secrets() {
        let url = Url::parse(
            "https://user:hunter22@api.example/search?q=rust&api-key=abcd1234&page=2&TOKEN=t0k3n",
        )
        .expect("static URL");
        let shown = redact_url(&url, &[Secret::new("abcd1234")]);
        assert_eq!(
            shown,
            "https://[REDACTED]:[REDACTED]@api.example/search?q=rust&api-key=[REDACTED]&page=2&TOKEN=[REDACTED]"
        );
        assert!(carries_credential(&url));
        let parse = |s: &str| Url::parse(s).expect("static URL");
        for with in [
            "https://token@news.example/feed",
            "https://news.example/feed?Access_Key=x",
            "https://news.example/feed?sig=abc&page=2",
        ] {
            assert!(carries_credential(&parse(with)), "{with}");
        }
        for without in [
            "https://news.example/feed?page=2",
            "https://news.example/keys/feed",
        ] {
            assert!(!carries_credential(&parse(without)), "{without}");
        }
        let path_key = Url::parse("https://api.example/v1/abcd1234/items").expect("static URL");
        assert_eq!(
            redact_url(&path_key, &[Secret::new("abcd1234")]),
            "https://api.example/v1/[REDACTED]/items"
        );
    }
}
