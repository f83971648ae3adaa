//! The conformance suite every provider runs.

use std::sync::Arc;

use posture_conformance::{Subject, run};
use posture_fakes::intune::FakeManagedDevice;

use crate::support::{fake, provider};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_intune_provider_conforms() {
    let intune = fake().await;
    intune.add_device(FakeManagedDevice::new("C02XL0GJJG5J"));
    intune.add_device(FakeManagedDevice::new("DMPXK2ABCD12"));
    let intune_provider = Arc::new(provider(&intune, |c| c));
    let subject = Subject::new(intune_provider)
        .with_allowed(["C02XL0GJJG5J", "DMPXK2ABCD12"])
        .with_upstream(Arc::new(intune));
    run(&subject).await.assert_passed();
}
