//! `kind = "hackernews"`: the official Firebase API.
//!
//! `<base>/v0/<list>stories.json` lists ids; each of the first `limit` ids
//! becomes a follow-up request for `<base>/v0/item/<id>.json`, queued on the
//! same pool as any other job (so the fan-out is concurrent and obeys the
//! same cap). A deleted, dead or null item is skipped, not an error.

use serde::Deserialize;
use url::Url;

use super::{ApiOptions, KeyProblem, api_options, parse_json, unix_time};
use crate::model::article::ItemDraft;
use crate::model::http::{FetchRequest, Payload};
use crate::model::source::{ParseError, Parsed, Source, SourceInput};

const DEFAULT_BASE: &str = "https://hacker-news.firebaseio.com/";
const DEFAULT_LIMIT: usize = 30;
/// Discussion pages live on the website, whatever API mirror is used.
const ITEM_PAGE: &str = "https://news.ycombinator.com/item?id=";

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum List {
    #[default]
    Top,
    New,
    Best,
    Ask,
    Show,
    Job,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HnOptions {
    #[serde(default)]
    list: List,
}

/// One Hacker News list.
#[derive(Debug)]
pub(super) struct HackerNews {
    base: Url,
    list: List,
    limit: usize,
}

/// An item as the API returns it; every field may be missing.
#[derive(Debug, Deserialize)]
struct Item {
    id: u64,
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    dead: bool,
    title: Option<String>,
    url: Option<String>,
    by: Option<String>,
    time: Option<i64>,
    text: Option<String>,
}

impl HackerNews {
    /// Builds the source from its entry's keys.
    ///
    /// # Errors
    /// Every problem with the keys, each naming its key.
    pub(super) fn from_input(input: &SourceInput) -> Result<Self, Vec<KeyProblem>> {
        let ApiOptions {
            own: opts, base, ..
        } = api_options::<HnOptions>(input, DEFAULT_BASE, false)?;
        Ok(HackerNews {
            base,
            list: opts.list,
            limit: input.limit.unwrap_or(DEFAULT_LIMIT),
        })
    }

    fn list_name(&self) -> &'static str {
        match self.list {
            List::Top => "top",
            List::New => "new",
            List::Best => "best",
            List::Ask => "ask",
            List::Show => "show",
            List::Job => "job",
        }
    }
}

impl Source for HackerNews {
    fn request(&self) -> FetchRequest {
        let path = format!("v0/{}stories.json", self.list_name());
        FetchRequest::get(super::api_url(&self.base, &path, &[]), "application/json")
    }

    fn parse(&self, payload: &Payload) -> Result<Parsed, ParseError> {
        let ids: Vec<u64> = parse_json(payload)?;
        let follow_ups = ids
            .into_iter()
            .take(self.limit)
            .map(|id| {
                let url = super::api_url(&self.base, &format!("v0/item/{id}.json"), &[]);
                FetchRequest::get(url, "application/json")
            })
            .collect();
        Ok(Parsed {
            follow_ups,
            ..Parsed::default()
        })
    }

    fn parse_follow_up(&self, payload: &Payload) -> Result<Option<ItemDraft>, ParseError> {
        let Some(item): Option<Item> = parse_json(payload)? else {
            return Ok(None);
        };
        if item.deleted || item.dead {
            return Ok(None);
        }
        Ok(Some(ItemDraft {
            title: item.title,
            link: Some(
                item.url
                    .unwrap_or_else(|| format!("{ITEM_PAGE}{}", item.id)),
            ),
            published_at: item.time.and_then(unix_time),
            summary: item.text,
            author: item.by,
            origin: None,
            ..ItemDraft::default()
        }))
    }
}
