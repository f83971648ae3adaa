//! Jamf Pro change notifications in the real server: `JAMF_SYNC_INTERVAL` and
//! `JAMF_WEBHOOK_SECRET` set, a `POST /webhook/jamf-events` with the secret reads the named
//! device again, so a Mac taken out of the compliance group is denied at once rather than at
//! the next sync; a wrong or missing secret changes nothing.

use base64::Engine as _;
use http::{HeaderMap, HeaderValue, StatusCode};
use posture_fakes::jamf::{FakeDevice, FakeJamf};
use step_posture_tests::pki::Pki;
use step_posture_tests::server::{
    Client, TestServer, enriching_body, enriching_signer, json, with_vars,
};

use crate::ops::{eventually, http_get, value};

const MAC: &str = "C02XL0GJJG5J";
const SECRET: &str = "jamf-events-secret-0123456789";

fn auth(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_str(value).unwrap(),
    );
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers
}

fn basic(user: &str, password: &str) -> HeaderMap {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    auth(&format!("Basic {encoded}"))
}

#[tokio::test]
async fn a_jamf_event_refreshes_the_device_before_the_next_sync() {
    let jamf = FakeJamf::start().await.unwrap();
    jamf.add_computer(FakeDevice::new(MAC).with_groups(["Compliant Macs"]));
    let pki = Pki::generate().unwrap();
    let vars = jamf.env_vars();
    let all = with_vars(
        &vars,
        &[
            ("PROVIDER", "jamf"),
            ("JAMF_COMPUTER_GROUP", "Compliant Macs"),
            ("JAMF_DEFAULT_MODE", "computer"),
            ("JAMF_SYNC_INTERVAL", "300"),
            ("JAMF_WEBHOOK_SECRET", SECRET),
            ("METRICS_ADDR", "127.0.0.1:0"),
        ],
    );
    let server = TestServer::start(&pki, &all).await.unwrap();
    let client = Client::new(&pki).unwrap();
    let metrics_addr = server.metrics_addr().unwrap();
    eventually("the first sync is swapped in", || async {
        let (_, metrics) = http_get(metrics_addr, "GET", "/metrics").await;
        value(
            &metrics,
            "step_posture_provider_inventory_devices{provider=\"jamf\"}",
        ) == Some(1.0)
    })
    .await;
    let (client, server) = (&client, &server);
    let ask = move || async move {
        let signed = enriching_signer()
            .unwrap()
            .sign_body(&enriching_body(MAC, None).unwrap());
        let (_, body) = client
            .post(&server.webhook_url(), &signed.headers, signed.body)
            .await
            .unwrap();
        json(&body)
    };
    let events = &server.url("/webhook/jamf-events");
    let post = move |headers: HeaderMap, body: &'static str| async move {
        client.post(events, &headers, body).await.unwrap()
    };
    assert_eq!(ask().await["allow"], true);

    // Taken out of the group in Jamf: the index still allows the Mac.
    jamf.add_computer(FakeDevice::new(MAC).with_groups(["Lab Macs"]));
    assert_eq!(ask().await["allow"], true);

    let event = r#"{"webhook":{"id":1,"name":"posture","webhookEvent":"ComputerInventoryCompleted",
        "eventTimestamp":1700000000000},"event":{"computer":{"serialNumber":"C02XL0GJJG5J",
        "jssID":1,"udid":"55900BDC-347C-58B1-D249-F32244B11D30"},"trigger":"CLIENT_CHECKIN",
        "username":""}}"#;
    // Wrong and missing secrets: 401, nothing read.
    let before = jamf.stats().lookup_requests;
    for headers in [
        basic("jamf", "wrong"),
        auth("Bearer wrong"),
        HeaderMap::new(),
    ] {
        let (status, _) = post(headers, event).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(jamf.stats().lookup_requests, before);
    assert_eq!(ask().await["allow"], true);

    // The right secret as the Basic password: the Mac is read again and denied at once.
    let (status, body) = post(basic("jamf", SECRET), event).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"{}"[..]));
    assert_eq!(jamf.stats().lookup_requests, before + 1);
    let denied = ask().await;
    assert_eq!(denied["allow"], false, "{denied}");
    assert_eq!(
        jamf.stats().lookup_requests,
        before + 1,
        "answered from the inventory"
    );

    // Back in the group, told with the other payload shape and a bearer token.
    jamf.add_computer(FakeDevice::new(MAC).with_groups(["Compliant Macs"]));
    let added = r#"{"webhook":{"webhookEvent":"ComputerAdded"},
        "event":{"serialNumber":"C02XL0GJJG5J","jssID":1}}"#;
    let (status, _) = post(auth(&format!("Bearer {SECRET}")), added).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ask().await["allow"], true);

    // An event about no device is ignored; a device event without a serial is refused.
    let group = r#"{"webhook":{"webhookEvent":"SmartGroupComputerMembershipChange"},
        "event":{"groupAddedDevicesIds":[1]}}"#;
    assert_eq!(post(basic("jamf", SECRET), group).await.0, StatusCode::OK);
    let no_serial = r#"{"webhook":{"webhookEvent":"ComputerCheckIn"},"event":{"computer":{}}}"#;
    assert_eq!(
        post(basic("jamf", SECRET), no_serial).await.0,
        StatusCode::BAD_REQUEST
    );

    let (_, metrics) = http_get(metrics_addr, "GET", "/metrics").await;
    assert_eq!(
        value(
            &metrics,
            "step_posture_provider_inventory_refreshes_total{provider=\"jamf\",result=\"stored\"}"
        ),
        Some(2.0),
        "{metrics}"
    );
}
