//! Kandji failing: transient and permanent errors, hygiene before any call.

use std::time::{Duration, Instant};

use posture_conformance::backoff;
use posture_conformance::support::{permanent, refused_readiness, transient, unready};
use posture_core::{LookupRequest, PostureProvider};
use posture_fakes::Fault;
use posture_fakes::kandji::FakeKandjiDevice;
use posture_kandji::KandjiConfig;

use crate::support::{code, decide, fake, lookup, provider};

const MAC: &str = "FVHHFKF7Q6L4";

#[tokio::test]
async fn server_errors_and_rate_limits_are_transient() {
    for status in [500, 503] {
        let kandji = fake().await;
        kandji.add_device(FakeKandjiDevice::new(MAC));
        kandji.set_fault(Some(Fault::Status(status)));
        let kandji_provider = provider(&kandji, |c| c);
        transient(lookup(&kandji_provider, MAC).await);
        // Errors are not cached: once Kandji recovers, so does the answer.
        kandji.set_fault(None);
        assert!(decide(&kandji_provider, MAC).await.is_allowed());
    }
    // Until the delay passes nothing is sent: the quota is the tenant's, not ours.
    let kandji = fake().await;
    kandji.add_device(FakeKandjiDevice::new(MAC));
    let kandji_provider = provider(&kandji, |c| c);
    let request = LookupRequest::new(MAC);
    let err = backoff::a_retry_after_is_honoured_without_a_request(
        &kandji_provider,
        &kandji,
        30,
        &request,
        &request,
    )
    .await;
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
    assert!(err.to_string().contains("Kandji rate-limited"), "{err}");
}

#[tokio::test]
async fn a_hanging_kandji_gives_a_transient_error_within_the_deadline() {
    let kandji = fake().await;
    kandji.set_fault(Some(Fault::Hang));
    let kandji_provider = provider(&kandji, |c| c.with_timeout(Duration::from_secs(1)).unwrap());
    let started = Instant::now();
    transient(lookup(&kandji_provider, MAC).await);
    assert!(started.elapsed() < Duration::from_millis(1500));
    let text = unready(&kandji_provider).await;
    assert!(text.contains("KANDJI_API_URL"), "{text}");
}

#[tokio::test]
async fn garbage_and_wrong_shapes_are_permanent_errors() {
    for fault in [Fault::Garbage, Fault::WrongShape] {
        let kandji = fake().await;
        kandji.set_fault(Some(fault.clone()));
        let kandji_provider = provider(&kandji, |c| c);
        let err = permanent(lookup(&kandji_provider, MAC).await);
        assert!(err.to_string().contains("not the expected JSON"), "{err}");
    }
}

#[tokio::test]
async fn a_refused_token_and_a_missing_permission_name_the_setting() {
    let kandji = fake().await;
    let config = KandjiConfig::new(&kandji.url(), "wrong-token").unwrap();
    let kandji_provider = posture_kandji::KandjiProvider::new(config).unwrap();
    let text = refused_readiness(&kandji_provider).await;
    assert!(text.contains("refused KANDJI_API_TOKEN"), "{text}");
    assert!(!text.contains("wrong-token"), "{text}");
    permanent(lookup(&kandji_provider, MAC).await);

    kandji.set_fault(Some(Fault::Status(403)));
    let good = provider(&kandji, |c| c);
    let err = good.check_ready().await.unwrap_err();
    assert!(err.to_string().contains("Devices > Device list"), "{err}");
}

#[tokio::test]
async fn a_url_that_is_not_kandji_is_named() {
    let kandji = fake().await;
    let config = KandjiConfig::new(
        &format!("{}/web", kandji.url()),
        posture_fakes::kandji::API_TOKEN,
    )
    .unwrap();
    let text = refused_readiness(&posture_kandji::KandjiProvider::new(config).unwrap()).await;
    assert!(text.contains("does not look like a Kandji API"), "{text}");

    let url = kandji.url();
    drop(kandji);
    let config = KandjiConfig::new(&url, posture_fakes::kandji::API_TOKEN).unwrap();
    let text = unready(&posture_kandji::KandjiProvider::new(config).unwrap()).await;
    assert!(text.contains("KANDJI_API_URL"), "{text}");
}

#[tokio::test]
async fn identifiers_that_are_not_serials_make_no_call() {
    let kandji = fake().await;
    let kandji_provider = provider(&kandji, |c| c);
    for identifier in ["00008103-001A2B3C4D5E001E", "FVHH", "FVHH&limit=1", ""] {
        let decision = decide(&kandji_provider, identifier).await;
        assert_eq!(code(&decision), Some("invalidIdentifier"), "{identifier:?}");
    }
    assert!(kandji.requests().is_empty());
}

#[tokio::test]
async fn a_successful_readiness_check_counts_for_a_minute() {
    let kandji = fake().await;
    let kandji_provider = provider(&kandji, |c| c);
    for _ in 0..5 {
        kandji_provider.check_ready().await.unwrap();
    }
    assert_eq!(kandji.stats().requests, 1);
}
