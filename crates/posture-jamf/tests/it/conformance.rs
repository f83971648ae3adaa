//! The conformance suite every provider runs, for both Jamf APIs.

use std::sync::Arc;

use posture_conformance::{Subject, run};
use posture_fakes::jamf::FakeDevice;

use crate::support::{APIS, fake, provider};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jamf_provider_conforms() {
    for api in APIS {
        let jamf = fake().await;
        // No mode in the request means mobile devices, as in the Go version.
        jamf.add_mobile_device(FakeDevice::new("DMPXK2ABCD12"));
        jamf.add_mobile_device(FakeDevice::new("F4KQ2J9XN7"));
        let jamf_provider = Arc::new(provider(&jamf, api, |c| c.with_device_enrich(true)));
        let subject = Subject::new(jamf_provider)
            .with_allowed(["DMPXK2ABCD12", "F4KQ2J9XN7"])
            .with_upstream(Arc::new(jamf));
        let report = run(&subject).await;
        assert!(report.failures.is_empty(), "{api}: {report:?}");
        report.assert_passed();
    }
}
