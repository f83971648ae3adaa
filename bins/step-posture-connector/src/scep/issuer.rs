//! The routes that hand out signed challenges to MDMs, with their own Basic credentials
//! (`SCEP_ISSUER_BASIC_AUTH`), never the webhook secrets:
//!
//! - `POST /scep/challenge/jamf`: Jamf Pro's `SCEPChallenge` webhook event (Fleet sends the
//!   same shape for its Smallstep CA type); the answer is the challenge, `text/plain`, with no
//!   trailing newline, since Fleet takes the whole body;
//! - `GET /certsrv/mscep_admin/`: the NDES admin page that Jamf's "Dynamic-Microsoft CA" and
//!   Fleet's NDES integration scrape with
//!   `(?i)The enrollment challenge password is: <B> (?P<password>\S*)`.
//!
//! Every answer carries `Cache-Control: no-store`. An unauthenticated request gets 401 with a
//! `WWW-Authenticate: Basic` challenge, which Fleet's NTLM negotiator needs to see before it
//! sends Basic credentials.

use base64::Engine as _;
use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::Full;
use serde::Deserialize;

use super::ScepGate;

/// The Jamf route.
pub(crate) const JAMF_PATH: &str = "/scep/challenge/jamf";
/// The NDES admin page route.
pub(crate) const NDES_PATH: &str = "/certsrv/mscep_admin/";
/// The largest Jamf event accepted.
pub(crate) const MAX_EVENT_BYTES: usize = 64 * 1024;

/// What an issuing request came to, for the audit line.
#[derive(Debug)]
#[non_exhaustive]
pub(crate) struct Issued {
    /// The answer.
    pub(crate) response: Response<Full<Bytes>>,
    /// `issued`, `unauthorized` or `refused`.
    pub(crate) outcome: &'static str,
    /// Why, when refused.
    pub(crate) reason: String,
}

#[derive(Deserialize)]
struct JamfEvent {
    webhook: JamfWebhook,
    event: ScepEvent,
}

#[derive(Deserialize)]
struct JamfWebhook {
    #[serde(rename = "webhookEvent")]
    webhook_event: String,
}

#[derive(Deserialize)]
struct ScepEvent {
    #[serde(rename = "payloadTypes", default)]
    payload_types: Vec<String>,
}

/// Answers `POST /scep/challenge/jamf` with `body`.
pub(crate) fn jamf(gate: &ScepGate, headers: &HeaderMap, body: &[u8]) -> Issued {
    if let Some(refused) = authenticate(gate, headers) {
        return refused;
    }
    if body.len() > MAX_EVENT_BYTES {
        return refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("event over {MAX_EVENT_BYTES} bytes"),
        );
    }
    let event: JamfEvent = match serde_json::from_slice(body) {
        Ok(event) => event,
        Err(err) => {
            return refused(
                StatusCode::BAD_REQUEST,
                format!("not a Jamf SCEPChallenge event: {err}"),
            );
        }
    };
    if event.webhook.webhook_event != "SCEPChallenge" {
        return refused(
            StatusCode::BAD_REQUEST,
            format!(
                "webhookEvent is {:?}, not SCEPChallenge",
                event
                    .webhook
                    .webhook_event
                    .chars()
                    .take(40)
                    .collect::<String>()
            ),
        );
    }
    if event.event.payload_types.as_slice() != ["com.apple.security.scep"] {
        return refused(
            StatusCode::BAD_REQUEST,
            "payloadTypes must be exactly [\"com.apple.security.scep\"]".to_owned(),
        );
    }
    // The event names no trustworthy device, so the challenge is not bound to one: the
    // device is read from the CSR and checked against the inventory when it is used.
    match issue(gate) {
        Ok(challenge) => Issued {
            response: respond(
                StatusCode::OK,
                "text/plain; charset=utf-8",
                Bytes::from(challenge),
            ),
            outcome: "issued",
            reason: String::new(),
        },
        Err(reason) => refused(StatusCode::INTERNAL_SERVER_ERROR, reason),
    }
}

/// Answers a `POST /scep/challenge/jamf` whose body could not be read whole (over
/// [`MAX_EVENT_BYTES`], or cut off).
pub(crate) fn unreadable(gate: &ScepGate, headers: &HeaderMap) -> Issued {
    authenticate(gate, headers).unwrap_or_else(|| {
        refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("event over {MAX_EVENT_BYTES} bytes, or not read whole"),
        )
    })
}

/// Answers `GET /certsrv/mscep_admin/`.
pub(crate) fn ndes(gate: &ScepGate, headers: &HeaderMap) -> Issued {
    if let Some(refused) = authenticate(gate, headers) {
        return refused;
    }
    match issue(gate) {
        Ok(challenge) => {
            let ttl = gate.signed().map_or(0, |s| s.ttl().as_secs() / 60);
            // The space before </B> keeps markup out of what the scraper's \S* captures.
            let page = format!(
                "<html><head><title>Network Device Enrollment Service</title></head><body>\
                 <P> The enrollment challenge password is: <B> {challenge} </B>\
                 <P> This password can be used for one device's certificate request and will \
                 expire within {ttl} minutes.</body></html>"
            );
            Issued {
                response: respond(
                    StatusCode::OK,
                    "text/html; charset=utf-8",
                    Bytes::from(page),
                ),
                outcome: "issued",
                reason: String::new(),
            }
        }
        Err(reason) => refused(StatusCode::INTERNAL_SERVER_ERROR, reason),
    }
}

fn issue(gate: &ScepGate) -> Result<String, String> {
    gate.signed()
        .ok_or_else(|| "SCEP_CHALLENGE does not list signed".to_owned())?
        .issue(None)
        .map_err(|err| err.to_string())
}

/// `None` when the request carries the issuer credentials; the 401 otherwise.
fn authenticate(gate: &ScepGate, headers: &HeaderMap) -> Option<Issued> {
    let presented = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        });
    match gate.issuer_accepts(presented.as_deref()) {
        None => {
            return Some(Issued {
                response: respond(
                    StatusCode::NOT_FOUND,
                    "application/json",
                    Bytes::from_static(b"{\"error\":\"not found\"}"),
                ),
                outcome: "refused",
                reason: "SCEP_ISSUER_BASIC_AUTH is not set, so challenges are not issued over \
                         HTTP"
                    .to_owned(),
            });
        }
        Some(true) => return None,
        Some(false) => {}
    }
    let mut response = respond(
        StatusCode::UNAUTHORIZED,
        "application/json",
        Bytes::from_static(b"{\"error\":\"unauthorized\"}"),
    );
    response.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"scep-challenge\""),
    );
    Some(Issued {
        response,
        outcome: "unauthorized",
        reason: "missing or wrong SCEP_ISSUER_BASIC_AUTH credentials".to_owned(),
    })
}

fn refused(status: StatusCode, reason: String) -> Issued {
    Issued {
        response: respond(
            status,
            "application/json",
            Bytes::from_static(b"{\"error\":\"refused\"}"),
        ),
        outcome: "refused",
        reason,
    }
}

fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
