//! The conformance suite every provider runs.

use std::sync::Arc;

use posture_conformance::{Subject, run};
use posture_fakes::addigy::{AcceptedAuth, FakeAddigyDevice};

use crate::support::{fake, provider};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_addigy_provider_conforms() {
    let addigy = fake().await;
    addigy.add_device(FakeAddigyDevice::new("C02XL0GJJG5J"));
    addigy.add_device(FakeAddigyDevice::new("DMPXK2ABCD12"));
    let addigy_provider = Arc::new(provider(&addigy, |c| c));
    let subject = Subject::new(addigy_provider)
        .with_allowed(["C02XL0GJJG5J", "DMPXK2ABCD12"])
        .with_upstream(Arc::new(addigy));
    run(&subject).await.assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_addigy_provider_conforms_with_x_api_key_too() {
    let addigy = fake().await;
    addigy.set_auth(AcceptedAuth::ApiKey);
    addigy.add_device(FakeAddigyDevice::new("C02XL0GJJG5J"));
    let addigy_provider = Arc::new(provider(&addigy, |c| c));
    let subject = Subject::new(addigy_provider)
        .with_allowed(["C02XL0GJJG5J"])
        .with_upstream(Arc::new(addigy));
    run(&subject).await.assert_passed();
}
