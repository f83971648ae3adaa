//! A [`PostureProvider`](posture_core::PostureProvider) backed by Mosyle (Mosyle Manager or
//! Mosyle Business).
//!
//! step-ca asks, for each Apple-attested device, whether it may get a certificate; this
//! provider answers by looking the attested serial number up in Mosyle.
//!
//! ```
//! use posture_core::{DeviceMode, LookupRequest, PostureProvider};
//! use posture_fakes::mosyle::{FakeMosyle, FakeMosyleDevice, FakeMosyleGroup};
//! use posture_mosyle::{Group, MosyleConfig, MosyleProvider};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mosyle = FakeMosyle::start().await?; // a fake Mosyle on 127.0.0.1
//! mosyle.add_device(FakeMosyleDevice::new("C02XL0GJJG5J"));
//! mosyle.add_device(FakeMosyleDevice::new("C02OTHER0001"));
//! mosyle.add_group(FakeMosyleGroup::new("210", "Staff Macs", &["UDID-C02XL0GJJG5J"]));
//!
//! let c = mosyle.connection();
//! let config = MosyleConfig::new(&c.manager_url, c.access_token, c.email, c.password)?
//!     .with_groups([Group::parse("Staff Macs")]);
//! let provider = MosyleProvider::new(config)?;
//! provider.check_ready().await?; // logs in
//!
//! let mac = LookupRequest::new("C02XL0GJJG5J").with_mode(DeviceMode::Computer);
//! let decision = provider.lookup(&mac).await?;
//! assert_eq!(decision.enrichment().unwrap().to_value()["user"]["email"], "betty@school.example");
//!
//! let other = provider.lookup(&LookupRequest::new("C02OTHER0001")).await?;
//! assert_eq!(other.deny_code().map(|c| c.as_str()), Some("notCompliant")); // not in the group
//! # Ok(())
//! # }
//! ```
//!
//! # What a lookup does
//!
//! 1. **Identifier hygiene.** The identifier must look like an Apple serial number (8 to 14
//!    ASCII letters and digits, upper-cased); anything else, a UDID notably, is denied with
//!    `invalidIdentifier` and Mosyle is not called.
//! 2. **Login**, once a day: `POST <MOSYLE_API_URL>/login` with the access token, the
//!    administrator's email and password; the JWT comes back in the `Authorization`
//!    response header and lives 24 hours. It is renewed an hour before it expires, by one
//!    login however many lookups need it (single-flight), and once more when Mosyle answers
//!    401 to it.
//! 3. **Lookup**, through the cache: Mosyle Manager `POST /listdevices`, Mosyle Business
//!    `POST /devices` with `"operation": "list"`, each with `options.os` and
//!    `options.serial_numbers: [<serial>]`, the JWT as a bearer token and the access token
//!    in the body (and an `accessToken` header, which Business reads). `os` comes from the
//!    webhook's `mode`: `computer` → `mac`, `mobiledevice` → `ios`, `auto` (and no mode) →
//!    `mac`, `ios`, `tvos`, `visionos` in turn until one has the device.
//! 4. **Exact re-check.** The `serial_numbers` filter may be ignored, so every device
//!    returned is compared with the serial exactly (ignoring case). When a full page came
//!    back without it, the next page is read (at most 10), stopping at a short page or one
//!    that repeats the last. `DEVICES_NOTFOUND` (at the top or inside `response`) and an
//!    empty list both mean not found: `deviceNotFound`.
//! 5. **Decision**: `is_deleted` → `notManaged`; a `status` other than `INSTALLED` or
//!    `ENROLLED` (any case) → `notManaged`, naming it; with `MOSYLE_GROUPS`, a device whose
//!    UDID is in none of those device groups → `notCompliant`, naming them. Group names are
//!    resolved to IDs with `POST /listdevicegroups` (for the device's `os`), members read
//!    with `POST /listdevicesbygroup` (`udids`; `deviceudids` accepted too).
//! 6. **Allowed**, with this enrichment data unless `MOSYLE_ENRICH=0` (every value a
//!    string, empty when Mosyle has none):
//!
//!    ```json
//!    {
//!      "device": {"udid": "001DFCEB-…", "name": "Betty's MacBook", "serial_number": "C02ABC123DEF",
//!                 "os": "mac", "os_version": "14.4.1", "asset_tag": ""},
//!      "user": {"id": "betty", "name": "Betty Jackson", "email": "betty@school.org", "type": "STAFF"},
//!      "tags": ["staff", "macs"]
//!    }
//!    ```
//!
//! # What is accepted where the documentation is unsure
//!
//! - `status`: Mosyle's example shows `ENROLLED`; the one working client seen treats
//!   `INSTALLED` as managed. Both are accepted; anything else is not managed.
//! - Values arrive as strings (`"1"`/`"0"`, `"rows":"1328"`); numbers and booleans are
//!   accepted too. `tags` may be a comma-separated string or a list.
//! - `response` may be an object (Manager) or a list of objects (Business).
//! - Not found may be `DEVICES_NOTFOUND` or an empty list; any other `status` than `OK`
//!   (`MISSING_DATA`, …) is a permanent error naming it.
//! - `page` is documented as starting at 0 while the example answers `"page": 1`: the next
//!   page asked is the one after the page the answer names.
//!
//! # Errors
//!
//! No answer within `TIMEOUT`, connection failures, 5xx, 408 and 429 (with its
//! `Retry-After`, honoured up to `MOSYLE_MAX_RETRY_AFTER`) are transient
//! [`ProviderError`](posture_core::ProviderError)s: the server answers 503 and step-ca
//! retries once. A refused login, a 403, a URL that isn't Mosyle's (404), a redirect and
//! malformed answers are permanent. Nothing from Mosyle can cause a panic.
//!
//! # Caching
//!
//! Decisions are cached per serial and mode: allowed answers for `MOSYLE_CACHE_TTL` (60 s),
//! denies for `MOSYLE_NEGATIVE_CACHE_TTL` (10 s); `0` disables either. Concurrent lookups
//! of one serial make one request. Errors are never cached.
//!
//! Built with `--cfg fuzzing`, as `cargo fuzz` builds it, the crate has a `fuzzing` module:
//! the readers of Mosyle's answers and the decision from a device list as plain functions,
//! for the fuzz targets in the repository's `fuzz/`.

mod config;
mod error;
#[cfg(any(fuzzing, test))]
pub mod fuzzing;
mod kind;
mod model;
mod provider;

pub use config::{
    BUSINESS_API_URL, DEFAULT_API_URL, DEFAULT_CACHE_TTL, DEFAULT_NEGATIVE_CACHE_TTL,
    DEFAULT_TIMEOUT, Flavor, Group, MosyleConfig, MosyleConfigError,
};
pub use error::MosyleError;
pub use kind::{KIND, SETTINGS};
pub use posture_http::CacheStats;
pub use provider::{MosyleProvider, MosyleStats, TOKEN_LIFETIME};

/// Compiles the README's examples.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
