//! Sending an API request with a bearer token and reading its answer.

use bytes::Bytes;
use http::StatusCode;
use http::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue};
use posture_core::ProviderError;

use crate::{HttpRequest, read_body, status_error, transport_error};

/// The answer to an authenticated request: the status is the caller's to judge.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body, read completely (within the limit given).
    pub body: Bytes,
}

impl Answer {
    /// An answer read elsewhere (a test's stand-in, a cached reply).
    pub fn new(status: StatusCode, headers: HeaderMap, body: Bytes) -> Self {
        Self {
            status,
            headers,
            body,
        }
    }

    /// The [`status_error`] for this answer's status and headers.
    pub fn error(&self, service: &str, request: &str) -> ProviderError {
        status_error(service, request, self.status, &self.headers)
    }
}

/// An `Authorization: Bearer <token>` header value, marked sensitive so it is never logged.
///
/// ```
/// let value = posture_http::bearer_header("eyJ0", "Kandji").unwrap();
/// assert!(value.is_sensitive());
/// assert!(posture_http::bearer_header("a\nb", "Kandji").is_err());
/// ```
pub fn bearer_header(token: &str, service: &str) -> Result<HeaderValue, ProviderError> {
    secret_header(&format!("Bearer {token}"), service)
}

/// A header value holding a credential as it is (an `x-api-key`, an `accessToken`), marked
/// sensitive so it is never logged.
///
/// ```
/// let value = posture_http::secret_header("k3y", "Addigy").unwrap();
/// assert!(value.is_sensitive());
/// assert!(posture_http::secret_header("a\nb", "Addigy").is_err());
/// ```
pub fn secret_header(secret: &str, service: &str) -> Result<HeaderValue, ProviderError> {
    let mut value = HeaderValue::from_str(secret).map_err(|_| {
        ProviderError::permanent(format!(
            "the {service} access token is not a valid HTTP header value"
        ))
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// Sends `builder` with the bearer token and `Accept: application/json`, and reads the body
/// (at most `limit` bytes). No answer, or an answer cut short, is a
/// [`transport_error`]; a body over the limit is permanent. Any status is returned as an
/// [`Answer`].
pub async fn send_bearer(
    builder: HttpRequest,
    token: &str,
    service: &str,
    request: &str,
    limit: usize,
) -> Result<Answer, ProviderError> {
    send_json(
        builder.header(AUTHORIZATION, bearer_header(token, service)?),
        service,
        request,
        limit,
    )
    .await
}

/// Sends `builder` (with whatever credentials it already carries) and
/// `Accept: application/json`, and reads the body (at most `limit` bytes). No answer, or an
/// answer cut short, is a [`transport_error`]; a body over the limit is permanent. Any
/// status is returned as an [`Answer`].
///
/// ```no_run
/// # async fn demo(client: posture_http::HttpClient) -> Result<(), Box<dyn std::error::Error>> {
/// let url = posture_http::Url::parse("https://assets.example.com/api/v1/hardware/byserial/C02XL0GJJG5J")?;
/// let answer = posture_http::send_json(
///     client.get(url),
///     "Snipe-IT",
///     "GET /api/v1/hardware/byserial/C02XL0GJJG5J",
///     1024 * 1024,
/// )
/// .await?;
/// assert!(answer.status.is_success() || answer.status.is_client_error() || answer.status.is_server_error());
/// # Ok(())
/// # }
/// ```
pub async fn send_json(
    builder: HttpRequest,
    service: &str,
    request: &str,
    limit: usize,
) -> Result<Answer, ProviderError> {
    let response = builder
        .header(ACCEPT, "application/json")
        .send()
        .await
        .map_err(|err| transport_error(service, request, err))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = read_body(service, request, response, limit).await?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}
