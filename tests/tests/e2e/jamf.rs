//! The real server with `PROVIDER=jamf`, against a fake Jamf Pro on loopback that speaks
//! Jamf's documented shapes.

use std::time::{Duration, Instant};

use http::StatusCode;
use posture_fakes::Fault;
use posture_fakes::jamf::{FakeDevice, FakeEndpoint, FakeJamf};
use smallstep_webhook::RequestBody;
use step_posture_tests::pki::Pki;
use step_posture_tests::server::{
    Client, TestServer, authorizing_signer, enriching_body, enriching_signer, json,
};

const MAC: &str = "C02XL0GJJG5J";
const IPHONE: &str = "F4KQ2J9XN7";
const UNCOMPLIANT_MAC: &str = "C02ZZ0GJJG5K";

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
struct Deployment {
    jamf: FakeJamf,
    server: TestServer,
    client: Client,
}

impl Deployment {
    async fn start(extra: &[(&str, &str)]) -> Self {
        let pki = Pki::generate().unwrap();
        let jamf = fake_jamf().await;
        let vars = jamf.env_vars();
        let mut all: Vec<(&str, &str)> =
            vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        all.push(("PROVIDER", "jamf"));
        all.push(("JAMF_COMPUTER_GROUP", "Compliant Macs"));
        all.push(("JAMF_COMPUTER_ENRICH", "1"));
        all.extend_from_slice(extra);
        let server = TestServer::start(&pki, &all).await.unwrap();
        let client = Client::new(&pki).unwrap();
        // The server and the client have loaded the certificates; the files can go.
        drop(pki);
        Self {
            jamf,
            server,
            client,
        }
    }

    async fn ask(&self, serial: &str, query: &str) -> (StatusCode, serde_json::Value) {
        let signed = enriching_signer()
            .unwrap()
            .sign_body(&enriching_body(serial, None).unwrap());
        let url = self.server.url(&format!("/webhook/device-attest{query}"));
        let (status, body) = self
            .client
            .post(&url, &signed.headers, signed.body)
            .await
            .unwrap();
        (status, json(&body))
    }
}

#[tokio::test]
async fn a_managed_mac_in_the_compliance_group_is_allowed_with_go_shaped_enrichment() {
    let d = Deployment::start(&[]).await;
    let (status, body) = d.ask(MAC, "?mode=computer").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["allow"], true, "{body}");
    let data = &body["data"];
    assert_eq!(data["device"]["serial_number"], MAC);
    assert_eq!(data["device"]["udid"], format!("UDID-{MAC}"));
    assert_eq!(data["device"]["name"], format!("Device {MAC}"));
    assert_eq!(data["user"]["username"], "alice");
    assert_eq!(data["user"]["realname"], "Alice Example");
    assert_eq!(data["user"]["email_address"], "alice@example.com");
    assert_eq!(data["user"]["position"], "Engineer");
    assert_eq!(data["user"]["department"], "Engineering");
    assert!(
        data["groups"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("Compliant Macs"))
    );
}

#[tokio::test]
async fn a_mac_outside_the_group_is_not_compliant() {
    let d = Deployment::start(&[]).await;
    let (status, body) = d.ask(UNCOMPLIANT_MAC, "?mode=computer").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["error"]["code"], "notCompliant", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Compliant Macs")
    );
}

#[tokio::test]
async fn no_mode_means_mobile_device_as_in_the_go_version_and_enrichment_is_per_kind() {
    let d = Deployment::start(&[]).await;
    // JAMF_DEVICE_ENRICH is off, so the iPhone gets no data even though computers do.
    let (_, body) = d.ask(IPHONE, "").await;
    assert_eq!(body, serde_json::json!({"allow": true}));
    // The Mac is not a mobile device.
    let (_, body) = d.ask(MAC, "").await;
    assert_eq!(body["error"]["code"], "deviceNotFound", "{body}");
}

#[tokio::test]
async fn mode_auto_serves_macs_and_iphones_from_one_url() {
    let d = Deployment::start(&[("JAMF_DEVICE_ENRICH", "1")]).await;
    let (_, mac) = d.ask(MAC, "?mode=auto").await;
    assert_eq!(mac["allow"], true, "{mac}");
    let (_, iphone) = d.ask(IPHONE, "?mode=auto").await;
    assert_eq!(
        iphone["data"]["user"]["email_address"], "bob@example.com",
        "{iphone}"
    );
    let (_, unknown) = d.ask("C02UNKNOWN00", "?mode=auto").await;
    assert_eq!(unknown["error"]["code"], "deviceNotFound");
}

#[tokio::test]
async fn a_udid_is_denied_without_asking_jamf() {
    let d = Deployment::start(&[]).await;
    let before = d.jamf.stats().lookup_requests;
    let (_, body) = d.ask("00008103-001A2B3C4D5E001E", "?mode=computer").await;
    assert_eq!(body["error"]["code"], "invalidIdentifier", "{body}");
    assert_eq!(d.jamf.stats().lookup_requests, before);
}

#[tokio::test]
async fn the_authorizing_webhook_works_with_jamf() {
    let d = Deployment::start(&[]).await;
    let body = RequestBody::device_attest_authorizing(MAC, time::OffsetDateTime::now_utc());
    let signed = authorizing_signer().unwrap().sign_body(&body);
    let url = d.server.url("/webhook/device-attest?mode=computer");
    let (status, response) = d
        .client
        .post(&url, &signed.headers, signed.body)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&response)["allow"], true);
}

#[tokio::test]
async fn jamf_failures_are_transient_and_answered_within_the_deadline() {
    let d = Deployment::start(&[
        ("TIMEOUT", "1"),
        ("JAMF_CACHE_TTL", "0"),
        ("JAMF_NEGATIVE_CACHE_TTL", "0"),
    ])
    .await;
    for fault in [Fault::Status(500), Fault::Hang] {
        d.jamf.set_fault(Some(fault.clone()));
        let started = Instant::now();
        let (status, body) = d.ask(MAC, "?mode=computer").await;
        let took = started.elapsed();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{fault:?}: {body}");
        assert_eq!(body, serde_json::json!({"allow": false}));
        assert!(took < Duration::from_secs(3), "{fault:?} took {took:?}");
    }
    // A 429 is transient too, and its Retry-After is honoured: until it has passed, requests
    // are answered 503 without calling Jamf.
    d.jamf.set_fault(Some(Fault::TooManyRequests {
        retry_after_secs: 1,
    }));
    let (status, _) = d.ask(MAC, "?mode=computer").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    d.jamf.set_fault(None);
    let calls = d.jamf.stats().lookup_requests;
    let (status, _) = d.ask(MAC, "?mode=computer").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        d.jamf.stats().lookup_requests,
        calls,
        "Jamf was called during Retry-After"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Garbage from Jamf is a permanent failure: a deny, failing closed.
    d.jamf.set_fault(Some(Fault::Garbage));
    let (status, body) = d.ask(MAC, "?mode=computer").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["error"]["code"], "providerError", "{body}");
    // Once Jamf recovers, so does the answer.
    d.jamf.set_fault(None);
    let (_, body) = d.ask(MAC, "?mode=computer").await;
    assert_eq!(body["allow"], true);
}

#[tokio::test]
async fn the_pro_api_gives_the_same_answers() {
    let d = Deployment::start(&[("JAMF_API", "pro"), ("JAMF_DEVICE_ENRICH", "1")]).await;
    let (_, mac) = d.ask(MAC, "?mode=computer").await;
    assert_eq!(mac["allow"], true, "{mac}");
    assert_eq!(mac["data"]["device"]["serial_number"], MAC);
    let (_, outside) = d.ask(UNCOMPLIANT_MAC, "?mode=computer").await;
    assert_eq!(outside["error"]["code"], "notCompliant");
    let (_, iphone) = d.ask(IPHONE, "?mode=mobiledevice").await;
    assert_eq!(
        iphone["data"]["user"]["email_address"], "bob@example.com",
        "{iphone}"
    );
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish() {
    let d = Deployment::start(&[]).await;
    d.jamf.set_latency(Duration::from_millis(400));
    let signed = enriching_signer()
        .unwrap()
        .sign_body(&enriching_body(MAC, None).unwrap());
    let url = d.server.url("/webhook/device-attest?mode=computer");
    let client = d.client.clone();
    let in_flight =
        tokio::spawn(async move { client.post(&url, &signed.headers, signed.body).await });
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
    let d = Deployment::start(&[("JAMF_DEVICE_ENRICH", "1")]).await;
    d.jamf.remove_endpoint(FakeEndpoint::ClassicComputers);
    let (status, mac) = d.ask(MAC, "?mode=computer").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mac["allow"], true, "{mac}");
    assert_eq!(mac["data"]["user"]["department"], "Engineering", "{mac}");
    let (_, iphone) = d.ask(IPHONE, "?mode=auto").await;
    assert_eq!(iphone["allow"], true, "{iphone}");
    let (_, unknown) = d.ask("C02UNKNOWN00", "?mode=computer").await;
    assert_eq!(unknown["error"]["code"], "deviceNotFound", "{unknown}");
    let requests = d.jamf.requests();
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
    let d = Deployment::start(&[
        ("JAMF_API", "classic"),
        ("JAMF_CACHE_TTL", "0"),
        ("JAMF_NEGATIVE_CACHE_TTL", "0"),
    ])
    .await;
    let (_, body) = d.ask(MAC, "?mode=computer").await;
    assert_eq!(body["allow"], true, "{body}");
    let (_, body) = d.ask("C02UNKNOWN00", "?mode=computer").await;
    assert_eq!(body["error"]["code"], "deviceNotFound", "{body}");
    // ...then an upgrade removes them: every Mac, known or not, gets a 503 (step-ca retries
    // and the operator sees errors), never a deny that would look like an unknown device.
    d.jamf.remove_endpoint(FakeEndpoint::ClassicComputers);
    for serial in [MAC, "C02UNKNOWN00"] {
        let (status, body) = d.ask(serial, "?mode=computer").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{serial}: {body}");
        assert_eq!(body, serde_json::json!({"allow": false}));
    }
}
