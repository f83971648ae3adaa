//! The real server with `PROVIDER=jamf`, against a fake Jamf Pro on loopback that speaks
//! Jamf's documented shapes.

use std::time::{Duration, Instant};

use http::StatusCode;
use posture_fakes::Fault;
use posture_fakes::jamf::{FakeDevice, FakeEndpoint, FakeJamf};
use serde_json::json;
use smallstep_webhook::RequestBody;
use step_posture_tests::deployment::{Deployment, Expect};
use step_posture_tests::server::{authorizing_signer, json, signed_enriching};

use crate::against;

const MAC: &str = "C02XL0GJJG5J";
const IPHONE: &str = "F4KQ2J9XN7";
const UNCOMPLIANT_MAC: &str = "C02ZZ0GJJG5K";
const COMPUTER: &str = "?mode=computer";

/// A fake Jamf with a compliant Mac, a Mac outside the group, and an iPhone.
async fn fake_jamf() -> FakeJamf {
    let jamf = FakeJamf::start().await.unwrap();
    let mut mac = FakeDevice::new(MAC);
    mac.groups = vec![
        "All Managed Clients".to_owned(),
        "Compliant Macs".to_owned(),
    ];
    // The Jamf Pro API gives a computer's department as an ID, resolved by name.
    let mac = mac.with_department("7", "Engineering");
    jamf.add_department("7", "Engineering");
    jamf.add_computer(mac);
    jamf.add_computer(FakeDevice::new(UNCOMPLIANT_MAC));
    let mut iphone = FakeDevice::new(IPHONE);
    iphone.email_address = "bob@example.com".to_owned();
    jamf.add_mobile_device(iphone);
    jamf
}

/// A Jamf deployment as a Go-version `.env` would describe it, plus `extra`.
async fn start(extra: &[(&str, &str)]) -> (FakeJamf, Deployment) {
    let jamf = fake_jamf().await;
    let mut all = vec![
        ("PROVIDER", "jamf"),
        ("JAMF_COMPUTER_GROUP", "Compliant Macs"),
        ("JAMF_COMPUTER_ENRICH", "1"),
    ];
    all.extend_from_slice(extra);
    let d = against(&jamf.env_vars(), &all).await;
    // The server and the client have loaded the certificates; the files can go.
    std::fs::remove_dir_all(d.pki.dir()).unwrap();
    (jamf, d)
}

/// Jamf asked on every request: no cached decisions.
pub(crate) const UNCACHED: [(&str, &str); 2] =
    [("JAMF_CACHE_TTL", "0"), ("JAMF_NEGATIVE_CACHE_TTL", "0")];

#[tokio::test]
async fn a_managed_mac_in_the_compliance_group_is_allowed_with_go_shaped_enrichment() {
    let (_jamf, d) = start(&[]).await;
    let answer = d.ask_at(MAC, COMPUTER).await.unwrap();
    Expect::allowed()
        .with_data("/device/serial_number", MAC)
        .with_data("/device/udid", format!("UDID-{MAC}"))
        .with_data("/device/name", format!("Device {MAC}"))
        .with_data("/user/username", "alice")
        .with_data("/user/realname", "Alice Example")
        .with_data("/user/email_address", "alice@example.com")
        .with_data("/user/position", "Engineer")
        .with_data("/user/department", "Engineering")
        .check(MAC, &answer);
    let groups = answer.1["data"]["groups"].as_array().unwrap();
    assert!(groups.contains(&json!("Compliant Macs")), "{groups:?}");
}

#[tokio::test]
async fn a_mac_outside_the_group_is_not_compliant() {
    let (_jamf, d) = start(&[]).await;
    let outside = Expect::denied("notCompliant").containing("Compliant Macs");
    d.expect_at(COMPUTER, &[(UNCOMPLIANT_MAC, outside)]).await;
}

#[tokio::test]
async fn no_mode_means_mobile_device_as_in_the_go_version_and_enrichment_is_per_kind() {
    let (_jamf, d) = start(&[]).await;
    d.expect(&[
        // JAMF_DEVICE_ENRICH is off, so the iPhone gets no data even though computers do.
        (IPHONE, Expect::body(json!({"allow": true}))),
        // The Mac is not a mobile device.
        (MAC, Expect::denied("deviceNotFound")),
    ])
    .await;
}

#[tokio::test]
async fn mode_auto_serves_macs_and_iphones_from_one_url() {
    let (_jamf, d) = start(&[("JAMF_DEVICE_ENRICH", "1")]).await;
    let bob = Expect::allowed().with_data("/user/email_address", "bob@example.com");
    d.expect_at(
        "?mode=auto",
        &[
            (MAC, Expect::allowed()),
            (IPHONE, bob),
            ("C02UNKNOWN00", Expect::denied("deviceNotFound")),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_udid_is_denied_without_asking_jamf() {
    let (jamf, d) = start(&[]).await;
    let before = jamf.stats().lookup_requests;
    let udid = "00008103-001A2B3C4D5E001E";
    d.expect_at(COMPUTER, &[(udid, Expect::denied("invalidIdentifier"))])
        .await;
    assert_eq!(jamf.stats().lookup_requests, before);
}

#[tokio::test]
async fn the_authorizing_webhook_works_with_jamf() {
    let (_jamf, d) = start(&[]).await;
    let body = RequestBody::device_attest_authorizing(MAC, time::OffsetDateTime::now_utc());
    let signer = authorizing_signer().unwrap();
    let answer = d.post_signed(COMPUTER, &signer, &body).await.unwrap();
    Expect::allowed().check("authorizing", &answer);
}

#[tokio::test]
async fn jamf_failures_are_transient_and_answered_within_the_deadline() {
    let mut extra = vec![("TIMEOUT", "1")];
    extra.extend(UNCACHED);
    let (jamf, d) = start(&extra).await;
    let unavailable = || Expect::refused(StatusCode::SERVICE_UNAVAILABLE);
    for fault in [Fault::Status(500), Fault::Hang] {
        jamf.set_fault(Some(fault.clone()));
        let started = Instant::now();
        let answer = d.ask_at(MAC, COMPUTER).await.unwrap();
        let took = started.elapsed();
        unavailable().check(&format!("{fault:?}"), &answer);
        assert!(took < Duration::from_secs(3), "{fault:?} took {took:?}");
    }
    // A 429 is transient too, and its Retry-After is honoured: until it has passed, requests
    // are answered 503 without calling Jamf.
    jamf.set_fault(Some(Fault::TooManyRequests {
        retry_after_secs: 1,
    }));
    d.expect_at(COMPUTER, &[(MAC, unavailable())]).await;
    jamf.set_fault(None);
    let calls = jamf.stats().lookup_requests;
    d.expect_at(COMPUTER, &[(MAC, unavailable())]).await;
    assert_eq!(
        jamf.stats().lookup_requests,
        calls,
        "Jamf was called during Retry-After"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Garbage from Jamf is a permanent failure: a deny, failing closed.
    jamf.set_fault(Some(Fault::Garbage));
    d.expect_at(COMPUTER, &[(MAC, Expect::denied("providerError"))])
        .await;
    // Once Jamf recovers, so does the answer.
    jamf.set_fault(None);
    d.expect_at(COMPUTER, &[(MAC, Expect::allowed())]).await;
}

#[tokio::test]
async fn the_pro_api_gives_the_same_answers() {
    let (_jamf, d) = start(&[("JAMF_API", "pro"), ("JAMF_DEVICE_ENRICH", "1")]).await;
    let mac = Expect::allowed().with_data("/device/serial_number", MAC);
    d.expect_at(
        COMPUTER,
        &[
            (MAC, mac),
            (UNCOMPLIANT_MAC, Expect::denied("notCompliant")),
        ],
    )
    .await;
    let bob = Expect::allowed().with_data("/user/email_address", "bob@example.com");
    d.expect_at("?mode=mobiledevice", &[(IPHONE, bob)]).await;
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish() {
    let (jamf, d) = start(&[]).await;
    jamf.set_latency(Duration::from_millis(400));
    let (headers, body) = signed_enriching(MAC).unwrap();
    let url = d.url(COMPUTER);
    let client = d.client.clone();
    let in_flight = tokio::spawn(async move { client.post(&url, &headers, body).await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let started = Instant::now();
    d.server.stop().await;
    let (status, body) = in_flight.await.unwrap().unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["allow"], true);
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "stop returned before the request finished"
    );
}

#[tokio::test]
async fn the_default_api_never_touches_the_deprecated_classic_computer_endpoints() {
    let (jamf, d) = start(&[("JAMF_DEVICE_ENRICH", "1")]).await;
    jamf.remove_endpoint(FakeEndpoint::ClassicComputers);
    let engineering = Expect::allowed().with_data("/user/department", "Engineering");
    d.expect_at(COMPUTER, &[(MAC, engineering)]).await;
    d.expect_at("?mode=auto", &[(IPHONE, Expect::allowed())])
        .await;
    let unknown = Expect::denied("deviceNotFound");
    d.expect_at(COMPUTER, &[("C02UNKNOWN00", unknown)]).await;
    let requests = jamf.requests();
    assert!(
        requests
            .iter()
            .all(|r| !r.path.starts_with("/JSSResource/computers")),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.path == "/api/v4/computers-inventory")
    );
}

#[tokio::test]
async fn a_jamf_release_that_removes_the_classic_route_gets_503_not_deny() {
    // The Go version's settings (Classic API) while Jamf still serves Classic computers...
    let mut extra = vec![("JAMF_API", "classic")];
    extra.extend(UNCACHED);
    let (jamf, d) = start(&extra).await;
    d.expect_at(
        COMPUTER,
        &[
            (MAC, Expect::allowed()),
            ("C02UNKNOWN00", Expect::denied("deviceNotFound")),
        ],
    )
    .await;
    // ...then an upgrade removes them: every Mac, known or not, gets a 503 (step-ca retries
    // and the operator sees errors), never a deny that would look like an unknown device.
    jamf.remove_endpoint(FakeEndpoint::ClassicComputers);
    let unavailable = || Expect::refused(StatusCode::SERVICE_UNAVAILABLE);
    d.expect_at(
        COMPUTER,
        &[(MAC, unavailable()), ("C02UNKNOWN00", unavailable())],
    )
    .await;
}
