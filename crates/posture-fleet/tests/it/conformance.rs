//! The conformance suite every provider runs.

use posture_conformance::assert_conforms;
use posture_fakes::fleet::{FakeFleet, FakeFleetHost};
use posture_fleet::{FleetConfig, FleetProvider};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_provider_conforms() {
    let fleet = FakeFleet::start().await.unwrap();
    fleet.add_host(FakeFleetHost::new("C02XL0GJJG5J"));
    fleet.add_host(FakeFleetHost::new("DMPXK2ABCD12").with_team(None));
    let c = fleet.connection();
    let provider = FleetProvider::new(FleetConfig::new(&c.url, c.api_token).unwrap()).unwrap();
    assert_conforms(provider, fleet, ["C02XL0GJJG5J", "DMPXK2ABCD12"]).await;
}
