//! Webhook secrets and the optional `Authorization` credentials.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderValue;
use ring::rand::{SecureRandom as _, SystemRandom};

/// How many random bytes step-ca puts in a webhook secret.
const GENERATED_SECRET_LEN: usize = 64;

/// A webhook's HMAC key: the base64-decoded secret step-ca prints for the webhook.
///
/// step-ca generates 64 random bytes and shows them as standard base64 (88 characters,
/// ending in `==`). The HMAC key is the *decoded* bytes, never the base64 text.
/// `Debug` never shows the key.
///
/// ```
/// use smallstep_webhook::WebhookSecret;
/// let secret = WebhookSecret::from_base64(
///     "MGdRmSlKVbaI+FXGAX30N8l0wK5vPyYvc75wW9+zx2bxnCrGclN2/+b3tdOEEZM1sGIv6f8L4OQc1N4NBvqDEQ==",
/// )?;
/// assert_eq!(secret.len(), 64);
/// assert_eq!(format!("{secret:?}"), "WebhookSecret([redacted])");
/// assert!(WebhookSecret::from_base64("").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
#[derive(Clone)]
pub struct WebhookSecret {
    key: Box<[u8]>,
}

impl WebhookSecret {
    /// Decodes a secret as step-ca prints it (standard base64 with padding). Surrounding
    /// ASCII whitespace, such as the newline at the end of a secret file, is ignored.
    ///
    /// # Errors
    ///
    /// [`SecretError::Empty`] if there is nothing to decode or the decoded key is empty,
    /// and [`SecretError::NotBase64`] if the text is not standard base64.
    pub fn from_base64(secret: &str) -> Result<Self, SecretError> {
        let text = secret.trim_ascii();
        if text.is_empty() {
            return Err(SecretError::Empty);
        }
        let key = STANDARD.decode(text).map_err(|_| SecretError::NotBase64)?;
        Self::from_bytes(&key)
    }

    /// Uses `key` as the HMAC key as it is.
    ///
    /// # Errors
    ///
    /// [`SecretError::Empty`] if `key` is empty: step-ca signs with an empty key only for
    /// webhooks defined in `ca.json`, and such a signature authenticates nothing.
    pub fn from_bytes(key: &[u8]) -> Result<Self, SecretError> {
        if key.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Self { key: key.into() })
    }

    /// The empty key step-ca signs with for a webhook defined in `ca.json`, which can't carry
    /// a secret. Such a signature proves nothing about who sent the request; it only lets a
    /// body altered in transit be told apart. Use it only where the connection itself
    /// authenticates step-ca (a client certificate pinned to step-ca's name).
    ///
    /// ```
    /// use smallstep_webhook::WebhookSecret;
    /// assert!(WebhookSecret::ca_json_empty_key().is_empty());
    /// ```
    pub fn ca_json_empty_key() -> Self {
        Self {
            key: Box::default(),
        }
    }

    /// Generates a new secret of 64 random bytes, as step-ca does, from the operating
    /// system's secure random source.
    ///
    /// ```
    /// use smallstep_webhook::WebhookSecret;
    /// let secret = WebhookSecret::generate()?;
    /// let text = secret.to_base64();
    /// assert_eq!(text.len(), 88);
    /// assert_eq!(WebhookSecret::from_base64(&text)?.to_base64(), text);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`SecretError::Random`] if the random source fails.
    pub fn generate() -> Result<Self, SecretError> {
        let mut key = vec![0_u8; GENERATED_SECRET_LEN];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| SecretError::Random)?;
        Ok(Self { key: key.into() })
    }

    /// The secret as step-ca prints it: standard base64 with padding.
    ///
    /// This reveals the key; show it only where an operator asked for it.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(&self.key)
    }

    /// The key length in bytes (64 for secrets step-ca generates).
    pub fn len(&self) -> usize {
        self.key.len()
    }

    /// Always `false`: an empty secret can't be built.
    pub fn is_empty(&self) -> bool {
        self.key.is_empty()
    }

    pub(crate) fn hmac_key(&self) -> ring::hmac::Key {
        ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.key)
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret([redacted])")
    }
}

/// Why a webhook secret was refused.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The secret is empty.
    #[error("secret is empty")]
    Empty,
    /// The secret is not standard base64 with padding.
    #[error("secret is not standard base64")]
    NotBase64,
    /// The operating system's random source failed.
    #[error("random source failed")]
    Random,
}

/// The `Authorization` header step-ca can send in addition to the signature: a bearer
/// token or HTTP basic credentials, configured per webhook.
///
/// A [`Verifier`](crate::Verifier) configured with one requires it *in addition to* the
/// HMAC; a [`Signer`](crate::Signer) sends it. `Debug` never shows the credentials.
///
/// ```
/// use smallstep_webhook::Authorization;
/// let bearer = Authorization::bearer("s3cr3t")?;
/// assert_eq!(bearer.header_value().to_str()?, "Bearer s3cr3t");
/// let basic = Authorization::basic("user", "pass")?;
/// assert_eq!(basic.header_value().to_str()?, "Basic dXNlcjpwYXNz");
/// assert_eq!(format!("{basic:?}"), "Authorization::Basic([redacted])");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
#[derive(Clone)]
pub struct Authorization {
    scheme: Scheme,
    /// The credentials after the scheme: the token, or `user:pass` (not base64).
    credentials: Vec<u8>,
    header: HeaderValue,
}

#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Scheme {
    Bearer,
    Basic,
}

impl Scheme {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Bearer => "Bearer",
            Self::Basic => "Basic",
        }
    }
}

impl Authorization {
    /// `Authorization: Bearer <token>`.
    ///
    /// # Errors
    ///
    /// [`AuthorizationError::Empty`] for an empty token, and
    /// [`AuthorizationError::InvalidToken`] if it holds characters a header can't carry
    /// (control characters) or whitespace.
    pub fn bearer(token: &str) -> Result<Self, AuthorizationError> {
        if token.is_empty() {
            return Err(AuthorizationError::Empty);
        }
        if !token.bytes().all(|b| b.is_ascii_graphic() || b >= 0x80) {
            return Err(AuthorizationError::InvalidToken);
        }
        let mut header = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| AuthorizationError::InvalidToken)?;
        header.set_sensitive(true);
        Ok(Self {
            scheme: Scheme::Bearer,
            credentials: token.as_bytes().to_vec(),
            header,
        })
    }

    /// `Authorization: Basic base64(username:password)`, as Go's `SetBasicAuth` writes it.
    ///
    /// # Errors
    ///
    /// [`AuthorizationError::Empty`] if both are empty (step-ca then sends no header).
    pub fn basic(username: &str, password: &str) -> Result<Self, AuthorizationError> {
        if username.is_empty() && password.is_empty() {
            return Err(AuthorizationError::Empty);
        }
        let credentials = format!("{username}:{password}").into_bytes();
        let mut header = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(&credentials)))
            .map_err(|_| AuthorizationError::InvalidToken)?;
        header.set_sensitive(true);
        Ok(Self {
            scheme: Scheme::Basic,
            credentials,
            header,
        })
    }

    /// Whether this is a bearer token.
    pub fn is_bearer(&self) -> bool {
        self.scheme == Scheme::Bearer
    }

    /// Whether these are basic credentials.
    pub fn is_basic(&self) -> bool {
        self.scheme == Scheme::Basic
    }

    /// The `Authorization` header value, marked sensitive.
    pub fn header_value(&self) -> &HeaderValue {
        &self.header
    }

    pub(crate) fn scheme(&self) -> Scheme {
        self.scheme
    }

    pub(crate) fn credentials(&self) -> &[u8] {
        &self.credentials
    }
}

impl fmt::Debug for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Authorization::{}([redacted])", self.scheme.name())
    }
}

/// Why `Authorization` credentials were refused.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum AuthorizationError {
    /// The token, or both username and password, are empty.
    #[error("credentials are empty")]
    Empty,
    /// The token holds whitespace or characters a header can't carry.
    #[error("bearer token holds whitespace or control characters")]
    InvalidToken,
}
