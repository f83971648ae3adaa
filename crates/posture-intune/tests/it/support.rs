//! Helpers shared by the test modules.

use posture_core::{Decision, LookupRequest, PostureProvider, ProviderError};
use posture_fakes::intune::{FakeIntune, TestCertificate};
use posture_intune::{ClientCertificate, IntuneConfig, IntuneProvider};

pub(crate) async fn fake() -> FakeIntune {
    FakeIntune::start().await.unwrap()
}

/// A configuration pointing at the fake (authority and Graph), with every default.
pub(crate) fn config(intune: &FakeIntune) -> IntuneConfig {
    let c = intune.connection();
    IntuneConfig::new(c.tenant_id, c.client_id, c.client_secret)
        .and_then(|config| config.with_authority_url(&c.url))
        .and_then(|config| config.with_graph_url(&c.url))
        .unwrap()
}

/// The certificate as the provider reads it.
pub(crate) fn client_certificate(made: &TestCertificate) -> ClientCertificate {
    ClientCertificate::from_pem(made.cert_pem().as_bytes(), made.key_pem().as_bytes()).unwrap()
}

pub(crate) fn provider(
    intune: &FakeIntune,
    tune: impl FnOnce(IntuneConfig) -> IntuneConfig,
) -> IntuneProvider {
    IntuneProvider::new(tune(config(intune))).unwrap()
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
