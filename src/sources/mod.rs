//! Source kinds: each turns response bytes into
//! [`ItemDraft`](crate::model::article::ItemDraft)s.
//!
//! A kind is one file holding an options struct (its own config keys, checked
//! with `deny_unknown_fields`) and an implementation of [`Source`]. Kinds know
//! nothing of HTTP clients, queues, SQL or the config file: they are built
//! from a [`SourceInput`] (one `[[sources]]` entry's keys) and say what to
//! request and how to read the answer. Adding a kind means one file, one
//! [`Kind`] variant and one line in [`build`].

pub mod date;
mod devto;
pub mod feed;
mod github;
mod guardian;
mod hackernews;
mod json;
mod keys;
mod newsapi;
pub mod opml;
mod repairs;
mod text;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use url::Url;

use crate::model::http::Payload;
pub use crate::model::keys::KeyProblem;
use crate::model::keys::deserialize_keys;
use crate::model::source::{Kind, ParseError, Source, SourceInput};
pub use date::{parse_date as parse_datetime, unix_time};

/// What building a source needs besides its own keys.
#[derive(Debug, Clone, Default)]
pub struct BuildContext {
    /// The config file's folder: relative `api_key_file`s outside systemd resolve here.
    pub config_dir: std::path::PathBuf,
}

/// A built source, possibly disabled (a missing API key is not fatal).
#[derive(Debug)]
pub struct Built {
    /// The kind's implementation.
    pub source: Arc<dyn Source>,
    /// Why the source will not be fetched, for one warning at start.
    pub disabled: Option<String>,
}

impl Built {
    fn enabled(source: impl Source + 'static) -> Built {
        Built {
            source: Arc::new(source),
            disabled: None,
        }
    }
}

/// Builds the source for one `[[sources]]` entry, or says everything wrong with it.
///
/// # Errors
/// Every problem with the entry's keys, each naming its key.
pub fn build(input: &SourceInput, context: &BuildContext) -> Result<Built, Vec<KeyProblem>> {
    match input.kind {
        Kind::Feed => Ok(Built::enabled(feed::FeedSource::from_input(input)?)),
        Kind::Json => Ok(Built::enabled(json::JsonSource::from_input(input)?)),
        Kind::HackerNews => Ok(Built::enabled(hackernews::HackerNews::from_input(input)?)),
        Kind::DevTo => Ok(Built::enabled(devto::DevTo::from_input(input)?)),
        Kind::NewsApi => newsapi::NewsApi::from_input(input, context),
        Kind::Guardian => guardian::Guardian::from_input(input, context),
        Kind::GitHub => github::GitHub::from_input(input, context),
    }
}

/// What every API kind is configured with besides its own keys.
#[derive(Debug)]
struct ApiOptions<T> {
    /// The kind's own keys.
    own: T,
    /// `base_url` (or the public API), ending in `/`.
    base: Url,
    /// `api_key_env`, `api_key_file`, `api_key` (all unset for keyless kinds).
    keys: keys::KeySettings,
}

/// Splits an API kind's keys into the shared ones (`base_url`, and the key
/// settings when `keyed`) and its own (deserialised into `T`, where any key
/// left over is an unknown key of that kind). One place for what every API
/// kind does first.
///
/// # Errors
/// Every problem found, each naming its key.
fn api_options<T: DeserializeOwned>(
    input: &SourceInput,
    default_base: &str,
    keyed: bool,
) -> Result<ApiOptions<T>, Vec<KeyProblem>> {
    let mut rest = input.options.clone();
    let mut take = |key: &str| -> Result<Option<String>, KeyProblem> {
        match rest.remove(key) {
            None => Ok(None),
            Some(serde_json::Value::String(text)) => Ok(Some(text)),
            Some(other) => Err(KeyProblem::new(
                key,
                format!("must be a string, not {other}"),
            )),
        }
    };
    let mut problems = Vec::new();
    let configured_base = take("base_url").unwrap_or_else(|p| {
        problems.push(p);
        None
    });
    let mut keys = keys::KeySettings::default();
    if keyed {
        for (key, slot) in [
            ("api_key_env", &mut keys.api_key_env),
            ("api_key_file", &mut keys.api_key_file),
            ("api_key", &mut keys.api_key),
        ] {
            *slot = take(key).unwrap_or_else(|p| {
                problems.push(p);
                None
            });
        }
    }
    let base = base_url(input, default_base, configured_base.as_deref())
        .map_err(|p| problems.push(p))
        .ok();
    let own = deserialize_options::<T>(input.kind, &rest)
        .map_err(|p| problems.extend(p))
        .ok();
    match (own, base) {
        (Some(own), Some(base)) if problems.is_empty() => Ok(ApiOptions { own, base, keys }),
        _ => Err(problems),
    }
}

/// `base_url` (or the kind's public API) as a URL ending in `/`, so that
/// relative paths join under it.
fn base_url(
    input: &SourceInput,
    default: &str,
    configured: Option<&str>,
) -> Result<Url, KeyProblem> {
    let text = configured.unwrap_or(default);
    let mut url =
        Url::parse(text).map_err(|e| KeyProblem::new("base_url", format!("{text:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(KeyProblem::new(
            "base_url",
            format!("{text:?}: only http and https are fetched"),
        ));
    }
    if input.url.is_some() {
        return Err(KeyProblem::new(
            "url",
            format!(
                "kind \"{}\" builds its own URLs; use base_url to point it elsewhere",
                input.kind
            ),
        ));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// Joins `path` (no leading slash) under `base` and sets the query pairs that have a value.
pub fn api_url(base: &Url, path: &str, query: &[(&str, Option<String>)]) -> Url {
    let mut url = base.join(path).unwrap_or_else(|_| base.clone());
    {
        let mut pairs = url.query_pairs_mut();
        for (name, value) in query {
            if let Some(value) = value {
                pairs.append_pair(name, value);
            }
        }
    }
    if url.query() == Some("") {
        url.set_query(None);
    }
    url
}

/// Parses JSON, naming what was expected when it is not JSON at all.
///
/// # Errors
/// [`ParseError::Json`] for a body that is not JSON, [`ParseError::Shape`] for JSON of another shape.
pub fn parse_json<T: DeserializeOwned>(payload: &Payload) -> Result<T, ParseError> {
    let text = text::decode_json(
        &payload.body,
        payload.content_type.as_deref(),
        &mut repairs::Repairs::default(),
    );
    serde_json::from_str(&text).map_err(|e| {
        if e.is_data() {
            ParseError::Shape(e.to_string())
        } else {
            ParseError::Json(e.to_string())
        }
    })
}

/// Deserialises a kind's own keys; unknown keys become problems naming them.
///
/// # Errors
/// The first key serde could not take, named.
pub fn options<T: DeserializeOwned>(input: &SourceInput) -> Result<T, Vec<KeyProblem>> {
    deserialize_options(input.kind, &input.options)
}

fn deserialize_options<T: DeserializeOwned>(
    kind: Kind,
    options: &BTreeMap<String, serde_json::Value>,
) -> Result<T, Vec<KeyProblem>> {
    let map: serde_json::Map<String, serde_json::Value> = options
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    deserialize_keys(&map, &serde_json::Map::new()).map_err(|problems| {
        problems
            .into_iter()
            .map(|p| {
                if p.message.starts_with("unknown field") {
                    KeyProblem::new(
                        &p.key,
                        format!("not a key of kind \"{kind}\" ({})", p.message),
                    )
                } else if p.key.is_empty() {
                    KeyProblem::new(kind.as_str(), p.message)
                } else {
                    p
                }
            })
            .collect()
    })
}

/// The `url` key as an absolute http(s) URL.
///
/// # Errors
/// A missing, unparsable or non-web URL.
pub fn required_url(input: &SourceInput) -> Result<Url, KeyProblem> {
    let text = input
        .url
        .as_deref()
        .ok_or_else(|| KeyProblem::new("url", format!("kind \"{}\" needs a url", input.kind)))?;
    let url = Url::parse(text).map_err(|e| KeyProblem::new("url", format!("{text:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(KeyProblem::new(
            "url",
            format!("{text:?}: only http and https are fetched"),
        ));
    }
    Ok(url)
}
