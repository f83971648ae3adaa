//! Keeping quiet toward Graph: readiness probes share one check and reuse its failure, and a
//! `Retry-After` is honoured up to `INTUNE_MAX_RETRY_AFTER`, then one request probes.

use std::sync::Arc;
use std::time::Duration;

use posture_conformance::backoff;
use posture_core::LookupRequest;
use posture_fakes::Fault;

use crate::support::{fake, provider};

/// `/readyz` needs no authentication: however many probes arrive while Graph fails, Graph
/// sees one readiness check, and its failure is reused for the next ones.
#[tokio::test]
async fn readiness_probes_while_graph_fails_make_one_check() {
    let intune = fake().await;
    intune.set_fault(Some(Fault::Status(500)));
    let intune_provider = Arc::new(provider(&intune, |c| c));
    for burst in [200, 50, 50] {
        backoff::all_unready(&intune_provider, burst).await;
    }
    let stats = intune.stats();
    assert_eq!(
        (stats.token_requests, stats.graph_requests),
        (1, 1),
        "{stats:?}"
    );
}

/// One `Retry-After: 3600` must not lock Graph out for an hour: the delay honoured is capped
/// (1 s here), and when it ends one lookup probes while the others fail fast until its
/// answer arrives.
#[tokio::test]
async fn a_retry_after_of_an_hour_is_capped_and_one_probe_goes_when_it_ends() {
    let intune = fake().await;
    let capped = provider(&intune, |c| {
        c.with_max_retry_after(Duration::from_secs(1)).unwrap()
    });
    backoff::a_retry_after_of_an_hour_is_capped_and_one_probe_goes_when_it_ends(
        Arc::new(capped),
        &intune,
        LookupRequest::new,
    )
    .await;
}
