//! Keeping quiet toward Kandji, whose hourly quota every integration of the tenant shares:
//! readiness probes share one check and reuse its failure, and a `Retry-After` is honoured up
//! to `KANDJI_MAX_RETRY_AFTER`, then one request probes.

use std::sync::Arc;
use std::time::Duration;

use posture_conformance::backoff;
use posture_core::LookupRequest;
use posture_fakes::Fault;

use crate::support::{fake, provider};

/// `/readyz` needs no authentication: 640 probes while Kandji failed once made 640 calls.
/// Now however many arrive, Kandji sees one, and its failure is reused for the next ones.
#[tokio::test]
async fn readiness_probes_while_kandji_fails_make_one_request() {
    let kandji = fake().await;
    kandji.set_fault(Some(Fault::Status(500)));
    let kandji_provider = Arc::new(provider(&kandji, |c| c));
    for burst in [200, 50, 50] {
        backoff::all_unready(&kandji_provider, burst).await;
    }
    assert_eq!(kandji.stats().requests, 1, "{:?}", kandji.stats());
}

/// One `Retry-After: 3600` must not lock Kandji out for an hour: the delay honoured is capped
/// (1 s here), and when it ends one lookup probes while the others fail fast until its
/// answer arrives.
#[tokio::test]
async fn a_retry_after_of_an_hour_is_capped_and_one_probe_goes_when_it_ends() {
    let kandji = fake().await;
    let capped = provider(&kandji, |c| {
        c.with_max_retry_after(Duration::from_secs(1)).unwrap()
    });
    backoff::a_retry_after_of_an_hour_is_capped_and_one_probe_goes_when_it_ends(
        Arc::new(capped),
        &kandji,
        LookupRequest::new,
    )
    .await;
}
