//! The conformance suite every provider runs.

use posture_conformance::assert_conforms;
use posture_fakes::intune::FakeManagedDevice;

use crate::support::{fake, provider};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_intune_provider_conforms() {
    let intune = fake().await;
    intune.add_device(FakeManagedDevice::new("C02XL0GJJG5J"));
    intune.add_device(FakeManagedDevice::new("DMPXK2ABCD12"));
    let intune_provider = provider(&intune, |c| c);
    assert_conforms(intune_provider, intune, ["C02XL0GJJG5J", "DMPXK2ABCD12"]).await;
}
