//! Graph failing: transient and permanent errors, hygiene before any call.

use std::time::{Duration, Instant};

use posture_conformance::backoff;
use posture_conformance::support::{assert_denied, permanent, transient};
use posture_core::{LookupRequest, PostureProvider};
use posture_fakes::Fault;
use posture_fakes::intune::FakeManagedDevice;

use crate::support::{decide, fake, lookup, provider};

const MAC: &str = "C02XL0GJJG5J";

#[tokio::test]
async fn server_errors_and_rate_limits_are_transient() {
    for status in [500, 502, 503, 504] {
        let intune = fake().await;
        intune.add_device(FakeManagedDevice::new(MAC));
        intune.set_fault(Some(Fault::Status(status)));
        let intune_provider = provider(&intune, |c| c);
        let err = transient(lookup(&intune_provider, MAC).await);
        assert!(err.to_string().contains("Microsoft Graph"), "{err}");
        intune.set_fault(None);
        // Errors are not cached: once Graph recovers, so does the answer.
        assert!(decide(&intune_provider, MAC).await.is_allowed());
    }
    // Graph asked for quiet: until the delay passes, nothing is sent to it.
    let intune = fake().await;
    intune.add_device(FakeManagedDevice::new(MAC));
    let intune_provider = provider(&intune, |c| c);
    let request = LookupRequest::new(MAC);
    let err = backoff::a_retry_after_is_honoured_without_a_request(
        &intune_provider,
        &intune,
        12,
        &request,
        &request,
    )
    .await;
    assert!(err.to_string().contains("Microsoft Graph"), "{err}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(12)));
}

#[tokio::test]
async fn a_hanging_graph_gives_a_transient_error_within_the_deadline() {
    let intune = fake().await;
    intune.add_device(FakeManagedDevice::new(MAC));
    intune.set_fault(Some(Fault::Hang));
    let intune_provider = provider(&intune, |c| c.with_timeout(Duration::from_secs(1)).unwrap());
    let started = Instant::now();
    let err = lookup(&intune_provider, MAC).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(err.is_transient(), "{err}");
    assert!(elapsed < Duration::from_millis(1500), "took {elapsed:?}");
    assert!(elapsed >= Duration::from_millis(900), "took {elapsed:?}");
}

#[tokio::test]
async fn garbage_and_wrong_shapes_are_permanent_errors() {
    for fault in [Fault::Garbage, Fault::WrongShape] {
        let intune = fake().await;
        intune.add_device(FakeManagedDevice::new(MAC));
        intune.set_fault(Some(fault.clone()));
        let intune_provider = provider(&intune, |c| c);
        let err = permanent(lookup(&intune_provider, MAC).await);
        assert!(err.to_string().contains("not the expected JSON"), "{err}");
    }
}

#[tokio::test]
async fn a_missing_permission_names_it() {
    let intune = fake().await;
    intune.set_fault(Some(Fault::Status(403)));
    let intune_provider = provider(&intune, |c| c);
    let err = permanent(lookup(&intune_provider, MAC).await);
    assert!(
        err.to_string().contains(
            "grant the app registration the DeviceManagementManagedDevices.Read.All application permission"
        ),
        "{err}"
    );
    let err = intune_provider.check_ready().await.unwrap_err();
    assert!(
        err.to_string()
            .contains("DeviceManagementManagedDevices.Read.All"),
        "{err}"
    );
}

#[tokio::test]
async fn identifiers_that_are_not_serials_make_no_call() {
    let intune = fake().await;
    let intune_provider = provider(&intune, |c| c);
    for (identifier, reason) in [
        (
            "00008103-001A2B3C4D5E001E",
            "is a UDID, not a serial number; Intune looks devices up by serial number",
        ),
        ("C02XL0G", "8 to 14 characters"),
        ("C02XL0GJJG5J'", "only letters"),
        ("x' or serialNumber ne '", "only letters"),
        ("", "empty"),
    ] {
        let decision = decide(&intune_provider, identifier).await;
        assert_denied(&decision, "invalidIdentifier", reason);
    }
    assert!(intune.requests().is_empty());
}
