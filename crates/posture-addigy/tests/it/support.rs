//! Helpers shared by the test modules.

use posture_addigy::{AddigyConfig, AddigyProvider};
pub(crate) use posture_conformance::support::{decide, deny_code as code, lookup};
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
