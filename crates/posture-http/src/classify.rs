use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http::header::{HeaderMap, LOCATION, RETRY_AFTER};
use posture_core::ProviderError;
use serde::de::DeserializeOwned;
use url::Url;

use crate::client::error_chain;
use crate::oauth::show_status;
use crate::{BodyError, HttpResponse, TransportError};

/// The longest `Retry-After` we pass on; anything above is clamped.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Turns a non-success HTTP status into a [`ProviderError`].
///
/// - 5xx, 408 and 429 are transient (the server answers 503 and step-ca retries once), with
///   the `Retry-After` delay attached when the response gave one in seconds;
/// - 401 (credentials or token refused), 403 (a privilege is missing), every other 4xx,
///   and 1xx/3xx are permanent. A 3xx names the origin its absolute `Location` points to:
///   redirects are never followed, because they would take the credentials along, so the
///   operator has to configure the new address.
///
/// `service` names the backend (`"Jamf Pro"`) and `request` what was asked
/// (`"GET /api/v1/departments/3"`); neither may hold secrets.
///
/// ```
/// use posture_http::{status_error, StatusCode};
/// use posture_http::header::{HeaderMap, HeaderValue, RETRY_AFTER};
///
/// let mut headers = HeaderMap::new();
/// headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
/// let err = status_error("Jamf Pro", "GET /x", StatusCode::TOO_MANY_REQUESTS, &headers);
/// assert!(err.is_transient());
/// assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(7)));
///
/// let err = status_error("Jamf Pro", "GET /x", StatusCode::FORBIDDEN, &HeaderMap::new());
/// assert!(!err.is_transient());
///
/// let mut headers = HeaderMap::new();
/// headers.insert("location", HeaderValue::from_static("https://new.example.com/x?page=1"));
/// let err = status_error("Jamf Pro", "GET /x", StatusCode::MOVED_PERMANENTLY, &headers);
/// assert!(!err.is_transient());
/// assert!(err.message().contains("redirecting to https://new.example.com;"));
/// ```
pub fn status_error(
    service: &str,
    request: &str,
    status: StatusCode,
    headers: &HeaderMap,
) -> ProviderError {
    let shown = show_status(status);
    let err = match status {
        StatusCode::TOO_MANY_REQUESTS => {
            ProviderError::transient(format!("{service} rate-limited {request} ({shown})"))
        }
        StatusCode::REQUEST_TIMEOUT => {
            ProviderError::transient(format!("{service} timed out {request} ({shown})"))
        }
        status if status.is_server_error() => {
            ProviderError::transient(format!("{service} answered {shown} to {request}"))
        }
        StatusCode::UNAUTHORIZED => ProviderError::permanent(format!(
            "{service} refused the credentials for {request} ({shown})"
        )),
        StatusCode::FORBIDDEN => ProviderError::permanent(format!(
            "{service} denied {request} ({shown}): the API client lacks a privilege"
        )),
        status if status.is_redirection() => {
            ProviderError::permanent(redirected(service, request, &shown, headers))
        }
        _ => ProviderError::permanent(format!("{service} answered {shown} to {request}")),
    };
    match retry_after(headers) {
        Some(delay) if err.is_transient() => err.with_retry_after(delay),
        _ => err,
    }
}

/// The message for a redirect: where it points, and that it was not followed.
fn redirected(service: &str, request: &str, shown: &str, headers: &HeaderMap) -> String {
    let location = headers.get(LOCATION).and_then(|v| v.to_str().ok());
    // Only an absolute Location names another origin; a relative one stays on this host.
    match location
        .and_then(|l| Url::parse(l.trim()).ok())
        .and_then(|url| origin(&url))
    {
        Some(origin) => format!(
            "{service} answered {shown} to {request}, redirecting to {origin}; redirects are \
             not followed, so the credentials never leave the configured URL: if {origin} is \
             {service}'s new address, configure it instead"
        ),
        None if location.is_some() => format!(
            "{service} answered {shown} to {request}, redirecting to another path on the same \
             host; redirects are not followed: check the path of the configured URL"
        ),
        None => format!("{service} answered {shown} to {request}"),
    }
}

/// Where a redirect answer points: its `Location`, resolved against the URL that was
/// requested. `None` without a `Location` that makes an http(s) URL.
///
/// Redirects are never followed (see [`ClientOptions::build`](crate::ClientOptions::build));
/// this is for telling the operator where the service has gone.
///
/// ```
/// use posture_http::{Url, redirect_target};
/// use posture_http::header::{HeaderMap, HeaderValue, LOCATION};
///
/// let asked = Url::parse("https://acme.api.kandji.io/api/v1/devices?limit=1")?;
/// let mut headers = HeaderMap::new();
/// headers.insert(LOCATION, HeaderValue::from_static("https://acme.api.iru.com/api/v1/devices?limit=1"));
/// let target = redirect_target(&asked, &headers).unwrap();
/// assert_eq!(posture_http::origin(&target).unwrap(), "https://acme.api.iru.com");
///
/// // A relative Location stays on the host that was asked.
/// headers.insert(LOCATION, HeaderValue::from_static("/api/v2/devices"));
/// let target = redirect_target(&asked, &headers).unwrap();
/// assert_eq!(target.as_str(), "https://acme.api.kandji.io/api/v2/devices");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn redirect_target(requested: &Url, headers: &HeaderMap) -> Option<Url> {
    let location = headers.get(LOCATION)?.to_str().ok()?.trim();
    let target = requested.join(location).ok()?;
    matches!(target.scheme(), "https" | "http").then_some(target)
}

/// A URL's origin, `scheme://host[:port]` (the port only when it isn't the scheme's
/// default); `None` for URLs without a host.
///
/// ```
/// let url = posture_http::Url::parse("https://acme.api.iru.com:443/api/v1?x=1")?;
/// assert_eq!(posture_http::origin(&url).as_deref(), Some("https://acme.api.iru.com"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn origin(url: &Url) -> Option<String> {
    let origin = url.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// The transient error for a lookup that took longer than `timeout` (`TIMEOUT`).
///
/// ```
/// use std::time::Duration;
/// let err = posture_http::timed_out("Kandji", Duration::from_secs(4));
/// assert!(err.is_transient());
/// assert_eq!(err.message(), "Kandji did not answer within 4 s (TIMEOUT)");
/// ```
pub fn timed_out(service: &str, timeout: Duration) -> ProviderError {
    ProviderError::transient(format!(
        "{service} did not answer within {} s (TIMEOUT)",
        timeout.as_secs_f32()
    ))
}

/// Turns a [`TransportError`] (no answer, or an answer cut short) into a [`ProviderError`].
///
/// Timeouts, connection failures and bodies cut short are transient; a request that could not
/// be built, or a redirect, is permanent. The message names the service and request and ends
/// with the cause chain.
pub fn transport_error(service: &str, request: &str, err: TransportError) -> ProviderError {
    let cause = error_chain(&err);
    let message = if err.is_timeout() {
        format!("{service} did not answer {request} in time: {cause}")
    } else if err.is_connect() {
        format!("cannot connect to {service} for {request}: {cause}")
    } else {
        format!("{service} request {request} failed: {cause}")
    };
    let permanent = err.is_builder();
    if permanent {
        ProviderError::permanent(message).with_source(err)
    } else {
        ProviderError::transient(message).with_source(err)
    }
}

/// Reads `Retry-After`, either a number of seconds or an HTTP date, clamped to
/// [`MAX_RETRY_AFTER`]. A date in the past means no wait.
///
/// ```
/// use posture_http::header::{HeaderMap, HeaderValue, RETRY_AFTER};
/// let mut headers = HeaderMap::new();
/// headers.insert(RETRY_AFTER, HeaderValue::from_static(" 3 "));
/// assert_eq!(posture_http::retry_after(&headers), Some(std::time::Duration::from_secs(3)));
/// headers.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
/// assert_eq!(posture_http::retry_after(&headers), Some(std::time::Duration::ZERO));
/// ```
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let delay = match text.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let when = httpdate::parse_http_date(text).ok()?;
            when.duration_since(std::time::SystemTime::now())
                .unwrap_or(Duration::ZERO)
        }
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// Parses a JSON body; a body that doesn't parse into `T` is a permanent error that names
/// the request (never a panic).
///
/// ```
/// #[derive(Debug, serde::Deserialize)]
/// struct Department { name: String }
/// let ok: Department = posture_http::decode_json("Jamf Pro", "GET /d/1", br#"{"name":"Sales"}"#)?;
/// assert_eq!(ok.name, "Sales");
/// let err = posture_http::decode_json::<Department>("Jamf Pro", "GET /d/1", b"<html>").unwrap_err();
/// assert!(!err.is_transient());
/// # Ok::<(), posture_core::ProviderError>(())
/// ```
pub fn decode_json<T: DeserializeOwned>(
    service: &str,
    request: &str,
    body: &[u8],
) -> Result<T, ProviderError> {
    serde_json::from_slice(body).map_err(|err| {
        let what = if looks_like_html(body) {
            "an HTML page".to_owned()
        } else {
            format!("a body that is not the expected JSON ({err})")
        };
        ProviderError::permanent(format!("{service} answered {request} with {what}"))
    })
}

/// Whether a body starts like an HTML page (after whitespace).
pub fn looks_like_html(body: &[u8]) -> bool {
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    let head = &body[start..body.len().min(start + 16)];
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    head.starts_with("<!doctype html") || head.starts_with("<html") || head.starts_with("<head")
}

/// Reads a response body, refusing bodies over `limit` bytes (a permanent error), and
/// turning a connection that drops mid-body into a transient error.
pub async fn read_body(
    service: &str,
    request: &str,
    response: HttpResponse,
    limit: usize,
) -> Result<Bytes, ProviderError> {
    response.bytes_within(limit).await.map_err(|err| match err {
        BodyError::TooLarge { limit } => too_large(service, request, limit),
        BodyError::Transport(err) => transport_error(service, request, err),
        BodyError::Json(err) => ProviderError::permanent(format!(
            "{service} answered {request} with a body that is not the expected JSON ({err})"
        )),
    })
}

fn too_large(service: &str, request: &str, limit: usize) -> ProviderError {
    ProviderError::permanent(format!(
        "{service} answered {request} with more than {limit} bytes"
    ))
}

#[cfg(test)]
mod tests {
    use http::header::HeaderValue;

    use super::*;

    #[test]
    fn classifies_statuses() {
        let none = HeaderMap::new();
        for code in [500, 502, 503, 504, 429, 408] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(
                status_error("S", "GET /a", status, &none).is_transient(),
                "{code}"
            );
        }
        for code in [400, 401, 403, 404, 405, 410, 418, 301, 302] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(
                !status_error("S", "GET /a", status, &none).is_transient(),
                "{code}"
            );
        }
        let err = status_error("Jamf Pro", "GET /a", StatusCode::BAD_GATEWAY, &none);
        assert_eq!(
            err.to_string(),
            "Jamf Pro answered 502 Bad Gateway to GET /a"
        );
    }

    #[test]
    fn redirects_name_where_they_point_and_are_permanent() {
        let mut headers = HeaderMap::new();
        headers.insert(
            LOCATION,
            HeaderValue::from_static("https://acme.api.iru.com:443/api/v1/devices?limit=1"),
        );
        for status in [301, 302, 307, 308] {
            let status = StatusCode::from_u16(status).unwrap();
            let err = status_error("Kandji", "GET /api/v1/devices", status, &headers);
            assert!(!err.is_transient(), "{status}");
            assert!(
                err.message().contains(
                    "redirecting to https://acme.api.iru.com; redirects are not followed"
                ),
                "{err}"
            );
            assert!(
                err.message().ends_with(
                    "if https://acme.api.iru.com is Kandji's new address, configure it instead"
                ),
                "{err}"
            );
        }
        headers.insert(LOCATION, HeaderValue::from_static("/login?next=%2Fapi"));
        let err = status_error("Jamf Pro", "GET /a", StatusCode::FOUND, &headers);
        assert_eq!(
            err.message(),
            "Jamf Pro answered 302 Found to GET /a, redirecting to another path on the same \
             host; redirects are not followed: check the path of the configured URL"
        );
        let err = status_error("S", "GET /a", StatusCode::FOUND, &HeaderMap::new());
        assert_eq!(err.message(), "S answered 302 Found to GET /a");
    }

    #[test]
    fn redirect_targets_resolve_against_the_request_and_stay_on_http() {
        let asked = Url::parse("https://acme.api.kandji.io/api/v1/devices").unwrap();
        let mut headers = HeaderMap::new();
        assert_eq!(redirect_target(&asked, &headers), None);
        headers.insert(
            LOCATION,
            HeaderValue::from_static("http://127.0.0.1:8080/x"),
        );
        let target = redirect_target(&asked, &headers).unwrap();
        assert_eq!(origin(&target).unwrap(), "http://127.0.0.1:8080");
        headers.insert(LOCATION, HeaderValue::from_static("devices/"));
        let target = redirect_target(&asked, &headers).unwrap();
        assert_eq!(
            target.as_str(),
            "https://acme.api.kandji.io/api/v1/devices/"
        );
        headers.insert(LOCATION, HeaderValue::from_static("javascript:alert(1)"));
        assert_eq!(redirect_target(&asked, &headers), None);
        let opaque = Url::parse("data:text/plain,x").unwrap();
        assert_eq!(origin(&opaque), None);
    }

    #[test]
    fn retry_after_only_on_transient_errors() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("5"));
        let err = status_error("S", "GET /a", StatusCode::SERVICE_UNAVAILABLE, &headers);
        assert_eq!(err.retry_after(), Some(Duration::from_secs(5)));
        let err = status_error("S", "GET /a", StatusCode::BAD_REQUEST, &headers);
        assert_eq!(err.retry_after(), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("99999999"));
        assert_eq!(retry_after(&headers), Some(MAX_RETRY_AFTER));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(
            retry_after(&headers),
            Some(Duration::ZERO),
            "a past date: no wait"
        );
        let in_a_minute =
            httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(60));
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&in_a_minute).unwrap());
        let delay = retry_after(&headers).unwrap();
        assert!(
            delay > Duration::from_secs(55) && delay <= Duration::from_secs(60),
            "{delay:?}"
        );
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn decode_errors_name_html() {
        let err =
            decode_json::<serde_json::Value>("S", "GET /a", b"\n <!DOCTYPE html><p>x").unwrap_err();
        assert_eq!(err.to_string(), "S answered GET /a with an HTML page");
        let err = decode_json::<Vec<u8>>("S", "GET /a", b"{\"a\":1}").unwrap_err();
        assert!(err.to_string().contains("not the expected JSON"), "{err}");
    }
}
