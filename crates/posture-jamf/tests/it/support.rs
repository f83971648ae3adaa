//! Helpers shared by the test modules.

use posture_core::{Decision, DeviceMode, LookupRequest, PostureProvider, ProviderError};
use posture_fakes::jamf::FakeJamf;
use posture_jamf::{JamfApi, JamfConfig, JamfProvider};

pub(crate) const APIS: [JamfApi; 3] = [JamfApi::Auto, JamfApi::Classic, JamfApi::Pro];

pub(crate) async fn fake() -> FakeJamf {
    FakeJamf::start().await.unwrap()
}

/// A configuration pointing at the fake, with every default.
pub(crate) fn config(jamf: &FakeJamf) -> JamfConfig {
    let c = jamf.connection();
    JamfConfig::new(&c.base_url, c.client_id, c.client_secret).unwrap()
}

pub(crate) fn provider(
    jamf: &FakeJamf,
    api: JamfApi,
    tune: impl FnOnce(JamfConfig) -> JamfConfig,
) -> JamfProvider {
    let config = tune(config(jamf).with_api(api));
    JamfProvider::new(config).unwrap()
}

pub(crate) async fn lookup(
    provider: &JamfProvider,
    serial: &str,
    mode: DeviceMode,
) -> Result<Decision, ProviderError> {
    provider
        .lookup(&LookupRequest::new(serial).with_mode(mode))
        .await
}

pub(crate) async fn decide(provider: &JamfProvider, serial: &str, mode: DeviceMode) -> Decision {
    lookup(provider, serial, mode).await.unwrap()
}

pub(crate) fn code(decision: &Decision) -> Option<&str> {
    decision.deny_code().map(|c| c.as_str())
}
