//! `[[notify]]` keyword alerts: after each round, each rule's new matches
//! go to its webhook in one batch.
//!
//! The database decides what is new (each rule's mark, and a `notified` row
//! per announced article, written before anything is sent), so a restart
//! never announces an article twice; a delivery that finally fails is
//! logged and dropped, never retried at the next round (at most once, not
//! at least once). Deliveries run on one task per rule, in order, with the
//! `[http]` retry policy, and never delay a round. The webhook URL is never
//! logged, only its host.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::config::Config;
use crate::fetch::retry::retry_transient;
use crate::fetch::webhook::{DeliveryError, WebhookClient};
use crate::fetch::{ClientSettings, RetryPolicy};
use crate::model::notify::{NotifyFormat, NotifyRule};
use crate::storage::{NotifyClaim, Storage, StoredArticle};

/// How long one batch may keep retrying.
const DELIVERY_DEADLINE: Duration = Duration::from_secs(300);
/// The most articles one batch carries; more wait for the next round.
const BATCH_MAX: usize = 500;

/// One batch for one rule.
struct Batch {
    rule: Arc<NotifyRule>,
    body: Vec<u8>,
    count: usize,
}

/// The delivery task of each rule, started when the rule first has news.
pub(crate) struct KeywordAlerts {
    /// `[http]`, for the client built when a first batch needs it.
    http: ClientSettings,
    /// Built on the blocking pool (it reads the system's certificates), once.
    client: Option<WebhookClient>,
    policy: RetryPolicy,
    /// By rule name and webhook: a changed webhook gets a task of its own.
    senders: HashMap<(String, String), mpsc::UnboundedSender<Batch>>,
}

impl KeywordAlerts {
    pub(crate) fn new(http: ClientSettings, policy: RetryPolicy) -> KeywordAlerts {
        KeywordAlerts {
            http,
            client: None,
            policy,
            senders: HashMap::new(),
        }
    }

    /// The webhook client, built the first time one is needed.
    async fn client(&mut self) -> Option<WebhookClient> {
        if self.client.is_none() {
            let http = self.http.clone();
            match tokio::task::spawn_blocking(move || WebhookClient::new(&http)).await {
                Ok(Ok(client)) => self.client = Some(client),
                Ok(Err(e)) => warn!(error = %e, "keyword alerts: cannot build the HTTP client"),
                Err(e) => warn!(error = %e, "keyword alerts: cannot build the HTTP client"),
            }
        }
        self.client.clone()
    }

    /// After a round that started at `since`: claims each rule's new
    /// matches and queues them for delivery.
    pub(crate) async fn after_round(&mut self, config: &Config, storage: &Storage, since: &str) {
        for rule in &config.notify {
            let claim = NotifyClaim {
                rule: rule.name.clone(),
                sources: rule.sources.clone(),
                matcher: Arc::clone(&rule.matcher),
                since: since.to_owned(),
                limit: BATCH_MAX,
            };
            let articles = match storage.claim_notifications(claim).await {
                Ok(articles) => articles,
                Err(e) => {
                    warn!(rule = %rule.name, error = %e, "keyword alert: cannot read new articles");
                    continue;
                }
            };
            if articles.is_empty() {
                continue;
            }
            let body = body(rule, &articles, config);
            let key = (rule.name.clone(), rule.webhook.to_string());
            if !self.senders.contains_key(&key) {
                let Some(client) = self.client().await else {
                    warn!(rule = %rule.name, articles = articles.len(), "keyword alert not delivered: no HTTP client");
                    continue;
                };
                self.senders.insert(key.clone(), start(client, self.policy));
            }
            let Some(sender) = self.senders.get(&key) else {
                continue;
            };
            let _ = sender.send(Batch {
                rule: Arc::clone(rule),
                body,
                count: articles.len(),
            });
        }
    }
}

/// The webhook body for `articles`, oldest first.
fn body(rule: &NotifyRule, articles: &[StoredArticle], config: &Config) -> Vec<u8> {
    let tags_of = |article: &StoredArticle| -> Vec<String> {
        let mut tags: Vec<String> = Vec::new();
        for source in &article.sources {
            if let Some(spec) = config.sources.iter().find(|s| &s.name == source) {
                for tag in &spec.tags {
                    if !tags.contains(tag) {
                        tags.push(tag.clone());
                    }
                }
            }
        }
        tags
    };
    let value = match rule.format {
        NotifyFormat::Json => json!({
            "rule": rule.name,
            "articles": articles
                .iter()
                .map(|a| json!({
                    "title": a.title,
                    "url": a.url,
                    "source": a.source,
                    "sources": a.sources,
                    "published_at": a.published_at,
                    "tags": tags_of(a),
                }))
                .collect::<Vec<_>>(),
        }),
        NotifyFormat::Slack => {
            let mut text = format!(
                "*{}*: {} new article{}",
                rule.name,
                articles.len(),
                if articles.len() == 1 { "" } else { "s" }
            );
            for a in articles {
                // Slack's link syntax: `<url|title>`; its three control
                // characters are escaped in the title.
                let title = a
                    .title
                    .replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;");
                text.push_str(&format!("\n• <{}|{}> ({})", a.url, title, a.source));
            }
            json!({ "text": text })
        }
    };
    serde_json::to_vec(&value).unwrap_or_default()
}

/// A task delivering one rule's batches in order.
fn start(client: WebhookClient, policy: RetryPolicy) -> mpsc::UnboundedSender<Batch> {
    let (sender, mut batches) = mpsc::unbounded_channel::<Batch>();
    tokio::spawn(async move {
        while let Some(batch) = batches.recv().await {
            let host = batch
                .rule
                .webhook
                .host_str()
                .unwrap_or("webhook")
                .to_owned();
            let deadline = tokio::time::Instant::now() + DELIVERY_DEADLINE;
            let (result, attempts) = retry_transient(
                policy,
                deadline,
                || client.post_json(&batch.rule.webhook, batch.body.clone()),
                |failure: &DeliveryError| failure.transient.then_some(None),
            )
            .await;
            match result {
                Ok(()) => {
                    info!(rule = %batch.rule.name, articles = batch.count, webhook = %host, attempts, "keyword alert delivered");
                }
                Err(failure) => {
                    warn!(rule = %batch.rule.name, articles = batch.count, webhook = %host, attempts, error = %failure.message, "keyword alert not delivered (not retried: each article is announced at most once)");
                }
            }
        }
    });
    sender
}
