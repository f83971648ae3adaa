//! The response body a webhook server returns to step-ca.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::gojson::{null_default, to_go_json};

/// What a webhook answers (Go `webhook.ResponseBody`), always with HTTP status 200.
///
/// Serialized as `{"allow":…,"data":…,"error":{…}}`, with `data` and `error` omitted when
/// `None`. step-ca reads `data` only from ENRICHING (and SCEPCHALLENGE) webhooks that allow,
/// exposing it to templates as `.Webhooks.<name>`; it reads `error` only on a deny, and
/// shows it to ACME clients since v0.28.1.
///
/// ```
/// use smallstep_webhook::ResponseBody;
/// assert_eq!(ResponseBody::allow().to_json(), br#"{"allow":true}"#);
///
/// let data = serde_json::json!({"note": "<ok>", "user": "alice"});
/// assert_eq!(
///     ResponseBody::allow_with_value(&data).to_json(),
///     br#"{"allow":true,"data":{"note":"\u003cok\u003e","user":"alice"}}"#,
/// );
///
/// let deny = ResponseBody::deny("deviceNotEnrolled", "Device not enrolled");
/// assert_eq!(
///     deny.to_json(),
///     br#"{"allow":false,"error":{"code":"deviceNotEnrolled","message":"Device not enrolled"}}"#,
/// );
///
/// let parsed: ResponseBody = serde_json::from_slice(br#"{"data":null,"allow":false}"#)?;
/// assert!(!parsed.allow && parsed.data.is_none() && parsed.error.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ResponseBody {
    /// Whether step-ca may go on (`allow`; missing or `null` reads as `false`).
    #[serde(default, deserialize_with = "null_default")]
    pub allow: bool,
    /// Data for certificate templates (`data`), as raw JSON. On an enriching allow, send
    /// an object rather than `null`: a template that reads from `null` fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Box<RawValue>>,
    /// Why the request was denied (`error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ResponseError>,
}

impl ResponseBody {
    /// The bytes of [`ResponseBody::allow`], `{"allow":true}`, ready to send.
    pub const ALLOW_JSON: &'static [u8] = b"{\"allow\":true}";

    /// The bytes of [`ResponseBody::deny_without_reason`], `{"allow":false}`, ready to send.
    pub const DENY_WITHOUT_REASON_JSON: &'static [u8] = b"{\"allow\":false}";

    /// `{"allow":false}`: a refusal that tells the caller nothing.
    ///
    /// The body of every non-200 answer a webhook gives (401 for a failed authentication,
    /// 413 for a body over the cap, 503 when no decision could be made in time), and of a
    /// deny whose reason must stay in the log (step-ca shows SCEP clients no reason).
    ///
    /// ```
    /// use smallstep_webhook::ResponseBody;
    /// let refused = ResponseBody::deny_without_reason();
    /// assert!(!refused.is_allowed() && refused.error.is_none());
    /// assert_eq!(refused.to_json(), ResponseBody::DENY_WITHOUT_REASON_JSON);
    /// ```
    pub fn deny_without_reason() -> Self {
        Self::default()
    }

    /// The bytes of `{"allow":true,"data":<data>}` with `data` embedded verbatim, without
    /// parsing or re-serialising it: for data serialized once and sent many times (an
    /// inventory's enrichment). `None` gives `{"allow":true}`.
    ///
    /// The caller guarantees `data` is one JSON value, best an object (step-ca templates
    /// read it as `.Webhooks.<name>`); nothing here checks it. For data not yet
    /// serialized, use [`ResponseBody::allow_with_value`].
    ///
    /// ```
    /// use smallstep_webhook::ResponseBody;
    /// assert_eq!(
    ///     ResponseBody::allow_json_with_raw_data(Some(br#"{"user":"alice"}"#)),
    ///     br#"{"allow":true,"data":{"user":"alice"}}"#,
    /// );
    /// assert_eq!(ResponseBody::allow_json_with_raw_data(None), ResponseBody::ALLOW_JSON);
    /// ```
    pub fn allow_json_with_raw_data(data: Option<&[u8]>) -> Vec<u8> {
        const HEAD: &[u8] = b"{\"allow\":true,\"data\":";
        let Some(data) = data else {
            return Self::ALLOW_JSON.to_vec();
        };
        let mut body = Vec::with_capacity(HEAD.len() + data.len() + 1);
        body.extend_from_slice(HEAD);
        body.extend_from_slice(data);
        body.push(b'}');
        body
    }

    /// `{"allow":true}`.
    pub fn allow() -> Self {
        Self {
            allow: true,
            data: None,
            error: None,
        }
    }

    /// `{"allow":true,"data":<data>}`.
    pub fn allow_with_data(data: Box<RawValue>) -> Self {
        Self {
            allow: true,
            data: Some(data),
            error: None,
        }
    }

    /// `{"allow":true,"data":<value>}`, keys in the order the value holds them.
    pub fn allow_with_value(value: &serde_json::Value) -> Self {
        let data = serde_json::value::to_raw_value(value)
            .expect("a serde_json::Value always serializes: its map keys are strings");
        Self::allow_with_data(data)
    }

    /// `{"allow":false,"error":{"code":<code>,"message":<message>}}`.
    ///
    /// step-ca pastes `code` into a URN (`urn:smallstep:acme:error:<code>`), so keep it to
    /// ASCII letters, digits and `-`. ACME clients see `message`: put no secrets in it.
    pub fn deny(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            allow: false,
            data: None,
            error: Some(ResponseError::new(code, message)),
        }
    }

    /// Whether this response allows the request.
    pub fn is_allowed(&self) -> bool {
        self.allow
    }

    /// The JSON bytes to send, escaped as Go would write them.
    pub fn to_json(&self) -> Vec<u8> {
        to_go_json(self)
    }
}

/// Why a webhook denied a request (Go `webhook.Error`).
#[non_exhaustive]
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ResponseError {
    /// A stable machine-readable code, e.g. `deviceNotEnrolled` (`code`).
    #[serde(default, deserialize_with = "null_default")]
    pub code: String,
    /// A human-readable message shown to the client (`message`).
    #[serde(default, deserialize_with = "null_default")]
    pub message: String,
}

impl ResponseError {
    /// An error with `code` and `message`.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}
