//! Helpers shared by the test modules.

use posture_core::{Decision, DeviceMode, LookupRequest, PostureProvider, ProviderError};
use posture_fakes::mosyle::FakeMosyle;
use posture_mosyle::{MosyleConfig, MosyleProvider};

pub(crate) async fn fake() -> FakeMosyle {
    FakeMosyle::start().await.unwrap()
}

/// A configuration pointing at the fake's Mosyle Manager API, with every default.
pub(crate) fn config(mosyle: &FakeMosyle) -> MosyleConfig {
    let c = mosyle.connection();
    MosyleConfig::new(&c.manager_url, c.access_token, c.email, c.password).unwrap()
}

pub(crate) fn provider(
    mosyle: &FakeMosyle,
    tune: impl FnOnce(MosyleConfig) -> MosyleConfig,
) -> MosyleProvider {
    MosyleProvider::new(tune(config(mosyle))).unwrap()
}

pub(crate) async fn lookup(
    provider: &MosyleProvider,
    serial: &str,
    mode: DeviceMode,
) -> Result<Decision, ProviderError> {
    provider
        .lookup(&LookupRequest::new(serial).with_mode(mode))
        .await
}

pub(crate) async fn decide(provider: &MosyleProvider, serial: &str) -> Decision {
    lookup(provider, serial, DeviceMode::Auto).await.unwrap()
}

pub(crate) fn code(decision: &Decision) -> Option<&str> {
    decision.deny_code().map(|c| c.as_str())
}
