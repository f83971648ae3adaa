//! Jamf failing: transient and permanent errors, hygiene before any call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use posture_conformance::backoff;
use posture_conformance::support::{assert_denied, permanent, transient, unready};
use posture_core::{DeviceMode, LookupRequest, PostureProvider};
use posture_fakes::jamf::FakeDevice;
use posture_fakes::{Fault, TokenFault};
use posture_jamf::JamfApi;

use crate::support::{APIS, decide, fake, lookup, provider};

const MAC: &str = "C02XL0GJJG5J";

#[tokio::test]
async fn server_errors_are_transient() {
    for api in APIS {
        for status in [500, 502, 503] {
            let jamf = fake().await;
            jamf.add_computer(FakeDevice::new(MAC));
            jamf.set_fault(Some(Fault::Status(status)));
            let jamf_provider = provider(&jamf, api, |c| c);
            let err = transient(lookup(&jamf_provider, MAC, DeviceMode::Computer).await);
            assert!(err.to_string().contains(&status.to_string()), "{err}");
        }
    }
}

#[tokio::test]
async fn rate_limits_are_transient_with_retry_after() {
    for api in APIS {
        let jamf = fake().await;
        jamf.add_mobile_device(FakeDevice::new("DMPXK2ABCD12"));
        jamf.set_fault(Some(Fault::TooManyRequests {
            retry_after_secs: 7,
        }));
        let jamf_provider = provider(&jamf, api, |c| c);
        let err = transient(lookup(&jamf_provider, "DMPXK2ABCD12", DeviceMode::MobileDevice).await);
        assert_eq!(err.retry_after(), Some(Duration::from_secs(7)), "{api}");
        assert!(err.to_string().contains("429"), "{err}");
    }
}

#[tokio::test]
async fn after_a_429_jamf_is_not_called_again_until_retry_after_has_passed() {
    let jamf = fake().await;
    jamf.add_mobile_device(FakeDevice::new("DMPXK2ABCD12"));
    jamf.add_mobile_device(FakeDevice::new("DMPXK2ABCD13"));
    jamf.fail_next(
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
        1,
    );
    let jamf_provider = provider(&jamf, APIS[0], |c| c);
    transient(lookup(&jamf_provider, "DMPXK2ABCD12", DeviceMode::MobileDevice).await);
    let calls = jamf.stats().lookup_requests;
    // Within the delay, another device is refused locally: Jamf sees nothing.
    let err = transient(lookup(&jamf_provider, "DMPXK2ABCD13", DeviceMode::MobileDevice).await);
    assert!(err.to_string().contains("Retry-After"), "{err}");
    assert_eq!(jamf.stats().lookup_requests, calls);
    // Once it has passed, lookups reach Jamf again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let decision = lookup(&jamf_provider, "DMPXK2ABCD13", DeviceMode::MobileDevice)
        .await
        .unwrap();
    assert!(decision.is_allowed());
    assert_eq!(jamf.stats().lookup_requests, calls + 1);
}

/// One `Retry-After: 3600` must not lock Jamf out for an hour: the delay honoured is capped
/// (`JAMF_MAX_RETRY_AFTER`, 1 s here), and when it ends one lookup probes while the others
/// fail fast until its answer arrives, instead of all of them reaching Jamf at once.
#[tokio::test]
async fn a_retry_after_of_an_hour_is_capped_and_one_probe_goes_when_it_ends() {
    let jamf = fake().await;
    let capped = provider(&jamf, JamfApi::Pro, |c| {
        c.with_max_retry_after(Duration::from_secs(1)).unwrap()
    });
    backoff::a_retry_after_of_an_hour_is_capped_and_one_probe_goes_when_it_ends(
        Arc::new(capped),
        &jamf,
        |serial| LookupRequest::new(serial).with_mode(DeviceMode::MobileDevice),
    )
    .await;
}

#[tokio::test]
async fn a_hanging_jamf_gives_a_transient_error_within_the_deadline() {
    for api in APIS {
        let jamf = fake().await;
        jamf.add_computer(FakeDevice::new(MAC));
        let jamf_provider = provider(&jamf, api, |c| {
            c.with_timeout(Duration::from_secs(1)).unwrap()
        });
        jamf_provider.check_ready().await.unwrap();
        jamf.set_fault(Some(Fault::Hang));
        let started = Instant::now();
        let err = lookup(&jamf_provider, MAC, DeviceMode::Computer)
            .await
            .unwrap_err();
        let elapsed = started.elapsed();
        assert!(err.is_transient(), "{api}: {err}");
        assert!(
            elapsed < Duration::from_millis(1500),
            "{api}: took {elapsed:?}"
        );
        assert!(
            elapsed >= Duration::from_millis(900),
            "{api}: took {elapsed:?}"
        );
    }
}

#[tokio::test]
async fn a_hanging_token_endpoint_gives_a_transient_error_within_the_deadline() {
    let jamf = fake().await;
    jamf.add_computer(FakeDevice::new(MAC));
    jamf.set_token_fault(Some(TokenFault::Hang));
    let jamf_provider = provider(&jamf, JamfApi::Classic, |c| {
        c.with_timeout(Duration::from_secs(1)).unwrap()
    });
    let started = Instant::now();
    transient(lookup(&jamf_provider, MAC, DeviceMode::Computer).await);
    assert!(started.elapsed() < Duration::from_millis(1500));
    let text = unready(&jamf_provider).await;
    assert!(text.contains("JAMF_BASE_URL"), "{text}");
}

#[tokio::test]
async fn garbage_json_is_an_error_not_a_panic() {
    for api in APIS {
        for fault in [Fault::Garbage, Fault::WrongShape] {
            let jamf = fake().await;
            jamf.add_computer(FakeDevice::new(MAC));
            jamf.set_fault(Some(fault.clone()));
            let jamf_provider = provider(&jamf, api, |c| c);
            let err = permanent(lookup(&jamf_provider, MAC, DeviceMode::Computer).await);
            assert!(
                err.to_string().contains("not the expected JSON"),
                "{api} {fault:?}: {err}"
            );
        }
    }
}

#[tokio::test]
async fn a_missing_privilege_is_permanent() {
    for api in APIS {
        let jamf = fake().await;
        jamf.add_computer(FakeDevice::new(MAC));
        jamf.set_fault(Some(Fault::Status(403)));
        let jamf_provider = provider(&jamf, api, |c| c);
        let err = permanent(lookup(&jamf_provider, MAC, DeviceMode::Computer).await);
        assert!(
            err.to_string()
                .ends_with("(403 Forbidden): give the API role the Read Computers privilege"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn identifiers_that_are_not_serials_make_no_jamf_call() {
    let jamf = fake().await;
    let jamf_provider = provider(&jamf, JamfApi::Pro, |c| c);
    for (identifier, reason) in [
        ("00008103-001A2B3C4D5E001E", "is a UDID"),
        ("270aae10800b6e61a2ee2bbc285eb967050b5984", "is a UDID"),
        ("C02XL0G", "8 to 14 characters"),
        ("C02XL0GJJG5J\"", "only letters"),
        ("serialNumber==\"x\"", "only letters"),
        ("", "empty"),
    ] {
        for mode in [
            DeviceMode::Computer,
            DeviceMode::MobileDevice,
            DeviceMode::Auto,
        ] {
            let decision = decide(&jamf_provider, identifier, mode).await;
            assert_denied(&decision, "invalidIdentifier", reason);
        }
    }
    let stats = jamf.stats();
    assert_eq!((stats.token_requests, stats.lookup_requests), (0, 0));
    assert!(jamf.requests().is_empty());
}

#[tokio::test]
async fn an_old_jamf_without_the_pro_endpoints_says_to_use_classic() {
    let jamf = fake().await;
    jamf.set_fault(Some(Fault::Status(404)));
    let jamf_provider = provider(&jamf, JamfApi::Pro, |c| c);
    let err = jamf_provider
        .lookup(&LookupRequest::new(MAC).with_mode(DeviceMode::Computer))
        .await
        .unwrap_err();
    // 503, so step-ca retries and the device is never told it doesn't exist.
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains("JAMF_API=classic"), "{err}");
    assert!(
        err.to_string().contains(
            "/api/v4/computers-inventory, /api/v3/computers-inventory, /api/v1/computers-inventory"
        ),
        "{err}"
    );
}
