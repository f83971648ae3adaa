//! The conformance suite every provider runs.

use std::sync::Arc;

use posture_conformance::{Subject, run};
use posture_fakes::fleet::{FakeFleet, FakeFleetHost};
use posture_fleet::{FleetConfig, FleetProvider};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_provider_conforms() {
    let fleet = FakeFleet::start().await.unwrap();
    fleet.add_host(FakeFleetHost::new("C02XL0GJJG5J"));
    fleet.add_host(FakeFleetHost::new("DMPXK2ABCD12").with_team(None));
    let c = fleet.connection();
    let provider = FleetProvider::new(FleetConfig::new(&c.url, c.api_token).unwrap()).unwrap();
    let subject = Subject::new(Arc::new(provider))
        .with_allowed(["C02XL0GJJG5J", "DMPXK2ABCD12"])
        .with_upstream(Arc::new(fleet));
    run(&subject).await.assert_passed();
}
