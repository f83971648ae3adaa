//! The conformance suite every provider runs.

use std::sync::Arc;

use posture_conformance::{Fault, Subject, Upstream, run};
use posture_kandji::testing::{self, FakeKandji, FakeKandjiDevice};

use crate::support::{fake, provider};

struct Backend(FakeKandji);

impl Upstream for Backend {
    fn requests(&self) -> u64 {
        self.0.stats().requests
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
async fn the_kandji_provider_conforms() {
    let kandji = fake().await;
    kandji.add_device(FakeKandjiDevice::new("FVHHFKF7Q6L4"));
    kandji.add_device(FakeKandjiDevice::iphone("DMPXK2ABCD12"));
    let kandji_provider = Arc::new(provider(&kandji, |c| c));
    let subject = Subject::new(kandji_provider)
        .with_allowed(["FVHHFKF7Q6L4", "DMPXK2ABCD12"])
        .with_upstream(Arc::new(Backend(kandji)));
    run(&subject).await.assert_passed();
}
