//! What the provider crates would otherwise each write again: their HTTP client, named by
//! their own user agent ([`provider_client!`]); for those built on a [`Front`] keyed by
//! serial, their [`PostureProvider`] impl ([`FrontProvider`] and [`front_provider!`]); and
//! the step from an enrichment object to [`Enrichment`] ([`enrichment`]).
//!
//! [`front_provider!`]: crate::front_provider
//! [`provider_client!`]: crate::provider_client

use std::fmt;
use std::future::Future;

use posture_core::Enrichment;
// For `front_provider!`, which expands in the provider's crate.
#[doc(hidden)]
pub use posture_core::{Decision, LookupRequest, PostureProvider, ProviderError};
use serde_json::{Map, Value};

use crate::{Front, Serial};

/// What the [`PostureProvider`] impl of a provider whose lookups go through a [`Front`]
/// keyed by serial needs from it; [`front_provider!`] writes that impl, so every such
/// provider answers alike: an identifier that is no serial is denied before any call, a
/// fresh synced index answers (and makes the provider ready) without one, and the decision
/// cache and the readiness memo stand before the MDM.
///
/// See [`front_provider!`] for an example.
///
/// [`front_provider!`]: crate::front_provider
pub trait FrontProvider: Send + Sync + fmt::Debug {
    /// [`PostureProvider::name`]: short and stable, for logs and metrics, such as
    /// `"kandji"`.
    const NAME: &'static str;

    /// What an identifier that is no serial spares, in the debug log (`"Graph"`).
    const CALLS: &'static str;

    /// The provider's front: the serial check, the synced index, the decision cache, the
    /// readiness memo and the request counter.
    fn front(&self) -> &Front;

    /// The decision for `serial` from the MDM itself, when neither the synced index nor the
    /// decision cache has one.
    fn fetch_decision(
        &self,
        serial: &Serial,
    ) -> impl Future<Output = Result<Decision, ProviderError>> + Send;

    /// One cheap request that proves the URL, the credentials and the permissions, its
    /// error naming the setting to fix. The front decides when it runs.
    fn probe(&self) -> impl Future<Output = Result<(), ProviderError>> + Send;

    /// What [`PostureProvider::report`] says: the provider's endpoints and settings, then
    /// the front's inventory lines.
    fn report_lines(&self) -> Vec<String>;
}

/// Writes `impl PostureProvider` for a type that implements [`FrontProvider`]: `name` is
/// its [`NAME`](FrontProvider::NAME), `lookup` goes through its front
/// ([`Front::lookup`]) to [`fetch_decision`](FrontProvider::fetch_decision), `check_ready`
/// is the front's ([`Front::check_ready`]) around [`probe`](FrontProvider::probe), and
/// `report` is [`report_lines`](FrontProvider::report_lines). The doc comments written
/// before `check_ready` document the provider's readiness check.
///
/// A macro, not a blanket impl, because `PostureProvider` and the provider types both live
/// in other crates than this one.
///
/// ```
/// use std::time::Duration;
/// use posture_core::{Decision, DenyCode, LookupRequest, PostureProvider, ProviderError};
/// use posture_http::provider::FrontProvider;
/// use posture_http::sync::SyncSettings;
/// use posture_http::{CacheConfig, Front, Serial};
///
/// #[derive(Debug)]
/// struct AcmeProvider {
///     front: Front,
/// }
///
/// impl FrontProvider for AcmeProvider {
///     const NAME: &'static str = "acme";
///     const CALLS: &'static str = "Acme";
///
///     fn front(&self) -> &Front {
///         &self.front
///     }
///
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
            $(#[$check_ready_doc:meta])*
            check_ready;
        }
    ) => {
        impl $crate::provider::PostureProvider for $provider {
            fn name(&self) -> &str {
                <Self as $crate::provider::FrontProvider>::NAME
            }

            async fn lookup(
                &self,
                request: &$crate::provider::LookupRequest,
            ) -> ::std::result::Result<
                $crate::provider::Decision,
                $crate::provider::ProviderError,
            > {
                let fetch = |serial| async move {
                    $crate::provider::FrontProvider::fetch_decision(self, &serial).await
                };
                $crate::provider::FrontProvider::front(self)
                    .lookup(
                        request,
                        <Self as $crate::provider::FrontProvider>::CALLS,
                        fetch,
                    )
                    .await
            }

            $(#[$check_ready_doc])*
            async fn check_ready(
                &self,
            ) -> ::std::result::Result<(), $crate::provider::ProviderError> {
                $crate::provider::FrontProvider::front(self)
                    .check_ready($crate::provider::FrontProvider::probe(self))
                    .await
            }

            fn report(&self) -> ::std::vec::Vec<::std::string::String> {
                $crate::provider::FrontProvider::report_lines(self)
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
