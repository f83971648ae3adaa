//! Helpers shared by the test modules.

use posture_addigy::{AddigyConfig, AddigyProvider};
use posture_core::{Decision, LookupRequest, PostureProvider, ProviderError};
use posture_fakes::addigy::FakeAddigy;

pub(crate) async fn fake() -> FakeAddigy {
    FakeAddigy::start().await.unwrap()
}

/// A configuration pointing at the fake, with every default.
pub(crate) fn config(addigy: &FakeAddigy) -> AddigyConfig {
    let c = addigy.connection();
    AddigyConfig::new(&c.api_url, c.api_token).unwrap()
}

pub(crate) fn provider(
    addigy: &FakeAddigy,
    tune: impl FnOnce(AddigyConfig) -> AddigyConfig,
) -> AddigyProvider {
    AddigyProvider::new(tune(config(addigy))).unwrap()
}

pub(crate) async fn lookup(
    provider: &AddigyProvider,
    serial: &str,
) -> Result<Decision, ProviderError> {
    provider.lookup(&LookupRequest::new(serial)).await
}

pub(crate) async fn decide(provider: &AddigyProvider, serial: &str) -> Decision {
    lookup(provider, serial).await.unwrap()
}

pub(crate) fn code(decision: &Decision) -> Option<&str> {
    decision.deny_code().map(|c| c.as_str())
}
