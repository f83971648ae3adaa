//! Signing requests the way step-ca does, for tests, simulators and other tools.

use std::fmt;

use http::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use ring::hmac;

use crate::gojson::to_go_json;
use crate::secret::{Authorization, WebhookSecret};
use crate::types::RequestBody;
use crate::verify::{ConfigError, SIGNATURE, WEBHOOK_ID, validate_id};

/// Produces the body bytes and headers step-ca would send for one webhook.
///
/// The signature is `hex(HMAC-SHA256(secret, body))` in lower case, as step-ca ≥ v0.25.0
/// computes it. `Debug` shows the webhook ID only.
///
/// ```
/// use smallstep_webhook::{Authorization, Signer, WebhookSecret, SIGNATURE_HEADER};
/// let secret = WebhookSecret::from_base64(
///     "MGdRmSlKVbaI+FXGAX30N8l0wK5vPyYvc75wW9+zx2bxnCrGclN2/+b3tdOEEZM1sGIv6f8L4OQc1N4NBvqDEQ==",
/// )?;
/// let signer = Signer::new("d09736a5-780b-476e-abdb-e2e4c0439cf9", secret)?
///     .with_authorization(Authorization::bearer("t0ken")?);
/// let body = include_bytes!("../tests/data/01-device-attest-enriching.json");
/// assert_eq!(
///     signer.sign(body),
///     "5f5382c18582d0610cbd2a67d64115b32e0ec610359db1a23f6c02b00cf0e7ff"
/// );
/// let headers = signer.headers(body);
/// assert_eq!(headers[SIGNATURE_HEADER], signer.sign(body).as_str());
/// assert_eq!(headers["authorization"], "Bearer t0ken");
/// assert!(headers.get("content-type").is_none()); // step-ca sends none
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
#[derive(Clone)]
pub struct Signer {
    id: String,
    webhook_id: HeaderValue,
    key: hmac::Key,
    authorization: Option<Authorization>,
}

impl Signer {
    /// A signer for webhook `webhook_id` with its secret.
    ///
    /// # Errors
    ///
    /// [`ConfigError::EmptyId`] or [`ConfigError::InvalidId`] if the ID is empty or can't be
    /// sent in a header.
    pub fn new(webhook_id: impl Into<String>, secret: WebhookSecret) -> Result<Self, ConfigError> {
        let webhook_id = webhook_id.into();
        validate_id(&webhook_id)?;
        let webhook_id_text = webhook_id;
        let webhook_id = HeaderValue::try_from(webhook_id_text.as_str()).map_err(|_| {
            ConfigError::InvalidId {
                id: webhook_id_text.clone(),
            }
        })?;
        Ok(Self {
            id: webhook_id_text,
            webhook_id,
            key: secret.hmac_key(),
            authorization: None,
        })
    }

    /// Also sends `authorization` in the `Authorization` header, as step-ca does when a
    /// bearer token or basic credentials are configured.
    #[must_use]
    pub fn with_authorization(mut self, authorization: Authorization) -> Self {
        self.authorization = Some(authorization);
        self
    }

    /// The webhook ID.
    pub fn webhook_id(&self) -> &str {
        &self.id
    }

    /// The `X-Smallstep-Signature` value for `body`: lowercase hex HMAC-SHA256.
    pub fn sign(&self, body: &[u8]) -> String {
        let tag = hmac::sign(&self.key, body);
        let mut out = String::with_capacity(64);
        for byte in tag.as_ref() {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        out
    }

    /// The headers step-ca sends with `body`: `X-Smallstep-Signature`,
    /// `X-Smallstep-Webhook-ID` and, if configured, `Authorization`. Like step-ca, no
    /// `Content-Type`.
    pub fn headers(&self, body: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::with_capacity(3);
        let signature = HeaderValue::try_from(self.sign(body))
            .expect("lowercase hex digits are valid header value bytes");
        headers.insert(SIGNATURE, signature);
        headers.insert(WEBHOOK_ID, self.webhook_id.clone());
        if let Some(authorization) = &self.authorization {
            headers.insert(AUTHORIZATION, authorization.header_value().clone());
        }
        headers
    }

    /// Serializes `body` exactly as step-ca's Go code would and signs it.
    ///
    /// ```
    /// use smallstep_webhook::{RequestBody, Signer, WebhookSecret};
    /// use time::macros::datetime;
    /// let signer = Signer::new("eeff6319-8883-419b-8d9b-0fe227dbe6b4", WebhookSecret::generate()?)?;
    /// let body = RequestBody::device_attest_authorizing("C02XL0GJJG5J", datetime!(2025-06-02 14:21:07 UTC));
    /// let request = signer.sign_body(&body);
    /// assert!(request.body.starts_with(br#"{"timestamp":"2025-06-02T14:21:07Z","attestationData""#));
    /// assert_eq!(request.headers["x-smallstep-signature"], signer.sign(&request.body).as_str());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sign_body(&self, body: &RequestBody) -> SignedRequest {
        let body = to_go_json(body);
        let headers = self.headers(&body);
        SignedRequest { body, headers }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("webhook_id", &self.id)
            .field("authorization", &self.authorization)
            .finish_non_exhaustive()
    }
}

/// A body and the headers to send with it, from [`Signer::sign_body`].
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct SignedRequest {
    /// The exact body bytes.
    pub body: Vec<u8>,
    /// `X-Smallstep-Signature`, `X-Smallstep-Webhook-ID` and, if configured, `Authorization`.
    pub headers: HeaderMap,
}

impl SignedRequest {
    /// A request from its body bytes and headers, for instance a recorded one to replay,
    /// or one whose headers a test alters.
    ///
    /// ```
    /// use smallstep_webhook::{SignedRequest, Signer, WebhookSecret};
    /// let signer = Signer::new("d09736a5-780b-476e-abdb-e2e4c0439cf9", WebhookSecret::generate()?)?;
    /// let body = br#"{"timestamp":"2025-06-02T14:21:07Z"}"#.to_vec();
    /// let request = SignedRequest::new(body.clone(), signer.headers(&body));
    /// assert_eq!(request.body, body);
    /// assert_eq!(request.headers["x-smallstep-signature"], signer.sign(&body).as_str());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(body: Vec<u8>, headers: HeaderMap) -> Self {
        Self { body, headers }
    }
}
