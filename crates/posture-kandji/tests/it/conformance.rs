//! The conformance suite every provider runs.

use posture_conformance::assert_conforms;
use posture_fakes::kandji::FakeKandjiDevice;

use crate::support::{fake, provider};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kandji_provider_conforms() {
    let kandji = fake().await;
    kandji.add_device(FakeKandjiDevice::new("FVHHFKF7Q6L4"));
    kandji.add_device(FakeKandjiDevice::iphone("DMPXK2ABCD12"));
    let kandji_provider = provider(&kandji, |c| c);
    assert_conforms(kandji_provider, kandji, ["FVHHFKF7Q6L4", "DMPXK2ABCD12"]).await;
}
