//! Talking to Jamf Pro: the OAuth token and authenticated GETs with one retry after a 401.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use posture_core::ProviderError;
use posture_http::oauth::{self, TokenError, show_status};
use posture_http::{
    AccessToken, Answer, BaseUrl, FetchedToken, Secret, TokenSession, Url, send_bearer,
};
use tokio::sync::{Semaphore, SemaphorePermit};

pub(crate) const SERVICE: &str = "Jamf Pro";

/// The largest answer read. A Classic computer record lists every installed application and
/// can reach a few megabytes.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Token lifetime assumed when Jamf omits `expires_in` (Jamf's documented example).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub(crate) struct JamfClient {
    http: posture_http::HttpClient,
    base: BaseUrl,
    client_id: String,
    client_secret: Secret,
    session: TokenSession,
    /// One permit per request in flight to Jamf (`JAMF_MAX_CONNECTIONS`): Jamf sends no 429,
    /// so this cap is the only thing that keeps a burst of cold lookups within its guidance.
    slots: Semaphore,
    pub(crate) requests: AtomicU64,
    pub(crate) connection_waits: AtomicU64,
}

impl JamfClient {
    pub(crate) fn new(
        http: posture_http::HttpClient,
        base: BaseUrl,
        client_id: String,
        client_secret: Secret,
        renewal_margin: Duration,
        max_connections: usize,
        max_retry_after: Duration,
    ) -> Self {
        Self {
            http,
            base,
            client_id,
            client_secret,
            session: TokenSession::new(renewal_margin, max_retry_after),
            slots: Semaphore::new(max_connections.max(1)),
            requests: AtomicU64::new(0),
            connection_waits: AtomicU64::new(0),
        }
    }

    /// A free connection slot, waiting for one if all are taken. The wait counts against
    /// the caller's `TIMEOUT`, which bounds every lookup.
    async fn slot(&self) -> Result<SemaphorePermit<'_>, ProviderError> {
        if let Ok(permit) = self.slots.try_acquire() {
            return Ok(permit);
        }
        self.connection_waits.fetch_add(1, Ordering::Relaxed);
        self.slots
            .acquire()
            .await
            .map_err(|_| ProviderError::permanent("the Jamf Pro connection slots were closed"))
    }

    pub(crate) fn base(&self) -> &BaseUrl {
        &self.base
    }

    pub(crate) fn session(&self) -> &TokenSession {
        &self.session
    }

    /// A valid token, fetched once for all concurrent callers when none is cached.
    pub(crate) async fn token(&self) -> Result<AccessToken, ProviderError> {
        self.session.token(|| self.fetch_token()).await
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
        let _slot = self.slot().await?;
        oauth::client_credentials(
            &self.http,
            url,
            &form,
            SERVICE,
            REQUEST,
            DEFAULT_TOKEN_LIFETIME,
        )
        .await
        .map_err(|err| self.token_error(err))
    }

    fn token_error(&self, err: TokenError) -> ProviderError {
        let setting = format!("JAMF_BASE_URL ({})", self.base);
        err.into_error(
            SERVICE,
            &setting,
            "POST /api/oauth/token",
            |status, error, _| {
                let detail = error.map(|e| format!(": {e}")).unwrap_or_default();
                ProviderError::permanent(format!(
                    "Jamf Pro at {setting} refused the API client credentials \
                 JAMF_CLIENT_ID / JAMF_CLIENT_SECRET ({}{detail}); check the API client \
                 exists, is enabled and the secret is current",
                    show_status(status),
                ))
            },
        )
    }

    /// An authenticated GET that asks for JSON. A 401 invalidates the token, renews it once
    /// and retries once; every other status is the caller's to judge.
    pub(crate) async fn get(
        &self,
        url: Url,
        query: &[(&str, &str)],
        request: &str,
    ) -> Result<Answer, ProviderError> {
        let send = |token| self.send(&url, query, request, token);
        let refused = || {
            ProviderError::permanent(format!(
                "Jamf Pro refused a freshly issued token for {request} (401 Unauthorized); \
                 check the API client JAMF_CLIENT_ID is enabled"
            ))
        };
        self.session
            .send(SERVICE, request, || self.fetch_token(), send, refused)
            .await
    }

    async fn send(
        &self,
        url: &Url,
        query: &[(&str, &str)],
        request: &str,
        token: AccessToken,
    ) -> Result<Answer, ProviderError> {
        let _slot = self.slot().await?;
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut builder = self.http.get(url.clone());
        if !query.is_empty() {
            builder = builder.query(query);
        }
        send_bearer(builder, token.secret(), SERVICE, request, MAX_BODY).await
    }
}
