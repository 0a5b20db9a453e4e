//! `[[notify]]`: keyword alerts. After each round, the new articles a rule
//! matches are POSTed to its webhook in one batch, each at most once (the
//! database records what was announced).

use std::sync::Arc;

use crate::model::filter::ItemFilter;

/// The body a rule's webhook receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NotifyFormat {
    /// `{rule, articles: [{title, url, source, published_at, tags}]}`.
    #[default]
    Json,
    /// `{"text": …}`, what Slack (and Mattermost, Rocket.Chat) incoming
    /// webhooks take.
    Slack,
}

/// A validated `[[notify]]` rule.
#[derive(Debug, Clone)]
pub struct NotifyRule {
    /// Unique name.
    pub name: String,
    /// Its `match` patterns, compiled.
    pub matcher: Arc<ItemFilter>,
    /// The sources it watches (its `sources` and those with its `tags`);
    /// all when empty.
    pub sources: Vec<String>,
    /// Where batches go. Secret-bearing: only its host is ever shown.
    pub webhook: url::Url,
    /// The body's shape.
    pub format: NotifyFormat,
}

impl PartialEq for NotifyRule {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.matcher == other.matcher
            && self.sources == other.sources
            && self.webhook == other.webhook
            && self.format == other.format
    }
}
