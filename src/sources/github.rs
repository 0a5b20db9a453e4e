//! `kind = "github"`: repository search or one repository's releases.
//!
//! `mode = "search"` maps each repository to an article titled
//! `owner/name: description`; `mode = "releases"` maps each published
//! release of `repo` (drafts are skipped). A token is optional: without one
//! GitHub allows 60 requests an hour. The `Accept` and API-version headers
//! GitHub asks for are always sent; the client sends the `User-Agent`.

use std::sync::Arc;

use serde::Deserialize;
use url::Url;

use super::{ApiOptions, BuildContext, Built, KeyProblem, api_options, parse_datetime, parse_json};
use crate::model::article::ItemDraft;
use crate::model::http::{FetchRequest, Header, Payload};
use crate::model::secret::{ApiKey, Secret};
use crate::model::source::{ParseError, Parsed, Source, SourceInput};

const DEFAULT_BASE: &str = "https://api.github.com/";
const ACCEPT: &str = "application/vnd.github+json";
const API_VERSION: &str = "2022-11-28";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    #[default]
    Search,
    Releases,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GitHubOptions {
    #[serde(default)]
    mode: Mode,
    q: Option<String>,
    sort: Option<String>,
    per_page: Option<u32>,
    /// `owner/name`, for `mode = "releases"`.
    repo: Option<String>,
}

/// One GitHub search or release list.
#[derive(Debug)]
pub(super) struct GitHub {
    url: Url,
    mode: Mode,
    repo: Option<String>,
    token: Option<ApiKey>,
}

#[derive(Debug, Deserialize)]
struct SearchResponse {
    items: Option<Vec<Repository>>,
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Repository {
    full_name: Option<String>,
    description: Option<String>,
    html_url: Option<String>,
    updated_at: Option<String>,
    owner: Option<Owner>,
}

#[derive(Debug, Deserialize)]
struct Release {
    name: Option<String>,
    tag_name: Option<String>,
    html_url: Option<String>,
    published_at: Option<String>,
    body: Option<String>,
    #[serde(default)]
    draft: bool,
    author: Option<Owner>,
}

#[derive(Debug, Deserialize)]
struct Owner {
    login: Option<String>,
}

impl GitHub {
    /// Builds the source from its entry's keys.
    ///
    /// # Errors
    /// Every problem with the keys, each naming its key.
    pub(super) fn from_input(
        input: &SourceInput,
        context: &BuildContext,
    ) -> Result<Built, Vec<KeyProblem>> {
        let ApiOptions { own: o, base, keys } =
            api_options::<GitHubOptions>(input, DEFAULT_BASE, true)?;
        let per_page = o
            .per_page
            .or(input.limit.map(|l| l.min(100) as u32))
            .map(|n| n.to_string());
        let url = match o.mode {
            Mode::Search => {
                let Some(q) = o.q else {
                    return Err(vec![KeyProblem::new(
                        "q",
                        "mode = \"search\" needs a query q",
                    )]);
                };
                super::api_url(
                    &base,
                    "search/repositories",
                    &[("q", Some(q)), ("sort", o.sort), ("per_page", per_page)],
                )
            }
            Mode::Releases => {
                let repo = o.repo.as_deref().unwrap_or_default();
                let valid =
                    repo.split('/').count() == 2 && repo.split('/').all(|part| !part.is_empty());
                if !valid {
                    return Err(vec![KeyProblem::new(
                        "repo",
                        "mode = \"releases\" needs repo = \"owner/name\"",
                    )]);
                }
                super::api_url(
                    &base,
                    &format!("repos/{repo}/releases"),
                    &[("per_page", per_page)],
                )
            }
        };
        let (token, disabled) = keys.optional(context);
        Ok(Built {
            source: Arc::new(GitHub {
                url,
                mode: o.mode,
                repo: o.repo,
                token,
            }),
            disabled,
        })
    }
}

impl Source for GitHub {
    fn request(&self) -> FetchRequest {
        let mut request = FetchRequest::get(self.url.clone(), ACCEPT);
        request.headers.push(Header::Plain(
            "x-github-api-version",
            API_VERSION.to_owned(),
        ));
        if let Some(token) = &self.token {
            let bearer = Secret::new(format!("Bearer {}", token.secret.expose()));
            request
                .headers
                .push(Header::Credential("authorization", bearer));
        }
        request
    }

    fn parse(&self, payload: &Payload) -> Result<Parsed, ParseError> {
        let drafts: Vec<ItemDraft> = match self.mode {
            Mode::Search => {
                let response: SearchResponse = parse_json(payload)?;
                let items = match (response.items, response.message) {
                    (Some(items), _) => items,
                    (None, Some(message)) => return Err(ParseError::Api(message)),
                    (None, None) => return Err(ParseError::Shape("missing field `items`".into())),
                };
                items
                    .into_iter()
                    .map(|r| ItemDraft {
                        title: r.full_name.as_ref().map(|name| {
                            match r.description.as_deref().filter(|d| !d.is_empty()) {
                                Some(description) => format!("{name}: {description}"),
                                None => name.clone(),
                            }
                        }),
                        link: r.html_url,
                        published_at: r.updated_at.as_deref().and_then(parse_datetime),
                        summary: r.description,
                        author: r.owner.and_then(|o| o.login),
                        origin: None,
                        ..ItemDraft::default()
                    })
                    .collect()
            }
            Mode::Releases => {
                let releases: Vec<Release> = parse_json(payload)?;
                let repo = self.repo.as_deref().unwrap_or_default();
                releases
                    .into_iter()
                    .filter(|r| !r.draft)
                    .map(|r| {
                        let name = r.name.filter(|n| !n.trim().is_empty()).or(r.tag_name);
                        ItemDraft {
                            title: Some(match name {
                                Some(name) => format!("{repo} {name}"),
                                None => repo.to_owned(),
                            }),
                            link: r.html_url,
                            published_at: r.published_at.as_deref().and_then(parse_datetime),
                            summary: r.body,
                            author: r.author.and_then(|a| a.login),
                            origin: None,
                            ..ItemDraft::default()
                        }
                    })
                    .collect()
            }
        };
        Ok(drafts.into())
    }

    fn credential(&self) -> Option<&ApiKey> {
        self.token.as_ref()
    }
}
