//! The [`ProviderSetup`] of a provider that answers from a synced inventory, written once:
//! [`synced_setup!`](crate::synced_setup).
//!
//! Such a provider's configuration is set up the same way whatever the MDM: its `check-config`
//! lines end with the inventory sync's, and building it constructs the provider from a copy of
//! the configuration and starts its sync ([`sync::built`](crate::sync::built)). Only the lines
//! about its own rules, its warnings and its service's name differ.

#[cfg(doc)]
use posture_core::ProviderSetup;

/// Implements [`ProviderSetup`] for the configuration of a provider that answers from a synced
/// inventory ([`sync`](crate::sync)).
///
/// `Config => Provider, "Service"` names the configuration, the provider and the service as
/// messages name it. The configuration is `Clone` and has `sync()` (as
/// [`sync_settings_accessors!`](crate::sync_settings_accessors) writes it); the provider has
/// `new(config) -> Result<Provider, E>` and `async fn sync_inventory(&self) -> Result<SyncReport,
/// ProviderError>`, and is a [`PostureProvider`](posture_core::PostureProvider) with
/// [`ProviderCounters`](posture_core::ProviderCounters).
///
/// - `summary`, a closure from the configuration to the `check-config` lines about its rules
///   (the variables themselves are in the declared summary `check-config` prints); the
///   inventory sync's line ([`SyncSettings::summary`](crate::sync::SyncSettings::summary)) is
///   added after them;
/// - `warnings`, optional, a closure from the configuration to its warnings;
/// - `build` makes the provider with `Provider::new(config.clone())` and starts its sync with
///   [`sync::built`](crate::sync::built), so a provider that can't be set up is a
///   [`BuildError`](posture_core::BuildError) naming the service.
///
/// ```
/// use posture_core::{
///     CounterSample, Decision, LookupRequest, PostureProvider, ProviderCounters, ProviderError,
///     ProviderSetup,
/// };
/// use posture_http::sync::{SyncReport, SyncSettings};
///
/// /// An Acme provider's settings.
/// #[derive(Clone, Debug)]
/// struct AcmeConfig {
///     groups: Vec<String>,
///     sync: SyncSettings,
/// }
///
/// impl AcmeConfig {
///     fn sync(&self) -> &SyncSettings {
///         &self.sync
///     }
/// }
///
/// /// An Acme provider that allows everything.
/// #[derive(Debug)]
/// struct AcmeProvider;
///
/// impl AcmeProvider {
///     fn new(config: AcmeConfig) -> Result<Self, String> {
///         if config.groups.is_empty() {
///             Err("no group".to_owned())
///         } else {
///             Ok(Self)
///         }
///     }
///
///     async fn sync_inventory(&self) -> Result<SyncReport, ProviderError> {
///         Err(ProviderError::transient("Acme is offline"))
///     }
/// }
///
/// impl PostureProvider for AcmeProvider {
///     fn name(&self) -> &str { "acme" }
///     async fn lookup(&self, _: &LookupRequest) -> Result<Decision, ProviderError> {
///         Ok(Decision::allow())
///     }
/// }
///
/// impl ProviderCounters for AcmeProvider {
///     fn samples(&self) -> Vec<CounterSample> { Vec::new() }
/// }
///
/// posture_http::synced_setup! {
///     AcmeConfig => AcmeProvider, "Acme",
///     summary: |config| vec![format!("groups allowed: {}", config.groups.join(", "))],
///     warnings: |config| vec![format!("{} groups", config.groups.len())],
/// }
///
/// let sync = SyncSettings::new("ACME_SYNC_INTERVAL", "ACME_SYNC_MAX_AGE");
/// let config = AcmeConfig { groups: vec!["Staff".to_owned()], sync: sync.clone() };
/// assert_eq!(
///     config.summary(),
///     [
///         "groups allowed: Staff",
///         "inventory sync: off (ACME_SYNC_INTERVAL=0), every device is looked up live",
///     ]
/// );
/// assert_eq!(config.warnings(), ["1 groups"]);
/// assert!(config.build().is_ok());
/// let refused = AcmeConfig { groups: Vec::new(), sync }.build().err().unwrap();
/// assert_eq!(refused.to_string(), "cannot set up the Acme provider");
/// ```
#[macro_export]
macro_rules! synced_setup {
    (
        $config:ty => $provider:ty, $service:literal,
        summary: $summary:expr
        $(, warnings: $warnings:expr)? $(,)?
    ) => {
        impl $crate::__private::ProviderSetup for $config {
            fn summary(&self) -> ::std::vec::Vec<::std::string::String> {
                let rules: fn(&Self) -> ::std::vec::Vec<::std::string::String> = $summary;
                let mut lines = rules(self);
                lines.push(self.sync().summary());
                lines
            }

            $(
                fn warnings(&self) -> ::std::vec::Vec<::std::string::String> {
                    let warnings: fn(&Self) -> ::std::vec::Vec<::std::string::String> =
                        $warnings;
                    warnings(self)
                }
            )?

            fn build(
                &self,
            ) -> ::std::result::Result<$crate::__private::BuiltProvider, $crate::__private::BuildError>
            {
                $crate::sync::built(
                    $service,
                    <$provider>::new(::std::clone::Clone::clone(self)),
                    self.sync(),
                    |provider| async move { provider.sync_inventory().await },
                )
            }
        }
    };
}
