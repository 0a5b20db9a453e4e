//! `kind = "newsapi"`: newsapi.org's `top-headlines` and `everything`.
//!
//! The key goes in the `X-Api-Key` header, never the query string, so it
//! cannot leak through a logged URL. An API-level error (`"status": "error"`)
//! becomes its message. NewsAPI replaces withdrawn articles with
//! `[Removed]` placeholders; those are skipped.

use std::sync::Arc;

use serde::Deserialize;
use url::Url;

use super::{ApiOptions, BuildContext, Built, KeyProblem, api_options, parse_datetime, parse_json};
use crate::model::article::ItemDraft;
use crate::model::http::{FetchRequest, Header, Payload};
use crate::model::secret::ApiKey;
use crate::model::source::{ParseError, Parsed, Source, SourceInput};

const DEFAULT_BASE: &str = "https://newsapi.org/";

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Endpoint {
    #[default]
    TopHeadlines,
    Everything,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewsApiOptions {
    #[serde(default)]
    endpoint: Endpoint,
    country: Option<String>,
    category: Option<String>,
    q: Option<String>,
    page_size: Option<u32>,
}

/// One NewsAPI query.
#[derive(Debug)]
pub(super) struct NewsApi {
    url: Url,
    key: Option<ApiKey>,
}

#[derive(Debug, Deserialize)]
struct Response {
    status: Option<String>,
    code: Option<String>,
    message: Option<String>,
    articles: Option<Vec<NewsArticle>>,
}

#[derive(Debug, Deserialize)]
struct NewsArticle {
    source: Option<Outlet>,
    author: Option<String>,
    title: Option<String>,
    description: Option<String>,
    url: Option<String>,
    #[serde(rename = "publishedAt")]
    published_at: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Outlet {
    name: Option<String>,
}

impl NewsApi {
    /// Builds the source from its entry's keys.
    ///
    /// # Errors
    /// Every problem with the keys, each naming its key.
    pub(super) fn from_input(
        input: &SourceInput,
        context: &BuildContext,
    ) -> Result<Built, Vec<KeyProblem>> {
        let ApiOptions { own: o, base, keys } =
            api_options::<NewsApiOptions>(input, DEFAULT_BASE, true)?;
        let (path, needs) = match o.endpoint {
            Endpoint::TopHeadlines => (
                "v2/top-headlines",
                o.country.is_some() || o.category.is_some() || o.q.is_some(),
            ),
            Endpoint::Everything => ("v2/everything", o.q.is_some()),
        };
        if !needs {
            let message = match o.endpoint {
                Endpoint::TopHeadlines => {
                    "top-headlines needs at least one of country, category or q"
                }
                Endpoint::Everything => "everything needs q",
            };
            return Err(vec![KeyProblem::new("endpoint", message)]);
        }
        let page_size = o.page_size.or(input.limit.map(|l| l.min(100) as u32));
        let url = super::api_url(
            &base,
            path,
            &[
                ("country", o.country),
                ("category", o.category),
                ("q", o.q),
                ("pageSize", page_size.map(|n| n.to_string())),
            ],
        );
        let (key, disabled) = keys.required(context);
        Ok(Built {
            source: Arc::new(NewsApi { url, key }),
            disabled,
        })
    }
}

impl Source for NewsApi {
    fn request(&self) -> FetchRequest {
        let mut request = FetchRequest::get(self.url.clone(), "application/json");
        if let Some(key) = &self.key {
            request
                .headers
                .push(Header::Credential("x-api-key", key.secret.clone()));
        }
        request
    }

    fn parse(&self, payload: &Payload) -> Result<Parsed, ParseError> {
        let response: Response = parse_json(payload)?;
        if response.status.as_deref() == Some("error") {
            let message = response
                .message
                .or(response.code)
                .unwrap_or_else(|| "unknown error".into());
            return Err(ParseError::Api(message));
        }
        let articles = response
            .articles
            .ok_or_else(|| ParseError::Shape("missing field `articles`".into()))?;
        Ok(articles
            .into_iter()
            .filter(|a| a.title.as_deref() != Some("[Removed]"))
            .map(|a| ItemDraft {
                title: a.title,
                link: a.url,
                published_at: a.published_at.as_deref().and_then(parse_datetime),
                summary: a.description,
                author: a.author,
                origin: a.source.and_then(|s| s.name),
                ..ItemDraft::default()
            })
            .collect::<Vec<_>>()
            .into())
    }

    fn credential(&self) -> Option<&ApiKey> {
        self.key.as_ref()
    }
}
