//! Helpers shared by the test modules.

use posture_core::{Decision, LookupRequest, PostureProvider, ProviderError};
use posture_fakes::kandji::FakeKandji;
use posture_kandji::{KandjiConfig, KandjiProvider};

pub(crate) async fn fake() -> FakeKandji {
    FakeKandji::start().await.unwrap()
}

/// A configuration pointing at the fake, with every default.
pub(crate) fn config(kandji: &FakeKandji) -> KandjiConfig {
    let c = kandji.connection();
    KandjiConfig::new(&c.api_url, c.api_token).unwrap()
}

pub(crate) fn provider(
    kandji: &FakeKandji,
    tune: impl FnOnce(KandjiConfig) -> KandjiConfig,
) -> KandjiProvider {
    KandjiProvider::new(tune(config(kandji))).unwrap()
}

pub(crate) async fn lookup(
    provider: &KandjiProvider,
    serial: &str,
) -> Result<Decision, ProviderError> {
    provider.lookup(&LookupRequest::new(serial)).await
}

pub(crate) async fn decide(provider: &KandjiProvider, serial: &str) -> Decision {
    lookup(provider, serial).await.unwrap()
}

pub(crate) fn code(decision: &Decision) -> Option<&str> {
    decision.deny_code().map(|c| c.as_str())
}
