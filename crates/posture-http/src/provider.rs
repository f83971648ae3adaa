//! What the provider crates would otherwise each write again: their HTTP client, named by
//! their own user agent ([`provider_client!`]); for those built on a [`Front`] keyed by
//! serial, their [`PostureProvider`] impl ([`front_provider!`]); and the step from an
//! enrichment object to [`Enrichment`] ([`enrichment`]).
//!
//! [`front_provider!`]: crate::front_provider
//! [`provider_client!`]: crate::provider_client

use posture_core::Enrichment;
#[cfg(doc)]
use posture_core::PostureProvider;
use serde_json::{Map, Value};

#[cfg(doc)]
use crate::Front;

/// Writes `impl PostureProvider` for a provider whose lookups go through a [`Front`] keyed by
/// serial, so every such provider answers alike: an identifier that is no serial is denied
/// before any call, a fresh synced index answers (and makes the provider ready) without one,
/// and the decision cache and the readiness memo stand before the MDM.
///
/// The provider type has a field `front: Front` and three inherent methods, visible where the
/// macro is invoked (in the module that defines them, or `pub(crate)`):
///
/// - `async fn fetch_decision(&self, serial: &Serial) -> Result<Decision, ProviderError>`,
///   the decision from the MDM itself when neither the index nor the cache has one;
/// - `async fn probe(&self) -> Result<(), ProviderError>`, one cheap request that proves the
///   URL, the credentials and the permissions (the front decides when it runs);
/// - `fn report_lines(&self) -> Vec<String>`, what `report` says.
///
/// `name` is the provider's name for logs and metrics (`"kandji"`), `calls` what an
/// identifier that is no serial spares, in the debug log (`"Kandji"`, `"Graph"`). The doc
/// comments written before `check_ready` document the provider's readiness check.
///
/// A macro, not a blanket impl, because `PostureProvider` and the provider types both live
/// in other crates than this one; and not a public trait, which would let any caller reach
/// past the cache and the readiness memo.
///
/// ```
/// use std::time::Duration;
/// use posture_core::{Decision, DenyCode, LookupRequest, PostureProvider, ProviderError};
/// use posture_http::sync::SyncSettings;
/// use posture_http::{CacheConfig, Front, Serial};
///
/// #[derive(Debug)]
/// struct AcmeProvider {
///     front: Front,
/// }
///
/// impl AcmeProvider {
///     async fn fetch_decision(&self, serial: &Serial) -> Result<Decision, ProviderError> {
///         self.front.count_request();
///         Ok(Decision::deny(DenyCode::DEVICE_NOT_FOUND, format!("no {serial} in Acme")))
///     }
///
///     async fn probe(&self) -> Result<(), ProviderError> {
///         self.front.count_request();
///         Ok(())
///     }
///
///     fn report_lines(&self) -> Vec<String> {
///         self.front.report(vec!["devices: GET https://acme.example/devices".to_owned()])
///     }
/// }
///
/// posture_http::front_provider! {
///     impl PostureProvider for AcmeProvider {
///         name: "acme",
///         calls: "Acme",
///         /// Lists one device. A success counts for a minute, a failure for 10 s.
///         check_ready;
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ProviderError> {
/// let cache = CacheConfig::new(Duration::from_secs(60), Duration::from_secs(10));
/// let sync = SyncSettings::new("ACME_SYNC_INTERVAL", "ACME_SYNC_MAX_AGE");
/// let acme = AcmeProvider { front: Front::new("Acme", Duration::from_secs(4), cache, sync) };
/// assert_eq!(acme.name(), "acme");
/// let refused = acme.lookup(&LookupRequest::new("not a serial")).await?;
/// assert_eq!(refused.deny_code(), Some(&DenyCode::INVALID_IDENTIFIER));
/// let decision = acme.lookup(&LookupRequest::new("C02XL0GJJG5J")).await?;
/// assert_eq!(decision.deny_message(), Some("no C02XL0GJJG5J in Acme"));
/// acme.lookup(&LookupRequest::new("C02XL0GJJG5J")).await?; // cached
/// acme.check_ready().await?;
/// acme.check_ready().await?; // the success counts for a minute
/// assert_eq!(acme.front.requests(), 2);
/// assert_eq!(acme.report(), ["devices: GET https://acme.example/devices"]);
/// # Ok(())
/// # }
/// ```
#[macro_export]
macro_rules! front_provider {
    (
        impl PostureProvider for $provider:ty {
            name: $name:expr,
            calls: $calls:expr,
            $(#[$check_ready_doc:meta])*
            check_ready;
        }
    ) => {
        impl $crate::__private::PostureProvider for $provider {
            fn name(&self) -> &str {
                $name
            }

            async fn lookup(
                &self,
                request: &$crate::__private::LookupRequest,
            ) -> ::std::result::Result<
                $crate::__private::Decision,
                $crate::__private::ProviderError,
            > {
                let fetch = |serial| async move { Self::fetch_decision(self, &serial).await };
                self.front.lookup(request, $calls, fetch).await
            }

            $(#[$check_ready_doc])*
            async fn check_ready(
                &self,
            ) -> ::std::result::Result<(), $crate::__private::ProviderError> {
                self.front.check_ready(Self::probe(self)).await
            }

            fn report(&self) -> ::std::vec::Vec<::std::string::String> {
                Self::report_lines(self)
            }
        }
    };
}

/// The HTTP client of the provider crate that calls it: [`CommonSettings::client`] with
/// that crate's [`user_agent!`](crate::user_agent), which only a macro expanded in that
/// crate can name, and a failure as the [`ProviderBuildError`] of `service` (the MDM's name,
/// for the message). `common` is a `&CommonSettings`.
///
/// [`CommonSettings::client`]: crate::CommonSettings::client
/// [`ProviderBuildError`]: crate::ProviderBuildError
///
/// ```
/// use posture_http::{CommonNames, CommonSettings, ProviderBuildError};
/// use posture_settings::Setting;
///
/// const TTL: Setting = posture_http::cache_ttl_setting("ACME_CACHE_TTL", "allow TTL");
/// const NEG: Setting = posture_http::negative_cache_ttl_setting("ACME_NEGATIVE_CACHE_TTL", "deny TTL");
/// const RETRY: Setting = posture_http::max_retry_after_setting("ACME_MAX_RETRY_AFTER", "longest wait");
/// const CA: Setting = Setting::path("ACME_CA_PATH", "extra CAs");
/// let common = CommonSettings::defaults(CommonNames::of(&TTL, &NEG, &RETRY, &CA));
/// let http = posture_http::provider_client!(&common, "Acme")?;
/// assert!(format!("{http:?}").contains("posture-http/"));
/// # Ok::<(), ProviderBuildError>(())
/// ```
#[macro_export]
macro_rules! provider_client {
    ($common:expr, $service:expr $(,)?) => {
        $crate::CommonSettings::client($common, $crate::user_agent!())
            .map_err($crate::ProviderBuildError::client($service))
    };
}

/// The enrichment data of `object`, a provider's `json!({...})` object literal; anything
/// else, which such a literal never is, gives the empty object.
///
/// ```
/// use serde_json::json;
///
/// let data = posture_http::provider::enrichment(json!({"device": {"serial_number": "C02XL0GJJG5J"}}));
/// assert_eq!(data.as_bytes(), br#"{"device":{"serial_number":"C02XL0GJJG5J"}}"#);
/// assert_eq!(posture_http::provider::enrichment(json!([1])).as_bytes(), b"{}");
/// ```
pub fn enrichment(object: Value) -> Enrichment {
    match object {
        Value::Object(map) => Enrichment::from_map(&map),
        _ => Enrichment::from_map(&Map::new()),
    }
}
