//! Authenticating step-ca webhook requests.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::StatusCode;
use http::header::{HeaderMap, HeaderName};
use ring::hmac;

use crate::headers::WebhookHeaders;
use crate::response::ResponseBody;

use crate::secret::{Authorization, Scheme, SecretError, WebhookSecret};
use crate::types::RequestBody;

/// The header carrying the webhook's ID (step-ca writes `X-Smallstep-Webhook-ID`, which Go
/// sends as `X-Smallstep-Webhook-Id`). Header names are case-insensitive; this constant is
/// lower case so it can be used with [`HeaderName::from_static`].
pub const WEBHOOK_ID_HEADER: &str = "x-smallstep-webhook-id";

/// The header carrying the lowercase hex HMAC-SHA256 of the raw body (`X-Smallstep-Signature`).
pub const SIGNATURE_HEADER: &str = "x-smallstep-signature";

/// The header carrying the ID of the CA request that triggered the webhook (`X-Request-Id`,
/// since step-ca v0.26.0). Its value comes from the CA's client: escape it before logging.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

pub(crate) const WEBHOOK_ID: HeaderName = HeaderName::from_static(WEBHOOK_ID_HEADER);
pub(crate) const SIGNATURE: HeaderName = HeaderName::from_static(SIGNATURE_HEADER);

/// The length of a hex HMAC-SHA256.
const SIGNATURE_HEX_LEN: usize = 64;

/// Key under which expected and presented `Authorization` credentials are MACed, so they
/// are compared as fixed-length tags in constant time. It need not be secret.
const AUTHORIZATION_COMPARE_KEY: &[u8] = b"smallstep-webhook authorization compare";

/// The key a request for an unknown webhook ID is checked with, so that it costs the same
/// MAC work as a request for a known one and answer times do not tell which IDs exist. Such a
/// request is refused whatever its signature; the key need not be secret. 64 bytes, the
/// length of the secrets step-ca generates, so the key schedule costs the same too.
const UNKNOWN_ID_KEY: &[u8] = &[0x5a; 64];

/// Default for [`VerifierBuilder::max_age`] and [`VerifierBuilder::max_future`].
pub const DEFAULT_TIMESTAMP_TOLERANCE: Duration = Duration::from_secs(60);

/// Verifies step-ca webhook requests: headers, optional `Authorization`, the HMAC over the
/// raw body, then the body and its timestamp.
///
/// It works on an [`http::HeaderMap`] and the raw body bytes, so any HTTP framework can
/// use it. Build it with [`Verifier::builder`]. `Debug` lists webhook IDs but no key
/// material.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use smallstep_webhook::{Verifier, WebhookSecret, Signer, RequestBody};
///
/// let secret = WebhookSecret::generate()?;
/// let verifier = Verifier::builder()
///     .webhook("d09736a5-780b-476e-abdb-e2e4c0439cf9", &secret.to_base64())
///     .max_age(Duration::from_secs(30))
///     .build()?;
///
/// // What step-ca would send:
/// let signer = Signer::new("d09736a5-780b-476e-abdb-e2e4c0439cf9", secret)?;
/// let body = RequestBody::device_attest_authorizing("C02XL0GJJG5J", SystemTime::now().into());
/// let request = signer.sign_body(&body);
///
/// let verified = verifier.verify(&request.headers, &request.body)?;
/// assert_eq!(verified.webhook_id(), "d09736a5-780b-476e-abdb-e2e4c0439cf9");
/// assert_eq!(verified.body().permanent_identifier(), Some("C02XL0GJJG5J"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
#[derive(Clone)]
pub struct Verifier {
    webhooks: HashMap<String, Webhook>,
    /// [`UNKNOWN_ID_KEY`], prepared once.
    unknown_id_key: hmac::Key,
    max_age: Duration,
    max_future: Duration,
}

#[derive(Clone)]
struct Webhook {
    key: hmac::Key,
    authorization: Option<ExpectedAuthorization>,
}

#[derive(Clone)]
struct ExpectedAuthorization {
    scheme: Scheme,
    /// HMAC of the expected credentials under [`AUTHORIZATION_COMPARE_KEY`].
    tag: hmac::Tag,
}

impl Verifier {
    /// Starts building a verifier.
    pub fn builder() -> VerifierBuilder {
        VerifierBuilder::default()
    }

    /// Verifies a request against the system clock. See [`Verifier::verify_at`].
    ///
    /// # Errors
    ///
    /// See [`Verifier::verify_at`].
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<VerifiedRequest, VerifyError> {
        self.verify_at(headers, body, SystemTime::now())
    }

    /// Verifies a request as if the time were `now`, then parses its body.
    ///
    /// The checks run in this order, and the first failure is returned:
    /// 1. exactly one `X-Smallstep-Webhook-ID` and exactly one `X-Smallstep-Signature`
    ///    header;
    /// 2. the signature is 64 hex characters (either case);
    /// 3. the webhook ID is configured;
    /// 4. if the webhook has [`Authorization`] configured, exactly one `Authorization`
    ///    header, matching it (compared in constant time);
    /// 5. the HMAC-SHA256 of `body` under the webhook's secret (constant time);
    /// 6. the body parses as a [`RequestBody`];
    /// 7. its `timestamp` is present, at most [`max_age`](VerifierBuilder::max_age) before
    ///    `now` and at most [`max_future`](VerifierBuilder::max_future) after it.
    ///
    /// Checks 3 to 5 all run before any of their failures is returned, and a request for an
    /// unknown webhook ID has its MAC computed under a fixed key (it is refused whatever the
    /// result), so answer times do not tell which webhook IDs are configured.
    ///
    /// # Errors
    ///
    /// A [`VerifyError`]. Every variant but [`VerifyError::MalformedBody`] means the
    /// request is not authentic or not fresh (answer 401); a malformed body was
    /// authenticated, so [`VerifyError::is_malformed_body`] lets the server answer with a
    /// deny instead.
    pub fn verify_at(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<VerifiedRequest, VerifyError> {
        self.verify_parts_at(WebhookHeaders::from_header_map(headers), body, now)
    }

    /// [`Verifier::verify`] for header values taken from any framework, without an `http`
    /// 1 [`HeaderMap`]: see [`WebhookHeaders`].
    ///
    /// ```
    /// use smallstep_webhook::{RequestBody, Signer, Verifier, WebhookHeaders, WebhookSecret};
    ///
    /// let secret = WebhookSecret::generate()?;
    /// let verifier = Verifier::builder()
    ///     .webhook("d09736a5-780b-476e-abdb-e2e4c0439cf9", &secret.to_base64())
    ///     .build()?;
    /// let signer = Signer::new("d09736a5-780b-476e-abdb-e2e4c0439cf9", secret)?;
    /// let body = RequestBody::device_attest_authorizing("C02XL0GJJG5J", std::time::SystemTime::now().into());
    /// let request = signer.sign_body(&body);
    /// let signature = signer.sign(&request.body);
    ///
    /// // The three values as a framework hands them over, each present exactly once.
    /// let headers = WebhookHeaders::new(
    ///     Some(&b"d09736a5-780b-476e-abdb-e2e4c0439cf9"[..]),
    ///     Some(signature.as_bytes()),
    ///     None,
    /// );
    /// let verified = verifier.verify_parts(headers, &request.body)?;
    /// assert_eq!(verified.body().permanent_identifier(), Some("C02XL0GJJG5J"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// See [`Verifier::verify_at`].
    pub fn verify_parts(
        &self,
        headers: WebhookHeaders<'_>,
        body: &[u8],
    ) -> Result<VerifiedRequest, VerifyError> {
        self.verify_parts_at(headers, body, SystemTime::now())
    }

    /// [`Verifier::verify_at`] for header values taken from any framework: see
    /// [`WebhookHeaders`]. The checks, their order and their errors are the same.
    ///
    /// # Errors
    ///
    /// See [`Verifier::verify_at`].
    pub fn verify_parts_at(
        &self,
        headers: WebhookHeaders<'_>,
        body: &[u8],
        now: SystemTime,
    ) -> Result<VerifiedRequest, VerifyError> {
        let (webhook_id, request) =
            self.verify_as(headers, body, now, |request: &RequestBody| {
                request.timestamp
            })?;
        Ok(VerifiedRequest {
            webhook_id,
            body: request,
        })
    }

    /// Runs checks 1 to 5 of [`Verifier::verify_at`] (headers, authorization, HMAC) without
    /// parsing the body, and returns the authenticated webhook ID.
    ///
    /// The body is not parsed and its timestamp is not checked, so an old request replays
    /// fine: use this only if you check freshness yourself.
    ///
    /// # Errors
    ///
    /// A [`VerifyError`] for the first failed check.
    pub fn authenticate(&self, headers: &HeaderMap, body: &[u8]) -> Result<String, VerifyError> {
        self.authenticate_parts(WebhookHeaders::from_header_map(headers), body)
    }

    /// [`Verifier::authenticate`] for header values taken from any framework: see
    /// [`WebhookHeaders`].
    ///
    /// # Errors
    ///
    /// A [`VerifyError`] for the first failed check.
    pub fn authenticate_parts(
        &self,
        headers: WebhookHeaders<'_>,
        body: &[u8],
    ) -> Result<String, VerifyError> {
        // 1. Exactly one of each header.
        let id_value = headers
            .webhook_id
            .single()
            .map_err(|()| VerifyError::DuplicateWebhookId)?
            .ok_or(VerifyError::MissingWebhookId)?;
        let signature_value = headers
            .signature
            .single()
            .map_err(|()| VerifyError::DuplicateSignature)?
            .ok_or(VerifyError::MissingSignature)?;

        // 2. A strict 64-character hex signature.
        let signature = parse_signature(signature_value)?;

        // 3. A known webhook. An unknown ID never falls back to some default key: it is
        // checked against a fixed key that authenticates nothing, only so that it costs the
        // same MAC work as a known ID and answer times do not tell which IDs exist.
        let id = visible_ascii(id_value);
        let webhook = id.and_then(|id| self.webhooks.get(id));
        let key = webhook.map_or(&self.unknown_id_key, |webhook| &webhook.key);

        // 4. The Authorization header, when this webhook has one configured.
        let authorization = match webhook.and_then(|webhook| webhook.authorization.as_ref()) {
            None => Ok(()),
            Some(expected) => match headers.authorization.single() {
                Err(()) => Err(VerifyError::DuplicateAuthorization),
                Ok(None) => Err(VerifyError::MissingAuthorization),
                Ok(Some(presented)) => check_authorization(expected, presented),
            },
        };

        // 5. The HMAC, in constant time, computed on every path that got this far.
        let mac_matches = body_mac_matches(key, body, &signature);

        // Failures are reported in the documented order.
        let (Some(id), Some(_)) = (id, webhook) else {
            return Err(VerifyError::UnknownWebhook);
        };
        authorization?;
        if !mac_matches {
            return Err(VerifyError::SignatureMismatch);
        }
        Ok(id.to_owned())
    }

    /// Checks 1 to 7 of [`Verifier::verify_at`], reading the body as a `T` whose
    /// `timestamp` says when step-ca built it.
    pub(crate) fn verify_as<T: serde::de::DeserializeOwned>(
        &self,
        headers: WebhookHeaders<'_>,
        body: &[u8],
        now: SystemTime,
        timestamp: impl FnOnce(&T) -> Option<time::OffsetDateTime>,
    ) -> Result<(String, T), VerifyError> {
        let webhook_id = self.authenticate_parts(headers, body)?;
        let parsed: T = parse_object(body)?;
        let timestamp = timestamp(&parsed).ok_or(VerifyError::MissingTimestamp)?;
        self.check_freshness(timestamp.unix_timestamp_nanos(), now)?;
        Ok((webhook_id, parsed))
    }

    /// Whether `webhook_id` is configured.
    pub fn has_webhook(&self, webhook_id: &str) -> bool {
        self.webhooks.contains_key(webhook_id)
    }

    /// The configured webhook IDs, in no particular order.
    pub fn webhook_ids(&self) -> impl Iterator<Item = &str> {
        self.webhooks.keys().map(String::as_str)
    }

    pub(crate) fn check_freshness(
        &self,
        timestamp_nanos: i128,
        now: SystemTime,
    ) -> Result<(), VerifyError> {
        let now_nanos = match now.duration_since(UNIX_EPOCH) {
            Ok(since) => i128::try_from(since.as_nanos()).unwrap_or(i128::MAX),
            Err(before) => -i128::try_from(before.duration().as_nanos()).unwrap_or(i128::MAX),
        };
        let age = now_nanos.saturating_sub(timestamp_nanos);
        if age > 0 {
            let age = nanos_to_duration(age);
            if age > self.max_age {
                return Err(VerifyError::StaleTimestamp {
                    age,
                    max_age: self.max_age,
                });
            }
        } else {
            let ahead = nanos_to_duration(age.saturating_neg());
            if ahead > self.max_future {
                return Err(VerifyError::FutureTimestamp {
                    ahead,
                    max_future: self.max_future,
                });
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&str> = self.webhook_ids().collect();
        ids.sort_unstable();
        f.debug_struct("Verifier")
            .field("webhook_ids", &ids)
            .field("max_age", &self.max_age)
            .field("max_future", &self.max_future)
            .finish_non_exhaustive()
    }
}

fn nanos_to_duration(nanos: i128) -> Duration {
    let nanos = u128::try_from(nanos).unwrap_or(0);
    let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    // The remainder is below 10^9, so it fits a u32.
    let sub = u32::try_from(nanos % 1_000_000_000).unwrap_or(0);
    Duration::new(secs, sub)
}

#[cfg(test)]
thread_local! {
    /// How many body MACs this thread has computed, so tests can check that every path
    /// does the same MAC work.
    static BODY_MACS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Whether `signature` is the HMAC-SHA256 of `body` under `key` (constant time).
fn body_mac_matches(key: &hmac::Key, body: &[u8], signature: &[u8; 32]) -> bool {
    #[cfg(test)]
    BODY_MACS.with(|count| count.set(count.get() + 1));
    hmac::verify(key, body, signature).is_ok()
}

/// `text` as a `&str` if it is visible ASCII (or tab), as [`HeaderValue::to_str`] reads
/// a header value.
fn visible_ascii(text: &[u8]) -> Option<&str> {
    if text.iter().all(|&b| b == b'\t' || (32..127).contains(&b)) {
        std::str::from_utf8(text).ok()
    } else {
        None
    }
}

fn parse_signature(text: &[u8]) -> Result<[u8; 32], VerifyError> {
    if text.len() != SIGNATURE_HEX_LEN {
        return Err(VerifyError::MalformedSignature);
    }
    let mut out = [0_u8; 32];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let high = hex_value(pair[0]).ok_or(VerifyError::MalformedSignature)?;
        let low = hex_value(pair[1]).ok_or(VerifyError::MalformedSignature)?;
        *byte = (high << 4) | low;
    }
    Ok(out)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn check_authorization(expected: &ExpectedAuthorization, value: &[u8]) -> Result<(), VerifyError> {
    let (scheme, rest) = match value.iter().position(|&b| b == b' ') {
        Some(space) => (&value[..space], &value[space + 1..]),
        None => return Err(VerifyError::AuthorizationMismatch),
    };
    // The scheme is public and case-insensitive; only the credentials are secret.
    if !scheme.eq_ignore_ascii_case(expected.scheme.name().as_bytes()) {
        return Err(VerifyError::AuthorizationMismatch);
    }
    let credentials = rest.trim_ascii();
    let decoded;
    let credentials = match expected.scheme {
        Scheme::Bearer => credentials,
        Scheme::Basic => {
            decoded = STANDARD
                .decode(credentials)
                .map_err(|_| VerifyError::AuthorizationMismatch)?;
            &decoded
        }
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, AUTHORIZATION_COMPARE_KEY);
    hmac::verify(&key, credentials, expected.tag.as_ref())
        .map_err(|_| VerifyError::AuthorizationMismatch)
}

/// Describes a JSON error by category and position only, so no body content (which may
/// hold a SCEP challenge password) ends up in logs.
/// Parses an authenticated body, which must be one JSON object.
pub(crate) fn parse_object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, VerifyError> {
    // serde's derived impls would take a JSON array positionally; Go's decoder would not.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(VerifyError::MalformedBody {
            reason: "body is not a JSON object".to_owned(),
        });
    }
    serde_json::from_slice(body).map_err(|err| VerifyError::MalformedBody {
        reason: describe_json_error(&err),
    })
}

fn describe_json_error(err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match err.classify() {
        Category::Io => "read error",
        Category::Syntax => "invalid JSON",
        Category::Data => "unexpected JSON value",
        Category::Eof => "unexpected end of JSON",
    };
    format!("{what} at line {} column {}", err.line(), err.column())
}

/// A request that passed every check of [`Verifier::verify_at`].
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct VerifiedRequest {
    webhook_id: String,
    body: RequestBody,
}

impl VerifiedRequest {
    /// The authenticated webhook ID.
    pub fn webhook_id(&self) -> &str {
        &self.webhook_id
    }

    /// The parsed body.
    pub fn body(&self) -> &RequestBody {
        &self.body
    }

    /// The parsed body, by value.
    pub fn into_body(self) -> RequestBody {
        self.body
    }

    /// The webhook ID and the parsed body, by value.
    pub fn into_parts(self) -> (String, RequestBody) {
        (self.webhook_id, self.body)
    }
}

/// Builds a [`Verifier`]. Errors are collected and reported by [`VerifierBuilder::build`].
#[non_exhaustive]
#[derive(Default)]
pub struct VerifierBuilder {
    webhooks: Vec<(String, Result<WebhookSecret, SecretError>)>,
    authorizations: Vec<(String, Authorization)>,
    max_age: Option<Duration>,
    max_future: Option<Duration>,
}

impl VerifierBuilder {
    /// Adds a webhook with its secret as step-ca prints it (standard base64). The secret is
    /// decoded by [`build`](Self::build), which names the webhook if it is invalid.
    #[must_use]
    pub fn webhook(mut self, id: impl Into<String>, secret_base64: &str) -> Self {
        self.webhooks
            .push((id.into(), WebhookSecret::from_base64(secret_base64)));
        self
    }

    /// Adds a webhook with an already decoded secret.
    #[must_use]
    pub fn webhook_secret(mut self, id: impl Into<String>, secret: WebhookSecret) -> Self {
        self.webhooks.push((id.into(), Ok(secret)));
        self
    }

    /// Requires `authorization` on requests for webhook `id`, in addition to the signature.
    #[must_use]
    pub fn authorization(mut self, id: impl Into<String>, authorization: Authorization) -> Self {
        self.authorizations.push((id.into(), authorization));
        self
    }

    /// How old a request's timestamp may be. Defaults to 60 s.
    ///
    /// step-ca fixes the timestamp before its first attempt and retries the identical
    /// body about a second after a failure, within a 10 s budget; allow for that plus
    /// clock drift.
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// How far in the future a request's timestamp may be (clock drift). Defaults to 60 s.
    #[must_use]
    pub fn max_future(mut self, max_future: Duration) -> Self {
        self.max_future = Some(max_future);
        self
    }

    /// Builds the verifier.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the webhook, for an empty or duplicate ID, an invalid
    /// secret, or authorization configured for an ID that has no secret.
    pub fn build(self) -> Result<Verifier, ConfigError> {
        let mut webhooks = HashMap::with_capacity(self.webhooks.len());
        for (id, secret) in self.webhooks {
            validate_id(&id)?;
            let secret = match secret {
                Ok(secret) => secret,
                Err(source) => return Err(ConfigError::InvalidSecret { id, source }),
            };
            if webhooks.contains_key(&id) {
                return Err(ConfigError::DuplicateId { id });
            }
            let webhook = Webhook {
                key: secret.hmac_key(),
                authorization: None,
            };
            webhooks.insert(id, webhook);
        }
        let compare_key = hmac::Key::new(hmac::HMAC_SHA256, AUTHORIZATION_COMPARE_KEY);
        for (id, authorization) in self.authorizations {
            let Some(webhook) = webhooks.get_mut(&id) else {
                return Err(ConfigError::AuthorizationWithoutWebhook { id });
            };
            if webhook.authorization.is_some() {
                return Err(ConfigError::DuplicateAuthorization { id });
            }
            webhook.authorization = Some(ExpectedAuthorization {
                scheme: authorization.scheme(),
                tag: hmac::sign(&compare_key, authorization.credentials()),
            });
        }
        Ok(Verifier {
            webhooks,
            unknown_id_key: hmac::Key::new(hmac::HMAC_SHA256, UNKNOWN_ID_KEY),
            max_age: self.max_age.unwrap_or(DEFAULT_TIMESTAMP_TOLERANCE),
            max_future: self.max_future.unwrap_or(DEFAULT_TIMESTAMP_TOLERANCE),
        })
    }
}

impl fmt::Debug for VerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.webhooks.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("VerifierBuilder")
            .field("webhook_ids", &ids)
            .field("max_age", &self.max_age)
            .field("max_future", &self.max_future)
            .finish_non_exhaustive()
    }
}

/// Checks that `id` is non-empty and can travel in a header as text: visible ASCII (or
/// tab) without surrounding whitespace, the values a verifier can read back, so that no
/// configured ID is one no request can ever match.
pub(crate) fn validate_id(id: &str) -> Result<(), ConfigError> {
    if id.is_empty() {
        return Err(ConfigError::EmptyId);
    }
    if visible_ascii(id.as_bytes()).is_none() || id.trim() != id {
        return Err(ConfigError::InvalidId { id: id.to_owned() });
    }
    Ok(())
}

/// Why a [`Verifier`] or [`Signer`](crate::Signer) could not be built.
///
/// Messages name the webhook ID, never a secret.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A webhook ID is empty.
    #[error("webhook id is empty")]
    EmptyId,
    /// A webhook ID is not visible ASCII (tabs allowed), so it can't be sent in a header
    /// as text, or has surrounding whitespace.
    #[error("webhook id {id:?} is not a valid header value")]
    InvalidId {
        /// The ID.
        id: String,
    },
    /// The same webhook ID is configured twice.
    #[error("webhook id {id:?} is configured more than once")]
    DuplicateId {
        /// The ID.
        id: String,
    },
    /// A webhook's secret is empty or not base64.
    #[error("secret of webhook {id:?} is invalid")]
    InvalidSecret {
        /// The ID.
        id: String,
        /// Why the secret was refused.
        #[source]
        source: SecretError,
    },
    /// Authorization is configured for an ID that has no secret.
    #[error("authorization is configured for webhook {id:?}, which has no secret")]
    AuthorizationWithoutWebhook {
        /// The ID.
        id: String,
    },
    /// Two authorizations are configured for the same ID.
    #[error("authorization for webhook {id:?} is configured more than once")]
    DuplicateAuthorization {
        /// The ID.
        id: String,
    },
}

/// Why a request failed verification.
///
/// Messages never contain secrets, signatures or body content.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// No `X-Smallstep-Webhook-ID` header.
    #[error("missing X-Smallstep-Webhook-ID header")]
    MissingWebhookId,
    /// More than one `X-Smallstep-Webhook-ID` header.
    #[error("more than one X-Smallstep-Webhook-ID header")]
    DuplicateWebhookId,
    /// No `X-Smallstep-Signature` header.
    #[error("missing X-Smallstep-Signature header")]
    MissingSignature,
    /// More than one `X-Smallstep-Signature` header.
    #[error("more than one X-Smallstep-Signature header")]
    DuplicateSignature,
    /// The signature is not 64 hex characters (this includes the pre-v0.25.0 signature).
    #[error("signature is not 64 hex characters")]
    MalformedSignature,
    /// The webhook ID is not configured.
    #[error("unknown webhook id")]
    UnknownWebhook,
    /// Authorization is configured for the webhook, and the request has none.
    #[error("missing Authorization header")]
    MissingAuthorization,
    /// More than one `Authorization` header.
    #[error("more than one Authorization header")]
    DuplicateAuthorization,
    /// The `Authorization` header does not match the configured credentials.
    #[error("authorization does not match")]
    AuthorizationMismatch,
    /// The signature does not match the body under the webhook's secret.
    #[error("signature does not match request body")]
    SignatureMismatch,
    /// The body is authentic but does not parse.
    #[error("malformed request body: {reason}")]
    MalformedBody {
        /// The JSON error category and position (never body content).
        reason: String,
    },
    /// The body has no `timestamp`.
    #[error("request body has no timestamp")]
    MissingTimestamp,
    /// The timestamp is older than allowed.
    #[error("request timestamp is {}s old, more than the {}s allowed", age.as_secs(), max_age.as_secs())]
    StaleTimestamp {
        /// How old it is.
        age: Duration,
        /// The configured maximum.
        max_age: Duration,
    },
    /// The timestamp is further in the future than allowed.
    #[error("request timestamp is {}s in the future, more than the {}s allowed", ahead.as_secs(), max_future.as_secs())]
    FutureTimestamp {
        /// How far ahead it is.
        ahead: Duration,
        /// The configured maximum.
        max_future: Duration,
    },
}

impl VerifyError {
    /// Whether the request was authentic but its body did not parse. A server should
    /// answer such a request with a deny, not 401.
    pub fn is_malformed_body(&self) -> bool {
        matches!(self, Self::MalformedBody { .. })
    }

    /// Whether the request failed authentication or freshness (every other case).
    pub fn is_unauthenticated(&self) -> bool {
        !self.is_malformed_body()
    }

    /// Whether the timestamp was missing, stale or in the future.
    pub fn is_timestamp(&self) -> bool {
        matches!(
            self,
            Self::MissingTimestamp | Self::StaleTimestamp { .. } | Self::FutureTimestamp { .. }
        )
    }

    /// The HTTP status to answer with (see the crate documentation, "Status codes"):
    /// `401 Unauthorized` for every authentication or freshness failure, and `200 OK` for a
    /// malformed body, which was authentic and so gets a deny step-ca can pass on.
    ///
    /// ```
    /// use smallstep_webhook::VerifyError;
    /// use smallstep_webhook::http::StatusCode;
    /// assert_eq!(VerifyError::SignatureMismatch.status(), StatusCode::UNAUTHORIZED);
    /// let malformed = VerifyError::MalformedBody { reason: "invalid JSON".into() };
    /// assert_eq!(malformed.status(), StatusCode::OK);
    /// ```
    pub fn status(&self) -> StatusCode {
        if self.is_malformed_body() {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        }
    }

    /// The body to answer with, alongside [`VerifyError::status`]: `{"allow":false}` for an
    /// authentication failure (the reason goes to your log, never to the caller), and a
    /// `badRequest` deny naming the JSON problem (category and position, never content)
    /// for a malformed body.
    ///
    /// ```
    /// use smallstep_webhook::VerifyError;
    /// assert_eq!(VerifyError::MissingSignature.response_body().to_json(), br#"{"allow":false}"#);
    /// let malformed = VerifyError::MalformedBody { reason: "invalid JSON at line 1 column 2".into() };
    /// assert_eq!(
    ///     malformed.response_body().to_json(),
    ///     br#"{"allow":false,"error":{"code":"badRequest","message":"malformed request body: invalid JSON at line 1 column 2"}}"#,
    /// );
    /// ```
    pub fn response_body(&self) -> ResponseBody {
        if self.is_malformed_body() {
            ResponseBody::deny(BAD_REQUEST_CODE, self.to_string())
        } else {
            ResponseBody::deny_without_reason()
        }
    }
}

/// The deny code for an authentic body that is not a usable step-ca request.
pub(crate) const BAD_REQUEST_CODE: &str = "badRequest";

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};

    use super::*;
    use crate::{Authorization, Signer, WebhookSecret};

    const KNOWN: &str = "d09736a5-780b-476e-abdb-e2e4c0439cf9";
    const UNKNOWN: &str = "11111111-2222-4333-8444-555555555555";
    const WITH_TOKEN: &str = "eeff6319-8883-419b-8d9b-0fe227dbe6b4";

    fn body_macs() -> usize {
        BODY_MACS.with(std::cell::Cell::get)
    }

    /// The body MACs one call to `authenticate` computes, and its result.
    fn macs_for(
        verifier: &Verifier,
        headers: &HeaderMap,
        body: &[u8],
    ) -> (usize, Result<String, VerifyError>) {
        let before = body_macs();
        let result = verifier.authenticate(headers, body);
        (body_macs() - before, result)
    }

    #[test]
    fn unknown_ids_cost_the_same_mac_work_as_known_ones() {
        let secret = WebhookSecret::generate().unwrap();
        let verifier = Verifier::builder()
            .webhook_secret(KNOWN, secret.clone())
            .webhook_secret(WITH_TOKEN, secret.clone())
            .authorization(WITH_TOKEN, Authorization::bearer("token").unwrap())
            .build()
            .unwrap();
        let body = br#"{"timestamp":"2025-06-02T14:21:07Z"}"#;
        let right = Signer::new(KNOWN, secret.clone()).unwrap().headers(body);
        let wrong = Signer::new(KNOWN, WebhookSecret::generate().unwrap())
            .unwrap()
            .headers(body);
        let unknown = Signer::new(UNKNOWN, secret).unwrap().headers(body);
        let mut unreadable_id = right.clone();
        unreadable_id.insert(WEBHOOK_ID, HeaderValue::from_bytes(&[0xff; 8]).unwrap());
        let mut missing_token = right.clone();
        missing_token.insert(WEBHOOK_ID, HeaderValue::from_static(WITH_TOKEN));

        let (macs, result) = macs_for(&verifier, &right, body);
        assert_eq!((macs, result.ok().as_deref()), (1, Some(KNOWN)));
        for (case, headers, expected) in [
            ("known ID, wrong secret", &wrong, "SignatureMismatch"),
            ("unknown ID", &unknown, "UnknownWebhook"),
            ("ID that is not text", &unreadable_id, "UnknownWebhook"),
            (
                "known ID, Authorization missing",
                &missing_token,
                "MissingAuthorization",
            ),
        ] {
            let (macs, result) = macs_for(&verifier, headers, body);
            assert_eq!(macs, 1, "{case}: one body MAC, as for a known ID");
            let err = format!("{:?}", result.err());
            assert!(err.contains(expected), "{case}: {err}");
        }
        // Nothing to MAC with: the signature is not even well-formed.
        let mut malformed = right;
        malformed.insert(SIGNATURE, HeaderValue::from_static("zz"));
        assert_eq!(macs_for(&verifier, &malformed, body).0, 0);
    }

    #[test]
    fn the_key_unknown_ids_are_checked_with_never_authenticates() {
        let verifier = Verifier::builder()
            .webhook_secret(KNOWN, WebhookSecret::generate().unwrap())
            .build()
            .unwrap();
        let body = br#"{"timestamp":"2025-06-02T14:21:07Z"}"#;
        let dummy = WebhookSecret::from_bytes(UNKNOWN_ID_KEY).unwrap();
        let headers = Signer::new(UNKNOWN, dummy).unwrap().headers(body);
        assert!(matches!(
            verifier.authenticate(&headers, body),
            Err(VerifyError::UnknownWebhook)
        ));
    }
}
