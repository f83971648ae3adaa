//! The device-posture provider trait and the decision model shared by every provider.
//!
//! A *provider* answers one question for a step-ca webhook server: may the device with
//! this permanent identifier (usually a hardware serial number) get a certificate, and
//! what do we know about it? The answer is a [`Decision`]: allowed, with optional
//! [`Enrichment`] data that step-ca certificate templates can use, or denied with a stable
//! machine code and a human message. When a provider cannot answer at all, it returns a
//! [`ProviderError`] that says whether the failure is transient (worth a retry) or not.
//!
//! Several providers combine into one with a [`PolicyProvider`]: under [`Policy::All`] every
//! provider must allow, under [`Policy::Any`] one suffices; enrichment data is merged under
//! each provider's name.
//!
//! A provider crate also exports a [`ProviderKind`]: its `PROVIDER` name, its settings
//! (declared with [`posture_settings`]) and how to build it, so a server composes providers
//! from a list without naming their types.
//!
//! This crate has no HTTP client, no async runtime and no MDM specifics, so third parties
//! can implement a provider without pulling in anything they don't use.
//!
//! ```
//! use posture_core::{Decision, DenyCode, Enrichment, LookupRequest, PostureProvider, ProviderError};
//!
//! /// Allows exactly one device.
//! #[derive(Debug)]
//! struct OneDevice;
//!
//! impl PostureProvider for OneDevice {
//!     fn name(&self) -> &str {
//!         "one-device"
//!     }
//!
//!     async fn lookup(&self, request: &LookupRequest) -> Result<Decision, ProviderError> {
//!         if request.identifier() == "C02XL0GJJG5J" {
//!             let data = Enrichment::from_json(r#"{"user":"alice"}"#)?;
//!             Ok(Decision::allow_with(data))
//!         } else {
//!             Ok(Decision::deny(DenyCode::DEVICE_NOT_FOUND, "device is not in the inventory"))
//!         }
//!     }
//! }
//!
//! # tokio_test();
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn tokio_test() {
//! let decision = OneDevice.lookup(&LookupRequest::new("C02XL0GJJG5J")).await.unwrap();
//! assert!(decision.is_allowed());
//! # }
//! ```

mod decision;
mod enrichment;
mod error;
mod kind;
mod policy;
mod provider;
mod request;
mod version;

pub use decision::{Decision, DenyCode, InvalidDenyCode};
pub use enrichment::{Enrichment, InvalidEnrichment};
pub use error::{ErrorKind, ProviderError, find_cause};
pub use kind::{
    BuildError, BuiltProvider, Configure, CounterSample, DeviceRefresher, Kind, ProviderCounters,
    ProviderKind, ProviderSetup, ReloadFailure, ReloadableList,
};
pub use policy::{Policy, PolicyError, PolicyProvider, UnknownPolicy};
pub use provider::{BoxFuture, DynPostureProvider, PostureProvider};
pub use request::{DeviceMode, LookupRequest, UnknownDeviceMode, WebhookKind};
pub use version::FileVersion;

/// The settings layer providers declare their variables with.
pub use posture_settings;

/// Compiles the README's examples.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
