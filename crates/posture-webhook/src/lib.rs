//! The device-posture decision for step-ca webhooks, as a library any HTTP server can
//! call.
//!
//! A [`Decider`] runs the whole pipeline for one ACME `device-attest-01` webhook request:
//!
//! 1. **cap** the body (`413`);
//! 2. **verify** it with a [`smallstep_webhook::Verifier`]: headers, HMAC over the raw
//!    bytes, then parsing and the timestamp (`401 {"allow":false}`; an authentic body that
//!    is not a step-ca request is a `badRequest` deny);
//! 3. read the **mode** from the query string (`invalidMode` deny);
//! 4. apply the **device-attest rules**: an attested identifier, and a subject common name
//!    that is empty or equal to it ([`device_attest_request`]);
//! 5. ask the **provider** ([`posture_core::DynPostureProvider`]) under a deadline, and
//!    map its [`Decision`](posture_core::Decision) or
//!    [`ProviderError`](posture_core::ProviderError) to an answer: allow or deny with
//!    `200`, a transient error or the deadline with `503` (step-ca retries once), a
//!    permanent error with a `providerError` deny (fail closed);
//!
//! and returns an [`Answer`]: status, body, `Retry-After`, and an [`AuditRecord`] to log.
//!
//! It depends on no HTTP server, no async runtime beyond `tokio`'s timer, and no provider:
//! see [`Decider`] for a hyper service and an axum handler in about twenty lines each.
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use posture_webhook::{Decider, Outcome};
//! use posture_webhook::posture_core::{Decision, DenyCode, LookupRequest, PostureProvider, ProviderError};
//! use posture_webhook::smallstep_webhook::{RequestBody, Signer, Verifier, WebhookSecret};
//!
//! #[derive(Debug)]
//! struct OneDevice;
//! impl PostureProvider for OneDevice {
//!     fn name(&self) -> &str { "one-device" }
//!     async fn lookup(&self, request: &LookupRequest) -> Result<Decision, ProviderError> {
//!         Ok(if request.identifier() == "C02XL0GJJG5J" {
//!             Decision::allow()
//!         } else {
//!             Decision::deny(DenyCode::DEVICE_NOT_FOUND, "not in the inventory")
//!         })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let secret = WebhookSecret::generate()?;
//! let verifier = Verifier::builder().webhook("id-1", &secret.to_base64()).build()?;
//! let decider = Decider::new(verifier, Arc::new(OneDevice), Duration::from_secs(4));
//!
//! // What step-ca sends for a device-attest order.
//! let body = RequestBody::device_attest_authorizing("C02XL0GJJG5J", std::time::SystemTime::now().into());
//! let signed = Signer::new("id-1", secret)?.sign_body(&body);
//!
//! let answer = decider.decide((&signed.headers).into(), Some("mode=computer"), &signed.body).await;
//! assert_eq!(answer.status(), 200);
//! assert_eq!(&answer.body()[..], br#"{"allow":true}"#);
//! assert_eq!(answer.record().outcome, Outcome::Allow);
//! assert_eq!(answer.record().identifier.as_deref(), Some("C02XL0GJJG5J"));
//!
//! // Unsigned: 401, and the reason only in the record.
//! let answer = decider.decide(Default::default(), None, &signed.body).await;
//! assert_eq!(answer.status(), 401);
//! assert_eq!(answer.record().reason, "missing X-Smallstep-Webhook-ID header");
//! # Ok(()) }
//! ```

mod answer;
mod decider;
mod rules;

pub use answer::{
    Answer, AuditRecord, Outcome, claimed_webhook_id, request_id, retry_after_seconds,
};
pub use decider::{DEFAULT_MAX_BODY_BYTES, Decider, LookupObserver, LookupResult};
pub use rules::{InvalidMode, device_attest_request, mode_from_query};

/// The provider contract, re-exported for the types of it this crate's API uses.
pub use posture_core;
/// The step-ca protocol crate, re-exported for the types of it this crate's API uses.
pub use smallstep_webhook;

#[cfg(test)]
mod tests;

/// Compiles the README's examples.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
