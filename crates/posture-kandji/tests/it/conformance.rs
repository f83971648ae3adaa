//! The conformance suite every provider runs.

use std::sync::Arc;

use posture_conformance::{Subject, run};
use posture_fakes::kandji::FakeKandjiDevice;

use crate::support::{fake, provider};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kandji_provider_conforms() {
    let kandji = fake().await;
    kandji.add_device(FakeKandjiDevice::new("FVHHFKF7Q6L4"));
    kandji.add_device(FakeKandjiDevice::iphone("DMPXK2ABCD12"));
    let kandji_provider = Arc::new(provider(&kandji, |c| c));
    let subject = Subject::new(kandji_provider)
        .with_allowed(["FVHHFKF7Q6L4", "DMPXK2ABCD12"])
        .with_upstream(Arc::new(kandji));
    run(&subject).await.assert_passed();
}
