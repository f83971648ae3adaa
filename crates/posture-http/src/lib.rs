//! HTTP plumbing shared by the MDM posture providers (Jamf Pro, Intune, Kandji, Fleet, Mosyle,
//! Addigy and the HTTP inventory).
//!
//! Everything a provider needs between "a lookup request" and "a JSON answer from the MDM",
//! so each provider crate holds only what is specific to its API:
//!
//! - [`BaseUrl`]: a validated tenant URL (https, or http on loopback only; path prefix and
//!   trailing slash handled);
//! - [`ClientOptions`] and [`HttpClient`]: one pooled hyper client per provider, over rustls
//!   with the *ring* crypto provider passed explicitly (nothing installed process-wide), the Mozilla roots plus an optional private [`CaBundle`], connect, read
//!   and total timeouts, and no redirects;
//! - [`TokenCache`]: a single-flight OAuth bearer-token cache that renews before expiry and
//!   can be invalidated after a 401;
//! - [`LookupCache`]: a moka cache with separate TTLs for positive and negative answers that
//!   coalesces concurrent lookups of the same key and never stores errors;
//! - [`status_error`], [`transport_error`], [`decode_json`], [`read_body`]: turning HTTP
//!   outcomes into [`posture_core::ProviderError`]s, transient (connect errors, timeouts, 5xx,
//!   408, 429 with `Retry-After`) or permanent (401, 403, other 4xx, unparsable bodies);
//! - [`TokenStats`] and [`CacheStats`]: counter snapshots a server can export as metrics,
//!   as the samples every provider names alike ([`lookup_counters`], [`decision_counters`]);
//! - [`oauth::client_credentials`]: the OAuth client-credentials grant (Jamf Pro, Microsoft
//!   identity platform), with failures sorted for the provider to word;
//! - [`send_bearer`]: an API request with a bearer token, read within a size limit;
//! - [`TokenSession`]: the token cache, the `Retry-After` backoff and "a 401 renews the token
//!   and retries once", around the provider's own fetch and request;
//! - [`RateLimiter`]: at most so many requests in any window, waiting for a slot only as
//!   long as the caller's deadline allows;
//! - [`Backoff`]: honours `Retry-After` up to a cap, then lets one probe through before the
//!   others;
//! - [`RecentSuccess`]: the readiness memo, one check in flight and its outcome reused (a
//!   success for longer than a failure), so unauthenticated probes can't spend a quota;
//! - [`redirect_target`] and [`origin`]: where a redirect (never followed) points, for the
//!   error message;
//! - [`Serial`]: identifier hygiene, so only Apple serial numbers reach an MDM;
//! - [`Front`]: the lookup glue every provider shares (the serial check, the synced index
//!   asked first, the decision cache, the readiness memo, the request counter);
//! - [`sync`]: inventory sync, a whole MDM inventory pulled in pages into a compact index
//!   of decisions that lookups answer from, falling back to live lookups;
//! - [`provider`]: what every provider crate would otherwise write again: its HTTP client
//!   ([`provider_client!`]), its enrichment, and for a provider built on a [`Front`] its
//!   `PostureProvider` impl ([`front_provider!`]);
//! - [`synced_setup!`]: the `ProviderSetup` of a provider with inventory sync, written once;
//! - [`env`](mod@env): what providers read beside their own declarations (`TIMEOUT`, tenant
//!   URLs, secrets, CA bundles, request rates), through `posture_settings::Reader`.
//!
//! ```
//! use std::time::Duration;
//! use posture_http::{BaseUrl, CacheConfig, ClientOptions, LookupCache, TokenCache};
//!
//! let base = BaseUrl::parse("https://example.jamfcloud.com/")?;
//! let client = ClientOptions::new(Duration::from_secs(4)).build()?;
//! let tokens = TokenCache::new(Duration::from_secs(30));
//! let answers: LookupCache<String, bool> =
//!     LookupCache::new(CacheConfig::new(Duration::from_secs(60), Duration::from_secs(10)));
//! assert_eq!(base.join(&["api", "oauth", "token"]).path(), "/api/oauth/token");
//! # drop((client, tokens, answers));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! TLS uses rustls with *ring* (the default `ring` feature; without it, the provider the
//! program chose); posture-http never links aws-lc itself. posture-http does not depend on
//! reqwest and installs no process-wide rustls provider, so a program that depends on it keeps
//! its own HTTP client's behaviour.

/// The `User-Agent` of the calling provider crate: `step-posture-connector <crate>/<version>`,
/// such as `step-posture-connector posture-kandji/0.1.0`.
///
/// ```
/// let ua = posture_http::user_agent!();
/// assert_eq!(ua, concat!("step-posture-connector posture-http/", env!("CARGO_PKG_VERSION")));
/// ```
#[macro_export]
macro_rules! user_agent {
    () => {
        concat!(
            "step-posture-connector ",
            env!("CARGO_PKG_NAME"),
            "/",
            env!("CARGO_PKG_VERSION")
        )
    };
}

mod backoff;
mod base_url;
mod bearer;
mod build;
mod cache;
mod classify;
mod client;
mod common;
mod counters;
pub mod env;
mod front;
mod guid;
pub mod lenient;
pub mod oauth;
pub mod provider;
mod ratelimit;
mod recent;
mod secret;
mod serial;
mod session;
mod setup;
pub mod sync;
#[cfg(test)]
mod testing;
mod token;
mod transport;

pub use backoff::{Backoff, BackoffPass, DEFAULT_MAX_RETRY_AFTER};
pub use base_url::{BaseUrl, BaseUrlError, percent_encode_into};
pub use bearer::{Answer, bearer_header, secret_header, send_bearer, send_json};
pub use build::ProviderBuildError;
pub use cache::{CacheClass, CacheConfig, CacheStats, LookupCache};
pub use classify::{
    MAX_RETRY_AFTER, decode_json, looks_like_html, origin, read_body, redirect_target, retry_after,
    status_error, timed_out, transport_error,
};
pub use client::{CaBundle, CaBundleError, ClientError, ClientOptions, error_chain, tls_config};
pub use common::{
    CommonNames, CommonSettings, MAX_CACHE_TTL_SECS, cache_ttl_setting, decision_counters,
    max_retry_after_setting, negative_cache_ttl_setting,
};
pub use counters::{cache_counters, lookup_counters, token_counters};
pub use front::{Front, allow, checked_serial, debug_provider};
pub use guid::{colon_hex, guid_v4};
pub use http::{Method, StatusCode, header};
pub use posture_core::find_cause;
pub use posture_settings::redact_userinfo;
pub use ratelimit::{NoSlot, RateLimiter};
pub use recent::{DEFAULT_FAILURE_WINDOW, RecentSuccess, probe_within};
pub use secret::Secret;
pub use serial::Serial;
pub use session::TokenSession;
pub use token::{AccessToken, FetchedToken, TokenCache, TokenStats};
pub use transport::{
    BodyError, DEFAULT_BODY_LIMIT, HttpClient, HttpRequest, HttpResponse, TransportError,
};
pub use url::Url;

/// Paths the exported macros expand to in the calling crate; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use posture_core::{
        BuildError, BuiltProvider, Decision, LookupRequest, PostureProvider, ProviderError,
        ProviderSetup,
    };
}

/// Compiles the README's examples.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
