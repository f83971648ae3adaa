//! The OAuth 2.0 client-credentials grant (RFC 6749 §4.4), as Jamf Pro and the Microsoft
//! identity platform implement it.

use std::time::Duration;

use http::StatusCode;
use http::header::ACCEPT;
use posture_core::ProviderError;
use serde::Deserialize;

use crate::{
    FetchedToken, HttpClient, TransportError, Url, error_chain, looks_like_html, read_body,
    status_error,
};

/// The token endpoint's answer is small; anything larger is not a token answer.
const MAX_TOKEN_BODY: usize = 64 * 1024;

/// Why a token request failed, for the provider to word with the names of its settings.
#[derive(Debug)]
#[non_exhaustive]
pub enum TokenError {
    /// No answer: connection refused, DNS failure, TLS failure, timeout. Transient, except a
    /// request that could not even be built.
    Unreachable {
        /// Whether the request timed out.
        timed_out: bool,
        /// The cause, URL removed.
        source: TransportError,
    },
    /// The endpoint refused the credentials: 401, or 400/403 with an OAuth `error` code.
    /// Permanent.
    Refused {
        /// The status.
        status: StatusCode,
        /// The OAuth `error` code, such as `invalid_client`.
        error: Option<String>,
        /// The first line of `error_description` (Microsoft's carries an `AADSTS` code),
        /// cut to 300 characters. Token endpoints never echo the secret.
        description: Option<String>,
    },
    /// 5xx, 408, 429, or a body cut short: transient, already classified.
    Unavailable(ProviderError),
    /// The URL does not behave like a token endpoint: another status, an HTML page, JSON
    /// without `access_token`. Permanent; the text says what was seen.
    NotATokenEndpoint(String),
}

impl TokenError {
    /// This failure as the provider's error. `service` names the token endpoint (`"Jamf
    /// Pro"`), `setting` its URL setting with the value (`"JAMF_BASE_URL
    /// (https://example.jamfcloud.com)"`); `refused` words a refusal from its status, OAuth
    /// `error` and `error_description`, since only the provider knows which credential
    /// settings to name.
    ///
    /// ```
    /// use posture_core::ProviderError;
    /// use posture_http::oauth::TokenError;
    ///
    /// let err = TokenError::NotATokenEndpoint("it answered an HTML page".to_owned());
    /// let refused = |_, _, _| ProviderError::permanent("refused");
    /// let err = err.into_error("Acme", "ACME_URL (https://acme.example)", "POST /token", refused);
    /// assert_eq!(
    ///     err.message(),
    ///     "ACME_URL (https://acme.example) does not look like Acme: it answered an HTML page"
    /// );
    /// ```
    pub fn into_error(
        self,
        service: &str,
        setting: &str,
        request: &str,
        refused: impl FnOnce(StatusCode, Option<String>, Option<String>) -> ProviderError,
    ) -> ProviderError {
        match self {
            Self::Unreachable { timed_out, source } => unreachable(
                &format!("{service} at {setting}"),
                request,
                timed_out,
                source,
            ),
            Self::Refused {
                status,
                error,
                description,
            } => refused(status, error, description),
            Self::Unavailable(err) => err,
            Self::NotATokenEndpoint(what) => {
                ProviderError::permanent(format!("{setting} does not look like {service}: {what}"))
            }
        }
    }

    /// Whether a retry could succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { source, .. } => !source.is_builder(),
            Self::Unavailable(err) => err.is_transient(),
            Self::Refused { .. } | Self::NotATokenEndpoint(_) => false,
        }
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    access_token: serde_json::Value,
    #[serde(default)]
    expires_in: serde_json::Value,
}

/// An RFC 6749 error answer, read leniently: a field of the wrong type counts as missing.
#[derive(Deserialize)]
struct OAuthError {
    #[serde(default)]
    error: serde_json::Value,
    #[serde(default)]
    error_description: serde_json::Value,
}

impl OAuthError {
    fn code(&self) -> Option<String> {
        self.error
            .as_str()
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
    }
}

/// Requests a token with the client-credentials grant: `POST url` with `form` (which must
/// hold `grant_type=client_credentials` and the credentials), `Accept: application/json`.
///
/// The answer's `access_token` must be a non-empty string; `expires_in` may be a number or a
/// numeric string (both occur), and `default_lifetime` is assumed when it is missing.
pub async fn client_credentials(
    http: &HttpClient,
    url: Url,
    form: &[(&str, &str)],
    service: &str,
    request: &str,
    default_lifetime: Duration,
) -> Result<FetchedToken, TokenError> {
    let response = http
        .post(url)
        .header(ACCEPT, "application/json")
        .form(form)
        .send()
        .await
        .map_err(|source| TokenError::Unreachable {
            timed_out: source.is_timeout(),
            source,
        })?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = read_body(service, request, response, MAX_TOKEN_BODY)
        .await
        .map_err(|err| {
            if err.is_transient() {
                TokenError::Unavailable(err)
            } else {
                TokenError::NotATokenEndpoint(err.message().to_owned())
            }
        })?;
    tracing::debug!(status = status.as_u16(), service, "token endpoint answered");

    if status == StatusCode::OK {
        return parse_token_answer(&body, request, default_lifetime);
    }
    let oauth = serde_json::from_slice::<OAuthError>(&body)
        .ok()
        .filter(|e| e.code().is_some());
    match (status, oauth) {
        (StatusCode::UNAUTHORIZED, oauth)
        | (StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN, oauth @ Some(_)) => {
            let (error, description) = match oauth {
                Some(e) => (
                    e.code(),
                    first_line(e.error_description.as_str().unwrap_or_default()),
                ),
                None => (None, None),
            };
            Err(TokenError::Refused {
                status,
                error,
                description,
            })
        }
        (status, _)
            if status.is_server_error()
                || status == StatusCode::TOO_MANY_REQUESTS
                || status == StatusCode::REQUEST_TIMEOUT =>
        {
            Err(TokenError::Unavailable(status_error(
                service, request, status, &headers,
            )))
        }
        (status, _) => Err(TokenError::NotATokenEndpoint(format!(
            "{request} answered {}{}",
            show_status(status),
            if looks_like_html(&body) {
                " with an HTML page"
            } else {
                ""
            }
        ))),
    }
}

/// Reads the body of a token endpoint's `200 OK` answer: `access_token` must be a non-empty
/// string; `expires_in` may be a number or a numeric string, and `default_lifetime` stands in
/// when it is missing or unreadable. Public so fuzzers and tests can reach it without a
/// network.
///
/// ```
/// use std::time::Duration;
/// use posture_http::oauth::parse_token_answer;
///
/// let token = parse_token_answer(br#"{"access_token":"t","expires_in":"1199"}"#, "token", Duration::from_secs(60))?;
/// assert_eq!(token.lifetime(), Duration::from_secs(1199));
/// assert!(parse_token_answer(b"<html>", "token", Duration::from_secs(60)).is_err());
/// # Ok::<(), posture_http::oauth::TokenError>(())
/// ```
pub fn parse_token_answer(
    body: &[u8],
    request: &str,
    default_lifetime: Duration,
) -> Result<FetchedToken, TokenError> {
    let not_token = |what: &str| {
        TokenError::NotATokenEndpoint(format!("{request} answered 200 OK with {what}"))
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
    .unwrap_or(default_lifetime);
    Ok(FetchedToken::new(token, lifetime))
}

fn first_line(text: &str) -> Option<String> {
    let line = text.lines().next().unwrap_or("").trim();
    if line.is_empty() {
        return None;
    }
    Some(line.chars().take(300).collect())
}

/// The error for [`TokenError::Unreachable`]: the token endpoint `at` (`"Jamf Pro at
/// JAMF_BASE_URL (https://example.jamfcloud.com)"`) did not answer `request` in time or
/// could not be reached, with the cause chain. Transient, except a request that could not
/// even be built.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let client = posture_http::ClientOptions::new(std::time::Duration::from_secs(1)).build().unwrap();
/// let url = posture_http::Url::parse("http://[::1]:1/").unwrap();
/// let source = client.get(url).send().await.unwrap_err();
/// let err = posture_http::oauth::unreachable("Acme at ACME_URL (http://[::1]:1)", "POST /token", false, source);
/// assert!(err.is_transient());
/// assert!(err.message().starts_with("Acme at ACME_URL (http://[::1]:1) cannot be reached (POST /token): "));
/// # }
/// ```
pub fn unreachable(
    at: &str,
    request: &str,
    timed_out: bool,
    source: TransportError,
) -> ProviderError {
    let what = if timed_out {
        "did not answer in time"
    } else {
        "cannot be reached"
    };
    let message = format!("{at} {what} ({request}): {}", error_chain(&source));
    if source.is_builder() {
        ProviderError::permanent(message).with_source(source)
    } else {
        ProviderError::transient(message).with_source(source)
    }
}

/// `401 Unauthorized`, or the bare code when the status has no reason phrase.
pub fn show_status(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_token_answers_leniently() {
        let token = parse_token_answer(
            br#"{"token_type":"Bearer","expires_in":"3599","ext_expires_in":3599,"access_token":"eyJ0"}"#,
            "POST /t",
            Duration::from_secs(60),
        )
        .unwrap();
        assert_eq!(token.lifetime(), Duration::from_secs(3599));
        let token = parse_token_answer(
            br#"{"access_token":"x"}"#,
            "POST /t",
            Duration::from_secs(60),
        )
        .unwrap();
        assert_eq!(token.lifetime(), Duration::from_secs(60));
        for bad in [
            &b"<html>"[..],
            b"[1]",
            br#"{"access_token":""}"#,
            br#"{"status":"ok"}"#,
        ] {
            let err = parse_token_answer(bad, "POST /t", Duration::from_secs(60)).unwrap_err();
            assert!(matches!(err, TokenError::NotATokenEndpoint(_)), "{err:?}");
            assert!(!err.is_transient());
        }
    }

    #[test]
    fn keeps_one_line_of_the_description() {
        assert_eq!(
            first_line("AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x").as_deref(),
            Some("AADSTS7000215: Invalid client secret provided.")
        );
        assert_eq!(first_line("  "), None);
    }
}
