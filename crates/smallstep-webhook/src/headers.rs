//! The header values a webhook reads, independent of any HTTP library's header map.

use http::header::{AUTHORIZATION, HeaderMap, HeaderName};

use crate::verify::{REQUEST_ID_HEADER, SIGNATURE, WEBHOOK_ID};

/// One request header as a webhook sees it: absent, present once, or repeated.
///
/// A repeated `X-Smallstep-Webhook-ID`, `X-Smallstep-Signature` or `Authorization` header
/// is refused by the [`Verifier`](crate::Verifier), so a header map that keeps only the
/// last value of a name must not be read as if the header were present once.
///
/// ```
/// use smallstep_webhook::HeaderField;
/// assert_eq!(HeaderField::from_values(Vec::<&[u8]>::new()), HeaderField::Absent);
/// assert_eq!(HeaderField::from_values([&b"a"[..]]), HeaderField::One(b"a"));
/// assert_eq!(HeaderField::from_values([&b"a"[..], b"b"]), HeaderField::Repeated(b"a"));
/// assert_eq!(HeaderField::Repeated(b"a").first(), Some(&b"a"[..]));
/// assert_eq!(HeaderField::from(Some(&b"a"[..])), HeaderField::One(b"a"));
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub enum HeaderField<'a> {
    /// The request has no such header.
    #[default]
    Absent,
    /// The request has exactly one such header, with this value.
    One(&'a [u8]),
    /// The request has the header more than once; this is the first value, for logs only.
    Repeated(&'a [u8]),
}

impl<'a> HeaderField<'a> {
    /// The field for all the values a request carries under one name, in any order.
    pub fn from_values<I>(values: I) -> Self
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let mut values = values.into_iter();
        match (values.next(), values.next()) {
            (None, _) => Self::Absent,
            (Some(value), None) => Self::One(value),
            (Some(first), Some(_)) => Self::Repeated(first),
        }
    }

    /// The field for `name` in an `http` 1 header map.
    pub fn from_header_map(headers: &'a HeaderMap, name: &HeaderName) -> Self {
        Self::from_values(headers.get_all(name).iter().map(|v| v.as_bytes()))
    }

    /// The first value, however many there are: what a log line may show, never what a
    /// check may trust.
    pub fn first(self) -> Option<&'a [u8]> {
        match self {
            Self::Absent => None,
            Self::One(value) | Self::Repeated(value) => Some(value),
        }
    }

    /// The value if present once, `Ok(None)` if absent, `Err(())` if repeated.
    pub(crate) fn single(self) -> Result<Option<&'a [u8]>, ()> {
        match self {
            Self::Absent => Ok(None),
            Self::One(value) => Ok(Some(value)),
            Self::Repeated(_) => Err(()),
        }
    }
}

impl<'a> From<Option<&'a [u8]>> for HeaderField<'a> {
    /// `None` is [`HeaderField::Absent`] and `Some` is [`HeaderField::One`]: pass `Some`
    /// only when the request carried the header exactly once.
    fn from(value: Option<&'a [u8]>) -> Self {
        value.map_or(Self::Absent, Self::One)
    }
}

/// The headers a step-ca webhook request is verified with, taken from any HTTP library.
///
/// [`Verifier::verify_parts`](crate::Verifier::verify_parts) and its siblings take this
/// instead of an `http` 1 [`HeaderMap`], so frameworks on other `http` versions (actix-web
/// 4 uses `http` 0.2) or with their own header types need no conversion. The checks are
/// exactly those of [`Verifier::verify`](crate::Verifier::verify), duplicate refusal
/// included: tell a repeated header apart with [`HeaderField::Repeated`] (or
/// [`HeaderField::from_values`] over every value of the name).
///
/// **Header maps that keep only the last value.** Some framework paths (for example
/// inserting an actix `HeaderMap`'s entries one by one into another map, or `http` 0.2's
/// `insert`) silently keep only the last of two headers with the same name. Reading such a
/// map as "present once" would accept a request with two signatures. Pass
/// [`HeaderField::One`] (or `Some(value)`) only when exactly one header was present, and
/// [`HeaderField::Repeated`] otherwise, or refuse duplicates yourself first.
///
/// ```
/// use http::{HeaderMap, HeaderValue};
/// use smallstep_webhook::{HeaderField, WebhookHeaders, SIGNATURE_HEADER, WEBHOOK_ID_HEADER};
///
/// let mut map = HeaderMap::new();
/// map.insert(WEBHOOK_ID_HEADER, HeaderValue::from_static("d09736a5-780b-476e-abdb-e2e4c0439cf9"));
/// map.append(SIGNATURE_HEADER, HeaderValue::from_static("aa"));
/// map.append(SIGNATURE_HEADER, HeaderValue::from_static("bb"));
/// let headers = WebhookHeaders::from_header_map(&map);
/// assert_eq!(headers.webhook_id(), HeaderField::One(b"d09736a5-780b-476e-abdb-e2e4c0439cf9"));
/// assert_eq!(headers.signature(), HeaderField::Repeated(b"aa"));
/// assert_eq!(headers.authorization(), HeaderField::Absent);
///
/// // From a framework that hands out single values:
/// let headers = WebhookHeaders::new(Some(&b"id"[..]), Some(&b"sig"[..]), None)
///     .with_request_id(Some(&b"7f0c"[..]));
/// assert_eq!(headers.request_id(), HeaderField::One(b"7f0c"));
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct WebhookHeaders<'a> {
    /// `X-Smallstep-Webhook-ID`.
    pub webhook_id: HeaderField<'a>,
    /// `X-Smallstep-Signature`.
    pub signature: HeaderField<'a>,
    /// `Authorization`, read only for webhooks configured with credentials.
    pub authorization: HeaderField<'a>,
    /// `X-Request-Id`, never verified: only for logs.
    pub request_id: HeaderField<'a>,
}

impl<'a> WebhookHeaders<'a> {
    /// The webhook ID, signature and `Authorization` header values (no request ID).
    pub fn new(
        webhook_id: impl Into<HeaderField<'a>>,
        signature: impl Into<HeaderField<'a>>,
        authorization: impl Into<HeaderField<'a>>,
    ) -> Self {
        Self {
            webhook_id: webhook_id.into(),
            signature: signature.into(),
            authorization: authorization.into(),
            request_id: HeaderField::Absent,
        }
    }

    /// Also carries an `X-Request-Id` value.
    #[must_use]
    pub fn with_request_id(mut self, request_id: impl Into<HeaderField<'a>>) -> Self {
        self.request_id = request_id.into();
        self
    }

    /// The four headers from an `http` 1 header map, repeated ones included.
    pub fn from_header_map(headers: &'a HeaderMap) -> Self {
        Self {
            webhook_id: HeaderField::from_header_map(headers, &WEBHOOK_ID),
            signature: HeaderField::from_header_map(headers, &SIGNATURE),
            authorization: HeaderField::from_header_map(headers, &AUTHORIZATION),
            request_id: HeaderField::from_header_map(
                headers,
                &HeaderName::from_static(REQUEST_ID_HEADER),
            ),
        }
    }

    /// `X-Smallstep-Webhook-ID`.
    pub fn webhook_id(&self) -> HeaderField<'a> {
        self.webhook_id
    }

    /// `X-Smallstep-Signature`.
    pub fn signature(&self) -> HeaderField<'a> {
        self.signature
    }

    /// `Authorization`.
    pub fn authorization(&self) -> HeaderField<'a> {
        self.authorization
    }

    /// `X-Request-Id`.
    pub fn request_id(&self) -> HeaderField<'a> {
        self.request_id
    }
}

impl<'a> From<&'a HeaderMap> for WebhookHeaders<'a> {
    fn from(headers: &'a HeaderMap) -> Self {
        Self::from_header_map(headers)
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;
    use crate::{Authorization, RequestBody, Signer, Verifier, VerifyError, WebhookSecret};

    const ID: &str = "d09736a5-780b-476e-abdb-e2e4c0439cf9";

    /// `verify_parts` answers as `verify` for every header shape.
    #[test]
    fn parts_and_header_map_agree() {
        let secret = WebhookSecret::generate().unwrap();
        let verifier = Verifier::builder()
            .webhook_secret(ID, secret.clone())
            .authorization(ID, Authorization::bearer("t0ken").unwrap())
            .build()
            .unwrap();
        let signer = Signer::new(ID, secret)
            .unwrap()
            .with_authorization(Authorization::bearer("t0ken").unwrap());
        let now = std::time::SystemTime::now();
        let signed = signer.sign_body(&RequestBody::device_attest_authorizing("X1", now.into()));
        let mut cases = vec![signed.headers.clone(), HeaderMap::new()];
        for name in [WEBHOOK_ID, SIGNATURE, AUTHORIZATION] {
            let mut repeated = signed.headers.clone();
            repeated.append(name.clone(), HeaderValue::from_static("x"));
            cases.push(repeated);
            let mut missing = signed.headers.clone();
            missing.remove(&name);
            cases.push(missing);
        }
        let mut not_text = signed.headers.clone();
        not_text.insert(WEBHOOK_ID, HeaderValue::from_bytes(&[0xc3, 0xa9]).unwrap());
        cases.push(not_text);
        for headers in &cases {
            let by_map = verifier.verify_at(headers, &signed.body, now);
            let by_parts = verifier.verify_parts_at(headers.into(), &signed.body, now);
            assert_eq!(
                format!("{:?}", by_map.as_ref().map(|v| v.webhook_id())),
                format!("{:?}", by_parts.as_ref().map(|v| v.webhook_id())),
                "{headers:?}"
            );
        }
        // Repeated signatures are refused, however they are handed over.
        let err = verifier
            .verify_parts_at(
                WebhookHeaders::new(Some(ID.as_bytes()), HeaderField::Repeated(b"x"), None),
                &signed.body,
                now,
            )
            .unwrap_err();
        assert!(matches!(err, VerifyError::DuplicateSignature), "{err}");
    }
}
