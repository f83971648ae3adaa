//! The conformance suite every provider runs.

use posture_conformance::assert_conforms;
use posture_fakes::fleet::FakeFleetHost;

use crate::support::{fake, provider};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_provider_conforms() {
    let fleet = fake().await;
    fleet.add_host(FakeFleetHost::new("C02XL0GJJG5J"));
    fleet.add_host(FakeFleetHost::new("DMPXK2ABCD12").with_team(None));
    let fleet_provider = provider(&fleet, |c| c);
    assert_conforms(fleet_provider, fleet, ["C02XL0GJJG5J", "DMPXK2ABCD12"]).await;
}
