//! Talking to Jamf Pro: the OAuth token and authenticated GETs with one retry after a 401.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use posture_core::ProviderError;
use posture_http::reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue};
use posture_http::{
    AccessToken, BaseUrl, FetchedToken, Secret, StatusCode, TokenCache, Url, error_chain,
    looks_like_html, read_body, status_error,
};

use crate::model::{OAuthError, TokenResponse};

pub(crate) const SERVICE: &str = "Jamf Pro";

/// The largest answer read. A Classic computer record lists every installed application and
/// can reach a few megabytes.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// The token endpoint's answer is small.
const MAX_TOKEN_BODY: usize = 64 * 1024;

/// Token lifetime assumed when Jamf omits `expires_in` (Jamf's documented example).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// An answer to an authenticated GET.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

#[derive(Debug)]
pub(crate) struct JamfClient {
    http: posture_http::reqwest::Client,
    base: BaseUrl,
    client_id: String,
    client_secret: Secret,
    tokens: TokenCache,
    backoff: posture_http::Backoff,
    pub(crate) requests: AtomicU64,
    pub(crate) retries_after_401: AtomicU64,
}

impl JamfClient {
    pub(crate) fn new(
        http: posture_http::reqwest::Client,
        base: BaseUrl,
        client_id: String,
        client_secret: Secret,
        renewal_margin: Duration,
    ) -> Self {
        Self {
            http,
            base,
            client_id,
            client_secret,
            tokens: TokenCache::new(renewal_margin),
            backoff: posture_http::Backoff::default(),
            requests: AtomicU64::new(0),
            retries_after_401: AtomicU64::new(0),
        }
    }

    pub(crate) fn base(&self) -> &BaseUrl {
        &self.base
    }

    pub(crate) fn tokens(&self) -> &TokenCache {
        &self.tokens
    }

    /// A valid token, fetched once for all concurrent callers when none is cached.
    pub(crate) async fn token(&self) -> Result<AccessToken, ProviderError> {
        self.tokens.get(|| self.fetch_token()).await
    }

    /// `POST /api/oauth/token` with the client credentials.
    async fn fetch_token(&self) -> Result<FetchedToken, ProviderError> {
        const REQUEST: &str = "POST /api/oauth/token";
        let url = self.base.join(&["api", "oauth", "token"]);
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
        ];
        let response = self
            .http
            .post(url)
            .header(ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|err| self.unreachable(err))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = read_body(SERVICE, REQUEST, response, MAX_TOKEN_BODY).await?;
        tracing::debug!(status = status.as_u16(), "Jamf Pro token endpoint answered");

        if status == StatusCode::OK {
            return self.parse_token(&body);
        }
        let oauth_error = serde_json::from_slice::<OAuthError>(&body)
            .ok()
            .map(|e| e.error)
            .filter(|e| !e.is_empty());
        match (status, oauth_error) {
            (StatusCode::UNAUTHORIZED, error)
            | (StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN, error @ Some(_)) => {
                let detail = error.map(|e| format!(": {e}")).unwrap_or_default();
                Err(ProviderError::permanent(format!(
                    "Jamf Pro at JAMF_BASE_URL ({}) refused the API client credentials \
                     JAMF_CLIENT_ID / JAMF_CLIENT_SECRET ({}{detail}); check the API client \
                     exists, is enabled and the secret is current",
                    self.base,
                    show_status(status),
                )))
            }
            (status, _)
                if status.is_server_error()
                    || status == StatusCode::TOO_MANY_REQUESTS
                    || status == StatusCode::REQUEST_TIMEOUT =>
            {
                Err(status_error(SERVICE, REQUEST, status, &headers))
            }
            (status, _) => Err(self.not_jamf(&format!(
                "{REQUEST} answered {}{}",
                show_status(status),
                if looks_like_html(&body) {
                    " with an HTML page"
                } else {
                    ""
                }
            ))),
        }
    }

    fn parse_token(&self, body: &[u8]) -> Result<FetchedToken, ProviderError> {
        let not_token = |what: &str| {
            self.not_jamf(&format!(
                "POST /api/oauth/token answered 200 OK with {what}"
            ))
        };
        if looks_like_html(body) {
            return Err(not_token("an HTML page"));
        }
        let Ok(parsed) = serde_json::from_slice::<TokenResponse>(body) else {
            return Err(not_token("a body that is not a JSON object"));
        };
        let token = match parsed.access_token {
            serde_json::Value::String(token) if !token.is_empty() => token,
            _ => return Err(not_token("JSON that holds no access_token")),
        };
        let lifetime = match parsed.expires_in {
            serde_json::Value::Number(n) => n.as_u64().map(Duration::from_secs),
            serde_json::Value::String(s) => s.trim().parse().ok().map(Duration::from_secs),
            _ => None,
        }
        .unwrap_or(DEFAULT_TOKEN_LIFETIME);
        Ok(FetchedToken::new(token, lifetime))
    }

    fn not_jamf(&self, what: &str) -> ProviderError {
        ProviderError::permanent(format!(
            "JAMF_BASE_URL ({}) does not look like Jamf Pro: {what}",
            self.base
        ))
    }

    fn unreachable(&self, err: posture_http::reqwest::Error) -> ProviderError {
        // The URL is in the message already.
        let err = err.without_url();
        let cause = error_chain(&err);
        let what = if err.is_timeout() {
            "did not answer in time"
        } else {
            "cannot be reached"
        };
        let message = format!(
            "Jamf Pro at JAMF_BASE_URL ({}) {what} (POST /api/oauth/token): {cause}",
            self.base
        );
        if err.is_builder() {
            ProviderError::permanent(message).with_source(err)
        } else {
            ProviderError::transient(message).with_source(err)
        }
    }

    /// An authenticated GET that asks for JSON. A 401 invalidates the token, renews it once
    /// and retries once; every other status is the caller's to judge.
    pub(crate) async fn get(
        &self,
        url: Url,
        query: &[(&str, &str)],
        request: &str,
    ) -> Result<Answer, ProviderError> {
        self.backoff.check(SERVICE)?;
        let token = self.token().await?;
        let mut response = self.send(&url, query, request, &token).await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            tracing::debug!(
                request,
                "Jamf Pro refused the token; renewing it and retrying once"
            );
            self.tokens.invalidate(&token);
            self.retries_after_401.fetch_add(1, Ordering::Relaxed);
            let token = self.token().await?;
            response = self.send(&url, query, request, &token).await?;
            if response.status() == StatusCode::UNAUTHORIZED {
                self.tokens.invalidate(&token);
                return Err(ProviderError::permanent(format!(
                    "Jamf Pro refused a freshly issued token for {request} (401 Unauthorized); \
                     check the API client JAMF_CLIENT_ID is enabled"
                )));
            }
        }
        let status = response.status();
        let headers = response.headers().clone();
        self.backoff.observe(status, &headers);
        let body = read_body(SERVICE, request, response, MAX_BODY).await?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    async fn send(
        &self,
        url: &Url,
        query: &[(&str, &str)],
        request: &str,
        token: &AccessToken,
    ) -> Result<posture_http::reqwest::Response, ProviderError> {
        let mut bearer =
            HeaderValue::from_str(&format!("Bearer {}", token.secret())).map_err(|_| {
                ProviderError::permanent(
                    "Jamf Pro issued an access token that is not a valid HTTP header value",
                )
            })?;
        bearer.set_sensitive(true);
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut builder = self
            .http
            .get(url.clone())
            .header(ACCEPT, "application/json")
            .header(AUTHORIZATION, bearer);
        if !query.is_empty() {
            builder = builder.query(query);
        }
        builder
            .send()
            .await
            .map_err(|err| posture_http::transport_error(SERVICE, request, err))
    }
}

fn show_status(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}
