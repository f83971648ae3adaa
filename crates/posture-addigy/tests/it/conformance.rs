//! The conformance suite every provider runs.

use posture_conformance::assert_conforms;
use posture_fakes::addigy::{AcceptedAuth, FakeAddigyDevice};

use crate::support::{fake, provider};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_addigy_provider_conforms() {
    let addigy = fake().await;
    addigy.add_device(FakeAddigyDevice::new("C02XL0GJJG5J"));
    addigy.add_device(FakeAddigyDevice::new("DMPXK2ABCD12"));
    let addigy_provider = provider(&addigy, |c| c);
    assert_conforms(addigy_provider, addigy, ["C02XL0GJJG5J", "DMPXK2ABCD12"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_addigy_provider_conforms_with_x_api_key_too() {
    let addigy = fake().await;
    addigy.set_auth(AcceptedAuth::ApiKey);
    addigy.add_device(FakeAddigyDevice::new("C02XL0GJJG5J"));
    let addigy_provider = provider(&addigy, |c| c);
    assert_conforms(addigy_provider, addigy, ["C02XL0GJJG5J"]).await;
}
