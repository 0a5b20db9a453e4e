//! POSTing JSON to an operator's webhook (alerts). Kept here so reqwest
//! stays inside `fetch`. Unlike [`super::HttpClient`] it follows no source
//! rules: the operator chose the URL, so it may be on a private network.

use super::ClientSettings;
use super::FetchError;

/// A client for webhook deliveries, with `[http]`'s timeouts and user agent.
#[derive(Debug, Clone)]
pub(crate) struct WebhookClient {
    client: reqwest::Client,
}

/// A failed delivery: whether another try could help, and why (never the
/// URL, which often carries a token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeliveryError {
    /// Whether another try could help (network, 408, 429, 5xx).
    pub transient: bool,
    /// What went wrong, without the URL.
    pub message: String,
}

impl std::fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl WebhookClient {
    /// Builds the client from `[http]`.
    ///
    /// # Errors
    /// The TLS backend cannot be set up.
    pub(crate) fn new(http: &ClientSettings) -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .timeout(http.timeout)
            .connect_timeout(http.connect_timeout)
            .user_agent(http.user_agent.as_str())
            .build()
            .map_err(|e| FetchError::Other(e.without_url().to_string()))?;
        Ok(WebhookClient { client })
    }

    /// POSTs `json`; any 2xx is delivered. Network errors, 408, 429 and 5xx
    /// are transient; other statuses are not.
    ///
    /// # Errors
    /// A [`DeliveryError`] saying whether another try could help.
    pub(crate) async fn post_json(
        &self,
        url: &url::Url,
        json: Vec<u8>,
    ) -> Result<(), DeliveryError> {
        let response = self
            .client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(json)
            .send()
            .await
            .map_err(|e| DeliveryError {
                transient: true,
                message: e.without_url().to_string(),
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        Err(DeliveryError {
            transient: status.is_server_error() || matches!(status.as_u16(), 408 | 429),
            message: format!("HTTP {status}"),
        })
    }
}
