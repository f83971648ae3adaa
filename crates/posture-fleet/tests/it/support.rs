//! Helpers shared by the test modules.

pub(crate) use posture_conformance::support::{decide, denial};
use posture_fakes::fleet::FakeFleet;
use posture_fleet::{FleetConfig, FleetProvider};

pub(crate) async fn fake() -> FakeFleet {
    FakeFleet::start().await.unwrap()
}

pub(crate) fn provider(
    fleet: &FakeFleet,
    tune: impl FnOnce(FleetConfig) -> FleetConfig,
) -> FleetProvider {
    let c = fleet.connection();
    FleetProvider::new(tune(FleetConfig::new(&c.url, c.api_token).unwrap())).unwrap()
}
