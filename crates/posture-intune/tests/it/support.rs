//! Helpers shared by the test modules.

pub(crate) use posture_conformance::support::{
    decide, denial, deny_code as code, lookup, refused_readiness,
};
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

/// A configuration with the fake's app credentials for tenant `tenant_id`, whose authority
/// and Graph are both at `url`.
pub(crate) fn config_at(tenant_id: &str, url: &str) -> IntuneConfig {
    IntuneConfig::new(
        tenant_id,
        posture_fakes::intune::CLIENT_ID,
        posture_fakes::intune::CLIENT_SECRET,
    )
    .and_then(|config| config.with_authority_url(url))
    .and_then(|config| config.with_graph_url(url))
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
