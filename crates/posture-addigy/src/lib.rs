//! A [`PostureProvider`](posture_core::PostureProvider) backed by Addigy's API v2.
//!
//! step-ca asks, for each Apple-attested device, whether it may get a certificate; this
//! provider answers by searching Addigy's devices for the attested serial number.
//!
//! ```
//! use posture_core::{LookupRequest, PostureProvider};
//! use posture_fakes::addigy::{FakeAddigy, FakeAddigyDevice};
//! use posture_addigy::{AddigyConfig, AddigyProvider};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let addigy = FakeAddigy::start().await?; // a fake Addigy on 127.0.0.1
//! addigy.add_device(FakeAddigyDevice::new("C02XL0GJJG5J"));
//! addigy.add_device(FakeAddigyDevice::new("C02NONCOMP01").with_compliant(false));
//!
//! let c = addigy.connection();
//! let config = AddigyConfig::new(&c.api_url, c.api_token)?
//!     .with_policies(["Staff Macs"])
//!     .with_require_compliant(true);
//! let provider = AddigyProvider::new(config)?;
//! provider.check_ready().await?;
//!
//! let mac = provider.lookup(&LookupRequest::new("C02XL0GJJG5J")).await?;
//! assert_eq!(mac.enrichment().unwrap().to_value()["user"]["email"], "jason@example.com");
//! let other = provider.lookup(&LookupRequest::new("C02NONCOMP01")).await?;
//! assert_eq!(other.deny_code().map(|c| c.as_str()), Some("notCompliant"));
//! # Ok(())
//! # }
//! ```
//!
//! # What a lookup does
//!
//! 1. **Identifier hygiene.** The identifier must look like an Apple serial number (8 to 14
//!    ASCII letters and digits, upper-cased); anything else, a UDID notably, is denied with
//!    `invalidIdentifier` and Addigy is not called.
//! 2. **Lookup**, through the cache and the client-side rate limit:
//!    `POST <ADDIGY_API_URL>/api/v2/devices` with
//!    `{"page":1,"per_page":100,"query":{"filters":[{"audit_field":"serial_number",
//!    "operation":"=","type":"string","value":"<serial>"}]}}`. The token goes as
//!    `Authorization: Bearer` (Addigy's migration guide); on a 401 the same request is sent
//!    once with `x-api-key` (what Swagger-based clients send), and the style that works is
//!    kept for later requests.
//! 3. **Exact re-check.** The filter's element shape is not documented firmly, so every
//!    device returned is compared with the serial exactly (its `serial_number` fact,
//!    ignoring case). While none matched and `metadata.page_count` says more pages follow,
//!    the next page is read, at most 5; past that, a permanent error rather than a guess.
//!    None left: `deviceNotFound`.
//! 4. **Decision**: a `has_mdm` fact that is false → `notManaged` (a device without the MDM
//!    profile can't have done Managed Device Attestation; without the fact, not checked);
//!    outside `ADDIGY_POLICIES` (when set; a policy ID, any case, or a name, exactly) →
//!    `notCompliant`, naming the device's policy; with `ADDIGY_REQUIRE_COMPLIANT=1`, an
//!    `is_compliant` fact that isn't true (or is missing) → `notCompliant`.
//! 5. **Allowed**, with this enrichment data unless `ADDIGY_ENRICH=0`:
//!
//!    ```json
//!    {
//!      "device": {"id": "114x11c3-…", "name": "Jasons-iMac", "serial_number": "C02ABC123DEF",
//!                 "model": "iMac", "os_version": "14.4.1"},
//!      "user": {"email": "jason@example.com"},
//!      "policies": {"ids": ["5b5b…"], "names": ["Staff Macs"]},
//!      "compliant": "true"
//!    }
//!    ```
//!
//! # What is accepted where the documentation is unsure
//!
//! - Facts are `{"value": …}` objects; bare values are read too. Booleans may be JSON
//!   booleans or strings (`"true"`, `"1"`).
//! - Fact names: serial `serial_number` (or `device_serial_number`); model
//!   `device_model_name` (or `hardware_model`, `product_name`); user `identity_email` (or
//!   `user_email`, `assigned_user`); compliance `is_compliant`; MDM `has_mdm`.
//! - Policies: `policy_id`, `policy_ids`, `policies` (IDs, or `{"id","name"}` objects) and
//!   `policy_name`, `policy_names`, read from the facts and from the item itself.
//! - `ADDIGY_API_URL` may also name `…/api/v2` or an organisation's `…/api/v2/o/<org id>`;
//!   `devices` is then appended to it.
//!
//! # Addigy's rate limit
//!
//! Addigy allows 1,000 requests per 10 s per key, and a key that goes over is **blocked for
//! 24 hours**. Every request (readiness checks and auth fallbacks included) therefore takes
//! a slot of a client-side limit: at most `ADDIGY_MAX_REQUESTS_PER_SECOND` (default 20,
//! at most 50) in any 1.1 s, so never more than half of Addigy's limit in any 10 s. A lookup
//! whose slot would come after its `TIMEOUT` fails at once, transiently, without a request.
//! A 429 stops every request for its `Retry-After` (or, without one, for
//! `ADDIGY_MAX_RETRY_AFTER`), then one request probes.
//!
//! # Errors
//!
//! No answer within `TIMEOUT`, connection failures, 5xx, 408 and 429 are transient
//! [`ProviderError`](posture_core::ProviderError)s: the server answers 503 and step-ca
//! retries once. A token refused in both forms (401), a missing permission (403), a URL
//! that isn't Addigy's (404), a redirect and malformed answers are permanent.
//!
//! # Caching
//!
//! Decisions are cached per serial: allowed answers for `ADDIGY_CACHE_TTL` (60 s), denies
//! for `ADDIGY_NEGATIVE_CACHE_TTL` (10 s); `0` disables either. Concurrent lookups of one
//! serial make one request. Errors are never cached.
//!
//! Built with `--cfg fuzzing`, as `cargo fuzz` builds it, the crate has a `fuzzing` module:
//! the reader of Addigy's device search and the decision from it as plain functions, for the
//! fuzz targets in the repository's `fuzz/`.

mod config;
mod error;
#[cfg(any(fuzzing, test))]
pub mod fuzzing;
mod kind;
mod model;
mod provider;

pub use config::{
    ADDIGY_LIMIT_PER_10_SECONDS, AddigyConfig, AddigyConfigError, DEFAULT_API_URL,
    DEFAULT_CACHE_TTL, DEFAULT_NEGATIVE_CACHE_TTL, DEFAULT_REQUESTS_PER_SECOND, DEFAULT_TIMEOUT,
    MAX_REQUESTS_PER_SECOND,
};
pub use error::AddigyError;
pub use kind::{KIND, SETTINGS};
pub use posture_http::CacheStats;
pub use provider::{AddigyProvider, AddigyStats, AuthStyle};

/// Compiles the README's examples.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
