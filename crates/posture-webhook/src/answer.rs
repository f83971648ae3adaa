//! What a decision comes to: the HTTP answer and the audit record.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{Response, StatusCode};
use posture_core::{DenyCode, DeviceMode};
use smallstep_webhook::{ResponseBody, VerifyError, WebhookHeaders};

/// Longest `X-Request-Id` kept for the audit record; step-ca's are UUIDs, anything
/// longer is someone else's.
const MAX_REQUEST_ID_LEN: usize = 128;

/// Longest claimed webhook ID kept for the audit record.
const MAX_WEBHOOK_ID_LEN: usize = 64;

/// How a request was decided, as a metric label or log field spells it.
///
/// ```
/// use posture_webhook::Outcome;
/// assert_eq!(Outcome::Unauthorized.as_str(), "unauthorized");
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq)]
pub enum Outcome {
    /// The certificate is allowed (HTTP 200).
    Allow,
    /// The certificate is denied (HTTP 200 with a reason).
    Deny,
    /// The request failed authentication (HTTP 401).
    Unauthorized,
    /// No decision: body too large or unreadable, provider unavailable or too slow.
    #[default]
    Error,
}

impl Outcome {
    /// `allow`, `deny`, `unauthorized` or `error`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::Unauthorized => "unauthorized",
            Self::Error => "error",
        }
    }
}

/// Everything worth logging about one decision: who asked, about what, and what came of
/// it. Plain data: write it as a log line, count it, or store it.
///
/// Values from the request (`request_id`, `webhook_id`, `identifier`, `provisioner`) come
/// from the client: escape them when logging (`{:?}`).
#[non_exhaustive]
#[derive(Clone, Debug, Default)]
pub struct AuditRecord {
    /// `X-Request-Id`, at most 128 characters; empty without one.
    pub request_id: String,
    /// The webhook ID the request *claimed*, at most 64 characters; authenticated only if
    /// `outcome` is not [`Outcome::Unauthorized`].
    pub webhook_id: String,
    /// The attested identifier, once the body was verified.
    pub identifier: Option<String>,
    /// The provisioner's name, if step-ca sent one.
    pub provisioner: Option<String>,
    /// Which inventory the URL's `mode` chose.
    pub mode: DeviceMode,
    /// How the request was decided.
    pub outcome: Outcome,
    /// The deny code, for a deny.
    pub code: Option<DenyCode>,
    /// Why, for the log: a deny's message, a provider's error, a failed check. Never sent
    /// to the caller unless it is a deny's message.
    pub reason: String,
    /// The provider's name, empty before a provider was chosen.
    pub provider: Arc<str>,
    /// How long the decision took.
    pub duration: Duration,
}

impl AuditRecord {
    /// A record of a request with `headers`: its request ID and claimed webhook ID.
    ///
    /// ```
    /// use posture_webhook::AuditRecord;
    /// use posture_webhook::smallstep_webhook::WebhookHeaders;
    /// let headers = WebhookHeaders::new(Some(&b"d09736a5"[..]), None, None)
    ///     .with_request_id(Some(&b"req-1"[..]));
    /// let record = AuditRecord::new(&headers);
    /// assert_eq!((record.webhook_id.as_str(), record.request_id.as_str()), ("d09736a5", "req-1"));
    /// ```
    pub fn new(headers: &WebhookHeaders<'_>) -> Self {
        Self {
            request_id: request_id(headers),
            webhook_id: claimed_webhook_id(headers),
            ..Self::default()
        }
    }
}

/// The webhook ID a request claims, for logs and labels: the first
/// `X-Smallstep-Webhook-ID` value if it is visible ASCII, at most 64 characters; empty
/// otherwise. Not authenticated.
///
/// ```
/// use posture_webhook::claimed_webhook_id;
/// use posture_webhook::smallstep_webhook::WebhookHeaders;
/// let headers = WebhookHeaders::new(Some(&b"d09736a5"[..]), None, None);
/// assert_eq!(claimed_webhook_id(&headers), "d09736a5");
/// ```
pub fn claimed_webhook_id(headers: &WebhookHeaders<'_>) -> String {
    headers
        .webhook_id()
        .first()
        .filter(|v| v.iter().all(|&b| b == b'\t' || (32..127).contains(&b)))
        .and_then(|v| std::str::from_utf8(v).ok())
        .unwrap_or("")
        .chars()
        .take(MAX_WEBHOOK_ID_LEN)
        .collect()
}

/// A request's `X-Request-Id` for logs: the first value, invalid UTF-8 replaced, at most
/// 128 characters; empty without one.
///
/// ```
/// use posture_webhook::request_id;
/// use posture_webhook::smallstep_webhook::WebhookHeaders;
/// let headers = WebhookHeaders::default().with_request_id(Some(&b"7f0c"[..]));
/// assert_eq!(request_id(&headers), "7f0c");
/// ```
pub fn request_id(headers: &WebhookHeaders<'_>) -> String {
    headers
        .request_id()
        .first()
        .map(|v| {
            String::from_utf8_lossy(v)
                .chars()
                .take(MAX_REQUEST_ID_LEN)
                .collect()
        })
        .unwrap_or_default()
}

/// Whole seconds for `Retry-After`, rounded up and at least one.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(posture_webhook::retry_after_seconds(Duration::from_millis(1500)), 2);
/// assert_eq!(posture_webhook::retry_after_seconds(Duration::ZERO), 1);
/// ```
pub fn retry_after_seconds(retry_after: Duration) -> u64 {
    retry_after.as_secs_f64().ceil().max(1.0) as u64
}

/// The answer to one webhook request: status, JSON body, an optional `Retry-After`, and
/// the [`AuditRecord`].
///
/// Statuses follow smallstep-webhook's statement ("Status codes"): 200 for every
/// decision, deny included; 401 for a failed authentication; 413 for a body over the cap;
/// 503 `{"allow":false}` when the provider can't answer now or in time, so step-ca retries
/// once.
///
/// ```
/// use posture_webhook::{Answer, Outcome};
/// use posture_webhook::posture_core::DenyCode;
/// let answer = Answer::deny(DenyCode::DEVICE_NOT_FOUND, "C02XL0GJJG5J is not in the inventory");
/// assert_eq!(answer.status(), http::StatusCode::OK);
/// assert_eq!(answer.record().outcome, Outcome::Deny);
/// let response = answer.to_response();
/// assert_eq!(response.headers()["content-type"], "application/json");
/// assert_eq!(
///     &response.body()[..],
///     br#"{"allow":false,"error":{"code":"deviceNotFound","message":"C02XL0GJJG5J is not in the inventory"}}"#,
/// );
/// ```
#[non_exhaustive]
#[derive(Debug)]
pub struct Answer {
    status: StatusCode,
    body: Bytes,
    retry_after: Option<Duration>,
    record: AuditRecord,
    verify_error: Option<VerifyError>,
    timed_out: bool,
}

impl Answer {
    /// An answer with `status`, the JSON `body`, and a record of `outcome` for `reason`.
    pub fn new(
        status: StatusCode,
        body: Bytes,
        outcome: Outcome,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            status,
            body,
            retry_after: None,
            record: AuditRecord {
                outcome,
                reason: reason.into(),
                ..AuditRecord::default()
            },
            verify_error: None,
            timed_out: false,
        }
    }

    /// `200 {"allow":true}`, or with the provider's enrichment embedded verbatim (it is
    /// one JSON object by [`Enrichment`](posture_core::Enrichment)'s contract).
    pub fn allow(enrichment: Option<&posture_core::Enrichment>) -> Self {
        let body = match enrichment {
            None => Bytes::from_static(ResponseBody::ALLOW_JSON),
            Some(data) => Bytes::from(ResponseBody::allow_json_with_raw_data(Some(
                data.as_bytes(),
            ))),
        };
        Self::new(StatusCode::OK, body, Outcome::Allow, "")
    }

    /// `200` with a deny step-ca passes to the client: `code` and `message` (also the
    /// record's reason).
    pub fn deny(code: DenyCode, message: impl Into<String>) -> Self {
        let message = message.into();
        let body = Bytes::from(ResponseBody::deny(code.as_str(), &message).to_json());
        let mut answer = Self::new(StatusCode::OK, body, Outcome::Deny, message);
        answer.record.code = Some(code);
        answer
    }

    /// `status` with `{"allow":false}`: the caller learns nothing, the record keeps
    /// `reason`.
    pub fn refused(status: StatusCode, outcome: Outcome, reason: impl Into<String>) -> Self {
        Self::new(
            status,
            Bytes::from_static(ResponseBody::DENY_WITHOUT_REASON_JSON),
            outcome,
            reason,
        )
    }

    /// `401 {"allow":false}` for a failed authentication, keeping the error for
    /// [`Answer::verify_error`].
    pub fn unauthorized(err: VerifyError) -> Self {
        let mut answer = Self::refused(err.status(), Outcome::Unauthorized, err.to_string());
        answer.verify_error = Some(err);
        answer
    }

    /// `413 {"allow":false}` for a body over `max` bytes.
    ///
    /// ```
    /// let answer = posture_webhook::Answer::too_large(65536);
    /// assert_eq!(answer.status(), http::StatusCode::PAYLOAD_TOO_LARGE);
    /// assert_eq!(answer.record().reason, "request body over MAX_BODY_BYTES (65536 bytes)");
    /// ```
    pub fn too_large(max: usize) -> Self {
        Self::refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            Outcome::Error,
            format!("request body over MAX_BODY_BYTES ({max} bytes)"),
        )
    }

    /// `503 {"allow":false}`: no decision within `timeout`, so step-ca retries once.
    pub fn deadline(timeout: Duration) -> Self {
        let mut answer = Self::refused(
            StatusCode::SERVICE_UNAVAILABLE,
            Outcome::Error,
            format!("no decision within TIMEOUT ({} s)", timeout.as_secs()),
        );
        answer.timed_out = true;
        answer
    }

    /// The same answer with `Retry-After: <seconds>` (rounded up, at least 1).
    #[must_use]
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    /// The same answer with another body, such as `{"allow":false}` for a deny whose
    /// reason the client must not see.
    #[must_use]
    pub fn with_body(mut self, body: Bytes) -> Self {
        self.body = body;
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The JSON body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// How long the client should wait before retrying: for a transient provider error
    /// that said so, or as set with [`Answer::with_retry_after`].
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The audit record.
    pub fn record(&self) -> &AuditRecord {
        &self.record
    }

    /// The audit record, to add what the caller knows (a route, a client address is not
    /// part of it; a reason prefix is).
    pub fn record_mut(&mut self) -> &mut AuditRecord {
        &mut self.record
    }

    /// The authentication failure this answers, if it answers one (a `401`): a server
    /// can count it against the client, to throttle guessing.
    pub fn verify_error(&self) -> Option<&VerifyError> {
        self.verify_error.as_ref()
    }

    /// Whether the deadline passed before a decision ([`Answer::deadline`]).
    pub fn timed_out(&self) -> bool {
        self.timed_out
    }

    /// The HTTP response: status, `Content-Type: application/json`, `Retry-After` if set,
    /// and the body.
    pub fn to_response(&self) -> Response<Bytes> {
        let mut response = Response::new(self.body.clone());
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(retry_after) = self.retry_after {
            headers.insert(
                RETRY_AFTER,
                HeaderValue::from(retry_after_seconds(retry_after)),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use smallstep_webhook::HeaderField;

    use super::*;

    #[test]
    fn claimed_ids_and_request_ids_are_bounded_and_first_wins() {
        let long = "a".repeat(200);
        let headers = WebhookHeaders::new(HeaderField::Repeated(long.as_bytes()), None, None)
            .with_request_id(Some(long.as_bytes()));
        assert_eq!(claimed_webhook_id(&headers).len(), 64);
        assert_eq!(request_id(&headers).len(), 128);
        let not_text = WebhookHeaders::new(Some(&[0xc3, 0xa9][..]), None, None)
            .with_request_id(Some(&[0xff][..]));
        assert_eq!(claimed_webhook_id(&not_text), "");
        assert_eq!(request_id(&not_text), "\u{fffd}");
    }

    #[test]
    fn responses_carry_retry_after_and_json() {
        let answer = Answer::refused(StatusCode::SERVICE_UNAVAILABLE, Outcome::Error, "down")
            .with_retry_after(Duration::from_millis(2500));
        let response = answer.to_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], "3");
        assert_eq!(&response.body()[..], b"{\"allow\":false}");
    }
}
