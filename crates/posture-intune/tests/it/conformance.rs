//! The conformance suite every provider runs.

use std::sync::Arc;

use posture_conformance::{Fault, Subject, Upstream, run};
use posture_intune::testing::{self, FakeIntune, FakeManagedDevice};

use crate::support::{fake, provider};

struct Backend(FakeIntune);

impl Upstream for Backend {
    fn requests(&self) -> u64 {
        let stats = self.0.stats();
        stats.token_requests + stats.graph_requests
    }

    fn inject(&self, fault: Fault) {
        self.0.set_fault(Some(match fault {
            Fault::Unavailable => testing::Fault::Status(503),
            Fault::RateLimited { retry_after_secs } => {
                testing::Fault::TooManyRequests { retry_after_secs }
            }
            _ => testing::Fault::Garbage,
        }));
    }

    fn heal(&self) {
        self.0.set_fault(None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_intune_provider_conforms() {
    let intune = fake().await;
    intune.add_device(FakeManagedDevice::new("C02XL0GJJG5J"));
    intune.add_device(FakeManagedDevice::new("DMPXK2ABCD12"));
    let intune_provider = Arc::new(provider(&intune, |c| c));
    let subject = Subject::new(intune_provider)
        .with_allowed(["C02XL0GJJG5J", "DMPXK2ABCD12"])
        .with_upstream(Arc::new(Backend(intune)));
    run(&subject).await.assert_passed();
}
