//! Helpers shared by the test modules.

use posture_core::{Decision, LookupRequest, PostureProvider, ProviderError};
use posture_intune::testing::FakeIntune;
use posture_intune::{IntuneConfig, IntuneProvider};

pub(crate) async fn fake() -> FakeIntune {
    FakeIntune::start().await.unwrap()
}

pub(crate) fn provider(
    intune: &FakeIntune,
    tune: impl FnOnce(IntuneConfig) -> IntuneConfig,
) -> IntuneProvider {
    IntuneProvider::new(tune(intune.config().unwrap())).unwrap()
}

pub(crate) async fn lookup(
    provider: &IntuneProvider,
    serial: &str,
) -> Result<Decision, ProviderError> {
    provider.lookup(&LookupRequest::new(serial)).await
}

pub(crate) async fn decide(provider: &IntuneProvider, serial: &str) -> Decision {
    lookup(provider, serial).await.unwrap()
}

pub(crate) fn code(decision: &Decision) -> Option<&str> {
    decision.deny_code().map(|c| c.as_str())
}
