//! `kind = "guardian"`: The Guardian's Open Platform content search.
//!
//! The API only accepts the key as the `api-key` query parameter, so this
//! URL must never be printed unredacted: every printed URL goes through
//! [`crate::redact::redact_url`], which masks that parameter, and the key
//! is also listed by [`Source::credential`].

use std::sync::Arc;

use serde::Deserialize;
use url::Url;

use super::{ApiOptions, BuildContext, Built, KeyProblem, api_options, parse_datetime, parse_json};
use crate::model::article::ItemDraft;
use crate::model::http::{FetchRequest, Payload};
use crate::model::secret::ApiKey;
use crate::model::source::{ParseError, Parsed, Source, SourceInput};

const DEFAULT_BASE: &str = "https://content.guardianapis.com/";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GuardianOptions {
    section: Option<String>,
    q: Option<String>,
    page_size: Option<u32>,
    #[serde(default = "default_order_by")]
    order_by: String,
    /// Ask for `trailText` (the summary) and `byline` (the author).
    #[serde(default = "default_show_fields")]
    show_fields: bool,
}

fn default_order_by() -> String {
    "newest".to_owned()
}
fn default_show_fields() -> bool {
    true
}

/// One Guardian search.
#[derive(Debug)]
pub(super) struct Guardian {
    /// Without the key: it is added per request.
    url: Url,
    key: Option<ApiKey>,
}

#[derive(Debug, Deserialize)]
struct Envelope {
    response: Option<Response>,
    /// Some errors (a bad key) come without the `response` wrapper.
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Response {
    status: Option<String>,
    message: Option<String>,
    results: Option<Vec<Content>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Content {
    web_title: Option<String>,
    web_url: Option<String>,
    web_publication_date: Option<String>,
    fields: Option<Fields>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Fields {
    trail_text: Option<String>,
    byline: Option<String>,
}

impl Guardian {
    /// Builds the source from its entry's keys.
    ///
    /// # Errors
    /// Every problem with the keys, each naming its key.
    pub(super) fn from_input(
        input: &SourceInput,
        context: &BuildContext,
    ) -> Result<Built, Vec<KeyProblem>> {
        let ApiOptions { own: o, base, keys } =
            api_options::<GuardianOptions>(input, DEFAULT_BASE, true)?;
        if !matches!(o.order_by.as_str(), "newest" | "oldest" | "relevance") {
            return Err(vec![KeyProblem::new(
                "order_by",
                "must be newest, oldest or relevance",
            )]);
        }
        let page_size = o.page_size.or(input.limit.map(|l| l.min(200) as u32));
        let url = super::api_url(
            &base,
            "search",
            &[
                ("section", o.section),
                ("q", o.q),
                ("page-size", page_size.map(|n| n.to_string())),
                ("order-by", Some(o.order_by)),
                (
                    "show-fields",
                    o.show_fields.then(|| "trailText,byline".to_owned()),
                ),
            ],
        );
        let (key, disabled) = keys.required(context);
        Ok(Built {
            source: Arc::new(Guardian { url, key }),
            disabled,
        })
    }
}

impl Source for Guardian {
    fn request(&self) -> FetchRequest {
        let mut url = self.url.clone();
        if let Some(key) = &self.key {
            url.query_pairs_mut()
                .append_pair("api-key", key.secret.expose());
        }
        FetchRequest::get(url, "application/json")
    }

    fn parse(&self, payload: &Payload) -> Result<Parsed, ParseError> {
        let envelope: Envelope = parse_json(payload)?;
        let Some(response) = envelope.response else {
            return Err(match envelope.message {
                Some(message) => ParseError::Api(message),
                None => ParseError::Shape("missing field `response`".into()),
            });
        };
        if response.status.as_deref() != Some("ok") {
            return Err(ParseError::Api(response.message.unwrap_or_else(|| {
                format!("status {:?}", response.status.unwrap_or_default())
            })));
        }
        let results = response
            .results
            .ok_or_else(|| ParseError::Shape("missing field `response.results`".into()))?;
        Ok(results
            .into_iter()
            .map(|c| {
                let (summary, author) = c
                    .fields
                    .map(|f| (f.trail_text, f.byline))
                    .unwrap_or_default();
                ItemDraft {
                    title: c.web_title,
                    link: c.web_url,
                    published_at: c.web_publication_date.as_deref().and_then(parse_datetime),
                    summary,
                    author,
                    origin: None,
                    ..ItemDraft::default()
                }
            })
            .collect::<Vec<_>>()
            .into())
    }

    fn credential(&self) -> Option<&ApiKey> {
        self.key.as_ref()
    }
}
