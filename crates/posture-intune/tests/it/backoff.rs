//! Keeping quiet toward Graph: readiness probes share one check and reuse its failure, and a
//! `Retry-After` is honoured up to `INTUNE_MAX_RETRY_AFTER`, then one request probes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use posture_core::PostureProvider;
use posture_fakes::Fault;
use posture_fakes::at_once;
use posture_fakes::intune::FakeManagedDevice;

use crate::support::{decide, fake, lookup, provider};

/// `/readyz` needs no authentication: however many probes arrive while Graph fails, Graph
/// sees one readiness check, and its failure is reused for the next ones.
#[tokio::test]
async fn readiness_probes_while_graph_fails_make_one_check() {
    let intune = fake().await;
    intune.set_fault(Some(Fault::Status(500)));
    let intune_provider = Arc::new(provider(&intune, |c| c));
    for burst in [200, 50, 50] {
        let outcomes = at_once(burst, |_| {
            let intune_provider = intune_provider.clone();
            async move { intune_provider.check_ready().await }
        })
        .await;
        assert!(
            outcomes
                .iter()
                .all(|o| o.as_ref().is_err_and(|e| e.is_transient()))
        );
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
    let serials: Vec<String> = (0..20).map(|i| format!("C02BACK{i:05}")).collect();
    let intune = fake().await;
    for serial in &serials {
        intune.add_device(FakeManagedDevice::new(serial));
    }
    let intune_provider = Arc::new(provider(&intune, |c| {
        c.with_max_retry_after(Duration::from_secs(1)).unwrap()
    }));
    intune.fail_next(
        Fault::TooManyRequests {
            retry_after_secs: 3600,
        },
        1,
    );
    let limited_at = Instant::now();
    let err = lookup(&*intune_provider, &serials[0]).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)), "{err}");
    let sent = intune.stats().device_requests;

    tokio::time::sleep(Duration::from_millis(500)).await;
    let err = lookup(&*intune_provider, &serials[1]).await.unwrap_err();
    assert!(err.to_string().contains("Retry-After"), "{err}");
    assert_eq!(
        intune.stats().device_requests,
        sent,
        "called within the delay"
    );

    // A slow Graph, so that the probe is still in flight when the others ask.
    intune.set_latency(Duration::from_millis(300));
    let ends = limited_at + Duration::from_millis(1050);
    tokio::time::sleep(ends.saturating_duration_since(Instant::now())).await;
    let outcomes = at_once(serials.len(), |i| {
        let (intune_provider, serial) = (intune_provider.clone(), serials[i].clone());
        async move { lookup(&*intune_provider, &serial).await }
    })
    .await;
    let probes = outcomes.iter().filter(|o| o.is_ok()).count();
    for err in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        assert!(err.to_string().contains("one request is checking"), "{err}");
    }
    assert_eq!(probes, 1, "exactly one probe when the delay ends");
    assert_eq!(intune.stats().device_requests, sent + 1);
    // Its answer opened the way for everyone.
    assert!(decide(&*intune_provider, &serials[1]).await.is_allowed());
}
