//! Helpers shared by the test modules.

use posture_conformance::support::decide_as;
pub(crate) use posture_conformance::support::{deny_code as code, lookup_as as lookup};
use posture_core::{Decision, DeviceMode};
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

/// The decision in auto mode, the mode these tests look devices up in unless they say.
pub(crate) async fn decide(provider: &MosyleProvider, serial: &str) -> Decision {
    decide_as(provider, serial, DeviceMode::Auto).await
}
