//! A configured source: what kind it is, what it was built from, when it
//! runs, and the [`Source`] implementation that reads its answers.
//!
//! The [`Source`] trait lives here, not in `sources`, so that the engine
//! and the configuration can hold a source without knowing any kind.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use super::article::ItemDraft;
use super::http::{FetchRequest, Payload};
use super::rate_limit::RateLimit;
use super::schedule::Schedule;
use super::secret::{ApiKey, Secret};

/// The kinds herald knows, as written in `kind = "..."`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// RSS, Atom or JSON Feed.
    Feed,
    /// Any JSON API, mapped with JSON pointers.
    Json,
    /// The Hacker News Firebase API.
    HackerNews,
    /// newsapi.org.
    NewsApi,
    /// The Guardian's Open Platform.
    Guardian,
    /// DEV Community.
    DevTo,
    /// GitHub search or releases.
    GitHub,
}

impl Kind {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: [Kind; 7] = [
        Kind::Feed,
        Kind::Json,
        Kind::HackerNews,
        Kind::NewsApi,
        Kind::Guardian,
        Kind::DevTo,
        Kind::GitHub,
    ];

    /// The name written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Feed => "feed",
            Kind::Json => "json",
            Kind::HackerNews => "hackernews",
            Kind::NewsApi => "newsapi",
            Kind::Guardian => "guardian",
            Kind::DevTo => "devto",
            Kind::GitHub => "github",
        }
    }

    /// Every kind's name, for help texts and error messages.
    pub fn names() -> Vec<&'static str> {
        Kind::ALL.iter().map(|k| k.as_str()).collect()
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `kind` that herald does not know; its message lists the ones it does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown kind {0:?}{hint}; known kinds: {known}",
    known = Kind::names().join(", "),
    hint = if matches!(.0.to_ascii_lowercase().as_str(), "rss" | "atom" | "jsonfeed" | "json_feed" | "rdf") {
        " (RSS, Atom and JSON Feed are all kind \"feed\")"
    } else {
        ""
    })]
pub struct UnknownKind(pub String);

impl FromStr for Kind {
    type Err = UnknownKind;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == text)
            .ok_or_else(|| UnknownKind(text.to_owned()))
    }
}

/// What a source kind is built from: one `[[sources]]` entry's own keys,
/// as written. Kept in the [`SourceSpec`] so a reload can tell a changed
/// source from an unchanged one by comparing values, not printouts.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceInput {
    /// The source's unique name.
    pub name: String,
    /// Its kind.
    pub kind: Kind,
    /// `url` (for `feed` and `json`; the API kinds build their own).
    pub url: Option<String>,
    /// At most this many items are kept per fetch.
    pub limit: Option<usize>,
    /// Keys beyond the common ones, checked by the kind itself.
    pub options: BTreeMap<String, serde_json::Value>,
}

/// What a parse found: items, and requests that complete them (Hacker News
/// lists ids; each item is a request of its own, queued like any job).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    /// The items, in the order the source lists them.
    pub items: Vec<ItemDraft>,
    /// Requests whose answers complete the items.
    pub follow_ups: Vec<FetchRequest>,
    /// The feed's own idea of how often to check it (RSS `<ttl>`).
    pub ttl: Option<std::time::Duration>,
    /// What had to be repaired to read it (`bare ampersand escaped ×3`);
    /// empty when nothing was. A repaired feed is still `ok`.
    pub warnings: Vec<String>,
}

impl From<Vec<ItemDraft>> for Parsed {
    fn from(items: Vec<ItemDraft>) -> Self {
        Parsed {
            items,
            ..Parsed::default()
        }
    }
}

/// Why a body could not be read as news. One line, safe to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not RSS, Atom or JSON Feed.
    #[error("not a feed: {0}")]
    Feed(String),
    /// Not JSON at all.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// JSON, but not shaped as the kind expects.
    #[error("unexpected shape: {0}")]
    Shape(String),
    /// The API answered with an error of its own.
    #[error("API error: {0}")]
    Api(String),
    /// The parser panicked; the panic was contained to this source.
    #[error("parser panicked: {0}")]
    Panicked(String),
}

/// A kind of news source. Implementations must be cheap to share: one value
/// serves every round until the config is reloaded.
pub trait Source: Send + Sync + fmt::Debug {
    /// The request that fetches this source.
    fn request(&self) -> FetchRequest;
    /// Reads a 2xx response into item drafts (in the order the source lists
    /// them) and any follow-up requests.
    ///
    /// # Errors
    /// A body that is not what this kind reads, with a one-line reason.
    fn parse(&self, payload: &Payload) -> Result<Parsed, ParseError>;
    /// Reads the answer to one follow-up request; `None` for an item that is
    /// legitimately absent (deleted, dead, null), which is not an error.
    ///
    /// # Errors
    /// A body that is not an item of this kind.
    fn parse_follow_up(&self, _payload: &Payload) -> Result<Option<ItemDraft>, ParseError> {
        Ok(None)
    }
    /// The credential this source sends, if any: its value is scrubbed from
    /// everything printed about the source, and its origin (`api_key_env
    /// GUARDIAN_KEY`) is named in "unauthorized" messages.
    fn credential(&self) -> Option<&ApiKey> {
        None
    }
    /// What an error answer's body says went wrong, for the failure's
    /// one-line reason. The default reads the JSON shapes news APIs use
    /// (`{"message": …}` as NewsAPI and GitHub send it, The Guardian's
    /// `{"response": {"message": …}}`, `{"error": …}`); a kind with its own
    /// shape overrides it.
    fn error_message(&self, body: &[u8]) -> Option<String> {
        api_error_message(body)
    }
}

/// The message in a JSON error body, in the common shapes; at most 300
/// characters on one line.
pub fn api_error_message(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    let message = value
        .get("message")
        .and_then(text)
        .or_else(|| value.pointer("/response/message").and_then(text))
        .or_else(|| value.pointer("/error/message").and_then(text))
        .or_else(|| value.get("error").and_then(text))
        .or_else(|| value.pointer("/errors/0/message").and_then(text))?;
    let one_line = message.split_whitespace().collect::<Vec<_>>().join(" ");
    (!one_line.is_empty()).then(|| super::article::truncate_chars(&one_line, 300))
}

/// The values to scrub from anything printed about `source`.
pub fn secrets_of(source: &dyn Source) -> Vec<Secret> {
    source
        .credential()
        .map(|key| key.secret.clone())
        .into_iter()
        .collect()
}

/// A configured source, shared by the rounds that fetch it.
#[derive(Debug)]
pub struct SourceSpec {
    /// Unique name: the `source` column of everything it brings.
    pub name: String,
    /// Its kind.
    pub kind: Kind,
    /// Whether rounds fetch it.
    pub enabled: bool,
    /// The schedule it runs on: its own, or the global one.
    pub schedule: Schedule,
    /// Whether `schedule` is the source's own (else it is the global one).
    pub own_schedule: bool,
    /// At most this many items are kept per fetch.
    pub limit: Option<usize>,
    /// Requests allowed in a sliding window.
    pub rate_limit: Option<RateLimit>,
    /// Whether Cache-Control, Expires, `<ttl>` and Retry-After may delay fetches.
    pub respect_server_hints: bool,
    /// Its own `keep`, when it has one (else `[daemon] keep` applies).
    pub keep: Option<crate::model::retention::Keep>,
    /// Labels (`tech`, `security`) that `--tag` and `?tag=` select by.
    pub tags: Vec<String>,
    /// `[filters]` then its own `include`/`exclude`: an item is stored only
    /// when every one keeps it.
    pub filters: Vec<Arc<crate::model::filter::ItemFilter>>,
    /// What it was built from, for reload diffs.
    pub input: SourceInput,
    /// The kind's implementation.
    pub source: Arc<dyn Source>,
}

impl SourceSpec {
    /// Whether an item with this title and summary passes every filter of
    /// the source (`[filters]`, then its own `include`/`exclude`).
    pub fn keeps(&self, title: &str, summary: Option<&str>) -> bool {
        self.filters.iter().all(|f| f.keeps(title, summary))
    }

    /// Time between two rounds of its schedule: the breaker's cooldown unit.
    pub fn interval(&self) -> std::time::Duration {
        self.schedule.interval()
    }

    /// The secrets to scrub from anything printed about this source.
    pub fn secrets(&self) -> Vec<Secret> {
        secrets_of(self.source.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_unknown_ones_list_the_known() {
        for kind in Kind::ALL {
            assert_eq!(kind.as_str().parse::<Kind>(), Ok(kind));
        }
        let err = "telepathy".parse::<Kind>().expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "unknown kind \"telepathy\"; known kinds: feed, json, hackernews, newsapi, guardian, devto, github"
        );
    }
}
