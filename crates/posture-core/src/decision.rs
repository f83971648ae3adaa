use std::borrow::Cow;
use std::fmt;

use crate::Enrichment;

/// A provider's answer about one device.
///
/// ```
/// use posture_core::{Decision, DenyCode};
/// let denied = Decision::deny(DenyCode::NOT_COMPLIANT, "not in the group \"Compliant Macs\"");
/// assert!(!denied.is_allowed());
/// assert_eq!(denied.deny_code().map(DenyCode::as_str), Some("notCompliant"));
/// ```
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Decision {
    /// The device may get its certificate.
    Allow {
        /// Data for step-ca's certificate template, if the provider has any.
        enrichment: Option<Enrichment>,
    },
    /// The device may not get its certificate.
    Deny {
        /// A stable machine code. step-ca ≥ 0.28.1 turns it into the ACME subproblem type
        /// `urn:smallstep:acme:error:<code>`.
        code: DenyCode,
        /// A human explanation. step-ca shows it to the device, so it must hold no secrets.
        message: String,
    },
}

impl Decision {
    /// Allows, with no enrichment data.
    pub const fn allow() -> Self {
        Self::Allow { enrichment: None }
    }

    /// Allows, with enrichment data.
    pub const fn allow_with(enrichment: Enrichment) -> Self {
        Self::Allow {
            enrichment: Some(enrichment),
        }
    }

    /// Denies with a code and a message.
    pub fn deny(code: DenyCode, message: impl Into<String>) -> Self {
        Self::Deny {
            code,
            message: message.into(),
        }
    }

    /// Whether the device is allowed.
    pub const fn is_allowed(&self) -> bool {
        matches!(self, Self::Allow { .. })
    }

    /// The enrichment data of an allow.
    pub const fn enrichment(&self) -> Option<&Enrichment> {
        match self {
            Self::Allow { enrichment } => enrichment.as_ref(),
            Self::Deny { .. } => None,
        }
    }

    /// The code of a deny.
    pub const fn deny_code(&self) -> Option<&DenyCode> {
        match self {
            Self::Deny { code, .. } => Some(code),
            Self::Allow { .. } => None,
        }
    }

    /// The message of a deny.
    pub fn deny_message(&self) -> Option<&str> {
        match self {
            Self::Deny { message, .. } => Some(message),
            Self::Allow { .. } => None,
        }
    }
}

/// A stable, machine-readable reason for a deny.
///
/// step-ca pastes the code into a URN, so it is limited to ASCII letters, digits and `-`,
/// at most 64 characters. The constants cover the reasons this project's providers give;
/// a provider may define its own with [`DenyCode::new`].
#[derive(Clone, Eq, Hash, PartialEq)]
pub struct DenyCode(Cow<'static, str>);

/// A deny code had characters outside `[A-Za-z0-9-]`, was empty or was too long.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("invalid deny code {0:?}: expected 1 to 64 characters from A-Z, a-z, 0-9 and '-'")]
pub struct InvalidDenyCode(pub String);

impl DenyCode {
    /// The device is not in the inventory.
    pub const DEVICE_NOT_FOUND: Self = Self(Cow::Borrowed("deviceNotFound"));
    /// The device is in the inventory but fails a compliance rule (for example, it is not in
    /// the required group).
    pub const NOT_COMPLIANT: Self = Self(Cow::Borrowed("notCompliant"));
    /// The device is known but not managed by the MDM.
    pub const NOT_MANAGED: Self = Self(Cow::Borrowed("notManaged"));
    /// The identifier cannot be looked up by this provider (for example, a UDID where the
    /// provider only knows serial numbers). No backend call was made.
    pub const INVALID_IDENTIFIER: Self = Self(Cow::Borrowed("invalidIdentifier"));
    /// The request's `mode` is not one the server knows.
    pub const INVALID_MODE: Self = Self(Cow::Borrowed("invalidMode"));
    /// The request body was authentic but not a usable step-ca request.
    pub const BAD_REQUEST: Self = Self(Cow::Borrowed("badRequest"));
    /// The request lacks `attestationData.permanentIdentifier`.
    pub const MISSING_IDENTIFIER: Self = Self(Cow::Borrowed("missingIdentifier"));
    /// The certificate's subject common name differs from the attested identifier.
    pub const IDENTIFIER_MISMATCH: Self = Self(Cow::Borrowed("identifierMismatch"));
    /// The provider failed permanently (for example, it was refused by its backend).
    pub const PROVIDER_ERROR: Self = Self(Cow::Borrowed("providerError"));

    /// Checks and wraps a custom code.
    ///
    /// ```
    /// use posture_core::DenyCode;
    /// assert_eq!(DenyCode::new("deviceLost").unwrap().as_str(), "deviceLost");
    /// assert!(DenyCode::new("no spaces").is_err());
    /// ```
    pub fn new(code: impl Into<String>) -> Result<Self, InvalidDenyCode> {
        let code = code.into();
        let valid = !code.is_empty()
            && code.len() <= 64
            && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if valid {
            Ok(Self(Cow::Owned(code)))
        } else {
            Err(InvalidDenyCode(code))
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DenyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for DenyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_codes_are_valid() {
        for code in [
            DenyCode::DEVICE_NOT_FOUND,
            DenyCode::NOT_COMPLIANT,
            DenyCode::NOT_MANAGED,
            DenyCode::INVALID_IDENTIFIER,
            DenyCode::INVALID_MODE,
            DenyCode::BAD_REQUEST,
            DenyCode::MISSING_IDENTIFIER,
            DenyCode::IDENTIFIER_MISMATCH,
            DenyCode::PROVIDER_ERROR,
        ] {
            assert_eq!(DenyCode::new(code.as_str()), Ok(code));
        }
    }

    #[test]
    fn rejects_codes_that_would_break_the_urn() {
        for bad in ["", "a b", "a:b", "é", &"x".repeat(65)] {
            assert!(DenyCode::new(bad).is_err(), "{bad:?}");
        }
    }
}
