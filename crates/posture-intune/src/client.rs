//! Talking to Microsoft Graph: the client-credentials token and authenticated requests with
//! one retry after a 401.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use posture_core::ProviderError;
use posture_http::oauth::{self, TokenError, show_status};
use posture_http::{
    AccessToken, Answer, BaseUrl, FetchedToken, StatusCode, TokenSession, Url, send_bearer,
};

use crate::config::{IntuneConfig, IntuneCredential};
use crate::credential::ASSERTION_TYPE;

pub(crate) const SERVICE: &str = "Microsoft Graph";

/// The largest answer read. A page of managed devices with the selected properties is a few
/// kilobytes per device; an ignored filter returns up to 1000 devices per page.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// Token lifetime assumed when `expires_in` is missing (Entra issues 60–90 minute tokens).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3599);

/// A request to send: `GET` with a query, or `POST` with a JSON body.
pub(crate) enum Call<'a> {
    Get {
        query: &'a str,
    },
    PostJson {
        body: &'a serde_json::Value,
    },
    /// A call to Intune's SCEP validation service: JSON, with its `api-version` header and a
    /// `client-request-id` Microsoft's support can correlate.
    ScepAction {
        body: &'a serde_json::Value,
        request_id: &'a str,
    },
}

#[derive(Debug)]
pub(crate) struct GraphClient {
    http: posture_http::HttpClient,
    authority: BaseUrl,
    graph: BaseUrl,
    tenant_id: String,
    client_id: String,
    credential: IntuneCredential,
    scope: String,
    /// The variable that sets `scope`, for the message when Entra refuses it.
    scope_variable: &'static str,
    /// The service named in messages and in the `Retry-After` backoff.
    service: &'static str,
    session: TokenSession,
    pub(crate) requests: AtomicU64,
}

impl GraphClient {
    pub(crate) fn new(http: posture_http::HttpClient, config: &IntuneConfig) -> Self {
        Self::for_resource(http, config, config.scope(), "INTUNE_SCOPE", SERVICE)
    }

    /// A client whose tokens are for another resource (Intune's SCEP validation service).
    pub(crate) fn for_resource(
        http: posture_http::HttpClient,
        config: &IntuneConfig,
        scope: String,
        scope_variable: &'static str,
        service: &'static str,
    ) -> Self {
        Self {
            http,
            authority: config.authority_url().clone(),
            graph: config.graph_url().clone(),
            tenant_id: config.tenant_id().to_owned(),
            client_id: config.client_id().to_owned(),
            credential: config.credential().clone(),
            scope,
            scope_variable,
            service,
            session: TokenSession::new(config.token_renewal_margin(), config.max_retry_after()),
            requests: AtomicU64::new(0),
        }
    }

    pub(crate) fn graph(&self) -> &BaseUrl {
        &self.graph
    }

    pub(crate) fn session(&self) -> &TokenSession {
        &self.session
    }

    /// A valid token, fetched once for all concurrent callers when none is cached.
    pub(crate) async fn token(&self) -> Result<AccessToken, ProviderError> {
        self.session.token(|| self.fetch_token()).await
    }

    /// The token endpoint: `{authority}/{tenant}/oauth2/v2.0/token`.
    pub(crate) fn token_url(&self) -> Url {
        self.authority
            .join(&[&self.tenant_id, "oauth2", "v2.0", "token"])
    }

    /// `POST {authority}/{tenant}/oauth2/v2.0/token` with the client credentials — the
    /// secret, or a client assertion signed with the certificate's key — and the scope.
    async fn fetch_token(&self) -> Result<FetchedToken, ProviderError> {
        let url = self.token_url();
        let request = format!("POST /{}/oauth2/v2.0/token", self.tenant_id);
        let assertion: String;
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
        ];
        match &self.credential {
            IntuneCredential::Secret(secret) => form.push(("client_secret", secret.expose())),
            IntuneCredential::Certificate(certificate) => {
                // The audience is the token endpoint exactly as posted.
                assertion = certificate
                    .assertion(&self.client_id, url.as_str())
                    .map_err(|_| {
                        ProviderError::permanent(
                            "cannot sign the client assertion with the key of INTUNE_CLIENT_KEY_PATH",
                        )
                    })?;
                form.push(("client_assertion_type", ASSERTION_TYPE));
                form.push(("client_assertion", assertion.as_str()));
            }
        }
        form.push(("scope", self.scope.as_str()));
        oauth::client_credentials(
            &self.http,
            url,
            &form,
            "the Microsoft identity platform",
            &request,
            DEFAULT_TOKEN_LIFETIME,
        )
        .await
        .map_err(|err| self.token_error(err, &request))
    }

    fn token_error(&self, err: TokenError, request: &str) -> ProviderError {
        let setting = format!("INTUNE_AUTHORITY_URL ({})", self.authority);
        err.into_error(
            "the Microsoft identity platform",
            &setting,
            request,
            |status, error, description| self.refused(status, error, description),
        )
    }

    /// The token endpoint refused the scope or the credentials.
    fn refused(
        &self,
        status: StatusCode,
        error: Option<String>,
        description: Option<String>,
    ) -> ProviderError {
        let scope_refused = matches!(error.as_deref(), Some("invalid_resource" | "invalid_scope"));
        let detail = match (error, description) {
            (Some(error), Some(description)) => format!(": {error}: {description}"),
            (Some(error), None) => format!(": {error}"),
            _ => String::new(),
        };
        let status = show_status(status);
        if scope_refused {
            return ProviderError::permanent(format!(
                "the Microsoft identity platform refused the token scope {} ({status}{detail}); \
                 set {} to the resource of the tenant's cloud{}",
                self.scope,
                self.scope_variable,
                if self.service == SERVICE {
                    ", such as https://graph.microsoft.com/.default"
                } else {
                    ", such as https://api.manage.microsoft.com//.default, and grant the app \
                     Intune's scep_challenge_provider permission"
                }
            ));
        }
        let (credential, check) = match &self.credential {
            IntuneCredential::Secret(_) => {
                ("INTUNE_CLIENT_SECRET", "that the client secret is current")
            }
            IntuneCredential::Certificate(_) => (
                "INTUNE_CLIENT_CERT_PATH / INTUNE_CLIENT_KEY_PATH",
                "that the certificate is uploaded to the app registration (Certificates & secrets) and current",
            ),
        };
        ProviderError::permanent(format!(
            "the Microsoft identity platform refused the app credentials \
             INTUNE_TENANT_ID / INTUNE_CLIENT_ID / {credential} ({status}{detail}); \
             check the tenant, the app registration and {check}",
        ))
    }

    /// An authenticated Graph request. A 401 invalidates the token, renews it once and
    /// retries once; every other status is the caller's to judge. While Graph's
    /// `Retry-After` runs (at most `INTUNE_MAX_RETRY_AFTER`), no request is sent and the
    /// answer is a transient error; then one request probes before the others go.
    pub(crate) async fn call(
        &self,
        url: Url,
        call: Call<'_>,
        request: &str,
    ) -> Result<Answer, ProviderError> {
        let send = |token| self.send(&url, &call, request, token);
        let refused = || {
            ProviderError::permanent(format!(
                "{} refused a freshly issued token for {request} \
                 (401 Unauthorized); check {} matches INTUNE_AUTHORITY_URL's cloud",
                self.service,
                if self.service == SERVICE {
                    "INTUNE_GRAPH_URL"
                } else {
                    "INTUNE_SCEP_SCOPE"
                }
            ))
        };
        self.session
            .send(self.service, request, || self.fetch_token(), send, refused)
            .await
    }

    async fn send(
        &self,
        url: &Url,
        call: &Call<'_>,
        request: &str,
        token: AccessToken,
    ) -> Result<Answer, ProviderError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let builder = match call {
            Call::Get { query } => {
                let mut url = url.clone();
                if !query.is_empty() {
                    url.set_query(Some(query));
                }
                self.http.get(url)
            }
            Call::PostJson { body } => self.http.post(url.clone()).json(body),
            Call::ScepAction { body, request_id } => self
                .http
                .post(url.clone())
                .header("api-version", crate::scep::API_VERSION)
                .header("client-request-id", *request_id)
                .json(body),
        };
        send_bearer(builder, token.secret(), self.service, request, MAX_BODY).await
    }
}

/// An OData query string: `$` names sent literally, values percent-encoded (spaces as `%20`,
/// quotes as `%27`), as Graph's documentation shows.
///
/// The values are our own constants and checked serials or GUIDs, so they never carry `'`.
pub(crate) fn odata_query(pairs: &[(&str, &str)]) -> String {
    let mut query = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            query.push('&');
        }
        query.push_str(name);
        query.push('=');
        posture_http::percent_encode_into(&mut query, value, b",");
    }
    query
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odata_queries_keep_dollars_and_encode_values() {
        assert_eq!(
            odata_query(&[
                ("$filter", "serialNumber eq 'C02'"),
                ("$select", "id,deviceName")
            ]),
            "$filter=serialNumber%20eq%20%27C02%27&$select=id,deviceName"
        );
    }
}
