//! Keeping quiet toward Kandji, whose hourly quota every integration of the tenant shares:
//! readiness probes share one check and reuse its failure, and a `Retry-After` is honoured up
//! to `KANDJI_MAX_RETRY_AFTER`, then one request probes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use posture_core::PostureProvider;
use posture_fakes::Fault;
use posture_fakes::at_once;
use posture_fakes::kandji::FakeKandjiDevice;

use crate::support::{decide, fake, lookup, provider};

/// `/readyz` needs no authentication: 640 probes while Kandji failed once made 640 calls.
/// Now however many arrive, Kandji sees one, and its failure is reused for the next ones.
#[tokio::test]
async fn readiness_probes_while_kandji_fails_make_one_request() {
    let kandji = fake().await;
    kandji.set_fault(Some(Fault::Status(500)));
    let kandji_provider = Arc::new(provider(&kandji, |c| c));
    for burst in [200, 50, 50] {
        let outcomes = at_once(burst, |_| {
            let kandji_provider = kandji_provider.clone();
            async move { kandji_provider.check_ready().await }
        })
        .await;
        assert!(
            outcomes
                .iter()
                .all(|o| o.as_ref().is_err_and(|e| e.is_transient()))
        );
    }
    assert_eq!(kandji.stats().requests, 1, "{:?}", kandji.stats());
}

/// One `Retry-After: 3600` must not lock Kandji out for an hour: the delay honoured is capped
/// (1 s here), and when it ends one lookup probes while the others fail fast until its
/// answer arrives.
#[tokio::test]
async fn a_retry_after_of_an_hour_is_capped_and_one_probe_goes_when_it_ends() {
    let serials: Vec<String> = (0..20).map(|i| format!("C02BACK{i:05}")).collect();
    let kandji = fake().await;
    for serial in &serials {
        kandji.add_device(FakeKandjiDevice::new(serial));
    }
    let kandji_provider = Arc::new(provider(&kandji, |c| {
        c.with_max_retry_after(Duration::from_secs(1)).unwrap()
    }));
    kandji.fail_next(
        Fault::TooManyRequests {
            retry_after_secs: 3600,
        },
        1,
    );
    let limited_at = Instant::now();
    let err = lookup(&*kandji_provider, &serials[0]).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)), "{err}");
    let sent = kandji.stats().requests;

    tokio::time::sleep(Duration::from_millis(500)).await;
    let err = lookup(&*kandji_provider, &serials[1]).await.unwrap_err();
    assert!(err.to_string().contains("Retry-After"), "{err}");
    assert_eq!(kandji.stats().requests, sent, "called within the delay");

    // A slow Kandji, so that the probe is still in flight when the others ask.
    kandji.set_latency(Duration::from_millis(300));
    let ends = limited_at + Duration::from_millis(1050);
    tokio::time::sleep(ends.saturating_duration_since(Instant::now())).await;
    let outcomes = at_once(serials.len(), |i| {
        let (kandji_provider, serial) = (kandji_provider.clone(), serials[i].clone());
        async move { lookup(&*kandji_provider, &serial).await }
    })
    .await;
    let probes = outcomes.iter().filter(|o| o.is_ok()).count();
    for err in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        assert!(err.to_string().contains("one request is checking"), "{err}");
    }
    assert_eq!(probes, 1, "exactly one probe when the delay ends");
    assert_eq!(kandji.stats().requests, sent + 1);
    // Its answer opened the way for everyone.
    assert!(decide(&*kandji_provider, &serials[1]).await.is_allowed());
}
