//! A [`PostureProvider`](posture_core::PostureProvider) backed by Kandji (now branded Iru).
//!
//! step-ca asks, for each Apple-attested device, whether it may get a certificate; this
//! provider answers by looking the attested serial number up in Kandji.
//!
//! ```
//! use posture_core::{LookupRequest, PostureProvider};
//! use posture_fakes::kandji::{FakeKandji, FakeKandjiDevice};
//! use posture_kandji::{Blueprint, KandjiConfig, KandjiProvider};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let kandji = FakeKandji::start().await?; // a fake Kandji on 127.0.0.1
//! kandji.add_device(FakeKandjiDevice::new("FVHHFKF7Q6L4"));
//! kandji.add_device(FakeKandjiDevice::iphone("DMPXK2ABCD12")); // no user: "user": ""
//!
//! let c = kandji.connection();
//! let config = KandjiConfig::new(&c.api_url, c.api_token)?
//!     .with_blueprints([Blueprint::parse("Engineering Macs")]);
//! let provider = KandjiProvider::new(config)?;
//! provider.check_ready().await?;
//!
//! let mac = provider.lookup(&LookupRequest::new("FVHHFKF7Q6L4")).await?;
//! assert_eq!(mac.enrichment().unwrap().to_value()["user"]["email"], "alice@example.com");
//!
//! let iphone = provider.lookup(&LookupRequest::new("DMPXK2ABCD12")).await?;
//! assert_eq!(iphone.deny_code().map(|c| c.as_str()), Some("notCompliant")); // other blueprint
//! # Ok(())
//! # }
//! ```
//!
//! # What a lookup does
//!
//! 1. **Identifier hygiene.** The identifier must look like an Apple serial number (8 to 14
//!    ASCII letters and digits, upper-cased); anything else, a UDID notably, is denied with
//!    `invalidIdentifier` and Kandji is not called.
//! 2. **Lookup**, through the cache: `GET /api/v1/devices?serial_number=<serial>&limit=300`
//!    with the API token as a bearer token, and `ordering=serial_number,device_id` so that
//!    every page comes in the same, total order.
//! 3. **Exact re-check.** Kandji's `serial_number` filter is a *contains* match, so every
//!    device returned is compared with the serial exactly (ignoring case); the others are
//!    dropped. A full page of 300 may hide the exact serial (or a second record of it)
//!    behind longer ones, so pages are read with `offset` until one comes back short: at
//!    most 5 pages (1500 devices), after which the lookup is a permanent error rather than
//!    a guess. None left: `deviceNotFound`. Several records with the serial (re-enrolment):
//!    one not removed wins, then the most recent `last_check_in`.
//! 4. **Decision**, in this order: `is_removed` → `notManaged`; MDM not enabled (with
//!    `KANDJI_REQUIRE_MDM`, on by default) → `notManaged`; a Mac without the Kandji agent
//!    (with `KANDJI_REQUIRE_AGENT`, off by default; iPhones and iPads have no agent and are
//!    not held to it) → `notCompliant`; flagged `is_missing` (with `KANDJI_DENY_MISSING`,
//!    off by default) → `notCompliant`; outside `KANDJI_BLUEPRINTS` (when set) →
//!    `notCompliant`, naming the device's blueprint. Kandji's booleans are read whether they
//!    come as JSON booleans or as its strings `"True"` / `"False"`; an unknown value fails
//!    the check (closed).
//! 5. **Allowed**, with this enrichment data unless `KANDJI_ENRICH=0` (every value a
//!    string; the user's fields are empty when no user is assigned, which Kandji writes as
//!    `"user": ""`):
//!
//!    ```json
//!    {
//!      "device": {"id": "03f81208-…", "name": "Alice's MacBook Air", "serial_number": "FVHHFKF7Q6L4",
//!                 "model": "MacBook Air (M1, 2020)", "platform": "Mac", "os_version": "14.4.1",
//!                 "asset_tag": "", "last_check_in": "2024-07-23T14:11:37.150080Z"},
//!      "blueprint": {"id": "ab102b9d-…", "name": "Engineering Macs"},
//!      "user": {"id": "5344c996-…", "name": "Alice Example", "email": "alice@example.com"},
//!      "tags": ["engineering"]
//!    }
//!    ```
//!
//! # Missing devices
//!
//! Kandji flags a device `is_missing` when it hasn't checked in for longer than the tenant's
//! threshold. That is not a deny by default: a device asking for a certificate through its
//! MDM profile is talking to the MDM right now, and the flag clears only at the next
//! inventory check-in, so a laptop back from a long trip would be refused for no fault of
//! its own. Tenants that want the stricter rule set `KANDJI_DENY_MISSING=1`.
//!
//! # Hosts: Kandji is now Iru
//!
//! Tenants' API hosts are `https://<tenant>.api.iru.com` (US) and
//! `https://<tenant>.api.eu.iru.com` (EU). The older `<tenant>.api.kandji.io`,
//! `<tenant>.api.eu.kandji.io` and `<tenant>.clients.kandji.io` still answer, and are
//! accepted, but Iru's own tools warn that kandji.io support will stop working in a future
//! version: [`KandjiConfig::warnings`] says so and names the Iru URL to set, and the server
//! logs it at start-up. A host that answers a redirect is a permanent error naming the
//! `Location`'s host; the redirect is never followed, so the API token goes only where
//! `KANDJI_API_URL` points.
//!
//! # `KANDJI_BLUEPRINTS`
//!
//! A comma-separated allowlist. An entry that is a GUID is a blueprint ID, compared with the
//! device's `blueprint_id` (any case); anything else is a blueprint name, compared exactly
//! with `blueprint_name`. IDs survive a rename; names are easier to read. A name that
//! contains a comma must be given by its ID.
//!
//! # Errors
//!
//! No answer within `TIMEOUT`, connection failures, 5xx, 408 and 429 (with its
//! `Retry-After`) are transient [`ProviderError`](posture_core::ProviderError)s: the server
//! answers 503 and step-ca retries once. A refused token (401), a missing permission (403),
//! a URL that isn't Kandji's API (404), a redirect (named, never followed) and malformed
//! answers are permanent. Nothing from Kandji can cause a panic.
//!
//! # API token permissions
//!
//! Create an API token in Kandji (Settings › Access › API Token) with one permission:
//! **Devices › Device list** (`GET /api/v1/devices`). The list carries the blueprint and the
//! user, so nothing else is needed.
//!
//! # Caching and the rate limits
//!
//! Kandji allows 50 requests a second and 10 000 an hour per tenant, shared by every
//! integration. At most `KANDJI_MAX_REQUESTS_PER_SECOND` (50) requests go out in any 1.1 s;
//! a lookup whose turn would come after its `TIMEOUT` fails at once, transiently, without a
//! request. When an answer says `X-RateLimit-Remaining-Hour: 0`, nothing is sent until
//! `RateLimit-Reset` has passed; a `Retry-After` is honoured up to `KANDJI_MAX_RETRY_AFTER`
//! (60 s), and when either wait ends one request goes first. Decisions are cached per serial: allowed answers for `KANDJI_CACHE_TTL` (60 s), denies for
//! `KANDJI_NEGATIVE_CACHE_TTL` (10 s); `0` disables either. Concurrent lookups of one serial
//! make one request (step-ca's enriching and authorizing calls for one order cost one).
//! Errors are never cached. Each device therefore costs at most one request per TTL.
//!
//! # Crate features
//!
//! - `ring` (default): the HTTP client uses rustls's *ring* provider; without it, the
//!   provider the program installs as the process default (see posture-http's README).
//!
//! Built with `--cfg fuzzing`, as `cargo fuzz` builds it, the crate has a `fuzzing` module:
//! the readers of the MDM's answers as plain functions, for the fuzz targets in the repository's `fuzz/`.
//!
//! The fake Kandji the tests use is `posture_fakes::kandji::FakeKandji`, in the
//! repository's unpublished `posture-fakes` crate.

mod config;
mod error;
#[cfg(any(fuzzing, test))]
pub mod fuzzing;
mod kind;
mod model;
mod provider;

pub use config::{
    ApiHost, Blueprint, DEFAULT_CACHE_TTL, DEFAULT_NEGATIVE_CACHE_TTL, DEFAULT_TIMEOUT,
    KandjiConfig, KandjiConfigError, MAX_REQUESTS_PER_SECOND,
};
pub use error::KandjiError;
pub use kind::{KIND, SETTINGS};
pub use posture_http::CacheStats;
pub use posture_http::env::ConfigProblem;
pub use provider::{KandjiProvider, KandjiStats};

/// Compiles the README's examples.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
