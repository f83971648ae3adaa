//! A [`PostureProvider`](posture_core::PostureProvider) backed by Jamf Pro.
//!
//! step-ca asks, for each Apple-attested device, whether it may get a certificate; this
//! provider answers by looking the attested serial number up in Jamf Pro. It is a drop-in
//! replacement for the Jamf provider of the Go step-posture-connector: the same variables
//! ([`JamfConfig::from_env`]), the same allow and deny results, and the same enrichment
//! JSON for certificate templates.
//!
//! ```
//! use posture_core::{DeviceMode, LookupRequest, PostureProvider};
//! use posture_fakes::jamf::{FakeDevice, FakeJamf};
//! use posture_jamf::{JamfConfig, JamfProvider};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let jamf = FakeJamf::start().await?; // a fake Jamf Pro on 127.0.0.1
//! jamf.add_mobile_device(FakeDevice::new("DMPXK2ABCD12").with_groups(["Compliant iPhones"]));
//!
//! let c = jamf.connection();
//! let config = JamfConfig::new(&c.base_url, c.client_id, c.client_secret)?
//!     .with_device_group("Compliant iPhones")
//!     .with_device_enrich(true);
//! let provider = JamfProvider::new(config)?;
//! provider.check_ready().await?;
//!
//! // No mode in the request: mobile devices, as in the Go version.
//! let decision = provider.lookup(&LookupRequest::new("DMPXK2ABCD12")).await?;
//! let data = decision.enrichment().unwrap().to_value();
//! assert_eq!(data["device"]["serial_number"], "DMPXK2ABCD12");
//! assert_eq!(data["groups"][0], "Compliant iPhones");
//!
//! // A UDID is refused before any call to Jamf.
//! let denied = provider.lookup(&LookupRequest::new("00008103-001A2B3C4D5E001E")).await?;
//! assert_eq!(denied.deny_code().map(|c| c.as_str()), Some("invalidIdentifier"));
//!
//! // Auto mode tries computers, then mobile devices.
//! let auto = LookupRequest::new("DMPXK2ABCD12").with_mode(DeviceMode::Auto);
//! assert!(provider.lookup(&auto).await?.is_allowed());
//! # Ok(())
//! # }
//! ```
//!
//! # What a lookup does
//!
//! 1. **Identifier hygiene.** The identifier must look like an Apple serial number: 8 to 14
//!    ASCII letters and digits (the Go version's rule). Lower case is accepted and
//!    upper-cased. Anything else (notably a UDID, which Jamf can't be searched by here) is
//!    denied with `invalidIdentifier` and a reason, and Jamf is not called.
//! 2. **Mode.** `computer` or `mobiledevice` picks the inventory; no mode means
//!    `JAMF_DEFAULT_MODE` (`mobiledevice` unless set); `auto` tries computers, then mobile
//!    devices, so one step-ca provisioner serves Macs and iPhones.
//! 3. **Lookup**, through the cache (see below), at the endpoint [`JamfApi`] picks for the
//!    device family: by default the Jamf Pro API's `GET /api/v4/computers-inventory` (v3 and
//!    v1 on older releases) with the RSQL filter `hardware.serialNumber=="…"`, and
//!    `GET /api/v2/mobile-devices/detail` with `serialNumber=="…"`, asking only for the
//!    sections needed; or the Classic API's `serialnumber/{serial}/subset/…` routes. The serial
//!    is checked again in every answer. At most `JAMF_MAX_CONNECTIONS` requests are in flight.
//!    **A missing route is never a missing device**: a Classic 404 is confirmed with the
//!    collection's `match` route, a Jamf Pro API 404 means the route is gone, and a family with
//!    no endpoint left is a transient error naming it.
//! 4. **Decision.** Not found: `deviceNotFound`. Not managed, or the record doesn't say:
//!    `notManaged`. Not in
//!    the configured compliance group (`JAMF_COMPUTER_GROUP` / `JAMF_DEVICE_GROUP`, exact
//!    name): `notCompliant`, with the Go message
//!    `<serial> is not a member of supplied compliance group "<group>"`. Otherwise allowed,
//!    with enrichment data when `JAMF_COMPUTER_ENRICH` / `JAMF_DEVICE_ENRICH` is on for that
//!    kind:
//!    `{"device":{"udid","serial_number","name"},"user":{"username","realname",
//!    "email_address","position","department"},"groups":[…]}`.
//!    With the Jamf Pro API, a computer's department name is resolved from its ID with
//!    `GET /api/v1/departments/{id}` and cached for an hour.
//! 5. **Errors.** No answer within `TIMEOUT`, connection failures, 5xx and 429 (with its
//!    `Retry-After`) are transient [`ProviderError`](posture_core::ProviderError)s: the
//!    server answers 503 and step-ca retries once. Refused credentials, a missing privilege
//!    (403) and malformed answers are permanent. Nothing from Jamf can cause a panic.
//!
//! # Tokens
//!
//! OAuth client credentials (`POST /api/oauth/token`). The token is cached and renewed 30 s
//! before it expires (or at half its life, if shorter). However many lookups find no valid
//! token at once, one token request is made. A 401 on a lookup invalidates the token,
//! renews it once and retries once.
//!
//! # Caching
//!
//! Decisions are cached per device kind and serial: allowed answers for `JAMF_CACHE_TTL`
//! (60 s), denies for `JAMF_NEGATIVE_CACHE_TTL` (10 s); `0` disables either. Concurrent
//! lookups of the same serial make one Jamf call. Errors are never cached.
//!
//! # Differences from the Go version
//!
//! - `JAMF_COMPUTER_ENRICH` governs computers (Go read `JAMF_DEVICE_ENRICH` for both).
//! - `groups` in the enrichment always lists the device's groups (Go filled it only when a
//!   compliance group was configured, and sent `null` otherwise).
//! - Unmanaged devices are denied with `notManaged` (Go didn't check).
//! - Serials are upper-cased before the lookup; `JAMF_CLIENT_ID` needn't be a UUID.
//! - The default `TIMEOUT` is 4 s (Go: 10 s), so step-ca's retry fits in its 10 s budget.
//! - The Jamf Pro API by default (the Go version's Classic computer endpoints are deprecated).
//! - New: `auto` mode, caching, a connection cap, `JAMF_CLIENT_SECRET_FILE`, `JAMF_CA_PATH`.
//!
//! # Crate features
//!
//! - `ring` (default): the HTTP client uses rustls's *ring* provider; without it, the
//!   provider the program installs as the process default (see posture-http's README).
//!
//! Built with `--cfg fuzzing`, as `cargo fuzz` builds it, the crate has a `fuzzing` module:
//! the response parsers as plain functions, for the fuzz targets in the repository's `fuzz/`.
//!
//! The fake Jamf Pro the tests and examples use is `posture_fakes::jamf::FakeJamf`, in the
//! repository's unpublished `posture-fakes` crate.

mod client;
mod config;
mod error;
#[cfg(any(fuzzing, test))]
pub mod fuzzing;
mod kind;
mod model;
mod provider;
mod routes;

pub use config::{
    ConfigProblem, DEFAULT_CACHE_TTL, DEFAULT_MAX_CONNECTIONS, DEFAULT_NEGATIVE_CACHE_TTL,
    DEFAULT_TIMEOUT, DEPARTMENT_CACHE_TTL, JamfApi, JamfConfig, JamfConfigError,
    STEP_CA_ATTEMPT_BUDGET, UnknownJamfApi,
};
pub use error::JamfError;
pub use kind::{KIND, SETTINGS};
pub use posture_http::{CacheStats, TokenStats};
pub use provider::{JamfProvider, JamfStats};

/// Compiles the README's examples.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
