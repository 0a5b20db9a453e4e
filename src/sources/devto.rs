//! `kind = "devto"`: DEV Community articles (no key).
//!
//! `<base>/api/articles?top=<days>&tag=<tag>&per_page=<n>`; each article maps
//! `title`, `url`, `published_at`, `description` and `user.name`.

use serde::Deserialize;
use url::Url;

use super::{ApiOptions, KeyProblem, api_options, parse_datetime, parse_json};
use crate::model::article::ItemDraft;
use crate::model::http::{FetchRequest, Payload};
use crate::model::source::{ParseError, Parsed, Source, SourceInput};

const DEFAULT_BASE: &str = "https://dev.to/";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DevToOptions {
    /// The most popular of the last `top` days.
    top: Option<u32>,
    tag: Option<String>,
    per_page: Option<u32>,
}

/// One DEV.to listing.
#[derive(Debug)]
pub(super) struct DevTo {
    url: Url,
}

#[derive(Debug, Deserialize)]
struct DevArticle {
    title: Option<String>,
    url: Option<String>,
    published_at: Option<String>,
    description: Option<String>,
    user: Option<User>,
}

#[derive(Debug, Deserialize)]
struct User {
    name: Option<String>,
}

impl DevTo {
    /// Builds the source from its entry's keys.
    ///
    /// # Errors
    /// Every problem with the keys, each naming its key.
    pub(super) fn from_input(input: &SourceInput) -> Result<Self, Vec<KeyProblem>> {
        let ApiOptions { own: o, base, .. } =
            api_options::<DevToOptions>(input, DEFAULT_BASE, false)?;
        let per_page = o.per_page.or(input.limit.map(|l| l.min(1000) as u32));
        let url = super::api_url(
            &base,
            "api/articles",
            &[
                ("top", o.top.map(|d| d.to_string())),
                ("tag", o.tag),
                ("per_page", per_page.map(|n| n.to_string())),
            ],
        );
        Ok(DevTo { url })
    }
}

impl Source for DevTo {
    fn request(&self) -> FetchRequest {
        // Plain `application/json` selects the deprecated v0 API.
        FetchRequest::get(self.url.clone(), "application/vnd.forem.api-v1+json")
    }

    fn parse(&self, payload: &Payload) -> Result<Parsed, ParseError> {
        let articles: Vec<DevArticle> = parse_json(payload)?;
        Ok(articles
            .into_iter()
            .map(|a| ItemDraft {
                title: a.title,
                link: a.url,
                published_at: a.published_at.as_deref().and_then(parse_datetime),
                summary: a.description,
                author: a.user.and_then(|u| u.name),
                origin: None,
                ..ItemDraft::default()
            })
            .collect::<Vec<_>>()
            .into())
    }
}
