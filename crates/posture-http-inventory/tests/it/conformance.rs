//! The conformance suite every provider runs.

use posture_conformance::assert_conforms;
use posture_fakes::snipeit::{FakeAsset, FakeSnipeIt};

use crate::support::provider;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_inventory_provider_conforms() {
    let snipe = FakeSnipeIt::start().await.unwrap();
    snipe.add_asset(FakeAsset::new("C02XL0GJJG5J"));
    snipe.add_asset(FakeAsset::new("DMPXK2ABCD12").unassigned());
    let inventory_provider = provider(&snipe, &[]);
    assert_conforms(inventory_provider, snipe, ["C02XL0GJJG5J", "DMPXK2ABCD12"]).await;
}
