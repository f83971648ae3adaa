//! The conformance suite every provider runs.

use std::sync::Arc;

use posture_conformance::{Subject, assert_conforms, run};
use posture_core::DeviceMode;
use posture_fakes::mosyle::FakeMosyleDevice;

use crate::support::{fake, provider};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mosyle_provider_conforms() {
    let mosyle = fake().await;
    mosyle.add_device(FakeMosyleDevice::new("C02XL0GJJG5J"));
    mosyle.add_device(FakeMosyleDevice::ipad("DMPXK2ABCD12"));
    let mosyle_provider = provider(&mosyle, |c| c);
    assert_conforms(mosyle_provider, mosyle, ["C02XL0GJJG5J", "DMPXK2ABCD12"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mosyle_business_provider_conforms_too() {
    let mosyle = fake().await;
    mosyle.set_not_found_status(true);
    mosyle.add_device(FakeMosyleDevice::new("C02XL0GJJG5J"));
    let c = mosyle.connection();
    let config =
        posture_mosyle::MosyleConfig::new(&c.business_url, c.access_token, c.email, c.password)
            .unwrap();
    let subject = Subject::new(Arc::new(
        posture_mosyle::MosyleProvider::new(config).unwrap(),
    ))
    .with_allowed(["C02XL0GJJG5J"])
    .with_mode(DeviceMode::Computer)
    .with_upstream(Arc::new(mosyle));
    run(&subject).await.assert_passed();
}
