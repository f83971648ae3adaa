//! A [`PostureProvider`](posture_core::PostureProvider) for any inventory with a REST API
//! that answers JSON — an asset system such as [Snipe-IT](https://snipeitapp.com), a CMDB —
//! configured without code (`PROVIDER=http`).
//!
//! ```
//! use posture_core::{LookupRequest, PostureProvider};
//! use posture_fakes::snipeit::{FakeAsset, FakeSnipeIt};
//! use posture_http_inventory::{HttpInventoryConfig, HttpInventoryProvider};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let snipe = FakeSnipeIt::start().await?; // a fake Snipe-IT on 127.0.0.1
//! snipe.add_asset(FakeAsset::new("C02XL0GJJG5J"));
//! snipe.add_asset(FakeAsset::new("C02INSTOCK01").with_status("Ready to Deploy", "deployable"));
//!
//! let mut env = snipe.env_vars(); // HTTP_URL, HTTP_HEADERS, HTTP_RECORD=/rows/0, HTTP_MATCH=/serial
//! env.push(("HTTP_REQUIRE".into(), "/status_label/status_meta=deployed".into()));
//! env.push(("HTTP_ENRICH".into(), "user=/assigned_to/username,location=/location/name".into()));
//! let config = HttpInventoryConfig::from_env(|name| {
//!     env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
//! })?;
//! let provider = HttpInventoryProvider::new(config)?;
//! provider.check_ready().await?;
//!
//! let mac = provider.lookup(&LookupRequest::new("C02XL0GJJG5J")).await?;
//! assert_eq!(mac.enrichment().unwrap().to_value(), serde_json::json!({"user": "alice", "location": "HQ"}));
//!
//! let in_stock = provider.lookup(&LookupRequest::new("C02INSTOCK01")).await?;
//! assert_eq!(in_stock.deny_code().map(|c| c.as_str()), Some("notCompliant"));
//! let unknown = provider.lookup(&LookupRequest::new("C02UNKNOWN01")).await?;
//! assert_eq!(unknown.deny_code().map(|c| c.as_str()), Some("deviceNotFound"));
//! # Ok(())
//! # }
//! ```
//!
//! # What a lookup does
//!
//! 1. **Identifier hygiene.** The identifier must look like an Apple serial number (8 to 14
//!    ASCII letters and digits, upper-cased); anything else is denied with
//!    `invalidIdentifier` and the inventory is not called.
//! 2. **Lookup**, through the cache: `GET` the [`UrlTemplate`] of `HTTP_URL` with
//!    `{identifier}` (and `{mode}`: `computer`, `mobiledevice`, `auto` or empty) replaced,
//!    percent-encoded, with `Accept: application/json` and every `HTTP_HEADERS` header.
//! 3. **The record** is the value at the JSON pointer `HTTP_RECORD` (default: the whole
//!    answer). A 404, or an answer without that value (or `null` there), is
//!    `deviceNotFound`. Snipe-IT answers an unknown serial with **200**
//!    `{"status":"error","messages":"Asset does not exist.","payload":null}`; that has no
//!    `/rows/0`, so it is `deviceNotFound`, and the message quotes `messages`. Newer
//!    versions' `{"total":0,"rows":[]}` and a 404 come to the same.
//! 4. **Exact re-check.** The field at `HTTP_MATCH` in the record must equal the serial
//!    (ignoring ASCII case; a number is compared as its text). Required, so that a search
//!    API that returns the nearest match, or ignores its filter, can't allow another device:
//!    a mismatch is `deviceNotFound`, naming what was found.
//! 5. **Conditions.** Every `HTTP_REQUIRE` condition must hold: `pointer=value` (the field's
//!    text — a string as it is, a number or boolean as JSON writes it — equals `value`) or
//!    `pointer` (the field is JSON `true`). The first that fails is a `notCompliant` deny
//!    naming the condition and the value found.
//! 6. **Allowed**, with the enrichment object `HTTP_ENRICH` builds: each `name=pointer` pair
//!    puts the field (any JSON value) under `name`; absent and `null` fields are left out.
//!    Without `HTTP_ENRICH` (or with `0`), no enrichment.
//!
//! # Errors
//!
//! No answer within `TIMEOUT`, connection failures, 5xx, 408 and 429 (with its
//! `Retry-After`, honoured up to `HTTP_MAX_RETRY_AFTER`) are transient
//! [`ProviderError`](posture_core::ProviderError)s: the server answers 503 and step-ca
//! retries once. 401 and 403 (credentials in `HTTP_HEADERS`), other statuses, redirects
//! (never followed) and answers that are not JSON are permanent.
//!
//! # Secrets
//!
//! Credentials belong in `HTTP_HEADERS` (or `HTTP_HEADERS_FILE`): header values are marked
//! sensitive, never logged, and `check-config` shows the headers' names only. The URL is
//! shown and logged (its path), so don't put an API key in it.
//!
//! # Readiness
//!
//! The readiness check asks about the serial `READINESSPROBE`: a 200 or a 404 proves the URL
//! and the credentials. A success counts for a minute and a failure for 10 s.
//!
//! # Caching
//!
//! Decisions are cached per serial (and mode, when the URL has `{mode}`): allowed answers for
//! `HTTP_CACHE_TTL` (60 s), denies for `HTTP_NEGATIVE_CACHE_TTL` (10 s); `0` disables
//! either. Concurrent lookups of one serial make one request. Errors are never cached.
//!
//! Built with `--cfg fuzzing`, as `cargo fuzz` builds it, the crate has a `fuzzing` module:
//! the decision from an answer under any rules as a plain function, for the fuzz targets in
//! the repository's `fuzz/`.

mod config;
mod error;
#[cfg(any(fuzzing, test))]
pub mod fuzzing;
mod kind;
mod provider;
mod template;

pub use config::{DEFAULT_CACHE_TTL, DEFAULT_NEGATIVE_CACHE_TTL, HttpInventoryConfig};
pub use error::HttpInventoryError;
pub use kind::{KIND, SETTINGS};
pub use posture_http::CacheStats;
pub use provider::{HttpInventoryProvider, HttpInventoryStats};
pub use template::{Condition, UrlTemplate, check_pointer};

/// Compiles the README's examples.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
