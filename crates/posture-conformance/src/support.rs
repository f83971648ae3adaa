//! Lookups as provider tests write them: by serial (and mode), panicking where a test
//! expects a decision and gets an error.
//!
//! ```
//! use posture_conformance::support::{allows_as, decide, decide_as, deny_code, lookup};
//! use posture_core::{Decision, DenyCode, DeviceMode, LookupRequest, PostureProvider, ProviderError};
//!
//! /// Allows computers only.
//! #[derive(Debug)]
//! struct Computers;
//! impl PostureProvider for Computers {
//!     fn name(&self) -> &str { "computers" }
//!     async fn lookup(&self, request: &LookupRequest) -> Result<Decision, ProviderError> {
//!         match request.mode() {
//!             DeviceMode::Computer => Ok(Decision::allow()),
//!             DeviceMode::MobileDevice => Err(ProviderError::permanent("no phones here")),
//!             _ => Ok(Decision::deny(DenyCode::DEVICE_NOT_FOUND, "say which")),
//!         }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let serial = "C02XL0GJJG5J";
//! assert!(decide_as(&Computers, serial, DeviceMode::Computer).await.is_allowed());
//! assert!(!allows_as(&Computers, serial, DeviceMode::Auto).await);
//! assert_eq!(deny_code(&decide(&Computers, serial).await), Some("deviceNotFound"));
//! assert!(lookup(&Computers, serial).await.is_ok());
//! # }
//! ```

use posture_core::{Decision, DeviceMode, LookupRequest, PostureProvider, ProviderError};

/// `provider`'s answer for `serial`, with no mode.
pub async fn lookup<P: PostureProvider>(
    provider: &P,
    serial: &str,
) -> Result<Decision, ProviderError> {
    lookup_as(provider, serial, DeviceMode::Unspecified).await
}

/// `provider`'s answer for `serial` asked for in `mode`.
pub async fn lookup_as<P: PostureProvider>(
    provider: &P,
    serial: &str,
    mode: DeviceMode,
) -> Result<Decision, ProviderError> {
    provider
        .lookup(&LookupRequest::new(serial).with_mode(mode))
        .await
}

/// `provider`'s decision for `serial`, with no mode; panics on an error.
pub async fn decide<P: PostureProvider>(provider: &P, serial: &str) -> Decision {
    decide_as(provider, serial, DeviceMode::Unspecified).await
}

/// `provider`'s decision for `serial` asked for in `mode`; panics on an error.
pub async fn decide_as<P: PostureProvider>(
    provider: &P,
    serial: &str,
    mode: DeviceMode,
) -> Decision {
    answer(provider, &LookupRequest::new(serial).with_mode(mode)).await
}

/// Whether `provider` allows `serial` asked for in `mode`; panics on an error.
pub async fn allows_as<P: PostureProvider>(provider: &P, serial: &str, mode: DeviceMode) -> bool {
    decide_as(provider, serial, mode).await.is_allowed()
}

/// `provider`'s decision for `request`; panics, naming the identifier, on an error.
pub async fn answer<P: PostureProvider>(provider: &P, request: &LookupRequest) -> Decision {
    match provider.lookup(request).await {
        Ok(decision) => decision,
        Err(err) => panic!("{}: {err}", request.identifier()),
    }
}

/// The deny code of `decision`, or `None` for an allow.
pub fn deny_code(decision: &Decision) -> Option<&str> {
    decision.deny_code().map(|code| code.as_str())
}

/// The deny code and message of `decision`, or `("allowed", "")` for an allow: a whole
/// decision to compare in one `assert_eq!`.
///
/// ```
/// use posture_conformance::support::denial;
/// use posture_core::{Decision, DenyCode};
///
/// let decision = Decision::deny(DenyCode::NOT_MANAGED, "C02XL0GJJG5J has no MDM profile");
/// assert_eq!(denial(&decision), ("notManaged", "C02XL0GJJG5J has no MDM profile"));
/// assert_eq!(denial(&Decision::allow()), ("allowed", ""));
/// ```
pub fn denial(decision: &Decision) -> (&str, &str) {
    (
        deny_code(decision).unwrap_or("allowed"),
        decision.deny_message().unwrap_or(""),
    )
}

/// Panics unless `decision` allows and carries no enrichment, as with the provider's
/// enrichment off.
///
/// ```
/// use posture_conformance::support::assert_allowed_plainly;
/// use posture_core::Decision;
///
/// assert_allowed_plainly(&Decision::allow());
/// ```
#[track_caller]
pub fn assert_allowed_plainly(decision: &Decision) {
    assert!(decision.is_allowed(), "{decision:?}");
    assert!(decision.enrichment().is_none(), "{decision:?}");
}

/// Panics unless `decision` denies with `code` and a message that contains `reason`.
///
/// ```
/// use posture_conformance::support::assert_denied;
/// use posture_core::{Decision, DenyCode};
///
/// let decision = Decision::deny(DenyCode::NOT_MANAGED, "C02XL0GJJG5J has no MDM profile");
/// assert_denied(&decision, "notManaged", "no MDM");
/// ```
#[track_caller]
pub fn assert_denied(decision: &Decision, code: &str, reason: &str) {
    assert_eq!(deny_code(decision), Some(code), "{decision:?}");
    assert!(
        decision.deny_message().is_some_and(|m| m.contains(reason)),
        "{reason:?} is not in {decision:?}"
    );
}

/// Panics unless the first line of `provider`'s report (the one naming where it looks
/// devices up) contains `text`.
///
/// ```
/// use posture_conformance::support::assert_reported;
/// use posture_core::{Decision, LookupRequest, PostureProvider, ProviderError};
///
/// #[derive(Debug)]
/// struct Acme;
/// impl PostureProvider for Acme {
///     fn name(&self) -> &str { "acme" }
///     async fn lookup(&self, _: &LookupRequest) -> Result<Decision, ProviderError> {
///         Ok(Decision::allow())
///     }
///     fn report(&self) -> Vec<String> {
///         vec!["lookups: GET https://acme.example/devices/{serial}".to_owned()]
///     }
/// }
///
/// assert_reported(&Acme, "/devices/{serial}");
/// ```
#[track_caller]
pub fn assert_reported<P: PostureProvider>(provider: &P, text: &str) {
    let report = provider.report();
    assert!(
        report.first().is_some_and(|line| line.contains(text)),
        "{text:?} is not in the first line of {report:?}"
    );
}

/// The text of the permanent error `provider`'s readiness check gives; panics if it is
/// ready or the error is transient.
///
/// ```
/// use posture_conformance::support::{permanent, refused_readiness, transient};
/// use posture_core::{Decision, LookupRequest, PostureProvider, ProviderError};
///
/// #[derive(Debug)]
/// struct Misconfigured;
/// impl PostureProvider for Misconfigured {
///     fn name(&self) -> &str { "misconfigured" }
///     async fn lookup(&self, _: &LookupRequest) -> Result<Decision, ProviderError> {
///         Err(ProviderError::transient("ACME is down"))
///     }
///     async fn check_ready(&self) -> Result<(), ProviderError> {
///         Err(ProviderError::permanent("ACME_TOKEN is refused"))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert_eq!(refused_readiness(&Misconfigured).await, "ACME_TOKEN is refused");
/// assert!(permanent(Misconfigured.check_ready().await).to_string().contains("ACME_TOKEN"));
/// let request = LookupRequest::new("C02XL0GJJG5J");
/// assert!(transient(Misconfigured.lookup(&request).await).retry_after().is_none());
/// # }
/// ```
pub async fn refused_readiness<P: PostureProvider>(provider: &P) -> String {
    permanent(provider.check_ready().await).to_string()
}

/// The text of the transient error `provider`'s readiness check gives; panics if it is
/// ready or the error is permanent.
///
/// ```
/// use posture_conformance::support::unready;
/// use posture_core::{Decision, LookupRequest, PostureProvider, ProviderError};
///
/// #[derive(Debug)]
/// struct Down;
/// impl PostureProvider for Down {
///     fn name(&self) -> &str { "down" }
///     async fn lookup(&self, _: &LookupRequest) -> Result<Decision, ProviderError> {
///         Err(ProviderError::transient("ACME is down"))
///     }
///     async fn check_ready(&self) -> Result<(), ProviderError> {
///         Err(ProviderError::transient("ACME_URL cannot be reached"))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert_eq!(unready(&Down).await, "ACME_URL cannot be reached");
/// # }
/// ```
pub async fn unready<P: PostureProvider>(provider: &P) -> String {
    transient(provider.check_ready().await).to_string()
}

/// The error of `result`; panics if it is `Ok` or the error is transient.
pub fn permanent<T: std::fmt::Debug>(result: Result<T, ProviderError>) -> ProviderError {
    match result {
        Ok(value) => panic!("expected a permanent error, got {value:?}"),
        Err(err) if err.is_transient() => panic!("expected a permanent error, got: {err}"),
        Err(err) => err,
    }
}

/// The error of `result`; panics if it is `Ok` or the error is permanent.
pub fn transient<T: std::fmt::Debug>(result: Result<T, ProviderError>) -> ProviderError {
    match result {
        Ok(value) => panic!("expected a transient error, got {value:?}"),
        Err(err) if !err.is_transient() => panic!("expected a transient error, got: {err}"),
        Err(err) => err,
    }
}
