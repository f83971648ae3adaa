//! How the Fleet provider fails: transiently, permanently, never open.

use std::time::Duration;

use posture_conformance::backoff;
use posture_conformance::support::assert_reported;
use posture_core::{LookupRequest, PostureProvider, ProviderError};
use posture_fakes::Fault;
use posture_fakes::fleet::{FakeFleet, FakeFleetHost};
use posture_fleet::{FleetConfig, FleetProvider};

async fn setup(token: &str) -> (FakeFleet, FleetProvider) {
    let fleet = FakeFleet::start().await.unwrap();
    fleet.add_host(FakeFleetHost::new("C02XL0GJJG5J"));
    let config = FleetConfig::new(&fleet.url(), token).unwrap();
    let lookup = config
        .lookup()
        .clone()
        .with_timeout(Duration::from_secs(1))
        .unwrap();
    let config = config.with_lookup(lookup);
    (fleet, FleetProvider::new(config).unwrap())
}

async fn error(provider: &FleetProvider, serial: &str) -> ProviderError {
    provider
        .lookup(&LookupRequest::new(serial))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn a_refused_token_is_permanent_and_named_and_fails_readiness() {
    let (fleet, p) = setup("wrong-token").await;
    let err = error(&p, "C02XL0GJJG5J").await;
    assert!(!err.is_transient());
    assert!(err.message().contains("refused FLEET_API_TOKEN"), "{err}");
    assert!(!err.message().contains("wrong-token"), "{err}");
    let err = p.check_ready().await.unwrap_err();
    assert!(
        err.message()
            .contains("refused FLEET_API_TOKEN for GET /api/v1/fleet/me"),
        "{err}"
    );
    assert!(fleet.stats().unauthorized >= 2);
}

#[tokio::test]
async fn readiness_reads_the_user_once_a_minute() {
    let (fleet, p) = setup(posture_fakes::fleet::API_TOKEN).await;
    for _ in 0..5 {
        p.check_ready().await.unwrap();
    }
    assert_eq!(fleet.stats().requests, 1);
    assert_reported(&p, "/api/v1/fleet/hosts/identifier/");
}

#[tokio::test]
async fn statuses_are_sorted_into_transient_and_permanent() {
    let (fleet, p) = setup(posture_fakes::fleet::API_TOKEN).await;
    for (fault, transient, serial) in [
        (Fault::Status(502), true, "C02AAAAAAAA1"),
        (Fault::Status(403), false, "C02AAAAAAAA2"),
        (Fault::Garbage, false, "C02AAAAAAAA3"),
        (Fault::WrongShape, false, "C02AAAAAAAA4"),
        (Fault::Hang, true, "C02AAAAAAAA5"),
    ] {
        fleet.set_fault(Some(fault.clone()));
        let err = error(&p, serial).await;
        assert_eq!(err.is_transient(), transient, "{fault:?}: {err}");
    }
    fleet.set_fault(Some(Fault::Status(403)));
    let err = error(&p, "C02AAAAAAAA6").await;
    assert!(err.message().contains("observer role"), "{err}");
    fleet.set_fault(None);
    assert!(
        p.lookup(&LookupRequest::new("C02XL0GJJG5J"))
            .await
            .unwrap()
            .is_allowed()
    );
}

#[tokio::test]
async fn a_url_that_is_not_fleet_is_not_a_missing_device() {
    // The fake answers an HTML 404 to paths outside /api/…/fleet.
    let fleet = FakeFleet::start().await.unwrap();
    let config = FleetConfig::new(&format!("{}/prefix", fleet.url()), "t").unwrap();
    let p = FleetProvider::new(config).unwrap();
    let err = error(&p, "C02XL0GJJG5J").await;
    assert!(!err.is_transient());
    assert!(
        err.message().contains("does not look like a Fleet server"),
        "{err}"
    );
}

#[tokio::test]
async fn retry_after_is_honoured_without_calling_fleet() {
    let (fleet, p) = setup(posture_fakes::fleet::API_TOKEN).await;
    let err = backoff::a_retry_after_is_honoured_without_a_request(
        &p,
        &fleet,
        30,
        &LookupRequest::new("C02XL0GJJG5J"),
        &LookupRequest::new("C02OTHER0001"),
    )
    .await;
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
}
